//! Store errors: a broken domain rule (the caller's fault, nothing changed) or a store that
//! could not do its job (our fault or the database's, the caller should fail closed).

use thiserror::Error;
use warden_core::DomainError;

pub type StoreResult<T> = Result<T, StoreError>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error(transparent)]
    Domain(#[from] DomainError),

    /// The database could not be reached or refused the operation. The message is for the
    /// log; callers answer "unavailable" without it.
    #[error("store unavailable: {0}")]
    Unavailable(String),

    /// A row that cannot be read back into the domain: written by something else, or a bug.
    #[error("store holds a malformed row: {0}")]
    Corrupt(String),
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::ColumnNotFound(_)
            | sqlx::Error::Decode(_)
            | sqlx::Error::TypeNotFound { .. } => Self::Corrupt(error.to_string()),
            other => Self::Unavailable(other.to_string()),
        }
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        Self::Unavailable(format!("migration failed: {error}"))
    }
}
