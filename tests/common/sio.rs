//! A small socket.io v5 / engine.io v4 test client, speaking the real wire protocol over
//! WebSocket or HTTP long-polling. It answers pings, collects events, and resolves acks.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

pub const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transport {
    WebSocket,
    Polling,
}

/// Options of a connection.
#[derive(Debug, Clone, Default)]
pub struct ConnectOpts {
    pub ns: String,
    pub auth: Option<Value>,
    pub query: Vec<(String, String)>,
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

pub struct SioClient {
    ns: String,
    out: mpsc::UnboundedSender<String>,
    inbox: Arc<Mutex<Inbox>>,
    notify: Arc<Notify>,
    acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>>,
    next_ack: Mutex<u64>,
    pub sid: String,
    task: tokio::task::JoinHandle<()>,
}

/// Why a connection failed.
#[derive(Debug)]
pub enum ConnectError {
    /// The server answered the namespace connect with `connect_error` (message).
    Refused(Value),
    /// The transport failed (HTTP status, I/O...).
    Transport(String),
}

fn ns_prefix(ns: &str) -> String {
    if ns.is_empty() || ns == "/" {
        String::new()
    } else {
        format!("{ns},")
    }
}

/// Parses a socket.io packet after the engine.io `4` prefix was removed.
/// Returns (type, ack id, data).
fn parse_sio(p: &str) -> (char, Option<u64>, Value) {
    let mut chars = p.chars();
    let t = chars.next().unwrap_or('?');
    let mut rest = chars.as_str();
    if rest.starts_with('/') {
        rest = match rest.find(',') {
            Some(i) => &rest[i + 1..],
            None => "",
        };
    }
    let digits: String = rest.chars().take_while(|c| c.is_ascii_digit()).collect();
    let id = if digits.is_empty() {
        None
    } else {
        digits.parse().ok()
    };
    let rest = &rest[digits.len()..];
    let data = if rest.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(rest).unwrap_or(Value::Null)
    };
    (t, id, data)
}

impl SioClient {
    pub async fn connect(
        base: &str,
        transport: Transport,
        opts: ConnectOpts,
    ) -> Result<SioClient, ConnectError> {
        let mut q = vec![("EIO".to_string(), "4".to_string())];
        q.push((
            "transport".into(),
            match transport {
                Transport::WebSocket => "websocket",
                Transport::Polling => "polling",
            }
            .into(),
        ));
        q.extend(opts.query.iter().cloned());
        let qs: String = q
            .iter()
            .map(|(k, v)| format!("{k}={}", urlencode(v)))
            .collect::<Vec<_>>()
            .join("&");
        let (out_tx, out_rx) = mpsc::unbounded_channel::<String>();
        let (in_tx, mut in_rx) = mpsc::unbounded_channel::<Option<String>>();
        let task = match transport {
            Transport::WebSocket => {
                let url = format!("{}/socket.io/?{qs}", base.replacen("http", "ws", 1));
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
                let (ws, _) = tokio_tungstenite::connect_async(req)
                    .await
                    .map_err(|e| ConnectError::Transport(e.to_string()))?;
                tokio::spawn(ws_pump(ws, out_rx, in_tx))
            }
            Transport::Polling => {
                let http = reqwest::Client::new();
                let url = format!("{base}/socket.io/?{qs}");
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
                let open: Value = serde_json::from_str(body.trim_start_matches('0'))
                    .map_err(|e| ConnectError::Transport(e.to_string()))?;
                let esid = open["sid"].as_str().unwrap_or_default().to_string();
                let _ = in_tx.send(Some(body));
                let url = format!("{url}&sid={esid}");
                tokio::spawn(poll_pump(http, url, opts.headers.clone(), out_rx, in_tx))
            }
        };
        // engine.io open packet
        let open = tokio::time::timeout(WAIT, in_rx.recv())
            .await
            .ok()
            .flatten()
            .flatten();
        match open {
            Some(p) if p.starts_with('0') => {}
            other => {
                return Err(ConnectError::Transport(format!(
                    "no open packet: {other:?}"
                )))
            }
        }
        let auth = opts.auth.as_ref().map(Value::to_string).unwrap_or_default();
        let connect = format!("40{}{auth}", ns_prefix(&opts.ns));
        let _ = out_tx.send(connect);
        // namespace connect answer
        let sid = loop {
            let p = tokio::time::timeout(WAIT, in_rx.recv())
                .await
                .ok()
                .flatten()
                .flatten();
            let Some(p) = p else {
                return Err(ConnectError::Transport("closed before connect".into()));
            };
            if p == "2" {
                let _ = out_tx.send("3".into());
                continue;
            }
            if let Some(sp) = p.strip_prefix('4') {
                let (t, _, data) = parse_sio(sp);
                match t {
                    '0' => break data["sid"].as_str().unwrap_or_default().to_string(),
                    '4' => return Err(ConnectError::Refused(data)),
                    _ => continue,
                }
            }
        };
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let notify = Arc::new(Notify::new());
        let acks: Arc<Mutex<HashMap<u64, oneshot::Sender<Value>>>> = Arc::default();
        let (i2, n2, a2, o2) = (inbox.clone(), notify.clone(), acks.clone(), out_tx.clone());
        let reader = tokio::spawn(async move {
            while let Some(Some(p)) = in_rx.recv().await {
                if p == "2" {
                    let _ = o2.send("3".into());
                    continue;
                }
                let Some(sp) = p.strip_prefix('4') else {
                    continue;
                };
                let (t, id, data) = parse_sio(sp);
                match t {
                    '2' => {
                        let arr = data.as_array().cloned().unwrap_or_default();
                        let name = arr
                            .first()
                            .and_then(Value::as_str)
                            .unwrap_or_default()
                            .to_string();
                        let payload = arr.get(1).cloned().unwrap_or(Value::Null);
                        if let Ok(mut i) = i2.lock() {
                            i.events.push_back((name, payload));
                        }
                        n2.notify_waiters();
                    }
                    '3' => {
                        let arr = data.as_array().cloned().unwrap_or_default();
                        let v = arr.first().cloned().unwrap_or(Value::Null);
                        if let Some(tx) =
                            id.and_then(|id| a2.lock().ok().and_then(|mut m| m.remove(&id)))
                        {
                            let _ = tx.send(v);
                        }
                    }
                    '1' => break,
                    _ => {}
                }
            }
            if let Ok(mut i) = i2.lock() {
                i.closed = true;
            }
            n2.notify_waiters();
        });
        drop(task); // detached: the pump ends when the reader's channel closes
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

    fn packet(&self, kind: char, id: Option<u64>, data: &Value) -> String {
        let id = id.map(|i| i.to_string()).unwrap_or_default();
        format!("4{kind}{}{id}{data}", ns_prefix(&self.ns))
    }

    /// Emits an event without an ack.
    pub fn emit(&self, event: &str, data: Value) {
        let _ = self
            .out
            .send(self.packet('2', None, &Value::Array(vec![event.into(), data])));
    }

    /// Emits raw event arguments (e.g. none, or several) without an ack.
    pub fn emit_args(&self, args: Vec<Value>) {
        let _ = self.out.send(self.packet('2', None, &Value::Array(args)));
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
            .send(self.packet('2', Some(id), &Value::Array(vec![event.into(), data])));
        tokio::time::timeout(wait, rx).await.ok()?.ok()
    }

    /// Waits for the next `event` (events of other names stay queued).
    pub async fn next(&self, event: &str) -> Value {
        self.next_within(event, WAIT)
            .await
            .unwrap_or_else(|| panic!("no `{event}` event within {WAIT:?}"))
    }

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
        let _ = self.out.send("41".into());
    }
}

async fn ws_pump(
    ws: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
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

async fn poll_pump(
    http: reqwest::Client,
    url: String,
    headers: Vec<(String, String)>,
    mut out_rx: mpsc::UnboundedReceiver<String>,
    in_tx: mpsc::UnboundedSender<Option<String>>,
) {
    let (ptx, mut prx) = mpsc::unbounded_channel::<()>();
    // writer
    let (h2, u2, hd2) = (http.clone(), url.clone(), headers.clone());
    tokio::spawn(async move {
        while let Some(first) = out_rx.recv().await {
            let mut batch = vec![first];
            while let Ok(p) = out_rx.try_recv() {
                batch.push(p);
            }
            let mut rb = h2.post(&u2).body(batch.join("\u{1e}"));
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
                for p in body.split('\u{1e}') {
                    if p == "1" { stop = true; }
                    if in_tx.send(Some(p.to_string())).is_err() { stop = true; }
                }
                if stop { break; }
            }
        }
    }
    let _ = in_tx.send(None);
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
