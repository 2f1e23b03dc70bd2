//! Outgoing e-mail: composing the messages the server sends, and delivering them.
//!
//! Services call [`Mailer::send`], which writes the message to the durable outbox table
//! and wakes the delivery worker; the caller never waits on a mail server. The worker
//! claims due messages (a lease, so that a message is sent once even with several
//! workers or nodes), hands each to the transport and records the outcome, retrying with
//! backoff. Messages are built with lettre, so a name or subject cannot inject headers.
//!
//! Transport today: `file`, which writes each message as an `.eml` file to the outbox
//! folder and logs the links it contains (the embedded default, for trying Salon out).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::Message;
use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use tokio::sync::Notify;

use crate::crypto::random_id;
use crate::domain::{Email, now_ms};
use crate::store::{NewMail, Store, StoreError};

/// How long a claimed message is reserved for the worker that claimed it.
const LEASE_MS: i64 = 60_000;
/// How often the worker looks for due retries even when nothing woke it.
const POLL_INTERVAL: Duration = Duration::from_secs(5);
const BATCH: i64 = 32;

#[derive(Clone)]
pub struct Mailer {
    store: Arc<dyn Store>,
    wake: Arc<Notify>,
}

impl Mailer {
    pub fn new(store: Arc<dyn Store>) -> Mailer {
        Mailer { store, wake: Arc::new(Notify::new()) }
    }

    /// Queues a plain-text message durably; delivery happens in the background.
    pub async fn send(&self, to: &Email, subject: &str, body: String) -> Result<(), StoreError> {
        let now = now_ms();
        self.store
            .enqueue_mail(NewMail {
                id: random_id(),
                recipient: to.as_str().to_owned(),
                subject: subject.to_owned(),
                body,
                created_at: now,
            })
            .await?;
        self.wake.notify_one();
        Ok(())
    }

    /// Runs the delivery loop until `shutdown` resolves.
    pub async fn run_worker(
        self,
        transport: Transport,
        from: Mailbox,
        shutdown: impl std::future::Future<Output = ()>,
    ) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.deliver_due(&transport, &from).await {
                tracing::warn!(error = %e, "mail outbox: cannot read due messages");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    async fn deliver_due(&self, transport: &Transport, from: &Mailbox) -> Result<(), StoreError> {
        loop {
            let now = now_ms();
            let batch = self.store.claim_mail(now, now + LEASE_MS, BATCH).await?;
            if batch.is_empty() {
                return Ok(());
            }
            for mail in batch {
                let outcome = match build(from, &mail.recipient, &mail.subject, &mail.body) {
                    Ok(message) => transport.deliver(mail.id, &message, &mail.body).await,
                    Err(e) => Err(e),
                };
                match outcome {
                    Ok(()) => self.store.mail_sent(mail.id, now_ms()).await?,
                    Err(error) => {
                        let retry_at = now_ms() + backoff_ms(mail.attempts);
                        tracing::warn!(mail_id = mail.id, attempts = mail.attempts, %error, "mail delivery failed; will retry");
                        self.store.mail_failed(mail.id, retry_at, &error).await?;
                    }
                }
            }
        }
    }
}

/// Exponential backoff from 5 s, capped at one hour.
fn backoff_ms(attempts: i64) -> i64 {
    let exp = attempts.clamp(1, 20) as u32 - 1;
    (5_000i64 << exp).min(3_600_000)
}

fn build(from: &Mailbox, to: &str, subject: &str, body: &str) -> Result<Message, String> {
    let to: Mailbox = to.parse().map_err(|e| format!("bad recipient: {e}"))?;
    Message::builder()
        .from(from.clone())
        .to(to)
        .subject(subject)
        .header(ContentType::TEXT_PLAIN)
        .body(body.to_owned())
        .map_err(|e| format!("cannot build message: {e}"))
}

/// Where composed messages go.
pub enum Transport {
    /// One `.eml` file per message in this folder.
    File(PathBuf),
}

impl Transport {
    async fn deliver(&self, id: i64, message: &Message, body: &str) -> Result<(), String> {
        match self {
            Transport::File(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| e.to_string())?;
                let path = dir.join(format!("{}-{id}.eml", now_ms()));
                tokio::fs::write(&path, message.formatted()).await.map_err(|e| e.to_string())?;
                // Embedded mode is for trying Salon out on one machine: show the links so
                // nobody has to open the file. (An SMTP transport logs no links.)
                let links: Vec<&str> = body.split_whitespace().filter(|w| w.starts_with("http")).collect();
                tracing::info!(path = %path.display(), ?links, "e-mail written to the outbox folder");
                Ok(())
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// The messages. Plain text, one link per line so mail clients make it clickable.

pub fn verify_signup(public_url: &str, display_name: &str, token: &str, ttl_hours: u64) -> (String, String) {
    (
        "Confirm your e-mail address for Salon".to_owned(),
        format!(
            "Hello {display_name},\n\nFollow this link to confirm your address and finish signing up:\n\n\
             {public_url}/verify#token={token}\n\nThe link works once, for {ttl_hours} hours. \
             If you did not sign up for Salon, ignore this message.\n"
        ),
    )
}

pub fn already_registered(public_url: &str) -> (String, String) {
    (
        "You already have a Salon account".to_owned(),
        format!(
            "Someone (probably you) tried to sign up for Salon with this address, which already \
             has an account.\n\nLog in:\n\n{public_url}/\n\nForgot your password? Reset it:\n\n\
             {public_url}/reset-password\n\nIf this was not you, ignore this message: nothing changed.\n"
        ),
    )
}

pub fn password_reset(public_url: &str, token: &str, ttl_minutes: u64) -> (String, String) {
    (
        "Reset your Salon password".to_owned(),
        format!(
            "Follow this link to choose a new password:\n\n{public_url}/reset-password#token={token}\n\n\
             The link works once, for {ttl_minutes} minutes, and signs out every session. If you \
             did not ask for this, ignore this message: your password is unchanged.\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(1), 5_000);
        assert_eq!(backoff_ms(2), 10_000);
        assert_eq!(backoff_ms(50), 3_600_000);
    }

    #[test]
    fn links_survive_transfer_encoding() {
        let from: Mailbox = "Salon <salon@localhost>".parse().unwrap();
        let link = format!("http://127.0.0.1:8080/verify#token={}", "A".repeat(43));
        let (_, body) = verify_signup("http://127.0.0.1:8080", "Ann Ünïcode", &"A".repeat(43), 24);
        let raw = String::from_utf8(build(&from, "ann@example.com", "s", &body).unwrap().formatted()).unwrap();
        // Long lines travel quoted-printable: undo the soft breaks and `=3D` to read them.
        let text = raw.replace("=\r\n", "").replace("=3D", "=");
        assert!(text.contains(&link), "{raw}");
    }

    #[test]
    fn a_subject_cannot_inject_headers() {
        let from: Mailbox = "Salon <salon@localhost>".parse().unwrap();
        let message = build(&from, "ann@example.com", "Hi\r\nBcc: eve@example.com", "body").unwrap();
        let text = String::from_utf8(message.formatted()).unwrap();
        assert!(!text.lines().any(|l| l.to_ascii_lowercase().starts_with("bcc:")), "{text}");
    }
}
