//! Reports benchmark: `cargo bench --bench reports [-- SESSIONS DATABASE]` (or, without a
//! release build, `cargo test --bench reports -- SESSIONS DATABASE`).
//!
//! Fills a fresh database (DATABASE: `sqlite`, the default, a file in a temp dir; or
//! `postgres`, a new database on `TEST_POSTGRES_URL` or 127.0.0.1:5432, dropped at the end)
//! through the schema's own migrations with SESSIONS (default 100,000) sessions spread over
//! the last 365 days, 6 messages each (visitor, assistant, visitor, agent, private note,
//! agent), 80 % resolved, one in three labelled, one in five rated, among 5 agents. Then
//! times `reports::service::compute` (what `GET /api/reports` runs) for a few ranges, three
//! runs each (the median is printed), with the report indexes of migration 000016, then
//! again without them.

use std::time::{Duration, Instant};

use chatdesk::reports::{service, types};
use chrono::{DateTime, Utc};
use entity::{chat_session, label, message, session_label, session_rating};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};

const CHUNK: usize = 500;
const AGENTS: usize = 5;

async fn database(
    kind: &str,
) -> anyhow::Result<(DatabaseConnection, String, Option<tempfile::TempDir>)> {
    if kind == "sqlite" {
        let dir = tempfile::tempdir()?;
        // REPORTS_BENCH_DB: keep the SQLite file there (to try queries by hand afterwards).
        let file = std::env::var("REPORTS_BENCH_DB")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|_| dir.path().join("reports.db"));
        let url = format!("sqlite://{}?mode=rwc", file.display());
        return Ok((connect(&url).await?, String::new(), Some(dir)));
    }
    let base = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let base = base.trim_end_matches('/').to_string();
    let name = format!("chatdesk_bench_reports_{}", uuid::Uuid::new_v4().simple());
    let admin = sea_orm::Database::connect(format!("{base}/postgres")).await?;
    admin
        .execute_unprepared(&format!("CREATE DATABASE {name}"))
        .await?;
    Ok((connect(&format!("{base}/{name}")).await?, name, None))
}

async fn connect(url: &str) -> anyhow::Result<DatabaseConnection> {
    let config = chatdesk::Config::for_tests(url);
    let db = chatdesk::db::connect(&config).await?;
    chatdesk::db::migrate(&db).await?;
    Ok(db)
}

async fn fill(db: &DatabaseConnection, n: usize, end: DateTime<Utc>) -> anyhow::Result<()> {
    let start = end - chrono::Duration::days(365);
    let every = chrono::Duration::milliseconds(365 * 86_400_000 / n as i64);
    let agents: Vec<String> = (0..AGENTS).map(|a| format!("agent-{a}")).collect();
    let labels: Vec<String> = (0..3).map(|l| format!("label-{l}")).collect();
    label::Entity::insert_many(labels.iter().map(|id| label::ActiveModel {
        id: Set(id.clone()),
        name: Set(id.clone()),
        name_norm: Set(id.clone()),
        color: Set("#123456".into()),
        created_at: Set(start),
        updated_at: Set(start),
    }))
    .exec(db)
    .await?;
    for first in (0..n).step_by(CHUNK) {
        let ids: Vec<usize> = (first..(first + CHUNK).min(n)).collect();
        let at = |i: usize| start + every * i as i32;
        let agent = |i: usize| agents[i % AGENTS].clone();
        let resolved = |i: usize| {
            (!i.is_multiple_of(5))
                .then(|| at(i) + chrono::Duration::seconds(600 + (i % 97) as i64 * 60))
        };
        chat_session::Entity::insert_many(ids.iter().map(|&i| {
            chat_session::ActiveModel {
                id: Set(format!("pk-{i:07}")),
                session_id: Set(uuid::Uuid::new_v4().to_string()),
                code: Set(format!("R{i:07}")),
                ip: Set(None),
                user_agent: Set(None),
                status: Set(if resolved(i).is_some() {
                    "resolved"
                } else {
                    "assigned"
                }
                .into()),
                assignee_id: Set(Some(agent(i))),
                customer_id: Set(None),
                visitor_identity: Set(None),
                last_seq: Set(6),
                user_read_seq: Set(0),
                admin_read_seq: Set(0),
                created_at: Set(at(i)),
                updated_at: Set(at(i)),
                last_message_at: Set(None),
                waiting_since: Set(None),
                assigned_at: Set(None),
                first_response_at: Set(None),
                resolved_at: Set(resolved(i)),
                visitor_cleared_seq: Set(0),
                ai_enabled: Set(None),
                contact_email: Set(None),
                contact_left_at: Set(None),
            }
        }))
        .exec(db)
        .await?;
        let mut msgs = Vec::with_capacity(ids.len() * 6);
        for &i in &ids {
            // visitor, assistant, visitor, agent, note, agent
            let sides = [
                ("user", false, false),
                ("admin", true, false),
                ("user", false, false),
                ("admin", false, false),
                ("admin", false, true),
                ("admin", false, false),
            ];
            for (k, (sender, ai, private)) in sides.into_iter().enumerate() {
                msgs.push(message::ActiveModel {
                    id: Set(format!("m{i:07}-{k}")),
                    chat_session_id: Set(format!("pk-{i:07}")),
                    seq: Set(k as i64 + 1),
                    sender: Set(sender.into()),
                    content: Set("hello".into()),
                    is_ai: Set(ai),
                    client_msg_id: Set(None),
                    author_id: Set((sender == "admin" && !ai).then(|| agent(i))),
                    interrupted: Set(false),
                    created_at: Set(at(i)
                        + chrono::Duration::seconds(((k as i64) * (30 + (i % 61) as i64)) + 5)),
                    kind: Set("text".into()),
                    file_url: Set(None),
                    private: Set(private),
                    author_name: Set(None),
                    attachment: Set(None),
                    source: Set(None),
                });
            }
        }
        for part in msgs.chunks(CHUNK) {
            message::Entity::insert_many(part.to_vec()).exec(db).await?;
        }
        let tagged: Vec<session_label::ActiveModel> = ids
            .iter()
            .filter(|&&i| i.is_multiple_of(3))
            .map(|&i| session_label::ActiveModel {
                session_pk: Set(format!("pk-{i:07}")),
                label_id: Set(labels[(i / 3) % labels.len()].clone()),
                created_at: Set(at(i)),
            })
            .collect();
        if !tagged.is_empty() {
            session_label::Entity::insert_many(tagged).exec(db).await?;
        }
        let rated: Vec<session_rating::ActiveModel> = ids
            .iter()
            .filter_map(|&i| {
                let r = resolved(i).filter(|_| i % 5 == 1)?;
                Some(session_rating::ActiveModel {
                    id: Set(format!("r{i:07}")),
                    session_pk: Set(format!("pk-{i:07}")),
                    resolved_at: Set(r),
                    agent_id: Set(Some(agent(i))),
                    rating: Set((1 + i % 5) as i16),
                    comment: Set(None),
                    created_at: Set(r + chrono::Duration::seconds(30)),
                })
            })
            .collect();
        if !rated.is_empty() {
            session_rating::Entity::insert_many(rated).exec(db).await?;
        }
    }
    db.execute_unprepared("ANALYZE").await?;
    Ok(())
}

async fn time_ranges(
    db: &DatabaseConnection,
    end: DateTime<Utc>,
    label: &str,
) -> anyhow::Result<()> {
    let tz: chrono_tz::Tz = "Europe/Paris".parse().map_err(|e| anyhow::anyhow!("{e}"))?;
    for (name, days, size) in [
        ("7 days by hour", 7, types::BucketSize::Hour),
        ("30 days by day", 30, types::BucketSize::Day),
        ("365 days by week", 365, types::BucketSize::Week),
        ("365 days by day", 365, types::BucketSize::Day),
    ] {
        let from = end - chrono::Duration::days(days);
        let buckets = types::buckets(from, end, tz, size).map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut took: Vec<Duration> = Vec::new();
        let mut conversations = 0;
        for _ in 0..3 {
            let t = Instant::now();
            let c = service::compute(db, &buckets).await?;
            took.push(t.elapsed());
            conversations = c.total.conversations;
        }
        took.sort();
        println!(
            "{label:<18} {name:<18} {:>4} buckets {:>7} conversations  median {:>8.1} ms  (runs {:.1} / {:.1} / {:.1})",
            buckets.len(),
            conversations,
            took[1].as_secs_f64() * 1000.0,
            took[0].as_secs_f64() * 1000.0,
            took[1].as_secs_f64() * 1000.0,
            took[2].as_secs_f64() * 1000.0,
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args.first().and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let kind = args
        .get(1)
        .map(String::as_str)
        .unwrap_or("sqlite")
        .to_string();
    let (db, pg_name, _dir) = database(&kind).await?;
    let end = Utc::now();
    let t = Instant::now();
    fill(&db, n, end).await?;
    println!(
        "{kind}: {n} sessions, {} messages stored in {:.1} s",
        n * 6,
        t.elapsed().as_secs_f64()
    );
    if std::env::var("REPORTS_BENCH_FILL_ONLY").is_ok() {
        println!("kept database {pg_name}");
        return Ok(());
    }
    time_ranges(&db, end, "with indexes").await?;
    if std::env::var("REPORTS_BENCH_SKIP_NO_INDEX").is_ok() {
        return Ok(());
    }
    db.execute_unprepared("DROP INDEX ix_messages_created")
        .await?;
    db.execute_unprepared("DROP INDEX ix_chat_sessions_resolved_at")
        .await?;
    time_ranges(&db, end, "without the time indexes").await?;
    if !pg_name.is_empty() && std::env::var("REPORTS_BENCH_KEEP").is_ok() {
        println!("kept database {pg_name}");
    } else if !pg_name.is_empty() {
        let _ = db.close().await;
        let base = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let admin =
            sea_orm::Database::connect(format!("{}/postgres", base.trim_end_matches('/'))).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {pg_name}"))
            .await?;
    }
    Ok(())
}
