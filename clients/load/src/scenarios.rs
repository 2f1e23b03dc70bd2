//! The scenarios. Each builds its shape (through Salon's API when the target is Salon),
//! opens the sockets, runs senders at a fixed rate for a fixed time, waits for the
//! deliveries to settle, and returns one JSON object of results.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::SinkExt;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, watch};

use crate::proto::{self, Incoming, Kind, Rx, Tx};
use crate::setup::{Account, Server};
use crate::stats::{self, Report, Seen, percentile_ms};

/// Where and how to connect.
#[derive(Clone)]
pub struct Target {
    pub kind: Kind,
    /// One base URL per node; sockets are spread over them, senders use the first.
    pub nodes: Vec<String>,
    /// Salon's outbox folder (for verification links).
    pub outbox: std::path::PathBuf,
    /// Server processes, for memory figures.
    pub pids: Vec<u32>,
}

/// One conversation (or room) under load: who sends into it and who listens.
struct Group {
    key: String,
    sender: Option<Account>,
    receivers: Vec<(usize, Option<Account>)>,
}

/// The numbers a sender's messages got in one run, `first..=last` (none: `last < first`).
struct Numbers {
    first: i64,
    last: i64,
}

/// How long deliveries may take to arrive once the senders stop.
const SETTLE: Duration = Duration::from_secs(5);
const CONNECT_AT_ONCE: usize = 128;

async fn connect(kind: Kind, base: &str, key: &str, account: Option<&Account>) -> (Tx, Rx) {
    match kind {
        Kind::Salon => proto::salon(base, &account.expect("Salon sockets have an account").token).await,
        Kind::Floor => proto::floor(base, key).await,
        Kind::SocketIo => proto::socketio(base, key).await,
    }
}

fn spawn_reader(
    kind: Kind,
    tx: Tx,
    rx: Rx,
    stop: watch::Receiver<bool>,
    delivered: Arc<AtomicU64>,
) -> tokio::task::JoinHandle<Seen> {
    tokio::spawn(read_until(kind, tx, rx, stop, delivered))
}

/// Reads deliveries until `stop` turns true, counting them in `delivered` as they come.
async fn read_until(
    kind: Kind,
    mut tx: Tx,
    mut rx: Rx,
    mut stop: watch::Receiver<bool>,
    delivered: Arc<AtomicU64>,
) -> Seen {
    {
        let mut seen = Seen::default();
        let mut removed: Vec<String> = Vec::new();
        loop {
            let incoming = tokio::select! {
                incoming = proto::next(kind, &mut rx, Some(&mut tx)) => incoming,
                _ = stop.wait_for(|s| *s) => break,
            };
            match incoming {
                Incoming::Delivery { key, n, t_us } => {
                    if removed.contains(&key) {
                        seen.after_removal += 1;
                    }
                    seen.delivery(key, n, proto::now_us() - t_us);
                    delivered.fetch_add(1, Ordering::Relaxed);
                }
                Incoming::Removed { key } => removed.push(key),
                Incoming::Added { key } => removed.retain(|k| *k != key),
                Incoming::Closed => break,
                _ => {}
            }
        }
        let _ = tx.close().await;
        seen
    }
}

/// Sends numbered messages into `key` at `rate` per second from `start` until `stop`; returns the
/// ack latencies (Salon) and the highest number acknowledged (or sent, for references).
fn spawn_sender(
    kind: Kind,
    key: String,
    mut tx: Tx,
    mut rx: Rx,
    rate: f64,
    start: tokio::time::Instant,
    mut stop: watch::Receiver<bool>,
) -> tokio::task::JoinHandle<(Vec<u32>, Numbers)> {
    tokio::spawn(async move {
        let pending: Arc<Mutex<HashMap<String, i64>>> = Arc::default();
        let acks = {
            let pending = pending.clone();
            let key = key.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                // The numbers this run's messages got: a conversation of an earlier run
                // (`chat --setup`) starts past 1.
                let (mut lowest, mut highest) = (i64::MAX, 0);
                loop {
                    match proto::next(kind, &mut rx, None).await {
                        Incoming::Ack { reference, seq } => {
                            if let Some(t) = pending.lock().unwrap().remove(&reference) {
                                latencies.push((proto::now_us() - t).clamp(0, u32::MAX as i64) as u32);
                            }
                            (lowest, highest) = (lowest.min(seq), highest.max(seq));
                        }
                        Incoming::Delivery { key: k, n, .. } if kind != Kind::Salon && k == key => {
                            (lowest, highest) = (lowest.min(n), highest.max(n));
                        }
                        Incoming::Closed => break,
                        _ => {}
                    }
                }
                (latencies, Numbers { first: lowest.min(highest + 1), last: highest })
            })
        };
        tokio::time::sleep_until(start).await;
        // Message k is due at started + k / rate: sleep until then (no polling), and catch
        // up at once if late.
        let started = start;
        let mut sent: i64 = 0;
        loop {
            let due = started + Duration::from_secs_f64(sent as f64 / rate);
            tokio::select! {
                _ = tokio::time::sleep_until(due) => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            sent += 1;
            if kind == Kind::Salon {
                pending.lock().unwrap().insert(sent.to_string(), proto::now_us());
            }
            if tx.send(proto::send_frame(kind, &key, sent)).await.is_err() {
                break;
            }
        }
        // Salon: wait for the last acks (each send is acknowledged once stored).
        if kind == Kind::Salon {
            let deadline = Instant::now() + SETTLE;
            while !pending.lock().unwrap().is_empty() && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        let _ = tx.close().await;
        let (latencies, numbers) = tokio::time::timeout(SETTLE, acks)
            .await
            .ok()
            .and_then(|r| r.ok())
            .unwrap_or((Vec::new(), Numbers { first: 1, last: 0 }));
        // The references never acknowledge: what was sent is what counts.
        (latencies, if kind == Kind::Salon { numbers } else { Numbers { first: 1, last: sent } })
    })
}

/// Runs groups at `rate` messages per second each for `seconds`, waits until every
/// delivery arrived (or `SETTLE` passed), and reports: what receivers saw, the ack
/// latencies, the server's memory and CPU during the run, and how many sockets were open.
async fn run_groups(target: &Target, groups: Vec<Group>, rate: f64, seconds: f64) -> Run {
    let kind = target.kind;
    let (stop_senders, senders_stop) = watch::channel(false);
    let (stop_readers, readers_stop) = watch::channel(false);
    let delivered = Arc::new(AtomicU64::new(0));
    let limit = Arc::new(Semaphore::new(CONNECT_AT_ONCE));
    // Receivers first, so that every message reaches everyone.
    let mut connected = Vec::new();
    let mut readers = Vec::new();
    let mut listeners: HashMap<String, u64> = HashMap::new();
    for g in &groups {
        for (node, account) in &g.receivers {
            let base = target.nodes[*node % target.nodes.len()].clone();
            let (key, account, limit) = (g.key.clone(), account.clone(), limit.clone());
            let (stop, delivered) = (readers_stop.clone(), delivered.clone());
            let (ready, is_ready) = tokio::sync::oneshot::channel::<()>();
            let listens = g.key.clone();
            readers.push((
                listens,
                tokio::spawn(async move {
                    let (tx, rx) = {
                        let _permit = limit.acquire().await.unwrap();
                        connect(kind, &base, &key, account.as_ref()).await
                    };
                    let _ = ready.send(());
                    read_until(kind, tx, rx, stop, delivered).await
                }),
            ));
            connected.push(is_ready);
            *listeners.entry(g.key.clone()).or_default() += 1;
        }
    }
    for c in connected {
        c.await.expect("a receiver connects");
    }
    let mut connections = readers.len();
    // Every sender is connected before the first one sends: a run measures the steady
    // state, not sockets opening while others already send.
    let mut opening = Vec::new();
    for g in &groups {
        let (base, key, account, limit) = (target.nodes[0].clone(), g.key.clone(), g.sender.clone(), limit.clone());
        opening.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            connect(kind, &base, &key, account.as_ref()).await
        }));
    }
    let mut opened = Vec::new();
    for o in opening {
        opened.push(o.await.expect("a sender connects"));
    }
    connections += opened.len();
    let mut senders = Vec::new();
    let period = if rate > 0.0 { 1.0 / rate } else { 0.0 };
    let commits_before = stats::histogram(&metrics(target).await, COMMIT_HISTOGRAM);
    let start = tokio::time::Instant::now() + Duration::from_millis(50);
    let cpu_before = stats::cpu_seconds(&target.pids);
    for (i, (g, (tx, rx))) in groups.iter().zip(opened).enumerate() {
        // Spread the senders' first messages over one period.
        let phase = Duration::from_secs_f64(period * (i as f64 / groups.len().max(1) as f64));
        let task = spawn_sender(kind, g.key.clone(), tx, rx, rate, start + phase, senders_stop.clone());
        senders.push((g.key.clone(), task));
    }
    tokio::time::sleep_until(start + Duration::from_secs_f64(seconds)).await;
    let cpu = (stats::cpu_seconds(&target.pids) - cpu_before) / seconds;
    let rss = stats::rss_mib(&target.pids);
    let _ = stop_senders.send(true);
    let mut sent: HashMap<String, i64> = HashMap::new();
    let mut from: HashMap<String, i64> = HashMap::new();
    let mut ack_latencies = Vec::new();
    for (key, task) in senders {
        let (latencies, numbers) = task.await.expect("a sender");
        ack_latencies.extend(latencies);
        from.insert(key.clone(), numbers.first);
        sent.insert(key, numbers.last);
    }
    // Every post was answered: the server has counted each one's time in the store.
    let commits = stats::histogram_since(&commits_before, &stats::histogram(&metrics(target).await, COMMIT_HISTOGRAM));
    // Every receiver should get every message: wait for that, within reason.
    let expected: u64 =
        sent.iter().map(|(k, n)| (n + 1 - from[k]) as u64 * listeners.get(k).copied().unwrap_or(0)).sum();
    let deadline = Instant::now() + SETTLE;
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_readers.send(true);
    let mut report = Report::default();
    for (key, r) in readers {
        let expected = HashMap::from([(key.clone(), sent.get(&key).copied().unwrap_or(0))]);
        report.add(r.await.unwrap_or_default(), &expected, &from);
    }
    Run { report, acks: ack_latencies, rss, connections, cpu, commits }
}

/// Salon's histogram of each post's time in the store (from reaching it to the commit).
const COMMIT_HISTOGRAM: &str = "salon_post_commit_seconds";

/// Every node's `/metrics` text (none for the references, which have none).
async fn metrics(target: &Target) -> Vec<String> {
    if target.kind != Kind::Salon {
        return Vec::new();
    }
    let client = reqwest::Client::new();
    let mut texts = Vec::new();
    for node in &target.nodes {
        if let Ok(answer) = client.get(format!("{node}/metrics")).send().await
            && let Ok(text) = answer.text().await
        {
            texts.push(text);
        }
    }
    texts
}

/// What one run measured.
struct Run {
    report: Report,
    /// Send-to-ack latencies (Salon), µs.
    acks: Vec<u32>,
    rss: f64,
    connections: usize,
    /// The server processes' CPU use while the senders ran, in cores.
    cpu: f64,
    /// The server's count of its posts' time in the store during the run (Salon), as
    /// cumulative buckets: beside `acks`, how much of the acknowledgement was the database.
    commits: Vec<(f64, u64)>,
}

fn result(scenario: &str, target: &Target, offered: f64, run: &mut Run, seconds: f64) -> Value {
    let (connections, rss, report) = (run.connections, run.rss, &mut run.report);
    let mut acks = std::mem::take(&mut run.acks);
    json!({
        "scenario": scenario,
        "target": target.kind.name(),
        "nodes": target.nodes.len(),
        "connections": connections,
        "offered_per_s": round(offered),
        "deliveries_per_s": round(report.deliveries as f64 / seconds),
        "lost": report.lost,
        "duplicated": report.duplicated,
        "out_of_order": report.out_of_order,
        "p50_ms": round(report.percentile_ms(0.50)),
        "p99_ms": round(report.percentile_ms(0.99)),
        "p999_ms": round(report.percentile_ms(0.999)),
        "server_rss_mib": round(rss),
        "server_cpu_cores": round(run.cpu),
        "ack_p50_ms": (!acks.is_empty()).then(|| round(percentile_ms(&mut acks, 0.50))),
        "ack_p99_ms": (!acks.is_empty()).then(|| round(percentile_ms(&mut acks, 0.99))),
        // The shares over 10 ms (the chat target's bound, and a bucket's) side by side: the
        // client's acknowledgements and the server's commits.
        "ack_over_10ms_pct": (!acks.is_empty())
            .then(|| round(100.0 * acks.iter().filter(|&&us| us > 10_000).count() as f64 / acks.len() as f64)),
        "commit_over_10ms_pct": stats::histogram_over_pct(&run.commits, 10.0).map(round),
        "commit_p99_le_ms": stats::histogram_bound_ms(&run.commits, 0.99).filter(|b| b.is_finite()),
    })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Salon accounts for `sockets` sockets, `per_account` sockets each.
async fn salon_accounts(server: &Server, sockets: usize, per_account: usize) -> Vec<Account> {
    server.accounts(sockets.div_ceil(per_account), 16).await
}

/// `fanout` (and `cluster` with several nodes): one conversation, `receivers` sockets, one
/// sender at `rate` messages per second.
pub async fn fanout(target: &Target, receivers: usize, rate: f64, seconds: f64) -> Value {
    let per_account = 10;
    let group = match target.kind {
        Kind::Salon => {
            let server = Server::new(&target.nodes[0], target.outbox.clone());
            let mut accounts = salon_accounts(&server, receivers, per_account).await;
            let owner = accounts.remove(0);
            let sender = server.accounts(1, 1).await.remove(0);
            let ws = server.workspace(&owner).await;
            let mut people: Vec<&Account> = accounts.iter().collect();
            people.push(&sender);
            people.push(&owner);
            let key = server.thread(&ws, &owner, &people).await;
            let mut pool: Vec<Account> = vec![owner.clone()];
            pool.extend(accounts.iter().cloned());
            let receivers = (0..receivers).map(|i| (i, Some(pool[i / per_account % pool.len()].clone()))).collect();
            Group { key, sender: Some(sender), receivers }
        }
        _ => Group {
            key: format!("room-{}", proto::now_us()),
            sender: None,
            receivers: (0..receivers).map(|i| (i, None)).collect(),
        },
    };
    let mut run = run_groups(target, vec![group], rate, seconds).await;
    let name = if target.nodes.len() > 1 { "cluster" } else { "fanout" };
    result(name, target, rate * receivers as f64, &mut run, seconds)
}

/// `chat`: `conversations` of `size` people, one socket each; each conversation gets
/// `rate` messages per second from one of its members.
pub async fn chat(
    target: &Target,
    conversations: usize,
    size: usize,
    rate: f64,
    seconds: f64,
    setup: Option<&std::path::Path>,
) -> Value {
    let groups = match setup.and_then(|path| std::fs::read_to_string(path).ok()) {
        Some(saved) => groups_from_json(&serde_json::from_str(&saved).expect("a setup file written by chat")),
        None => {
            let groups = chat_groups(target, conversations, size).await;
            if let Some(path) = setup {
                std::fs::write(path, groups_to_json(&groups).to_string()).expect("write the setup file");
            }
            groups
        }
    };
    let conversations = groups.len();
    let size = groups.first().map_or(size, |g| g.receivers.len() + 1);
    let mut run = run_groups(target, groups, rate, seconds).await;
    let mut out = result("chat", target, rate * conversations as f64 * (size - 1) as f64, &mut run, seconds);
    out["messages_per_s"] = json!(round(rate * conversations as f64));
    out
}

/// The chat shape's accounts and threads, made through the API (the slow part: one
/// password hash per account on the server).
async fn chat_groups(target: &Target, conversations: usize, size: usize) -> Vec<Group> {
    let server = Server::new(&target.nodes[0], target.outbox.clone());
    let mut accounts = server.accounts(conversations * size + 1, 16).await;
    let owner = accounts.pop().unwrap();
    let ws = server.workspace(&owner).await;
    let mut groups = Vec::with_capacity(conversations);
    let limit = Arc::new(Semaphore::new(16));
    let mut made = Vec::new();
    for chunk in accounts.chunks(size) {
        let (server, ws, owner, people, limit) =
            (server.clone(), ws.clone(), owner.clone(), chunk.to_vec(), limit.clone());
        made.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            let refs: Vec<&Account> = people.iter().collect();
            (server.thread(&ws, &owner, &refs).await, people)
        }));
    }
    for (i, m) in made.into_iter().enumerate() {
        let (key, people) = m.await.unwrap();
        let sender = people[0].clone();
        let receivers = people[1..].iter().enumerate().map(|(j, a)| (i * size + j, Some(a.clone()))).collect();
        groups.push(Group { key, sender: Some(sender), receivers });
    }
    groups
}

/// Salon groups as JSON, so a later run against the same database can skip making them.
fn groups_to_json(groups: &[Group]) -> Value {
    let account = |a: &Account| json!({"id": a.id, "token": a.token});
    let groups: Vec<Value> = groups
        .iter()
        .map(|g| {
            json!({
                "key": g.key,
                "sender": g.sender.as_ref().map(account),
                "receivers": g.receivers.iter().map(|(i, a)| json!([i, a.as_ref().map(account)])).collect::<Vec<_>>(),
            })
        })
        .collect();
    Value::from(groups)
}

fn groups_from_json(saved: &Value) -> Vec<Group> {
    let account = |v: &Value| {
        v.as_object()
            .map(|_| Account { id: v["id"].as_str().unwrap().into(), token: v["token"].as_str().unwrap().into() })
    };
    let groups = saved.as_array().expect("an array of groups");
    groups
        .iter()
        .map(|g| Group {
            key: g["key"].as_str().expect("a key").into(),
            sender: account(&g["sender"]),
            receivers: g["receivers"]
                .as_array()
                .expect("receivers")
                .iter()
                .map(|r| (r[0].as_u64().expect("an index") as usize, account(&r[1])))
                .collect(),
        })
        .collect()
}

/// `persist`: `conversations` senders, each alone in its conversation, keeping `window`
/// sends in flight as fast as acknowledgements come back.
pub async fn persist(target: &Target, conversations: usize, window: usize, seconds: f64) -> Value {
    let server = Server::new(&target.nodes[0], target.outbox.clone());
    let mut accounts = server.accounts(conversations + 1, 16).await;
    let owner = accounts.pop().unwrap();
    let ws = server.workspace(&owner).await;
    let mut keys = Vec::new();
    for a in &accounts {
        keys.push(server.thread(&ws, &owner, &[a]).await);
    }
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for (account, key) in accounts.iter().zip(keys) {
        let (base, token) = (target.nodes[0].clone(), account.token.clone());
        tasks.push(tokio::spawn(async move {
            let (mut tx, mut rx) = proto::salon(&base, &token).await;
            let mut in_flight: HashMap<String, i64> = HashMap::new();
            let mut latencies = Vec::new();
            let mut n = 0;
            loop {
                while in_flight.len() < window && Instant::now() < deadline {
                    n += 1;
                    in_flight.insert(n.to_string(), proto::now_us());
                    tx.send(proto::send_frame(Kind::Salon, &key, n)).await.expect("send");
                }
                if in_flight.is_empty() {
                    break;
                }
                if let Incoming::Ack { reference, .. } = proto::next(Kind::Salon, &mut rx, None).await
                    && let Some(t) = in_flight.remove(&reference)
                {
                    latencies.push((proto::now_us() - t) as u32);
                }
            }
            latencies
        }));
    }
    let started = Instant::now();
    let mut latencies = Vec::new();
    for t in tasks {
        latencies.extend(t.await.expect("a persist sender"));
    }
    let elapsed = started.elapsed().as_secs_f64().max(seconds);
    let acks = latencies.len() as f64;
    json!({
        "scenario": "persist",
        "target": "salon",
        "nodes": 1,
        "connections": conversations,
        "offered_per_s": Value::Null,
        "window": window,
        "acks_per_s": round(acks / elapsed),
        "deliveries_per_s": round(acks / elapsed),
        "lost": 0, "duplicated": 0, "out_of_order": 0,
        "p50_ms": round(percentile_ms(&mut latencies, 0.50)),
        "p99_ms": round(percentile_ms(&mut latencies, 0.99)),
        "p999_ms": round(percentile_ms(&mut latencies, 0.999)),
        "server_rss_mib": round(stats::rss_mib(&target.pids)),
    })
}

/// `idle`: `sockets` authenticated sockets doing nothing; the server's memory per socket.
pub async fn idle(target: &Target, sockets: usize, per_account: usize) -> Value {
    let server = Server::new(&target.nodes[0], target.outbox.clone());
    let accounts = salon_accounts(&server, sockets, per_account).await;
    // Each account is in one conversation, as idle users are.
    let owner = &accounts[0];
    let ws = server.workspace(owner).await;
    let everyone: Vec<&Account> = accounts.iter().take(400).collect();
    server.thread(&ws, owner, &everyone).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = stats::rss_kib(target.pids[0]);
    let limit = Arc::new(Semaphore::new(CONNECT_AT_ONCE));
    let mut opened = Vec::with_capacity(sockets);
    let started = Instant::now();
    for i in 0..sockets {
        let (base, token, limit) = (target.nodes[0].clone(), accounts[i / per_account].token.clone(), limit.clone());
        opened.push(tokio::spawn(async move {
            let _permit = limit.acquire().await.unwrap();
            proto::salon(&base, &token).await
        }));
    }
    let mut held = Vec::with_capacity(sockets);
    for o in opened {
        held.push(o.await.expect("a socket opens"));
    }
    let connect_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let after = stats::rss_kib(target.pids[0]);
    let per_socket = after.saturating_sub(before) as f64 / sockets as f64;
    json!({
        "scenario": "idle",
        "target": "salon",
        "nodes": 1,
        "connections": sockets,
        "offered_per_s": Value::Null,
        "deliveries_per_s": 0,
        "lost": 0, "duplicated": 0, "out_of_order": 0,
        "p50_ms": Value::Null, "p99_ms": Value::Null, "p999_ms": Value::Null,
        "server_rss_mib": round(after as f64 / 1024.0),
        "server_rss_before_mib": round(before as f64 / 1024.0),
        "rss_per_socket_kib": round(per_socket),
        "connect_seconds": round(connect_s),
    })
}

/// `revoke`: a conversation under load (`receivers` sockets, a sender at `rate`); an
/// external is added and removed `removals` times. Removal-call latency, and deliveries
/// to the external after its `conversation_removed` (must be 0).
pub async fn revoke(target: &Target, receivers: usize, rate: f64, removals: usize) -> Value {
    let server = Server::new(&target.nodes[0], target.outbox.clone());
    let mut accounts = salon_accounts(&server, receivers, 10).await;
    let owner = accounts.remove(0);
    let mut extra = server.accounts(2, 2).await;
    let (sender, external) = (extra.remove(0), extra.remove(0));
    let ws = server.workspace(&owner).await;
    let mut people: Vec<&Account> = accounts.iter().collect();
    people.push(&sender);
    let key = server.thread(&ws, &owner, &people).await;
    let (stop_tx, stop_rx) = watch::channel(false);
    let (stop_flood, flood_stop) = watch::channel(false);
    let counter = Arc::new(AtomicU64::new(0));
    let mut readers = Vec::new();
    for i in 0..receivers {
        let account = accounts[i / 10 % accounts.len()].clone();
        let (tx, rx) = proto::salon(&target.nodes[i % target.nodes.len()], &account.token).await;
        readers.push(spawn_reader(Kind::Salon, tx, rx, stop_rx.clone(), counter.clone()));
    }
    let (tx, rx) = proto::salon(&target.nodes[0], &sender.token).await;
    let flood = spawn_sender(Kind::Salon, key.clone(), tx, rx, rate, tokio::time::Instant::now(), flood_stop);
    // The external's socket, on the last node, records what it gets after each removal.
    let ext_node = target.nodes.last().unwrap().clone();
    let (ext_tx, ext_rx) = proto::salon(&ext_node, &external.token).await;
    let ext = spawn_reader(Kind::Salon, ext_tx, ext_rx, stop_rx.clone(), counter.clone());
    let recipients = format!("/api/v1/conversations/{key}/recipients");
    let mut latencies = Vec::with_capacity(removals);
    for _ in 0..removals {
        server.post(&recipients, Some(&owner.token), json!({"account_id": external.id})).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let t = Instant::now();
        server
            .call(
                reqwest::Method::DELETE,
                &format!("{recipients}/accounts/{}", external.id),
                Some(&owner.token),
                Value::Null,
            )
            .await;
        latencies.push(t.elapsed().as_micros() as u32);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = stop_flood.send(true);
    let (_, numbers) = flood.await.unwrap();
    let highest = numbers.last;
    let expected = highest as u64 * receivers as u64;
    let deadline = Instant::now() + SETTLE;
    while counter.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let _ = stop_tx.send(true);
    let sent = HashMap::from([(key.clone(), highest)]);
    let mut report = Report::default();
    for r in readers {
        report.add(r.await.unwrap_or_default(), &sent, &HashMap::new());
    }
    let ext_seen = ext.await.unwrap_or_default();
    json!({
        "scenario": "revoke",
        "target": "salon",
        "nodes": target.nodes.len(),
        "connections": receivers + 2,
        "offered_per_s": round(rate * receivers as f64),
        "removals": removals,
        "removal_p50_ms": round(percentile_ms(&mut latencies, 0.50)),
        "removal_p99_ms": round(percentile_ms(&mut latencies, 0.99)),
        "deliveries_after_removal": ext_seen.after_removal,
        "lost": report.lost, "duplicated": report.duplicated, "out_of_order": report.out_of_order,
        "p50_ms": round(report.percentile_ms(0.50)),
        "p99_ms": round(report.percentile_ms(0.99)),
        "p999_ms": round(report.percentile_ms(0.999)),
        "server_rss_mib": round(stats::rss_mib(&target.pids)),
    })
}
