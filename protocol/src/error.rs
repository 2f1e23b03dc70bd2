//! The error envelope and its codes. A code, once published, keeps its meaning and its
//! HTTP status forever; new situations get new codes.

use serde::{Deserialize, Serialize};

/// Every error the API returns: `{"error": {"code": ..., "message": ...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorBody {
    pub error: ErrorObject,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ErrorObject {
    pub code: ErrorCode,
    /// Human-readable explanation, in English. Not stable: match on `code`.
    pub message: String,
    /// The request field the error is about, when there is one (`validation_failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

macro_rules! error_codes {
    ($( $(#[doc = $doc:literal])* $variant:ident = ($name:literal, $status:literal), )*) => {
        /// The stable machine-readable error codes, with the HTTP status each one travels with.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $( $(#[doc = $doc])* $variant, )*
        }

        impl ErrorCode {
            /// Every code, in documentation order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)*];

            /// The code as it appears on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $(ErrorCode::$variant => $name,)* }
            }

            /// The HTTP status sent with this code.
            pub fn http_status(self) -> u16 {
                match self { $(ErrorCode::$variant => $status,)* }
            }
        }
    };
}

error_codes! {
    /// The body is not syntactically valid JSON.
    MalformedJson = ("malformed_json", 400),
    /// The JSON is well formed but does not match the request's schema: a missing or
    /// unknown field, or a value of the wrong type.
    InvalidRequest = ("invalid_request", 400),
    /// A gateway frame whose `type` is missing or not one the protocol defines.
    UnknownFrame = ("unknown_frame", 400),
    /// A field has the right type but an unacceptable value (too long, not an e-mail
    /// address, ...). `field` names it.
    ValidationFailed = ("validation_failed", 422),
    /// A JSON body was sent without `Content-Type: application/json`.
    UnsupportedMediaType = ("unsupported_media_type", 415),
    /// The body is larger than the server accepts (`http.max_body_bytes`).
    PayloadTooLarge = ("payload_too_large", 413),
    /// No valid session: the bearer token is missing, unknown, expired or revoked.
    Unauthenticated = ("unauthenticated", 401),
    /// Log-in failed: unknown e-mail, wrong password, or an address not verified yet.
    /// The three cases are indistinguishable on purpose.
    InvalidCredentials = ("invalid_credentials", 401),
    /// A verification, reset or invitation token is unknown, expired, revoked or
    /// already used. The cases are indistinguishable on purpose.
    InvalidToken = ("invalid_token", 400),
    /// The caller can see the resource but its role does not allow this operation.
    Forbidden = ("forbidden", 403),
    /// The resource does not exist, or the caller may not see it: the two answers are
    /// identical on purpose.
    NotFound = ("not_found", 404),
    /// The caller is a `lite` user of the conversation's workspace: they read, they never
    /// write. Nothing was stored.
    ReadOnly = ("read_only", 403),
    /// The conversation is closed (a thread) or archived (a group): nobody posts, edits or
    /// reacts in it.
    ConversationLocked = ("conversation_locked", 403),
    /// This `client_id` was already used for a message with another body.
    ClientIdReused = ("client_id_reused", 409),
    /// No route matches the request's path.
    RouteNotFound = ("route_not_found", 404),
    /// The path exists but not with this HTTP method.
    MethodNotAllowed = ("method_not_allowed", 405),
    /// Too many attempts; retry after the number of seconds in the `Retry-After` header.
    RateLimited = ("rate_limited", 429),
    /// The workspace has no free seat for another owner, admin, manager or member.
    SeatLimitReached = ("seat_limit_reached", 409),
    /// The operation would leave the workspace without an owner.
    LastOwner = ("last_owner", 409),
    /// A `lite` user would hold more conversations of the workspace than its
    /// `lite_grant_limit` allows (each group membership and each thread granted directly
    /// counts one).
    LiteLimitReached = ("lite_limit_reached", 409),
    /// Signing up from an invitation for an address that already has an account: log in
    /// and accept the invitation instead. (Only the holder of the e-mailed link learns
    /// this.)
    AccountExists = ("account_exists", 409),
    /// The operation conflicts with the current state (for example a seat limit below
    /// the seats already taken).
    Conflict = ("conflict", 409),
    /// The server is not ready (for example its database is unreachable).
    Unavailable = ("unavailable", 503),
    /// An unexpected error on the server; details are in its log, never in the answer.
    Internal = ("internal", 500),
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialize_as_their_documented_names() {
        for code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::String(code.as_str().to_owned()));
        }
    }

    #[test]
    fn every_code_is_documented() {
        let readme = include_str!("../README.md");
        for code in ErrorCode::ALL {
            let row = format!("| `{}` | {} |", code.as_str(), code.http_status());
            assert!(readme.contains(&row), "protocol/README.md lacks the row {row}");
        }
    }

    #[test]
    fn codes_are_unique() {
        let mut names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ErrorCode::ALL.len());
    }
}
