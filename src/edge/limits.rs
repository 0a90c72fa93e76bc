//! Abuse controls, with `governor`: per-socket event rate, per-IP connection rate, login
//! attempts (per IP, per IP and account, and a per-account slow-down), per-IP registrations,
//! new sessions per IP and per socket, attachment uploads per IP and per session.
//! Every refusal is answered (`rate_limited` with `retryAfterMs`, HTTP 429 with
//! `Retry-After`), never dropped silently. `RATE_LIMITS=off` switches all of them off at once.
//!
//! Login attempts are refused per IP and per (IP, account), never per account alone: that
//! would let anyone lock the real owner out with a few wrong passwords from elsewhere. An
//! account guessed at from many addresses is slowed down instead: past its budget, each
//! attempt waits (at most [`LOGIN_SLOWDOWN_MAX`]) before its password is checked.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultDirectRateLimiter, DefaultKeyedRateLimiter, Quota, RateLimiter};

use crate::config::Config;
use crate::error::{AppError, AppResult};

fn nz(n: u32) -> NonZeroU32 {
    NonZeroU32::new(n.max(1)).unwrap_or(NonZeroU32::MIN)
}

/// One socket's event budget (kept in the socket's extensions).
#[derive(Clone)]
pub struct SocketBudget(Option<Arc<DefaultDirectRateLimiter>>);

impl SocketBudget {
    /// Spends one event, or says how long to wait.
    pub fn check(&self) -> AppResult<()> {
        match &self.0 {
            None => Ok(()),
            Some(l) => l.check().map_err(|not_until| {
                crate::metrics::rate_limited("socket_event");
                retry(not_until.wait_time_from(DefaultClock::default().now()))
            }),
        }
    }
}

/// The longest an attempt on an account under attack waits before its password is checked.
pub const LOGIN_SLOWDOWN_MAX: Duration = Duration::from_secs(2);

fn retry(wait: Duration) -> AppError {
    AppError::RateLimited {
        retry_after_ms: (wait.as_millis() as u64).max(1),
    }
}

/// Every limiter of the server.
pub struct Limits {
    enabled: bool,
    socket_quota: Quota,
    /// socket.io event budgets by connection: keyed by the socket id, which a client keeps
    /// in every namespace it joins over one connection, so leaving and joining a namespace
    /// again does not refill the budget (a per-socket budget did: 600 events answered in
    /// 1.75 s against a limit of about 95).
    socket_events: RateLimiter<
        socketioxide::socket::Sid,
        governor::state::keyed::DefaultKeyedStateStore<socketioxide::socket::Sid>,
        DefaultClock,
    >,
    connections: DefaultKeyedRateLimiter<String>,
    login_by_ip: DefaultKeyedRateLimiter<String>,
    /// Refuses: one address guessing at one account.
    login_by_ip_account: DefaultKeyedRateLimiter<String>,
    /// Slows down (never refuses): one account guessed at from anywhere.
    login_by_account: DefaultKeyedRateLimiter<String>,
    registrations: DefaultKeyedRateLimiter<String>,
    /// New sessions per IP address.
    sessions_by_ip: DefaultKeyedRateLimiter<String>,
    /// Attempts to join a room by its code, per IP and per account (a 6-character code can
    /// be guessed: the same budget as logins).
    room_codes_by_ip: DefaultKeyedRateLimiter<String>,
    room_codes_by_account: DefaultKeyedRateLimiter<String>,
    /// New sessions per socket (each socket makes its limiter when it creates its first).
    socket_sessions_quota: Quota,
    /// Attachment uploads per IP address and per session.
    uploads_by_ip: DefaultKeyedRateLimiter<String>,
    uploads_by_session: DefaultKeyedRateLimiter<String>,
}

/// One socket's budget of new sessions.
pub struct SessionBudget(Option<DefaultDirectRateLimiter>);

impl Limits {
    pub fn new(c: &Config) -> Arc<Limits> {
        let socket_quota =
            Quota::per_second(nz(c.socket_events_per_sec)).allow_burst(nz(c.socket_events_burst));
        let per_min = |n: u32| Quota::per_minute(nz(n)).allow_burst(nz(n));
        Arc::new(Limits {
            enabled: c.rate_limits_enabled(),
            socket_quota,
            socket_events: RateLimiter::keyed(socket_quota),
            connections: RateLimiter::keyed(per_min(c.connections_per_min)),
            login_by_ip: RateLimiter::keyed(per_min(c.login_attempts_per_min)),
            login_by_ip_account: RateLimiter::keyed(per_min(c.login_attempts_per_min / 3)),
            login_by_account: RateLimiter::keyed(per_min(c.login_attempts_per_min / 3)),
            registrations: RateLimiter::keyed(
                Quota::per_hour(nz(c.registrations_per_hour))
                    .allow_burst(nz(c.registrations_per_hour)),
            ),
            sessions_by_ip: RateLimiter::keyed(per_min(c.sessions_per_ip_per_min)),
            room_codes_by_ip: RateLimiter::keyed(per_min(c.login_attempts_per_min)),
            room_codes_by_account: RateLimiter::keyed(per_min(c.login_attempts_per_min / 3)),
            socket_sessions_quota: per_min(c.sessions_per_socket),
            uploads_by_ip: RateLimiter::keyed(per_min(c.attachment_uploads_per_min)),
            uploads_by_session: RateLimiter::keyed(per_min(
                c.attachment_uploads_per_session_per_min,
            )),
        })
    }

    /// A fresh event budget for a new socket.
    pub fn socket_budget(&self) -> SocketBudget {
        SocketBudget(
            self.enabled
                .then(|| Arc::new(RateLimiter::direct(self.socket_quota))),
        )
    }

    fn check_key(
        &self,
        limiter: &DefaultKeyedRateLimiter<String>,
        key: &str,
        kind: &'static str,
    ) -> AppResult<()> {
        if !self.enabled {
            return Ok(());
        }
        limiter.check_key(&key.to_string()).map_err(|not_until| {
            crate::metrics::rate_limited(kind);
            retry(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// Spends one event of a socket.io connection's budget.
    pub fn socket_event(&self, sid: socketioxide::socket::Sid) -> AppResult<()> {
        if !self.enabled {
            return Ok(());
        }
        self.socket_events.check_key(&sid).map_err(|not_until| {
            crate::metrics::rate_limited("socket_event");
            retry(not_until.wait_time_from(DefaultClock::default().now()))
        })
    }

    /// A new connection (engine.io handshake) from `ip`.
    pub fn connection(&self, ip: &str) -> AppResult<()> {
        self.check_key(&self.connections, ip, "connection")
    }

    /// A login attempt from `ip` for `login` (email or username): refused when this address
    /// tried too often, delayed when the account is being tried too often from anywhere.
    pub async fn login(&self, ip: &str, login: &str) -> AppResult<()> {
        let account = login.trim().to_lowercase();
        self.check_key(&self.login_by_ip, ip, "login_ip")?;
        self.check_key(
            &self.login_by_ip_account,
            &format!("{ip} {account}"),
            "login_ip_account",
        )?;
        if !self.enabled {
            return Ok(());
        }
        if let Err(not_until) = self.login_by_account.check_key(&account) {
            crate::metrics::rate_limited("login_account_slowed");
            let wait = not_until.wait_time_from(DefaultClock::default().now());
            tokio::time::sleep(wait.min(LOGIN_SLOWDOWN_MAX)).await;
        }
        Ok(())
    }

    /// A use of the one-time set-up token from `ip` (counted with the login attempts).
    pub fn setup(&self, ip: &str) -> AppResult<()> {
        self.check_key(&self.login_by_ip, ip, "login_ip")
    }

    /// An attempt from `ip` by `account` to join a room by its code: refused past the login
    /// budget of the address, or a third of it for the account (from anywhere: unlike a
    /// login, nobody else can spend it).
    pub fn room_code(&self, ip: &str, account: &str) -> AppResult<()> {
        self.check_key(&self.room_codes_by_ip, ip, "room_code_ip")?;
        self.check_key(&self.room_codes_by_account, account, "room_code_account")
    }

    /// An attachment upload from `ip` into the session `session_pk`: refused past the
    /// address's budget or the session's (a visitor cannot fill another visitor's session,
    /// and many addresses together cannot flood one).
    pub fn upload(&self, ip: &str, session_pk: &str) -> AppResult<()> {
        self.check_key(&self.uploads_by_ip, ip, "upload_ip")?;
        self.check_key(&self.uploads_by_session, session_pk, "upload_session")
    }

    /// A registration from `ip`.
    pub fn registration(&self, ip: &str) -> AppResult<()> {
        self.check_key(&self.registrations, ip, "registration")
    }

    /// A fresh budget of new sessions for a socket.
    pub fn session_budget(&self) -> SessionBudget {
        SessionBudget(
            self.enabled
                .then(|| RateLimiter::direct(self.socket_sessions_quota)),
        )
    }

    /// A new session from `ip` by a socket with `budget` (the plain WebSocket has none: one
    /// session per connection). The socket's own budget is spent first, so that a socket
    /// over it does not use up its address's.
    pub fn new_session(&self, ip: &str, budget: Option<&SessionBudget>) -> AppResult<()> {
        if !self.enabled {
            return Ok(());
        }
        if let Some(SessionBudget(Some(l))) = budget {
            l.check().map_err(|not_until| {
                crate::metrics::rate_limited("session_socket");
                retry(not_until.wait_time_from(DefaultClock::default().now()))
            })?;
        }
        self.check_key(&self.sessions_by_ip, ip, "session_ip")
    }

    /// Forgets idle keys (called periodically so memory stays bounded).
    pub fn sweep(&self) {
        self.connections.retain_recent();
        self.socket_events.retain_recent();
        self.login_by_ip.retain_recent();
        self.login_by_ip_account.retain_recent();
        self.login_by_account.retain_recent();
        self.registrations.retain_recent();
        self.sessions_by_ip.retain_recent();
        self.room_codes_by_ip.retain_recent();
        self.room_codes_by_account.retain_recent();
        self.uploads_by_ip.retain_recent();
        self.uploads_by_session.retain_recent();
    }
}
