//! Outgoing e-mail: composing the messages the server sends, and delivering them.
//!
//! Services call [`Mailer::send`], which writes the message to the durable outbox table
//! and wakes the delivery worker; the caller never waits on a mail server. The worker
//! claims due messages (a lease, so that a message is sent once even with several
//! workers or nodes), hands each to the transport and records the outcome, retrying with
//! backoff. Messages are built with lettre, so a name or subject cannot inject headers.
//!
//! Transports: `file`, which writes each message as an `.eml` file to the outbox folder
//! and logs the links it contains (the embedded default, for trying Salon out), and
//! `smtp` (lettre's async SMTP client: STARTTLS, implicit TLS or plain, with optional
//! credentials). The worker never logs a message body: bodies hold one-time links.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::Notify;

use crate::config::MailConfig;
use crate::crypto::random_id;
use crate::domain::{Email, now_ms};
use crate::store::{NewMail, Store, StoreError};

/// How long a claimed message is reserved for the worker that claimed it (longer than
/// an SMTP attempt can take).
const LEASE_MS: i64 = 5 * 60_000;
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
    pub async fn run_worker(self, worker: Worker, shutdown: impl std::future::Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            if let Err(e) = self.deliver_due(&worker).await {
                tracing::warn!(error = %e, "mail outbox: cannot read due messages");
            }
            tokio::select! {
                _ = &mut shutdown => return,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
    }

    async fn deliver_due(&self, worker: &Worker) -> Result<(), StoreError> {
        let Worker { transport, from, retry_min_ms, retry_max_ms } = worker;
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
                        let retry_at = now_ms() + backoff_ms(mail.attempts, *retry_min_ms, *retry_max_ms);
                        tracing::warn!(mail_id = mail.id, attempts = mail.attempts, %error, "mail delivery failed; will retry");
                        self.store.mail_failed(mail.id, retry_at, &error).await?;
                    }
                }
            }
        }
    }
}

/// Exponential backoff: `min_ms` after the first failure, doubling, capped at `max_ms`.
fn backoff_ms(attempts: i64, min_ms: i64, max_ms: i64) -> i64 {
    let exp = attempts.clamp(1, 30) as u32 - 1;
    min_ms.saturating_mul(1i64 << exp).min(max_ms)
}

/// What the delivery worker needs: where mail goes, from whom, and how it retries.
pub struct Worker {
    pub transport: Transport,
    pub from: Mailbox,
    pub retry_min_ms: i64,
    pub retry_max_ms: i64,
}

impl Worker {
    /// The worker the configuration describes (validated: this does not fail).
    pub fn from_config(config: &MailConfig) -> Worker {
        let transport = if config.transport == "smtp" {
            let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(config.smtp_host.as_str())
                .port(config.smtp_port)
                .timeout(Some(Duration::from_secs(config.smtp_timeout_seconds)));
            let tls = || TlsParameters::new(config.smtp_host.clone()).expect("TLS parameters for a host name");
            builder = match config.smtp_tls.as_str() {
                "none" => builder.tls(Tls::None),
                "tls" => builder.tls(Tls::Wrapper(tls())),
                _ => builder.tls(Tls::Required(tls())),
            };
            if !config.smtp_username.is_empty() {
                builder = builder
                    .credentials(Credentials::new(config.smtp_username.clone(), config.smtp_password.expose().clone()));
            }
            Transport::Smtp(Box::new(builder.build()))
        } else {
            Transport::File(config.outbox_dir.clone())
        };
        Worker {
            transport,
            from: config.from.parse().expect("validated"),
            retry_min_ms: config.retry_min_seconds as i64 * 1000,
            retry_max_ms: config.retry_max_seconds as i64 * 1000,
        }
    }
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
    /// An SMTP server.
    Smtp(Box<AsyncSmtpTransport<Tokio1Executor>>),
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
            Transport::Smtp(smtp) => {
                smtp.send(message.clone()).await.map_err(|e| e.to_string())?;
                tracing::info!(mail_id = id, "e-mail handed to the SMTP server");
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

/// What an invitation e-mail says.
pub struct Invite<'a> {
    pub public_url: &'a str,
    pub inviter: &'a str,
    pub workspace: &'a str,
    /// The workspace role offered; `None`: a guest invitation.
    pub role: Option<&'a str>,
    /// Titles of the groups and threads it grants.
    pub grants: &'a [String],
    pub message: &'a str,
    pub token: &'a str,
    pub ttl_hours: u64,
}

fn personal_note(inviter: &str, message: &str) -> String {
    if message.trim().is_empty() {
        String::new()
    } else {
        let quoted: Vec<String> = message.lines().map(|l| format!("> {l}")).collect();
        format!("\n{inviter} wrote:\n\n{}\n", quoted.join("\n"))
    }
}

fn validity(ttl_hours: u64) -> String {
    if ttl_hours.is_multiple_of(24) { format!("{} days", ttl_hours / 24) } else { format!("{ttl_hours} hours") }
}

/// An invitation: into the workspace with a role, or (role `None`) as a guest of some of
/// its conversations, with a free account.
pub fn workspace_invitation(i: &Invite<'_>) -> (String, String) {
    let Invite { public_url, inviter, workspace, role, grants, message, token, ttl_hours } = i;
    let list: String = grants.iter().map(|g| format!("  - {g}\n")).collect();
    let access = if grants.is_empty() { String::new() } else { format!("\nYou will have access to:\n{list}") };
    let (subject, what) = match role {
        None => (
            format!("{inviter} invited you to a conversation in {workspace} on Salon"),
            format!(
                "{inviter} added you to a conversation in {workspace} on Salon. You join as an external \
                 guest: you see only what you are invited to. Joining is free."
            ),
        ),
        Some("lite") => (
            format!("{inviter} invited you to {workspace} on Salon"),
            format!("{inviter} invited you to join {workspace} on Salon as a Lite (read-only) user."),
        ),
        Some(role) => (
            format!("{inviter} invited you to {workspace} on Salon"),
            format!("{inviter} invited you to join {workspace} on Salon as a {role}."),
        ),
    };
    let note = personal_note(inviter, message);
    let valid = validity(*ttl_hours);
    (
        subject,
        format!(
            "{what}\n{access}{note}\nAccept the invitation (create your account, or log in if you have one):\n\n\
             {public_url}/invite#token={token}\n\nThe link works once, for {valid}. If you do not know \
             {inviter}, ignore this message.\n"
        ),
    )
}

/// Tells someone with an account that they were added to a conversation.
pub fn added_to_conversation(
    public_url: &str,
    inviter: &str,
    workspace: &str,
    title: &str,
    conversation: crate::domain::ConversationId,
    message: &str,
) -> (String, String) {
    let note = personal_note(inviter, message);
    (
        format!("{inviter} added you to \"{title}\" in {workspace}"),
        format!(
            "{inviter} added you to \"{title}\" in {workspace} on Salon.\n{note}\nOpen it:\n\n\
             {public_url}/#/c/{conversation}\n"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_is_capped() {
        assert_eq!(backoff_ms(1, 5_000, 3_600_000), 5_000);
        assert_eq!(backoff_ms(2, 5_000, 3_600_000), 10_000);
        assert_eq!(backoff_ms(50, 5_000, 3_600_000), 3_600_000);
    }

    #[test]
    fn names_and_notes_cannot_inject_headers() {
        let from: Mailbox = "Salon <salon@localhost>".parse().unwrap();
        let (subject, body) = workspace_invitation(&Invite {
            public_url: "http://x",
            inviter: "Eve\r\nBcc: mallory@example.com",
            workspace: "Acme\nX-Evil: 1",
            role: Some("lite"),
            grants: &["Launch".to_owned()],
            message: "hi\r\n\r\nBcc: a@b.c",
            token: "t",
            ttl_hours: 168,
        });
        let text = String::from_utf8(build(&from, "ann@example.com", &subject, &body).unwrap().formatted()).unwrap();
        let (headers, _) = text.split_once("\r\n\r\n").unwrap();
        assert!(
            !headers.lines().any(|l| {
                let l = l.to_ascii_lowercase();
                l.starts_with("bcc:") || l.starts_with("x-evil:")
            }),
            "{headers}"
        );
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
