//! The event budget belongs to the connection: leaving a namespace and joining it again on
//! the same engine.io connection does not refill it.

mod common;

use std::time::Duration;

use common::Backend;
use serde_json::json;

async fn rejoining_keeps_the_budget(backend: Backend) {
    let app = common::spawn_app_with(backend, |c| {
        c.socket_events_per_sec = 1;
        c.socket_events_burst = 5;
    })
    .await;
    let s = app.socket().await;
    let spend = |n: usize| {
        let s = &s;
        async move {
            let mut refused = 0;
            for _ in 0..n {
                let ack = s
                    .try_ack(
                        "get_history",
                        json!({ "sessionId": "nope" }),
                        Duration::from_secs(5),
                    )
                    .await
                    .expect("answered");
                if ack["error"]["code"] == "rate_limited" {
                    refused += 1;
                }
            }
            refused
        }
    };
    assert!(spend(10).await >= 4, "the budget of 5 was not enforced");
    // leave "/" and join it again over the same connection
    s.send_raw("41");
    s.send_raw("40");
    tokio::time::sleep(Duration::from_millis(200)).await; // the CONNECT is processed
    let refused = spend(10).await;
    assert!(
        refused >= 8,
        "re-joining the namespace refilled the budget: only {refused} of 10 refused"
    );
}
both!(
    the_event_budget_survives_rejoining_a_namespace,
    rejoining_keeps_the_budget
);
