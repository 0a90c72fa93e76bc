//! Test harness: every test gets its own database (a fresh SQLite file or a fresh
//! PostgreSQL database) and a real server on 127.0.0.1:0, and talks to it over real
//! HTTP and the real socket.io wire protocol.
#![allow(dead_code)]

pub mod sio;

use std::time::Duration;

use chatdesk::{App, Config};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

pub use sio::{ConnectOpts, SioClient, Transport};

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
}

/// Starts a server on a fresh database with default settings.
pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts a server on a fresh database, with settings adjusted by `tweak`.
pub async fn spawn_app_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestApp {
    let (db_url, dir) = fresh_database(backend).await;
    let mut config = Config::for_tests(&db_url);
    config.insecure_open_admin = true;
    tweak(&mut config);
    start(config, backend, db_url, dir).await
}

async fn start(
    config: Config,
    backend: Backend,
    db_url: String,
    dir: Option<tempfile::TempDir>,
) -> TestApp {
    let app = App::build(config).await.expect("server builds");
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
    }
}

impl TestApp {
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
        let mut config = Config::for_tests(&self.db_url);
        config.insecure_open_admin = true;
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

    /// Opens a new session on `s` and returns its id.
    pub async fn open_session(&self, s: &SioClient) -> String {
        let ack = s.ack("init_session", json!({ "sessionId": null })).await;
        ack["sessionId"]
            .as_str()
            .expect("sessionId in ack")
            .to_string()
    }

    /// The stored messages of a session, over REST.
    pub async fn history(&self, session_id: &str) -> Vec<Value> {
        self.get_json(&format!("/api/chats/{session_id}"))
            .await
            .as_array()
            .cloned()
            .unwrap_or_default()
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Runs a scenario on both backends: `both!(name, scenario_fn)` makes `name::sqlite` and
/// `name::postgres` tests.
#[macro_export]
macro_rules! both {
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
