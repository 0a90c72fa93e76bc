//! Session storage: the only place with SQL for chat sessions.

use chrono::{DateTime, Utc};
use entity::chat_session;
use rand::Rng;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionSession, TransactionTrait,
};

use crate::error::{AppError, AppResult};
use crate::messages::types::now_millis;
use crate::outbox::{Event, Interest, Pending, SessionData};
use crate::sessions::types::SessionStatus;

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

/// A new session row with a fresh random public id and code.
fn new_row(new: &NewSession, code: String, now: DateTime<Utc>) -> chat_session::ActiveModel {
    chat_session::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        session_id: Set(uuid::Uuid::new_v4().to_string()),
        code: Set(code),
        ip: Set(new.ip.clone()),
        user_agent: Set(new.user_agent.clone()),
        status: Set(SessionStatus::Open.as_str().into()),
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
        visitor_cleared_seq: Set(0),
        ai_enabled: Set(None),
        contact_email: Set(None),
        contact_left_at: Set(None),
    }
}

/// Attempts at a fresh code before a session creation gives up.
const CODE_ATTEMPTS: usize = 5;

/// Creates one session per entry, in one `INSERT` per attempt (`sessions::creator` batches
/// the `init_session`s that arrive together). A row whose random code is taken is skipped by
/// `ON CONFLICT (code) DO NOTHING` and tried again with another code; any other error fails
/// the whole batch. Returns one result per entry, in order.
pub async fn create_many<C: ConnectionTrait>(
    db: &C,
    news: &[NewSession],
) -> Result<Vec<AppResult<chat_session::Model>>, sea_orm::DbErr> {
    create_many_coded(db, news, &mut new_code).await
}

/// [`create_many`], writing `session.created` to the webhook outbox in the same
/// transaction when `interest` says an endpoint listens (else exactly `create_many`).
pub async fn create_many_recording<C>(
    db: &C,
    news: &[NewSession],
    interest: Interest,
) -> Result<Vec<AppResult<chat_session::Model>>, sea_orm::DbErr>
where
    C: ConnectionTrait + TransactionTrait,
{
    if !interest.wants(Event::SessionCreated) {
        return create_many(db, news).await;
    }
    let txn = crate::db::begin_write(db).await?;
    let out = create_many(&txn, news).await?;
    let mut events = Vec::with_capacity(out.len());
    for s in out.iter().filter_map(|r| r.as_ref().ok()) {
        events.push(
            Pending::new(Event::SessionCreated, &s.created_at, &SessionData::of(s))
                .map_err(crate::outbox::encode_error)?,
        );
    }
    crate::outbox::service::write(&txn, now_millis(), &events).await?;
    txn.commit().await?;
    Ok(out)
}

/// `create_many` with the codes drawn from `next_code`.
async fn create_many_coded<C: ConnectionTrait>(
    db: &C,
    news: &[NewSession],
    next_code: &mut (dyn FnMut() -> String + Send),
) -> Result<Vec<AppResult<chat_session::Model>>, sea_orm::DbErr> {
    use sea_orm::sea_query::OnConflict;
    let now = now_millis();
    let mut out: Vec<Option<AppResult<chat_session::Model>>> =
        (0..news.len()).map(|_| None).collect();
    let mut pending: Vec<usize> = (0..news.len()).collect();
    for _ in 0..CODE_ATTEMPTS {
        if pending.is_empty() {
            break;
        }
        let rows: Vec<chat_session::ActiveModel> = pending
            .iter()
            .map(|&i| new_row(&news[i], next_code(), now))
            .collect();
        let ids: Vec<String> = rows
            .iter()
            .map(|r| match &r.id {
                sea_orm::ActiveValue::Set(id) => id.clone(),
                _ => String::new(),
            })
            .collect();
        let inserted = chat_session::Entity::insert_many(rows)
            .on_conflict(
                OnConflict::column(chat_session::Column::Code)
                    .do_nothing()
                    .to_owned(),
            )
            .exec_with_returning(db)
            .await?;
        let mut by_id: std::collections::HashMap<String, chat_session::Model> =
            inserted.into_iter().map(|m| (m.id.clone(), m)).collect();
        let mut again = Vec::new();
        for (&i, id) in pending.iter().zip(&ids) {
            match by_id.remove(id) {
                Some(m) => out[i] = Some(Ok(m)),
                None => again.push(i), // its code was taken: another code next round
            }
        }
        pending = again;
    }
    Ok(out
        .into_iter()
        .map(|r| r.unwrap_or(Err(AppError::Overloaded)))
        .collect())
}

/// Creates a session with a random public id and code.
pub async fn create<C: ConnectionTrait>(db: &C, new: NewSession) -> AppResult<chat_session::Model> {
    create_many(db, std::slice::from_ref(&new))
        .await?
        .pop()
        .unwrap_or(Err(AppError::Overloaded))
}

/// The session with this public id: `invalid_payload` when the id is malformed,
/// `session_not_found` when there is none.
pub async fn get_by_session_id<C: ConnectionTrait>(
    db: &C,
    session_id: &str,
) -> AppResult<chat_session::Model> {
    let id = super::types::SessionId::parse(session_id)?;
    find_by_session_id(db, id.as_str())
        .await?
        .ok_or(AppError::SessionNotFound)
}

/// The session with this internal key, if any.
pub async fn find_by_pk<C: ConnectionTrait>(
    db: &C,
    pk: &str,
) -> AppResult<Option<chat_session::Model>> {
    Ok(chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await?)
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

/// The sessions with these public ids (any order; unknown ids find nothing).
pub async fn find_by_session_ids<C: ConnectionTrait>(
    db: &C,
    session_ids: &[String],
) -> AppResult<Vec<chat_session::Model>> {
    let mut out = Vec::with_capacity(session_ids.len());
    // Bounded IN lists: SQLite limits the parameters of one statement.
    for chunk in session_ids.chunks(500) {
        out.extend(
            chat_session::Entity::find()
                .filter(chat_session::Column::SessionId.is_in(chunk.iter().cloned()))
                .all(db)
                .await?,
        );
    }
    Ok(out)
}

/// Sets a session's assistant switch (`None`: automatic) and returns the session.
pub async fn set_ai_enabled<C: ConnectionTrait>(
    db: &C,
    pk: &str,
    enabled: Option<bool>,
) -> AppResult<chat_session::Model> {
    chat_session::Entity::update_many()
        .col_expr(chat_session::Column::AiEnabled, Expr::value(enabled))
        .filter(chat_session::Column::Id.eq(pk))
        .exec(db)
        .await?;
    chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await?
        .ok_or(AppError::SessionNotFound)
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
    /// Only sessions after this one in the newest-first order (the pagination cursor).
    pub before: Option<super::types::Cursor>,
    pub limit: u64,
    /// Only the sessions with this label.
    pub label: Option<crate::labels::types::LabelName>,
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
    if let Some(l) = &f.label {
        q = q.filter(crate::labels::service::tagged(l));
    }
    if let Some(c) = &f.customer_id {
        q = q.filter(chat_session::Column::CustomerId.eq(c.clone()));
    }
    if let Some(b) = &f.before {
        q = q.filter(older_than(b));
    }
    Ok(q.order_by_desc(chat_session::Column::CreatedAt)
        .order_by_desc(chat_session::Column::Id)
        .limit(f.limit)
        .all(db)
        .await?)
}

/// Sessions after `c` in the order newest first (`created_at` desc, `id` desc).
pub fn older_than(c: &super::types::Cursor) -> Condition {
    let before = chat_session::Column::CreatedAt.lt(c.at);
    match &c.id {
        Some(id) => Condition::any().add(before).add(
            Condition::all()
                .add(chat_session::Column::CreatedAt.eq(c.at))
                .add(chat_session::Column::Id.lt(id.clone())),
        ),
        None => Condition::all().add(before),
    }
}

/// Sessions after `c` in the queue order (`waiting_since` asc, `id` asc).
pub fn waiting_after(c: &super::types::Cursor) -> Condition {
    let after = chat_session::Column::WaitingSince.gt(c.at);
    match &c.id {
        Some(id) => Condition::any().add(after).add(
            Condition::all()
                .add(chat_session::Column::WaitingSince.eq(c.at))
                .add(chat_session::Column::Id.gt(id.clone())),
        ),
        None => Condition::all().add(after),
    }
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
    let q = chat_session::Entity::find()
        .filter(chat_session::Column::Status.ne(SessionStatus::Resolved.as_str()));
    let q = match owner {
        Owner::Customer(id) => q.filter(chat_session::Column::CustomerId.eq(id.clone())),
        Owner::VerifiedVisitor(v) => q.filter(chat_session::Column::VisitorIdentity.eq(v.clone())),
    };
    Ok(q.order_by_desc(chat_session::Column::CreatedAt)
        .one(db)
        .await?)
}

/// The sessions `account_id` is a member of (seed 004's rooms), as a subquery.
fn memberships(account_id: &str) -> sea_orm::sea_query::SelectStatement {
    use entity::session_member;
    sea_orm::sea_query::Query::select()
        .column(session_member::Column::SessionPk)
        .from(session_member::Entity)
        .and_where(session_member::Column::AccountId.eq(account_id))
        .to_owned()
}

/// Whether `account_id` takes part in the session `pk`: its customer, its assignee, or a
/// member (seed 004's rooms).
pub async fn takes_part<C: ConnectionTrait>(db: &C, pk: &str, account_id: &str) -> AppResult<bool> {
    Ok(chat_session::Entity::find_by_id(pk.to_string())
        .filter(part_of(account_id))
        .one(db)
        .await?
        .is_some())
}

/// The sessions an account takes part in, newest first: its own (as a customer), those
/// assigned to it (as staff) and those it is a member of (seed 004's rooms).
pub async fn taken_part_in<C: ConnectionTrait>(
    db: &C,
    account_id: &str,
    limit: u64,
) -> AppResult<Vec<chat_session::Model>> {
    Ok(chat_session::Entity::find()
        .filter(part_of(account_id))
        .order_by_desc(chat_session::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// Whether `account_id` is the customer, the assignee or a member of a session.
fn part_of(account_id: &str) -> Condition {
    Condition::any()
        .add(chat_session::Column::CustomerId.eq(account_id))
        .add(chat_session::Column::AssigneeId.eq(account_id))
        .add(chat_session::Column::Id.in_subquery(memberships(account_id)))
}

/// Whether two accounts take part in one session together: its customer, its assignee or
/// its members (seed 004's rooms), in any combination.
pub async fn share_a_session<C: ConnectionTrait>(db: &C, a: &str, b: &str) -> AppResult<bool> {
    Ok(chat_session::Entity::find()
        .filter(Condition::all().add(part_of(a)).add(part_of(b)))
        .one(db)
        .await?
        .is_some())
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

/// Hides the session's history up to its latest `seq` from the visitor (a visitor's
/// `clear_history`). Returns the new watermark and how many stored messages it newly hid.
pub async fn clear_for_visitor<C: ConnectionTrait>(db: &C, pk: &str) -> AppResult<(i64, u64)> {
    let before = chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await?
        .ok_or(AppError::SessionNotFound)?;
    // `last_seq` only grows, so the watermark never moves back.
    chat_session::Entity::update_many()
        .col_expr(
            chat_session::Column::VisitorClearedSeq,
            Expr::col(chat_session::Column::LastSeq),
        )
        .filter(chat_session::Column::Id.eq(pk))
        .exec(db)
        .await?;
    let upto = chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await?
        .map_or(before.last_seq, |s| s.visitor_cleared_seq);
    let hidden = crate::messages::service::count_between(
        db,
        pk,
        before.visitor_cleared_seq,
        upto,
        crate::messages::service::Audience::Public,
    )
    .await?;
    Ok((upto, hidden))
}

/// Where the visitor's view of a session starts (`seq` after which messages show).
pub async fn visitor_floor<C: ConnectionTrait>(db: &C, pk: &str) -> AppResult<i64> {
    Ok(chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await?
        .map_or(0, |s| s.visitor_cleared_seq))
}

#[cfg(test)]
mod tests {
    use super::*;
    use migration::{Migrator, MigratorTrait};

    #[tokio::test]
    async fn a_taken_code_is_retried_with_another_and_the_batch_keeps_its_order() {
        let db = sea_orm::Database::connect("sqlite::memory:")
            .await
            .expect("in-memory sqlite");
        Migrator::up(&db, None).await.expect("migrations");
        let mut codes = ["TAKEN2"].into_iter().map(String::from);
        let first = create_many_coded(&db, &[NewSession::default()], &mut || {
            codes.next().unwrap_or_default()
        })
        .await
        .expect("insert");
        assert_eq!(first[0].as_ref().expect("created").code, "TAKEN2");

        // Round 1: the first row's code is taken, the second row's is free; round 2: taken
        // again; round 3: free.
        let mut codes = ["TAKEN2", "FREE22", "TAKEN2", "FREE33"]
            .into_iter()
            .map(String::from);
        let news = [
            NewSession {
                user_agent: Some("first".into()),
                ..Default::default()
            },
            NewSession {
                user_agent: Some("second".into()),
                ..Default::default()
            },
        ];
        let out = create_many_coded(&db, &news, &mut || codes.next().unwrap_or_default())
            .await
            .expect("insert");
        let got: Vec<(String, Option<String>)> = out
            .into_iter()
            .map(|r| r.expect("created"))
            .map(|m| (m.code, m.user_agent))
            .collect();
        assert_eq!(
            got,
            vec![
                ("FREE33".to_string(), Some("first".to_string())),
                ("FREE22".to_string(), Some("second".to_string())),
            ]
        );

        // Codes that stay taken end in `overloaded`, not in an error for the whole batch.
        let out = create_many_coded(&db, &[NewSession::default()], &mut || "TAKEN2".into())
            .await
            .expect("insert");
        assert!(matches!(out[0], Err(AppError::Overloaded)));
    }
}
