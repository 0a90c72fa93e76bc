//! A webhook endpoint: where the events an admin subscribed to are POSTed, signed with its
//! secret.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub url: String,
    /// The HMAC-SHA256 key of its signatures (shown to the admin once, at creation).
    pub secret: String,
    /// The event names it subscribes to, as a JSON array.
    pub events: String,
    pub active: bool,
    /// Most events one POST carries (1: one event per POST, the body is the event).
    pub batch_size: i32,
    /// The delivery worker's claim on the endpoint (one run at a time on the whole desk):
    /// the claiming run's token, until `locked_until`.
    pub lease: Option<String>,
    pub locked_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
