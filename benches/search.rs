//! Search benchmark: `cargo bench --bench search [-- MESSAGES QUERIES DATABASE]`.
//!
//! Fills a fresh database (DATABASE: `postgres`, the default, a new database on
//! `TEST_POSTGRES_URL` or 127.0.0.1:5432, dropped at the end; or `sqlite`, a file in a temp
//! dir) with MESSAGES (default 1,000,000) chat messages over 10,000 sessions, written through
//! the schema's own migrations (so with the full-text index each database uses: PostgreSQL's
//! GIN on `to_tsvector('simple', content)`, SQLite's FTS5 table and triggers), then times
//! QUERIES (default 300) searches as `GET /api/search` runs them
//! (`search::service::messages`, newest first, 20 per page): one word (frequent, rare, and
//! absent), two words (also with the first page's conversations holding them across
//! messages, `search::service::spread_over_messages`), and a second page. Prints p50, p95, p99 and max per kind. `--keep`
//! leaves the PostgreSQL database behind (its name is printed) for EXPLAIN.

use std::time::{Duration, Instant};

use chatdesk::search::service;
use chatdesk::sessions::types::Cursor;
use entity::{chat_session, message};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use sea_orm::{ActiveValue::Set, ConnectionTrait, DatabaseConnection, EntityTrait};

const SESSIONS: usize = 10_000;
const VOCABULARY: usize = 30_000;
const CHUNK: usize = 1_000;

fn vocabulary(rng: &mut StdRng) -> Vec<String> {
    const SYL: &[&str] = &[
        "ka", "lo", "mi", "ne", "ru", "sa", "te", "vi", "zo", "pe", "ba", "do", "fu", "gi", "ha",
        "jo", "ku", "li", "mo", "nu", "ri", "so", "ta", "wi", "xe", "yu",
    ];
    (0..VOCABULARY)
        .map(|_| {
            (0..rng.random_range(2..=4))
                .map(|_| SYL[rng.random_range(0..SYL.len())])
                .collect()
        })
        .collect()
}

/// A word, skewed towards the start of the vocabulary (rank ~ u^3): a few words are very
/// frequent, most are rare, as in chat.
fn word<'a>(rng: &mut StdRng, vocab: &'a [String]) -> &'a str {
    let u: f64 = rng.random();
    &vocab[((u * u * u) * vocab.len() as f64) as usize % vocab.len()]
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

async fn database(
    kind: &str,
) -> anyhow::Result<(DatabaseConnection, String, Option<tempfile::TempDir>)> {
    if kind == "sqlite" {
        let dir = tempfile::tempdir()?;
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("search.db").display()
        );
        return Ok((connect(&url).await?, String::new(), Some(dir)));
    }
    let base = std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
    let base = base.trim_end_matches('/').to_string();
    let name = format!("chatdesk_bench_search_{}", uuid::Uuid::new_v4().simple());
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

async fn fill(
    db: &DatabaseConnection,
    rng: &mut StdRng,
    vocab: &[String],
    n: usize,
) -> anyhow::Result<()> {
    let start = chrono::Utc::now() - chrono::Duration::days(365);
    let mut pks = Vec::with_capacity(SESSIONS);
    for chunk in (0..SESSIONS).collect::<Vec<_>>().chunks(CHUNK) {
        let rows = chunk.iter().map(|i| {
            let pk = format!("pk-{i:06}");
            pks.push(pk.clone());
            chat_session::ActiveModel {
                id: Set(pk),
                session_id: Set(uuid::Uuid::new_v4().to_string()),
                code: Set(format!("B{i:05}")),
                ip: Set(Some(format!("10.0.{}.{}", i / 250, i % 250))),
                user_agent: Set(None),
                status: Set("resolved".into()),
                assignee_id: Set(None),
                customer_id: Set(None),
                visitor_identity: Set(None),
                last_seq: Set(0),
                user_read_seq: Set(0),
                admin_read_seq: Set(0),
                created_at: Set(start),
                updated_at: Set(start),
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
        });
        chat_session::Entity::insert_many(rows.collect::<Vec<_>>())
            .exec(db)
            .await?;
    }
    let mut seqs = vec![0i64; SESSIONS];
    for first in (0..n).step_by(CHUNK) {
        let rows: Vec<message::ActiveModel> = (first..(first + CHUNK).min(n))
            .map(|i| {
                let s = rng.random_range(0..SESSIONS);
                seqs[s] += 1;
                let len = rng.random_range(4..=16);
                let content = (0..len)
                    .map(|_| word(rng, vocab))
                    .collect::<Vec<_>>()
                    .join(" ");
                message::ActiveModel {
                    id: Set(format!("m{i:08}")),
                    chat_session_id: Set(pks[s].clone()),
                    seq: Set(seqs[s]),
                    sender: Set(if i % 2 == 0 { "user" } else { "admin" }.into()),
                    content: Set(content),
                    is_ai: Set(false),
                    client_msg_id: Set(None),
                    author_id: Set(None),
                    interrupted: Set(false),
                    created_at: Set(start + chrono::Duration::seconds(i as i64 * 30)),
                    kind: Set("text".into()),
                    file_url: Set(None),
                    private: Set(false),
                    author_name: Set(None),
                    attachment: Set(None),
                    source: Set(None),
                }
            })
            .collect();
        message::Entity::insert_many(rows).exec(db).await?;
    }
    if db.get_database_backend() == sea_orm::DbBackend::Postgres {
        db.execute_unprepared("ANALYZE messages").await?;
    }
    Ok(())
}

async fn time(
    db: &DatabaseConnection,
    label: &str,
    queries: &[String],
    second_page: bool,
    spread: bool,
) -> anyhow::Result<()> {
    let mut took = Vec::with_capacity(queries.len());
    let mut hits = 0usize;
    for q in queries {
        let mut cursor = None;
        if second_page {
            let (rows, _) = service::messages(db, q, None, 20).await?;
            cursor = rows.last().map(|m| Cursor {
                at: m.created_at,
                id: Some(m.id.clone()),
            });
        }
        let t = Instant::now();
        let (rows, _) = service::messages(db, q, cursor.as_ref(), 20).await?;
        if spread {
            // the first page's conversations with the words spread over messages
            let words: Vec<String> = q.split_whitespace().map(str::to_string).collect();
            hits += service::spread_over_messages(db, &words, &rows, 20)
                .await?
                .len();
        }
        took.push(t.elapsed());
        hits += rows.len();
    }
    took.sort();
    println!(
        "{label:<28} {:>6} {:>8.2} {:>8.2} {:>8.2} {:>8.2} {:>8.1}",
        took.len(),
        percentile(&took, 0.5),
        percentile(&took, 0.95),
        percentile(&took, 0.99),
        took.last().map_or(0.0, |d| d.as_secs_f64() * 1000.0),
        hits as f64 / took.len().max(1) as f64
    );
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let n: usize = args
        .first()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let queries: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(300);
    let kind = args.get(2).cloned().unwrap_or_else(|| "postgres".into());
    let mut rng = StdRng::seed_from_u64(7);
    let vocab = vocabulary(&mut rng);
    let (db, pg_name, _dir) = database(&kind).await?;
    let t = Instant::now();
    fill(&db, &mut rng, &vocab, n).await?;
    println!(
        "{kind}: {n} messages over {SESSIONS} sessions written and indexed in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    let frequent: Vec<String> = (0..queries).map(|i| vocab[i % 20].clone()).collect();
    let rare: Vec<String> = (0..queries)
        .map(|_| vocab[rng.random_range(VOCABULARY / 2..VOCABULARY)].clone())
        .collect();
    let absent: Vec<String> = (0..queries).map(|i| format!("qqzz{i}")).collect();
    let two: Vec<String> = (0..queries)
        .map(|_| {
            format!(
                "{} {}",
                vocab[rng.random_range(0..200)],
                vocab[rng.random_range(0..2000)]
            )
        })
        .collect();
    println!(
        "{:<28} {:>6} {:>8} {:>8} {:>8} {:>8} {:>8}",
        "query (20 per page)", "n", "p50 ms", "p95 ms", "p99 ms", "max ms", "hits"
    );
    time(&db, "one frequent word", &frequent, false, false).await?;
    time(&db, "one rare word", &rare, false, false).await?;
    time(&db, "a word nobody wrote", &absent, false, false).await?;
    time(&db, "two words (all required)", &two, false, false).await?;
    time(&db, "two words, + across messages", &two, false, true).await?;
    time(&db, "frequent word, page 2", &frequent, true, false).await?;

    // `--keep`: leave the database for EXPLAIN (its name is printed).
    if std::env::args().any(|a| a == "--keep") {
        println!("kept database {pg_name}");
    } else if !pg_name.is_empty() {
        drop(db);
        let base = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into());
        let admin =
            sea_orm::Database::connect(format!("{}/postgres", base.trim_end_matches('/'))).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {pg_name} WITH (FORCE)"))
            .await?;
    }
    Ok(())
}
