//! Two nodes sharing PostgreSQL and Redis: availability counts the agents of every node, and
//! a resolution is rated once even when two connections on two nodes rate it at the same
//! moment (the unique index of `session_ratings` decides).

use reqwest::Method;
use serde_json::json;

use crate::common;
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_agent_on_another_node_makes_the_desk_online() {
    let (a, b) = common::two_nodes(|c| c.auto_assign = false).await;
    let ann = staff(&b, "ann@desk.test", "agent").await;
    let v = a.socket().await;
    assert_eq!(open(&v).await["availability"]["online"], false);
    let _ad = b.socket_as("/admin", &ann.token).await;
    // node a learns it from the shared presence (it looks again every 2 s)
    let now = next_where(&v, "availability", "online", |x| x["online"] == true).await;
    assert_eq!(now, json!({ "online": true, "agentsOnline": 1 }));
    let later = a.socket().await;
    assert_eq!(open(&later).await["availability"]["agentsOnline"], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_rating_one_resolution_at_once_store_it_once() {
    let (a, b) = common::two_nodes(|c| c.auto_assign = false).await;
    let boss = staff(&a, "boss@desk.test", "admin").await;
    let va = a.socket().await;
    let sid = open(&va).await["sessionId"]
        .as_str()
        .expect("sessionId")
        .to_string();
    let vb = b.socket().await;
    vb.ack("init_session", json!({ "sessionId": sid })).await;
    let (st, _) = call(
        &a,
        Method::PATCH,
        &format!("/api/chats/{sid}"),
        Some(&boss.token),
        Some(json!({ "status": "resolved" })),
    )
    .await;
    assert_eq!(st, 200);
    va.next("rating_request").await;
    vb.next("rating_request").await;
    let (ra, rb) = tokio::join!(
        va.ack("rate_session", json!({ "sessionId": sid, "rating": 5 })),
        vb.ack("rate_session", json!({ "sessionId": sid, "rating": 1 })),
    );
    let oks = [&ra, &rb].iter().filter(|r| r["ok"] == true).count();
    assert_eq!(oks, 1, "exactly one stored: {ra} / {rb}");
    let refused = if ra["ok"] == true { &rb } else { &ra };
    assert_eq!(refused["error"]["code"], "already_rated", "{refused}");
    let (_, list) = call(&b, Method::GET, "/api/ratings", Some(&boss.token), None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
}
