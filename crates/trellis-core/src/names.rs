//! Validated names. A `Slug` is the only way a user-chosen name reaches a table, a column or a URL.

use crate::error::FieldCode;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::error::{Error, FieldError};

/// Names of the columns every record has; fields may not take them.
pub const SYSTEM_FIELDS: &[&str] = &[
    "id",
    "created_at",
    "updated_at",
    "created_by",
    "owner",
    "version",
    "stage",
    "stage_entered_at",
    "stage_due_at",
    "stage_breached_at",
    "pending_stage",
    "tenant_id",
];

/// An app, entity or field name: `^[a-z][a-z0-9_]{0,62}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Slug(String);

impl Slug {
    pub fn parse(s: &str) -> Result<Slug, String> {
        let bytes = s.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 63
            && bytes[0].is_ascii_lowercase()
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_');
        if ok {
            Ok(Slug(s.to_string()))
        } else {
            Err(format!(
                "'{}' is not a valid name: use a lowercase letter, then lowercase letters, digits or _ (at most 63)",
                truncate(s, 80)
            ))
        }
    }

    /// Parses a name taken from a URL path; a bad one answers 404 like a missing one.
    pub fn from_path(kind: &str, s: &str) -> Result<Slug, Error> {
        Slug::parse(s).map_err(|_| Error::not_found(format!("{kind} '{}' does not exist", truncate(s, 80))))
    }

    /// Parses a name from a request body, reporting the field path on failure.
    pub fn from_field(field: &str, s: &str) -> Result<Slug, FieldError> {
        Slug::parse(s).map_err(|m| FieldError::new(field, FieldCode::InvalidName, m))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Slug {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Slug::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Slug {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for Slug {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Slug {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// A stable storage id of an entity or field (`[a-z0-9]{8,32}`); tables and columns derive from it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct StorageId(String);

impl StorageId {
    pub fn parse(s: &str) -> Result<StorageId, String> {
        let ok = (8..=32).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        if ok {
            Ok(StorageId(s.to_string()))
        } else {
            Err(format!("'{}' is not a valid storage id", truncate(s, 40)))
        }
    }

    /// A fresh random id (12 base-36 characters).
    pub fn generate() -> StorageId {
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        let mut n = uuid::Uuid::new_v4().as_u128();
        let mut s = String::with_capacity(12);
        for _ in 0..12 {
            s.push(ALPHABET[(n % 36) as usize] as char);
            n /= 36;
        }
        StorageId(s)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl<'de> Deserialize<'de> for StorageId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        StorageId::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for StorageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a [`Slug`] matches (the `slug` of `schemas/*.schema.json`).
pub const SLUG_PATTERN: &str = "^[a-z][a-z0-9_]{0,62}$";

/// What a [`StorageId`] matches.
pub const STORAGE_ID_PATTERN: &str = "^[a-z0-9]{8,32}$";

impl utoipa::PartialSchema for Slug {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(SLUG_PATTERN))
            .description(Some(
                "A name: a lowercase letter, then lowercase letters, digits or _ (at most 63 characters).",
            ))
            .into()
    }
}

impl utoipa::ToSchema for Slug {}

impl utoipa::PartialSchema for StorageId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .pattern(Some(STORAGE_ID_PATTERN))
            .description(Some(
                "Stable storage id, given by the server; a table or column name derives from it.",
            ))
            .into()
    }
}

impl utoipa::ToSchema for StorageId {}

/// Cuts a user string for an error message (on a char boundary).
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(max).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_accept_lowercase_names_and_refuse_everything_else() {
        assert!(Slug::parse("deal_amount2").is_ok());
        for bad in [
            "",
            "Deal",
            "2x",
            "_x",
            "a-b",
            "a b",
            "drop table;",
            "é",
            &"a".repeat(64),
        ] {
            assert!(Slug::parse(bad).is_err(), "{bad} accepted");
        }
        assert!(Slug::parse(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn generated_storage_ids_parse_and_differ() {
        let a = StorageId::generate();
        let b = StorageId::generate();
        assert_ne!(a, b);
        assert!(StorageId::parse(a.as_str()).is_ok());
        assert!(StorageId::parse("ABCDEFGH").is_err());
        assert!(StorageId::parse("short").is_err());
    }
}
