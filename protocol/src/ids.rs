//! Identifier newtypes. On the wire an identifier is a decimal string; inside, an `i64`.
//! Identifiers are random (not sequential), so they reveal no counts. A message's id on a
//! SQLite server grows with time (it tells when the message was made, as `created_at`
//! does); clients should still order messages by `seq`, not by id.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! id_type {
    ($(#[doc = $doc:literal])* $name:ident) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }

        impl std::str::FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
                s.parse().map_err(|_| serde::de::Error::custom("expected a decimal identifier string"))
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .pattern(Some("^[0-9]{1,19}$"))
                    .description(Some(concat!(stringify!($name), ", a decimal string")))
                    .into()
            }
        }

        #[cfg(feature = "openapi")]
        impl utoipa::ToSchema for $name {}
    };
}

id_type!(
    /// An account: one person, global across workspaces.
    AccountId
);
id_type!(
    /// A workspace.
    WorkspaceId
);
id_type!(
    /// A conversation: a group's chat, a thread or a direct conversation. A group and its
    /// chat share one identifier.
    ConversationId
);
id_type!(
    /// A message, unique across conversations. Within its conversation a message is also
    /// numbered by its sequence (`seq`).
    MessageId
);
id_type!(
    /// An invitation: into a workspace with a role, or as a guest into conversations.
    InvitationId
);
id_type!(
    /// One entry of a workspace's audit log (a removal's receipt).
    AuditId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_travel_as_strings() {
        let id = AccountId(9_007_199_254_740_993);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(json, "\"9007199254740993\"");
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert!(serde_json::from_str::<AccountId>("12").is_err());
        assert!(serde_json::from_str::<AccountId>("\"12x\"").is_err());
    }
}
