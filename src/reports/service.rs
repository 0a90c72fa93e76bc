//! Reports' SQL: the only place that reads the desk's history for them.
//!
//! Each figure is ONE query that the database computes whole. The buckets come in as a
//! `VALUES` list of `(idx, start, end)` instants (computed in Rust with chrono-tz, so a DST
//! day is 23 or 25 hours and a week starts on local Monday), each fact is joined to the
//! bucket its instant falls in (`start <= t < end`, a range scan of the fact's time index per
//! bucket), and every grouping (each bucket, the whole range, each agent, each label) is one
//! `UNION ALL` branch of a `grouped` CTE, aggregated by `(kind, idx, k)`. Medians and 90th
//! percentiles use `ROW_NUMBER()`/`COUNT()` windows and interpolate linearly between the two
//! nearest ranks (as `percentile_cont`, or a spreadsheet's `PERCENTILE.INC`): both SQLite
//! (3.25 and later) and PostgreSQL have them.
//!
//! The bucket is always the outer loop: `buckets b CROSS JOIN t WHERE ...`, which SQLite
//! takes as an order (PostgreSQL plans it as any inner join).
//!
//! What differs between the databases is one fragment: a duration in seconds is
//! `EXTRACT(EPOCH FROM (a - b))` on PostgreSQL and `julianday(a) - julianday(b)` (times
//! 86400, rounded to the millisecond) on SQLite, where SeaORM stores instants as RFC 3339 text
//! in UTC (`2026-03-29T08:00:00.250+00:00`), which also compares in time order as text.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use entity::{account, label};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, EntityTrait, QueryFilter,
    QueryResult, Statement, TransactionTrait, Value,
};

use super::types::{Csat, Durations, Figures, MessageCounts};
use crate::error::AppResult;

/// The figures of one report, before names are attached.
#[derive(Debug, Default)]
pub struct Computed {
    pub buckets: Vec<Figures>,
    pub total: Figures,
    pub agents: HashMap<String, Figures>,
    pub labels: HashMap<String, Figures>,
}

impl Computed {
    /// The figures a result row of grouping `(kind, idx, k)` feeds.
    fn slot(&mut self, row: &QueryResult) -> AppResult<Option<&mut Figures>> {
        let kind: String = row.try_get("", "kind")?;
        let idx: Option<i64> = row.try_get("", "idx")?;
        let k: Option<String> = row.try_get("", "k")?;
        Ok(match (kind.as_str(), idx, k) {
            ("b", Some(i), _) => usize::try_from(i)
                .ok()
                .and_then(|i| self.buckets.get_mut(i)),
            ("t", _, _) => Some(&mut self.total),
            ("a", _, Some(id)) => Some(self.agents.entry(id).or_default()),
            ("l", _, Some(id)) => Some(self.labels.entry(id).or_default()),
            _ => None,
        })
    }
}

/// Every figure over `buckets` (contiguous, in order).
pub async fn compute(
    conn: &DatabaseConnection,
    buckets: &[(DateTime<Utc>, DateTime<Utc>)],
) -> AppResult<Computed> {
    let backend = conn.get_database_backend();
    // One read transaction, so that every figure sees the same desk. On PostgreSQL without
    // JIT: these queries are bounded by index ranges, but their estimated cost crosses
    // `jit_above_cost`, and compiling them took about 0.6 s each, more than running them
    // (measured: first responses over 30 days of 100,000 sessions, 840 ms with JIT, 216 ms
    // without).
    let txn = conn.begin().await?;
    if backend == DbBackend::Postgres {
        txn.execute_unprepared("SET LOCAL jit = off").await?;
    }
    let db = &txn;
    let mut out = Computed {
        buckets: vec![Figures::default(); buckets.len()],
        ..Computed::default()
    };
    if buckets.is_empty() {
        return Ok(out);
    }
    for row in run(db, buckets, &conversations_sql()).await? {
        if let Some(f) = out.slot(&row)? {
            f.conversations = row.try_get("", "n")?;
        }
    }
    for row in run(db, buckets, &durations_sql(&first_response_facts(backend))).await? {
        if let Some(f) = out.slot(&row)? {
            f.first_response = durations(&row)?;
        }
    }
    for row in run(db, buckets, &durations_sql(&resolution_facts(backend))).await? {
        if let Some(f) = out.slot(&row)? {
            f.resolution = durations(&row)?;
        }
    }
    for row in run(db, buckets, &messages_sql()).await? {
        if let Some(f) = out.slot(&row)? {
            f.messages = MessageCounts {
                visitor: row.try_get("", "visitor")?,
                agent: row.try_get("", "agent")?,
                assistant: row.try_get("", "assistant")?,
                notes: row.try_get("", "notes")?,
            };
        }
    }
    for row in run(db, buckets, &csat_sql()).await? {
        if let Some(f) = out.slot(&row)? {
            f.csat = Csat {
                count: row.try_get("", "n")?,
                average: row.try_get("", "average")?,
            };
        }
    }
    txn.commit().await?;
    Ok(out)
}

fn durations(row: &QueryResult) -> AppResult<Durations> {
    Ok(Durations {
        count: row.try_get("", "n")?,
        median: row.try_get("", "p50")?,
        p90: row.try_get("", "p90")?,
        average: row.try_get("", "average")?,
    })
}

/// Runs `body` (which reads the CTE `buckets(idx, b_start, b_end)`) with the buckets bound.
async fn run<C: ConnectionTrait>(
    db: &C,
    buckets: &[(DateTime<Utc>, DateTime<Utc>)],
    body: &str,
) -> AppResult<Vec<QueryResult>> {
    let backend = db.get_database_backend();
    let mut values: Vec<Value> = Vec::with_capacity(buckets.len() * 2);
    let mut rows = Vec::with_capacity(buckets.len());
    for (i, (start, end)) in buckets.iter().enumerate() {
        let (a, b) = match backend {
            DbBackend::Postgres => (
                format!("CAST(${} AS TIMESTAMPTZ)", 2 * i + 1),
                format!("CAST(${} AS TIMESTAMPTZ)", 2 * i + 2),
            ),
            _ => ("?".to_string(), "?".to_string()),
        };
        rows.push(format!("({i}, {a}, {b})"));
        values.push((*start).into());
        values.push((*end).into());
    }
    let sql = format!(
        "WITH buckets(idx, b_start, b_end) AS (VALUES {}), {body}",
        rows.join(", ")
    );
    Ok(db
        .query_all_raw(Statement::from_sql_and_values(backend, sql, values))
        .await?)
}

/// `later - earlier` in seconds, as a double.
fn secs(backend: DbBackend, later: &str, earlier: &str) -> String {
    match backend {
        DbBackend::Postgres => {
            format!("CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)")
        }
        _ => format!("ROUND((julianday({later}) - julianday({earlier})) * 86400.0, 3)"),
    }
}

/// The groupings of the CTE `facts(idx, pk, agent, <cols>)`: each bucket (`b`, by `idx`),
/// the whole range (`t`), each agent (`a`, by `agent`) and each label of the fact's session
/// (`l`, by label id).
fn grouped(cols: &str) -> String {
    format!(
        "grouped AS (
            SELECT 'b' AS kind, CAST(f.idx AS BIGINT) AS idx, CAST(NULL AS TEXT) AS k, {cols} FROM facts f
            UNION ALL
            SELECT 't', CAST(NULL AS BIGINT), CAST(NULL AS TEXT), {cols} FROM facts f
            UNION ALL
            SELECT 'a', CAST(NULL AS BIGINT), CAST(f.agent AS TEXT), {cols} FROM facts f
                WHERE f.agent IS NOT NULL
            UNION ALL
            SELECT 'l', CAST(NULL AS BIGINT), CAST(sl.label_id AS TEXT), {cols} FROM facts f
                JOIN session_labels sl ON sl.session_pk = f.pk
        )"
    )
}

/// Sessions started (created) in each bucket; an agent's are those assigned to them now.
fn conversations_sql() -> String {
    format!(
        "facts AS (
            SELECT b.idx, s.id AS pk, s.assignee_id AS agent
            FROM buckets b
            CROSS JOIN chat_sessions s
            WHERE s.created_at >= b.b_start AND s.created_at < b.b_end
        ),
        {}
        SELECT kind, idx, k, COUNT(*) AS n FROM grouped GROUP BY kind, idx, k",
        grouped("1 AS one")
    )
}

/// First response: sessions started in each bucket whose visitor wrote and a human (staff,
/// not the assistant, not a private note) replied after the visitor's first message; from
/// that first message to that reply. The agent is the reply's author.
fn first_response_facts(backend: DbBackend) -> String {
    // `started` materialized, then scalar subqueries, each one index seek on
    // (chat_session_id, seq). Written as joins, PostgreSQL hashed the whole `messages` table
    // and computed every session's first response before applying the range: 30 days of a
    // 100,000-session desk took 3.7 s that way, 0.56 s with the range first, 0.22 s like this
    // (JIT off, see `compute`).
    format!(
        "started AS MATERIALIZED (
            SELECT b.idx, s.id AS pk
            FROM buckets b
            CROSS JOIN chat_sessions s
            WHERE s.created_at >= b.b_start AND s.created_at < b.b_end
        ),
        firsts AS (
            SELECT st.idx, st.pk,
                (SELECT m.seq FROM messages m
                 WHERE m.chat_session_id = st.pk AND m.sender = 'user'
                 ORDER BY m.seq LIMIT 1) AS v_seq
            FROM started st
        ),
        replies AS (
            SELECT f.idx, f.pk,
                (SELECT m.created_at FROM messages m
                 WHERE m.chat_session_id = f.pk AND m.seq = f.v_seq) AS v_at,
                (SELECT m.seq FROM messages m
                 WHERE m.chat_session_id = f.pk AND m.seq > f.v_seq AND m.sender = 'admin'
                   AND NOT m.is_ai AND NOT m.private
                 ORDER BY m.seq LIMIT 1) AS r_seq
            FROM firsts f
            WHERE f.v_seq IS NOT NULL
        ),
        answered AS (
            SELECT r.idx, r.pk, r.v_at,
                (SELECT m.created_at FROM messages m
                 WHERE m.chat_session_id = r.pk AND m.seq = r.r_seq) AS r_at,
                (SELECT m.author_id FROM messages m
                 WHERE m.chat_session_id = r.pk AND m.seq = r.r_seq) AS agent
            FROM replies r
            WHERE r.r_seq IS NOT NULL
        ),
        facts AS (
            SELECT a.idx, a.pk, a.agent, {} AS secs FROM answered a
        )",
        secs(backend, "a.r_at", "a.v_at")
    )
}

/// Resolution: sessions resolved (and still resolved) in each bucket, from their start to
/// their resolution. The agent is the assignee who resolved it.
fn resolution_facts(backend: DbBackend) -> String {
    format!(
        "facts AS (
            SELECT b.idx, s.id AS pk, s.assignee_id AS agent, {} AS secs
            FROM buckets b
            CROSS JOIN chat_sessions s
            WHERE s.resolved_at >= b.b_start AND s.resolved_at < b.b_end
              AND s.status = 'resolved'
        )",
        secs(backend, "s.resolved_at", "s.created_at")
    )
}

/// Count, median, 90th percentile and average of `facts.secs` per grouping. The percentile
/// p of n sorted values is at rank `1 + p(n-1)`, interpolated between the ranks around it.
fn durations_sql(facts: &str) -> String {
    format!(
        "{facts},
        {},
        ranked AS (
            SELECT kind, idx, k, secs,
                ROW_NUMBER() OVER (PARTITION BY kind, idx, k ORDER BY secs) AS rn,
                COUNT(*) OVER (PARTITION BY kind, idx, k) AS n
            FROM grouped
        ),
        ranks AS (
            SELECT kind, idx, k, MAX(n) AS n, AVG(secs) AS average,
                MAX(CASE WHEN rn = 1 + (n - 1) / 2 THEN secs END) AS p50_lo,
                MAX(CASE WHEN rn = 2 + (n - 1) / 2 THEN secs END) AS p50_hi,
                MAX((n - 1) % 2) AS p50_frac,
                MAX(CASE WHEN rn = 1 + 9 * (n - 1) / 10 THEN secs END) AS p90_lo,
                MAX(CASE WHEN rn = 2 + 9 * (n - 1) / 10 THEN secs END) AS p90_hi,
                MAX((9 * (n - 1)) % 10) AS p90_frac
            FROM ranked
            GROUP BY kind, idx, k
        )
        SELECT kind, idx, k, n, average,
            p50_lo + (COALESCE(p50_hi, p50_lo) - p50_lo) * p50_frac / 2.0 AS p50,
            p90_lo + (COALESCE(p90_hi, p90_lo) - p90_lo) * p90_frac / 10.0 AS p90
        FROM ranks",
        grouped("f.secs AS secs")
    )
}

/// Messages sent in each bucket, by side: the visitor's, a human agent's (public), the
/// assistant's, and private notes. An agent's are the ones they wrote.
fn messages_sql() -> String {
    format!(
        "facts AS (
            SELECT b.idx, m.chat_session_id AS pk,
                CASE WHEN m.sender = 'admin' AND NOT m.is_ai THEN m.author_id END AS agent,
                CASE WHEN m.sender = 'user' THEN 1 ELSE 0 END AS visitor,
                CASE WHEN m.sender = 'admin' AND NOT m.is_ai AND NOT m.private THEN 1 ELSE 0 END AS agent_side,
                CASE WHEN m.sender = 'admin' AND m.is_ai THEN 1 ELSE 0 END AS assistant,
                CASE WHEN m.sender = 'admin' AND NOT m.is_ai AND m.private THEN 1 ELSE 0 END AS notes
            FROM buckets b
            CROSS JOIN messages m
            WHERE m.created_at >= b.b_start AND m.created_at < b.b_end
        ),
        {}
        SELECT kind, idx, k,
            SUM(visitor) AS visitor, SUM(agent_side) AS agent, SUM(assistant) AS assistant,
            SUM(notes) AS notes
        FROM grouped GROUP BY kind, idx, k",
        grouped("f.visitor, f.agent_side, f.assistant, f.notes")
    )
}

/// Ratings given in each bucket: how many, their average. An agent's are the ones of the
/// resolutions they made.
fn csat_sql() -> String {
    format!(
        "facts AS (
            SELECT b.idx, r.session_pk AS pk, r.agent_id AS agent,
                CAST(r.rating AS DOUBLE PRECISION) AS rating
            FROM buckets b
            CROSS JOIN session_ratings r
            WHERE r.created_at >= b.b_start AND r.created_at < b.b_end
        ),
        {}
        SELECT kind, idx, k, COUNT(*) AS n, AVG(rating) AS average
        FROM grouped GROUP BY kind, idx, k",
        grouped("f.rating")
    )
}

/// The names of these accounts, by id.
pub async fn account_names<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> AppResult<HashMap<String, String>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(account::Entity::find()
        .filter(account::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|a| (a.id, a.name))
        .collect())
}

/// These labels, by id.
pub async fn labels<C: ConnectionTrait>(
    db: &C,
    ids: &[String],
) -> AppResult<HashMap<String, label::Model>> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    Ok(label::Entity::find()
        .filter(label::Column::Id.is_in(ids.to_vec()))
        .all(db)
        .await?
        .into_iter()
        .map(|l| (l.id.clone(), l))
        .collect())
}
