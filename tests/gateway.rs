//! The real-time gateway with real WebSocket clients against a spawned server, on both
//! backends: live chat, order under concurrent senders, resume, slow consumers, the
//! removal race, additions seen live, presence, typing, read markers, bad frames, origin
//! checks, and every server frame checked against protocol/gateway.schema.json.

mod common;

use common::{Gw, TestApp, spawn_app_with};
use reqwest::StatusCode;
use salon::config::Backend;
use salon::domain::{AccountId, Role, WorkspaceId};
use salon_protocol::gateway::close;
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message as WsMessage;

on_both_backends!(
    two_clients_chat_live,
    concurrent_senders_are_seen_in_order_without_gaps,
    back_to_back_sends_keep_their_order_and_answers,
    resume_replays_what_was_missed,
    a_slow_consumer_is_closed_and_others_keep_receiving,
    removal_race_nothing_after_the_call_returns,
    additions_are_seen_live,
    presence_typing_and_read_markers,
    bad_frames_get_typed_errors,
    signing_out_closes_the_sockets,
);

/// An owner and a member in a workspace, both in a thread.
struct Pair {
    app: TestApp,
    ws: String,
    thread: String,
    owner: (String, String),
    member: (String, String),
}

async fn pair_with(backend: Backend, adjust: impl FnOnce(&mut salon::Config)) -> Pair {
    let app = spawn_app_with(backend, adjust).await;
    let owner = app.new_account("owner@gw.test", "Owner").await;
    let member = app.new_account("member@gw.test", "Member").await;
    let ws = app.post("/api/v1/workspaces", Some(&owner.0), json!({"name": "GW"})).await.body["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.services
        .workspaces
        .add_member(WorkspaceId(ws.parse().unwrap()), AccountId(member.1.parse().unwrap()), Role::Member)
        .await
        .unwrap();
    let thread = app
        .post(
            &format!("/api/v1/workspaces/{ws}/threads"),
            Some(&owner.0),
            json!({"subject": "Live", "accounts": [member.1]}),
        )
        .await;
    let thread = thread.body["id"].as_str().unwrap().to_owned();
    Pair { app, ws, thread, owner, member }
}

async fn pair(backend: Backend) -> Pair {
    pair_with(backend, |_| {}).await
}

fn send(thread: &str, body: &str, reference: &str) -> Value {
    json!({"type": "send", "ref": reference, "conversation_id": thread, "body": body})
}

async fn two_clients_chat_live(backend: Backend) {
    let p = pair(backend).await;
    let (mut a, ready) = p.app.gateway(&p.owner.0).await;
    assert_eq!(ready["account"]["id"], p.owner.1);
    let listed = ready["conversations"].as_array().unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!((listed[0]["id"].clone(), listed[0]["last_seq"].clone()), (json!(p.thread), json!(0)));
    let (mut b, _) = p.app.gateway(&p.member.0).await;

    a.send(send(&p.thread, "hello over the socket", "r1")).await;
    let ack = a.next_of("ack").await;
    assert_eq!(
        (ack["ref"].clone(), ack["seq"].clone(), ack["duplicate"].clone()),
        (json!("r1"), json!(1), json!(false))
    );
    let got = b.next_of("message_created").await;
    assert_eq!(got["message"]["body"], "hello over the socket");
    assert_eq!(got["message"]["seq"], 1);
    assert_eq!(got["message"]["author"]["account_id"], p.owner.1);
    // What the message does not have is left out, not sent as `null` or `[]`.
    let mut fields: Vec<&str> = got["message"].as_object().unwrap().keys().map(String::as_str).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["author", "body", "conversation_id", "created_at", "id", "seq"]);

    // A resend with the same client id is acknowledged as a duplicate, not stored twice.
    let resend = json!({"type": "send", "ref": "r2", "conversation_id": p.thread, "body": "once", "client_id": "k"});
    a.send(resend.clone()).await;
    let first = a.next_of("ack").await;
    a.send(resend).await;
    let again = a.next_of("ack").await;
    assert_eq!(again["seq"], first["seq"]);
    assert_eq!(again["duplicate"], true);

    // REST writes reach sockets too: posts, edits, deletions, reactions.
    let path = format!("/api/v1/conversations/{}/messages", p.thread);
    p.app.post(&path, Some(&p.member.0), json!({"body": "via REST"})).await;
    assert_eq!(a.next_of("message_created").await["message"]["body"], "via REST");
    p.app.patch(&format!("{path}/1"), &p.owner.0, json!({"body": "edited"})).await;
    let edited = b.next_of("message_edited").await;
    assert_eq!((edited["seq"].clone(), edited["body"].clone()), (json!(1), json!("edited")));
    p.app.call(reqwest::Method::PUT, &format!("{path}/1/reactions/ok"), Some(&p.member.0), None).await;
    let reaction = a.next_of("reaction_added").await;
    assert_eq!((reaction["emoji"].clone(), reaction["account_id"].clone()), (json!("ok"), json!(p.member.1)));
    p.app.delete(&format!("{path}/1"), &p.owner.0).await;
    assert_eq!(b.next_of("message_deleted").await["seq"], 1);
    p.app.patch(&format!("/api/v1/conversations/{}", p.thread), &p.owner.0, json!({"subject": "Renamed"})).await;
    assert_eq!(b.next_of("conversation_updated").await["title"], "Renamed");
}

async fn concurrent_senders_are_seen_in_order_without_gaps(backend: Backend) {
    let p = pair(backend).await;
    let third = p.app.new_account("third@gw.test", "Third").await;
    p.app
        .post(
            &format!("/api/v1/conversations/{}/recipients", p.thread),
            Some(&p.owner.0),
            json!({"account_id": third.1}),
        )
        .await;
    let (mut observer, _) = p.app.gateway(&p.owner.0).await;
    let mut senders = Vec::new();
    for token in [&p.owner.0, &p.member.0, &third.0] {
        let (mut gw, _) = p.app.gateway(token).await;
        let thread = p.thread.clone();
        senders.push(tokio::spawn(async move {
            for i in 0..30 {
                gw.send(send(&thread, &format!("m{i}"), &format!("r{i}"))).await;
            }
            let mut acked = 0;
            while acked < 30 {
                if gw.frame().await["type"] == "ack" {
                    acked += 1;
                }
            }
        }));
    }
    let mut seqs = Vec::new();
    while seqs.len() < 90 {
        let frame = observer.next_of("message_created").await;
        seqs.push(frame["message"]["seq"].as_i64().unwrap());
    }
    for s in senders {
        s.await.unwrap();
    }
    assert_eq!(seqs, (1..=90).collect::<Vec<_>>(), "every message once, in sequence order");
}

/// A client that sends without waiting for acks (a bot, a pasted batch): its messages
/// are stored in the order it sent them, every frame is answered in that order (a
/// refused one in its place, changing nothing), and readers see the same order.
async fn back_to_back_sends_keep_their_order_and_answers(backend: Backend) {
    let p = pair(backend).await;
    let (mut reader, _) = p.app.gateway(&p.member.0).await;
    let (mut writer, _) = p.app.gateway(&p.owner.0).await;
    let mut expected = Vec::new();
    for i in 0..60 {
        let frame = match i {
            17 => json!({"type": "send", "ref": "r17", "conversation_id": p.thread, "body": "   "}),
            31 => json!({"type": "ping", "ref": "r31"}),
            44 => json!({"type": "send", "ref": "r44", "conversation_id": "123456789", "body": "nowhere"}),
            _ => send(&p.thread, &format!("m{i}"), &format!("r{i}")),
        };
        writer.send(frame).await;
        expected.push(format!("r{i}"));
    }
    let mut answered = Vec::new();
    let mut seqs = Vec::new();
    while answered.len() < 60 {
        let frame = writer.frame().await;
        match frame["type"].as_str().unwrap() {
            "ack" => seqs.push(frame["seq"].as_i64().unwrap()),
            "error" => {
                let code = if frame["ref"] == "r17" { "validation_failed" } else { "not_found" };
                assert_eq!(frame["code"], code, "{frame}");
            }
            "pong" => {}
            _ => continue,
        }
        answered.push(frame["ref"].as_str().unwrap().to_owned());
    }
    assert_eq!(answered, expected, "one answer per frame, in the order sent");
    assert_eq!(seqs, (1..=57).collect::<Vec<i64>>(), "stored in the order sent, without gaps");
    let bodies: Vec<String> = (0..60).filter(|i| ![17, 31, 44].contains(i)).map(|i| format!("m{i}")).collect();
    let mut seen = Vec::new();
    while seen.len() < 57 {
        let created = reader.next_of("message_created").await;
        assert_eq!(created["message"]["seq"], seen.len() as i64 + 1);
        seen.push(created["message"]["body"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen, bodies, "readers see the sender's order");
}

async fn resume_replays_what_was_missed(backend: Backend) {
    let p = pair_with(backend, |c| c.gateway.resume_max_messages = 5).await;
    let path = format!("/api/v1/conversations/{}/messages", p.thread);
    for i in 1..=3 {
        p.app.post(&path, Some(&p.owner.0), json!({"body": format!("before {i}")})).await;
    }
    let (mut gw, _) = p.app.gateway(&p.member.0).await;
    drop(gw.ws.close(None).await);
    // Missed while disconnected: 4 and 5.
    for i in 4..=5 {
        p.app.post(&path, Some(&p.owner.0), json!({"body": format!("missed {i}")})).await;
    }
    let (mut back, ready) = p.app.gateway_resuming(&p.member.0, json!({ p.thread.clone(): 3 })).await;
    assert_eq!(ready["conversations"][0]["last_seq"], 5);
    let first = back.next_of("message_created").await;
    let second = back.next_of("message_created").await;
    assert_eq!((first["message"]["seq"].clone(), second["message"]["seq"].clone()), (json!(4), json!(5)));
    // Live messages continue right after, without duplicates.
    p.app.post(&path, Some(&p.owner.0), json!({"body": "live 6"})).await;
    assert_eq!(back.next_of("message_created").await["message"]["seq"], 6);

    // Too far behind: told to resync instead of a flood.
    for i in 7..=13 {
        p.app.post(&path, Some(&p.owner.0), json!({"body": format!("more {i}")})).await;
    }
    let (mut late, _) = p.app.gateway_resuming(&p.member.0, json!({ p.thread.clone(): 1 })).await;
    let frame = late.frame().await;
    assert_eq!((frame["type"].clone(), frame["last_seq"].clone()), (json!("resync"), json!(13)));
    // A resume for a conversation one cannot see is ignored, not answered.
    let (mut nosy, _) = p.app.gateway_resuming(&p.member.0, json!({"424242": 0})).await;
    let rest = nosy.round_trip("x").await;
    assert!(rest.iter().all(|f| f["type"] == "presence" && f["account_id"] == p.member.1), "{rest:?}");
}

async fn a_slow_consumer_is_closed_and_others_keep_receiving(backend: Backend) {
    let p = pair_with(backend, |c| {
        c.gateway.queue_frames = 16;
        c.gateway.queue_bytes = 256 * 1024;
    })
    .await;
    let (mut slow, _) = p.app.gateway(&p.member.0).await;
    let (mut fast, _) = p.app.gateway(&p.owner.0).await;
    let big = "x".repeat(60_000);
    let path = format!("/api/v1/conversations/{}/messages", p.thread);
    let mut received = 0;
    for _ in 0..150 {
        assert_eq!(p.app.post(&path, Some(&p.owner.0), json!({"body": big})).await.status, StatusCode::CREATED);
        // The fast reader keeps up.
        if fast.next_of("message_created").await["message"]["body"].as_str().unwrap().len() == 60_000 {
            received += 1;
        }
    }
    assert_eq!(received, 150, "the fast client got everything");
    let (code, _) = slow.until_closed().await;
    assert_eq!(code, Some(close::SLOW_CONSUMER));
}

async fn removal_race_nothing_after_the_call_returns(backend: Backend) {
    // The flood is 150 frames at once: above the default per-socket rate.
    let p = pair_with(backend, |c| c.gateway.frames_per_second = 1000).await;
    let external = p.app.new_account("ext@partner.test", "Ext").await;
    let recipients = format!("/api/v1/conversations/{}/recipients", p.thread);
    p.app.post(&recipients, Some(&p.owner.0), json!({"account_id": external.1})).await;
    let (mut ext, ready) = p.app.gateway(&external.0).await;
    assert_eq!(ready["conversations"].as_array().unwrap().len(), 1);
    let (mut watcher, _) = p.app.gateway(&p.owner.0).await;
    // The member floods while the owner removes the external.
    let (mut flooder, _) = p.app.gateway(&p.member.0).await;
    let thread = p.thread.clone();
    let flood = tokio::spawn(async move {
        for i in 0..150 {
            flooder.send(send(&thread, &format!("flood {i}"), &format!("f{i}"))).await;
        }
        let mut last = 0;
        for _ in 0..150 {
            let ack = flooder.next_of("ack").await;
            last = ack["seq"].as_i64().unwrap();
        }
        last
    });
    // Let the flood get going.
    watcher.next_of("message_created").await;
    let removed = p.app.delete(&format!("{recipients}/accounts/{}", external.1), &p.owner.0).await;
    assert_eq!(removed.status, StatusCode::OK);
    // Everything committed from here on has a higher sequence than this.
    let fence = p
        .app
        .post(&format!("/api/v1/conversations/{}/messages", p.thread), Some(&p.owner.0), json!({"body": "fence"}))
        .await;
    let fence = fence.body["seq"].as_i64().unwrap();
    let last = flood.await.unwrap();
    // The watcher sees the whole flood; by then the external's queue has had its chance.
    loop {
        if watcher.next_of("message_created").await["message"]["seq"].as_i64().unwrap() >= last.max(fence) {
            break;
        }
    }
    let frames = ext.round_trip("after").await;
    let removed_at = frames.iter().position(|f| f["type"] == "conversation_removed");
    let removed_at = removed_at.unwrap_or_else(|| panic!("the socket was told: {frames:?}"));
    assert_eq!(frames[removed_at]["conversation_id"], p.thread);
    for f in &frames[removed_at + 1..] {
        assert_ne!(f["conversation_id"], p.thread, "nothing of the thread after its removal: {f}");
        assert_ne!(f["message"]["conversation_id"], p.thread, "nothing of the thread after its removal: {f}");
    }
    for f in &frames {
        if f["type"] == "message_created" {
            assert!(f["message"]["seq"].as_i64().unwrap() < fence, "a message committed after the removal: {f}");
        }
    }
    // And a resume never replays it.
    let (mut again, ready) = p.app.gateway_resuming(&external.0, json!({ p.thread.clone(): 0 })).await;
    assert_eq!(ready["conversations"], json!([]));
    assert!(again.round_trip("x").await.is_empty());
}

async fn additions_are_seen_live(backend: Backend) {
    let p = pair(backend).await;
    let newcomer = p.app.new_account("new@gw.test", "New").await;
    let (mut gw, ready) = p.app.gateway(&newcomer.0).await;
    assert_eq!(ready["conversations"], json!([]));
    p.app
        .post(&format!("/api/v1/conversations/{}/messages", p.thread), Some(&p.owner.0), json!({"body": "history"}))
        .await;
    p.app
        .post(
            &format!("/api/v1/conversations/{}/recipients", p.thread),
            Some(&p.owner.0),
            json!({"account_id": newcomer.1}),
        )
        .await;
    let added = gw.next_of("conversation_added").await;
    assert_eq!(added["conversation"]["id"], p.thread);
    assert_eq!(added["conversation"]["last_seq"], 1, "the whole history is theirs to read");
    p.app
        .post(&format!("/api/v1/conversations/{}/messages", p.thread), Some(&p.owner.0), json!({"body": "welcome"}))
        .await;
    let next = gw.next_of("message_created").await;
    assert_eq!((next["message"]["seq"].clone(), next["message"]["body"].clone()), (json!(2), json!("welcome")));
    // A new group with them in it appears too.
    let group = p
        .app
        .post(
            &format!("/api/v1/workspaces/{}/groups", p.ws),
            Some(&p.owner.0),
            json!({"name": "G", "members": [newcomer.1]}),
        )
        .await;
    assert_eq!(gw.next_of("conversation_added").await["conversation"]["id"], group.body["id"]);
}

async fn presence_typing_and_read_markers(backend: Backend) {
    let p = pair(backend).await;
    let stranger = p.app.new_account("stranger@gw.test", "Stranger").await;
    let (mut watcher, _) = p.app.gateway(&p.owner.0).await;
    let (mut outsider, _) = p.app.gateway(&stranger.0).await;
    let (mut member, _) = p.app.gateway(&p.member.0).await;
    let online = presence_of(&mut watcher, &p.member.1).await;
    assert_eq!(online["status"], "online");
    member.send(json!({"type": "typing", "conversation_id": p.thread})).await;
    let typing = watcher.next_of("typing").await;
    assert_eq!(typing["account_id"], p.member.1);
    member.send(json!({"type": "presence", "status": "away"})).await;
    assert_eq!(presence_of(&mut watcher, &p.member.1).await["status"], "away");
    // Read markers follow the account across its sockets.
    p.app
        .post(&format!("/api/v1/conversations/{}/messages", p.thread), Some(&p.owner.0), json!({"body": "read me"}))
        .await;
    let (mut second_device, _) = p.app.gateway(&p.member.0).await;
    member.send(json!({"type": "read", "conversation_id": p.thread, "seq": 1})).await;
    let marker = second_device.next_of("read_marker").await;
    assert_eq!((marker["conversation_id"].clone(), marker["seq"].clone()), (json!(p.thread), json!(1)));
    drop(member.ws.close(None).await);
    drop(second_device.ws.close(None).await);
    let offline = presence_of(&mut watcher, &p.member.1).await;
    assert_eq!(offline["status"], "offline");
    // Someone who shares no conversation saw none of it.
    let seen = outsider.round_trip("x").await;
    assert!(seen.is_empty(), "{seen:?}");
    // Typing where one cannot see: the same answer as a conversation that does not exist.
    outsider.send(json!({"type": "typing", "conversation_id": p.thread})).await;
    let hidden = outsider.next_of("error").await;
    outsider.send(json!({"type": "typing", "conversation_id": "31337"})).await;
    let missing = outsider.next_of("error").await;
    assert_eq!(hidden["code"], "not_found");
    assert_eq!(hidden, missing);
}

/// The next presence frame about `account` (one's own presence comes too).
async fn presence_of(gw: &mut Gw, account: &str) -> Value {
    loop {
        let frame = gw.next_of("presence").await;
        if frame["account_id"] == account {
            return frame;
        }
    }
}

async fn bad_frames_get_typed_errors(backend: Backend) {
    let p = pair_with(backend, |c| {
        c.gateway.auth_timeout_seconds = 1;
        c.gateway.frames_per_second = 5;
    })
    .await;
    let (mut gw, _) = p.app.gateway(&p.owner.0).await;
    for (raw, code) in [
        ("{not json", "malformed_json"),
        ("[]", "unknown_frame"),
        (r#"{"type": "dance"}"#, "unknown_frame"),
        (r#"{"type": "send", "conversation_id": "1"}"#, "invalid_request"),
        (r#"{"type": "typing", "conversation_id": "1", "extra": true}"#, "invalid_request"),
    ] {
        gw.send_raw(WsMessage::text(raw)).await;
        let error = gw.next_of("error").await;
        assert_eq!(error["code"], code, "{raw}");
    }
    let rest = gw.round_trip("ok").await;
    assert!(rest.iter().all(|f| f["type"] == "presence"), "nothing but one's own presence: {rest:?}");
    // A message over the size limit is refused like over REST, and nothing is stored.
    gw.send(send(&p.thread, &"x".repeat(65_537), "big")).await;
    let refused = gw.next_of("error").await;
    assert_eq!((refused["ref"].clone(), refused["code"].clone()), (json!("big"), json!("validation_failed")));
    let history = p.app.get(&format!("/api/v1/conversations/{}/messages", p.thread), &p.owner.0).await;
    assert_eq!(history.body["messages"], json!([]));
    // Flooding gets rate_limited errors.
    for i in 0..40 {
        gw.send(json!({"type": "ping", "ref": format!("p{i}")})).await;
    }
    let mut limited = false;
    for _ in 0..40 {
        if gw.frame().await["code"] == "rate_limited" {
            limited = true;
            break;
        }
    }
    assert!(limited, "a flood is slowed down");

    // Protocol violations close the socket with the documented codes.
    let mut binary = p.app.open_gateway(None).await.unwrap();
    binary.send(json!({"type": "hello", "token": p.owner.0})).await;
    binary.next_of("ready").await;
    binary.send_raw(WsMessage::Binary(vec![1, 2, 3].into())).await;
    assert_eq!(binary.until_closed().await.0, Some(1003));
    let mut too_big = p.app.open_gateway(None).await.unwrap();
    too_big.send(json!({"type": "hello", "token": p.owner.0})).await;
    too_big.next_of("ready").await;
    too_big.send_raw(WsMessage::text("x".repeat(200_000))).await;
    assert_eq!(too_big.until_closed().await.0, Some(1009));
    let mut silent = p.app.open_gateway(None).await.unwrap();
    assert_eq!(silent.until_closed().await.0, Some(close::AUTHENTICATION_FAILED), "no hello in time");
    let mut wrong = p.app.open_gateway(None).await.unwrap();
    wrong.send(json!({"type": "hello", "token": "x".repeat(43)})).await;
    assert_eq!(wrong.until_closed().await.0, Some(close::AUTHENTICATION_FAILED));
    let mut rude = p.app.open_gateway(None).await.unwrap();
    rude.send(json!({"type": "ping"})).await;
    assert_eq!(rude.until_closed().await.0, Some(close::PROTOCOL_VIOLATION));
    let (mut twice, _) = p.app.gateway(&p.owner.0).await;
    twice.send(json!({"type": "hello", "token": p.owner.0})).await;
    assert_eq!(twice.until_closed().await.0, Some(close::PROTOCOL_VIOLATION));
}

async fn signing_out_closes_the_sockets(backend: Backend) {
    let p = pair(backend).await;
    let (mut gw, _) = p.app.gateway(&p.member.0).await;
    let out = p.app.call(reqwest::Method::POST, "/api/v1/auth/logout", Some(&p.member.0), None).await;
    assert_eq!(out.status, StatusCode::NO_CONTENT);
    assert_eq!(gw.until_closed().await.0, Some(close::SESSION_ENDED));
}

/// Browsers from another site cannot open the gateway (cross-site WebSocket hijacking);
/// the server's own origin and configured ones can.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_origins_are_refused_before_the_upgrade() {
    let app =
        spawn_app_with(Backend::Sqlite, |c| c.gateway.allowed_origins = vec!["https://chat.example.com".into()]).await;
    let refused = app.open_gateway(Some("https://evil.example")).await;
    match refused {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 403),
        other => panic!("expected a 403 before the upgrade, got {:?}", other.map(|_| ())),
    }
    assert!(app.open_gateway(Some("https://chat.example.com")).await.is_ok());
    assert!(app.open_gateway(Some("http://salon.test")).await.is_ok(), "the public URL's own origin");
    assert!(app.open_gateway(None).await.is_ok(), "non-browser clients send no origin");
    let same_origin = app.base.clone();
    assert!(app.open_gateway(Some(&same_origin)).await.is_ok(), "a page this server served, whatever its name");
    let lookalike = format!("{}.evil.example", app.base);
    assert!(app.open_gateway(Some(&lookalike)).await.is_err(), "only the exact host");
}

/// The committed schema is the one generated from the protocol types.
#[test]
fn the_gateway_schema_is_current() {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/protocol/gateway.schema.json");
    let generated = serde_json::to_string_pretty(&salon::gateway::json_schema()).unwrap() + "\n";
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    if committed != generated && std::env::var_os("UPDATE_PROTOCOL").is_some() {
        std::fs::write(path, &generated).unwrap();
    } else {
        assert!(
            committed == generated,
            "protocol/gateway.schema.json is stale: run `UPDATE_PROTOCOL=1 cargo test --test gateway`"
        );
    }
}

/// One account may hold a bounded number of sockets, one address too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_limited_per_account_and_per_address() {
    let p = pair_with(Backend::Sqlite, |c| c.gateway.max_sockets_per_account = 2).await;
    let (_one, _) = p.app.gateway(&p.owner.0).await;
    let (_two, _) = p.app.gateway(&p.owner.0).await;
    let mut third = p.app.open_gateway(None).await.unwrap();
    third.send(json!({"type": "hello", "token": p.owner.0})).await;
    assert_eq!(third.until_closed().await.0, Some(close::TOO_MANY_SOCKETS));
    let (_other_account, _) = p.app.gateway(&p.member.0).await;

    let app = spawn_app_with(Backend::Sqlite, |c| c.gateway.max_sockets_per_address = 2).await;
    let _a = app.open_gateway(None).await.unwrap();
    let _b = app.open_gateway(None).await.unwrap();
    match app.open_gateway(None).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => assert_eq!(response.status(), 429),
        other => panic!("a third socket from one address is refused, got {:?}", other.map(|_| ())),
    }
}

/// A client that answers nothing (not even pings) is closed as idle. The passage of time
/// is the feature under test here: the client stays silent, without polling its socket
/// (which would answer pings), for longer than the idle timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_closed_as_idle() {
    let p = pair_with(Backend::Sqlite, |c| {
        c.gateway.heartbeat_seconds = 1;
        c.gateway.idle_timeout_seconds = 2;
    })
    .await;
    let (mut quiet, _) = p.app.gateway(&p.owner.0).await;
    tokio::time::sleep(std::time::Duration::from_millis(3500)).await;
    // Raw: through tungstenite, answering the queued pings could lose the close frame.
    assert_eq!(raw_close_code(&mut quiet).await, Some(close::IDLE_TIMEOUT));
    // One that listens (and so answers the pings) stays open as long.
    let (mut lively, _) = p.app.gateway(&p.member.0).await;
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(3500);
    while let Ok(frame) = tokio::time::timeout_at(deadline, lively.frame()).await {
        assert_eq!(frame["type"], "presence", "{frame}");
    }
    assert!(lively.round_trip("alive").await.iter().all(|f| f["type"] == "presence"));
}

/// A node that shuts down tells its sockets to reconnect elsewhere (4012) and stops.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_tells_sockets_to_reconnect() {
    let config = common::test_config(Backend::Sqlite).await;
    let built = salon::App::build(config.clone()).await.unwrap();
    let app = TestApp {
        base: format!("http://{}", built.local_addr()),
        client: reqwest::Client::new(),
        outbox: config.mail.outbox_dir.clone(),
        services: built.services().clone(),
        config,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(built.run(async move {
        let _ = stopped.await;
    }));
    let (token, _) = app.new_account("leaving@gw.test", "Leaving").await;
    let (mut gw, _) = app.gateway(&token).await;
    stop.send(()).unwrap();
    assert_eq!(gw.until_closed().await.0, Some(close::GOING_AWAY));
    tokio::time::timeout(std::time::Duration::from_secs(15), running).await.expect("the node stops").unwrap().unwrap();
}

/// `/metrics` counts sockets, events, fan-out and posts' time in the store on this node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_sockets_and_fan_out() {
    let p = pair(Backend::Sqlite).await;
    let (mut a, _) = p.app.gateway(&p.owner.0).await;
    let (_b, _) = p.app.gateway(&p.member.0).await;
    a.send(send(&p.thread, "counted", "m")).await;
    // The ack is answered after the post's time is counted (and its event published).
    a.next_of("ack").await;
    let text = p.app.client.get(format!("{}/metrics", p.app.base)).send().await.unwrap().text().await.unwrap();
    let value = |name: &str| -> u64 {
        let line =
            text.lines().find(|l| l.starts_with(&format!("{name} "))).unwrap_or_else(|| panic!("{name} in {text}"));
        line.rsplit(' ').next().unwrap().parse().unwrap()
    };
    assert_eq!(value("salon_gateway_sockets"), 2);
    assert_eq!(value("salon_gateway_active_conversations"), 1);
    assert!(value("salon_events_published_total") >= 1);
    assert!(value("salon_frames_queued_total") >= 2, "one message, two sockets");
    assert_eq!(value("salon_slow_consumer_closes_total"), 0);
    assert_eq!(value("salon_post_commit_seconds_count"), 1, "one post stored");
    assert!(text.contains("# TYPE salon_gateway_sockets gauge"));
    assert!(text.contains("# TYPE salon_post_commit_seconds histogram"));
}

/// Reads what the server sent a socket, raw, to its end, and returns the close frame's
/// code. Reading through tungstenite would answer the pings queued before the close, and
/// a pong written after the server dropped the connection draws a reset, which can
/// discard the close frame before it is read.
async fn raw_close_code(socket: &mut Gw) -> Option<u16> {
    use tokio::io::AsyncReadExt;
    let tokio_tungstenite::MaybeTlsStream::Plain(tcp) = socket.ws.get_mut() else { panic!("a plain TCP socket") };
    let mut bytes = Vec::new();
    let read = tokio::time::timeout(std::time::Duration::from_secs(10), tcp.read_to_end(&mut bytes)).await;
    read.expect("the server ends the connection within 10 s").expect("the connection reads to its end");
    // Server frames are unmasked: an opcode byte, a length (126: two more bytes), the payload.
    let mut at = 0;
    while at + 2 <= bytes.len() {
        let (opcode, short) = (bytes[at] & 0x0f, usize::from(bytes[at + 1] & 0x7f));
        let (start, len) = match short {
            126 => (at + 4, usize::from(u16::from_be_bytes([bytes[at + 2], bytes[at + 3]]))),
            127 => panic!("no server frame here is that long"),
            n => (at + 2, n),
        };
        if opcode == 8 && len >= 2 {
            return Some(u16::from_be_bytes([bytes[start], bytes[start + 1]]));
        }
        at = start + len;
    }
    None
}

/// The server pings every socket once per heartbeat period; a socket it has not heard from
/// (a pong counts) for the idle timeout is closed with 4011, and one that answers stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sockets_are_pinged_and_silent_ones_closed() {
    let app = spawn_app_with(Backend::Sqlite, |c| {
        c.gateway.heartbeat_seconds = 1;
        c.gateway.idle_timeout_seconds = 2;
    })
    .await;
    let (token, _) = app.new_account("idle@gw.test", "Idle").await;
    let (mut answering, _) = app.gateway(&token).await;
    let (mut silent, _) = app.gateway(&token).await;
    // Reading answers the pings (tungstenite queues the pong and sends it as it reads).
    // Five pings a second apart: more than the idle timeout and a heartbeat have passed.
    let mut pings = 0;
    while pings < 5 {
        let next =
            tokio::time::timeout(std::time::Duration::from_secs(5), futures_util::StreamExt::next(&mut answering.ws))
                .await;
        match next.expect("a ping within 5 s") {
            Some(Ok(WsMessage::Ping(_))) => pings += 1,
            Some(Ok(_)) => {}
            other => panic!("the answering socket ended: {other:?}"),
        }
    }
    assert_eq!(
        raw_close_code(&mut silent).await,
        Some(close::IDLE_TIMEOUT),
        "the socket that never answered is closed as idle"
    );
    answering.send(json!({"type": "ping", "ref": "still"})).await;
    let pong = answering.next_of("pong").await;
    assert_eq!(pong["ref"], "still");
}
