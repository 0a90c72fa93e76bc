//! What agents hear about stored messages, plugged into the message writer
//! ([`crate::messages::writer::Announcer`]): the session's light `session_updated` for every
//! new message, and the status change when a visitor's message reopened a resolved session.

use futures::future::BoxFuture;
use sea_orm::DatabaseConnection;

use super::types::{Assignee, SessionUpdated, StatusChanged};
use crate::hub::Hub;
use crate::messages::service::{Reopened, Stored};
use crate::messages::types::LastMessage;
use crate::messages::writer::Announcer;

/// The desk's [`Announcer`].
pub struct DeskAnnouncer {
    pub hub: Hub,
    pub db: DatabaseConnection,
}

impl Announcer for DeskAnnouncer {
    fn stored<'a>(&'a self, stored: &'a Stored) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let update = activity(stored);
            self.hub
                .to_agents_about(
                    SessionUpdated::EVENT,
                    update.kind(),
                    &stored.message.session_id,
                    &update,
                )
                .await;
        })
    }

    fn reopened<'a>(&'a self, r: &'a Reopened) -> BoxFuture<'a, ()> {
        Box::pin(reopened(&self.hub, &self.db, r))
    }
}

/// The light `session_updated` agents get for every new message.
fn activity(stored: &Stored) -> SessionUpdated<'_> {
    let m = &stored.message;
    SessionUpdated::Activity {
        session_id: &m.session_id,
        last_seq: m.seq,
        last_message_at: &m.created_at,
        unread: stored.unread,
        last_message: LastMessage::of_new(m),
    }
}

/// A visitor's message reopened a resolved session: the room and the agents hear its new
/// status, with the assignee as every other status change names them (`{id, name}`).
async fn reopened(hub: &Hub, db: &DatabaseConnection, r: &Reopened) {
    let assignee = match &r.assignee_id {
        Some(id) => {
            let name = match super::service::names(db, std::slice::from_ref(id)).await {
                Ok(mut names) => names.remove(id).unwrap_or_default(),
                Err(e) => {
                    tracing::warn!(error = %e, "assignee name not read; announced without it");
                    String::new()
                }
            };
            Some(Assignee {
                id: id.clone(),
                name,
            })
        }
        None => None,
    };
    let status = StatusChanged {
        session_id: r.session_id.clone(),
        status: r.status,
        assignee: assignee.clone(),
    };
    hub.to_session(&r.session_id, "session_status", &status, None)
        .await;
    let update = SessionUpdated::Reopened {
        session_id: &r.session_id,
        status: r.status,
        assignee_id: r.assignee_id.as_deref(),
        assignee: assignee.as_ref(),
    };
    hub.to_agents_about(SessionUpdated::EVENT, update.kind(), &r.session_id, &update)
        .await;
}
