//! `store_batch` called directly on a fresh database (both backends): every rule of the
//! group commit in one mixed batch, concurrent batches over shared sessions, and a
//! clientMsgId that another writer stores while a batch is waiting for its row lock.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use chatdesk::error::AppError;
use chatdesk::hub::Hub;
use chatdesk::messages::service::{store_batch, NewMessage, Stored};
use chatdesk::messages::types::Sender;
use chatdesk::messages::writer::MessageWriter;
use chatdesk::Config;
use common::Backend;
use entity::{chat_session, message};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection,
    EntityTrait, QueryFilter, QueryOrder, TransactionTrait,
};

/// A migrated fresh database (the temp dir keeps an SQLite file alive).
async fn fresh_db(backend: Backend) -> (DatabaseConnection, Option<tempfile::TempDir>) {
    let (url, dir) = common::fresh_database(backend).await;
    let mut config = Config::for_tests(&url);
    config.db_max_connections = 8;
    let db = chatdesk::db::connect(&config).await.expect("connect");
    chatdesk::db::migrate(&db).await.expect("migrate");
    (db, dir)
}

/// Creates a session; returns its internal id (the public id is `pub-<name>`).
async fn session(
    db: &DatabaseConnection,
    name: &str,
    status: &str,
    assignee: Option<&str>,
) -> String {
    let now = chrono::Utc::now();
    let id = format!("pk-{name}");
    chat_session::ActiveModel {
        id: Set(id.clone()),
        session_id: Set(format!("pub-{name}")),
        code: Set(name.chars().take(12).collect()),
        ip: Set(None),
        user_agent: Set(None),
        status: Set(status.into()),
        assignee_id: Set(assignee.map(str::to_string)),
        customer_id: Set(None),
        visitor_identity: Set(None),
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
    .insert(db)
    .await
    .expect("insert session");
    id
}

fn msg(pk: &str, sender: Sender, content: &str, key: Option<&str>) -> NewMessage {
    let mut m = NewMessage::new(
        pk.to_string(),
        pk.replacen("pk-", "pub-", 1),
        sender,
        content.to_string(),
    );
    m.client_msg_id = key.map(str::to_string);
    m
}

async fn session_row(db: &DatabaseConnection, pk: &str) -> chat_session::Model {
    chat_session::Entity::find_by_id(pk.to_string())
        .one(db)
        .await
        .expect("read session")
        .expect("session exists")
}

async fn stored_rows(db: &DatabaseConnection, pk: &str) -> Vec<message::Model> {
    message::Entity::find()
        .filter(message::Column::ChatSessionId.eq(pk))
        .order_by_asc(message::Column::Seq)
        .all(db)
        .await
        .expect("read messages")
}

fn ok(r: &Result<Stored, AppError>) -> &Stored {
    match r {
        Ok(s) => s,
        Err(e) => panic!("expected a stored message, got {e:?}"),
    }
}

/// One batch that mixes every case: a clientMsgId already stored, repeats within the batch
/// (of a new and of a stored message), an unknown session, resolved sessions that a visitor
/// reopens (with and without assignee) or that staff and the assistant do not, preset ids,
/// authors, `interrupted`, and `unread` against the staff read watermark.
async fn mixed_batch(backend: Backend) {
    let (db, _dir) = fresh_db(backend).await;
    let a = session(&db, "a", "open", None).await;
    let b = session(&db, "b", "waiting", None).await;
    let c = session(&db, "c", "resolved", Some("agent-c")).await;
    let d = session(&db, "d", "resolved", None).await;
    let e = session(&db, "e", "resolved", None).await;
    let f = session(&db, "f", "resolved", None).await;

    // Session a already holds "k-old" (seq 1), and staff have read it.
    let first = store_batch(&db, &[msg(&a, Sender::User, "old", Some("k-old"))])
        .await
        .expect("first batch");
    let old = ok(&first.results[0]).message.clone();
    assert_eq!(old.seq, 1);
    let mut sa: chat_session::ActiveModel = session_row(&db, &a).await.into();
    sa.admin_read_seq = Set(1);
    sa.update(&db).await.expect("mark read");

    let mut staff = msg(&b, Sender::Admin, "staff", None);
    staff.id = Some("preset-id-1".into());
    staff.author_id = Some("agent-b".into());
    let mut ai = msg(&e, Sender::User, "assistant", Some("k-ai"));
    ai.is_ai = true;
    ai.interrupted = true;
    let batch = vec![
        msg(&a, Sender::User, "old again", Some("k-old")), // 0: stored before
        msg(&a, Sender::User, "new", Some("k1")),          // 1: new, seq 2
        msg(&a, Sender::User, "new repeat", Some("k1")),   // 2: repeat of 1
        msg("pk-nope", Sender::User, "lost", Some("kx")),  // 3: unknown session
        msg("pk-nope", Sender::User, "lost", Some("kx")),  // 4: its repeat
        staff,                                             // 5: b seq 1
        msg(&c, Sender::User, "back", None),               // 6: reopens c (assigned)
        msg(&d, Sender::Admin, "staff note", None),        // 7: d stays resolved
        ai,                                                // 8: e stays resolved
        msg(&f, Sender::User, "back", Some("kf")),         // 9: reopens f (open)
        msg(&a, Sender::User, "old third", Some("k-old")), // 10: stored before, again
        msg(&b, Sender::User, "visitor", None),            // 11: b seq 2
        msg(&f, Sender::User, "more", None),               // 12: f seq 2
    ];
    let out = store_batch(&db, &batch).await.expect("mixed batch");
    assert_eq!(out.results.len(), batch.len());
    let r = &out.results;

    for i in [0, 10] {
        let s = ok(&r[i]);
        assert!(s.duplicate, "message {i} is a stored duplicate");
        assert_eq!(
            s.message, old,
            "message {i} answers with the stored message"
        );
    }
    let new = ok(&r[1]);
    assert!(!new.duplicate);
    assert_eq!((new.message.seq, new.unread), (2, 1));
    assert_eq!(new.message.content, "new");
    assert_eq!(new.message.session_id, "pub-a");
    let repeat = ok(&r[2]);
    assert!(repeat.duplicate);
    assert_eq!(repeat.message, new.message);
    for i in [3, 4] {
        assert!(
            matches!(r[i], Err(AppError::SessionNotFound)),
            "message {i}: {:?}",
            r[i]
        );
    }
    // No row without a session (on PostgreSQL no foreign key checks this: the statement must).
    assert!(stored_rows(&db, "pk-nope").await.is_empty());
    let staff = ok(&r[5]);
    assert_eq!(
        (staff.message.id.as_str(), staff.message.seq, staff.unread),
        ("preset-id-1", 1, 1)
    );
    assert_eq!(ok(&r[11]).message.seq, 2);
    assert_eq!(ok(&r[11]).unread, 2);
    let ai = ok(&r[8]);
    assert!(ai.message.is_ai && ai.message.interrupted);
    assert_eq!(ok(&r[9]).message.seq, 1);
    assert_eq!(ok(&r[12]).message.seq, 2);
    for i in [1, 5, 6, 7, 8, 9, 11, 12] {
        assert!(!ok(&r[i]).duplicate, "message {i} is new");
    }

    let mut reopened: Vec<(String, String, Option<String>)> = out
        .reopened
        .iter()
        .map(|r| {
            (
                r.session_id.clone(),
                r.status.to_string(),
                r.assignee_id.clone(),
            )
        })
        .collect();
    reopened.sort();
    assert_eq!(
        reopened,
        vec![
            ("pub-c".into(), "assigned".into(), Some("agent-c".into())),
            ("pub-f".into(), "open".into(), None),
        ]
    );

    // The database agrees with what was answered.
    let at = chrono::DateTime::parse_from_rfc3339(&new.message.created_at)
        .expect("created_at")
        .with_timezone(&chrono::Utc);
    let expect = [
        (&a, 2, "open", false),
        (&b, 2, "waiting", true),
        (&c, 1, "assigned", false),
        (&d, 1, "resolved", true),
        (&e, 1, "resolved", false),
        (&f, 2, "open", false),
    ];
    for (pk, last_seq, status, responded) in expect {
        let s = session_row(&db, pk).await;
        assert_eq!(s.last_seq, last_seq, "{pk} last_seq");
        assert_eq!(s.status, status, "{pk} status");
        assert_eq!(
            s.first_response_at.is_some(),
            responded,
            "{pk} first_response_at"
        );
        if responded {
            assert_eq!(s.first_response_at, Some(at), "{pk} first_response_at");
        }
        assert_eq!(s.last_message_at, Some(at), "{pk} last_message_at");
        assert_eq!(s.updated_at, at, "{pk} updated_at");
        let rows = stored_rows(&db, pk).await;
        let seqs: Vec<i64> = rows.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=last_seq).collect::<Vec<_>>(), "{pk} seqs");
    }
    let b_rows = stored_rows(&db, &b).await;
    assert_eq!(b_rows[0].id, "preset-id-1");
    assert_eq!(b_rows[0].author_id.as_deref(), Some("agent-b"));
    assert_eq!(b_rows[0].client_msg_id, None);
    assert_eq!(b_rows[1].author_id, None);
    let e_rows = stored_rows(&db, &e).await;
    assert!(e_rows[0].is_ai && e_rows[0].interrupted);
    assert_eq!(e_rows[0].client_msg_id.as_deref(), Some("k-ai"));
    let a_rows = stored_rows(&db, &a).await;
    assert_eq!(a_rows[1].id, new.message.id);
    assert_eq!(a_rows[1].client_msg_id.as_deref(), Some("k1"));
    assert_eq!(a_rows[1].created_at, at);

    // A batch of nothing but duplicates stores nothing and takes no seq.
    let again = store_batch(&db, &batch[..3])
        .await
        .expect("duplicates only");
    assert!(again.results.iter().all(|r| ok(r).duplicate));
    assert_eq!(ok(&again.results[1]).message, new.message);
    assert_eq!(session_row(&db, &a).await.last_seq, 2);
}
both!(mixed_batch_answers_every_case, mixed_batch);

/// Several writers store batches over the same sessions at once, each batch naming its
/// sessions in a random order: no deadlock, no error, and every session's `seq` is gap-free.
async fn concurrent_batches(backend: Backend) {
    use rand::seq::SliceRandom;
    let (db, _dir) = fresh_db(backend).await;
    let mut pks = Vec::new();
    for i in 0..6 {
        pks.push(session(&db, &format!("s{i}"), "open", None).await);
    }
    let writers = 4;
    let batches = 25;
    let mut tasks = Vec::new();
    for w in 0..writers {
        let db = db.clone();
        let pks = pks.clone();
        tasks.push(tokio::spawn(async move {
            let mut sent: HashMap<String, usize> = HashMap::new();
            for n in 0..batches {
                let mut order = pks.clone();
                order.shuffle(&mut rand::rng());
                let mut batch = Vec::new();
                for (j, pk) in order.iter().enumerate() {
                    for k in 0..=(j % 3) {
                        let key = format!("w{w}-b{n}-{j}-{k}");
                        batch.push(msg(pk, Sender::User, &key, Some(&key)));
                        *sent.entry(pk.clone()).or_default() += 1;
                    }
                }
                let out = store_batch(&db, &batch).await.expect("batch stores");
                for r in &out.results {
                    assert!(!ok(r).duplicate);
                }
            }
            sent
        }));
    }
    let mut total: HashMap<String, usize> = HashMap::new();
    for t in tasks {
        for (pk, n) in t.await.expect("writer task") {
            *total.entry(pk).or_default() += n;
        }
    }
    for pk in &pks {
        let n = total[pk] as i64;
        assert_eq!(session_row(&db, pk).await.last_seq, n, "{pk} last_seq");
        let seqs: Vec<i64> = stored_rows(&db, pk).await.iter().map(|m| m.seq).collect();
        assert_eq!(seqs, (1..=n).collect::<Vec<_>>(), "{pk} seqs are gap-free");
    }
}
both!(concurrent_batches_keep_seq_gap_free, concurrent_batches);

/// Waits until some backend of this database waits for a lock.
async fn until_lock_wait(db: &DatabaseConnection) {
    for _ in 0..200 {
        let row = db
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                "SELECT count(*) AS n FROM pg_stat_activity \
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            ))
            .await
            .expect("pg_stat_activity");
        let n: i64 = row.map(|r| r.try_get("", "n").unwrap_or(0)).unwrap_or(0);
        if n > 0 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no statement waited for the session lock");
}

/// The "other node": stores (session, "race") as seq 1 and keeps its transaction open.
async fn other_node_stores_race(
    db: &DatabaseConnection,
    session: &str,
) -> sea_orm::DatabaseTransaction {
    let other = db.begin().await.expect("begin");
    other
        .execute_unprepared(&format!(
            "UPDATE chat_sessions SET last_seq = last_seq + 1 WHERE id = '{session}'; \
             INSERT INTO messages (id, chat_session_id, seq, sender, content, is_ai, \
             client_msg_id, interrupted, created_at) \
             VALUES ('other-node-msg', '{session}', 1, 'user', 'from the other node', false, \
             'race', false, now())"
        ))
        .await
        .expect("other node writes");
    other
}

/// Another node stores a clientMsgId after a batch took its snapshot and while the batch
/// waits for that session's lock: the batch fails as a whole on the unique index (nothing
/// of it is stored), and the writer's fallback stores its messages one by one, answering
/// the raced one with the other node's message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raced_client_msg_id_falls_back_to_the_stored_message() {
    let (db, _dir) = fresh_db(Backend::Postgres).await;
    let a = session(&db, "a", "open", None).await;
    let b = session(&db, "b", "open", None).await;
    let plug = session(&db, "plug", "open", None).await;
    let (writer, task) = MessageWriter::spawn(db.clone(), Hub::default(), 100, 512);

    let other = other_node_stores_race(&db, &a).await;
    // Holds the writer in a first batch so that the next two messages form one batch.
    let holder = db.begin().await.expect("begin");
    holder
        .execute_unprepared(&format!(
            "SELECT id FROM chat_sessions WHERE id = '{plug}' FOR UPDATE"
        ))
        .await
        .expect("lock plug");
    let w = writer.clone();
    let plug_pk = plug.clone();
    let first = tokio::spawn(async move {
        w.store(msg(&plug_pk, Sender::User, "plug", None), None)
            .await
    });
    until_lock_wait(&db).await;
    let (wa, wb) = (writer.clone(), writer.clone());
    let (pa, pb) = (a.clone(), b.clone());
    let raced = tokio::spawn(async move {
        wa.store(msg(&pa, Sender::User, "mine", Some("race")), None)
            .await
    });
    let bystander = tokio::spawn(async move {
        wb.store(msg(&pb, Sender::User, "bystander", Some("b1")), None)
            .await
    });
    while writer.queued() < 2 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    holder.commit().await.expect("release plug");
    let plug_msg = first.await.expect("task").expect("plug stored");
    assert_eq!(plug_msg.message.seq, 1);
    // The batch [raced, bystander] took its snapshot and waits for session a's lock.
    until_lock_wait(&db).await;
    other.commit().await.expect("other node commits");

    let raced = raced.await.expect("task").expect("raced message answered");
    assert!(raced.duplicate);
    assert_eq!(raced.message.id, "other-node-msg");
    assert_eq!(raced.message.content, "from the other node");
    let bystander = bystander.await.expect("task").expect("bystander stored");
    assert!(!bystander.duplicate);
    assert_eq!(bystander.message.seq, 1);
    assert_eq!(session_row(&db, &a).await.last_seq, 1, "no seq taken");
    assert_eq!(stored_rows(&db, &a).await.len(), 1);
    assert_eq!(stored_rows(&db, &b).await.len(), 1);
    drop(writer);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

/// The same race for a message that is alone in its batch: it is tried once more and
/// answered with the other node's message (it used to get `internal`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raced_client_msg_id_alone_in_its_batch_is_a_duplicate() {
    let (db, _dir) = fresh_db(Backend::Postgres).await;
    let a = session(&db, "a", "open", None).await;
    let (writer, task) = MessageWriter::spawn(db.clone(), Hub::default(), 100, 512);
    let other = other_node_stores_race(&db, &a).await;
    let w = writer.clone();
    let pa = a.clone();
    let raced = tokio::spawn(async move {
        w.store(msg(&pa, Sender::User, "mine", Some("race")), None)
            .await
    });
    until_lock_wait(&db).await;
    other.commit().await.expect("other node commits");
    let raced = raced.await.expect("task").expect("raced message answered");
    assert!(raced.duplicate);
    assert_eq!(raced.message.id, "other-node-msg");
    assert_eq!(session_row(&db, &a).await.last_seq, 1, "no seq taken");
    assert_eq!(stored_rows(&db, &a).await.len(), 1);
    drop(writer);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}

/// A batch that waits for its sessions' locks works on their latest versions, not on its
/// snapshot: the `seq`s follow what the other writer stored, and "was resolved" is decided
/// on the row as it is once locked (a session resolved meanwhile is reopened and reported;
/// one claimed meanwhile is left alone).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn waiting_batch_sees_the_latest_session_rows() {
    let (db, _dir) = fresh_db(Backend::Postgres).await;
    let a = session(&db, "a", "open", None).await;
    let z = session(&db, "z", "resolved", None).await;

    // The "other node": stores a's seq 1 and resolves a; claims z. Not committed yet.
    let other = db.begin().await.expect("begin");
    other
        .execute_unprepared(&format!(
            "UPDATE chat_sessions SET last_seq = last_seq + 1, status = 'resolved' \
             WHERE id = '{a}'; \
             INSERT INTO messages (id, chat_session_id, seq, sender, content, is_ai, \
             interrupted, created_at) \
             VALUES ('other-node-msg', '{a}', 1, 'admin', 'bye', false, false, now()); \
             UPDATE chat_sessions SET status = 'assigned', assignee_id = 'agent-z' \
             WHERE id = '{z}'"
        ))
        .await
        .expect("other node writes");
    let batch = vec![
        msg(&z, Sender::User, "hello z", None),
        msg(&a, Sender::User, "hello a", None),
    ];
    let db2 = db.clone();
    let task = tokio::spawn(async move { store_batch(&db2, &batch).await });
    until_lock_wait(&db).await;
    other.commit().await.expect("other node commits");
    let out = task.await.expect("task").expect("batch stores");

    assert_eq!(
        ok(&out.results[1]).message.seq,
        2,
        "a's seq follows the other node's"
    );
    assert_eq!(ok(&out.results[0]).message.seq, 1);
    let reopened: Vec<(String, String)> = out
        .reopened
        .iter()
        .map(|r| (r.session_id.clone(), r.status.to_string()))
        .collect();
    assert_eq!(reopened, vec![("pub-a".to_string(), "open".to_string())]);
    let sa = session_row(&db, &a).await;
    assert_eq!((sa.last_seq, sa.status.as_str()), (2, "open"));
    let sz = session_row(&db, &z).await;
    assert_eq!((sz.last_seq, sz.status.as_str()), (1, "assigned"));
    let seqs: Vec<i64> = stored_rows(&db, &a).await.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![1, 2]);
}

/// The clientMsgId probe of the PostgreSQL batch statement uses the unique index whatever
/// the statistics say. sqlx keeps the statement prepared, and after five runs PostgreSQL may
/// switch to a generic plan made when `messages` was small; written as a join, that plan
/// hashed the batch and scanned the whole table on every commit (6.4 of 7.5 ms for 175
/// messages at 28,000 rows, and growing). The generic plan is forced here, on an empty table
/// with no statistics, the worst case for the planner.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn client_msg_id_probe_uses_the_index_in_a_generic_plan() {
    let (db, _dir) = fresh_db(Backend::Postgres).await;
    let txn = db.begin().await.expect("begin");
    txn.execute_unprepared("SET LOCAL plan_cache_mode = force_generic_plan")
        .await
        .expect("set plan_cache_mode");
    txn.execute_unprepared(&format!(
        "PREPARE store_batch_plan AS {}",
        chatdesk::messages::service::STORE_BATCH_PG
    ))
    .await
    .expect("prepare");
    let explain = "EXPLAIN EXECUTE store_batch_plan(now(), '{0,1}', '{pk-a,pk-b}', \
                   '{id-0,id-1}', '{user,user}', '{hello,world}', '{f,f}', '{t,t}', \
                   '{k0,k1}', '{f,f}', '{\"\",\"\"}', '{f,f}', '{text,image}', '{f,t}', \
                   '{\"\",/f/a.png}', '{f,t}', '{f,t}', '{\"\",Anna}', '{f,f}', '{\"\",\"\"}', \
                   '{\"\",kb}')";
    let rows = txn
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            explain,
        ))
        .await
        .expect("explain");
    let plan: Vec<String> = rows
        .iter()
        .map(|r| r.try_get_by_index::<String>(0).expect("plan line"))
        .collect();
    let plan = plan.join("\n");
    assert!(
        plan.contains("uq_messages_session_client_msg"),
        "the probe does not use the unique index:\n{plan}"
    );
    assert!(
        !plan.contains("Seq Scan on messages"),
        "the probe scans the whole table:\n{plan}"
    );
    // The session UPDATE reads one CTE only (joined to the indexed table): two CTEs joined
    // there became a nested loop, quadratic in the batch, under the generic plan's estimates.
    let lines: Vec<&str> = plan.lines().collect();
    let update = lines
        .iter()
        .position(|l| l.contains("Update on chat_sessions"))
        .expect("the session update in the plan");
    let indent = |l: &str| l.len() - l.trim_start().len();
    let depth = indent(lines[update]);
    let scans = lines[update + 1..]
        .iter()
        .take_while(|l| indent(l) > depth)
        .filter(|l| l.contains("CTE Scan"))
        .count();
    assert_eq!(scans, 1, "the session update joins CTEs:\n{plan}");
    txn.rollback().await.expect("rollback");
}

/// The writer's pipelines (`WRITE_SHARDS`, PostgreSQL only): the messages a session's sender
/// queues in a burst get their `seq`s in queue order (a session always uses one pipeline),
/// and `flush` waits for every pipeline.
async fn sharded_writer(backend: Backend) {
    let (db, _dir) = fresh_db(backend).await;
    let (writer, task) = MessageWriter::spawn_sharded(db.clone(), Hub::default(), 10_000, 16, 3);
    let expected = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 3,
    };
    assert_eq!(writer.shards(), expected, "pipelines");
    let mut pks = Vec::new();
    for i in 0..12 {
        pks.push(session(&db, &format!("sh{i}"), "open", None).await);
    }
    // Every session's 30 sends are queued at once, in order, all sessions interleaved.
    let mut sends = Vec::new();
    for n in 0..30 {
        for pk in &pks {
            let key = format!("{pk}-{n}");
            sends.push((
                pk.clone(),
                n,
                writer.store(msg(pk, Sender::User, &key, Some(&key)), None),
            ));
        }
    }
    let (meta, futs): (Vec<_>, Vec<_>) = sends.into_iter().map(|(pk, n, f)| ((pk, n), f)).unzip();
    let results = futures::future::join_all(futs).await;
    for ((pk, n), r) in meta.iter().zip(&results) {
        let stored = r.as_ref().expect("stored");
        assert_eq!(
            stored.message.seq,
            *n as i64 + 1,
            "{pk}: seq follows queue order"
        );
    }
    // `flush` waits for the last pipeline too: its session's next message is held up by a
    // row lock (PostgreSQL; SQLite's one pipeline is covered by the order check above).
    if backend == Backend::Postgres {
        let last = pks
            .iter()
            .find(|pk| writer.shard_of(pk) == expected - 1)
            .expect("a session in the last pipeline")
            .clone();
        let holder = db.begin().await.expect("begin");
        holder
            .execute_unprepared(&format!(
                "SELECT id FROM chat_sessions WHERE id = '{last}' FOR UPDATE"
            ))
            .await
            .expect("lock");
        let w = writer.clone();
        let held = last.clone();
        let late =
            tokio::spawn(
                async move { w.store(msg(&held, Sender::User, "late", None), None).await },
            );
        until_lock_wait(&db).await;
        let w = writer.clone();
        let flush = tokio::spawn(async move { w.flush().await });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !flush.is_finished(),
            "flush returned while a message was still being stored"
        );
        holder.commit().await.expect("release");
        flush.await.expect("flush");
        assert_eq!(session_row(&db, &last).await.last_seq, 31);
        late.await.expect("task").expect("late message stored");
    }
    drop(writer);
    let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
}
both!(sharded_writer_keeps_each_sessions_order, sharded_writer);

/// A private note and its author's name are stored as given, take their `seq` like any
/// message, and a note is not the desk's first response; a retry of a note answers with it.
async fn private_notes_and_author_names(backend: Backend) {
    let (db, _dir) = fresh_db(backend).await;
    let a = session(&db, "notes", "assigned", Some("agent-a")).await;
    let mut note = msg(&a, Sender::Admin, "internal", Some("n1"));
    note.private = true;
    note.author_id = Some("agent-a".into());
    note.author_name = Some("Anna".into());
    let visitor = msg(&a, Sender::User, "hi", None);
    let out = store_batch(&db, &[note.clone(), visitor])
        .await
        .expect("batch");
    let first = ok(&out.results[0]);
    assert!(first.message.private);
    assert_eq!(first.message.author_name.as_deref(), Some("Anna"));
    assert_eq!(first.message.seq, 1);
    assert!(!ok(&out.results[1]).message.private);
    assert!(session_row(&db, &a).await.first_response_at.is_none());

    let rows = stored_rows(&db, &a).await;
    let got: Vec<(i64, bool, Option<String>)> = rows
        .iter()
        .map(|m| (m.seq, m.private, m.author_name.clone()))
        .collect();
    assert_eq!(got, [(1, true, Some("Anna".to_string())), (2, false, None)]);

    // a retry of the note: the stored note, private and named, nothing new
    let again = store_batch(&db, &[note]).await.expect("retry");
    let dup = ok(&again.results[0]);
    assert!(dup.duplicate && dup.message.private);
    assert_eq!(dup.message.author_name.as_deref(), Some("Anna"));

    // a public staff reply is the first response
    let mut reply = msg(&a, Sender::Admin, "hello", None);
    reply.author_name = Some("Anna".into());
    store_batch(&db, &[reply]).await.expect("reply");
    assert!(session_row(&db, &a).await.first_response_at.is_some());
}
both!(
    private_notes_and_author_names_are_stored,
    private_notes_and_author_names
);
