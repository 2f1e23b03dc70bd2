//! Randomness, token hashing and password hashing.
//!
//! Owns every secret the server hands out: session, verification and reset tokens are 256
//! random bits, shown to their owner once and stored only as SHA-256 digests. Passwords
//! are hashed with argon2id (m = 19 MiB, t = 2, p = 1) on the blocking pool, never on
//! the async runtime, with a bound on how many hash at once. Nothing here logs.

use std::sync::Arc;

use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// A random positive 63-bit identifier.
pub fn random_id() -> i64 {
    loop {
        let id = (getrandom::u64().expect("the OS random source works") >> 1) as i64;
        if id != 0 {
            return id;
        }
    }
}

/// The start of `time_ordered_id`'s clock: 2025-01-01 00:00 UTC, in milliseconds.
const TIME_ORDERED_EPOCH_MS: i64 = 1_735_689_600_000;

/// A positive 63-bit identifier that grows with time: the milliseconds since 2025-01-01
/// UTC in the high 41 bits (until 2094), 22 random bits below. Strictly increasing within
/// the process, whatever the clock does: one taken in the same millisecond as the last,
/// or after the clock stepped back, is the last plus one. So ids made by one process
/// never repeat; ids made by several can (same millisecond, same 22 bits), and should
/// come from `random_id` instead.
///
/// Not a secret and not a count: it tells when it was made (as a message's `created_at`
/// does), and the random bits keep it from telling how many were made.
pub fn time_ordered_id(now_ms: i64) -> i64 {
    use std::sync::atomic::{AtomicI64, Ordering};
    static LAST: AtomicI64 = AtomicI64::new(0);
    let random = (getrandom::u64().expect("the OS random source works") & ((1 << 22) - 1)) as i64;
    let candidate = ((now_ms - TIME_ORDERED_EPOCH_MS).clamp(0, (1 << 41) - 1) << 22) | random;
    let mut last = LAST.load(Ordering::Relaxed);
    loop {
        let next = candidate.max(last + 1);
        match LAST.compare_exchange_weak(last, next, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return next,
            Err(seen) => last = seen,
        }
    }
}

/// A fresh secret token: 256 random bits, URL-safe base64 (43 characters).
#[derive(Clone)]
pub struct Token(String);

impl Token {
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).expect("the OS random source works");
        Token(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// The value to give to its owner, once.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// The digest that is stored in place of the token.
    pub fn hash(&self) -> TokenHash {
        TokenHash::of(&self.0)
    }
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// SHA-256 of a token: what the database keeps. Looking a token up means hashing what the
/// client presented and searching for the digest.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TokenHash(pub Vec<u8>);

impl TokenHash {
    pub fn of(presented: &str) -> TokenHash {
        TokenHash(Sha256::digest(presented.as_bytes()).to_vec())
    }
}

/// Hashes and verifies passwords off the async runtime, at most `permits` at a time.
#[derive(Clone)]
pub struct PasswordHasher {
    permits: Arc<Semaphore>,
    /// A hash of a random password, verified against when the account does not exist so
    /// that a log-in for an unknown e-mail costs the same time as a wrong password.
    dummy: Arc<str>,
}

/// An argon2id PHC string.
#[derive(Debug, Clone)]
pub struct PasswordDigest(pub String);

fn argon2() -> Argon2<'static> {
    // OWASP's recommended argon2id parameters: 19 MiB, two passes, one lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("valid argon2 parameters");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> PasswordDigest {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).expect("the OS random source works");
    let salt = SaltString::encode_b64(&salt).expect("16 bytes make a valid salt");
    let hash =
        argon2().hash_password(password.as_bytes(), &salt).expect("argon2 hashing cannot fail with valid parameters");
    PasswordDigest(hash.to_string())
}

fn verify_blocking(password: &str, digest: &str) -> bool {
    match PasswordHash::new(digest) {
        Ok(parsed) => argon2().verify_password(password.as_bytes(), &parsed).is_ok(),
        Err(_) => false,
    }
}

impl PasswordHasher {
    /// `permits == 0` means one per available core.
    pub fn new(permits: usize) -> PasswordHasher {
        let permits =
            if permits == 0 { std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2) } else { permits };
        let random = Token::generate();
        PasswordHasher { permits: Arc::new(Semaphore::new(permits)), dummy: hash_blocking(random.reveal()).0.into() }
    }

    pub async fn hash(&self, password: String) -> PasswordDigest {
        self.run(move || hash_blocking(&password)).await
    }

    /// Verifies `password` against `digest`; with `None`, verifies against a dummy hash
    /// (always false) so that the caller spends the same time either way.
    pub async fn verify(&self, password: String, digest: Option<String>) -> bool {
        let known = digest.is_some();
        let digest = digest.unwrap_or_else(|| self.dummy.to_string());
        let ok = self.run(move || verify_blocking(&password, &digest)).await;
        ok && known
    }

    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> T {
        let _permit = self.permits.acquire().await.expect("the semaphore is never closed");
        tokio::task::spawn_blocking(work).await.expect("password hashing does not panic")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_random_and_hash_stably() {
        let a = Token::generate();
        let b = Token::generate();
        assert_eq!(a.reveal().len(), 43);
        assert_ne!(a.reveal(), b.reveal());
        assert_eq!(a.hash(), TokenHash::of(a.reveal()));
        assert_ne!(a.hash(), b.hash());
        assert!(!format!("{a:?}").contains(a.reveal()));
    }

    #[test]
    fn time_ordered_ids_carry_their_time_and_never_repeat_or_go_back() {
        // Later than any other test's clock: the first id is the candidate itself.
        let now = TIME_ORDERED_EPOCH_MS + (1 << 40);
        let first = time_ordered_id(now);
        assert!(first > 0);
        assert_eq!(first >> 22, now - TIME_ORDERED_EPOCH_MS, "the time is in the high bits");
        let mut last = first;
        // The same millisecond, then a clock that steps back: still strictly increasing.
        for now in std::iter::repeat_n(now, 1000).chain([now - 60_000, now - 1]) {
            let id = time_ordered_id(now);
            assert!(id > last, "{id} after {last}");
            last = id;
        }
        // A later millisecond starts above everything made before it.
        assert!(time_ordered_id(now + 1) >> 22 >= now + 1 - TIME_ORDERED_EPOCH_MS);
        // Random below the time: two processes' ids in one millisecond mostly differ.
        let lows: std::collections::HashSet<i64> =
            (0..64).map(|i| time_ordered_id(now + 10 + i * 10) & ((1 << 22) - 1)).collect();
        assert!(lows.len() > 32, "the low bits are random: {lows:?}");
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_own_hash() {
        let hasher = PasswordHasher::new(1);
        let digest = hasher.hash("correct horse".into()).await;
        assert!(digest.0.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(hasher.verify("correct horse".into(), Some(digest.0.clone())).await);
        assert!(!hasher.verify("wrong horse".into(), Some(digest.0)).await);
        assert!(!hasher.verify("anything".into(), None).await);
    }
}
