//! A person who signs in: support staff (`admin`, `agent`) or a registered `customer`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "accounts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    /// Lower-cased.
    #[sea_orm(unique)]
    pub email: Option<String>,
    pub username: Option<String>,
    /// Lower-cased username, for case-insensitive uniqueness and login.
    #[sea_orm(unique)]
    pub username_norm: Option<String>,
    pub name: String,
    /// `admin`, `agent` or `customer`.
    pub role: String,
    /// argon2id PHC string.
    pub password_hash: String,
    pub disabled: bool,
    /// Bumped to invalidate every token issued before (password reset, disable).
    pub token_version: i64,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub last_login_at: Option<DateTimeUtc>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
