//! Salon's wire protocol: the types that travel between the server and its clients.
//!
//! This crate owns the shape of every request and response body of the REST API
//! (`/api/v1/...`), the error envelope with its stable codes, and the identifier
//! newtypes. It knows nothing of storage, HTTP routing or sockets: the server and the
//! Rust clients both depend on it, so a change here is a change of the protocol and
//! must be reflected in `protocol/README.md` and `protocol/openapi.json`.
//!
//! Conventions, fixed for every type here:
//! - identifiers are decimal strings (`"8231234234"`), so JavaScript clients never lose
//!   precision;
//! - times are integers: milliseconds since the Unix epoch, UTC;
//! - request bodies reject unknown fields.

mod error;
pub mod gateway;
mod ids;
pub mod rest;

pub use error::{ErrorBody, ErrorCode, ErrorObject};
pub use ids::{AccountId, AuditId, ConversationId, InvitationId, MessageId, WorkspaceId};

/// The protocol version, bumped on any incompatible change of the REST API.
pub const API_VERSION: &str = "v1";
