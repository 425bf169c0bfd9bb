//! The record write path and reads. A write coerces and checks every value, then in one
//! transaction numbers, checks relations and uniqueness, writes the row and commits; a failed
//! request writes nothing.

mod batch_in;
mod bulk;
mod check;
mod export;
mod export_write;
pub mod hooks;
mod read;
mod rights;
pub mod rollups;
mod rows_in;
mod shape;
pub mod stats;
mod veil;
mod write;

pub use bulk::BulkOut;
pub(crate) use export::system_label;
pub use export::{Cell, EXPORT_PAGE, Export, ExportFormat, ExportParams, Lang, XLSX_MEDIA_TYPE, cell_text};
pub use export_write::{XlsxExport, csv_head, csv_rows};
pub use read::ListParams;
pub use rights::{Allowed, PageRights, RecordRights};
pub use rows_in::{PreparedRows, RowWrite, RowsWriter};
pub use shape::{ListOut, Page, record_json};
use std::sync::Arc;
pub use veil::hidden_requirement;
pub(crate) use veil::{problem_reads, veil};

use serde_json::Value;
use trellis_core::permissions::Right;
use trellis_core::query::Filter;
use trellis_core::{CompiledApp, CompiledEntity, CompiledField, Error, ErrorCode, FieldError, Val};

use crate::Engine;
use crate::access::Access;
use crate::compiled::scripts::LoadedApp;
use crate::context::TenantCtx;
// The parts of the write path, shared among this folder's modules.
use self::{check::*, shape::*, veil::*};

/// Most operations one bulk request may hold.
pub const MAX_BULK: usize = 1000;
/// Largest page.
pub const MAX_LIMIT: u64 = 1000;
/// How often a write transaction is tried when PostgreSQL keeps aborting it for contention.
pub const WRITE_ATTEMPTS: usize = 3;
/// Most words a search `q` may have (each is looked for in every text field).
pub const MAX_SEARCH_WORDS: usize = 16;
/// Largest `offset` (both databases take a signed 64-bit offset).
pub const MAX_OFFSET: u64 = i64::MAX as u64;

/// A record as answered, with its version for the ETag.
#[derive(Debug, Clone)]
pub struct RecordOut {
    pub json: Value,
    pub version: i64,
}

/// What a write may touch: the caller's access to the entity and the row scope of the right.
pub(crate) struct Guard {
    pub access: Access,
    pub scope: Option<Filter>,
    /// References found while writing with this guard ([`RefMemo`]).
    pub refs: RefMemo,
}

/// References a write found readable (a relation's target record, a user), so that many rows
/// written with one guard that point at the same few records ask once per record. Only what
/// was found is kept (a record written later can still be found); a job writing in batches
/// empties it at the start of each batch, so nothing is trusted past its transaction.
#[derive(Default)]
pub(crate) struct RefMemo {
    /// Ids found, by kind (an entity's name, or "" for users).
    found: std::sync::Mutex<std::collections::HashMap<String, std::collections::HashSet<String>>>,
}

impl RefMemo {
    fn knows(&self, kind: &str, id: &str) -> bool {
        self.found
            .lock()
            .is_ok_and(|f| f.get(kind).is_some_and(|ids| ids.contains(id)))
    }

    fn learn(&self, kind: &str, id: &str) {
        if let Ok(mut f) = self.found.lock() {
            match f.get_mut(kind) {
                Some(ids) => {
                    ids.insert(id.to_string());
                }
                None => {
                    f.insert(kind.to_string(), std::iter::once(id.to_string()).collect());
                }
            }
        }
    }

    pub(crate) fn clear(&self) {
        if let Ok(mut f) = self.found.lock() {
            f.clear();
        }
    }
}

/// Values of a write after coercion, before the transaction.
#[derive(Clone)]
pub(crate) struct Prepared<'e> {
    values: Vec<(&'e CompiledField, Val)>,
    owner: Option<Option<String>>,
}

pub(crate) fn entity_of<'a>(app: &'a CompiledApp, name: &str) -> Result<&'a Arc<CompiledEntity>, Error> {
    app.entity(name).ok_or_else(|| {
        Error::not_found(format!(
            "entity '{}' does not exist",
            trellis_core::names::truncate(name, 64)
        ))
    })
}

pub(crate) fn check_id(id: &str) -> Result<String, Error> {
    uuid::Uuid::parse_str(id)
        .map(|u| u.hyphenated().to_string())
        .map_err(|_| Error::not_found("no such record"))
}

impl Engine {
    /// Runs a write transaction (`run` begins and commits it) again, up to
    /// [`WRITE_ATTEMPTS`] times in all, when PostgreSQL aborted it for a deadlock or a
    /// serialization failure; the client sees only the outcome. A deadlock needs writers locking
    /// in different orders, which the write path avoids where it can (records and rollup
    /// parents in id order); this covers the orders it cannot fix (rules, several entities).
    pub(crate) async fn retry_contended<T, F, Fut>(&self, mut run: F) -> Result<T, Error>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, Error>>,
    {
        let mut attempt = 1;
        loop {
            match run().await {
                Err(e) if attempt < WRITE_ATTEMPTS && trellis_store::error::is_contention(&e) => {
                    // A short, growing pause lets the transaction that won finish first.
                    let ms = 5 * attempt as u64 + rand::random_range(0..10u64);
                    tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                    attempt += 1;
                }
                outcome => return outcome,
            }
        }
    }

    /// The caller's access to an entity with the row scope of a right (403 without it).
    pub(crate) async fn guard(
        &self,
        ctx: &TenantCtx,
        app: &LoadedApp,
        entity: &Arc<CompiledEntity>,
        right: Right,
    ) -> Result<Guard, Error> {
        let access = self.access(&self.db.read, ctx, app, entity).await?;
        let scope = self.scope(&self.db.read, ctx, &access, right).await?;
        Ok(Guard {
            access,
            scope,
            refs: RefMemo::default(),
        })
    }
}

pub(crate) fn stale(current: i64) -> Error {
    Error::new(
        ErrorCode::VersionMismatch,
        format!("the record changed since it was read (it is at version {current}); read it again"),
    )
}

/// Why a write of one record was refused. A bulk request lists the problems of every operation
/// before it fails, so they are kept apart from the errors that end it at once.
#[derive(Debug)]
pub enum WriteError {
    /// Problems with the values, each naming its field (a 422 when it ends the request).
    Fields(Vec<FieldError>),
    /// Anything else: not found, a conflict, a permission, a database failure.
    Other(Error),
}

impl From<Error> for WriteError {
    fn from(e: Error) -> Self {
        WriteError::Other(e)
    }
}

impl From<WriteError> for Error {
    fn from(e: WriteError) -> Self {
        match e {
            WriteError::Fields(errors) => Error::validation(errors),
            WriteError::Other(e) => e,
        }
    }
}

fn prefix_error(mut e: Error, prefix: &str) -> Error {
    e.errors = e.errors.into_iter().map(|x| x.prefixed(prefix)).collect();
    e.detail = format!("{prefix}: {}", e.detail);
    e
}
