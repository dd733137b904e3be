//! Trusted issuers: outside token issuers (a Kubernetes cluster, GitHub Actions, a
//! SPIFFE trust domain, any OIDC provider) whose JWTs authenticate federated clients.
//! Managed by operators only (the CLI and `tessera apply`), so their URLs may point at
//! internal addresses.

use super::AdminError;
use crate::db::audit;
use crate::db::models::{Client, TrustedIssuer};
use crate::db::DbConnection;
use crate::oauth::client_keys::{ClientKeySet, Strictness};
use crate::oauth::federation::DEFAULT_MAX_TOKEN_AGE;
use serde::Serialize;

/// Longest `max_token_age`, seconds (a week).
pub const MAX_TOKEN_AGE: i64 = 7 * 86_400;

/// What an operator gives to register an issuer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerSpec {
    /// 1–64 characters of `[A-Za-z0-9._-]`.
    pub name: String,
    /// The `iss` of its tokens; for SPIFFE, default `spiffe://<trust domain>`.
    pub issuer: Option<String>,
    /// Where its JWK Set is published.
    pub jwks_uri: Option<String>,
    /// Its JWK Set, inline (JSON text).
    pub jwks: Option<String>,
    /// Marks a SPIFFE issuer.
    pub spiffe_trust_domain: Option<String>,
    /// Longest `exp − iat` accepted, seconds.
    pub max_token_age: Option<i64>,
    /// Whether `http` URLs are allowed (`jwks_uri_allow_http`, for tests).
    pub allow_http: bool,
}

/// An issuer as shown to operators.
#[derive(Debug, Clone, Serialize)]
pub struct IssuerView {
    /// The operator's name for it.
    pub name: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// Where its keys come from: `jwks`, `jwks_uri` or `discovery`.
    pub key_source: &'static str,
    /// Its `jwks_uri`, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Its inline JWK Set, if given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// A SPIFFE issuer's trust domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spiffe_trust_domain: Option<String>,
    /// Longest `exp − iat` accepted, seconds.
    pub max_token_age: i64,
    /// `cli` or `apply`.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
}

impl From<&TrustedIssuer> for IssuerView {
    fn from(t: &TrustedIssuer) -> Self {
        IssuerView {
            name: t.name.clone(),
            issuer: t.issuer.clone(),
            key_source: match (&t.jwks, &t.jwks_uri) {
                (Some(_), _) => "jwks",
                (None, Some(_)) => "jwks_uri",
                (None, None) => "discovery",
            },
            jwks_uri: t.jwks_uri.clone(),
            jwks: t.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            spiffe_trust_domain: t.spiffe_trust_domain.clone(),
            max_token_age: t.max_token_age,
            created_by: t.created_by.clone(),
            created_at: t.created_at,
        }
    }
}

/// An invalid attribute, named by its neutral name (the TOML key; each front end
/// renders it as its own).
fn invalid<T>(field: &'static str, m: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError::field(field, m))
}

/// Checks an issuer URL (`field`). Messages show it redacted
/// (`telemetry::redact::url`): a password put in it by mistake is refused and never
/// echoed, here or in `apply`'s errors.
fn check_url(field: &'static str, raw: &str, allow_http: bool) -> Result<String, AdminError> {
    if raw.len() > 2048 {
        return invalid(field, "must be at most 2048 characters");
    }
    let shown = || crate::telemetry::redact::url(raw);
    let url = url::Url::parse(raw)
        .map_err(|e| AdminError::field(field, format!("{:?}: {e}", shown())))?;
    let scheme_ok = url.scheme() == "https" || (allow_http && url.scheme() == "http");
    if !scheme_ok {
        return invalid(
            field,
            format!(
                "{:?} must be https (http only with jwks_uri_allow_http)",
                shown()
            ),
        );
    }
    if !url.username().is_empty()
        || url.password().is_some()
        || crate::telemetry::redact::holds_secret(raw)
    {
        return invalid(
            field,
            format!(
                "{:?} must not carry a user name, password or secret query parameter: \
                 tessera sends none, and it would be printed wherever the URL is",
                shown()
            ),
        );
    }
    if url.host_str().is_none_or(str::is_empty) || url.fragment().is_some() {
        return invalid(
            field,
            format!("{:?} must be a URL with a host, without fragment", shown()),
        );
    }
    // Kept exactly: an issuer identifier is compared with `iss` as a string, and some
    // end in a slash.
    Ok(raw.to_string())
}

impl IssuerSpec {
    /// Checks the spec and returns the row to store.
    fn validate(&self, actor: &str, now: i64) -> Result<TrustedIssuer, AdminError> {
        let name_ok = (1..=64).contains(&self.name.len())
            && self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
        if !name_ok {
            return invalid("name", "must be 1 to 64 characters of A-Z a-z 0-9 . _ -");
        }
        let td = match &self.spiffe_trust_domain {
            Some(td) => {
                let ok = !td.is_empty()
                    && td.len() <= 255
                    && td.bytes().all(|b| {
                        b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b)
                    });
                if !ok {
                    let shown: String = td.chars().take(80).collect();
                    return invalid(
                        "spiffe_trust_domain",
                        format!(
                            "{shown:?}: lower-case letters, digits, . _ - (e.g. prod.example.org)"
                        ),
                    );
                }
                Some(td.clone())
            }
            None => None,
        };
        let issuer = match (&self.issuer, &td) {
            (Some(i), Some(_)) if i.starts_with("spiffe://") => i.clone(),
            (Some(i), _) => check_url("issuer", i, self.allow_http)?,
            (None, Some(td)) => format!("spiffe://{td}"),
            (None, None) => return invalid("issuer", "is required"),
        };
        if self.jwks.is_some() && self.jwks_uri.is_some() {
            return invalid("jwks_uri", "give jwks or jwks_uri, not both");
        }
        if td.is_some() && self.jwks.is_none() && self.jwks_uri.is_none() {
            return invalid(
                "jwks_uri",
                "a SPIFFE issuer needs a jwks_uri (its trust bundle endpoint) or jwks",
            );
        }
        let jwks_uri = match &self.jwks_uri {
            Some(u) => Some(check_url("jwks_uri", u, self.allow_http)?),
            None => None,
        };
        let jwks = match &self.jwks {
            Some(text) => {
                ClientKeySet::parse(text.as_bytes(), Strictness::Registration)
                    .map_err(|e| AdminError::field("jwks", e.to_string()))?;
                let value: serde_json::Value = serde_json::from_str(text)
                    .map_err(|_| AdminError::field("jwks", "is not JSON"))?;
                Some(value.to_string())
            }
            None => None,
        };
        let max_token_age = self.max_token_age.unwrap_or(DEFAULT_MAX_TOKEN_AGE);
        if !(1..=MAX_TOKEN_AGE).contains(&max_token_age) {
            return invalid(
                "max_token_age",
                format!("must be 1 to {MAX_TOKEN_AGE} seconds"),
            );
        }
        Ok(TrustedIssuer {
            name: self.name.clone(),
            issuer,
            jwks_uri,
            jwks,
            spiffe_trust_domain: td,
            max_token_age,
            created_by: actor.to_string(),
            created_at: now,
            updated_at: now,
        })
    }
}

/// The row `spec` describes, checked, for an issuer first made by `created_by`.
pub fn validated(
    spec: &IssuerSpec,
    created_by: &str,
    now: i64,
) -> Result<TrustedIssuer, AdminError> {
    spec.validate(created_by, now)
}

/// Replaces a registered issuer's settings with `row`'s (by name).
pub fn replace(
    conn: &mut DbConnection,
    actor: &str,
    row: &TrustedIssuer,
    now: i64,
) -> Result<IssuerView, AdminError> {
    if let Some(other) = TrustedIssuer::find_by_issuer(conn, &row.issuer)? {
        if other.name != row.name {
            return invalid(
                "issuer",
                format!("{:?} is already registered as {:?}", row.issuer, other.name),
            );
        }
    }
    if !TrustedIssuer::replace(conn, row)? {
        return Err(AdminError::NotFound(format!("issuer {:?}", row.name)));
    }
    let view = show(conn, &row.name)?;
    let details = serde_json::to_value(&view).unwrap_or_default();
    audit::record(conn, actor, "issuer.update", &row.name, details, now)?;
    Ok(view)
}

/// Registers an issuer.
pub fn add(
    conn: &mut DbConnection,
    actor: &str,
    spec: &IssuerSpec,
    now: i64,
) -> Result<IssuerView, AdminError> {
    let row = spec.validate(actor, now)?;
    audit::transaction(conn, |conn| {
        if TrustedIssuer::find(conn, &row.name)?.is_some() {
            return invalid(
                "name",
                format!("an issuer named {:?} already exists", row.name),
            );
        }
        if let Some(other) = TrustedIssuer::find_by_issuer(conn, &row.issuer)? {
            return invalid(
                "issuer",
                format!("{:?} is already registered as {:?}", row.issuer, other.name),
            );
        }
        if let Some(td) = &row.spiffe_trust_domain {
            if let Some(other) = TrustedIssuer::find_by_trust_domain(conn, td)? {
                return invalid(
                    "spiffe_trust_domain",
                    format!("{td:?} is already registered as {:?}", other.name),
                );
            }
        }
        TrustedIssuer::insert(conn, &row)?;
        let view = IssuerView::from(&row);
        let details = serde_json::to_value(&view).unwrap_or_default();
        audit::record(conn, actor, "issuer.add", &row.name, details, now)?;
        Ok(view)
    })
}

/// One issuer.
pub fn show(conn: &mut DbConnection, name: &str) -> Result<IssuerView, AdminError> {
    TrustedIssuer::find(conn, name)?
        .map(|t| IssuerView::from(&t))
        .ok_or_else(|| AdminError::NotFound(format!("issuer {name:?}")))
}

/// Every issuer.
pub fn list(conn: &mut DbConnection) -> Result<Vec<IssuerView>, AdminError> {
    Ok(TrustedIssuer::list(conn)?
        .iter()
        .map(IssuerView::from)
        .collect())
}

/// A client bound to an issuer, as an issuer's page lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BoundClient {
    /// Its id.
    pub client_id: String,
    /// Its name.
    pub name: String,
    /// Whether it is disabled (then no token of the issuer authenticates it).
    pub disabled: bool,
}

/// The clients bound to the issuer `name`, by id.
pub fn bound_clients(conn: &mut DbConnection, name: &str) -> Result<Vec<BoundClient>, AdminError> {
    Ok(Client::bound_to_issuer(conn, name)?
        .into_iter()
        .map(|c| BoundClient {
            client_id: c.client_id,
            name: c.name,
            disabled: c.disabled,
        })
        .collect())
}

/// Deletes an issuer; refused while clients are bound to it.
pub fn delete(
    conn: &mut DbConnection,
    actor: &str,
    name: &str,
    now: i64,
) -> Result<IssuerView, AdminError> {
    audit::transaction(conn, |conn| {
        let view = show(conn, name)?;
        let bound = Client::bound_to_issuer(conn, name)?;
        if !bound.is_empty() {
            let ids: Vec<&str> = bound.iter().take(5).map(|c| c.client_id.as_str()).collect();
            return Err(AdminError::Invalid(format!(
                "{} client(s) are bound to issuer {name:?} ({}{}); delete or rebind them first",
                bound.len(),
                ids.join(", "),
                if bound.len() > 5 { ", …" } else { "" }
            )));
        }
        TrustedIssuer::delete(conn, name)?;
        audit::record(
            conn,
            actor,
            "issuer.delete",
            name,
            serde_json::json!({}),
            now,
        )?;
        Ok(view)
    })
}
