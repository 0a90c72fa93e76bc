//! A plain WebSocket test client (tokio-tungstenite) for the gateway's dialects: JSON text
//! messages in and out, waiting by `type`.

use std::collections::VecDeque;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::Message;

pub const WAIT: Duration = Duration::from_secs(10);

type Stream =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A plain WebSocket client: JSON messages in, JSON messages out, pings answered by
/// tungstenite while reading. Messages of other types wait in an inbox.
pub struct Ws {
    pub ws: Stream,
    /// Whether every server message must carry `timestamp` (the `/ws` dialect's rule).
    pub stamped: bool,
    pub inbox: VecDeque<Value>,
    close: Option<Option<CloseFrame>>,
}

/// Why a connection was refused: the HTTP status and the JSON body.
#[derive(Debug)]
pub struct Refused {
    pub status: u16,
    pub body: Value,
}

impl Ws {
    pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<Ws, Refused> {
        let mut req = url.into_client_request().expect("request");
        for (k, v) in headers {
            req.headers_mut().insert(
                http::HeaderName::from_bytes(k.as_bytes()).expect("header name"),
                v.parse().expect("header value"),
            );
        }
        match tokio_tungstenite::connect_async(req).await {
            Ok((ws, _)) => Ok(Ws {
                ws,
                stamped: true,
                inbox: VecDeque::new(),
                close: None,
            }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let body = resp
                    .body()
                    .as_deref()
                    .and_then(|b| serde_json::from_slice(b).ok())
                    .unwrap_or(Value::Null);
                Err(Refused {
                    status: resp.status().as_u16(),
                    body,
                })
            }
            Err(e) => panic!("connect {url}: {e}"),
        }
    }

    pub async fn connect(url: &str) -> Ws {
        Ws::try_connect(url, &[]).await.expect("connects")
    }

    pub async fn send(&mut self, v: Value) {
        self.send_text(&v.to_string()).await;
    }

    pub async fn send_text(&mut self, text: &str) {
        self.ws
            .send(Message::Text(text.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_binary(&mut self, bytes: Vec<u8>) {
        self.ws
            .send(Message::Binary(bytes.into()))
            .await
            .expect("send");
    }

    /// The next JSON message, or `None` at the deadline or when the connection closed.
    pub async fn read(&mut self, deadline: tokio::time::Instant) -> Option<Value> {
        loop {
            if self.close.is_some() {
                return None;
            }
            let frame = tokio::time::timeout_at(deadline, self.ws.next())
                .await
                .ok()?;
            match frame {
                Some(Ok(Message::Text(t))) => {
                    let v: Value = serde_json::from_str(t.as_str()).expect("server sends JSON");
                    if self.stamped {
                        assert_timestamp(&v);
                    }
                    return Some(v);
                }
                Some(Ok(Message::Close(frame))) => self.close = Some(frame),
                None | Some(Err(_)) => self.close = Some(None),
                Some(Ok(_)) => {}
            }
        }
    }

    /// Waits for the next message of type `ty` (others stay queued).
    pub async fn next(&mut self, ty: &str) -> Value {
        self.next_within(ty, WAIT)
            .await
            .unwrap_or_else(|| panic!("no `{ty}` within {WAIT:?}; queued: {:?}", self.inbox))
    }

    pub async fn next_within(&mut self, ty: &str, wait: Duration) -> Option<Value> {
        if let Some(i) = self.inbox.iter().position(|m| m["type"] == ty) {
            return self.inbox.remove(i);
        }
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let m = self.read(deadline).await?;
            if m["type"] == ty {
                return Some(m);
            }
            self.inbox.push_back(m);
        }
    }

    /// The next message, whatever its type.
    pub async fn next_any(&mut self) -> Value {
        if let Some(m) = self.inbox.pop_front() {
            return m;
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        self.read(deadline).await.expect("a message")
    }

    /// Waits until the server closes the connection; the close frame, if it sent one.
    pub async fn closed(&mut self) -> Option<CloseFrame> {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.close.is_none() {
            if let Some(m) = self.read(deadline).await {
                self.inbox.push_back(m);
            } else {
                assert!(self.close.is_some(), "still open after {WAIT:?}");
            }
        }
        self.close.clone().flatten()
    }
}

/// Every server message carries `timestamp`, RFC 3339 UTC with milliseconds.
pub fn assert_timestamp(v: &Value) {
    let ts = v["timestamp"]
        .as_str()
        .unwrap_or_else(|| panic!("no timestamp: {v}"));
    assert!(
        chrono::DateTime::parse_from_rfc3339(ts).is_ok() && ts.ends_with('Z') && ts.len() == 24,
        "timestamp {ts:?} in {v}"
    );
}
