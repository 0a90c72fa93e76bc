//! The delivery worker: every node runs one. It looks at the head of each active endpoint's
//! queue (woken when this node commits outbox rows, at most once per [`WRITE_GATHER`] for
//! those, after each run, and every `WEBHOOK_POLL_MS` for retries falling due and rows other
//! nodes wrote), claims an endpoint whose head is due with a lease (one row, the endpoint's,
//! whatever the number of deliveries), and sends the due deliveries at the head of its queue
//! one POST after the other, in id order (one event per POST, or up to the endpoint's
//! `batchSize` per POST as `{"events": [...]}`):
//! - per-endpoint order: an endpoint has one run at a time on the whole desk (the lease),
//!   and a run stops at its first failure, so delivery n+1 is never sent before delivery n
//!   was delivered or given up. A failing endpoint holds its queue back (head-of-line) while
//!   its head is retried; other endpoints are not affected;
//! - at least once: a row is marked delivered only after a 2xx answer; a node that dies
//!   mid-run leaves a lease that expires, and its rows are sent again by whoever claims the
//!   endpoint next;
//! - the chat never waits: the worker runs on its own tasks, at most `WEBHOOK_CONCURRENCY`
//!   runs at a time, every request bounded by `WEBHOOK_TIMEOUT_MS`.
//!
//! Each POST is signed: `X-Chatdesk-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of
//! "<t>.<body>" keyed with the endpoint's secret>`.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use tokio_util::sync::CancellationToken;

use super::service::{self, Outcome};
use super::{target, Settings, Webhooks};
use crate::outbox::service::now_millis;

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`.
pub fn signature(secret: &str, t: i64, body: &str) -> String {
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return format!("t={t},v1="), // HMAC takes keys of any length
    };
    mac.update(t.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

/// The wait before attempt `attempts + 1`, after `attempts` failed ones: the base doubled
/// per failure, capped, then drawn between half and all of it (jitter, so that endpoints
/// failing together do not retry together).
pub fn backoff(s: &Settings, attempts: i32) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 30) as u32;
    let full = s
        .backoff_base
        .saturating_mul(2u32.saturating_pow(exp))
        .min(s.backoff_max);
    let half = full / 2;
    half + full.mul_f64(rand::rng().random_range(0.0..=0.5))
}

/// The shortest gap between two looks started by outbox writes: at thousands of messages a
/// second every group commit wakes the worker, and the writes of this gap are taken in one
/// look (a delivery waits at most this long for it). A finished run looks again at once.
const WRITE_GATHER: Duration = Duration::from_millis(20);

/// Runs the worker until `stop`.
pub async fn run(hooks: Arc<Webhooks>, stop: CancellationToken) {
    let busy: Arc<Mutex<HashSet<String>>> = Arc::default();
    let slots = Arc::new(tokio::sync::Semaphore::new(hooks.settings.concurrency));
    let done = Arc::new(tokio::sync::Notify::new());
    let node = uuid::Uuid::new_v4().simple().to_string();
    let poll = hooks.settings.poll;
    loop {
        let looked = tokio::time::Instant::now();
        if let Err(e) = look(&hooks, &busy, &slots, &done, &node).await {
            tracing::warn!(error = %e, "webhook worker: could not read the queue");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = hooks.subs.next_write() => {
                // Writes keep coming: gather those of the next moments into one look.
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep_until(looked + WRITE_GATHER) => {}
                    _ = done.notified() => {}
                }
            }
            _ = done.notified() => {}
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// One look at every active endpoint's queue: starts a run for each endpoint whose head is
/// due and not running here, while slots remain, if it can claim the endpoint (another node
/// may hold it). The endpoints are the list [`Webhooks::reload`] keeps; the claim reads the
/// endpoint again (its URL, secret, batch size and whether it is still active), so a run
/// never uses a stale one.
async fn look(
    hooks: &Arc<Webhooks>,
    busy: &Arc<Mutex<HashSet<String>>>,
    slots: &Arc<tokio::sync::Semaphore>,
    done: &Arc<tokio::sync::Notify>,
    node: &str,
) -> crate::error::AppResult<()> {
    let endpoints = hooks.active();
    for ep in endpoints.iter() {
        if busy.lock().map(|b| b.contains(&ep.id)).unwrap_or(true) {
            continue;
        }
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            return Ok(()); // every slot at work: the next look comes when one finishes
        };
        if !service::head_due(&hooks.db, &ep.id, now_millis()).await? {
            continue;
        }
        let lease = format!("{node}-{}", uuid::Uuid::new_v4().simple());
        let lease = lease.chars().take(36).collect::<String>();
        let until = lease_end(&hooks.settings);
        let Some(fresh) = service::lease_endpoint(&hooks.db, &ep.id, &lease, until).await? else {
            continue; // switched off, deleted, or another node's run holds it
        };
        if let Ok(mut b) = busy.lock() {
            b.insert(fresh.id.clone());
        }
        let hooks = hooks.clone();
        let busy = busy.clone();
        let done = done.clone();
        tokio::spawn(async move {
            let id = fresh.id.clone();
            send_run(&hooks, fresh, &lease).await;
            if let Err(e) = service::release_endpoint(&hooks.db, &id, &lease).await {
                tracing::warn!(error = %e, "webhook endpoint not released (its lease will expire)");
            }
            if let Ok(mut b) = busy.lock() {
                b.remove(&id);
            }
            drop(permit);
            done.notify_one();
        });
    }
    Ok(())
}

/// What a lease adds to one request's timeout.
const LEASE_MARGIN: Duration = Duration::from_secs(10);

/// Until when a claim made now holds: one request timeout and [`LEASE_MARGIN`].
fn lease_end(s: &Settings) -> DateTime<Utc> {
    now_millis()
        + chrono::Duration::from_std(s.timeout + LEASE_MARGIN)
            .unwrap_or_else(|_| chrono::Duration::hours(1))
}

/// One POST's deliveries and their bodies, in order.
type Post<'a> = Vec<(&'a entity::webhook_delivery::Model, String)>;

/// One run on an endpoint this node holds under `lease`: reads the due deliveries at the
/// head of its queue (up to `WEBHOOK_BATCH`) and POSTs them in order, one event per POST or
/// up to the endpoint's `batch_size` per POST; stops at the first failure (the rest wait:
/// per-endpoint order). Outcomes are recorded together, one UPDATE per status code for the
/// successes: a node that dies before recording them sends them again (at least once).
async fn send_run(hooks: &Webhooks, ep: entity::webhook_endpoint::Model, lease: &str) {
    let per_post =
        usize::try_from(ep.batch_size.clamp(1, super::types::MAX_BATCH_SIZE)).unwrap_or(1);
    // A run reads `WEBHOOK_BATCH` deliveries, or one POST's worth if the endpoint takes more.
    let limit = hooks.settings.batch.max(per_post) as u64;
    let rows = match service::run_rows(&hooks.db, &ep.id, limit, now_millis()).await {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %e, "webhook run: deliveries not read");
            return;
        }
    };
    if rows.is_empty() {
        return;
    }
    // `message.created` rows name their message: the bodies are rendered from it now.
    let pks: Vec<String> = rows.iter().filter_map(|r| r.message_pk.clone()).collect();
    let messages = match crate::messages::service::by_ids(&hooks.db, &pks).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %e, "webhook run: messages not read (the run waits)");
            return;
        }
    };
    let mut delivered: Vec<(i64, i32)> = Vec::new();
    // Erased before they were sent: nothing to send, the queue goes on.
    let mut erased: Vec<i64> = Vec::new();
    // The lease covers one request and a margin; a long run renews it as it goes, so that
    // a node that dies leaves the endpoint to the others within about one request timeout.
    let mut renew_at = std::time::Instant::now() + LEASE_MARGIN / 2;
    let mut rest = rows.iter();
    loop {
        let mut post: Post = Vec::with_capacity(per_post);
        for row in rest.by_ref() {
            match body_of(row, &messages) {
                Some(body) => post.push((row, body)),
                None => erased.push(row.id),
            }
            if post.len() == per_post {
                break;
            }
        }
        if post.is_empty() {
            break;
        }
        if std::time::Instant::now() >= renew_at {
            match service::renew_endpoint(&hooks.db, &ep.id, lease, lease_end(&hooks.settings))
                .await
            {
                Ok(true) => renew_at = std::time::Instant::now() + LEASE_MARGIN / 2,
                Ok(false) => break, // no longer ours: what was not sent waits
                Err(e) => {
                    tracing::warn!(error = %e, "webhook lease not renewed");
                    break;
                }
            }
        }
        match attempt(hooks, &ep, &post).await {
            Outcome::Delivered { status_code } => {
                delivered.extend(post.iter().map(|(row, _)| (row.id, status_code)));
            }
            failed => {
                if let Outcome::Failed { error, .. } = &failed {
                    tracing::info!(endpoint = %ep.id, delivery = post[0].0.id, events = post.len(), attempts = post[0].0.attempts + 1, error = %error, "webhook delivery failed");
                }
                let ids: Vec<i64> = post.iter().map(|(row, _)| row.id).collect();
                if let Err(e) = service::record(&hooks.db, &ids, &failed).await {
                    tracing::warn!(error = %e, delivery = ids[0], "webhook outcome not stored");
                }
                break;
            }
        }
    }
    record_delivered(hooks, &delivered).await;
    let gone = Outcome::Failed {
        status_code: None,
        error: "the message was erased before it was delivered".into(),
        retry_at: None,
    };
    if let Err(e) = service::record(&hooks.db, &erased, &gone).await {
        tracing::warn!(error = %e, "webhook outcome not stored");
    }
}

/// Records the run's successes, one UPDATE per status code.
async fn record_delivered(hooks: &Webhooks, delivered: &[(i64, i32)]) {
    let mut codes: Vec<i32> = delivered.iter().map(|d| d.1).collect();
    codes.sort_unstable();
    codes.dedup();
    for code in codes {
        let ids: Vec<i64> = delivered
            .iter()
            .filter(|d| d.1 == code)
            .map(|d| d.0)
            .collect();
        let ok = Outcome::Delivered { status_code: code };
        if let Err(e) = service::record(&hooks.db, &ids, &ok).await {
            tracing::warn!(error = %e, "webhook deliveries not recorded (they will be sent again)");
        }
    }
}

/// The body a row sends: stored with it, or rendered from its message (`None`: the message
/// no longer exists).
fn body_of(
    row: &entity::webhook_delivery::Model,
    messages: &std::collections::HashMap<String, crate::messages::types::MessageDto>,
) -> Option<String> {
    let Some(pk) = &row.message_pk else {
        return Some(row.body.clone());
    };
    let m = messages.get(pk)?;
    match crate::outbox::envelope(
        &row.event_id,
        crate::outbox::Event::MessageCreated,
        &m.created_at,
        m,
    ) {
        Ok(body) => Some(body),
        Err(e) => {
            tracing::error!(error = %e, delivery = row.id, "webhook body not encoded");
            None
        }
    }
}

/// One POST of a run's next deliveries (one, or up to the endpoint's batch size), and what
/// to record for all of them (a failure is the first delivery's: its attempts and deadline).
async fn attempt(
    hooks: &Webhooks,
    ep: &entity::webhook_endpoint::Model,
    post: &Post<'_>,
) -> Outcome {
    let head = post[0].0;
    match send(hooks, ep, post).await {
        Ok(code) if (200..300).contains(&code) => Outcome::Delivered {
            status_code: i32::from(code),
        },
        Ok(code) => failure(
            &hooks.settings,
            head,
            Some(i32::from(code)),
            format!("HTTP {code}"),
        ),
        Err(error) => failure(&hooks.settings, head, None, error),
    }
}

/// A failed attempt: retried after [`backoff`], unless that would pass the row's deadline.
fn failure(
    s: &Settings,
    row: &entity::webhook_delivery::Model,
    status_code: Option<i32>,
    error: String,
) -> Outcome {
    let now = now_millis();
    let deadline: DateTime<Utc> = row.give_up_at.unwrap_or_else(|| {
        row.created_at + chrono::Duration::from_std(s.retry_window).unwrap_or_default()
    });
    let wait = chrono::Duration::from_std(backoff(s, row.attempts + 1)).unwrap_or_default();
    let next = now + wait;
    Outcome::Failed {
        status_code,
        error,
        retry_at: (next <= deadline).then_some(next),
    }
}

/// POSTs deliveries: to an endpoint with a batch size of 1, one delivery, its body as it
/// is (`X-Chatdesk-Event` its event, `X-Chatdesk-Delivery` its id); otherwise
/// `{"events": [...]}` with the bodies in order (`X-Chatdesk-Event: batch`,
/// `X-Chatdesk-Delivery` the ids, comma-separated). The answer's status, or why there was
/// none.
async fn send(
    hooks: &Webhooks,
    ep: &entity::webhook_endpoint::Model,
    post: &Post<'_>,
) -> Result<u16, String> {
    let url = target::parse(&ep.url, true).map_err(|_| "invalid URL".to_string())?;
    if !hooks.settings.allow_private && !target::literal_allowed(&url) {
        return Err(
            "refused: the URL's address is not public (WEBHOOK_ALLOW_PRIVATE is off)".into(),
        );
    }
    let (event, delivery, body) = if ep.batch_size <= 1 {
        let (row, body) = &post[0];
        (row.event.clone(), row.id.to_string(), body.clone())
    } else {
        let ids: Vec<String> = post.iter().map(|(row, _)| row.id.to_string()).collect();
        let mut body =
            String::with_capacity(post.iter().map(|(_, b)| b.len() + 1).sum::<usize>() + 12);
        body.push_str(r#"{"events":["#);
        for (n, (_, b)) in post.iter().enumerate() {
            if n > 0 {
                body.push(',');
            }
            body.push_str(b);
        }
        body.push_str("]}");
        ("batch".to_string(), ids.join(","), body)
    };
    let t = Utc::now().timestamp();
    let res = hooks
        .client
        .post(url)
        .header("content-type", "application/json")
        .header("user-agent", "chatdesk-webhooks/1")
        .header("x-chatdesk-event", event)
        .header("x-chatdesk-delivery", delivery)
        .header("x-chatdesk-signature", signature(&ep.secret, t, &body))
        .body(body)
        .send()
        .await;
    match res {
        Ok(mut r) => {
            let status = r.status().as_u16();
            // Read what the receiver answered (a little of it), so that the connection goes
            // back to the pool: one dropped unread is closed, and the next delivery would
            // open a new one. The answer itself is not kept.
            let mut read = 0usize;
            while read < ANSWER_READ_MAX {
                match r.chunk().await {
                    Ok(Some(chunk)) => read += chunk.len(),
                    _ => break,
                }
            }
            Ok(status)
        }
        Err(e) => Err(describe(&e)),
    }
}

/// The most of a receiver's answer read before the connection is given up.
const ANSWER_READ_MAX: usize = 64 * 1024;

/// A failed request in a few words (never the URL: it may carry a token of the receiver).
fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut text = if e.is_connect() {
        "could not connect".to_string()
    } else {
        "request failed".to_string()
    };
    let mut source = std::error::Error::source(e);
    let mut depth = 0;
    while let Some(s) = source {
        if depth == 3 {
            break;
        }
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
        depth += 1;
    }
    text.chars().take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_timestamp_dot_body() {
        // Computed independently (Python: hmac.new(b"whsec_test", b'1700000000.{"a":1}',
        // hashlib.sha256).hexdigest()).
        let sig = signature("whsec_test", 1_700_000_000, r#"{"a":1}"#);
        assert_eq!(
            sig,
            "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
        );
    }

    #[test]
    fn waits_double_within_jitter_and_stop_at_the_cap() {
        let s = Settings {
            timeout: Duration::from_secs(1),
            backoff_base: Duration::from_millis(100),
            backoff_max: Duration::from_millis(1000),
            retry_window: Duration::from_secs(60),
            concurrency: 1,
            batch: 1,
            poll: Duration::from_secs(1),
            allow_private: true,
        };
        for (attempts, full) in [
            (1, 100),
            (2, 200),
            (3, 400),
            (4, 800),
            (5, 1000),
            (20, 1000),
        ] {
            let d = backoff(&s, attempts).as_millis() as u64;
            assert!((full / 2..=full).contains(&d), "attempt {attempts}: {d} ms");
        }
    }
}
