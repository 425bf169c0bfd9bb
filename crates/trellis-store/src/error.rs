//! Store failures. Database text never leaves the process: it is logged, and clients get a code.

use sea_orm::{DbErr, RuntimeErr, SqlErr};
use trellis_core::{Error, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(#[source] DbErr),
    #[error("unique constraint: {0}")]
    Unique(String),
    #[error("configuration: {0}")]
    Config(String),
    #[error("{0}")]
    Domain(Error),
}

impl StoreError {
    pub(crate) fn from_connect(e: DbErr) -> StoreError {
        StoreError::Config(format!("cannot connect to the database: {e}"))
    }

    /// Classifies a database error (unique violations become [`StoreError::Unique`]).
    pub fn classify(e: DbErr) -> StoreError {
        match e.sql_err() {
            Some(SqlErr::UniqueConstraintViolation(m)) => StoreError::Unique(m),
            _ => StoreError::Db(e),
        }
    }

    pub fn is_unique_violation(&self) -> bool {
        matches!(self, StoreError::Unique(_))
            || matches!(self, StoreError::Db(e) if matches!(e.sql_err(), Some(SqlErr::UniqueConstraintViolation(_))))
    }
}

/// Unique violations are told apart wherever they surface: on SQLite a deferred insert's
/// violation surfaces at the next statement or at the commit.
impl From<DbErr> for StoreError {
    fn from(e: DbErr) -> Self {
        StoreError::classify(e)
    }
}

impl From<Error> for StoreError {
    fn from(e: Error) -> Self {
        StoreError::Domain(e)
    }
}

/// What a client is told when its write collided with concurrent ones more often than the
/// engine runs it again (see [`is_contention`]).
pub const CONTENDED: &str = "the write collided with concurrent writes; try again";

/// Whether PostgreSQL aborted the transaction for a deadlock (SQLSTATE 40P01) or a
/// serialization failure (40001): running the same transaction again may well succeed.
fn aborted_by_contention(e: &DbErr) -> bool {
    let (DbErr::Exec(RuntimeErr::SqlxError(x))
    | DbErr::Query(RuntimeErr::SqlxError(x))
    | DbErr::Conn(RuntimeErr::SqlxError(x))) = e
    else {
        return false;
    };
    match x.as_ref() {
        sea_orm::sqlx::Error::Database(d) => matches!(d.code().as_deref(), Some("40P01" | "40001")),
        _ => false,
    }
}

/// Whether an error is a write transaction aborted by contention (the 409 [`CONTENDED`]), which
/// the engine runs again a few times before answering it.
pub fn is_contention(e: &Error) -> bool {
    e.code == ErrorCode::Conflict && e.detail.ends_with(CONTENDED)
}

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(e) => e,
            StoreError::Unique(_) => Error::conflict("a record with the same unique value exists"),
            StoreError::Db(e) if aborted_by_contention(&e) => {
                tracing::info!(error = %e, "write aborted by contention");
                Error::conflict(CONTENDED)
            }
            other => {
                tracing::error!(error = %other, "store failure");
                Error::new(ErrorCode::Internal, "the database could not complete the request").with_source(other)
            }
        }
    }
}
