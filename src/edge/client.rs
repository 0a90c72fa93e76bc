//! Who is on the other end of a request or connection: the client's address (behind trusted
//! proxies, from `X-Forwarded-For`) and its `User-Agent`, for REST, socket.io and `/ws` alike.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;

/// Who is on the other end of a connection, as far as the network tells.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl ClientInfo {
    /// From the handshake request: the peer address (or the first `X-Forwarded-For` entry
    /// when the proxy is trusted) and the `User-Agent` header.
    pub fn from_parts(parts: &http::request::Parts, trust_proxy: bool) -> Self {
        client_info(&parts.headers, &parts.extensions, trust_proxy)
    }
}

/// As an extractor: any REST handler can take the client's address and user agent.
impl axum::extract::FromRequestParts<crate::state::AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;
    async fn from_request_parts(
        parts: &mut http::request::Parts,
        state: &crate::state::AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self::from_parts(parts, state.config.trust_proxy))
    }
}

/// Client info from request headers and extensions (shared by REST and sockets).
///
/// Behind trusted proxies the client address is the `X-Forwarded-For` entry that the
/// outermost trusted proxy appended: every proxy appends the address it received the request
/// from, so whatever stands left of that entry was written by the client and proves nothing
/// (a client choosing its own address would dodge every per-IP limit). With N trusted hops
/// (`TRUST_PROXY_HOPS`, put in the request's extensions by `edge::guard`; 1 when absent) that
/// is the N-th entry from the right; when there are fewer entries, the leftmost one.
pub fn client_info(
    headers: &http::HeaderMap,
    ext: &http::Extensions,
    trust_proxy: bool,
) -> ClientInfo {
    let hops = ext
        .get::<crate::config::TrustedHops>()
        .map_or(1, |h| h.0.max(1));
    let forwarded = trust_proxy
        .then(|| {
            // Several header lines are one list, in order (RFC 9110, 5.3).
            let entries: Vec<&str> = headers
                .get_all("x-forwarded-for")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .flat_map(|v| v.split(','))
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .collect();
            let chosen = entries
                .len()
                .checked_sub(hops)
                .map_or(entries.first(), |i| entries.get(i));
            chosen.map(|v| v.to_string())
        })
        .flatten();
    let peer = ext
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip().to_canonical().to_string());
    ClientInfo {
        ip: forwarded.or(peer),
        user_agent: headers
            .get(http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(512).collect()),
    }
}
