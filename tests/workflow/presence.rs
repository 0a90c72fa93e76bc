//! Agent presence on "/admin": each agent is listed once however many tabs it has open; an
//! agent's first tab announces it, its last tab closing announces it gone, other tabs change
//! nothing; visitors never get agent presence.

use std::collections::BTreeSet;

use crate::both;
use crate::common::{Backend, SioClient, TestApp};
use crate::helpers::*;

/// Agents `a` and `b` on a desk with a 1 s offline grace; `b` is on "/admin" (`bd`) and has
/// had its own `presence`.
struct BOnline {
    app: TestApp,
    a: Staff,
    b: Staff,
    bd: SioClient,
}

async fn b_online(backend: Backend) -> BOnline {
    let app = desk(backend, |c| c.agent_offline_grace_secs = 1).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;

    let bd = app.socket_as("/admin", &b.token).await;
    bd.next("presence").await;
    BOnline { app, a, b, bd }
}

/// [`b_online`], then `a`'s first tab (`a1`); both were told, their `presence` consumed.
async fn both_online(backend: Backend) -> (BOnline, SioClient) {
    let o = b_online(backend).await;
    let a1 = o.app.socket_as("/admin", &o.a.token).await;
    a1.next("presence").await;
    o.bd.next("presence").await;
    a1.drain("presence");
    (o, a1)
}

async fn presence_lists_every_online_agent_once(backend: Backend) {
    let app = desk(backend, |c| c.agent_offline_grace_secs = 1).await;
    let a = staff(&app, "a@desk.test", "agent").await;
    let b = staff(&app, "b@desk.test", "agent").await;

    let bd = app.socket_as("/admin", &b.token).await;
    let p = bd.next("presence").await;
    assert_eq!(presence_ids(&p), vec![b.id.clone()]);

    let a1 = app.socket_as("/admin", &a.token).await;
    let p = a1.next("presence").await;
    let ids = presence_ids(&p);
    assert_eq!(ids.len(), 2, "{p}");
    assert_eq!(
        ids.into_iter().collect::<BTreeSet<_>>(),
        set(&[&a.id, &b.id])
    );
    // b was told about itself once, when it connected: the next one is a coming online
    let p = bd.next("presence").await;
    assert_eq!(
        presence_ids(&p).into_iter().collect::<BTreeSet<_>>(),
        set(&[&a.id, &b.id])
    );
    a1.drain("presence");
}
both!(presence_lists_every_online_agent_once);

async fn a_second_tab_is_counted_once_and_not_announced(backend: Backend) {
    let (o, _a1) = both_online(backend).await;
    let BOnline { app, a, b, bd } = &o;

    // a second tab: the agent is counted once, nobody is told again
    let a2 = app.socket_as("/admin", &a.token).await;
    let p = a2.next("presence").await;
    let ids = presence_ids(&p);
    assert_eq!(ids.len(), 2, "one entry per agent: {p}");
    assert_eq!(
        ids.into_iter().collect::<BTreeSet<_>>(),
        set(&[&a.id, &b.id])
    );
    none_of(bd, "presence", "a second tab announced the agent again").await;
}
both!(a_second_tab_is_counted_once_and_not_announced);

async fn closing_one_of_two_tabs_keeps_the_agent_online(backend: Backend) {
    let (o, a1) = both_online(backend).await;
    let BOnline { app, a, bd, .. } = &o;
    let a2 = app.socket_as("/admin", &a.token).await;
    a2.next("presence").await;

    // closing one tab keeps the agent online
    drop(a1);
    none_of(bd, "presence", "closing one of two tabs").await;
    none_of(&a2, "presence", "closing one of two tabs (own other tab)").await;
}
both!(closing_one_of_two_tabs_keeps_the_agent_online);

async fn closing_the_last_tab_announces_the_agent_gone(backend: Backend) {
    let (o, a2) = both_online(backend).await; // a2: a's only tab
    let BOnline { b, bd, .. } = &o;

    // closing the last tab: presence without them
    drop(a2);
    let p = bd.next("presence").await;
    assert_eq!(
        presence_ids(&p),
        vec![b.id.clone()],
        "after a's last tab closed"
    );
}
both!(closing_the_last_tab_announces_the_agent_gone);

async fn visitors_never_get_agent_presence(backend: Backend) {
    let o = b_online(backend).await;
    let BOnline { app, a, b, bd } = &o;

    // a visitor never gets presence
    let v = app.socket().await;
    app.open_session(&v).await;
    let a3 = app.socket_as("/admin", &a.token).await;
    // (a repeated `presence` without a may still be queued: skip to the one with a)
    let p = next_where(bd, "presence", "with a again", |p| {
        p["agents"]
            .as_array()
            .is_some_and(|l| l.iter().any(|x| x["id"] == a.id.as_str()))
    })
    .await;
    assert_eq!(
        presence_ids(&p).into_iter().collect::<BTreeSet<_>>(),
        set(&[&a.id, &b.id])
    );
    none_of(&v, "presence", "a visitor got agent presence").await;
    drop(a3);
}
both!(visitors_never_get_agent_presence);
