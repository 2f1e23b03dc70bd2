//! Domain values parsed at the edge: once a request field becomes one of these types it is
//! known to be valid, so services and the store never re-check it ("parse, don't
//! validate"). Owns the limits on every user-supplied string.

use std::time::{SystemTime, UNIX_EPOCH};

pub use salon_protocol::rest::{AuditAction, ConversationKind, InvitationState, Role};
pub use salon_protocol::{AccountId, ConversationId, InvitationId, MessageId, WorkspaceId};

/// A field that failed to parse, with the field's name for the error answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct Invalid {
    pub field: &'static str,
    pub message: String,
}

fn invalid(field: &'static str, message: impl Into<String>) -> Invalid {
    Invalid { field, message: message.into() }
}

/// A hasher for maps keyed by identifiers on hot paths (the hub, the gateway's sessions):
/// identifiers are random numbers the server chose, so one multiplication spreads them and
/// no client can pick keys that collide. (The std hasher's DoS protection costs more than
/// the rest of a delivery's bookkeeping.)
#[derive(Default, Clone, Copy)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn write_i64(&mut self, n: i64) {
        self.0 = n as u64;
    }
}

pub type IdBuildHasher = std::hash::BuildHasherDefault<IdHasher>;
pub type IdMap<K, V> = std::collections::HashMap<K, V, IdBuildHasher>;
pub type IdSet<K> = std::collections::HashSet<K, IdBuildHasher>;

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Microseconds since the Unix epoch (for latency measurements across nodes).
pub fn now_us() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_micros() as i64).unwrap_or(0)
}

/// A normalised e-mail address: trimmed, lower-cased, syntactically valid, at most 254
/// bytes. The same person typing `Ann@Example.com` and `ann@example.com` is one account.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &'static str, raw: &str) -> Result<Email, Invalid> {
        let normalized = raw.trim().to_lowercase();
        if normalized.is_empty() {
            return Err(invalid(field, "is required"));
        }
        if normalized.len() > 254 {
            return Err(invalid(field, "is longer than 254 bytes"));
        }
        // lettre's parser follows RFC 5321/5322; refusing what it refuses means every
        // stored address can also be mailed.
        if normalized.parse::<lettre::Address>().is_err() {
            return Err(invalid(field, "is not an e-mail address"));
        }
        Ok(Email(normalized))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An address already validated (read back from the store).
    pub fn from_trusted(s: String) -> Email {
        Email(s)
    }
}

/// A password as typed: 8 to 1,024 bytes. Never printed.
pub struct Password(String);

impl Password {
    pub const MIN_BYTES: usize = 8;
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(field: &'static str, raw: String) -> Result<Password, Invalid> {
        if raw.len() < Self::MIN_BYTES {
            return Err(invalid(field, format!("must be at least {} bytes", Self::MIN_BYTES)));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(invalid(field, format!("must be at most {} bytes", Self::MAX_BYTES)));
        }
        Ok(Password(raw))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

/// Trims `raw` and checks it holds 1 to `max` characters and no control characters.
fn parse_label(field: &'static str, raw: &str, max: usize) -> Result<String, Invalid> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(invalid(field, "is required"));
    }
    if trimmed.chars().count() > max {
        return Err(invalid(field, format!("must be at most {max} characters")));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(invalid(field, "must not contain control characters"));
    }
    Ok(trimmed.to_owned())
}

/// A person's display name: 1 to 64 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisplayName(String);

impl DisplayName {
    pub fn parse(field: &'static str, raw: &str) -> Result<DisplayName, Invalid> {
        parse_label(field, raw, 64).map(DisplayName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A workspace's name: 1 to 80 characters, no control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkspaceName(String);

impl WorkspaceName {
    pub fn parse(field: &'static str, raw: &str) -> Result<WorkspaceName, Invalid> {
        parse_label(field, raw, 80).map(WorkspaceName)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_normalised_and_checked() {
        assert_eq!(Email::parse("email", "  Ann@Example.COM ").unwrap().as_str(), "ann@example.com");
        for bad in ["", "ann", "ann@", "@example.com", "a b@example.com", "ann@exa mple.com"] {
            assert!(Email::parse("email", bad).is_err(), "{bad:?} should be refused");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert_eq!(Email::parse("email", &long).unwrap_err().field, "email");
    }

    #[test]
    fn password_length_is_bounded_in_bytes() {
        assert!(Password::parse("password", "1234567".into()).is_err());
        assert!(Password::parse("password", "12345678".into()).is_ok());
        assert!(Password::parse("password", "é".repeat(512)).is_ok());
        assert!(Password::parse("password", "é".repeat(513)).is_err());
        assert!(!format!("{:?}", Password::parse("p", "hunter22".into()).unwrap()).contains("hunter22"));
    }

    #[test]
    fn labels_are_trimmed_and_bounded() {
        assert_eq!(DisplayName::parse("display_name", "  Ann  ").unwrap().as_str(), "Ann");
        assert!(DisplayName::parse("display_name", "   ").is_err());
        assert!(DisplayName::parse("display_name", &"x".repeat(65)).is_err());
        assert!(DisplayName::parse("display_name", "a\u{0}b").is_err());
        assert!(WorkspaceName::parse("name", &"é".repeat(80)).is_ok());
        assert!(WorkspaceName::parse("name", &"é".repeat(81)).is_err());
    }
}
