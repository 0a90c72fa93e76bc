//! Test harness: every test gets its own database (a fresh SQLite file or a fresh
//! PostgreSQL database) and a real server on 127.0.0.1:0, and talks to it over real
//! HTTP and the real socket.io wire protocol.
#![allow(dead_code)]

/// The socket.io client (the `testkit` crate, shared with the load bench), as `common::sio`.
pub use testkit as sio;
pub mod fake_model;
pub mod ws;

use std::time::Duration;

use chatdesk::{App, Config};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use testkit::{ConnectOpts, SioClient, Transport};

/// The database backends every scenario runs on.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Server URL of PostgreSQL for tests (`TEST_POSTGRES_URL`, default trust auth on loopback).
pub fn postgres_base() -> String {
    std::env::var("TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

/// A fresh, empty database URL for one test.
pub async fn fresh_database(backend: Backend) -> (String, Option<tempfile::TempDir>) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.path().join("test.db").display());
            (url, Some(dir))
        }
        Backend::Postgres => {
            use sea_orm::{ConnectionTrait, Database};
            let base = postgres_base();
            let name = format!("chatdesk_test_{}", uuid::Uuid::new_v4().simple());
            let admin = Database::connect(format!("{base}/postgres"))
                .await
                .unwrap_or_else(|e| panic!("PostgreSQL at {base} is required for this test (run the README's test command, which starts it): {e}"));
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await
                .expect("create test database");
            let _ = admin.close().await;
            (format!("{base}/{name}"), None)
        }
    }
}

/// A running server.
pub struct TestApp {
    pub url: String,
    pub port: u16,
    pub db_url: String,
    pub backend: Backend,
    pub http: reqwest::Client,
    shutdown: CancellationToken,
    handle: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    _dir: Option<tempfile::TempDir>,
    jwt_secret: Option<String>,
    /// The server's own connection pool, and whether dropping this handle closes it (see
    /// [`TestApp::closing_its_pool_on_drop`]).
    server_db: Option<sea_orm::DatabaseConnection>,
    close_pool_on_drop: bool,
}

/// The admin every test server is started with (`ADMIN_EMAIL` / `ADMIN_PASSWORD`): public
/// registration only ever creates customers, so a desk's first admin comes from there.
pub const ADMIN_EMAIL: &str = "admin@desk.test";
pub const ADMIN_PASSWORD: &str = "admin-password";

/// The configuration of a test server on `db_url`: `Config::for_tests` and the test admin.
pub fn test_config(db_url: &str) -> Config {
    let mut config = Config::for_tests(db_url);
    config.admin_email = Some(ADMIN_EMAIL.into());
    config.admin_password = Some(ADMIN_PASSWORD.into());
    config
}

/// Starts a server on a fresh database with default settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts another server on an existing database (a second node).
pub async fn start_on(db_url: &str, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let mut config = test_config(db_url);
    tweak(&mut config);
    let backend = if db_url.starts_with("sqlite") {
        Backend::Sqlite
    } else {
        Backend::Postgres
    };
    start(config, backend, db_url.to_string(), None).await
}

/// The Redis the cluster tests use.
pub fn redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// A TCP port nothing listens on now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port()
}

/// A private Redis server this test may stop and start.
pub struct OwnRedis {
    child: Option<std::process::Child>,
}

impl OwnRedis {
    /// Starts `redis-server` on `port` (no persistence) and waits until it accepts connections.
    pub fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server on PATH (the test command installs it)");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        OwnRedis { child: Some(child) }
    }
    /// Kills it (SIGKILL): its clients' connections drop at once.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Two nodes sharing a fresh PostgreSQL database and a Redis prefix of their own, both with
/// settings adjusted by `tweak`.
#[allow(dead_code)]
pub async fn two_nodes(tweak: impl Fn(&mut Config) + Clone + Send + 'static) -> (TestApp, TestApp) {
    let prefix = format!("chatdesk-test-{}", uuid::Uuid::new_v4().simple());
    let secret = format!("cluster-secret-{}", uuid::Uuid::new_v4().simple());
    let (p1, s1, t1) = (prefix.clone(), secret.clone(), tweak.clone());
    let a = spawn_app_with(Backend::Postgres, move |c| {
        c.redis_url = Some(redis_url());
        c.redis_prefix = p1;
        c.jwt_secret = Some(s1);
        c.rate_limits = "off".into();
        t1(c);
    })
    .await;
    let b = start_on(&a.db_url, move |c| {
        c.redis_url = Some(redis_url());
        c.redis_prefix = prefix;
        c.jwt_secret = Some(secret);
        c.rate_limits = "off".into();
        tweak(c);
    })
    .await;
    (a, b)
}

/// Starts a server on a fresh database, with settings adjusted by `tweak`.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (db_url, dir) = fresh_database(backend).await;
    let mut config = test_config(&db_url);
    tweak(&mut config);
    start(config, backend, db_url, dir).await
}

async fn start(
    config: Config,
    backend: Backend,
    db_url: String,
    dir: Option<tempfile::TempDir>,
) -> TestApp {
    let jwt_secret = config.jwt_secret.clone();
    let app = App::build(config).await.expect("server builds");
    let server_db = Some(app.state().db.clone());
    let port = app.port();
    let shutdown = app.shutdown_token();
    let handle = tokio::spawn(app.run_until_stopped());
    TestApp {
        url: format!("http://127.0.0.1:{port}"),
        port,
        db_url,
        backend,
        http: reqwest::Client::new(),
        shutdown,
        handle: Some(handle),
        _dir: dir,
        jwt_secret,
        server_db,
        close_pool_on_drop: false,
    }
}

impl TestApp {
    /// A handle on a server started elsewhere (e.g. the real binary in a child process).
    pub fn remote(url: &str) -> TestApp {
        let port = url
            .rsplit(':')
            .next()
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        TestApp {
            url: url.trim_end_matches('/').to_string(),
            port,
            db_url: String::new(),
            backend: Backend::Sqlite,
            http: reqwest::Client::new(),
            shutdown: CancellationToken::new(),
            handle: None,
            _dir: None,
            jwt_secret: None,
            server_db: None,
            close_pool_on_drop: false,
        }
    }

    /// Stops the server gracefully and waits until it has stopped.
    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(h) = self.handle.take() {
            let _ = tokio::time::timeout(Duration::from_secs(30), h).await;
        }
    }

    /// Stops this server and starts a new one on the same database.
    pub async fn restart(mut self, tweak: impl FnOnce(&mut Config)) -> TestApp {
        self.stop().await;
        let mut config = test_config(&self.db_url);
        config.jwt_secret = self.jwt_secret.clone();
        tweak(&mut config);
        let dir = self._dir.take();
        start(config, self.backend, self.db_url.clone(), dir).await
    }

    pub async fn socket(&self) -> SioClient {
        self.socket_with(Transport::WebSocket, ConnectOpts::default())
            .await
    }

    pub async fn socket_with(&self, t: Transport, opts: ConnectOpts) -> SioClient {
        SioClient::connect(&self.url, t, opts)
            .await
            .expect("socket connects")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET")
    }

    pub async fn get_json(&self, path: &str) -> Value {
        let r = self.get(path).await;
        assert!(r.status().is_success(), "GET {path} -> {}", r.status());
        r.json().await.expect("json body")
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> reqwest::Response {
        let mut rb = self.http.post(format!("{}{path}", self.url)).json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        rb.send().await.expect("POST")
    }

    /// Registers a customer account and returns its token.
    pub async fn register(&self, email: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/auth/register",
                None,
                json!({ "email": email, "password": password, "name": email }),
            )
            .await;
        assert_eq!(r.status(), 201, "register {email}");
        let v: Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// Logs in and returns the token.
    pub async fn login(&self, login: &str, password: &str) -> String {
        let r = self
            .post(
                "/api/auth/login",
                None,
                json!({ "email": login, "password": password }),
            )
            .await;
        assert_eq!(r.status(), 200, "login {login}");
        let v: Value = r.json().await.expect("json");
        v["token"].as_str().expect("token").to_string()
    }

    /// The token of the admin the server was started with ([`ADMIN_EMAIL`]).
    pub async fn admin_token(&self) -> String {
        self.login(ADMIN_EMAIL, ADMIN_PASSWORD).await
    }

    /// A staff account of `role` ("agent" or "admin"), created by the admin; returns its token.
    pub async fn staff_token(&self, email: &str, role: &str) -> String {
        let admin = self.admin_token().await;
        let r = self.post("/api/agents", Some(&admin), json!({ "email": email, "name": email, "role": role, "password": "staff-password" })).await;
        assert_eq!(r.status(), 201, "create {role} {email}");
        self.login(email, "staff-password").await
    }

    /// A socket on `ns` authenticated with `token` (handshake `auth: {token}`).
    pub async fn socket_as(&self, ns: &str, token: &str) -> SioClient {
        let opts = ConnectOpts {
            ns: ns.into(),
            auth: Some(json!({ "token": token })),
            ..Default::default()
        };
        self.socket_with(Transport::WebSocket, opts).await
    }

    /// A socket on "/" authenticated as the admin.
    pub async fn staff_socket(&self) -> SioClient {
        let token = self.admin_token().await;
        self.socket_as("/", &token).await
    }

    /// The token signing secret of this server.
    pub fn jwt_secret(&self) -> String {
        self.jwt_secret.clone().unwrap_or_default()
    }

    /// Tries to connect; returns the refusal instead of panicking.
    pub async fn try_socket(&self, opts: ConnectOpts) -> Result<SioClient, sio::ConnectError> {
        SioClient::connect(&self.url, Transport::WebSocket, opts).await
    }

    /// Opens a new session on `s` and returns its id.
    pub async fn open_session(&self, s: &SioClient) -> String {
        let ack = s.ack("init_session", json!({ "sessionId": null })).await;
        ack["sessionId"]
            .as_str()
            .expect("sessionId in ack")
            .to_string()
    }

    /// The stored messages of a session, over REST: every page, following `X-Next-After`.
    pub async fn history(&self, session_id: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut path = format!("/api/chats/{session_id}");
        for _ in 0..10_000 {
            let r = self.get(&path).await;
            assert!(r.status().is_success(), "GET {path} -> {}", r.status());
            let next = r
                .headers()
                .get("x-next-after")
                .and_then(|v| v.to_str().ok())
                .map(String::from);
            let page: Value = r.json().await.expect("json body");
            all.extend(page.as_array().cloned().unwrap_or_default());
            match next {
                Some(after) => path = format!("/api/chats/{session_id}?afterSeq={after}"),
                None => break,
            }
        }
        all
    }
}

impl TestApp {
    /// The stored messages of a session, over REST as `token` (a customer's session is
    /// readable by that customer and by staff only).
    pub async fn history_as(&self, session_id: &str, token: &str) -> Vec<Value> {
        let r = self
            .http
            .get(format!("{}/api/chats/{session_id}", self.url))
            .bearer_auth(token)
            .send()
            .await
            .expect("GET");
        assert!(r.status().is_success(), "GET history -> {}", r.status());
        r.json::<Value>()
            .await
            .expect("json body")
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

/// An argon2id hash of `password` with the smallest parameters argon2 allows (8 KiB, one
/// pass). The server verifies a login against the parameters stored in the hash, so an account
/// stored with it logs in within a millisecond, where the default parameters cost about 0.35 s
/// of CPU per hash and per login in a debug build (most of the CPU time of a suite that creates
/// a few staff accounts per test on two cores).
pub fn quick_password_hash(password: &str) -> String {
    use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
    let params = argon2::Params::new(argon2::Params::MIN_M_COST, 1, 1, None).expect("params");
    argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .expect("argon2 hash")
        .to_string()
}

impl TestApp {
    /// Stores an account of `role` (`admin`, `agent` or `customer`) named `name`, with a
    /// [`quick_password_hash`] of `password`, through the same `auth::service::create` that
    /// `POST /api/agents` and `ADMIN_EMAIL` use; returns its id. For suites that need staff
    /// accounts but do not test how they are made (`tests/auth.rs` does).
    pub async fn store_account(
        &self,
        email: &str,
        name: &str,
        role: &str,
        password: &str,
    ) -> String {
        use chatdesk::auth::{service, Role};
        let role = match role {
            "admin" => Role::Admin,
            "agent" => Role::Agent,
            "customer" => Role::Customer,
            other => panic!("unknown role {other}"),
        };
        let db = sea_orm::Database::connect(&self.db_url)
            .await
            .expect("connect to the test database");
        let account = service::create(
            &db,
            service::NewAccount {
                email: Some(email.into()),
                username: None,
                name: name.into(),
                role,
                password_hash: quick_password_hash(password),
            },
        )
        .await
        .unwrap_or_else(|e| panic!("store account {email}: {e}"));
        let _ = db.close().await;
        account.id
    }

    /// A staff account of `role` ("agent" or "admin") stored with [`Self::store_account`] (name =
    /// email, as [`Self::staff_token`] makes it), logged in over REST; returns its token.
    pub async fn quick_staff_token(&self, email: &str, role: &str) -> String {
        self.store_account(email, email, role, "staff-password")
            .await;
        self.login(email, "staff-password").await
    }
}

impl TestApp {
    /// Makes dropping this handle close the server's database pool too (on a multi-threaded
    /// test runtime). A stopped server's pool outlives it: the connections it holds stay open
    /// until the test process exits (about 3 per PostgreSQL test, measured with
    /// `pg_stat_activity`), which a crate of a hundred PostgreSQL tests would take past
    /// PostgreSQL's `max_connections` (100).
    pub fn closing_its_pool_on_drop(mut self) -> TestApp {
        self.close_pool_on_drop = true;
        self
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
        let Some(db) = self.server_db.take().filter(|_| self.close_pool_on_drop) else {
            return;
        };
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if rt.runtime_flavor() != tokio::runtime::RuntimeFlavor::MultiThread {
            return;
        }
        // Idle connections close at once; a connection still checked out by a task of the
        // stopping server closes when that task lets it go, waited for up to a second.
        tokio::task::block_in_place(|| {
            rt.block_on(async {
                let _ = tokio::time::timeout(Duration::from_secs(1), db.close_by_ref()).await;
            })
        });
    }
}

/// Runs a scenario on both backends: `both!(name, scenario_fn)` makes `name::sqlite` and
/// `name::postgres` tests; `both!(scenario_fn)` names them after the scenario
/// (`scenario_fn::sqlite`: a module and a function may share a name).
#[macro_export]
macro_rules! both {
    ($scenario:ident) => {
        $crate::both!($scenario, $scenario);
    };
    ($name:ident, $scenario:ident) => {
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$scenario($crate::common::Backend::Sqlite).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                super::$scenario($crate::common::Backend::Postgres).await
            }
        }
    };
}

/// The real binary in a child process (for crash tests and log capture).
pub struct ChildServer {
    pub child: std::process::Child,
    pub url: String,
    pub out: std::sync::Arc<std::sync::Mutex<String>>,
}

impl ChildServer {
    /// Starts `chatdesk` in `dir` with `env`, and waits until it prints its address.
    pub fn start(dir: &std::path::Path, env: &[(&str, String)]) -> ChildServer {
        use std::io::{BufRead, BufReader};
        use std::process::{Command, Stdio};
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_chatdesk"));
        cmd.current_dir(dir)
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("RUST_LOG", "warn")
            .env_remove("JWT_SECRET")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("start chatdesk");
        let out = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel::<String>();
        let streams: Vec<Box<dyn std::io::Read + Send>> = vec![
            Box::new(child.stdout.take().expect("stdout")),
            Box::new(child.stderr.take().expect("stderr")),
        ];
        for stream in streams {
            let out = out.clone();
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if let Some(rest) = line.split("listening on ").nth(1) {
                        let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                    }
                    if let Ok(mut o) = out.lock() {
                        o.push_str(&line);
                        o.push('\n');
                    }
                }
            });
        }
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .expect("server printed its address");
        ChildServer { child, url, out }
    }

    /// Everything the server printed so far, without terminal colour codes.
    pub fn logs(&self) -> String {
        let raw = self.out.lock().map(|o| o.clone()).unwrap_or_default();
        let mut plain = String::with_capacity(raw.len());
        let mut chars = raw.chars();
        while let Some(c) = chars.next() {
            if c == '\u{1b}' {
                // CSI sequence: ESC [ parameters, then a final letter.
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                plain.push(c);
            }
        }
        plain
    }

    /// SIGKILL: no shutdown code runs.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildServer {
    fn drop(&mut self) {
        self.kill();
    }
}
