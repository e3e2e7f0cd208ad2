//! What a use case can refuse, in terms the channels can render.

use crate::domain::{text::FieldError, TransitionError};

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    /// The thing does not exist for this actor (also used for other
    /// organizations' data, so its existence is not revealed).
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("{0}")]
    Forbidden(String),
    #[error("invalid input: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
    #[error(transparent)]
    Transition(#[from] TransitionError),
    /// Entries of a bulk request that cannot be applied; nothing was.
    #[error("invalid entries: {}", .0.iter().map(|e| format!("{}[{}]: {}", e.section, e.index, e.errors.join("; "))).collect::<Vec<_>>().join("; "))]
    BulkInvalid(Vec<super::cmdb::BulkError>),
    #[error("{0}")]
    Conflict(String),
    #[error("this idempotency key was already used with a different request")]
    IdempotencyMismatch,
    #[error("{0}")]
    TooLarge(String),
    #[error("not authenticated: {0}")]
    Unauthenticated(&'static str),
    #[error("database error")]
    Store(#[source] sqlx::Error),
    #[error("internal error")]
    Internal(#[from] anyhow::Error),
    /// The run's predicted ticket number cannot stand (see
    /// `desk::numbering`): nothing of it may commit, and [`Desk::run`]
    /// runs the use case again with the counter locked. Control flow inside
    /// the desk, never a refusal: no use case run answers it (one that
    /// somehow still met it with the counter locked answers
    /// [`DeskError::Internal`]), so it must pass through whatever handles
    /// refusals on its way out of a use case.
    ///
    /// [`Desk::run`]: super::Desk::run
    #[error("the predicted ticket number cannot stand: {0}")]
    Retry(&'static str),
}

impl From<sqlx::Error> for DeskError {
    fn from(error: sqlx::Error) -> Self {
        if crate::store::is_unique_violation(&error) {
            DeskError::Conflict("a record with these values already exists".into())
        } else {
            DeskError::Store(error)
        }
    }
}

impl From<FieldError> for DeskError {
    fn from(error: FieldError) -> Self {
        DeskError::Invalid(vec![error])
    }
}

impl DeskError {
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DeskError::Invalid(vec![FieldError {
            field: field.into(),
            message: message.into(),
        }])
    }
}
