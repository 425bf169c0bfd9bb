//! Store failures. Database text never leaves the process: it is logged, and clients get a code.

use sea_orm::{DbErr, SqlErr};
use trellis_core::{Error, ErrorCode};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Db(DbErr),
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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Domain(e) => e,
            StoreError::Unique(_) => Error::conflict("a record with the same unique value exists"),
            other => {
                tracing::error!(error = %other, "store failure");
                Error::new(ErrorCode::Internal, "the database could not complete the request")
            }
        }
    }
}
