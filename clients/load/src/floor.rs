//! The floor: the least a WebSocket broadcast server can do, to measure Salon against.
//! Every text frame a socket sends goes, as is, to every other socket of its room (named
//! in the URL, `/?room=NAME`): no authentication, no storage, no ordering guarantee
//! beyond TCP's, one unbounded queue per socket. Built on tokio-tungstenite like Salon.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};

type Rooms = Arc<Mutex<HashMap<String, Vec<(u64, mpsc::UnboundedSender<Message>)>>>>;

// The handshake callback's error type is tungstenite's (a whole HTTP response).
#[allow(clippy::result_large_err)]
pub async fn serve(listen: &str) {
    let listener = TcpListener::bind(listen).await.unwrap_or_else(|e| panic!("cannot listen on {listen}: {e}"));
    eprintln!("floor server on {}", listener.local_addr().unwrap());
    let rooms: Rooms = Arc::default();
    let mut next_id = 0u64;
    loop {
        let Ok((stream, _)) = listener.accept().await else { continue };
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let (rooms, id) = (rooms.clone(), next_id);
        tokio::spawn(async move {
            let mut room = String::new();
            let callback = |request: &Request, response: Response| {
                room = request.uri().query().and_then(|q| q.strip_prefix("room=")).unwrap_or("").to_owned();
                Ok(response)
            };
            let Ok(ws) = tokio_tungstenite::accept_hdr_async(stream, callback).await else { return };
            let (mut sink, mut source) = ws.split();
            let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
            rooms.lock().unwrap().entry(room.clone()).or_default().push((id, tx));
            let writer = tokio::spawn(async move {
                while let Some(message) = rx.recv().await {
                    if sink.feed(message).await.is_err() {
                        return;
                    }
                    while let Ok(more) = rx.try_recv() {
                        if sink.feed(more).await.is_err() {
                            return;
                        }
                    }
                    if sink.flush().await.is_err() {
                        return;
                    }
                }
            });
            while let Some(Ok(message)) = source.next().await {
                if let Message::Text(text) = message {
                    let members = rooms.lock().unwrap().get(&room).cloned().unwrap_or_default();
                    for (member, tx) in members {
                        if member != id {
                            let _ = tx.send(Message::Text(text.clone()));
                        }
                    }
                }
            }
            if let Some(members) = rooms.lock().unwrap().get_mut(&room) {
                members.retain(|(member, _)| *member != id);
            }
            writer.abort();
        });
    }
}
