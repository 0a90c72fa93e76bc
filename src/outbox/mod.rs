//! The webhook outbox: what every change writes, in its own transaction, for the webhooks
//! (`webhooks`) to deliver later. It sits below the stores (sessions, messages, the desk)
//! and knows none of them: a store hands it an [`Event`], when it happened, and the JSON
//! `data` to send; the outbox writes one row per active endpoint subscribed to that event
//! (`webhook_deliveries`), with the whole body it will POST, or, for `message.created`, the
//! message's id: the worker renders that body from the stored message when it sends it.
//!
//! Nothing is written when nobody listens. Each node keeps [`Subscriptions`]: which events
//! at least one active endpoint subscribes to (a bitmask read with one atomic load). A store
//! skips the outbox entirely (on PostgreSQL, even the transaction around its one statement)
//! when its event is not in it. The mask is a gate, not the list of endpoints: the INSERT
//! itself picks the active, subscribed endpoints from the database, in the same transaction,
//! so a stale mask can never write a row for an endpoint that was deleted or switched off.
//! A node learns of a new endpoint at once when it made it, through Redis otherwise
//! (`cluster::kb::follow`), and from a periodic reload as a fallback.
//!
//! Other capabilities record their own events with [`record`] inside their transaction (the
//! CSAT rating does so for `rating.created`).

pub mod service;

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

pub use service::record;

/// An event webhooks can subscribe to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Event {
    /// A visitor's session was created (data: the session).
    #[serde(rename = "session.created")]
    SessionCreated,
    /// A message was stored (data: the message as `GET /api/chats/:id` serves it).
    #[serde(rename = "message.created")]
    MessageCreated,
    /// A session's status changed (data: the session, with `previousStatus`).
    #[serde(rename = "session.status_changed")]
    SessionStatusChanged,
    /// A session's assignee changed (data: the session, with `previousAssigneeId`).
    #[serde(rename = "session.assigned")]
    SessionAssigned,
    /// A visitor rated a resolution (data: the rating).
    #[serde(rename = "rating.created")]
    RatingCreated,
}

impl Event {
    pub const ALL: [Event; 5] = [
        Event::SessionCreated,
        Event::MessageCreated,
        Event::SessionStatusChanged,
        Event::SessionAssigned,
        Event::RatingCreated,
    ];

    /// Its name on the wire (`X-Chatdesk-Event`, the body's `event`, the endpoint's list).
    pub fn as_str(self) -> &'static str {
        match self {
            Event::SessionCreated => "session.created",
            Event::MessageCreated => "message.created",
            Event::SessionStatusChanged => "session.status_changed",
            Event::SessionAssigned => "session.assigned",
            Event::RatingCreated => "rating.created",
        }
    }

    /// The event of this name, if any.
    pub fn parse(name: &str) -> Option<Event> {
        Event::ALL.into_iter().find(|e| e.as_str() == name)
    }

    fn bit(self) -> u8 {
        1 << (self as u8)
    }
}

/// Which events have at least one active subscriber, as this node knows it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Interest(u8);

impl Interest {
    /// Nobody listens.
    pub const NONE: Interest = Interest(0);

    /// The events of these endpoints' lists.
    pub fn of<'a>(lists: impl IntoIterator<Item = &'a [Event]>) -> Interest {
        let mut bits = 0;
        for list in lists {
            for e in list {
                bits |= e.bit();
            }
        }
        Interest(bits)
    }

    /// Whether some active endpoint subscribes to `event`.
    pub fn wants(self, event: Event) -> bool {
        self.0 & event.bit() != 0
    }

    /// Whether some active endpoint subscribes to any of `events`.
    pub fn wants_any(self, events: &[Event]) -> bool {
        events.iter().any(|e| self.wants(*e))
    }
}

/// This node's [`Interest`], shared by the stores that consult it and the webhooks that
/// keep it; cheap to clone. It also carries the wake-up the stores give the delivery worker
/// after they committed outbox rows, so that a delivery does not wait for the next poll.
#[derive(Debug, Clone, Default)]
pub struct Subscriptions(Arc<Shared>);

#[derive(Debug, Default)]
struct Shared {
    mask: AtomicU8,
    written: tokio::sync::Notify,
}

impl Subscriptions {
    /// What is subscribed now.
    pub fn now(&self) -> Interest {
        Interest(self.0.mask.load(Ordering::Relaxed))
    }

    /// Replaces what is known (after a reload from the database).
    pub fn set(&self, interest: Interest) {
        self.0.mask.store(interest.0, Ordering::Relaxed);
    }

    /// Adds events at once (an endpoint created or switched on here, before the reload).
    pub fn add(&self, interest: Interest) {
        self.0.mask.fetch_or(interest.0, Ordering::Relaxed);
    }

    /// Outbox rows were committed: wakes the delivery worker.
    pub fn written(&self) {
        self.0.written.notify_one();
    }

    /// Resolves at the next [`Subscriptions::written`] (or at once if one came meanwhile).
    pub async fn next_write(&self) {
        self.0.written.notified().await
    }
}

/// One event to write: its id, its name and the whole JSON body of its deliveries, or (a
/// `message.created`) the message to render the body from when it is sent.
#[derive(Debug, Clone)]
pub struct Pending {
    pub event: Event,
    pub id: String,
    /// Empty when `message_pk` is set.
    pub body: String,
    pub message_pk: Option<String>,
}

/// The body every delivery POSTs: `{id, event, createdAt, data}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, T: Serialize> {
    id: &'a str,
    event: Event,
    created_at: &'a str,
    data: &'a T,
}

impl Pending {
    /// An event that happened `at`, with its `data`, under a fresh event id.
    pub fn new<T: Serialize>(
        event: Event,
        at: &DateTime<Utc>,
        data: &T,
    ) -> Result<Pending, serde_json::Error> {
        Pending::stamped(event, &timestamp(at), data)
    }

    /// Like [`Pending::new`], with the instant already written as the API writes it.
    pub fn stamped<T: Serialize>(
        event: Event,
        created_at: &str,
        data: &T,
    ) -> Result<Pending, serde_json::Error> {
        let id = uuid::Uuid::now_v7().to_string();
        let body = envelope(&id, event, created_at, data)?;
        Ok(Pending {
            event,
            id,
            body,
            message_pk: None,
        })
    }

    /// `message.created` for the stored message `message_pk`: the row keeps the message's id
    /// and the body is rendered from the message when it is sent ([`envelope`] with the
    /// message as `GET /api/chats/:id` serves it, `createdAt` the message's).
    pub fn message(message_pk: &str) -> Pending {
        Pending {
            event: Event::MessageCreated,
            id: uuid::Uuid::now_v7().to_string(),
            body: String::new(),
            message_pk: Some(message_pk.to_string()),
        }
    }
}

/// The body of a delivery: `{id, event, createdAt, data}`.
pub fn envelope<T: Serialize>(
    id: &str,
    event: Event,
    created_at: &str,
    data: &T,
) -> Result<String, serde_json::Error> {
    serde_json::to_string(&Envelope {
        id,
        event,
        created_at,
        data,
    })
}

/// RFC 3339 with milliseconds, as every timestamp chatdesk sends.
fn timestamp(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A session in a webhook's `data`: the stored row as receivers need it (no presence or
/// unread counts, which only mean something to a console at that moment).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionData {
    pub session_id: String,
    pub code: String,
    pub status: String,
    pub assignee_id: Option<String>,
    pub customer_id: Option<String>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub last_seq: i64,
    pub created_at: String,
    pub updated_at: String,
    pub last_message_at: Option<String>,
    pub waiting_since: Option<String>,
    pub assigned_at: Option<String>,
    pub first_response_at: Option<String>,
    pub resolved_at: Option<String>,
    pub contact_email: Option<String>,
    /// `session.status_changed`: the status before the change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_status: Option<String>,
    /// `session.assigned`: the assignee before the change (null: nobody).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_assignee_id: Option<Option<String>>,
}

impl SessionData {
    /// The session as stored.
    pub fn of(s: &entity::chat_session::Model) -> Self {
        SessionData {
            session_id: s.session_id.clone(),
            code: s.code.clone(),
            status: s.status.clone(),
            assignee_id: s.assignee_id.clone(),
            customer_id: s.customer_id.clone(),
            ip: s.ip.clone(),
            user_agent: s.user_agent.clone(),
            last_seq: s.last_seq,
            created_at: timestamp(&s.created_at),
            updated_at: timestamp(&s.updated_at),
            last_message_at: s.last_message_at.as_ref().map(timestamp),
            waiting_since: s.waiting_since.as_ref().map(timestamp),
            assigned_at: s.assigned_at.as_ref().map(timestamp),
            first_response_at: s.first_response_at.as_ref().map(timestamp),
            resolved_at: s.resolved_at.as_ref().map(timestamp),
            contact_email: s.contact_email.clone(),
            previous_status: None,
            previous_assignee_id: None,
        }
    }
}

/// The events a workflow change makes (`session.status_changed`, `session.assigned`), for
/// those that are subscribed: none when nothing that matters changed.
pub fn session_changes(
    interest: Interest,
    before: &entity::chat_session::Model,
    after: &entity::chat_session::Model,
) -> Result<Vec<Pending>, serde_json::Error> {
    let mut out = Vec::new();
    if before.status != after.status && interest.wants(Event::SessionStatusChanged) {
        let mut data = SessionData::of(after);
        data.previous_status = Some(before.status.clone());
        out.push(Pending::new(
            Event::SessionStatusChanged,
            &after.updated_at,
            &data,
        )?);
    }
    if before.assignee_id != after.assignee_id && interest.wants(Event::SessionAssigned) {
        let mut data = SessionData::of(after);
        data.previous_assignee_id = Some(before.assignee_id.clone());
        out.push(Pending::new(
            Event::SessionAssigned,
            &after.updated_at,
            &data,
        )?);
    }
    Ok(out)
}

/// A serialization failure as a database error (it aborts the transaction it happened in).
pub fn encode_error(e: serde_json::Error) -> sea_orm::DbErr {
    sea_orm::DbErr::Custom(format!("webhook body not encoded: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip_and_interest_tracks_each_event() {
        for e in Event::ALL {
            assert_eq!(Event::parse(e.as_str()), Some(e));
            assert_eq!(
                serde_json::to_value(e).ok(),
                Some(serde_json::Value::String(e.as_str().into()))
            );
        }
        let list = [Event::MessageCreated, Event::RatingCreated];
        let i = Interest::of([&list[..]]);
        assert!(i.wants(Event::MessageCreated) && i.wants(Event::RatingCreated));
        assert!(!i.wants(Event::SessionCreated));
        let s = Subscriptions::default();
        assert_eq!(s.now(), Interest::NONE);
        s.add(i);
        assert!(s.now().wants(Event::RatingCreated));
    }

    #[test]
    fn the_body_is_an_envelope_around_the_data() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_123).unwrap_or_default();
        let p = Pending::new(Event::MessageCreated, &at, &serde_json::json!({"seq": 3}))
            .expect("encodes");
        let v: serde_json::Value = serde_json::from_str(&p.body).expect("json");
        assert_eq!(v["id"], p.id.as_str());
        assert_eq!(v["event"], "message.created");
        assert_eq!(v["createdAt"], "2023-11-14T22:13:20.123Z");
        assert_eq!(v["data"]["seq"], 3);
    }
}
