//! Ratings over socket.io: asked on resolve (socket `/admin`, REST), stored once per
//! resolution, refused when bad, not resolved, rated already or not the visitor's own;
//! asked again on resume while unrated; a reopened and resolved again session is rated
//! again; staff see the rating (live, in summaries, in `GET /api/ratings`).

use reqwest::Method;
use serde_json::{json, Value};

use crate::both;
use crate::common::{Backend, SioClient};
use crate::helpers::*;

/// `a` resolves the session of `d`; the visitor's `resolved` status is consumed.
async fn resolve_by_a(d: &DeskSession) {
    data(
        &d.ad
            .ack("resolve_session", json!({ "sessionId": d.sid }))
            .await,
        "resolve",
    );
    assert_eq!(status_of(&d.v, &d.sid).await["status"], "resolved");
}

async fn ratings(d: &DeskSession) -> Vec<Value> {
    let (st, list) = call(&d.app, Method::GET, "/api/ratings", Some(&d.a.token), None).await;
    assert_eq!(st, 200, "GET /api/ratings: {list}");
    list.as_array().cloned().unwrap_or_default()
}

async fn summary(d: &DeskSession) -> Value {
    let path = format!("/api/chats/{}/summary", d.sid);
    let (st, sum) = call(&d.app, Method::GET, &path, Some(&d.a.token), None).await;
    assert_eq!(st, 200, "GET {path}: {sum}");
    sum
}

/// The rating `GET /api/chats` (staff) shows for the session of `d` (null: none).
async fn listed_rating(d: &DeskSession) -> Value {
    let (st, list) = call(&d.app, Method::GET, "/api/chats", Some(&d.a.token), None).await;
    assert_eq!(st, 200, "GET /api/chats: {list}");
    let item = list
        .as_array()
        .and_then(|l| l.iter().find(|c| c["sessionId"] == d.sid.as_str()))
        .cloned()
        .unwrap_or_else(|| panic!("the session is listed: {list}"));
    item.get("rating").cloned().unwrap_or(Value::Null)
}

async fn rate(v: &SioClient, sid: &str, rating: Value) -> Value {
    let body = json!({ "sessionId": sid, "rating": rating, "comment": "Quick and kind" });
    v.ack("rate_session", body).await
}

async fn resolving_asks_the_visitor_and_the_rating_is_stored_once(backend: Backend) {
    let d = claimed_by_a(backend).await;
    resolve_by_a(&d).await;
    let ask = d.v.next("rating_request").await;
    assert_eq!(ask, json!({ "sessionId": d.sid }));

    let rated = data(&rate(&d.v, &d.sid, json!(4)).await, "rate_session");
    assert_eq!(rated["sessionId"], d.sid.as_str());
    assert_eq!(rated["rating"], 4);
    assert_eq!(rated["comment"], "Quick and kind");
    assert!(rated["createdAt"].is_string(), "{rated}");

    // once per resolution
    assert_err(
        &rate(&d.v, &d.sid, json!(5)).await,
        "already_rated",
        "second rating",
    );

    // the agents are told, like labels
    let up = next_where(&d.ad, "session_updated", "with the rating", |v| {
        v["sessionId"] == d.sid.as_str() && v.get("rating").is_some_and(|r| !r.is_null())
    })
    .await;
    assert_eq!(up["rating"]["rating"], 4, "{up}");
    assert_eq!(up["rating"]["comment"], "Quick and kind", "{up}");

    // summaries (join_session, list_sessions, REST) carry it
    let joined = data(
        &d.bd
            .ack("join_session", json!({ "sessionId": d.sid }))
            .await,
        "join_session",
    );
    assert_eq!(joined["session"]["rating"]["rating"], 4, "{joined}");
    let list = data(
        &d.bd
            .ack("list_sessions", json!({ "status": "resolved" }))
            .await,
        "list_sessions",
    );
    let mine = list["sessions"]
        .as_array()
        .and_then(|l| l.iter().find(|s| s["sessionId"] == d.sid.as_str()).cloned())
        .unwrap_or_else(|| panic!("resolved list without the session: {list}"));
    assert_eq!(mine["rating"]["rating"], 4, "{mine}");
    assert_eq!(summary(&d).await["rating"]["rating"], 4);
    let (st, chats) = call(&d.app, Method::GET, "/api/chats", Some(&d.a.token), None).await;
    assert_eq!(st, 200);
    let chat = chats
        .as_array()
        .and_then(|l| l.iter().find(|c| c["sessionId"] == d.sid.as_str()).cloned())
        .unwrap_or_else(|| panic!("GET /api/chats without the session: {chats}"));
    assert_eq!(chat["rating"]["rating"], 4, "{chat}");

    // and the staff listing, once
    let all = ratings(&d).await;
    assert_eq!(all.len(), 1, "{all:?}");
    assert_has(
        &all[0],
        &json!({ "sessionId": d.sid, "rating": 4, "comment": "Quick and kind", "agentId": d.a.id }),
        "GET /api/ratings",
    );
}
both!(
    stored_once,
    resolving_asks_the_visitor_and_the_rating_is_stored_once
);

async fn bad_ratings_are_refused_and_store_nothing(backend: Backend) {
    let d = claimed_by_a(backend).await;
    resolve_by_a(&d).await;
    d.v.next("rating_request").await;
    for bad in [
        json!(0),
        json!(6),
        json!(-3),
        json!(4.5),
        json!("5"),
        json!(null),
    ] {
        assert_err(
            &rate(&d.v, &d.sid, bad.clone()).await,
            "invalid_payload",
            &format!("rating {bad}"),
        );
    }
    let no_rating = d.v.ack("rate_session", json!({ "sessionId": d.sid })).await;
    assert_err(&no_rating, "invalid_payload", "no rating");
    let long =
        d.v.ack(
            "rate_session",
            json!({ "sessionId": d.sid, "rating": 3, "comment": "x".repeat(2001) }),
        )
        .await;
    assert_err(&long, "content_too_long", "comment of 2001 characters");
    assert!(ratings(&d).await.is_empty(), "a refused rating was stored");
    assert!(summary(&d).await["rating"].is_null());
    // the refusals did not use up the resolution's rating
    data(
        &rate(&d.v, &d.sid, json!(1)).await,
        "a good rating after bad ones",
    );
    assert_eq!(ratings(&d).await.len(), 1);
}
both!(bad_values, bad_ratings_are_refused_and_store_nothing);

async fn a_session_not_resolved_cannot_be_rated(backend: Backend) {
    let d = claimed_by_a(backend).await;
    assert_err(
        &rate(&d.v, &d.sid, json!(5)).await,
        "not_resolved",
        "assigned session",
    );
    none_of(&d.v, "rating_request", "no resolve, no request").await;
    assert!(ratings(&d).await.is_empty());
}
both!(not_resolved, a_session_not_resolved_cannot_be_rated);

async fn another_visitor_or_staff_cannot_rate_the_session(backend: Backend) {
    let d = claimed_by_a(backend).await;
    resolve_by_a(&d).await;
    let other = d.app.socket().await;
    let _own = d.app.open_session(&other).await;
    assert_err(
        &rate(&other, &d.sid, json!(1)).await,
        "session_not_found",
        "a visitor who did not open the session",
    );
    none_of(&other, "rating_request", "another visitor is not asked").await;
    // staff who joined it do not rate it either
    assert_err(
        &rate(&d.ad, &d.sid, json!(1)).await,
        "forbidden",
        "staff on /admin",
    );
    assert!(ratings(&d).await.is_empty());
}
both!(not_yours, another_visitor_or_staff_cannot_rate_the_session);

async fn a_reopened_session_resolved_again_is_rated_again(backend: Backend) {
    let d = claimed_by_a(backend).await;
    resolve_by_a(&d).await;
    d.v.next("rating_request").await;
    data(&rate(&d.v, &d.sid, json!(2)).await, "first rating");
    data(
        &d.ad
            .ack("reopen_session", json!({ "sessionId": d.sid }))
            .await,
        "reopen",
    );
    assert_eq!(status_of(&d.v, &d.sid).await["status"], "assigned");
    assert_err(
        &rate(&d.v, &d.sid, json!(5)).await,
        "not_resolved",
        "reopened",
    );
    // while reopened the staff list shows the latest resolution's rating; resolved again
    // and not yet rated, none: the first resolution's 2 is not the current one's
    assert_eq!(listed_rating(&d).await["rating"], 2, "reopened");
    resolve_by_a(&d).await;
    assert_eq!(
        d.v.next("rating_request").await["sessionId"],
        d.sid.as_str()
    );
    assert_eq!(
        listed_rating(&d).await,
        Value::Null,
        "resolved again, unrated"
    );
    data(
        &rate(&d.v, &d.sid, json!(5)).await,
        "second resolution's rating",
    );
    assert_eq!(listed_rating(&d).await["rating"], 5, "rated again");
    assert_err(
        &rate(&d.v, &d.sid, json!(4)).await,
        "already_rated",
        "third",
    );
    let all = ratings(&d).await;
    let mut given: Vec<i64> = all.iter().filter_map(|r| r["rating"].as_i64()).collect();
    given.sort_unstable();
    assert_eq!(given, vec![2, 5], "{all:?}");
    assert_ne!(
        all[0]["resolvedAt"], all[1]["resolvedAt"],
        "two resolutions"
    );
    // the summary shows the latest resolution's
    assert_eq!(summary(&d).await["rating"]["rating"], 5);
}
both!(
    rated_again,
    a_reopened_session_resolved_again_is_rated_again
);

async fn a_visitor_back_on_an_unrated_resolution_is_asked_again(backend: Backend) {
    let d = claimed_by_a(backend).await;
    resolve_by_a(&d).await;
    d.v.next("rating_request").await;
    // the visitor reloads the page: a new socket resumes the session
    let again = d.app.socket().await;
    let ack = again
        .ack("init_session", json!({ "sessionId": d.sid }))
        .await;
    assert_eq!(ack["resumed"], true, "{ack}");
    assert_eq!(
        again.next("rating_request").await["sessionId"],
        d.sid.as_str()
    );
    data(
        &rate(&again, &d.sid, json!(3)).await,
        "rated from the new socket",
    );
    // rated: not asked any more
    let later = d.app.socket().await;
    later
        .ack("init_session", json!({ "sessionId": d.sid }))
        .await;
    none_of(&later, "rating_request", "a rated resolution").await;
}
both!(
    asked_again,
    a_visitor_back_on_an_unrated_resolution_is_asked_again
);

async fn resolving_over_rest_asks_too(backend: Backend) {
    let d = claimed_by_a(backend).await;
    let path = format!("/api/chats/{}", d.sid);
    let (st, body) = call(
        &d.app,
        Method::PATCH,
        &path,
        Some(&d.a.token),
        Some(json!({ "status": "resolved" })),
    )
    .await;
    assert_eq!(st, 200, "PATCH {path}: {body}");
    assert_eq!(
        d.v.next("rating_request").await["sessionId"],
        d.sid.as_str()
    );
    // a second PATCH to resolved changes nothing and asks nothing more
    call(
        &d.app,
        Method::PATCH,
        &path,
        Some(&d.a.token),
        Some(json!({ "status": "resolved" })),
    )
    .await;
    none_of(&d.v, "rating_request", "resolved twice").await;
}
both!(over_rest, resolving_over_rest_asks_too);

async fn the_ratings_listing_is_for_staff_and_filters_by_time(backend: Backend) {
    let d = claimed_by_a(backend).await;
    resolve_by_a(&d).await;
    data(&rate(&d.v, &d.sid, json!(5)).await, "rated");
    let (st, _) = call(&d.app, Method::GET, "/api/ratings", None, None).await;
    assert_eq!(st, 401, "no token");
    let customer = d.app.register("cust@desk.test", "customer-password").await;
    let (st, _) = call(&d.app, Method::GET, "/api/ratings", Some(&customer), None).await;
    assert_eq!(st, 403, "a customer");
    let (st, body) = call(
        &d.app,
        Method::GET,
        "/api/ratings?from=yesterday",
        Some(&d.a.token),
        None,
    )
    .await;
    assert_eq!(
        (st, body["error"]["code"].clone()),
        (400, json!("invalid_payload"))
    );
    let until_2000 = "/api/ratings?to=2000-01-01T00:00:00Z";
    let (_, none) = call(&d.app, Method::GET, until_2000, Some(&d.a.token), None).await;
    assert_eq!(none, json!([]));
    let since_2000 = "/api/ratings?from=2000-01-01T00:00:00Z";
    let (_, one) = call(&d.app, Method::GET, since_2000, Some(&d.a.token), None).await;
    assert_eq!(one.as_array().map(Vec::len), Some(1), "{one}");
}
both!(
    listing,
    the_ratings_listing_is_for_staff_and_filters_by_time
);
