//! The outbox's SQL: one `INSERT ... SELECT` per call, whatever the number of events, that
//! fans each event out to the active endpoints subscribed to it (read in the same
//! transaction), in the order given.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbBackend, DbErr, Statement, Value};
use serde::Serialize;

use super::{Event, Pending};

/// The outbox INSERT on PostgreSQL: its text never changes (one array per column), so it is
/// prepared once per connection. Rows are numbered in event order, then endpoint.
const RECORD_PG: &str = r#"
INSERT INTO webhook_deliveries (endpoint_id, event, event_id, body, message_pk, status,
                                attempts, next_attempt_at, created_at)
SELECT e.id, v.event, v.event_id, v.body, NULLIF(v.message_pk, ''), 'pending', 0, $1, $1
FROM unnest($2::varchar[], $3::varchar[], $4::text[], $5::varchar[])
     WITH ORDINALITY AS v(event, event_id, body, message_pk, ord)
JOIN webhook_endpoints e ON e.active AND e.events LIKE '%"' || v.event || '"%'
ORDER BY v.ord, e.id
"#;

/// Events per statement on SQLite (5 parameters each, well under its 32,766).
const SQLITE_CHUNK: usize = 2000;

/// Writes `events` to the outbox: one row per event and active endpoint subscribed to it.
/// Call it inside the transaction of the change the events report.
pub async fn write<C: ConnectionTrait>(
    db: &C,
    now: DateTime<Utc>,
    events: &[Pending],
) -> Result<(), DbErr> {
    if events.is_empty() {
        return Ok(());
    }
    match db.get_database_backend() {
        DbBackend::Postgres => {
            let mut names = Vec::with_capacity(events.len());
            let mut ids = Vec::with_capacity(events.len());
            let mut bodies = Vec::with_capacity(events.len());
            let mut messages = Vec::with_capacity(events.len());
            for p in events {
                names.push(p.event.as_str().to_string());
                ids.push(p.id.clone());
                bodies.push(p.body.clone());
                messages.push(p.message_pk.clone().unwrap_or_default());
            }
            let values: Vec<Value> = vec![
                now.into(),
                names.into(),
                ids.into(),
                bodies.into(),
                messages.into(),
            ];
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                RECORD_PG,
                values,
            ))
            .await?;
        }
        backend => {
            for (n, chunk) in events.chunks(SQLITE_CHUNK).enumerate() {
                let mut values: Vec<Value> = Vec::with_capacity(1 + chunk.len() * 5);
                values.push(now.into());
                let mut tuples = Vec::with_capacity(chunk.len());
                for (i, p) in chunk.iter().enumerate() {
                    let k = values.len() + 1;
                    tuples.push(format!(
                        "(?{k}, ?{}, ?{}, ?{}, ?{})",
                        k + 1,
                        k + 2,
                        k + 3,
                        k + 4
                    ));
                    values.push(((n * SQLITE_CHUNK + i) as i64).into());
                    values.push(p.event.as_str().into());
                    values.push(p.id.clone().into());
                    values.push(p.body.clone().into());
                    values.push(p.message_pk.clone().into());
                }
                let sql = format!(
                    "INSERT INTO webhook_deliveries (endpoint_id, event, event_id, body, message_pk, \
                     status, attempts, next_attempt_at, created_at) \
                     SELECT e.id, v.column2, v.column3, v.column4, v.column5, 'pending', 0, ?1, ?1 \
                     FROM (VALUES {}) AS v \
                     JOIN webhook_endpoints e ON e.active AND e.events LIKE '%\"' || v.column2 || '\"%' \
                     ORDER BY v.column1, e.id",
                    tuples.join(", ")
                );
                db.execute_raw(Statement::from_sql_and_values(backend, sql, values))
                    .await?;
            }
        }
    }
    Ok(())
}

/// Records one event (`data` is its body's `data`) for every active endpoint subscribed to
/// it, inside the caller's transaction `txn`: it is delivered if, and only if, that
/// transaction commits. For events that are rare enough not to need the [`Interest`] gate
/// (a rating: `record(&txn, Event::RatingCreated, &rating.created_at, &rating)`); the
/// INSERT writes nothing when nobody subscribes.
pub async fn record<C: ConnectionTrait, T: Serialize>(
    txn: &C,
    event: Event,
    at: &DateTime<Utc>,
    data: &T,
) -> Result<(), DbErr> {
    let pending = Pending::new(event, at, data).map_err(super::encode_error)?;
    write(txn, now_millis(), std::slice::from_ref(&pending)).await
}

/// The events of an endpoint's stored list (unknown names are skipped).
pub fn events_of(stored: &str) -> Vec<Event> {
    serde_json::from_str::<Vec<String>>(stored)
        .unwrap_or_default()
        .iter()
        .filter_map(|n| Event::parse(n))
        .collect()
}

/// Now, truncated to milliseconds (what is stored equals what is compared).
pub fn now_millis() -> DateTime<Utc> {
    let now = Utc::now();
    DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now)
}
