//! What the overview, issuers, users, keys and audit pages make of an operator
//! action's result: done; refused for a reason the operator can fix (the message of
//! the one validator, naming the field it concerns, shown next to that field); or the
//! database's fault (an error page, 503 when it is away).

use crate::admin::AdminError;
use crate::console::page;
use crate::oauth::{ErrorCode, OAuthError};
use actix_web::http::StatusCode;
use actix_web::HttpResponse;

/// An operation refused: its message, and the field it concerns (the validator's
/// neutral name, e.g. `name`, `jwks_uri`), if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// The neutral field name, when one attribute is at fault.
    pub field: Option<&'static str>,
    /// What is wrong, in the validator's words.
    pub message: String,
}

impl Refusal {
    /// A refusal about `field`.
    pub fn field(field: &'static str, message: impl Into<String>) -> Refusal {
        Refusal {
            field: Some(field),
            message: message.into(),
        }
    }

    /// A refusal about the whole form.
    pub fn general(message: impl Into<String>) -> Refusal {
        Refusal {
            field: None,
            message: message.into(),
        }
    }
}

/// The refusals a form shows: next to each field, and above the form for the rest.
#[derive(Debug, Clone, Default)]
pub struct FormErrors(Vec<Refusal>);

impl FormErrors {
    /// No errors.
    pub fn none() -> FormErrors {
        FormErrors(Vec::new())
    }

    /// The errors of one refusal.
    pub fn of(refusal: Refusal) -> FormErrors {
        FormErrors(vec![refusal])
    }

    /// The message for `field`, if it has one.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|r| r.field == Some(field))
            .map(|r| r.message.as_str())
    }

    /// Messages not tied to a field (`known` lists the fields the form shows; an
    /// error about another field is shown here with its name).
    pub fn general(&self, known: &[&str]) -> Vec<String> {
        self.0
            .iter()
            .filter_map(|r| match r.field {
                Some(f) if known.contains(&f) => None,
                Some(f) => Some(format!("{f}: {}", r.message)),
                None => Some(r.message.clone()),
            })
            .collect()
    }

    /// Whether there is any.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The result of an operation run in a unit of work: `Ok(Ok(value))` done,
/// `Ok(Err(refusal))` refused for the operator to fix, `Err(page)` the error page of
/// the database's (or a bug's) fault.
#[expect(
    clippy::result_large_err,
    reason = "the error is the page answered at once, made once per request"
)]
pub fn settle<T>(
    result: Result<Result<T, AdminError>, OAuthError>,
) -> Result<Result<T, Refusal>, HttpResponse> {
    match result {
        Ok(Ok(value)) => Ok(Ok(value)),
        Ok(Err(e)) => refusal(e).map(Err),
        Err(e) => Err(failed(&e)),
    }
}

/// An administrative error as a refusal, or the error page when it is no input's
/// fault.
#[expect(
    clippy::result_large_err,
    reason = "the error is the page answered at once, made once per request"
)]
pub fn refusal(e: AdminError) -> Result<Refusal, HttpResponse> {
    match e {
        AdminError::Invalid(message) => Ok(Refusal::general(message)),
        AdminError::InvalidField { field, message } => Ok(Refusal::field(field, message)),
        AdminError::NotFound(what) => Ok(Refusal::general(format!("{what} not found"))),
        other => Err(failed(&OAuthError::from(other))),
    }
}

/// The error page of a failed unit of work: 503 while the database is away, else 500
/// (the cause is logged where it happened).
pub fn failed(e: &OAuthError) -> HttpResponse {
    if e.code == ErrorCode::TemporarilyUnavailable {
        page::error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            "The database is not answering; try again shortly.",
        )
    } else {
        page::error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Something went wrong on the server; the log says what.",
        )
    }
}

/// A page number from a query parameter: absent or not a number is the first page.
pub fn page_number(raw: Option<&str>) -> u32 {
    raw.and_then(|p| p.trim().parse::<u32>().ok()).unwrap_or(0)
}

/// An optional form or query text: absent, empty or blank is `None`.
pub fn text(raw: Option<&str>) -> Option<String> {
    raw.map(str::trim)
        .filter(|t| !t.is_empty())
        .map(str::to_string)
}
