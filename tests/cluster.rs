//! Cluster mode: three or more real nodes on loopback ports sharing one PostgreSQL
//! database and exchanging events through a real Redis — the shared one (each test on its
//! own channel prefix) or a private `redis-server` the test starts and kills. One node of
//! the kill test is a real `salon` process, killed with SIGKILL.
//!
//! Promises checked: cross-node delivery of every kind of event; two senders on different
//! nodes seen by everyone in one gapless order; a removal on one node while the external
//! sits on another and a member floods from a third delivers nothing after the call
//! returns; a removal during a Redis outage is still immediate (the trust rule); Redis
//! restarted mid-stream loses nothing for connected clients; a node killed under load
//! loses nothing acknowledged and its clients resume elsewhere; a node that shuts down
//! sends its clients elsewhere without the others distrusting their view.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::cluster::{Cluster, PrivateRedis, bus_state, free_port, shared_redis, wait_bus, wait_ready};
use common::{Gw, Received, TestApp, gateway_at, random_suffix};
use reqwest::StatusCode;
use salon::domain::{AccountId, Role, WorkspaceId};
use salon_protocol::gateway::close;
use serde_json::{Value, json};
use tokio::sync::oneshot;

/// A workspace with an owner and two members, and a thread of all three.
struct Team {
    ws: String,
    thread: String,
    owner: (String, String),
    member: (String, String),
    other: (String, String),
}

async fn team(app: &TestApp) -> Team {
    let owner = app.new_account(&format!("owner-{}@c.test", random_suffix()), "Owner").await;
    let member = app.new_account(&format!("member-{}@c.test", random_suffix()), "Member").await;
    let other = app.new_account(&format!("other-{}@c.test", random_suffix()), "Other").await;
    let ws = app.post("/api/v1/workspaces", Some(&owner.0), json!({"name": "Cluster"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    for who in [&member, &other] {
        let (w, a) = (WorkspaceId(ws.parse().unwrap()), AccountId(who.1.parse().unwrap()));
        app.services.workspaces.add_member(w, a, Role::Member).await.unwrap();
    }
    let thread = app
        .post(
            &format!("/api/v1/workspaces/{ws}/threads"),
            Some(&owner.0),
            json!({"subject": "Across nodes", "accounts": [member.1, other.1]}),
        )
        .await
        .body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    Team { ws, thread, owner, member, other }
}

fn send(thread: &str, body: &str, reference: &str) -> Value {
    json!({"type": "send", "ref": reference, "conversation_id": thread, "body": body, "client_id": reference})
}

/// Reads `message_created` frames of `thread` until one with `seq >= last`; returns the
/// bodies by sequence, checking there is no gap, no duplicate and no disorder.
async fn collect_until(gw: &mut Gw, thread: &str, first: i64, last: i64) -> Vec<String> {
    let mut bodies = Vec::new();
    let mut expected = first;
    while expected <= last {
        let frame = gw.next_of("message_created").await;
        if frame["message"]["conversation_id"] != thread {
            continue;
        }
        let seq = frame["message"]["seq"].as_i64().unwrap();
        assert_eq!(seq, expected, "sequence order without gaps or duplicates");
        bodies.push(frame["message"]["body"].as_str().unwrap().to_owned());
        expected += 1;
    }
    bodies
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_nodes() {
    let c = Cluster::start(3, shared_redis()).await;
    let (a, b, n3) = (c.node(0), c.node(1), c.node(2));
    let t = team(a).await;
    let (mut member_on_b, ready) = gateway_at(&b.base, &t.member.0, json!({})).await;
    assert_eq!(ready["conversations"][0]["id"], t.thread.as_str());
    let (mut owner_on_c, _) = gateway_at(&n3.base, &t.owner.0, json!({})).await;

    // A post on node A reaches sockets on B and C.
    let messages = format!("/api/v1/conversations/{}/messages", t.thread);
    a.post(&messages, Some(&t.owner.0), json!({"body": "from A"})).await;
    assert_eq!(member_on_b.next_of("message_created").await["message"]["body"], "from A");
    assert_eq!(owner_on_c.next_of("message_created").await["message"]["body"], "from A");
    // A socket send on C reaches B.
    owner_on_c.send(send(&t.thread, "from C", "c1")).await;
    assert_eq!(owner_on_c.next_of("ack").await["seq"], 2);
    assert_eq!(member_on_b.next_of("message_created").await["message"]["body"], "from C");
    // Typing from B reaches C; edits and reactions from A reach B.
    member_on_b.send(json!({"type": "typing", "conversation_id": t.thread})).await;
    assert_eq!(owner_on_c.next_of("typing").await["account_id"], t.member.1.as_str());
    a.patch(&format!("{messages}/1"), &t.owner.0, json!({"body": "edited on A"})).await;
    assert_eq!(member_on_b.next_of("message_edited").await["body"], "edited on A");
    // An account's read marker moved on A reaches its socket on B.
    a.post(&format!("/api/v1/conversations/{}/read", t.thread), Some(&t.member.0), json!({"seq": 2})).await;
    assert_eq!(member_on_b.next_of("read_marker").await["seq"], 2);
    // A conversation created on A appears live on B.
    let new = a
        .post(
            &format!("/api/v1/workspaces/{}/threads", t.ws),
            Some(&t.owner.0),
            json!({"subject": "New", "accounts": [t.member.1]}),
        )
        .await;
    let added = member_on_b.next_of("conversation_added").await;
    assert_eq!(added["conversation"]["id"], new.body["id"]);
    // Its messages follow on B (its Redis subscription was in place before `conversation_added`).
    let new_messages = format!("/api/v1/conversations/{}/messages", new.body["id"].as_str().unwrap());
    n3.post(&new_messages, Some(&t.owner.0), json!({"body": "first in New"})).await;
    assert_eq!(member_on_b.next_of("message_created").await["message"]["body"], "first in New");
    // Signing out everywhere on C closes the socket on B.
    n3.post("/api/v1/auth/logout-all", Some(&t.member.0), json!({})).await;
    let (code, _) = member_on_b.until_closed().await;
    assert_eq!(code, Some(close::SESSION_ENDED));

    let metrics = b.client.get(format!("{}/metrics", b.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("salon_bus_state{state=\"healthy\"} 1"), "{metrics}");
    assert!(metrics.contains("salon_bus_receive_lag_seconds_count"));
    assert!(!metrics.contains("salon_bus_received_total 0\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_senders_on_two_nodes_one_gapless_order() {
    let c = Cluster::start(3, shared_redis()).await;
    let t = team(c.node(0)).await;
    let mut observers = Vec::new();
    for (i, who) in [&t.owner, &t.member, &t.other].iter().enumerate() {
        observers.push(gateway_at(&c.node(i).base, &who.0, json!({})).await.0);
    }
    const EACH: i64 = 40;
    let messages = format!("/api/v1/conversations/{}/messages", t.thread);
    let senders = [(0, t.owner.0.clone(), "A"), (2, t.other.0.clone(), "C")].map(|(node, token, name)| {
        let (client, base, path) = (c.node(node).client.clone(), c.node(node).base.clone(), messages.clone());
        tokio::spawn(async move {
            for i in 0..EACH {
                let body = json!({"body": format!("{name}{i}")});
                let r = client.post(format!("{base}{path}")).bearer_auth(&token).json(&body).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
    });
    for s in senders {
        s.await.unwrap();
    }
    let mut orders = Vec::new();
    for gw in &mut observers {
        orders.push(collect_until(gw, &t.thread, 1, 2 * EACH).await);
    }
    assert!(orders.iter().all(|o| *o == orders[0]), "every node's clients see the same order");
    for name in ["A", "C"] {
        let mine: Vec<&String> = orders[0].iter().filter(|b| b.starts_with(name)).collect();
        let expected: Vec<String> = (0..EACH).map(|i| format!("{name}{i}")).collect();
        assert_eq!(mine, expected.iter().collect::<Vec<_>>(), "each sender's messages in its own order");
    }
}

/// The external sits on node B, the remover on node A, the flood comes from node C.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removal_on_one_node_nothing_after_it_returns_on_another() {
    let c = Cluster::start(3, shared_redis()).await;
    let (a, b, n3) = (c.node(0), c.node(1), c.node(2));
    let t = team(a).await;
    let external = a.new_account(&format!("ext-{}@partner.test", random_suffix()), "Ext").await;
    let recipients = format!("/api/v1/conversations/{}/recipients", t.thread);
    a.post(&recipients, Some(&t.owner.0), json!({"account_id": external.1})).await;
    let (mut ext, ready) = gateway_at(&b.base, &external.0, json!({})).await;
    assert_eq!(ready["conversations"].as_array().unwrap().len(), 1);
    let (mut watcher, _) = gateway_at(&a.base, &t.owner.0, json!({})).await;
    let (mut flooder, _) = gateway_at(&n3.base, &t.member.0, json!({})).await;
    let thread = t.thread.clone();
    let flood = tokio::spawn(async move {
        for i in 0..150 {
            flooder.send(send(&thread, &format!("flood {i}"), &format!("f{i}"))).await;
        }
        let mut last = 0;
        for _ in 0..150 {
            last = flooder.next_of("ack").await["seq"].as_i64().unwrap();
        }
        last
    });
    watcher.next_of("message_created").await;
    let removed = a.delete(&format!("{recipients}/accounts/{}", external.1), &t.owner.0).await;
    assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
    // When the call returns, node B has already applied it: its sockets were told.
    let on_b = b.services.hub.subscriptions_of(AccountId(external.1.parse().unwrap()));
    assert!(!on_b.contains(&salon::domain::ConversationId(t.thread.parse().unwrap())), "node B applied the removal");
    // Everything committed from here on has a higher sequence than this.
    let fence = a
        .post(&format!("/api/v1/conversations/{}/messages", t.thread), Some(&t.owner.0), json!({"body": "fence"}))
        .await
        .body["seq"]
        .as_i64()
        .unwrap();
    let last = flood.await.unwrap();
    loop {
        let frame = watcher.next_of("message_created").await;
        if frame["message"]["seq"].as_i64().unwrap() >= last.max(fence) {
            break;
        }
    }
    let frames = ext.round_trip("after").await;
    let at = frames.iter().position(|f| f["type"] == "conversation_removed");
    let at = at.unwrap_or_else(|| panic!("the socket on the other node was told: {frames:?}"));
    for f in &frames[at + 1..] {
        assert_ne!(f["conversation_id"], t.thread, "nothing of the thread after its removal: {f}");
        assert_ne!(f["message"]["conversation_id"], t.thread, "nothing of the thread after its removal: {f}");
    }
    for f in frames.iter().filter(|f| f["type"] == "message_created") {
        assert!(f["message"]["seq"].as_i64().unwrap() < fence, "delivered after the removal returned: {f}");
    }
    let history = b.get(&format!("/api/v1/conversations/{}/messages", t.thread), &external.0).await;
    assert_eq!(history.code(), "not_found");
}

/// A removal returns only once every node subscribed to the conversation confirmed it:
/// here a stand-in node that takes 200 ms to confirm.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_waits_for_every_node_to_confirm() {
    use futures_util::StreamExt;
    let c = Cluster::start(3, shared_redis()).await;
    let a = c.node(0);
    let t = team(a).await;
    let client = redis::Client::open(c.redis.clone()).unwrap();
    let (mut sink, mut stream) = client.get_async_pubsub().await.unwrap().split();
    sink.subscribe(format!("{}:c:{}", c.prefix, t.thread)).await.unwrap();
    let (confirmed_tx, confirmed_rx) = oneshot::channel::<Instant>();
    let prefix = c.prefix.clone();
    tokio::spawn(async move {
        let mut publisher = client.get_multiplexed_async_connection().await.unwrap();
        while let Some(message) = stream.next().await {
            let text = String::from_utf8(message.get_payload_bytes().to_vec()).unwrap();
            let fields: Vec<&str> = text.split(' ').collect();
            if fields[0] == "R" {
                tokio::time::sleep(Duration::from_millis(200)).await;
                let (origin, nonce) = (fields[1], fields[2]);
                let _: i64 = redis::cmd("PUBLISH")
                    .arg(format!("{prefix}:n:{origin}"))
                    .arg(format!("K {nonce}"))
                    .query_async(&mut publisher)
                    .await
                    .unwrap();
                let _ = confirmed_tx.send(Instant::now());
                return;
            }
        }
    });
    let removed =
        a.delete(&format!("/api/v1/conversations/{}/recipients/accounts/{}", t.thread, t.other.1), &t.owner.0).await;
    let returned = Instant::now();
    assert_eq!(removed.status, StatusCode::OK);
    let confirmed = confirmed_rx.await.expect("the stand-in node saw the revocation");
    assert!(returned >= confirmed, "the removal returned before the slow node confirmed it");
}

/// With Redis gone, a removal on one node still takes effect at once on the others: they
/// distrust their view and check the database on every delivery.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removal_during_a_redis_outage_is_still_immediate() {
    let mut redis = PrivateRedis::start().await;
    let c = Cluster::start(3, redis.url()).await;
    let (a, b) = (c.node(0), c.node(1));
    let t = team(a).await;
    let external = a.new_account(&format!("ext-{}@partner.test", random_suffix()), "Ext").await;
    let recipients = format!("/api/v1/conversations/{}/recipients", t.thread);
    a.post(&recipients, Some(&t.owner.0), json!({"account_id": external.1})).await;
    let (mut ext, _) = gateway_at(&b.base, &external.0, json!({})).await;

    redis.kill();
    for node in &c.nodes {
        wait_bus(&node.app.base, "degraded").await;
    }
    let ready = b.client.get(format!("{}/readyz", b.base)).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK, "a degraded node keeps serving");
    assert_eq!(ready.json::<Value>().await.unwrap()["status"], "degraded");

    let removed = a.delete(&format!("{recipients}/accounts/{}", external.1), &t.owner.0).await;
    assert_eq!(removed.status, StatusCode::OK, "{removed:?}");
    // A member on the external's own node posts: the external must not get it.
    b.post(&format!("/api/v1/conversations/{}/messages", t.thread), Some(&t.member.0), json!({"body": "secret"})).await;
    let frames = ext.round_trip("after").await;
    assert!(frames.iter().any(|f| f["type"] == "conversation_removed"), "told: {frames:?}");
    assert!(!frames.iter().any(|f| f["message"]["body"] == "secret"), "nothing leaked: {frames:?}");

    redis.restart().await;
    for node in &c.nodes {
        wait_ready(&node.app.base).await;
    }
}

/// Redis restarted mid-stream: connected clients on every node get every message, in
/// order, once (the nodes catch up from the database).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_stream_loses_nothing() {
    let mut redis = PrivateRedis::start().await;
    let c = Cluster::start(3, redis.url()).await;
    let t = team(c.node(0)).await;
    let (mut on_b, _) = gateway_at(&c.node(1).base, &t.member.0, json!({})).await;
    let (mut on_c, _) = gateway_at(&c.node(2).base, &t.other.0, json!({})).await;
    let messages = format!("/api/v1/conversations/{}/messages", t.thread);
    let post = |i: i64| c.node(0).post(&messages, Some(&t.owner.0), json!({"body": format!("m{i}")}));
    for i in 1..=20 {
        assert_eq!(post(i).await.status, StatusCode::CREATED);
    }
    redis.kill();
    wait_bus(&c.node(1).base, "degraded").await;
    for i in 21..=40 {
        assert_eq!(post(i).await.status, StatusCode::CREATED, "nodes keep serving without Redis");
    }
    redis.restart().await;
    for node in &c.nodes {
        wait_ready(&node.app.base).await;
    }
    // Nothing new is posted yet: what was missed arrives from the catch-up alone.
    let expected: Vec<String> = (1..=60).map(|i| format!("m{i}")).collect();
    assert_eq!(collect_until(&mut on_b, &t.thread, 1, 40).await, expected[..40]);
    assert_eq!(collect_until(&mut on_c, &t.thread, 1, 40).await, expected[..40]);
    for i in 41..=60 {
        post(i).await;
    }
    assert_eq!(collect_until(&mut on_b, &t.thread, 41, 60).await, expected[40..]);
    assert_eq!(collect_until(&mut on_c, &t.thread, 41, 60).await, expected[40..]);
    let metrics =
        c.node(1).client.get(format!("{}/metrics", c.node(1).base)).send().await.unwrap().text().await.unwrap();
    assert!(!metrics.contains("salon_bus_reconnects_total 0\n"), "{metrics}");
}

/// A quiet, healthy cluster keeps its Redis subscription: the subscriber checks its
/// connection with a PING every heartbeat, and a subscribed connection's answer to it
/// (`["pong", ""]`) is an answer, not a failure. (Mistaking it dropped the subscription,
/// and with it the nodes' trust, at every check.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_node_keeps_its_subscription() {
    let c = Cluster::start(2, shared_redis()).await;
    let stats = || c.node(0).services.bus.stats().expect("cluster mode");
    let heard = stats().received.load(std::sync::atomic::Ordering::Relaxed);
    // Both nodes' heartbeats arrive every 200 ms: twenty of them span ten PINGs.
    let deadline = Instant::now() + Duration::from_secs(20);
    while stats().received.load(std::sync::atomic::Ordering::Relaxed) < heard + 20 {
        assert!(Instant::now() < deadline, "heartbeats stopped arriving");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(stats().reconnects.load(std::sync::atomic::Ordering::Relaxed), 0, "the subscription dropped");
    assert_eq!(bus_state(&c.node(0).base).await.as_deref(), Some("healthy"));
}

/// Only the subscriptions drop (Redis kills the pub/sub connections; publishing goes on):
/// whatever a node missed meanwhile, it fills from the database. Simulated exactly: the
/// messages are stored without being published at all, so only the catch-up that follows
/// the resubscription can deliver them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_subscription_catches_up_from_the_database() {
    let redis = PrivateRedis::start().await;
    let c = Cluster::start(3, redis.url()).await;
    let t = team(c.node(0)).await;
    let (mut on_b, _) = gateway_at(&c.node(1).base, &t.member.0, json!({})).await;
    let messages = format!("/api/v1/conversations/{}/messages", t.thread);
    c.node(0).post(&messages, Some(&t.owner.0), json!({"body": "m1"})).await;
    collect_until(&mut on_b, &t.thread, 1, 1).await;
    for i in 2..=5 {
        let unpublished = salon::store::NewMessage {
            id: salon::domain::MessageId(salon::crypto::random_id()),
            conversation_id: salon::domain::ConversationId(t.thread.parse().unwrap()),
            author: AccountId(t.owner.1.parse().unwrap()),
            body: format!("m{i}"),
            reply_to: None,
            client_id: None,
            mentions: vec![],
            created_at: 0,
        };
        c.node(0).services.store.post_message(unpublished).await.unwrap();
    }
    let admin = redis::Client::open(redis.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    let _: i64 = redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("pubsub").query_async(&mut admin).await.unwrap();
    let expected: Vec<String> = (2..=5).map(|i| format!("m{i}")).collect();
    assert_eq!(collect_until(&mut on_b, &t.thread, 2, 5).await, expected);
}

/// A real node process, killed with SIGKILL under load: nothing acknowledged is lost, and
/// its clients resume on other nodes without loss or duplication.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_loses_nothing_acknowledged() {
    let c = Cluster::start(2, shared_redis()).await;
    let t = team(c.node(0)).await;
    let port = free_port();
    let killed_base = format!("http://127.0.0.1:{port}");
    let mut command = Command::new(env!("CARGO_BIN_EXE_salon"));
    // Only this node's settings: the test's own SALON_TEST_* variables are not settings.
    for (name, _) in std::env::vars().filter(|(name, _)| name.starts_with("SALON_")) {
        command.env_remove(name);
    }
    let mut killed = command
        .env("SALON_HTTP_LISTEN", format!("127.0.0.1:{port}"))
        .env("SALON_HTTP_PUBLIC_URL", "http://salon.test")
        .env("SALON_DATABASE_URL", &c.db)
        .env("SALON_DATABASE_MAX_CONNECTIONS", "5")
        .env("SALON_MAIL_OUTBOX_DIR", &c.outbox)
        .env("SALON_GATEWAY_FRAMES_PER_SECOND", "1000")
        .env("SALON_CLUSTER_REDIS_URL", &c.redis)
        .env("SALON_CLUSTER_CHANNEL_PREFIX", &c.prefix)
        .env("SALON_CLUSTER_HEARTBEAT_MS", "200")
        .env("SALON_CLUSTER_PEER_TIMEOUT_MS", "1500")
        .env("SALON_CLUSTER_PEER_EVICTION_SECONDS", "3")
        .env("SALON_LOG_LEVEL", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(common::scratch("killed-node").join("salon.log")).unwrap())
        .spawn()
        .expect("the salon binary starts");
    wait_ready(&killed_base).await;

    // A reader and a sender on the doomed node, a watcher elsewhere.
    let (mut reader, _) = gateway_at(&killed_base, &t.member.0, json!({})).await;
    let (mut sender, _) = gateway_at(&killed_base, &t.other.0, json!({})).await;
    let (mut watcher, _) = gateway_at(&c.node(0).base, &t.owner.0, json!({})).await;
    const TOTAL: usize = 100;
    let mut acked: std::collections::BTreeMap<String, i64> = std::collections::BTreeMap::new();
    for i in 0..TOTAL {
        sender.send(send(&t.thread, &format!("m{i}"), &format!("k{i}"))).await;
    }
    // Some acknowledgements, then the kill, mid-stream.
    while acked.len() < 30 {
        let ack = sender.next_of("ack").await;
        acked.insert(ack["ref"].as_str().unwrap().to_owned(), ack["seq"].as_i64().unwrap());
    }
    killed.kill().expect("SIGKILL");
    let _ = killed.wait();
    // The others notice the silence and stop trusting their view (the dead node may have
    // committed a removal it never published), then give it up and reconcile.
    wait_bus(&c.node(0).base, "degraded").await;
    wait_bus(&c.node(0).base, "healthy").await;
    loop {
        match sender.next().await {
            Received::Frame(f) if f["type"] == "ack" => {
                acked.insert(f["ref"].as_str().unwrap().to_owned(), f["seq"].as_i64().unwrap());
            }
            Received::Frame(_) => {}
            Received::Closed(_) => break,
        }
    }
    // The reader saw some prefix; it resumes on node B from where it was.
    let mut seen = Vec::new();
    loop {
        match reader.next().await {
            Received::Frame(f) if f["type"] == "message_created" => seen.push(f["message"]["seq"].as_i64().unwrap()),
            Received::Frame(_) => {}
            Received::Closed(_) => break,
        }
    }
    assert_eq!(seen, (1..=seen.len() as i64).collect::<Vec<_>>(), "in order before the kill");
    let (mut resumed, _) =
        gateway_at(&c.node(1).base, &t.member.0, json!({ t.thread.clone(): seen.len() as i64 })).await;
    // The sender resends everything not acknowledged, on node A, with the same client ids.
    let (mut again, _) = gateway_at(&c.node(0).base, &t.other.0, json!({})).await;
    let missing: Vec<usize> = (0..TOTAL).filter(|i| !acked.contains_key(&format!("k{i}"))).collect();
    for &i in &missing {
        again.send(send(&t.thread, &format!("m{i}"), &format!("k{i}"))).await;
    }
    for _ in &missing {
        let ack = again.next_of("ack").await;
        acked.insert(ack["ref"].as_str().unwrap().to_owned(), ack["seq"].as_i64().unwrap());
    }
    assert_eq!(acked.len(), TOTAL);
    let mut seqs: Vec<i64> = acked.values().copied().collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=TOTAL as i64).collect::<Vec<_>>(), "each message stored once, nothing acknowledged lost");
    // The resumed reader gets exactly the rest; the watcher saw everything.
    let rest = collect_until(&mut resumed, &t.thread, seen.len() as i64 + 1, TOTAL as i64).await;
    assert_eq!(rest.len(), TOTAL - seen.len());
    collect_until(&mut watcher, &t.thread, 1, TOTAL as i64).await;
}

/// A node that shuts down tells its clients to reconnect (4012); they resume on another
/// node without loss, and the remaining nodes keep trusting their view (the node said
/// goodbye instead of going silent).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_shutting_down_sends_its_clients_elsewhere() {
    let mut c = Cluster::start(3, shared_redis()).await;
    let t = team(c.node(0)).await;
    let messages = format!("/api/v1/conversations/{}/messages", t.thread);
    let (mut client, _) = gateway_at(&c.node(1).base, &t.member.0, json!({})).await;
    c.node(0).post(&messages, Some(&t.owner.0), json!({"body": "before"})).await;
    collect_until(&mut client, &t.thread, 1, 1).await;

    c.nodes[1].shut_down().await;
    let (code, _) = client.until_closed().await;
    assert_eq!(code, Some(close::GOING_AWAY));
    c.node(0).post(&messages, Some(&t.owner.0), json!({"body": "while away"})).await;
    let (mut resumed, _) = gateway_at(&c.node(2).base, &t.member.0, json!({ t.thread.clone(): 1 })).await;
    assert_eq!(collect_until(&mut resumed, &t.thread, 2, 2).await, vec!["while away"]);
    c.node(0).post(&messages, Some(&t.owner.0), json!({"body": "after"})).await;
    assert_eq!(collect_until(&mut resumed, &t.thread, 3, 3).await, vec!["after"]);
    // Past the peer timeout, the others still trust their view: the node left cleanly.
    tokio::time::sleep(Duration::from_millis(3 * c.config().cluster.peer_timeout_ms)).await;
    assert_eq!(bus_state(&c.node(0).base).await.as_deref(), Some("healthy"));
    assert_eq!(bus_state(&c.node(2).base).await.as_deref(), Some("healthy"));
}
