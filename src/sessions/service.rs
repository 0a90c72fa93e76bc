//! Session storage: the only place with SQL for chat sessions.

use chrono::{DateTime, Utc};
use entity::chat_session;
use rand::Rng;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, SqlErr,
};

use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;

/// Alphabet of session codes: no 0/O, 1/I/L, so a visitor can read one aloud.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
pub const CODE_LEN: usize = 6;

/// What is known about a visitor when their session is created.
#[derive(Debug, Clone, Default)]
pub struct NewSession {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub customer_id: Option<String>,
    pub visitor_identity: Option<String>,
}

/// A fresh random session code.
pub fn new_code() -> String {
    let mut rng = rand::rng();
    (0..CODE_LEN)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect()
}

/// Whether `s` has the shape of a session code.
pub fn looks_like_code(s: &str) -> bool {
    s.len() == CODE_LEN
        && s.bytes()
            .all(|b| CODE_ALPHABET.contains(&b.to_ascii_uppercase()))
}

/// Creates a session with a random public id and code.
pub async fn create<C: ConnectionTrait>(db: &C, new: NewSession) -> AppResult<chat_session::Model> {
    let now = now_millis();
    let mut last_err = None;
    for _ in 0..5 {
        let model = chat_session::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            session_id: Set(uuid::Uuid::new_v4().to_string()),
            code: Set(new_code()),
            ip: Set(new.ip.clone()),
            user_agent: Set(new.user_agent.clone()),
            status: Set("open".into()),
            assignee_id: Set(None),
            customer_id: Set(new.customer_id.clone()),
            visitor_identity: Set(new.visitor_identity.clone()),
            last_seq: Set(0),
            user_read_seq: Set(0),
            admin_read_seq: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            last_message_at: Set(None),
            waiting_since: Set(None),
            assigned_at: Set(None),
            first_response_at: Set(None),
            resolved_at: Set(None),
        };
        match chat_session::Entity::insert(model)
            .exec_with_returning(db)
            .await
        {
            Ok(m) => return Ok(m),
            // A code collision: try another code.
            Err(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))) => {
                last_err = Some(e)
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(last_err.map(AppError::from).unwrap_or(AppError::Overloaded))
}

/// The session with this public id, if any (malformed ids find nothing).
pub async fn find_by_session_id<C: ConnectionTrait>(
    db: &C,
    session_id: &str,
) -> AppResult<Option<chat_session::Model>> {
    if uuid::Uuid::parse_str(session_id).is_err() {
        return Ok(None);
    }
    Ok(chat_session::Entity::find()
        .filter(chat_session::Column::SessionId.eq(session_id.to_ascii_lowercase()))
        .one(db)
        .await?)
}

/// The session with this short code, if any.
pub async fn find_by_code<C: ConnectionTrait>(
    db: &C,
    code: &str,
) -> AppResult<Option<chat_session::Model>> {
    Ok(chat_session::Entity::find()
        .filter(chat_session::Column::Code.eq(code.to_ascii_uppercase()))
        .one(db)
        .await?)
}

/// Filters of the session list.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub status: Option<String>,
    pub assignee_id: Option<String>,
    pub customer_id: Option<String>,
    /// Only sessions created strictly before this instant (the pagination cursor).
    pub before: Option<DateTime<Utc>>,
    pub limit: u64,
}

/// Sessions, newest first.
pub async fn list<C: ConnectionTrait>(
    db: &C,
    f: &ListFilter,
) -> AppResult<Vec<chat_session::Model>> {
    let mut q = chat_session::Entity::find();
    if let Some(s) = &f.status {
        q = q.filter(chat_session::Column::Status.eq(s.clone()));
    }
    if let Some(a) = &f.assignee_id {
        q = q.filter(chat_session::Column::AssigneeId.eq(a.clone()));
    }
    if let Some(c) = &f.customer_id {
        q = q.filter(chat_session::Column::CustomerId.eq(c.clone()));
    }
    if let Some(b) = f.before {
        q = q.filter(chat_session::Column::CreatedAt.lt(b));
    }
    Ok(q.order_by_desc(chat_session::Column::CreatedAt)
        .order_by_desc(chat_session::Column::Id)
        .limit(f.limit)
        .all(db)
        .await?)
}

/// Who a session belongs to, for resuming "my latest conversation".
#[derive(Debug, Clone)]
pub enum Owner {
    Customer(String),
    VerifiedVisitor(String),
}

/// The newest session of `owner` that is not resolved.
pub async fn latest_unresolved<C: ConnectionTrait>(
    db: &C,
    owner: &Owner,
) -> AppResult<Option<chat_session::Model>> {
    let q = chat_session::Entity::find().filter(chat_session::Column::Status.ne("resolved"));
    let q = match owner {
        Owner::Customer(id) => q.filter(chat_session::Column::CustomerId.eq(id.clone())),
        Owner::VerifiedVisitor(v) => q.filter(chat_session::Column::VisitorIdentity.eq(v.clone())),
    };
    Ok(q.order_by_desc(chat_session::Column::CreatedAt)
        .one(db)
        .await?)
}

/// Links an anonymous session to its owner (the visitor signed in or verified later).
pub async fn link_owner<C: ConnectionTrait>(
    db: &C,
    session: chat_session::Model,
    owner: &Owner,
) -> AppResult<chat_session::Model> {
    use sea_orm::ActiveModelTrait;
    let mut am: chat_session::ActiveModel = session.into();
    match owner {
        Owner::Customer(id) => am.customer_id = Set(Some(id.clone())),
        Owner::VerifiedVisitor(v) => am.visitor_identity = Set(Some(v.clone())),
    }
    am.updated_at = Set(now_millis());
    Ok(am.update(db).await?)
}
