//! `tail`: the last messages of a conversation, then the new ones as they come, through
//! the gateway. Reconnects with backoff and resumes from the last sequence printed, so a
//! dropped connection or a node restarting loses nothing and prints nothing twice. Ends
//! on Ctrl-C (exit 0), when access is lost (4) or the session ends (3).

use std::collections::BTreeMap;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message as WsMessage;

use salon_protocol::gateway::{ClientFrame, ServerFrame, close};
use salon_protocol::rest::{Message, MessagePage};
use salon_protocol::{ConversationId, ErrorCode};

use crate::api::{Api, CliError, Result};

fn show(message: &Message, json: bool) {
    if json {
        println!("{}", serde_json::to_string(message).expect("messages serialize"));
        return;
    }
    let external = if message.author.external { " (external)" } else { "" };
    let body = if message.deleted_at.is_some() { "(deleted)" } else { message.body.as_str() };
    let edited = if message.edited_at.is_some() { " (edited)" } else { "" };
    println!("#{} {}{external}: {body}{edited}", message.seq, message.author.display_name);
}

pub async fn run(api: &Api, conversation: ConversationId, lines: i64, follow: bool, json: bool) -> Result<()> {
    let limit = lines.clamp(1, 200);
    let page: MessagePage = api.get(&format!("/conversations/{conversation}/messages?limit={limit}")).await?;
    let mut last = page.messages.last().map(|m| m.seq).unwrap_or(0);
    if lines > 0 {
        for m in &page.messages {
            show(m, json);
        }
    }
    if !follow {
        return Ok(());
    }
    if page.messages.is_empty() {
        // The newest sequence, to resume from it.
        let about: salon_protocol::rest::Conversation = api.get(&format!("/conversations/{conversation}")).await?;
        last = about.last_seq;
    }
    let mut backoff = Duration::from_millis(200);
    loop {
        tokio::select! {
            outcome = follow_once(api, conversation, &mut last, json) => match outcome {
                Ok(()) => return Ok(()),
                Err(Retry::Fatal(e)) => return Err(e),
                Err(Retry::Again(why)) => {
                    if !json {
                        eprintln!("salon-cli: {why}; reconnecting…");
                    }
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(10));
                }
            },
            _ = tokio::signal::ctrl_c() => return Ok(()),
        }
    }
}

enum Retry {
    Again(String),
    Fatal(CliError),
}

/// One connection: hello with `resume`, then print messages until it ends.
async fn follow_once(api: &Api, conversation: ConversationId, last: &mut i64, json: bool) -> Result<(), Retry> {
    let (mut ws, _) = tokio_tungstenite::connect_async(api.gateway_url())
        .await
        .map_err(|e| Retry::Again(format!("cannot open the gateway: {e}")))?;
    let hello = ClientFrame::Hello {
        token: api.token.clone().unwrap_or_default(),
        resume: BTreeMap::from([(conversation, *last)]),
    };
    let text = serde_json::to_string(&hello).expect("frames serialize");
    ws.send(WsMessage::text(text)).await.map_err(|e| Retry::Again(e.to_string()))?;
    while let Some(frame) = ws.next().await {
        let text = match frame {
            Ok(WsMessage::Text(text)) => text,
            Ok(WsMessage::Close(close_frame)) => {
                let code = close_frame.map(|f| u16::from(f.code)).unwrap_or(1005);
                return Err(match code {
                    close::AUTHENTICATION_FAILED | close::SESSION_ENDED => Retry::Fatal(CliError::Api {
                        code: ErrorCode::Unauthenticated,
                        message: "the session ended".into(),
                    }),
                    _ => Retry::Again(format!("the server closed the connection ({code})")),
                });
            }
            Ok(_) => continue,
            Err(e) => return Err(Retry::Again(e.to_string())),
        };
        let Ok(frame) = serde_json::from_str::<ServerFrame>(&text) else { continue };
        match frame {
            ServerFrame::Ready { conversations, .. } if !conversations.iter().any(|c| c.id == conversation) => {
                return Err(Retry::Fatal(not_found()));
            }
            ServerFrame::MessageCreated { message }
                if message.conversation_id == conversation && message.seq > *last =>
            {
                *last = message.seq;
                show(&message, json);
            }
            ServerFrame::Resync { conversation_id, .. } if conversation_id == conversation => {
                // Too much was missed to replay over the socket: page through REST.
                catch_up(api, conversation, last, json).await.map_err(Retry::Fatal)?;
            }
            ServerFrame::ConversationRemoved { conversation_id } if conversation_id == conversation => {
                return Err(Retry::Fatal(not_found()));
            }
            _ => {}
        }
    }
    Err(Retry::Again("the connection dropped".into()))
}

fn not_found() -> CliError {
    CliError::Api { code: ErrorCode::NotFound, message: "you can no longer see this conversation".into() }
}

async fn catch_up(api: &Api, conversation: ConversationId, last: &mut i64, json: bool) -> Result<()> {
    loop {
        let page: MessagePage =
            api.get(&format!("/conversations/{conversation}/messages?after={last}&limit=200")).await?;
        for m in &page.messages {
            *last = m.seq;
            show(m, json);
        }
        if !page.has_after || page.messages.is_empty() {
            return Ok(());
        }
    }
}
