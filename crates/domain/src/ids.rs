//! Random identifiers (UUIDv7: random, never sequential in URLs, yet index-friendly).

use std::fmt;
use std::str::FromStr;

macro_rules! id_type {
    ($(#[$m:meta])* $name:ident) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        #[serde(transparent)]
        pub struct $name(uuid::Uuid);

        impl $name {
            /// A new random identifier.
            pub fn new() -> Self {
                Self(uuid::Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.as_hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = crate::FieldError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::try_parse(s)
                    .map(Self)
                    .map_err(|_| crate::FieldError::new("id", "error.bad_id"))
            }
        }
    };
}

id_type!(
    /// A person's account.
    UserId
);
id_type!(
    /// An organisation of the region.
    OrganisationId
);
id_type!(
    /// A bearer token for the API.
    TokenId
);
id_type!(
    /// A registered passkey.
    PasskeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_round_trips_through_its_text_form() {
        let id = UserId::new();
        assert_eq!(id.to_string().parse::<UserId>().unwrap(), id);
    }

    #[test]
    fn garbage_is_not_an_id() {
        assert!("../etc/passwd".parse::<UserId>().is_err());
    }

    #[test]
    fn new_ids_differ() {
        assert_ne!(UserId::new(), UserId::new());
    }
}
