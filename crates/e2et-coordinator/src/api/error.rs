//! Errors as JSON `{code, error, message}` with a stable code.
use crate::store::StoreError;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use e2et_model::api::ApiError;
use tracing::warn;

pub struct ApiErr(
    pub(super) StatusCode,
    pub(super) &'static str,
    pub(super) String,
);

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let body = ApiError {
            code: self.1.into(),
            error: self.0.canonical_reason().unwrap_or("error").into(),
            message: self.2,
        };
        (self.0, Json(body)).into_response()
    }
}

impl From<StoreError> for ApiErr {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::HostBusy { .. } => {
                return ApiErr(StatusCode::CONFLICT, "host_busy", e.to_string())
            }
            StoreError::Moved { .. } => {
                return ApiErr(StatusCode::CONFLICT, "moved", format!("{e}; retry"))
            }
            _ => {}
        }
        warn!(error = %e, "store error");
        ApiErr(StatusCode::INTERNAL_SERVER_ERROR, "store", e.to_string())
    }
}

pub(super) type R<T> = Result<T, ApiErr>;
