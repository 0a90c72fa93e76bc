//! chatdesk's events on the wire, on top of the socket.io client the tests use too
//! (`testkit`: framing and handshake): the connect and `init_session` every socket starts
//! with, the `user_message` the load is made of, the agent console that counts desk events, and
//! the event and ack bodies the checks read. The sockets are [`RawSocket`]s: no task and no
//! queue per connection, the bench reads their frames itself.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use testkit::packet::{self, Packet, SioKind};
use testkit::RawSocket;
use tokio::time::timeout;

/// How long one protocol step (open, connect, ack) may take before the bench gives up.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// The next text packet, answering engine.io pings (`2` -> `3`) on the way.
async fn recv_packet(ws: &mut RawSocket) -> Result<String> {
    let packet = timeout(STEP_TIMEOUT, ws.recv_packet())
        .await
        .map_err(|_| anyhow!("no packet within {STEP_TIMEOUT:?}"))?;
    Ok(packet?)
}

/// WebSocket connect, engine.io open, socket.io connect to "/" (within `STEP_TIMEOUT`).
pub async fn open_socket(url: &str) -> Result<RawSocket> {
    let (ws, _sid) = timeout(STEP_TIMEOUT, RawSocket::connect(url, "/", None))
        .await
        .map_err(|_| anyhow!("socket.io connect took longer than {STEP_TIMEOUT:?}"))?
        .context("socket.io connect")?;
    Ok(ws)
}

/// An agent console on "/admin" (the spawned server runs in legacy open mode, so no token):
/// it hears what every console hears desk-wide (`session_updated`, `visitor_presence`, ...)
/// and counts the events, to show what a busy desk costs a console. `None` when the server
/// refuses it (a server started elsewhere without open mode).
pub async fn agent_console(url: &str) -> Option<Arc<AtomicU64>> {
    let (mut ws, _sid) = timeout(STEP_TIMEOUT, RawSocket::connect(url, "/admin", None))
        .await
        .ok()?
        .ok()?;
    let events = Arc::new(AtomicU64::new(0));
    let counter = events.clone();
    tokio::spawn(async move {
        while let Ok(frame) = ws.next_text().await {
            let Some(text) = frame else { continue };
            let alive = match Packet::parse(&text) {
                Packet::Ping => ws.pong().await.is_ok(),
                Packet::Message(p) if p.kind == SioKind::Event && p.ns == "/admin" => {
                    counter.fetch_add(1, Ordering::Relaxed);
                    true
                }
                _ => true,
            };
            if !alive {
                break;
            }
        }
    });
    Some(events)
}

/// `init_session` with ack id 0; returns the (unwrapped) ack object (within `STEP_TIMEOUT`).
pub async fn init_session(ws: &mut RawSocket, payload: &Value) -> Result<Value> {
    timeout(STEP_TIMEOUT, init_session_inner(ws, payload))
        .await
        .map_err(|_| anyhow!("no init_session ack within {STEP_TIMEOUT:?}"))?
}

async fn init_session_inner(ws: &mut RawSocket, payload: &Value) -> Result<Value> {
    ws.send(packet::event("/", Some(0), &("init_session", payload)))
        .await?;
    loop {
        let p = recv_packet(ws).await?;
        let Packet::Message(m) = Packet::parse(&p) else {
            continue;
        };
        match m.kind {
            SioKind::Ack if m.ns == "/" && m.ack == Some(0) => {
                let mut arr: Vec<Value> =
                    serde_json::from_str(m.data).with_context(|| format!("bad ack {p:?}"))?;
                let ack = arr.pop().unwrap_or(Value::Null);
                if ack.get("sessionId").and_then(Value::as_str).is_none() {
                    bail!("init_session failed: {ack}");
                }
                return Ok(ack);
            }
            SioKind::Disconnect | SioKind::ConnectError => {
                bail!("disconnected during init_session: {p}")
            }
            _ => {}
        }
    }
}

/// A `user_message` asking for ack `ack`:
/// `42<ack>["user_message",{"sessionId":..,"content":..,"clientMsgId":..}]`.
pub fn user_message(ack: u64, session_id: &str, content: &str, client_msg_id: &str) -> String {
    packet::event(
        "/",
        Some(ack),
        &(
            "user_message",
            UserMessage {
                session_id,
                content,
                client_msg_id,
            },
        ),
    )
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct UserMessage<'a> {
    session_id: &'a str,
    content: &'a str,
    client_msg_id: &'a str,
}

/// The `message` event as far as the checks need it.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MessageEvent<'a> {
    pub seq: i64,
    #[serde(borrow)]
    pub session_id: Cow<'a, str>,
    #[serde(borrow)]
    pub content: Cow<'a, str>,
    #[serde(borrow, default)]
    pub client_msg_id: Option<Cow<'a, str>>,
}

/// A `user_message` ack: `{ok: true, data: message}` or `{ok: false, error: {code}}`.
#[derive(Deserialize)]
pub struct AckBody {
    #[serde(default)]
    pub ok: bool,
    pub data: Option<AckMessage>,
    pub error: Option<AckError>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AckMessage {
    pub seq: i64,
    pub client_msg_id: Option<String>,
}

#[derive(Deserialize)]
pub struct AckError {
    pub code: String,
}
