//! The wire format: engine.io v4 packets carrying socket.io v5 packets as text, and the
//! handshake URL. An engine.io packet is a type digit and a body (`0` open, `1` close, `2` ping,
//! `3` pong, `4` message); a message carries a socket.io packet: a type digit (`0` connect,
//! `1` disconnect, `2` event, `3` ack, `4` connect error), the namespace unless it is `/`
//! (`/admin,`), the ack id if any, then JSON. So `42/admin,7["list_sessions",{}]` is an event
//! with ack id 7 on `/admin`, and `43[{"ok":true}]` is the answer to ack id 0 on `/`.

use serde::Serialize;
use serde_json::Value;

/// The engine.io ping the server sends; the client answers [`PONG`].
pub const PING: &str = "2";
/// The client's answer to [`PING`].
pub const PONG: &str = "3";
/// Separates the packets of one HTTP long-polling body.
pub const RECORD_SEPARATOR: char = '\u{1e}';

/// How a connection carries its packets.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Transport {
    WebSocket,
    Polling,
}

/// The handshake URL of the server at `base` (`http://host:port`): `/socket.io/` with
/// `EIO=4`, the transport and `query`; `ws://` for WebSocket.
pub fn handshake_url(base: &str, transport: Transport, query: &[(String, String)]) -> String {
    let (base, name) = match transport {
        Transport::WebSocket => (base.replacen("http", "ws", 1), "websocket"),
        Transport::Polling => (base.to_string(), "polling"),
    };
    let mut url = format!("{base}/socket.io/?EIO=4&transport={name}");
    for (k, v) in query {
        url.push('&');
        url.push_str(k);
        url.push('=');
        url.push_str(&urlencode(v));
    }
    url
}

/// One engine.io packet, borrowed from its text frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Packet<'a> {
    /// `0{"sid":..,"pingInterval":..}`: the engine.io handshake, its JSON.
    Open(&'a str),
    /// `1`: the server closes the transport.
    Close,
    /// `2`: answer with [`PONG`].
    Ping,
    /// `3`.
    Pong,
    /// `4...`: a socket.io packet.
    Message(SioPacket<'a>),
    /// Anything else (upgrade, noop, an empty frame).
    Other(&'a str),
}

/// The type of a socket.io packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SioKind {
    Connect,
    Disconnect,
    Event,
    Ack,
    ConnectError,
    BinaryEvent,
    BinaryAck,
    Unknown,
}

/// One socket.io packet, borrowed from its frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SioPacket<'a> {
    pub kind: SioKind,
    /// `/` or the namespace the packet names (`/admin`).
    pub ns: &'a str,
    pub ack: Option<u64>,
    /// The JSON after the header (arguments of an event or ack, connect data), maybe empty.
    pub data: &'a str,
}

impl<'a> Packet<'a> {
    /// Reads one engine.io text packet.
    pub fn parse(text: &'a str) -> Packet<'a> {
        let Some(first) = text.as_bytes().first() else {
            return Packet::Other(text);
        };
        let body = &text[1..];
        match first {
            b'0' => Packet::Open(body),
            b'1' => Packet::Close,
            b'2' => Packet::Ping,
            b'3' => Packet::Pong,
            b'4' => Packet::Message(SioPacket::parse(body)),
            _ => Packet::Other(text),
        }
    }
}

impl<'a> SioPacket<'a> {
    /// Reads a socket.io packet (the engine.io `4` already removed).
    pub fn parse(p: &'a str) -> SioPacket<'a> {
        let kind = match p.as_bytes().first() {
            Some(b'0') => SioKind::Connect,
            Some(b'1') => SioKind::Disconnect,
            Some(b'2') => SioKind::Event,
            Some(b'3') => SioKind::Ack,
            Some(b'4') => SioKind::ConnectError,
            Some(b'5') => SioKind::BinaryEvent,
            Some(b'6') => SioKind::BinaryAck,
            _ => SioKind::Unknown,
        };
        let mut rest = p.get(1..).unwrap_or_default();
        let mut ns = "/";
        if rest.starts_with('/') {
            (ns, rest) = match rest.find(',') {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (rest, ""),
            };
        }
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let ack = rest[..digits].parse().ok();
        SioPacket {
            kind,
            ns,
            ack,
            data: &rest[digits..],
        }
    }

    /// The data as JSON; `Null` when there is none or it does not parse.
    pub fn value(&self) -> Value {
        if self.data.is_empty() {
            return Value::Null;
        }
        serde_json::from_str(self.data).unwrap_or(Value::Null)
    }

    /// The event name of an event packet, read without parsing the arguments (names with
    /// escaped characters are not recognised).
    pub fn event_name(&self) -> Option<&'a str> {
        if self.kind != SioKind::Event {
            return None;
        }
        let name = self.data.strip_prefix("[\"")?;
        let end = name.find('"')?;
        (!name[..end].contains('\\')).then(|| &name[..end])
    }
}

/// `ns,` for a namespace other than `/`, else nothing.
fn ns_prefix(ns: &str) -> &str {
    if ns.is_empty() || ns == "/" {
        ""
    } else {
        ns
    }
}

fn header(kind: char, ns: &str, ack: Option<u64>) -> String {
    let ns = ns_prefix(ns);
    let mut out = String::with_capacity(64);
    out.push('4');
    out.push(kind);
    if !ns.is_empty() {
        out.push_str(ns);
        out.push(',');
    }
    if let Some(id) = ack {
        out.push_str(&id.to_string());
    }
    out
}

/// Connect to `ns`, with the handshake `auth` if any: `40`, `40/admin,{"token":..}`.
pub fn connect(ns: &str, auth: Option<&Value>) -> String {
    let mut out = header('0', ns, None);
    if let Some(auth) = auth {
        out.push_str(&auth.to_string());
    }
    out
}

/// Leave `ns`: `41`, `41/admin,`.
pub fn disconnect(ns: &str) -> String {
    header('1', ns, None)
}

/// An event on `ns` whose arguments are `args` serialised as a JSON array (a tuple such as
/// `("init_session", payload)`, or a `Vec<Value>`), asking for an ack when `ack` is given.
pub fn event(ns: &str, ack: Option<u64>, args: &impl Serialize) -> String {
    let mut out = header('2', ns, ack);
    // Writing JSON into a String cannot fail for these types; an unserialisable value
    // (a map with non-string keys) is a bug in the caller.
    let json = serde_json::to_string(args).expect("event arguments serialise to JSON");
    out.push_str(&json);
    out
}

/// Percent-encodes a query value.
pub fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_event_with_an_ack_on_a_namespace_reads_back() {
        let text = event("/admin", Some(7), &("list_sessions", json!({})));
        assert_eq!(text, r#"42/admin,7["list_sessions",{}]"#);
        let Packet::Message(p) = Packet::parse(&text) else {
            panic!("not a message: {text}");
        };
        assert_eq!(
            (p.kind, p.ns, p.ack, p.event_name()),
            (SioKind::Event, "/admin", Some(7), Some("list_sessions"))
        );
        assert_eq!(p.value(), json!(["list_sessions", {}]));
    }

    #[test]
    fn an_ack_on_the_main_namespace_reads_back() {
        let Packet::Message(p) = Packet::parse(r#"430[{"ok":true}]"#) else {
            panic!("not a message");
        };
        assert_eq!((p.kind, p.ns, p.ack), (SioKind::Ack, "/", Some(0)));
        assert_eq!(p.data, r#"[{"ok":true}]"#);
    }

    #[test]
    fn connect_and_disconnect_name_the_namespace_unless_it_is_the_main_one() {
        assert_eq!(connect("/", None), "40");
        assert_eq!(
            connect("", Some(&json!({"token": "t"}))),
            r#"40{"token":"t"}"#
        );
        assert_eq!(connect("/admin", None), "40/admin,");
        assert_eq!(disconnect("/admin"), "41/admin,");
        assert_eq!(disconnect("/"), "41");
    }

    #[test]
    fn engine_io_packets_are_told_apart() {
        assert_eq!(Packet::parse("2"), Packet::Ping);
        assert_eq!(Packet::parse("1"), Packet::Close);
        assert_eq!(
            Packet::parse(r#"0{"sid":"a"}"#),
            Packet::Open(r#"{"sid":"a"}"#)
        );
        assert_eq!(Packet::parse(""), Packet::Other(""));
    }

    #[test]
    fn the_handshake_url_carries_the_transport_and_the_query() {
        let q = [("token".to_string(), "a b".to_string())];
        assert_eq!(
            handshake_url("http://127.0.0.1:4000", Transport::WebSocket, &q),
            "ws://127.0.0.1:4000/socket.io/?EIO=4&transport=websocket&token=a%20b"
        );
        assert_eq!(
            handshake_url("http://127.0.0.1:4000", Transport::Polling, &[]),
            "http://127.0.0.1:4000/socket.io/?EIO=4&transport=polling"
        );
    }
}
