//! A visitor's satisfaction rating (1-5, optional comment) of one resolution of a session.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "session_ratings")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub session_pk: String,
    /// The session's `resolved_at` when the rating was asked: names the resolution rated
    /// (unique with `session_pk`).
    pub resolved_at: DateTimeUtc,
    /// The assignee who resolved it, if any.
    pub agent_id: Option<String>,
    pub rating: i16,
    pub comment: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
