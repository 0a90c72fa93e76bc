//! Reports (`GET /api/reports`) on a desk seeded with known timestamps, straight through the
//! SeaORM entities, against figures computed by hand: counts per bucket, medians and 90th
//! percentiles of first response and resolution times, messages per side, CSAT, per agent
//! and per label; the same data in UTC, New York and Kolkata; a 23-hour DST day in Paris;
//! weeks from Monday; permissions; bad parameters; CSV. On SQLite and PostgreSQL.

mod common;

use chrono::{DateTime, Utc};
use common::{Backend, TestApp};
use entity::{chat_session, label, message, session_label, session_rating};
use sea_orm::{ActiveModelTrait, DatabaseConnection, Set};
use serde_json::Value;

fn at(s: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(s)
        .unwrap_or_else(|e| panic!("{s}: {e}"))
        .with_timezone(&Utc)
}

async fn db_of(app: &TestApp) -> DatabaseConnection {
    sea_orm::Database::connect(&app.db_url)
        .await
        .expect("connect to the test database")
}

/// One seeded session: its row, then its messages in `seq` order.
struct Seed<'a> {
    db: &'a DatabaseConnection,
    n: usize,
}

/// A message to seed: `(at, sender side, author)`.
#[derive(Clone, Copy)]
enum Side {
    Visitor,
    Agent,
    Assistant,
    Note,
}

impl Seed<'_> {
    /// Stores a session created at `created` with `status`, `assignee`, `resolved`, and its
    /// messages; returns its internal id.
    async fn session(
        &mut self,
        created: &str,
        status: &str,
        assignee: Option<&str>,
        resolved: Option<&str>,
        messages: &[(&str, Side, Option<&str>)],
    ) -> String {
        self.n += 1;
        let id = uuid::Uuid::now_v7().to_string();
        let created = at(created);
        chat_session::ActiveModel {
            id: Set(id.clone()),
            session_id: Set(uuid::Uuid::new_v4().to_string()),
            code: Set(format!("RP{:04}", self.n)),
            ip: Set(None),
            user_agent: Set(None),
            status: Set(status.into()),
            assignee_id: Set(assignee.map(str::to_string)),
            customer_id: Set(None),
            visitor_identity: Set(None),
            last_seq: Set(messages.len() as i64),
            user_read_seq: Set(0),
            admin_read_seq: Set(0),
            created_at: Set(created),
            updated_at: Set(created),
            last_message_at: Set(None),
            waiting_since: Set(None),
            assigned_at: Set(None),
            first_response_at: Set(None),
            resolved_at: Set(resolved.map(at)),
            visitor_cleared_seq: Set(0),
            ai_enabled: Set(None),
            contact_email: Set(None),
            contact_left_at: Set(None),
        }
        .insert(self.db)
        .await
        .expect("seed session");
        for (i, (t, side, author)) in messages.iter().enumerate() {
            let (sender, is_ai, private) = match side {
                Side::Visitor => ("user", false, false),
                Side::Agent => ("admin", false, false),
                Side::Assistant => ("admin", true, false),
                Side::Note => ("admin", false, true),
            };
            message::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                chat_session_id: Set(id.clone()),
                seq: Set(i as i64 + 1),
                sender: Set(sender.into()),
                content: Set(format!("message {}", i + 1)),
                is_ai: Set(is_ai),
                client_msg_id: Set(None),
                author_id: Set(author.map(str::to_string)),
                interrupted: Set(false),
                created_at: Set(at(t)),
                kind: Set("text".into()),
                file_url: Set(None),
                private: Set(private),
                author_name: Set(None),
                attachment: Set(None),
                source: Set(is_ai.then(|| "llm".to_string())),
            }
            .insert(self.db)
            .await
            .expect("seed message");
        }
        id
    }

    async fn rating(&self, session: &str, resolved: &str, agent: &str, rating: i16, created: &str) {
        session_rating::ActiveModel {
            id: Set(uuid::Uuid::now_v7().to_string()),
            session_pk: Set(session.into()),
            resolved_at: Set(at(resolved)),
            agent_id: Set(Some(agent.into())),
            rating: Set(rating),
            comment: Set(None),
            created_at: Set(at(created)),
        }
        .insert(self.db)
        .await
        .expect("seed rating");
    }

    async fn label(&self, name: &str) -> String {
        let id = uuid::Uuid::now_v7().to_string();
        label::ActiveModel {
            id: Set(id.clone()),
            name: Set(name.into()),
            name_norm: Set(name.to_lowercase()),
            color: Set("#123456".into()),
            created_at: Set(Utc::now()),
            updated_at: Set(Utc::now()),
        }
        .insert(self.db)
        .await
        .expect("seed label");
        id
    }

    async fn tag(&self, session: &str, label: &str) {
        session_label::ActiveModel {
            session_pk: Set(session.into()),
            label_id: Set(label.into()),
            created_at: Set(Utc::now()),
        }
        .insert(self.db)
        .await
        .expect("seed session label");
    }
}

/// The desk of the hand-computed figures (every instant UTC; see each session's comment).
/// Returns (Ann's id, Bob's id, billing's id, bug's id).
async fn seed_desk(app: &TestApp) -> (String, String, String, String) {
    use Side::*;
    let ann = app
        .store_account("ann@desk.test", "Ann Agent", "agent", "pw-ann-123")
        .await;
    let bob = app
        .store_account("bob@desk.test", "Bob Agent", "agent", "pw-bob-123")
        .await;
    let db = db_of(app).await;
    let mut s = Seed { db: &db, n: 0 };
    let (a, b) = (Some(ann.as_str()), Some(bob.as_str()));
    // S0: started the evening before (UTC); Bob's reply falls on Mar 2.
    s.session(
        "2026-03-01T23:59:59Z",
        "assigned",
        b,
        None,
        &[
            ("2026-03-01T23:59:59Z", Visitor, None),
            ("2026-03-02T00:00:30Z", Agent, b),
        ],
    )
    .await;
    // S1: assistant first (not a response), Ann replies after 120 s, a note, Bob; resolved
    // after 1800 s; rated 5.
    let s1 = s
        .session(
            "2026-03-02T09:00:00Z",
            "resolved",
            a,
            Some("2026-03-02T09:30:00Z"),
            &[
                ("2026-03-02T09:00:10Z", Visitor, None),
                ("2026-03-02T09:00:12Z", Assistant, None),
                ("2026-03-02T09:01:00Z", Visitor, None),
                ("2026-03-02T09:02:10Z", Agent, a),
                ("2026-03-02T09:02:30Z", Note, a),
                ("2026-03-02T09:03:00Z", Agent, b),
            ],
        )
        .await;
    // S2: Bob after 300 s; resolved after 3600 s, on Mar 3; rated 3 on Mar 3.
    let s2 = s
        .session(
            "2026-03-02T23:30:00Z",
            "resolved",
            b,
            Some("2026-03-03T00:30:00Z"),
            &[
                ("2026-03-02T23:30:00Z", Visitor, None),
                ("2026-03-02T23:35:00Z", Agent, b),
            ],
        )
        .await;
    // S7: Bob after 40 s; resolved once, then reopened (not a resolution now).
    s.session(
        "2026-03-02T10:00:00Z",
        "assigned",
        b,
        Some("2026-03-02T10:10:00Z"),
        &[
            ("2026-03-02T10:00:00Z", Visitor, None),
            ("2026-03-02T10:00:40Z", Agent, b),
        ],
    )
    .await;
    // S3: Ann after 600 s, still open.
    s.session(
        "2026-03-03T04:00:00Z",
        "assigned",
        a,
        None,
        &[
            ("2026-03-03T04:00:00Z", Visitor, None),
            ("2026-03-03T04:10:00Z", Agent, a),
        ],
    )
    .await;
    // S4: Ann after 60 s; resolved after 1200 s; rated 4.
    let s4 = s
        .session(
            "2026-03-03T12:00:00Z",
            "resolved",
            a,
            Some("2026-03-03T12:20:00Z"),
            &[
                ("2026-03-03T12:00:00Z", Visitor, None),
                ("2026-03-03T12:01:00Z", Agent, a),
            ],
        )
        .await;
    // S5: only the assistant answered: no first response.
    s.session(
        "2026-03-04T02:00:00Z",
        "open",
        None,
        None,
        &[
            ("2026-03-04T02:00:00Z", Visitor, None),
            ("2026-03-04T02:00:05Z", Assistant, None),
        ],
    )
    .await;
    // S6: opened, never written in.
    s.session("2026-03-04T10:00:00Z", "open", None, None, &[])
        .await;

    s.rating(&s1, "2026-03-02T09:30:00Z", &ann, 5, "2026-03-02T09:31:00Z")
        .await;
    s.rating(&s2, "2026-03-03T00:30:00Z", &bob, 3, "2026-03-03T00:31:00Z")
        .await;
    s.rating(&s4, "2026-03-03T12:20:00Z", &ann, 4, "2026-03-03T12:25:00Z")
        .await;

    let billing = s.label("Billing").await;
    let bug = s.label("Bug").await;
    s.tag(&s1, &billing).await;
    s.tag(&s2, &billing).await;
    s.tag(&s2, &bug).await;
    s.tag(&s4, &bug).await;
    let _ = db.close().await;
    (ann, bob, billing, bug)
}

async fn report(app: &TestApp, token: &str, query: &str) -> Value {
    let r = app
        .http
        .get(format!("{}/api/reports?{query}", app.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("GET /api/reports");
    let status = r.status();
    let body: Value = r.json().await.expect("json");
    assert_eq!(status, 200, "{query}: {body}");
    body
}

#[track_caller]
fn close(v: &Value, expected: Option<f64>, what: &str) {
    match expected {
        None => assert!(v.is_null(), "{what}: expected null, got {v}"),
        Some(e) => {
            let got = v
                .as_f64()
                .unwrap_or_else(|| panic!("{what}: expected {e}, got {v}"));
            assert!((got - e).abs() < 0.01, "{what}: expected {e}, got {got}");
        }
    }
}

/// Asserts a `{count, median, p90, average}` object.
#[track_caller]
fn durations(
    v: &Value,
    count: i64,
    median: Option<f64>,
    p90: Option<f64>,
    avg: Option<f64>,
    what: &str,
) {
    assert_eq!(v["count"], count, "{what}.count: {v}");
    close(&v["median"], median, &format!("{what}.median"));
    close(&v["p90"], p90, &format!("{what}.p90"));
    close(&v["average"], avg, &format!("{what}.average"));
}

#[track_caller]
fn messages(v: &Value, visitor: i64, agent: i64, assistant: i64, notes: i64, what: &str) {
    assert_eq!(
        (&v["visitor"], &v["agent"], &v["assistant"], &v["notes"]),
        (
            &Value::from(visitor),
            &Value::from(agent),
            &Value::from(assistant),
            &Value::from(notes)
        ),
        "{what}: {v}"
    );
}

#[track_caller]
fn csat(v: &Value, count: i64, avg: Option<f64>, what: &str) {
    assert_eq!(v["count"], count, "{what}.count: {v}");
    close(&v["average"], avg, &format!("{what}.average"));
}

fn conversations(r: &Value) -> Vec<i64> {
    r["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["conversations"].as_i64().expect("conversations"))
        .collect()
}

fn starts(r: &Value) -> Vec<String> {
    r["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| b["start"].as_str().expect("start").to_string())
        .collect()
}

async fn figures_match_hand_computed_values(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (ann, bob, billing, bug) = seed_desk(&app).await;
    let token = app.login("ann@desk.test", "pw-ann-123").await;

    let r = report(
        &app,
        &token,
        "from=2026-03-02&to=2026-03-05&bucket=day&tz=UTC",
    )
    .await;
    assert_eq!(r["from"], "2026-03-02T00:00:00+00:00");
    assert_eq!(r["to"], "2026-03-05T00:00:00+00:00");
    assert_eq!(r["tz"], "UTC");
    assert_eq!(r["bucket"], "day");
    assert_eq!(
        starts(&r),
        [
            "2026-03-02T00:00:00+00:00",
            "2026-03-03T00:00:00+00:00",
            "2026-03-04T00:00:00+00:00"
        ]
    );
    assert_eq!(r["buckets"][2]["end"], "2026-03-05T00:00:00+00:00");
    assert_eq!(conversations(&r), [3, 2, 2]);
    assert_eq!(r["total"]["conversations"], 7);

    let b = &r["buckets"];
    // First response, by the day the session started: 40, 120, 300 | 60, 600 | none.
    durations(
        &b[0]["firstResponse"],
        3,
        Some(120.0),
        Some(264.0),
        Some(460.0 / 3.0),
        "day 1 first response",
    );
    durations(
        &b[1]["firstResponse"],
        2,
        Some(330.0),
        Some(546.0),
        Some(330.0),
        "day 2 first response",
    );
    durations(
        &b[2]["firstResponse"],
        0,
        None,
        None,
        None,
        "day 3 first response",
    );
    durations(
        &r["total"]["firstResponse"],
        5,
        Some(120.0),
        Some(480.0),
        Some(224.0),
        "total first response",
    );
    // Resolution, by the day of the resolution: 1800 | 1200, 3600 | none (S7 reopened).
    durations(
        &b[0]["resolution"],
        1,
        Some(1800.0),
        Some(1800.0),
        Some(1800.0),
        "day 1 resolution",
    );
    durations(
        &b[1]["resolution"],
        2,
        Some(2400.0),
        Some(3360.0),
        Some(2400.0),
        "day 2 resolution",
    );
    durations(&b[2]["resolution"], 0, None, None, None, "day 3 resolution");
    durations(
        &r["total"]["resolution"],
        3,
        Some(1800.0),
        Some(3240.0),
        Some(2200.0),
        "total resolution",
    );
    // Messages, by the day they were sent (S0's reply on day 1, its question before).
    messages(&b[0]["messages"], 4, 5, 1, 1, "day 1 messages");
    messages(&b[1]["messages"], 2, 2, 0, 0, "day 2 messages");
    messages(&b[2]["messages"], 1, 0, 1, 0, "day 3 messages");
    messages(&r["total"]["messages"], 7, 7, 2, 1, "total messages");
    // Ratings, by the day they were given.
    csat(&b[0]["csat"], 1, Some(5.0), "day 1 csat");
    csat(&b[1]["csat"], 2, Some(3.5), "day 2 csat");
    csat(&b[2]["csat"], 0, None, "day 3 csat");
    csat(&r["total"]["csat"], 3, Some(4.0), "total csat");

    // Per agent, by name.
    let agents = r["agents"].as_array().expect("agents");
    assert_eq!(agents.len(), 2, "{agents:?}");
    let (a, b) = (&agents[0], &agents[1]);
    assert_eq!(
        (&a["agentId"], &a["name"]),
        (&Value::from(ann), &Value::from("Ann Agent"))
    );
    assert_eq!(
        (&b["agentId"], &b["name"]),
        (&Value::from(bob), &Value::from("Bob Agent"))
    );
    assert_eq!(a["conversations"], 3);
    durations(
        &a["firstResponse"],
        3,
        Some(120.0),
        Some(504.0),
        Some(260.0),
        "Ann first response",
    );
    durations(
        &a["resolution"],
        2,
        Some(1500.0),
        Some(1740.0),
        Some(1500.0),
        "Ann resolution",
    );
    messages(&a["messages"], 0, 3, 0, 1, "Ann messages");
    csat(&a["csat"], 2, Some(4.5), "Ann csat");
    assert_eq!(b["conversations"], 2);
    durations(
        &b["firstResponse"],
        2,
        Some(170.0),
        Some(274.0),
        Some(170.0),
        "Bob first response",
    );
    durations(
        &b["resolution"],
        1,
        Some(3600.0),
        Some(3600.0),
        Some(3600.0),
        "Bob resolution",
    );
    messages(&b["messages"], 0, 4, 0, 0, "Bob messages");
    csat(&b["csat"], 1, Some(3.0), "Bob csat");

    // Per label, by name.
    let labels = r["labels"].as_array().expect("labels");
    assert_eq!(labels.len(), 2, "{labels:?}");
    let (l1, l2) = (&labels[0], &labels[1]);
    assert_eq!(
        (&l1["labelId"], &l1["name"], &l1["color"]),
        (
            &Value::from(billing),
            &Value::from("Billing"),
            &Value::from("#123456")
        )
    );
    assert_eq!(
        (&l2["labelId"], &l2["name"]),
        (&Value::from(bug), &Value::from("Bug"))
    );
    assert_eq!(l1["conversations"], 2);
    durations(
        &l1["firstResponse"],
        2,
        Some(210.0),
        Some(282.0),
        Some(210.0),
        "billing first response",
    );
    durations(
        &l1["resolution"],
        2,
        Some(2700.0),
        Some(3420.0),
        Some(2700.0),
        "billing resolution",
    );
    messages(&l1["messages"], 3, 3, 1, 1, "billing messages");
    csat(&l1["csat"], 2, Some(4.0), "billing csat");
    assert_eq!(l2["conversations"], 2);
    durations(
        &l2["firstResponse"],
        2,
        Some(180.0),
        Some(276.0),
        Some(180.0),
        "bug first response",
    );
    durations(
        &l2["resolution"],
        2,
        Some(2400.0),
        Some(3360.0),
        Some(2400.0),
        "bug resolution",
    );
    messages(&l2["messages"], 2, 2, 0, 0, "bug messages");
    csat(&l2["csat"], 2, Some(3.5), "bug csat");
}

async fn buckets_follow_the_time_zone(backend: Backend) {
    let app = common::spawn_app(backend).await;
    seed_desk(&app).await;
    let token = app.quick_staff_token("lead@desk.test", "agent").await;

    // New York (UTC-5 in early March): S3 (04:00Z) is still Mar 2, S5 (02:00Z) Mar 3.
    let r = report(
        &app,
        &token,
        "from=2026-03-02&to=2026-03-05&bucket=day&tz=America/New_York",
    )
    .await;
    assert_eq!(
        starts(&r),
        [
            "2026-03-02T00:00:00-05:00",
            "2026-03-03T00:00:00-05:00",
            "2026-03-04T00:00:00-05:00"
        ]
    );
    assert_eq!(conversations(&r), [4, 2, 1]);
    assert_eq!(r["tz"], "America/New_York");

    // Kolkata (+05:30): S0 (23:59:59Z Mar 1) is 05:29 on Mar 2, S2 (23:30Z) 05:00 on Mar 3.
    let r = report(
        &app,
        &token,
        "from=2026-03-02&to=2026-03-05&bucket=day&tz=Asia/Kolkata",
    )
    .await;
    assert_eq!(
        starts(&r),
        [
            "2026-03-02T00:00:00+05:30",
            "2026-03-03T00:00:00+05:30",
            "2026-03-04T00:00:00+05:30"
        ]
    );
    assert_eq!(conversations(&r), [3, 3, 2]);
    // S0's first response (Bob, 31 s) now counts, on Mar 2, with S1's and S7's.
    durations(
        &r["buckets"][0]["firstResponse"],
        3,
        Some(40.0),
        Some(104.0),
        Some(191.0 / 3.0),
        "Kolkata day 1 first response",
    );

    // Kolkata hours: buckets start at half past in UTC; S1 (09:00Z) is in 14:00-15:00 local.
    let r = report(
        &app,
        &token,
        "from=2026-03-02T08:30:00Z&to=2026-03-02T10:30:00Z&bucket=hour&tz=Asia/Kolkata",
    )
    .await;
    assert_eq!(
        starts(&r),
        ["2026-03-02T14:00:00+05:30", "2026-03-02T15:00:00+05:30"]
    );
    assert_eq!(conversations(&r), [1, 1]);
    messages(
        &r["buckets"][0]["messages"],
        2,
        2,
        1,
        1,
        "Kolkata 14h messages",
    );

    // Instants (not dates) are taken as given, whatever tz says.
    let r = report(
        &app,
        &token,
        "from=2026-03-02T09:00:00Z&to=2026-03-02T09:00:01Z&bucket=hour&tz=Asia/Kolkata",
    )
    .await;
    assert_eq!(conversations(&r), [1]);
    assert_eq!(r["from"], "2026-03-02T14:30:00+05:30");
}

async fn weeks_start_on_monday(backend: Backend) {
    let app = common::spawn_app(backend).await;
    seed_desk(&app).await;
    let token = app.quick_staff_token("lead@desk.test", "admin").await;

    // 2026-02-23 and 2026-03-02 are Mondays; S0 (Sunday 23:59:59Z) is in the first week.
    let r = report(&app, &token, "from=2026-02-23&to=2026-03-09&bucket=week").await;
    assert_eq!(
        starts(&r),
        ["2026-02-23T00:00:00+00:00", "2026-03-02T00:00:00+00:00"]
    );
    assert_eq!(conversations(&r), [1, 7]);
    // In Kolkata S0 is Monday morning: the second week.
    let r = report(
        &app,
        &token,
        "from=2026-02-23&to=2026-03-09&bucket=week&tz=Asia/Kolkata",
    )
    .await;
    assert_eq!(conversations(&r), [0, 8]);
    // A range from a Wednesday: the first bucket is cut at the next Monday.
    let r = report(&app, &token, "from=2026-03-04&to=2026-03-12&bucket=week").await;
    assert_eq!(
        starts(&r),
        ["2026-03-04T00:00:00+00:00", "2026-03-09T00:00:00+00:00"]
    );
    assert_eq!(r["buckets"][0]["end"], "2026-03-09T00:00:00+00:00");
    assert_eq!(conversations(&r), [2, 0]);
}

async fn a_dst_day_has_23_hours(backend: Backend) {
    use Side::*;
    let app = common::spawn_app(backend).await;
    let token = app.quick_staff_token("lead@desk.test", "agent").await;
    let db = db_of(&app).await;
    let mut s = Seed { db: &db, n: 0 };
    // Paris: clocks go from 02:00 (+01:00) to 03:00 (+02:00) on 2026-03-29.
    for t in [
        "2026-03-28T22:59:00Z", // 23:59 on Mar 28 local
        "2026-03-28T23:30:00Z", // 00:30 on Mar 29
        "2026-03-29T21:59:00Z", // 23:59 on Mar 29 (summer time)
        "2026-03-29T22:00:00Z", // 00:00 on Mar 30
    ] {
        s.session(t, "open", None, None, &[(t, Visitor, None)])
            .await;
    }
    let _ = db.close().await;

    let r = report(
        &app,
        &token,
        "from=2026-03-28&to=2026-03-31&bucket=day&tz=Europe/Paris",
    )
    .await;
    assert_eq!(
        starts(&r),
        [
            "2026-03-28T00:00:00+01:00",
            "2026-03-29T00:00:00+01:00",
            "2026-03-30T00:00:00+02:00"
        ]
    );
    assert_eq!(r["buckets"][1]["end"], "2026-03-30T00:00:00+02:00");
    assert_eq!(conversations(&r), [1, 2, 1]);
    messages(&r["buckets"][1]["messages"], 2, 0, 0, 0, "Mar 29 messages");
    // The same data in UTC.
    let r = report(&app, &token, "from=2026-03-28&to=2026-03-31&bucket=day").await;
    assert_eq!(conversations(&r), [2, 2, 0]);
    // Mar 29 in Paris, by the hour: 23 buckets, 02:00 missing.
    let r = report(
        &app,
        &token,
        "from=2026-03-29&to=2026-03-30&bucket=hour&tz=Europe/Paris",
    )
    .await;
    let hours = starts(&r);
    assert_eq!(hours.len(), 23);
    assert_eq!(hours[1], "2026-03-29T01:00:00+01:00");
    assert_eq!(hours[2], "2026-03-29T03:00:00+02:00");
    assert_eq!(r["buckets"][0]["conversations"], 1);
    assert_eq!(r["buckets"][22]["conversations"], 1);
}

async fn only_staff_read_reports(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let path = format!("{}/api/reports?from=2026-03-02&to=2026-03-05", app.url);
    let agent = app.quick_staff_token("agent@desk.test", "agent").await;
    let r = app
        .http
        .get(&path)
        .bearer_auth(&agent)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.expect("json");
    assert_eq!(conversations(&body), [0, 0, 0]);
    assert_eq!(body["agents"], serde_json::json!([]));

    let customer = app.register("visitor@desk.test", "visitor-password").await;
    let r = app
        .http
        .get(&path)
        .bearer_auth(&customer)
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "forbidden");

    let r = app.http.get(&path).send().await.expect("GET");
    assert_eq!(r.status(), 401);
    let body: Value = r.json().await.expect("json");
    assert_eq!(body["error"]["code"], "unauthorized");

    let r = app
        .http
        .get(&path)
        .bearer_auth("not-a-token")
        .send()
        .await
        .expect("GET");
    assert_eq!(r.status(), 401);
}

async fn bad_parameters_are_invalid_payload(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let token = app.quick_staff_token("agent@desk.test", "agent").await;
    for (query, says) in [
        ("from=2026-03-05&to=2026-03-02", "before"),
        ("from=2026-03-02&to=2026-03-02", "before"),
        ("from=2026-03-02&to=2026-03-05&bucket=month", "bucket"),
        ("from=2026-03-02&to=2026-03-05&tz=Mars/Olympus", "time zone"),
        ("from=yesterday&to=2026-03-05", "from"),
        ("from=2026-03-02&to=2026-13-01", "to"),
        ("from=2020-01-01&to=2026-01-01&bucket=hour", "1000"),
        ("from=2026-03-02&to=2026-03-05&format=xml", "format"),
    ] {
        let r = app
            .http
            .get(format!("{}/api/reports?{query}", app.url))
            .bearer_auth(&token)
            .send()
            .await
            .expect("GET");
        assert_eq!(r.status(), 400, "{query}");
        let body: Value = r.json().await.expect("json");
        assert_eq!(body["error"]["code"], "invalid_payload", "{query}: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(says), "{query}: {message}");
    }
    // No dates: the last 7 local days, today included, by day.
    let r = report(&app, &token, "tz=Asia/Kolkata").await;
    assert_eq!(r["buckets"].as_array().map(Vec::len), Some(7));
    assert_eq!(r["bucket"], "day");
}

async fn csv_export_has_a_row_per_bucket_agent_and_label(backend: Backend) {
    let app = common::spawn_app(backend).await;
    let (ann, bob, billing, bug) = seed_desk(&app).await;
    let token = app.login("bob@desk.test", "pw-bob-123").await;
    let r = app
        .http
        .get(format!(
            "{}/api/reports?from=2026-03-02&to=2026-03-05&bucket=day&tz=UTC&format=csv",
            app.url
        ))
        .bearer_auth(&token)
        .send()
        .await
        .expect("GET csv");
    assert_eq!(r.status(), 200);
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    assert_eq!(header("content-type"), "text/csv; charset=utf-8");
    assert_eq!(
        header("content-disposition"),
        "attachment; filename=\"chatdesk-report-20260302-day.csv\""
    );
    let text = r.text().await.expect("body");
    let lines: Vec<&str> = text.split("\r\n").collect();
    assert_eq!(
        lines,
        [
            "section,key,name,start,end,conversations,first_response_count,first_response_median_s,first_response_p90_s,first_response_avg_s,resolved,resolution_median_s,resolution_p90_s,resolution_avg_s,messages_visitor,messages_agent,messages_assistant,notes,csat_count,csat_avg",
            "bucket,,,2026-03-02T00:00:00+00:00,2026-03-03T00:00:00+00:00,3,3,120,264,153.333,1,1800,1800,1800,4,5,1,1,1,5",
            "bucket,,,2026-03-03T00:00:00+00:00,2026-03-04T00:00:00+00:00,2,2,330,546,330,2,2400,3360,2400,2,2,0,0,2,3.5",
            "bucket,,,2026-03-04T00:00:00+00:00,2026-03-05T00:00:00+00:00,2,0,,,,0,,,,1,0,1,0,0,",
            "total,,,2026-03-02T00:00:00+00:00,2026-03-05T00:00:00+00:00,7,5,120,480,224,3,1800,3240,2200,7,7,2,1,3,4",
            &format!("agent,{ann},Ann Agent,2026-03-02T00:00:00+00:00,2026-03-05T00:00:00+00:00,3,3,120,504,260,2,1500,1740,1500,0,3,0,1,2,4.5"),
            &format!("agent,{bob},Bob Agent,2026-03-02T00:00:00+00:00,2026-03-05T00:00:00+00:00,2,2,170,274,170,1,3600,3600,3600,0,4,0,0,1,3"),
            &format!("label,{billing},Billing,2026-03-02T00:00:00+00:00,2026-03-05T00:00:00+00:00,2,2,210,282,210,2,2700,3420,2700,3,3,1,1,2,4"),
            &format!("label,{bug},Bug,2026-03-02T00:00:00+00:00,2026-03-05T00:00:00+00:00,2,2,180,276,180,2,2400,3360,2400,2,2,0,0,2,3.5"),
            "",
        ]
    );
}

/// The console's page and its assets are served like the console's (strict CSP), and the
/// console links to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reports_page_is_served_with_its_assets() {
    let app = common::spawn_app(Backend::Sqlite).await;
    let page = app.get("/console/reports").await;
    assert_eq!(page.status(), 200);
    let csp = page
        .headers()
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    let html = page.text().await.expect("html");
    assert!(html.contains("/static/reports.js") && html.contains("/static/reports.css"));
    for asset in ["/static/reports.js", "/static/reports.css"] {
        assert_eq!(app.get(asset).await.status(), 200, "{asset}");
    }
    let console = app.get("/console").await.text().await.expect("console");
    assert!(console.contains("href=\"/console/reports\""));
}

both!(figures, figures_match_hand_computed_values);
both!(time_zones, buckets_follow_the_time_zone);
both!(weeks, weeks_start_on_monday);
both!(dst, a_dst_day_has_23_hours);
both!(permissions, only_staff_read_reports);
both!(bad_parameters, bad_parameters_are_invalid_payload);
both!(csv, csv_export_has_a_row_per_bucket_agent_and_label);
