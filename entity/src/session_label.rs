//! A label on a session.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_labels")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_pk: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub label_id: String,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
