//! Security and reliability (issue 22, round two): who may create a desk's first admin,
//! limits that a client can neither dodge nor turn against someone else, input PostgreSQL
//! cannot store, and files that only their owner reads.

mod common;

use common::{Backend, TestApp};

// --- Who the client is, and login limits ----------------------------------------------------

/// An engine.io handshake (a new connection) as sent through a proxy.
async fn handshake_via_proxy(app: &TestApp, forwarded_for: &str) -> u16 {
    app.http
        .get(format!("{}/socket.io/?EIO=4&transport=polling", app.url))
        .header("x-forwarded-for", forwarded_for)
        .send()
        .await
        .expect("handshake")
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_forwarded_for_does_not_dodge_the_connection_limit() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| {
        c.trust_proxy = true;
        c.connections_per_min = 2;
    })
    .await;
    // The client writes what it likes on the left; the proxy appends the address it saw.
    let mut statuses = Vec::new();
    for i in 0..4 {
        statuses.push(handshake_via_proxy(&app, &format!("10.9.9.{i}, 203.0.113.7")).await);
    }
    assert_eq!(statuses, [200, 200, 429, 429]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_hops_pick_the_entry_the_outermost_proxy_saw() {
    let app = common::spawn_app_with(Backend::Sqlite, |c| {
        c.trust_proxy = true;
        c.trust_proxy_hops = 2;
        c.connections_per_min = 2;
    })
    .await;
    // Two proxies: a CDN appended the client, the load balancer appended the CDN.
    let mut distinct = Vec::new();
    for i in 0..4 {
        let xff = format!("forged, 198.51.100.{i}, 10.0.0.1");
        distinct.push(handshake_via_proxy(&app, &xff).await);
    }
    assert_eq!(distinct, [200; 4], "four clients, one connection each");
    let mut same = Vec::new();
    for i in 0..4 {
        let xff = format!("forged-{i}, 198.51.100.77, 10.0.0.1");
        same.push(handshake_via_proxy(&app, &xff).await);
    }
    assert_eq!(same, [200, 200, 429, 429], "one client, whatever it forges");
}
