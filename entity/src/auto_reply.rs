//! An auto-reply rule: a visitor message matching `pattern` is answered with `reply`
//! (without a model), while `active`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "auto_replies")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// A keyword or phrase, or `/regex/` (see the server's `kb::rules`).
    pub pattern: String,
    #[sea_orm(column_type = "Text")]
    pub reply: String,
    pub active: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
