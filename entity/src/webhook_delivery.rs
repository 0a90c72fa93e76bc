//! One delivery of one event to one webhook endpoint: the outbox row, its body and its log.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_deliveries")]
pub struct Model {
    /// The order of an endpoint's deliveries, and the delivery id receivers see.
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: String,
    pub event: String,
    /// The event's id (the body's `id`; the same for every endpoint it goes to).
    pub event_id: String,
    /// The JSON body POSTed; empty when `message_pk` names the message to render it from.
    pub body: String,
    /// `message.created`: the message (its internal id) whose body is rendered when sent.
    pub message_pk: Option<String>,
    /// `pending`, `retrying`, `delivered` or `failed`.
    pub status: String,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub last_status_code: Option<i32>,
    pub next_attempt_at: DateTimeUtc,
    /// After this instant a failed attempt is the last one; none: `created_at` plus the
    /// configured retry window (a manual redelivery sets it: one attempt).
    pub give_up_at: Option<DateTimeUtc>,
    /// Claimed by a node until then (before migration 000019; runs now lease the endpoint,
    /// `webhook_endpoint::Model::lease`, and leave these empty).
    pub locked_until: Option<DateTimeUtc>,
    /// The claiming node's token (before migration 000019).
    pub lease: Option<String>,
    pub delivered_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
