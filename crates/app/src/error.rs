use tsunagu_domain::Invalid;
use tsunagu_store::StoreError;

/// What a use case can answer besides success. The web layer renders it as a page or an API
/// error; messages carry catalog keys and field names, never personal data.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// The input was refused; nothing was changed.
    #[error("invalid input: {0}")]
    Invalid(Invalid),
    /// Not there, or not visible to this person: the two are deliberately indistinguishable.
    #[error("not found")]
    NotFound,
    /// Logged in, but this action is not theirs to take (and existence is not secret).
    #[error("forbidden")]
    Forbidden,
    /// No valid session or token.
    #[error("not logged in")]
    Unauthenticated,
    /// Too many failed logins; try again after this many seconds.
    #[error("throttled for {retry_after_secs}s")]
    Throttled { retry_after_secs: i64 },
    /// A write the token may not make.
    #[error("read-only token")]
    ReadOnly,
    #[error("storage: {0}")]
    Store(StoreError),
    #[error("internal: {0}")]
    Internal(String),
}

impl From<Invalid> for AppError {
    fn from(e: Invalid) -> Self {
        AppError::Invalid(e)
    }
}

impl From<tsunagu_domain::FieldError> for AppError {
    fn from(e: tsunagu_domain::FieldError) -> Self {
        AppError::Invalid(e.into())
    }
}

impl From<StoreError> for AppError {
    fn from(e: StoreError) -> Self {
        AppError::Store(e)
    }
}
