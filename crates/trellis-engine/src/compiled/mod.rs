//! An app's definition as requests use it: parsed, checked, its scripts compiled once per
//! version and kept per node in the registry.

pub mod cron;
pub mod registry;
pub mod scripts;

use trellis_core::Error;
use trellis_core::def::AppDef;
use trellis_store::system::AppRow;

/// The definition of a stored app (written by a change that validated it; unreadable only if
/// the database was edited by hand).
pub(crate) fn parse_stored(row: &AppRow) -> Result<AppDef, Error> {
    serde_json::from_str(&row.definition)
        .map_err(|e| Error::internal(format!("stored definition of app {} is unreadable: {e}", row.id)))
}
