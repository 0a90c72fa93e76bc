//! Room storage: the only place with SQL for rooms (`rooms`) and members
//! (`session_members`). Sessions and messages themselves are read and written through their
//! own services.

use std::collections::HashMap;

use entity::{account, chat_session, message, room, session_member};
use sea_orm::sea_query::Query;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect,
};

use crate::error::AppResult;
use crate::messages::types::now_millis;

/// A room by its id.
pub async fn find<C: ConnectionTrait>(db: &C, room_id: i64) -> AppResult<Option<room::Model>> {
    Ok(room::Entity::find_by_id(room_id).one(db).await?)
}

/// The room a session is, if it has been shown as one.
pub async fn of_session<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
) -> AppResult<Option<room::Model>> {
    Ok(room::Entity::find()
        .filter(room::Column::SessionPk.eq(session_pk))
        .one(db)
        .await?)
}

/// What a new room row says.
#[derive(Debug, Clone)]
pub struct NewRoom<'a> {
    pub session_pk: &'a str,
    pub name: &'a str,
    pub is_direct_chat: bool,
    pub created_by: Option<&'a str>,
}

/// The session's room: made now with `new`, or the one it already has (two callers at once
/// get the same row).
pub async fn ensure<C: ConnectionTrait>(db: &C, new: NewRoom<'_>) -> AppResult<room::Model> {
    let now = now_millis();
    let row = room::ActiveModel {
        session_pk: Set(new.session_pk.to_string()),
        name: Set(new.name.to_string()),
        is_direct_chat: Set(new.is_direct_chat),
        created_by: Set(new.created_by.map(String::from)),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    };
    room::Entity::insert(row)
        .on_conflict_do_nothing_on([room::Column::SessionPk])
        .exec(db)
        .await?;
    of_session(db, new.session_pk).await?.ok_or_else(|| {
        crate::error::AppError::Internal(anyhow::anyhow!("room row missing after insert"))
    })
}

/// The membership of `account_id` in a session, if any.
pub async fn membership<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    account_id: &str,
) -> AppResult<Option<session_member::Model>> {
    Ok(
        session_member::Entity::find_by_id((session_pk.to_string(), account_id.to_string()))
            .one(db)
            .await?,
    )
}

/// Makes `account_id` a member with `role` (a member already keeps their role); the
/// membership, and whether it is new.
pub async fn add_member<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    account_id: &str,
    role: &str,
) -> AppResult<(session_member::Model, bool)> {
    let now = now_millis();
    let row = session_member::ActiveModel {
        session_pk: Set(session_pk.to_string()),
        account_id: Set(account_id.to_string()),
        member_role: Set(role.to_string()),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let inserted = session_member::Entity::insert(row)
        .on_conflict_do_nothing_on([
            session_member::Column::SessionPk,
            session_member::Column::AccountId,
        ])
        .exec(db)
        .await?;
    let added = matches!(inserted, sea_orm::TryInsertResult::Inserted(_));
    let member = membership(db, session_pk, account_id)
        .await?
        .ok_or_else(|| {
            crate::error::AppError::Internal(anyhow::anyhow!("membership missing after insert"))
        })?;
    Ok((member, added))
}

/// Ends a membership; false when there was none.
pub async fn remove_member<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    account_id: &str,
) -> AppResult<bool> {
    Ok(session_member::Entity::delete_many()
        .filter(session_member::Column::SessionPk.eq(session_pk))
        .filter(session_member::Column::AccountId.eq(account_id))
        .exec(db)
        .await?
        .rows_affected
        > 0)
}

/// A customer's sessions that are not rooms yet (to be shown as rooms).
pub async fn owned_without_room<C: ConnectionTrait>(
    db: &C,
    customer_id: &str,
) -> AppResult<Vec<chat_session::Model>> {
    Ok(chat_session::Entity::find()
        .filter(chat_session::Column::CustomerId.eq(customer_id))
        .filter(
            chat_session::Column::Id.not_in_subquery(
                Query::select()
                    .column(room::Column::SessionPk)
                    .from(room::Entity)
                    .to_owned(),
            ),
        )
        .order_by_asc(chat_session::Column::CreatedAt)
        .all(db)
        .await?)
}

/// The rooms `account_id` is a member of, oldest room first: each with its session and the
/// membership.
pub async fn rooms_of<C: ConnectionTrait>(
    db: &C,
    account_id: &str,
) -> AppResult<Vec<(room::Model, chat_session::Model, session_member::Model)>> {
    let members = session_member::Entity::find()
        .filter(session_member::Column::AccountId.eq(account_id))
        .all(db)
        .await?;
    let mut out = Vec::with_capacity(members.len());
    for chunk in members.chunks(500) {
        let pks: Vec<String> = chunk.iter().map(|m| m.session_pk.clone()).collect();
        let rooms = room::Entity::find()
            .filter(room::Column::SessionPk.is_in(pks.clone()))
            .all(db)
            .await?;
        let mut sessions: HashMap<String, chat_session::Model> = chat_session::Entity::find()
            .filter(chat_session::Column::Id.is_in(pks))
            .all(db)
            .await?
            .into_iter()
            .map(|s| (s.id.clone(), s))
            .collect();
        let mut by_pk: HashMap<&str, &session_member::Model> =
            chunk.iter().map(|m| (m.session_pk.as_str(), m)).collect();
        for r in rooms {
            if let (Some(s), Some(m)) = (
                sessions.remove(&r.session_pk),
                by_pk.remove(r.session_pk.as_str()),
            ) {
                out.push((r, s, m.clone()));
            }
        }
    }
    out.sort_by_key(|(r, _, _)| r.room_id);
    Ok(out)
}

/// A session's members with their accounts, in the order they joined.
pub async fn members<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
) -> AppResult<Vec<(session_member::Model, account::Model)>> {
    let list = session_member::Entity::find()
        .filter(session_member::Column::SessionPk.eq(session_pk))
        .order_by_asc(session_member::Column::CreatedAt)
        .order_by_asc(session_member::Column::AccountId)
        .all(db)
        .await?;
    let ids: Vec<String> = list.iter().map(|m| m.account_id.clone()).collect();
    let mut accounts = accounts(db, &ids).await?;
    Ok(list
        .into_iter()
        .filter_map(|m| accounts.remove(&m.account_id).map(|a| (m, a)))
        .collect())
}

/// The accounts with these ids, by id.
pub async fn accounts<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> AppResult<HashMap<String, account::Model>> {
    let mut out = HashMap::new();
    for chunk in ids.chunks(500) {
        for a in account::Entity::find()
            .filter(account::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            out.insert(a.id.clone(), a);
        }
    }
    Ok(out)
}

/// A page of a session's messages in `seq` order: those after `floor`, skipping `offset`.
/// Never the desk's private notes (a room's members are not staff of the desk).
pub async fn messages_page<C: ConnectionTrait>(
    db: &C,
    session_pk: &str,
    floor: i64,
    offset: u64,
    limit: u64,
) -> AppResult<Vec<message::Model>> {
    Ok(message::Entity::find()
        .filter(message::Column::ChatSessionId.eq(session_pk))
        .filter(message::Column::Seq.gt(floor))
        .filter(message::Column::Private.eq(false))
        .order_by_asc(message::Column::Seq)
        .offset(offset)
        .limit(limit)
        .all(db)
        .await?)
}

/// The account that wrote a stored message, when it is known.
pub async fn author_id_of<C: ConnectionTrait>(
    db: &C,
    message_id: &str,
) -> AppResult<Option<String>> {
    Ok(message::Entity::find_by_id(message_id.to_string())
        .select_only()
        .column(message::Column::AuthorId)
        .into_tuple::<Option<String>>()
        .one(db)
        .await?
        .flatten())
}

/// A session by its internal id.
pub async fn session<C: ConnectionTrait>(
    db: &C,
    pk: &str,
) -> AppResult<Option<chat_session::Model>> {
    Ok(chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await?)
}
