//! Search's SQL: the database's own full-text match on `messages.content`, newest first.

use std::collections::HashMap;

use entity::{chat_session, message};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

use crate::error::AppResult;
use crate::sessions::types::Cursor;

/// The condition "the message's content matches `q`", in this database's full-text search.
fn matches(backend: DbBackend, q: &str) -> Condition {
    let expr = match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "to_tsvector('simple', \"messages\".\"content\") @@ websearch_to_tsquery('simple', $1)",
            [q.to_string()],
        ),
        // FTS5's own query syntax is not for end users: every word becomes a quoted string
        // (a `"` inside doubled), all of which must be in the message.
        _ => {
            let fts: Vec<String> = q
                .split_whitespace()
                .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
                .collect();
            Expr::cust_with_values(
                "\"messages\".\"rowid\" IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)",
                [fts.join(" ")],
            )
        }
    };
    Condition::all().add(expr)
}

/// Messages before `cursor` (created_at, id) in newest-first order.
fn older_than(c: &Cursor) -> Condition {
    let before = message::Column::CreatedAt.lt(c.at);
    match &c.id {
        Some(id) => Condition::any().add(before).add(
            Condition::all()
                .add(message::Column::CreatedAt.eq(c.at))
                .add(message::Column::Id.lt(id.clone())),
        ),
        None => Condition::all().add(before),
    }
}

/// Up to `limit` messages matching `q`, newest first, before `before`; and whether more
/// follow.
pub async fn messages<C: ConnectionTrait>(
    db: &C,
    q: &str,
    before: Option<&Cursor>,
    limit: u64,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut query = message::Entity::find().filter(matches(db.get_database_backend(), q));
    if let Some(c) = before {
        query = query.filter(older_than(c));
    }
    let mut rows = query
        .order_by_desc(message::Column::CreatedAt)
        .order_by_desc(message::Column::Id)
        .limit(limit + 1)
        .all(db)
        .await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// Sessions whose code, IP address or verified identifier is `q` (exactly; the code in any
/// case), newest first.
pub async fn sessions_of_visitor<C: ConnectionTrait>(
    db: &C,
    q: &str,
    limit: u64,
) -> AppResult<Vec<chat_session::Model>> {
    Ok(chat_session::Entity::find()
        .filter(
            Condition::any()
                .add(chat_session::Column::Code.eq(q.to_ascii_uppercase()))
                .add(chat_session::Column::Ip.eq(q))
                .add(chat_session::Column::VisitorIdentity.eq(q)),
        )
        .order_by_desc(chat_session::Column::CreatedAt)
        .limit(limit)
        .all(db)
        .await?)
}

/// The sessions with these internal ids, by id.
pub async fn sessions_by_pk<C: ConnectionTrait>(
    db: &C,
    pks: &[String],
) -> AppResult<HashMap<String, chat_session::Model>> {
    let mut out = HashMap::new();
    for chunk in pks.chunks(500) {
        for s in chat_session::Entity::find()
            .filter(chat_session::Column::Id.is_in(chunk.to_vec()))
            .all(db)
            .await?
        {
            out.insert(s.id.clone(), s);
        }
    }
    Ok(out)
}
