//! Search's SQL: the database's own full-text match on `messages.content`, newest first.

use std::collections::{HashMap, HashSet};

use entity::{chat_session, message};
use sea_orm::sea_query::{Condition, Expr};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, TransactionTrait,
};

use crate::error::AppResult;
use crate::sessions::types::Cursor;

/// What to find: every word of a user's query (with web-search syntax on PostgreSQL), or any
/// of some words (from `types::terms`, free of syntax).
#[derive(Clone, Copy)]
enum Find<'a> {
    All(&'a str),
    Any(&'a [String]),
}

impl Find<'_> {
    /// As this database's full-text query: `websearch_to_tsquery` text on PostgreSQL; on
    /// SQLite an FTS5 query, whose own syntax is not for end users: every word becomes a
    /// quoted string (a `"` inside doubled), all required (or any, joined by `OR`).
    fn render(self, backend: DbBackend) -> String {
        let quote = |w: &str| format!("\"{}\"", w.replace('"', "\"\""));
        match (backend, self) {
            (DbBackend::Postgres, Find::All(q)) => q.to_string(),
            (DbBackend::Postgres, Find::Any(words)) => words.join(" or "),
            (_, Find::All(q)) => q
                .split_whitespace()
                .map(quote)
                .collect::<Vec<_>>()
                .join(" "),
            (_, Find::Any(words)) => words
                .iter()
                .map(|w| quote(w))
                .collect::<Vec<_>>()
                .join(" OR "),
        }
    }
}

/// The condition "the message's content matches `find`", in this database's full-text search.
fn matches(backend: DbBackend, find: Find) -> Condition {
    let expr = match backend {
        DbBackend::Postgres => Expr::cust_with_values(
            "to_tsvector('simple', \"messages\".\"content\") @@ websearch_to_tsquery('simple', $1)",
            [find.render(backend)],
        ),
        _ => Expr::cust_with_values(
            "\"messages\".\"rowid\" IN (SELECT rowid FROM messages_fts WHERE messages_fts MATCH ?)",
            [find.render(backend)],
        ),
    };
    Condition::all().add(expr)
}

/// Messages before `cursor` (created_at, id) in newest-first order. With an id, as a row
/// comparison: both databases read it as a bound on `ix_messages_created`, so a second page
/// walks on from the first instead of starting over (an `a < x OR (a = x AND b < y)` is not
/// used as an index bound by PostgreSQL).
fn older_than(backend: DbBackend, c: &Cursor) -> Condition {
    match &c.id {
        Some(id) => {
            let sql = match backend {
                DbBackend::Postgres => {
                    "(\"messages\".\"created_at\", \"messages\".\"id\") < ($1, $2)"
                }
                _ => "(\"messages\".\"created_at\", \"messages\".\"id\") < (?, ?)",
            };
            let values: [sea_orm::Value; 2] = [c.at.into(), id.clone().into()];
            Condition::all().add(Expr::cust_with_values(sql, values))
        }
        None => Condition::all().add(message::Column::CreatedAt.lt(c.at)),
    }
}

/// A query with at most this many matches is answered from the full-text index alone; one
/// with more (a frequent word) is walked from the newest message.
const PROBE: u64 = 5_000;

/// The newest `limit` messages matching `q` (and before `before`), newest first. Which way
/// the database goes is decided here, not by a planner, whose estimate of a word's frequency
/// can be off by thousands (on 1,000,000 messages a rare word walked by time read the whole
/// table, 130 ms; a frequent one fetched from the index sorted a quarter of it, 140 ms).
async fn newest_matching(
    db: &DatabaseConnection,
    find: Find<'_>,
    before: Option<&Cursor>,
    limit: u64,
) -> AppResult<Vec<message::Model>> {
    match db.get_database_backend() {
        DbBackend::Sqlite => newest_matching_fts5(db, find, before, limit).await,
        _ => newest_matching_pg(db, find, before, limit).await,
    }
}

/// Messages walked from the newest (before the cursor) before search turns to the index.
const RECENT: u64 = 500;

/// PostgreSQL, in up to three steps, each bounded. 1: the newest `RECENT` messages (before
/// the cursor), walked by `ix_messages_created` and stopped as soon as a page is full:
/// enough for a frequent word (under a millisecond on 1,000,000 messages). 2: up to
/// `PROBE + 1` matches (id and time) from the GIN index alone (bitmap scans only, set for
/// this transaction); if that is all of them, the page is the newest of those, read by id.
/// 3: otherwise the word is frequent but not recent, and an index scan of
/// `ix_messages_created` from the cursor finds a page.
async fn newest_matching_pg(
    db: &DatabaseConnection,
    find: Find<'_>,
    before: Option<&Cursor>,
    limit: u64,
) -> AppResult<Vec<message::Model>> {
    let q = find.render(DbBackend::Postgres);
    let (bound, values): (&str, Vec<sea_orm::Value>) = match before {
        Some(Cursor { at, id: Some(id) }) => (
            "WHERE (created_at, id) < ($2, $3)",
            vec![q.clone().into(), (*at).into(), id.clone().into()],
        ),
        Some(Cursor { at, id: None }) => (
            "WHERE created_at < $2",
            vec![q.clone().into(), (*at).into()],
        ),
        None => ("", vec![q.clone().into()]),
    };
    let recent = message::Entity::find()
        .from_raw_sql(sea_orm::Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT * FROM (SELECT * FROM messages {bound} \
                 ORDER BY created_at DESC, id DESC LIMIT {RECENT}) recent \
                 WHERE to_tsvector('simple', content) @@ websearch_to_tsquery('simple', $1) \
                 ORDER BY created_at DESC, id DESC LIMIT {limit}"
            ),
            values,
        ))
        .all(db)
        .await?;
    if recent.len() as u64 >= limit {
        return Ok(recent);
    }

    let mut found = Condition::all().add(matches(DbBackend::Postgres, find));
    if let Some(c) = before {
        found = found.add(older_than(DbBackend::Postgres, c));
    }
    let txn = db.begin().await?;
    txn.execute_unprepared("SET LOCAL enable_seqscan = off; SET LOCAL enable_indexscan = off")
        .await?;
    let probe: Vec<(String, chrono::DateTime<chrono::Utc>)> = message::Entity::find()
        .select_only()
        .column(message::Column::Id)
        .column(message::Column::CreatedAt)
        .filter(found.clone())
        .limit(PROBE + 1)
        .into_tuple()
        .all(&txn)
        .await?;
    let rows = if probe.len() as u64 <= PROBE {
        by_id(&txn, newest_ids(probe, limit)).await?
    } else {
        txn.execute_unprepared(
            "SET LOCAL enable_bitmapscan = off; SET LOCAL enable_indexscan = on",
        )
        .await?;
        message::Entity::find()
            .filter(found)
            .order_by_desc(message::Column::CreatedAt)
            .order_by_desc(message::Column::Id)
            .limit(limit)
            .all(&txn)
            .await?
    };
    txn.commit().await?;
    Ok(rows)
}

/// The most rows of the FTS5 table asked for at a time, newest (highest rowid) first (the
/// chunks grow four-fold from the first).
const FTS5_CHUNK: u64 = 5_000;
/// The first chunk: a few pages' worth, enough for a frequent word's newest page.
const FTS5_FIRST_CHUNK: u64 = 100;

/// SQLite: FTS5 gives a word's matches in rowid order, newest first, and stops early; the
/// page is the newest (by time) of the first chunk that has enough rows before the cursor.
/// A rowid is the order messages were stored in, which is their time order but for
/// messages committed within the same few milliseconds; a rare word (one chunk) is exact.
async fn newest_matching_fts5<C: ConnectionTrait>(
    db: &C,
    find: Find<'_>,
    before: Option<&Cursor>,
    limit: u64,
) -> AppResult<Vec<message::Model>> {
    let mut out: Vec<message::Model> = Vec::new();
    let mut below: Option<i64> = None;
    let mut chunk = (limit * 4).clamp(FTS5_FIRST_CHUNK, FTS5_CHUNK);
    loop {
        let (sql, values): (&str, Vec<sea_orm::Value>) = match below {
            None => (
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? \
                 ORDER BY rowid DESC LIMIT ?",
                vec![find.render(DbBackend::Sqlite).into(), (chunk as i64).into()],
            ),
            Some(r) => (
                "SELECT rowid FROM messages_fts WHERE messages_fts MATCH ? AND rowid < ? \
                 ORDER BY rowid DESC LIMIT ?",
                vec![
                    find.render(DbBackend::Sqlite).into(),
                    r.into(),
                    (chunk as i64).into(),
                ],
            ),
        };
        let rowids: Vec<i64> = db
            .query_all_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Sqlite,
                sql,
                values,
            ))
            .await?
            .iter()
            .filter_map(|r| r.try_get_by_index::<i64>(0).ok())
            .collect();
        let Some(&last) = rowids.last() else {
            break;
        };
        let mut page = message::Entity::find().filter(Expr::cust_with_values(
            format!(
                "\"messages\".\"rowid\" IN ({})",
                vec!["?"; rowids.len()].join(",")
            ),
            rowids.iter().copied(),
        ));
        if let Some(c) = before {
            page = page.filter(older_than(DbBackend::Sqlite, c));
        }
        out.extend(
            page.order_by_desc(message::Column::CreatedAt)
                .order_by_desc(message::Column::Id)
                .limit(limit - out.len() as u64)
                .all(db)
                .await?,
        );
        if out.len() as u64 >= limit || (rowids.len() as u64) < chunk {
            break;
        }
        below = Some(last);
        chunk = (chunk * 4).min(FTS5_CHUNK);
    }
    Ok(out)
}

/// The ids of the newest `limit` of `(id, created_at)`, newest first.
fn newest_ids(mut all: Vec<(String, chrono::DateTime<chrono::Utc>)>, limit: u64) -> Vec<String> {
    all.sort_by(|a, b| (&b.1, &b.0).cmp(&(&a.1, &a.0)));
    all.truncate(limit as usize);
    all.into_iter().map(|(id, _)| id).collect()
}

/// These messages, newest first.
async fn by_id<C: ConnectionTrait>(db: &C, ids: Vec<String>) -> AppResult<Vec<message::Model>> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(message::Entity::find()
        .filter(message::Column::Id.is_in(ids))
        .order_by_desc(message::Column::CreatedAt)
        .order_by_desc(message::Column::Id)
        .all(db)
        .await?)
}

/// Up to `limit` messages matching `q`, newest first, before `before`; and whether more
/// follow.
pub async fn messages(
    db: &DatabaseConnection,
    q: &str,
    before: Option<&Cursor>,
    limit: u64,
) -> AppResult<(Vec<message::Model>, bool)> {
    let mut rows = newest_matching(db, Find::All(q), before, limit + 1).await?;
    let more = rows.len() as u64 > limit;
    rows.truncate(limit as usize);
    Ok((rows, more))
}

/// How many of the newest messages holding any word of a query are looked at when finding
/// conversations that hold every word only across several messages.
pub const SPREAD_WINDOW: u64 = 60;

/// Whether `content` holds `word` as a word (case ignored): how a conversation's messages
/// are told apart once the database has found them.
fn holds(content: &str, word: &str) -> bool {
    content
        .split(|c: char| !c.is_alphanumeric())
        .any(|w| w.to_lowercase() == word)
}

/// Sessions in which every word of the query is in some message, but no one message holds
/// them all: for each, the newest message holding each word (newest first). Looked for
/// among the newest `SPREAD_WINDOW` messages holding any of the words (one bounded query),
/// so an older conversation can be missed; sessions with a message hit on this page are
/// left out (that hit already leads to them).
pub async fn spread_over_messages(
    db: &DatabaseConnection,
    words: &[String],
    page: &[message::Model],
    limit: u64,
) -> AppResult<Vec<Vec<message::Model>>> {
    let mut unique: Vec<String> = Vec::new();
    for w in words {
        if !unique.contains(w) {
            unique.push(w.clone());
        }
    }
    if unique.len() < 2 {
        return Ok(Vec::new());
    }
    let on_page: HashSet<&str> = page.iter().map(|m| m.chat_session_id.as_str()).collect();
    // Per session (in the order first met: newest first), the newest message of each word.
    let mut order: Vec<String> = Vec::new();
    let mut per_session: HashMap<String, Vec<Option<message::Model>>> = HashMap::new();
    for m in newest_matching(db, Find::Any(&unique), None, SPREAD_WINDOW).await? {
        if on_page.contains(m.chat_session_id.as_str()) {
            continue;
        }
        let slots = per_session
            .entry(m.chat_session_id.clone())
            .or_insert_with(|| {
                order.push(m.chat_session_id.clone());
                vec![None; unique.len()]
            });
        for (slot, w) in slots.iter_mut().zip(&unique) {
            if slot.is_none() && holds(&m.content, w) {
                *slot = Some(m.clone());
            }
        }
    }
    let mut found = Vec::new();
    for pk in order {
        let Some(slots) = per_session.remove(&pk) else {
            continue;
        };
        let Some(newest) = slots.into_iter().collect::<Option<Vec<_>>>() else {
            continue; // a word is missing
        };
        let mut parts: Vec<message::Model> = Vec::new();
        for m in newest {
            if !parts.iter().any(|p| p.id == m.id) {
                parts.push(m);
            }
        }
        // One message with every word is a message hit, not this.
        if parts.len() > 1 {
            parts.sort_by(|a, b| (&b.created_at, &b.id).cmp(&(&a.created_at, &a.id)));
            found.push(parts);
        }
    }
    found.truncate(limit as usize);
    Ok(found)
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
