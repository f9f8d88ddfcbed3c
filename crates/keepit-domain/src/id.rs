//! Identifier newtypes for Keepit accounts, connectors and jobs, and for local users.

use std::fmt;

/// Why a string was refused as a Keepit identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    /// The value was empty after trimming.
    #[error("{kind} id is empty")]
    Empty {
        /// Which kind of id was being built.
        kind: &'static str,
    },
    /// The value contained a character Keepit never uses in an id.
    #[error("{kind} id contains {found:?}, which is not a lowercase letter, digit or '-'")]
    InvalidCharacter {
        /// Which kind of id was being built.
        kind: &'static str,
        /// The first offending character.
        found: char,
    },
    /// The value was longer than any id Keepit issues.
    #[error("{kind} id is {len} characters long, more than the {max} allowed")]
    TooLong {
        /// Which kind of id was being built.
        kind: &'static str,
        /// Length of the rejected value.
        len: usize,
        /// Largest accepted length.
        max: usize,
    },
}

/// Longest id accepted. Keepit's GUIDs are about 27 characters; this leaves room
/// for longer formats without letting arbitrary blobs through.
const MAX_ID_LEN: usize = 64;

/// Checks and canonicalises a Keepit GUID.
///
/// Keepit documents GUIDs as lowercase base-36 groups separated by `-`, but the
/// group lengths vary between samples, so only the alphabet and the length are
/// checked. Surrounding whitespace is trimmed (Keepit pads some text values) and
/// the value is lowercased, as Keepit's own tooling does for connector GUIDs.
fn canonical_guid(kind: &'static str, raw: &str) -> Result<String, IdError> {
    let trimmed = raw.trim();
    if trimmed.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if trimmed.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            len: trimmed.len(),
            max: MAX_ID_LEN,
        });
    }
    let lowered = trimmed.to_ascii_lowercase();
    if let Some(found) = lowered
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(IdError::InvalidCharacter { kind, found });
    }
    Ok(lowered)
}

macro_rules! guid_type {
    ($(#[$meta:meta])* $name:ident, $kind:literal) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(String);

        impl $name {
            /// Parses a Keepit GUID: trims, lowercases and checks the alphabet.
            pub fn new(raw: &str) -> Result<Self, IdError> {
                canonical_guid($kind, raw).map(Self)
            }

            /// The canonical text of the id.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// Consumes the id and returns its text.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "({})"), self.0)
            }
        }

        impl std::str::FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, IdError> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }
    };
}

guid_type!(
    /// A Keepit account GUID: the MSP's parent account or one customer's child account.
    AccountId,
    "account"
);
guid_type!(
    /// A Keepit connector ("device") GUID.
    ConnectorId,
    "connector"
);
guid_type!(
    /// A Keepit job GUID (four groups in practice).
    JobId,
    "job"
);

/// A keepit-watch user (a person who reads messages and alerts), numbered by the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UserId(pub i64);

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_trimmed_and_lowercased() {
        let id = AccountId::new("  Y17HBI-i620pk-80q5x2 \n").unwrap();
        assert_eq!(id.as_str(), "y17hbi-i620pk-80q5x2");
        assert_eq!(id.to_string(), "y17hbi-i620pk-80q5x2");
        assert_eq!(format!("{id:?}"), "AccountId(y17hbi-i620pk-80q5x2)");
    }

    #[test]
    fn group_lengths_are_not_checked() {
        // An official sample has a five-character first group.
        assert!(AccountId::new("psmqd-3nqijs-9qi26x").is_ok());
        assert!(JobId::new("va14e0-sa8c7o-giq88n-hsfgdx").is_ok());
    }

    #[test]
    fn bad_ids_are_refused_with_a_reason() {
        assert_eq!(
            ConnectorId::new("   "),
            Err(IdError::Empty { kind: "connector" })
        );
        assert_eq!(
            ConnectorId::new("abc/../def"),
            Err(IdError::InvalidCharacter {
                kind: "connector",
                found: '/'
            })
        );
        let long = "a".repeat(65);
        assert!(matches!(
            JobId::new(&long),
            Err(IdError::TooLong { len: 65, .. })
        ));
        assert_eq!(
            IdError::Empty { kind: "job" }.to_string(),
            "job id is empty"
        );
    }
}
