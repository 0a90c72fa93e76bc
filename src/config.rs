//! Configuration: one flat clap struct; every field is also an environment variable and has a
//! default, so `cargo run` works with no configuration at all (SQLite file, port 4000).

use clap::{Args, Parser, Subcommand};

/// chatdesk: a support-desk chat server, socket.io-compatible.
#[derive(Debug, Parser)]
#[command(name = "chatdesk", version, about)]
pub struct Cli {
    #[command(flatten)]
    pub config: Config,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start the server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Manage staff accounts.
    Agent {
        #[command(subcommand)]
        command: crate::auth::cli::AgentCommand,
    },
}

/// Server configuration.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// TCP port to listen on (0 picks a free one).
    #[arg(long, env = "PORT", default_value_t = 4000)]
    pub port: u16,

    /// Address to bind.
    #[arg(long, env = "HOST", default_value = "0.0.0.0")]
    pub host: String,

    /// Database URL: `sqlite://path?mode=rwc` or `postgres://user@host/db`.
    /// Default: the SQLite file `chatdesk.db` in the working directory, created on first start.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://chatdesk.db?mode=rwc"
    )]
    pub database_url: String,

    /// Comma-separated list of allowed browser origins; empty or `*` allows every origin.
    #[arg(long, env = "CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,

    /// Take the client IP from `X-Forwarded-For` (only behind a proxy you trust): the entry
    /// appended by the outermost trusted proxy, never one the client wrote (see
    /// `TRUST_PROXY_HOPS`).
    #[arg(long, env = "TRUST_PROXY", default_value_t = false, action = clap::ArgAction::Set)]
    pub trust_proxy: bool,

    /// With `TRUST_PROXY`: how many proxies in front of chatdesk append to `X-Forwarded-For`
    /// (a load balancer alone: 1; a CDN then a load balancer: 2). The client address is the
    /// entry this many places from the right; entries further left are the client's own words.
    #[arg(long, env = "TRUST_PROXY_HOPS", default_value_t = 1)]
    pub trust_proxy_hops: usize,

    /// Broadcast a message to its sender too (the seed app does); `false` leaves the sender out.
    #[arg(long, env = "ECHO_TO_SENDER", default_value_t = true, action = clap::ArgAction::Set)]
    pub echo_to_sender: bool,

    /// Longest message content accepted, in characters.
    #[arg(long, env = "MAX_CONTENT_LENGTH", default_value_t = 10_000)]
    pub max_content_length: usize,

    /// Largest socket.io / engine.io packet, HTTP body or WebSocket message accepted, in bytes.
    #[arg(long, env = "MAX_PAYLOAD_BYTES", default_value_t = 256 * 1024)]
    pub max_payload_bytes: usize,

    /// Default and maximum page size of `GET /api/chats`.
    #[arg(long, env = "CHATS_PAGE_LIMIT", default_value_t = 50)]
    pub chats_page_limit: u64,

    /// Most messages returned by one history request (resume, `get_history`, REST).
    #[arg(long, env = "HISTORY_LIMIT", default_value_t = 500)]
    pub history_limit: u64,

    /// Most bytes of message content in one REST list response (`GET /api/chats`,
    /// `GET /api/chats/:sessionId`); past it the page ends early and its continuation header
    /// says where to go on. 8 unpaged reads of a 1,500-message session once took the server
    /// from 54 MB to 1.09 GB: a response's size must not depend on what a session holds.
    #[arg(long, env = "RESPONSE_MAX_BYTES", default_value_t = 1024 * 1024)]
    pub response_max_bytes: usize,

    /// Messages waiting to be stored before new sends get `overloaded`.
    #[arg(long, env = "WRITE_QUEUE_CAPACITY", default_value_t = 20_000)]
    pub write_queue_capacity: usize,

    /// Most messages stored in one transaction by the group-commit writer.
    #[arg(long, env = "WRITE_BATCH_MAX", default_value_t = 512)]
    pub write_batch_max: usize,

    /// Group-commit pipelines on PostgreSQL, each on its own connection; a session always
    /// uses the same one. SQLite always uses one. More than one lowers latency at moderate
    /// load, but smaller batches cost more CPU per message: on a small box that also runs
    /// the database, one does better near saturation (see README, Benchmark).
    #[arg(long, env = "WRITE_SHARDS", default_value_t = 1)]
    pub write_shards: usize,

    /// Packets one socket.io connection may have waiting to be sent. A client that falls
    /// further behind (it stopped reading, or its link is slower than its rooms) is
    /// disconnected, never silently skipped: it reconnects and resumes with `lastSeq`. Slots
    /// are allocated only while packets wait, so this costs an idle connection nothing.
    #[arg(long, env = "SOCKET_BUFFER_PACKETS", default_value_t = 1024)]
    pub socket_buffer_packets: usize,

    /// Per-session updates to agent consoles (`session_updated`, `visitor_presence`) are
    /// merged over this many milliseconds: a console gets at most one per session and
    /// window, whatever the desk's message rate (the first of a quiet session goes out at
    /// once). `0` sends every update as it happens.
    #[arg(long, env = "AGENT_UPDATE_MS", default_value_t = 250)]
    pub agent_update_ms: u64,

    /// How long a request may wait for a database connection, in milliseconds; past it the
    /// database counts as unreachable (answers `overloaded` / 503, and the breaker opens).
    #[arg(long, env = "DB_ACQUIRE_TIMEOUT_MS", default_value_t = 1000)]
    pub db_acquire_timeout_ms: u64,

    /// Queue positions are announced at most once per this many milliseconds (the latest
    /// position wins), and only to the sessions whose position changed. `0`: at once.
    #[arg(long, env = "QUEUE_UPDATE_MS", default_value_t = 250)]
    pub queue_update_ms: u64,

    /// Database connection pool size.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// Log filter (tracing EnvFilter syntax), e.g. `info`, `chatdesk=debug`.
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub rust_log: String,

    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: String,

    /// Legacy open mode: staff events and endpoints work without a token (old consoles). Unsafe.
    #[arg(long, env = "INSECURE_OPEN_ADMIN", default_value_t = false, action = clap::ArgAction::Set)]
    pub insecure_open_admin: bool,

    /// `off` switches every rate limit off (load benchmarks, or limiting at a proxy).
    #[arg(long, env = "RATE_LIMITS", default_value = "on")]
    pub rate_limits: String,

    /// Events one socket may send per second (sustained).
    #[arg(long, env = "SOCKET_EVENTS_PER_SEC", default_value_t = 20)]
    pub socket_events_per_sec: u32,

    /// Events one socket may send in a burst.
    #[arg(long, env = "SOCKET_EVENTS_BURST", default_value_t = 60)]
    pub socket_events_burst: u32,

    /// New connections per minute from one IP address (generous: offices share one NAT).
    #[arg(long, env = "CONNECTIONS_PER_MIN", default_value_t = 600)]
    pub connections_per_min: u32,

    /// Login attempts per minute from one IP address; a third of it per IP address and
    /// account. Past a third of it per account from all addresses together, attempts on that
    /// account are slowed down (up to 2 s each), never refused.
    #[arg(long, env = "LOGIN_ATTEMPTS_PER_MIN", default_value_t = 30)]
    pub login_attempts_per_min: u32,

    /// Customer registrations per hour from one IP address.
    #[arg(long, env = "REGISTRATIONS_PER_HOUR", default_value_t = 30)]
    pub registrations_per_hour: u32,

    /// New sessions per minute from one IP address (`init_session` that starts a
    /// conversation). 10 sockets once created 2,000 sessions in 7 s, each announced to
    /// every agent.
    #[arg(long, env = "SESSIONS_PER_IP_PER_MIN", default_value_t = 30)]
    pub sessions_per_ip_per_min: u32,

    /// New sessions one socket may create over its life.
    #[arg(long, env = "SESSIONS_PER_SOCKET", default_value_t = 5)]
    pub sessions_per_socket: u32,

    /// Secret that signs tokens (HS256), at least 32 bytes. Unset: generated once and kept in
    /// a file beside the SQLite database (or `chatdesk.jwt-secret` in the working directory).
    #[arg(long, env = "JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Token lifetime: `24h`, `30m`, `3600s` or seconds.
    #[arg(long, env = "JWT_EXPIRES_IN", default_value = "24h")]
    pub jwt_expires_in: String,

    /// Email of the first admin, created at start-up when no staff account exists.
    #[arg(long, env = "ADMIN_EMAIL")]
    pub admin_email: Option<String>,

    /// Password of that first admin.
    #[arg(long, env = "ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Secret for visitor identity verification (HMAC-SHA256 of the identifier, hex).
    #[arg(long, env = "VISITOR_HMAC_SECRET", hide_env_values = true)]
    pub visitor_hmac_secret: Option<String>,

    /// Give the oldest waiting session to the least busy online agent automatically.
    #[arg(long, env = "AUTO_ASSIGN", default_value_t = false, action = clap::ArgAction::Set)]
    pub auto_assign: bool,

    /// Most `assigned` sessions one agent gets from auto-assignment.
    #[arg(long, env = "MAX_CHATS_PER_AGENT", default_value_t = 5)]
    pub max_chats_per_agent: u32,

    /// Seconds after an agent's last socket closed before their sessions go back to the queue.
    #[arg(long, env = "AGENT_OFFLINE_GRACE_SECS", default_value_t = 30)]
    pub agent_offline_grace_secs: u64,

    /// Seconds after which an unrefreshed `typing: true` is turned off by the server.
    #[arg(long, env = "TYPING_TIMEOUT_SECS", default_value_t = 6)]
    pub typing_timeout_secs: u64,

    /// OpenAI-compatible API base (e.g. `https://api.openai.com/v1`, `http://localhost:8080/v1`).
    /// Set: the model answers (`AI_PROVIDER` unset means `openai`).
    #[arg(long, env = "AI_BASE_URL")]
    pub ai_base_url: Option<String>,

    /// API key sent as `Authorization: Bearer` (never logged).
    #[arg(long, env = "AI_API_KEY", hide_env_values = true)]
    pub ai_api_key: Option<String>,

    /// Model name.
    #[arg(long, env = "AI_MODEL", default_value = "gpt-4o-mini")]
    pub ai_model: String,

    /// System prompt: text, or `@path` to read it from a file.
    #[arg(
        long,
        env = "AI_SYSTEM_PROMPT",
        default_value = "You are a helpful customer-support assistant. Answer briefly. If the visitor asks for a human, or you cannot help, answer with [HANDOFF]."
    )]
    pub ai_system_prompt: String,

    /// How many earlier messages of the session are sent as context.
    #[arg(long, env = "AI_CONTEXT_MESSAGES", default_value_t = 20)]
    pub ai_context_messages: u64,

    /// Seconds to wait for the endpoint's answer and between streamed chunks.
    #[arg(long, env = "AI_TIMEOUT", default_value_t = 30)]
    pub ai_timeout_secs: u64,

    /// Retries (with backoff) of a failed request before escalating.
    #[arg(long, env = "AI_MAX_RETRIES", default_value_t = 2)]
    pub ai_max_retries: u32,

    /// Most generations running at once on this node.
    #[arg(long, env = "AI_MAX_CONCURRENCY", default_value_t = 8)]
    pub ai_max_concurrency: usize,

    /// Longest reply, in characters (the stream is cut there).
    #[arg(long, env = "AI_MAX_REPLY_CHARS", default_value_t = 4000)]
    pub ai_max_reply_chars: usize,

    /// A reply containing this marker hands the visitor over to a human (the marker is removed).
    #[arg(long, env = "AI_HANDOFF_MARKER", default_value = "[HANDOFF]")]
    pub ai_handoff_marker: String,

    /// What the visitor reads when the assistant cannot answer (the session then waits for a human).
    #[arg(
        long,
        env = "AI_FALLBACK_MESSAGE",
        default_value = "Sorry, our assistant is unavailable right now. A human agent will be with you shortly."
    )]
    pub ai_fallback_message: String,

    /// Which model answers visitors: `openai` (an OpenAI-compatible endpoint at
    /// `AI_BASE_URL`), `fastapi` (seed 001's AI service at `FASTAPI_URL`), or `none` (no model:
    /// auto-reply rules and knowledge-base articles only). Unset: `openai` when `AI_BASE_URL`
    /// is set, else `fastapi` when `FASTAPI_URL` is set, else `none`.
    #[arg(long, env = "AI_PROVIDER")]
    pub ai_provider: Option<String>,

    /// Seed 001's AI service (`POST {FASTAPI_URL}/api/v1/chat/ai-response`, streamed).
    #[arg(long, env = "FASTAPI_URL")]
    pub fastapi_url: Option<String>,

    /// Share (0 to 1) of a question's meaningful words an article must contain to be
    /// answered from (see `kb::index`).
    #[arg(long, env = "KB_MIN_MATCH", default_value_t = 0.5)]
    pub kb_min_match: f32,

    /// Most article passages given to the model with a question.
    #[arg(long, env = "KB_PASSAGES", default_value_t = 3)]
    pub kb_passages: usize,

    /// Length of a passage given to the model, in characters.
    #[arg(long, env = "KB_PASSAGE_CHARS", default_value_t = 600)]
    pub kb_passage_chars: usize,

    /// The address visitors reach this server at (`https://help.example.com`), put before
    /// article links in automatic answers; empty: links are paths (`/kb/:slug`).
    #[arg(long, env = "KB_PUBLIC_URL", default_value = "")]
    pub kb_public_url: String,

    /// What the visitor reads when no rule or article answers (the session then waits for a
    /// human).
    #[arg(
        long,
        env = "KB_NO_MATCH_MESSAGE",
        default_value = "I could not find an answer to that in our help articles. An agent will answer you here shortly."
    )]
    pub kb_no_match_message: String,

    /// Redis URL (`redis://host:6379`): several nodes share rooms and broadcasts through it.
    #[arg(long, env = "REDIS_URL", hide_env_values = true)]
    pub redis_url: Option<String>,

    /// Prefix of the Redis pub/sub channels (nodes of one desk share it).
    #[arg(long, env = "REDIS_PREFIX", default_value = "chatdesk")]
    pub redis_prefix: String,

    /// Socket.io transports offered: `polling,websocket` (default) or `websocket` (no sticky
    /// sessions needed behind a load balancer).
    #[arg(long, env = "TRANSPORTS", default_value = "polling,websocket")]
    pub transports: String,

    /// Seconds to wait for in-flight work at shutdown before closing sockets.
    #[arg(long, env = "SHUTDOWN_GRACE_SECS", default_value_t = 10)]
    pub shutdown_grace_secs: u64,

    /// Let visitors without a token use the plain WebSocket endpoint `/ws` (a new anonymous
    /// session, or the one named by `?sessionId=`). Off: `/ws` needs a customer token.
    #[arg(long, env = "WS_ALLOW_ANONYMOUS", default_value_t = false, action = clap::ArgAction::Set)]
    pub ws_allow_anonymous: bool,

    /// Seconds between WebSocket ping frames on `/ws` (keep-alive through proxies).
    #[arg(long, env = "WS_PING_INTERVAL_SECS", default_value_t = 25)]
    pub ws_ping_interval_secs: u64,

    /// Seconds without any frame from a `/ws` client (pong included) before it is dropped.
    #[arg(long, env = "WS_IDLE_TIMEOUT_SECS", default_value_t = 60)]
    pub ws_idle_timeout_secs: u64,

    /// Where attachments' bytes are kept: `database` (the default: in the database, shared by
    /// every node), `dir:<path>` (a directory; `dir` alone uses `ATTACHMENT_DIR`) or `s3` (an
    /// S3-compatible bucket, see `ATTACHMENT_S3_*`). Unset with `ATTACHMENT_DIR` set: `dir`.
    #[arg(long, env = "ATTACHMENT_STORE")]
    pub attachment_store: Option<String>,

    /// The directory of the `dir` attachment store (created if missing).
    #[arg(long, env = "ATTACHMENT_DIR")]
    pub attachment_dir: Option<String>,

    /// Largest attachment accepted, in bytes (10 MiB by default).
    #[arg(long, env = "MAX_ATTACHMENT_BYTES", default_value_t = 10 * 1024 * 1024)]
    pub max_attachment_bytes: u64,

    /// Most bytes of attachments one session may hold (100 MiB by default).
    #[arg(long, env = "ATTACHMENT_SESSION_QUOTA_BYTES", default_value_t = 100 * 1024 * 1024)]
    pub attachment_session_quota_bytes: u64,

    /// Uploads per minute from one IP address.
    #[arg(long, env = "ATTACHMENT_UPLOADS_PER_MIN", default_value_t = 30)]
    pub attachment_uploads_per_min: u32,

    /// Uploads per minute into one session.
    #[arg(
        long,
        env = "ATTACHMENT_UPLOADS_PER_SESSION_PER_MIN",
        default_value_t = 10
    )]
    pub attachment_uploads_per_session_per_min: u32,

    /// How long a browser may keep a downloaded attachment (`Cache-Control: private,
    /// max-age=`), in seconds.
    #[arg(long, env = "ATTACHMENT_CACHE_SECS", default_value_t = 86_400)]
    pub attachment_cache_secs: u64,

    /// The bucket of the `s3` attachment store.
    #[arg(long, env = "ATTACHMENT_S3_BUCKET")]
    pub attachment_s3_bucket: Option<String>,

    /// The S3-compatible endpoint (MinIO, R2, ...): `https://host[:port]`; unset: AWS.
    #[arg(long, env = "ATTACHMENT_S3_ENDPOINT")]
    pub attachment_s3_endpoint: Option<String>,

    /// The bucket's region (`us-east-1` when unset; most S3-compatible servers ignore it).
    #[arg(long, env = "ATTACHMENT_S3_REGION")]
    pub attachment_s3_region: Option<String>,

    /// Access key id (unset: `AWS_ACCESS_KEY_ID` and the other standard AWS settings).
    #[arg(long, env = "ATTACHMENT_S3_ACCESS_KEY_ID", hide_env_values = true)]
    pub attachment_s3_access_key_id: Option<String>,

    /// Secret access key (unset: `AWS_SECRET_ACCESS_KEY`).
    #[arg(long, env = "ATTACHMENT_S3_SECRET_ACCESS_KEY", hide_env_values = true)]
    pub attachment_s3_secret_access_key: Option<String>,

    /// A key prefix inside the bucket (e.g. `chatdesk/`).
    #[arg(long, env = "ATTACHMENT_S3_PREFIX", default_value = "")]
    pub attachment_s3_prefix: String,

    /// Allow a plain `http://` endpoint (a local MinIO); never for a bucket on the Internet.
    #[arg(long, env = "ATTACHMENT_S3_ALLOW_HTTP", default_value_t = false, action = clap::ArgAction::Set)]
    pub attachment_s3_allow_http: bool,

    /// Webhooks: how long one delivery may take (connect, send, answer), in milliseconds;
    /// past it the attempt failed ("timed out") and is retried.
    #[arg(long, env = "WEBHOOK_TIMEOUT_MS", default_value_t = 10_000)]
    pub webhook_timeout_ms: u64,

    /// Webhooks: the wait before the first retry, in milliseconds; each next wait doubles,
    /// up to `WEBHOOK_BACKOFF_MAX_MS`, and is drawn between half and all of that (jitter).
    #[arg(long, env = "WEBHOOK_BACKOFF_BASE_MS", default_value_t = 10_000)]
    pub webhook_backoff_base_ms: u64,

    /// Webhooks: the longest wait between two attempts, in milliseconds.
    #[arg(long, env = "WEBHOOK_BACKOFF_MAX_MS", default_value_t = 3_600_000)]
    pub webhook_backoff_max_ms: u64,

    /// Webhooks: how long a delivery is retried after its event, in seconds; an attempt that
    /// fails later marks it `failed` (a manual redelivery is one more attempt).
    #[arg(long, env = "WEBHOOK_RETRY_WINDOW_SECS", default_value_t = 86_400)]
    pub webhook_retry_window_secs: u64,

    /// Webhooks: endpoints this node delivers to at the same time (each endpoint gets one
    /// delivery at a time, in order).
    #[arg(long, env = "WEBHOOK_CONCURRENCY", default_value_t = 16)]
    pub webhook_concurrency: usize,

    /// Webhooks: deliveries of one endpoint a node claims at once and sends one after the
    /// other (fewer database round trips per delivery).
    #[arg(long, env = "WEBHOOK_BATCH", default_value_t = 100)]
    pub webhook_batch: usize,

    /// Webhooks: how often the delivery worker looks for due deliveries when nothing woke
    /// it (retries falling due, rows written by other nodes), in milliseconds.
    #[arg(long, env = "WEBHOOK_POLL_MS", default_value_t = 1_000)]
    pub webhook_poll_ms: u64,

    /// Webhooks: how often each node re-reads which events are subscribed, in seconds (a
    /// fallback: changes reach the other nodes through Redis at once).
    #[arg(long, env = "WEBHOOK_RELOAD_SECS", default_value_t = 30)]
    pub webhook_reload_secs: u64,

    /// Webhooks: allow endpoints on loopback, private, link-local and other non-public
    /// addresses. Off by default, so that an admin's URL cannot reach the desk's own network
    /// (SSRF); turn on for a receiver on the same host or LAN.
    #[arg(long, env = "WEBHOOK_ALLOW_PRIVATE", default_value_t = false, action = clap::ArgAction::Set)]
    pub webhook_allow_private: bool,
}

/// `TRUST_PROXY_HOPS` when it is not 1, carried in a request's extensions (set by
/// `edge::guard::guard`) to `edge::client::client_info`, which socket.io calls with the request alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedHops(pub usize);

impl Config {
    /// Configuration for tests: port 0, loopback, the given database.
    pub fn for_tests(database_url: &str) -> Self {
        let cli = Cli::parse_from(["chatdesk"]);
        Config {
            port: 0,
            host: "127.0.0.1".into(),
            database_url: database_url.to_string(),
            jwt_secret: Some(format!("test-secret-{}", uuid::Uuid::new_v4().simple())),
            ..cli.config
        }
    }

    /// The configured browser origins, or `None` when every origin is allowed.
    pub fn allowed_origins(&self) -> Option<Vec<String>> {
        let list: Vec<String> = self
            .cors_origins
            .split(',')
            .map(|s| s.trim().trim_end_matches('/').to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if list.is_empty() || list.iter().any(|o| o == "*") {
            None
        } else {
            Some(list)
        }
    }

    /// The socket.io transports offered.
    pub fn transport_names(&self) -> Vec<&'static str> {
        let t = self.transports.to_ascii_lowercase();
        let mut v = Vec::new();
        if t.contains("polling") {
            v.push("polling");
        }
        if t.contains("websocket") || v.is_empty() {
            v.push("websocket");
        }
        v
    }

    /// Whether rate limits apply (`RATE_LIMITS` is not `off`/`false`/`0`).
    pub fn rate_limits_enabled(&self) -> bool {
        !matches!(
            self.rate_limits.trim().to_ascii_lowercase().as_str(),
            "off" | "false" | "0" | "no"
        )
    }

    /// `JWT_EXPIRES_IN` as a duration (`24h`, `30m`, `45s`, `7d` or plain seconds).
    pub fn token_ttl(&self) -> Result<std::time::Duration, String> {
        parse_duration(&self.jwt_expires_in)
    }

    /// The database URL with any password replaced, for logs.
    pub fn database_url_redacted(&self) -> String {
        redact_url(&self.database_url)
    }
}

/// Parses `24h`, `30m`, `45s`, `7d` or a plain number of seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("not a duration: {s:?}"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        other => return Err(format!("unknown duration unit {other:?} in {s:?}")),
    };
    if secs == 0 {
        return Err("duration must be positive".into());
    }
    Ok(std::time::Duration::from_secs(secs))
}

/// Replaces the password of a URL (`scheme://user:secret@host`) with `***`.
pub fn redact_url(url: &str) -> String {
    let Some(scheme_end) = url.find("://") else {
        return url.to_string();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    match authority.rfind('@') {
        Some(at) => {
            let userinfo = &authority[..at];
            let user = userinfo.split(':').next().unwrap_or("");
            let masked = if userinfo.contains(':') {
                format!("{user}:***")
            } else {
                user.to_string()
            };
            format!("{}://{}{}", &url[..scheme_end], masked, &rest[at..])
        }
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_password_but_keeps_user_and_host() {
        assert_eq!(
            redact_url("postgres://bob:s3cret@db.example:5432/desk"),
            "postgres://bob:***@db.example:5432/desk"
        );
        assert_eq!(
            redact_url("postgres://bob@db/desk"),
            "postgres://bob@db/desk"
        );
        assert_eq!(
            redact_url("sqlite://chatdesk.db?mode=rwc"),
            "sqlite://chatdesk.db?mode=rwc"
        );
    }

    #[test]
    fn durations() {
        assert_eq!(
            parse_duration("24h"),
            Ok(std::time::Duration::from_secs(86_400))
        );
        assert_eq!(parse_duration("90"), Ok(std::time::Duration::from_secs(90)));
        assert_eq!(
            parse_duration("30m"),
            Ok(std::time::Duration::from_secs(1800))
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn origins_star_or_empty_mean_open() {
        let mut c = Config::for_tests("sqlite::memory:");
        assert_eq!(c.allowed_origins(), None);
        c.cors_origins = "*".into();
        assert_eq!(c.allowed_origins(), None);
        c.cors_origins = "https://a.example, https://b.example/".into();
        assert_eq!(
            c.allowed_origins(),
            Some(vec![
                "https://a.example".to_string(),
                "https://b.example".to_string()
            ])
        );
    }
}
