//! The tests' socket.io client: one connection over WebSocket or HTTP long-polling, with a
//! task that answers pings, queues events by name and resolves acks, so that a test reads
//! `socket.next("message")` or `socket.ack("init_session", json!({}))`.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::handshake::{handshake, ConnectError, Wire};
use crate::packet::{self, Packet, SioKind, Transport, RECORD_SEPARATOR};
use crate::raw::WsStream;

/// How long the client waits for a handshake step, an ack or an event by default.
pub const WAIT: Duration = Duration::from_secs(10);

/// Options of a connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectOpts {
    /// The namespace (`""` or `"/"` for the main one, `"/admin"`).
    pub ns: String,
    /// The socket.io handshake `auth` object.
    pub auth: Option<Value>,
    /// Extra query parameters of the handshake URL.
    pub query: Vec<(String, String)>,
    /// Extra HTTP headers (`origin`, `user-agent`, ...).
    pub headers: Vec<(String, String)>,
}

impl ConnectOpts {
    pub fn ns(ns: &str) -> Self {
        ConnectOpts {
            ns: ns.into(),
            ..Default::default()
        }
    }
}

#[derive(Default)]
struct Inbox {
    events: VecDeque<(String, Value)>,
    closed: bool,
}

/// A socket.io connection of a test.
pub struct SioClient {
    ns: String,
    out: mpsc::UnboundedSender<String>,
    inbox: Arc<Mutex<Inbox>>,
    notify: Arc<Notify>,
    acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_ack: Mutex<u64>,
    /// The socket.io session id the server gave.
    pub sid: String,
    task: tokio::task::JoinHandle<()>,
}

/// The handshake's view of the transport task: packets through its two channels.
struct Channels<'a> {
    out: &'a mpsc::UnboundedSender<String>,
    inp: &'a mut mpsc::UnboundedReceiver<Option<String>>,
}

impl Wire for Channels<'_> {
    async fn recv(&mut self) -> Result<String, ConnectError> {
        match self.inp.recv().await {
            Some(Some(p)) => Ok(p),
            _ => Err(ConnectError::Transport("closed before connect".into())),
        }
    }

    async fn send(&mut self, packet: String) -> Result<(), ConnectError> {
        self.out
            .send(packet)
            .map_err(|_| ConnectError::Transport("closed before connect".into()))
    }
}

impl SioClient {
    /// Connects to the server at `base` (`http://127.0.0.1:port`) and to `opts.ns`.
    pub async fn connect(
        base: &str,
        transport: Transport,
        opts: ConnectOpts,
    ) -> Result<SioClient, ConnectError> {
        let url = packet::handshake_url(base, transport, &opts.query);
        let (out_tx, out_rx) = mpsc::unbounded_channel::<String>();
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Option<String>>();
        // The transport task is detached: it ends when the reader's channel closes.
        match transport {
            Transport::WebSocket => {
                let mut req = url
                    .into_client_request()
                    .map_err(|e| ConnectError::Transport(e.to_string()))?;
                for (k, v) in &opts.headers {
                    req.headers_mut().insert(
                        http::HeaderName::from_bytes(k.as_bytes())
                            .map_err(|e| ConnectError::Transport(e.to_string()))?,
                        v.parse()
                            .map_err(|_| ConnectError::Transport("bad header".into()))?,
                    );
                }
                // tungstenite's defaults (Nagle on, 128 KiB read buffer), unlike the bench's
                // RawSocket: a test's packets leave as they always did (see ws_pump).
                let (ws, _) = tokio_tungstenite::connect_async(req)
                    .await
                    .map_err(|e| ConnectError::Transport(e.to_string()))?;
                tokio::spawn(ws_pump(ws, out_rx, in_tx));
            }
            Transport::Polling => {
                let http = reqwest::Client::new();
                let mut rb = http.get(&url);
                for (k, v) in &opts.headers {
                    rb = rb.header(k, v);
                }
                let resp = rb
                    .send()
                    .await
                    .map_err(|e| ConnectError::Transport(e.to_string()))?;
                if !resp.status().is_success() {
                    return Err(ConnectError::Transport(format!(
                        "handshake status {}",
                        resp.status()
                    )));
                }
                let body = resp
                    .text()
                    .await
                    .map_err(|e| ConnectError::Transport(e.to_string()))?;
                let Packet::Open(open) = Packet::parse(&body) else {
                    return Err(ConnectError::Transport(format!("no open packet: {body:?}")));
                };
                let open: Value = serde_json::from_str(open)
                    .map_err(|e| ConnectError::Transport(e.to_string()))?;
                let esid = open["sid"].as_str().unwrap_or_default().to_string();
                let _ = in_tx.send(Some(body));
                let url = format!("{url}&sid={esid}");
                tokio::spawn(poll_pump(http, url, opts.headers.clone(), out_rx, in_tx));
            }
        }
        let mut wire = Channels {
            out: &out_tx,
            inp: &mut in_rx,
        };
        let sid = tokio::time::timeout(WAIT, handshake(&mut wire, &opts.ns, opts.auth.as_ref()))
            .await
            .map_err(|_| {
                ConnectError::Transport(format!("no socket.io connect within {WAIT:?}"))
            })??;
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let notify = Arc::new(Notify::new());
        let acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>> = Arc::default();
        let reader = tokio::spawn(read(
            in_rx,
            out_tx.clone(),
            inbox.clone(),
            notify.clone(),
            acks.clone(),
        ));
        Ok(SioClient {
            ns: opts.ns,
            out: out_tx,
            inbox,
            notify,
            acks,
            next_ack: Mutex::new(1),
            sid,
            task: reader,
        })
    }

    /// Emits an event without an ack.
    pub fn emit(&self, event: &str, data: Value) {
        self.emit_args(vec![event.into(), data]);
    }

    /// Emits raw event arguments (e.g. none, or several) without an ack.
    pub fn emit_args(&self, args: Vec<Value>) {
        let _ = self.out.send(packet::event(&self.ns, None, &args));
    }

    /// Sends a raw engine.io text packet.
    pub fn send_raw(&self, packet: &str) {
        let _ = self.out.send(packet.to_string());
    }

    /// Emits an event and waits for its ack.
    pub async fn ack(&self, event: &str, data: Value) -> Value {
        self.try_ack(event, data, WAIT)
            .await
            .unwrap_or_else(|| panic!("no ack for {event}"))
    }

    /// Emits an event and waits up to `wait` for its ack (its first argument).
    pub async fn try_ack(&self, event: &str, data: Value, wait: Duration) -> Option<Value> {
        let id = {
            let mut n = self.next_ack.lock().ok()?;
            *n += 1;
            *n
        };
        let (tx, rx) = oneshot::channel();
        self.acks.lock().ok()?.insert(id, tx);
        let _ = self
            .out
            .send(packet::event(&self.ns, Some(id), &(event, data)));
        tokio::time::timeout(wait, rx).await.ok()?.ok()
    }

    /// Waits for the next `event` (events of other names stay queued).
    pub async fn next(&self, event: &str) -> Value {
        self.next_within(event, WAIT)
            .await
            .unwrap_or_else(|| panic!("no `{event}` event within {WAIT:?}"))
    }

    /// Waits up to `wait` for the next `event`; `None` if none came or the connection closed.
    pub async fn next_within(&self, event: &str, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            {
                let mut inbox = self.inbox.lock().ok()?;
                if let Some(pos) = inbox.events.iter().position(|(n, _)| n == event) {
                    return inbox.events.remove(pos).map(|(_, v)| v);
                }
                if inbox.closed {
                    return None;
                }
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return None;
            }
        }
    }

    /// Every queued `event` received so far, removed from the queue.
    pub fn drain(&self, event: &str) -> Vec<Value> {
        let Ok(mut inbox) = self.inbox.lock() else {
            return vec![];
        };
        let (mine, rest): (VecDeque<_>, VecDeque<_>) =
            inbox.events.drain(..).partition(|(n, _)| n == event);
        inbox.events = rest;
        mine.into_iter().map(|(_, v)| v).collect()
    }

    /// Whether the connection is closed.
    pub fn is_closed(&self) -> bool {
        self.inbox.lock().map(|i| i.closed).unwrap_or(true)
    }

    /// Waits until the server closes the connection.
    pub async fn closed(&self, wait: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let notified = self.notify.notified();
            if self.is_closed() {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return self.is_closed();
            }
        }
    }

    /// Closes the connection abruptly (no socket.io disconnect packet).
    pub fn drop_connection(self) {
        self.task.abort();
    }
}

impl Drop for SioClient {
    fn drop(&mut self) {
        // `41` as it always was, whatever the namespace: tests rely on how the server sees
        // a dropped client today.
        let _ = self.out.send(packet::disconnect("/"));
    }
}

/// The reader task: answers pings, queues events, resolves acks, until a disconnect.
async fn read(
    mut in_rx: mpsc::UnboundedReceiver<Option<String>>,
    out: mpsc::UnboundedSender<String>,
    inbox: Arc<Mutex<Inbox>>,
    notify: Arc<Notify>,
    acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
) {
    while let Some(Some(text)) = in_rx.recv().await {
        let p = match Packet::parse(&text) {
            Packet::Ping => {
                let _ = out.send(packet::PONG.into());
                continue;
            }
            Packet::Message(p) => p,
            _ => continue,
        };
        match p.kind {
            SioKind::Event => {
                let arr = p.value().as_array().cloned().unwrap_or_default();
                let name = arr
                    .first()
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string();
                let payload = arr.get(1).cloned().unwrap_or(Value::Null);
                if let Ok(mut i) = inbox.lock() {
                    i.events.push_back((name, payload));
                }
                notify.notify_waiters();
            }
            SioKind::Ack => {
                let arr = p.value().as_array().cloned().unwrap_or_default();
                let v = arr.first().cloned().unwrap_or(Value::Null);
                if let Some(tx) = p
                    .ack
                    .and_then(|id| acks.lock().ok().and_then(|mut m| m.remove(&id)))
                {
                    let _ = tx.send(v);
                }
            }
            SioKind::Disconnect => break,
            _ => {}
        }
    }
    if let Ok(mut i) = inbox.lock() {
        i.closed = true;
    }
    notify.notify_waiters();
}

/// Carries packets between the channels and a WebSocket, one text frame each.
async fn ws_pump(
    ws: WsStream,
    mut out_rx: mpsc::UnboundedReceiver<String>,
    in_tx: mpsc::UnboundedSender<Option<String>>,
) {
    let (mut sink, mut stream) = ws.split();
    loop {
        tokio::select! {
            out = out_rx.recv() => match out {
                Some(p) => { if sink.send(Message::Text(p.into())).await.is_err() { break; } }
                None => { let _ = sink.close().await; break; }
            },
            msg = stream.next() => match msg {
                Some(Ok(Message::Text(t))) => { if in_tx.send(Some(t.to_string())).is_err() { break; } }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
    let _ = in_tx.send(None);
}

/// Carries packets between the channels and HTTP long-polling: a writer POSTs what is queued
/// (several packets joined by the record separator), the loop GETs what the server has.
async fn poll_pump(
    http: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    mut out_rx: mpsc::UnboundedReceiver<String>,
    in_tx: mpsc::UnboundedSender<Option<String>>,
) {
    let (ptx, mut prx) = mpsc::unbounded_channel::<()>();
    let (h2, u2, hd2) = (http.clone(), url.clone(), headers.clone());
    tokio::spawn(async move {
        while let Some(first) = out_rx.recv().await {
            let mut batch = vec![first];
            while let Ok(p) = out_rx.try_recv() {
                batch.push(p);
            }
            let mut rb = h2.post(&u2).body(batch.join(&RECORD_SEPARATOR.to_string()));
            for (k, v) in &hd2 {
                rb = rb.header(k, v);
            }
            if rb
                .send()
                .await
                .map(|r| r.status().is_success())
                .unwrap_or(false)
            {
                continue;
            }
            break;
        }
        let _ = ptx.send(());
    });
    loop {
        let mut rb = http.get(&url);
        for (k, v) in &headers {
            rb = rb.header(k, v);
        }
        tokio::select! {
            _ = prx.recv() => break,
            resp = rb.send() => {
                let Ok(resp) = resp else { break };
                if !resp.status().is_success() { break; }
                let Ok(body) = resp.text().await else { break };
                let mut stop = false;
                for p in body.split(RECORD_SEPARATOR) {
                    if p == "1" { stop = true; }
                    if in_tx.send(Some(p.to_string())).is_err() { stop = true; }
                }
                if stop { break; }
            }
        }
    }
    let _ = in_tx.send(None);
}
