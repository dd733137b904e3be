//! RFC 6749 §5.2 (and RFC 7009, 7591, 8707, 9449) error codes and the error value
//! every protocol decision returns.

use serde::Serialize;

/// The standard error codes tessera answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Malformed request: missing, repeated or invalid parameter.
    InvalidRequest,
    /// Client authentication failed.
    InvalidClient,
    /// The grant (credentials, refresh token) is invalid, expired or revoked.
    InvalidGrant,
    /// The client may not use this grant type.
    UnauthorizedClient,
    /// The grant type is not supported by this server.
    UnsupportedGrantType,
    /// The requested scope exceeds what the client may have.
    InvalidScope,
    /// RFC 8707: the requested resource / audience is not one of the client's.
    InvalidTarget,
    /// RFC 7009: the token type is not supported for revocation.
    UnsupportedTokenType,
    /// RFC 7591: registration metadata is invalid.
    InvalidClientMetadata,
    /// RFC 7591: a redirect URI is not acceptable.
    InvalidRedirectUri,
    /// RFC 9449: the DPoP proof is missing, invalid or replayed.
    InvalidDpopProof,
    /// RFC 6750: the bearer token is missing, expired or malformed.
    InvalidToken,
    /// RFC 6750: the token lacks the scope this call needs.
    InsufficientScope,
    /// The server cannot answer right now (database down); retry later.
    TemporarilyUnavailable,
    /// A bug on the server side.
    ServerError,
}

impl ErrorCode {
    /// The HTTP status this code is answered with (before any override).
    pub fn status(self) -> u16 {
        match self {
            ErrorCode::InvalidClient | ErrorCode::InvalidToken => 401,
            ErrorCode::InsufficientScope => 403,
            ErrorCode::TemporarilyUnavailable => 503,
            ErrorCode::ServerError => 500,
            _ => 400,
        }
    }

    /// The code as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::InvalidRequest => "invalid_request",
            ErrorCode::InvalidClient => "invalid_client",
            ErrorCode::InvalidGrant => "invalid_grant",
            ErrorCode::UnauthorizedClient => "unauthorized_client",
            ErrorCode::UnsupportedGrantType => "unsupported_grant_type",
            ErrorCode::InvalidScope => "invalid_scope",
            ErrorCode::InvalidTarget => "invalid_target",
            ErrorCode::UnsupportedTokenType => "unsupported_token_type",
            ErrorCode::InvalidClientMetadata => "invalid_client_metadata",
            ErrorCode::InvalidRedirectUri => "invalid_redirect_uri",
            ErrorCode::InvalidDpopProof => "invalid_dpop_proof",
            ErrorCode::InvalidToken => "invalid_token",
            ErrorCode::InsufficientScope => "insufficient_scope",
            ErrorCode::TemporarilyUnavailable => "temporarily_unavailable",
            ErrorCode::ServerError => "server_error",
        }
    }
}

/// How the client tried to authenticate, which decides the `WWW-Authenticate` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Challenge {
    /// No challenge header.
    #[default]
    None,
    /// `WWW-Authenticate: Basic realm="tessera"` (invalid_client via HTTP Basic).
    Basic,
    /// `WWW-Authenticate: Bearer …` (RFC 6750, protected endpoints).
    Bearer,
    /// `WWW-Authenticate: DPoP …` (RFC 9449 §7.1, a protected endpoint and a DPoP-bound
    /// token).
    Dpop,
}

/// A protocol error: code, a human-readable description, and how to answer it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthError {
    /// The RFC error code.
    pub code: ErrorCode,
    /// One line for the client developer; never a secret, never whether a user exists.
    pub description: String,
    /// Which `WWW-Authenticate` challenge accompanies a 401.
    pub challenge: Challenge,
    /// An HTTP status other than the code's own (413 for an oversized body).
    pub status_override: Option<u16>,
    /// Seconds for a `Retry-After` header (503, throttling).
    pub retry_after: Option<u64>,
}

impl OAuthError {
    /// An error with `code` and `description`.
    pub fn new(code: ErrorCode, description: impl Into<String>) -> Self {
        OAuthError {
            code,
            description: description.into(),
            challenge: Challenge::None,
            status_override: None,
            retry_after: None,
        }
    }

    /// `invalid_request`.
    pub fn invalid_request(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidRequest, description)
    }

    /// `invalid_client`.
    pub fn invalid_client(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidClient, description)
    }

    /// `invalid_grant`.
    pub fn invalid_grant(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidGrant, description)
    }

    /// `invalid_scope`.
    pub fn invalid_scope(description: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidScope, description)
    }

    /// 503 `temporarily_unavailable` with a `Retry-After`.
    pub fn unavailable() -> Self {
        let mut e = Self::new(
            ErrorCode::TemporarilyUnavailable,
            "the authorization server is temporarily unavailable; retry shortly",
        );
        e.retry_after = Some(1);
        e
    }

    /// 500 `server_error`; the details belong in the log, not here.
    pub fn server_error() -> Self {
        Self::new(ErrorCode::ServerError, "internal error")
    }

    /// Adds a challenge header to a 401.
    pub fn with_challenge(mut self, challenge: Challenge) -> Self {
        self.challenge = challenge;
        self
    }

    /// Answers with a different HTTP status.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status_override = Some(status);
        self
    }

    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        self.status_override.unwrap_or_else(|| self.code.status())
    }

    /// The RFC 6749 §5.2 JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.as_str(),
            error_description: self.description.clone(),
        }
    }
}

/// The RFC 6749 §5.2 error body every OAuth endpoint answers with.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    /// The RFC error code, e.g. `invalid_client`.
    #[schema(value_type = String, example = "invalid_request")]
    pub error: &'static str,
    /// One line for the developer; never a secret.
    pub error_description: String,
}

impl std::fmt::Display for OAuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.description)
    }
}

impl std::error::Error for OAuthError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_serialise_as_rfc_snake_case() {
        let e = OAuthError::new(ErrorCode::UnsupportedGrantType, "x");
        assert_eq!(e.body().error, "unsupported_grant_type");
        assert_eq!(
            serde_json::to_value(ErrorCode::InvalidTarget).ok(),
            Some("invalid_target".into())
        );
        for code in [
            ErrorCode::InvalidClient,
            ErrorCode::ServerError,
            ErrorCode::InvalidScope,
        ] {
            assert_eq!(serde_json::to_value(code).ok(), Some(code.as_str().into()));
        }
    }

    #[test]
    fn statuses_follow_the_rfcs() {
        assert_eq!(OAuthError::invalid_client("x").status(), 401);
        assert_eq!(OAuthError::invalid_grant("x").status(), 400);
        assert_eq!(OAuthError::unavailable().status(), 503);
        assert_eq!(
            OAuthError::invalid_request("big").with_status(413).status(),
            413
        );
    }
}
