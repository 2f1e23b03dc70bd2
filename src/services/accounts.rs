//! Accounts and sessions: sign-up with e-mail verification, log-in, log-out (one session
//! or all), password change and reset, profile.
//!
//! No answer here depends on whether an e-mail address has an account: sign-up and reset
//! always say "check your e-mail" (the mail itself tells the owner what happened), and a
//! failed log-in is `InvalidCredentials` whether the address is unknown, unverified or
//! the password wrong, after the same argon2 work. Log-in attempts are limited per
//! account and per client address; mail per target address.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::bus::Bus;
use crate::config::{AuthConfig, Config};
use crate::crypto::{PasswordHasher, Token, TokenHash};
use crate::domain::{AccountId, DisplayName, Email, Password, now_ms};
use crate::mail::{self, Mailer};
use crate::ratelimit::Limiter;
use crate::services::{Error, Result};
use crate::store::{AccountRow, NewSignup, Store};
use salon_protocol::gateway::close;

const ATTEMPT_WINDOW: Duration = Duration::from_secs(15 * 60);
const MAIL_WINDOW: Duration = Duration::from_secs(60 * 60);

/// The authenticated account behind a request, and the session it used.
#[derive(Debug, Clone)]
pub struct Caller {
    pub account: AccountRow,
    pub session: TokenHash,
}

impl Caller {
    pub fn id(&self) -> AccountId {
        self.account.id
    }
}

/// A session just opened: the token is shown to the client once.
pub struct NewSession {
    pub token: Token,
    pub expires_at: i64,
    pub account: AccountRow,
}

pub struct Accounts {
    store: Arc<dyn Store>,
    hasher: PasswordHasher,
    mailer: Mailer,
    auth: AuthConfig,
    public_url: String,
    attempts_by_account: Limiter<String>,
    attempts_by_address: Limiter<IpAddr>,
    mail_by_recipient: Limiter<String>,
    bus: Arc<Bus>,
}

impl Accounts {
    pub fn new(
        config: &Config,
        store: Arc<dyn Store>,
        hasher: PasswordHasher,
        mailer: Mailer,
        bus: Arc<Bus>,
    ) -> Accounts {
        let auth = config.auth.clone();
        Accounts {
            attempts_by_account: Limiter::per_window(auth.login_attempts_per_account, ATTEMPT_WINDOW),
            attempts_by_address: Limiter::per_window(auth.attempts_per_address, ATTEMPT_WINDOW),
            mail_by_recipient: Limiter::per_window(auth.emails_per_address_per_hour, MAIL_WINDOW),
            store,
            hasher,
            mailer,
            auth,
            public_url: config.public_url().to_owned(),
            bus,
        }
    }

    /// Drops idle rate-limit buckets; called periodically.
    pub fn forget_idle_limits(&self) {
        self.attempts_by_account.forget_idle();
        self.attempts_by_address.forget_idle();
        self.mail_by_recipient.forget_idle();
    }

    pub(crate) fn limit_address(&self, from: IpAddr) -> Result<()> {
        self.attempts_by_address.check(&from).map_err(Error::RateLimited)
    }

    /// An argon2id digest of a new password (off the runtime, bounded).
    pub(crate) async fn hash_password(&self, password: Password) -> String {
        self.hasher.hash(password.into_inner()).await.0
    }

    /// Starts a sign-up. Whatever the address, the answer is the same and one e-mail goes
    /// to it: a verification link if it has no account, a reminder if it has one.
    pub async fn sign_up(&self, email: &str, password: String, display_name: &str, from: IpAddr) -> Result<()> {
        let email = Email::parse("email", email)?;
        let password = Password::parse("password", password)?;
        let display_name = DisplayName::parse("display_name", display_name)?;
        self.limit_address(from)?;
        self.mail_by_recipient.check(&email.as_str().to_owned()).map_err(Error::RateLimited)?;
        // Hash before looking the address up, so both paths cost the same.
        let digest = self.hasher.hash(password.into_inner()).await;
        if self.store.account_by_email(&email).await?.is_some() {
            let (subject, body) = mail::already_registered(&self.public_url);
            self.mailer.send(&email, &subject, body).await?;
            return Ok(());
        }
        let token = Token::generate();
        let now = now_ms();
        self.store
            .create_signup(NewSignup {
                token_hash: token.hash(),
                email: email.clone(),
                display_name: display_name.clone(),
                password_hash: digest.0,
                created_at: now,
                expires_at: now + hours_ms(self.auth.verification_ttl_hours),
            })
            .await?;
        let (subject, body) = mail::verify_signup(
            &self.public_url,
            display_name.as_str(),
            token.reveal(),
            self.auth.verification_ttl_hours,
        );
        self.mailer.send(&email, &subject, body).await?;
        Ok(())
    }

    /// Follows a verification link: creates the account and opens a first session.
    pub async fn verify(&self, token: &str) -> Result<NewSession> {
        let account = self
            .store
            .complete_signup(&TokenHash::of(token), now_ms(), AccountId(crate::crypto::random_id()))
            .await?
            .ok_or(Error::InvalidToken)?;
        tracing::info!(account_id = %account.id, "account created");
        self.open_session(account).await
    }

    pub async fn log_in(&self, email: &str, password: String, from: IpAddr) -> Result<NewSession> {
        let email = Email::parse("email", email)?;
        let password = Password::parse("password", password)?;
        self.limit_address(from)?;
        self.attempts_by_account.check(&email.as_str().to_owned()).map_err(Error::RateLimited)?;
        let account = self.store.account_by_email(&email).await?;
        let digest = account.as_ref().map(|a| a.password_hash.clone());
        if !self.hasher.verify(password.into_inner(), digest).await {
            return Err(Error::InvalidCredentials);
        }
        let account = account.expect("verified against a real hash");
        self.open_session(account).await
    }

    pub(crate) async fn open_session(&self, account: AccountRow) -> Result<NewSession> {
        let token = Token::generate();
        let now = now_ms();
        let expires_at = now + hours_ms(self.auth.session_ttl_hours);
        self.store.create_session(&token.hash(), account.id, now, expires_at).await?;
        Ok(NewSession { token, expires_at, account })
    }

    /// The caller behind a bearer token.
    pub async fn authenticate(&self, token: &str) -> Result<Caller> {
        if token.len() != 43 || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(Error::Unauthenticated);
        }
        let session = TokenHash::of(token);
        let account = self.store.session_account(&session, now_ms()).await?.ok_or(Error::Unauthenticated)?;
        Ok(Caller { account, session })
    }

    pub async fn log_out(&self, caller: &Caller) -> Result<()> {
        self.store.delete_session(&caller.session).await?;
        self.bus.close_sessions(caller.id(), Some(&caller.session), close::SESSION_ENDED);
        Ok(())
    }

    pub async fn log_out_everywhere(&self, caller: &Caller) -> Result<()> {
        self.store.delete_sessions(caller.id()).await?;
        self.bus.close_sessions(caller.id(), None, close::SESSION_ENDED);
        Ok(())
    }

    /// Changes the password after checking the current one; signs out every other session.
    pub async fn change_password(&self, caller: &Caller, current: String, new: String) -> Result<()> {
        let new = Password::parse("new_password", new)?;
        self.attempts_by_account.check(&caller.account.email.as_str().to_owned()).map_err(Error::RateLimited)?;
        if !self.hasher.verify(current, Some(caller.account.password_hash.clone())).await {
            return Err(Error::InvalidCredentials);
        }
        let digest = self.hasher.hash(new.into_inner()).await;
        self.store.set_password(caller.id(), &digest.0, Some(&caller.session)).await?;
        self.bus.close_other_sessions(caller.id(), &caller.session, close::SESSION_ENDED);
        Ok(())
    }

    /// Sends a reset link if the address has an account; answers the same either way.
    pub async fn request_reset(&self, email: &str, from: IpAddr) -> Result<()> {
        let email = Email::parse("email", email)?;
        self.limit_address(from)?;
        self.mail_by_recipient.check(&email.as_str().to_owned()).map_err(Error::RateLimited)?;
        let Some(account) = self.store.account_by_email(&email).await? else {
            return Ok(());
        };
        let token = Token::generate();
        let now = now_ms();
        let ttl = self.auth.reset_ttl_minutes;
        self.store.create_reset(&token.hash(), account.id, now, now + ttl as i64 * 60_000).await?;
        let (subject, body) = mail::password_reset(&self.public_url, token.reveal(), ttl);
        self.mailer.send(&email, &subject, body).await?;
        Ok(())
    }

    /// Sets a new password from a reset link; every session of the account ends.
    pub async fn complete_reset(&self, token: &str, new: String, from: IpAddr) -> Result<()> {
        let new = Password::parse("new_password", new)?;
        self.limit_address(from)?;
        // Only a live token is worth the hashing work (which is bounded and shared).
        let hash = TokenHash::of(token);
        if !self.store.reset_is_live(&hash, now_ms()).await? {
            return Err(Error::InvalidToken);
        }
        let digest = self.hasher.hash(new.into_inner()).await;
        let account = self.store.complete_reset(&hash, now_ms(), &digest.0).await?.ok_or(Error::InvalidToken)?;
        self.bus.close_sessions(account, None, close::SESSION_ENDED);
        Ok(())
    }

    pub async fn update_profile(&self, caller: &Caller, display_name: &str) -> Result<AccountRow> {
        let name = DisplayName::parse("display_name", display_name)?;
        self.store.set_display_name(caller.id(), &name).await?;
        Ok(AccountRow { display_name: name.as_str().to_owned(), ..caller.account.clone() })
    }
}

fn hours_ms(hours: u64) -> i64 {
    hours as i64 * 3_600_000
}
