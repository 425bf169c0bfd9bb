//! The statuses and kinds the engine stores and answers, each an enum in one place: the words
//! stored in system tables are these enums' `as_str`, and the OpenAPI documents list them.

use serde::{Deserialize, Serialize};

/// Declares a snake_case enum with its stored word, parsing and display.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $word:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(rename_all = "snake_case")]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The word stored and answered.
            pub fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $word),+
                }
            }

            /// The value a stored word names; `None` for a word it does not know.
            pub fn parse(word: &str) -> Option<Self> {
                match word {
                    $($word => Some($name::$variant),)+
                    _ => None,
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary! {
    /// Where an approval stands.
    ApprovalStatus {
        /// Waiting for votes.
        Pending => "pending",
        /// The policy was met: the record moved.
        Approved => "approved",
        /// An approver refused: the record stays.
        Rejected => "rejected",
    }
}

vocabulary! {
    /// One approver's decision.
    VoteDecision {
        Approve => "approve",
        Reject => "reject",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_words_are_the_serde_names_and_parse_back() {
        for s in ApprovalStatus::ALL {
            assert_eq!(serde_json::to_value(s).unwrap(), serde_json::json!(s.as_str()));
            assert_eq!(ApprovalStatus::parse(s.as_str()), Some(*s));
        }
        for d in VoteDecision::ALL {
            assert_eq!(serde_json::to_value(d).unwrap(), serde_json::json!(d.as_str()));
            assert_eq!(VoteDecision::parse(d.as_str()), Some(*d));
        }
        assert_eq!(ApprovalStatus::parse("Pending"), None);
    }
}
