//! An account taking part in a session (a seed-004 room member).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_members")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub session_pk: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub account_id: String,
    /// `Admin` (the room's creator or the session's owner) or `Member`, as seed 004 says.
    pub member_role: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
