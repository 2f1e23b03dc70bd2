//! The three protocols the load client speaks, behind one connection type: Salon's
//! gateway, the floor server's (a bare broadcast: every text frame goes to the other
//! sockets of its room) and Socket.IO 4 (Engine.IO v4 over WebSocket: `0` open, `40`
//! connect, `42[...]` events, `2`/`3` ping/pong).
//!
//! Every message carries its sender's clock (`t`, Unix µs) and a per-conversation number
//! (Salon's `seq`; for the references, the sender's counter), so a receiver measures
//! latency, loss, duplicates and order the same way for all three.

use std::borrow::Cow;

use futures_util::stream::{SplitSink, SplitStream};
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;
pub type Tx = SplitSink<Ws, WsMessage>;
pub type Rx = SplitStream<Ws>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Salon,
    Floor,
    SocketIo,
}

impl Kind {
    pub fn parse(s: &str) -> Option<Kind> {
        match s {
            "salon" => Some(Kind::Salon),
            "floor" => Some(Kind::Floor),
            "socketio" => Some(Kind::SocketIo),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Salon => "salon",
            Kind::Floor => "floor",
            Kind::SocketIo => "socketio",
        }
    }
}

/// What a connection received.
#[derive(Debug)]
pub enum Incoming {
    /// A message: its conversation (Salon) or room, number, and send time.
    Delivery {
        key: String,
        n: i64,
        t_us: i64,
    },
    /// Salon: a `send` was stored.
    Ack {
        reference: String,
        seq: i64,
    },
    /// Salon: the account lost the conversation.
    Removed {
        key: String,
    },
    /// Salon: the account can now see the conversation.
    Added {
        key: String,
    },
    Other,
    Closed,
}

pub fn now_us() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros() as i64
}

/// Small buffers per socket, as a real client would use when opening thousands.
fn ws_config() -> WebSocketConfig {
    WebSocketConfig::default().read_buffer_size(4096).write_buffer_size(0).max_write_buffer_size(1 << 20)
}

async fn open(url: &str) -> Ws {
    let (ws, _) = tokio_tungstenite::connect_async_with_config(url, Some(ws_config()), true)
        .await
        .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    ws
}

fn ws_url(base: &str) -> String {
    base.replacen("http://", "ws://", 1)
}

/// Opens a Salon gateway socket and authenticates; returns it once `ready` arrived.
pub async fn salon(base: &str, token: &str) -> (Tx, Rx) {
    let ws = open(&format!("{}/api/v1/gateway", ws_url(base))).await;
    let (mut tx, mut rx) = ws.split();
    tx.send(WsMessage::text(json!({"type": "hello", "token": token}).to_string())).await.expect("hello");
    loop {
        match rx.next().await {
            Some(Ok(WsMessage::Text(t))) if t.contains("\"type\":\"ready\"") => return (tx, rx),
            Some(Ok(_)) => continue,
            other => panic!("no ready from {base}: {other:?}"),
        }
    }
}

/// Opens a floor-server socket in `room`.
pub async fn floor(base: &str, room: &str) -> (Tx, Rx) {
    open(&format!("{}/?room={room}", ws_url(base))).await.split()
}

/// Opens a Socket.IO connection (WebSocket transport) and joins `room`.
pub async fn socketio(base: &str, room: &str) -> (Tx, Rx) {
    let ws = open(&format!("{}/socket.io/?EIO=4&transport=websocket", ws_url(base))).await;
    let (mut tx, mut rx) = ws.split();
    // Engine.IO open packet, then the Socket.IO connect handshake.
    expect_prefix(&mut rx, "0").await;
    tx.send(WsMessage::text("40")).await.expect("socket.io connect");
    expect_prefix(&mut rx, "40").await;
    tx.send(WsMessage::text(format!("42[\"join\",\"{room}\"]"))).await.expect("join");
    expect_prefix(&mut rx, "42[\"joined\"").await;
    (tx, rx)
}

async fn expect_prefix(rx: &mut Rx, prefix: &str) {
    loop {
        match rx.next().await {
            Some(Ok(WsMessage::Text(t))) if t.starts_with(prefix) => return,
            Some(Ok(_)) => continue,
            other => panic!("expected {prefix:?}, got {other:?}"),
        }
    }
}

/// The body of a load message: its clock and number, padded to a realistic size.
pub fn body(n: i64) -> String {
    format!("t={} n={n} {}", now_us(), "lorem ipsum dolor sit amet, consectetur adipiscing elit; sed do eiusmod")
}

fn parse_body(body: &str) -> Option<(i64, i64)> {
    let mut t = None;
    let mut n = None;
    for part in body.split(' ').take(2) {
        if let Some(v) = part.strip_prefix("t=") {
            t = v.parse().ok();
        } else if let Some(v) = part.strip_prefix("n=") {
            n = v.parse().ok();
        }
    }
    Some((t?, n?))
}

/// The frame that sends message `n` of `key` (a Salon conversation id, or a room).
pub fn send_frame(kind: Kind, key: &str, n: i64) -> WsMessage {
    let text = body(n);
    match kind {
        Kind::Salon => WsMessage::text(
            json!({"type": "send", "ref": n.to_string(), "conversation_id": key, "body": text}).to_string(),
        ),
        Kind::Floor => WsMessage::text(json!({"room": key, "body": text}).to_string()),
        Kind::SocketIo => WsMessage::text(format!("42{}", json!(["msg", {"room": key, "body": text}]))),
    }
}

#[derive(Deserialize)]
struct SalonFrame<'a> {
    #[serde(rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(borrow, default)]
    message: Option<SalonMessage<'a>>,
    #[serde(rename = "ref", borrow, default)]
    reference: Option<Cow<'a, str>>,
    #[serde(default)]
    seq: Option<i64>,
    #[serde(borrow, default)]
    conversation_id: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct SalonMessage<'a> {
    #[serde(borrow)]
    conversation_id: Cow<'a, str>,
    seq: i64,
    #[serde(borrow)]
    body: Cow<'a, str>,
}

#[derive(Deserialize)]
struct RoomMessage<'a> {
    #[serde(borrow)]
    room: Cow<'a, str>,
    #[serde(borrow)]
    body: Cow<'a, str>,
}

/// Reads the next meaningful frame (answering Socket.IO pings through `tx` if given).
pub async fn next(kind: Kind, rx: &mut Rx, pong: Option<&mut Tx>) -> Incoming {
    loop {
        let text = match rx.next().await {
            Some(Ok(WsMessage::Text(t))) => t,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => return Incoming::Closed,
            Some(Ok(_)) => continue,
        };
        return match kind {
            Kind::Salon => parse_salon(&text),
            Kind::Floor => parse_room(&text),
            Kind::SocketIo => {
                if text.as_str() == "2" {
                    if let Some(tx) = pong {
                        let _ = tx.send(WsMessage::text("3")).await;
                    }
                    return Incoming::Other;
                }
                match text.strip_prefix("42") {
                    Some(rest) => match serde_json::from_str::<(Cow<'_, str>, RoomMessage<'_>)>(rest) {
                        Ok((_, m)) => room_delivery(&m),
                        Err(_) => Incoming::Other,
                    },
                    None => Incoming::Other,
                }
            }
        };
    }
}

fn parse_salon(text: &str) -> Incoming {
    let Ok(frame) = serde_json::from_str::<SalonFrame<'_>>(text) else { return Incoming::Other };
    match frame.kind.as_ref() {
        "message_created" => {
            let Some(m) = frame.message else { return Incoming::Other };
            let Some((t_us, _)) = parse_body(&m.body) else { return Incoming::Other };
            Incoming::Delivery { key: m.conversation_id.into_owned(), n: m.seq, t_us }
        }
        "ack" => Incoming::Ack {
            reference: frame.reference.map(Cow::into_owned).unwrap_or_default(),
            seq: frame.seq.unwrap_or(0),
        },
        "conversation_removed" => {
            Incoming::Removed { key: frame.conversation_id.map(Cow::into_owned).unwrap_or_default() }
        }
        "conversation_added" => match serde_json::from_str::<Value>(text) {
            Ok(v) => Incoming::Added { key: v["conversation"]["id"].as_str().unwrap_or_default().to_owned() },
            Err(_) => Incoming::Other,
        },
        _ => Incoming::Other,
    }
}

fn parse_room(text: &str) -> Incoming {
    match serde_json::from_str::<RoomMessage<'_>>(text) {
        Ok(m) => room_delivery(&m),
        Err(_) => Incoming::Other,
    }
}

fn room_delivery(m: &RoomMessage<'_>) -> Incoming {
    match parse_body(&m.body) {
        Some((t_us, n)) => Incoming::Delivery { key: m.room.clone().into_owned(), n, t_us },
        None => Incoming::Other,
    }
}
