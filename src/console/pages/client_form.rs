//! The console's client forms as the one client model takes them: what was typed,
//! read into [`ClientFields`] (create) or a [`ClientPatch`] (edit) with no rule of its
//! own — only the reading of text (a number, `KEY=VALUE` lines) — and an
//! [`AdminError`] turned back into a message next to the field it names.

use crate::admin::clients::{ClientFields, ClientPatch, ClientView, Policy};
use crate::admin::AdminError;
use crate::oauth::OAuthError;
use crate::service::AppState;
use serde::Deserialize;

/// What the console may do: the `jwks_uri`s the settings allow, and never grant
/// `tessera:admin` (as RFC 7591: a browser session is not someone with the database).
pub fn policy(state: &AppState) -> Policy {
    Policy {
        jwks_uri_policy: state.settings.jwks_uri_policy(),
        may_grant_admin: false,
    }
}

/// Errors next to the fields they concern: (field's form name, message). A message
/// about no one field has the name `""`.
#[derive(Debug, Clone, Default)]
pub struct FieldErrors(pub Vec<(String, String)>);

impl FieldErrors {
    /// The message about `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }

    /// Whether there is none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a message about `field`.
    pub fn push(&mut self, field: &str, message: impl Into<String>) {
        self.0.push((field.to_string(), message.into()));
    }

    /// The message about no one field (shown above the form).
    pub fn general(&self) -> Option<&str> {
        self.get("")
    }

    /// An invalid attribute as its form field's message; another refusal as the
    /// form's general message.
    pub fn of(e: &AdminError) -> FieldErrors {
        let mut out = FieldErrors::default();
        match e {
            AdminError::InvalidField { field, message } => out.push(input(field), message),
            other => out.push("", other.to_string()),
        }
        out
    }
}

/// The form input that carries a client attribute (its neutral name, as
/// [`AdminError::InvalidField`] gives it): the same name, except where the form's
/// differs.
pub fn input(field: &str) -> &str {
    match field {
        "claims" => "claims",
        "secret" => "",
        same => same,
    }
}

/// An operation's result for a unit of work: a database failure stays an error (its
/// writes are undone); a refusal (invalid input, not found), which the operations
/// return before writing anything, is handed back to be shown on the page.
pub fn kept<T>(r: Result<T, AdminError>) -> Result<Result<T, AdminError>, OAuthError> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(e @ (AdminError::Db(_) | AdminError::Keys(_))) => Err(e.into()),
        Err(e) => Ok(Err(e)),
    }
}

/// Words of a text field (spaces, commas or line breaks between them).
fn words(s: &str) -> Vec<String> {
    s.split(|c: char| c.is_whitespace() || c == ',')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

/// A text field that may be left empty.
fn given(s: &str) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_string())
}

/// A number of seconds as typed; empty is `None`.
fn seconds(field: &str, s: &str, errors: &mut FieldErrors) -> Option<i64> {
    let t = s.trim();
    if t.is_empty() {
        return None;
    }
    match t.parse::<i64>() {
        Ok(n) => Some(n),
        Err(_) => {
            errors.push(field, "expected a whole number of seconds");
            None
        }
    }
}

/// `KEY=VALUE` lines.
fn claim_lines(s: &str, errors: &mut FieldErrors) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for line in s.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some((k, v)) => out.push((k.trim().to_string(), v.trim().to_string())),
            None => {
                errors.push("claims", format!("{line:?}: expected KEY=VALUE"));
                break;
            }
        }
    }
    out
}

/// The new-client form, as typed (kept to show it again after a refusal).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct CreateForm {
    /// Human name.
    pub name: String,
    /// A chosen id, or empty for a generated one.
    pub client_id: String,
    /// RFC 7591 method name; empty: the default.
    pub auth_method: String,
    /// Space-separated scope.
    pub scope: String,
    /// Grant type names, space- or comma-separated; empty: the default.
    pub grant_types: String,
    /// Audiences, one per line (or space-separated).
    pub audiences: String,
    /// Resource URIs, one per line.
    pub resource_uris: String,
    /// Seconds, or empty for the server's default.
    pub access_token_ttl: String,
    /// Seconds, or empty for the server's default.
    pub refresh_token_ttl: String,
    /// Seconds, or empty for the server's default.
    pub refresh_reuse_grace: String,
    /// `private_key_jwt`: the JWK Set, JSON.
    pub jwks: String,
    /// `private_key_jwt`: the JWK Set's URL.
    pub jwks_uri: String,
    /// `federated`: the trusted issuer's name.
    pub issuer: String,
    /// `federated`: the subject.
    pub subject: String,
    /// `federated`: `KEY=VALUE` lines.
    pub claims: String,
    /// A checkbox: present when ticked.
    pub require_dpop: Option<String>,
}

impl CreateForm {
    /// The client's attributes, or the fields that could not even be read.
    pub fn fields(&self) -> Result<ClientFields, FieldErrors> {
        let mut errors = FieldErrors::default();
        let fields = ClientFields {
            name: self.name.trim().to_string(),
            client_id: given(&self.client_id),
            scope: self.scope.trim().to_string(),
            grant_types: given(&self.grant_types).map(|g| words(&g)),
            audiences: words(&self.audiences),
            resource_uris: words(&self.resource_uris),
            auth_method: given(&self.auth_method),
            jwks: given(&self.jwks),
            jwks_uri: given(&self.jwks_uri),
            issuer: given(&self.issuer),
            subject: given(&self.subject),
            claims: claim_lines(&self.claims, &mut errors),
            access_token_ttl: seconds("access_token_ttl", &self.access_token_ttl, &mut errors),
            refresh_token_ttl: seconds("refresh_token_ttl", &self.refresh_token_ttl, &mut errors),
            refresh_reuse_grace: seconds(
                "refresh_reuse_grace",
                &self.refresh_reuse_grace,
                &mut errors,
            ),
            require_dpop: self.require_dpop.is_some(),
            secret: None,
        };
        if errors.is_empty() {
            Ok(fields)
        } else {
            Err(errors)
        }
    }
}

/// The edit form of a client's scopes, audiences and lifetimes, as typed.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct EditForm {
    /// Human name.
    pub name: String,
    /// Space-separated scope.
    pub scope: String,
    /// Grant type names.
    pub grant_types: String,
    /// Audiences, one per line.
    pub audiences: String,
    /// Resource URIs, one per line.
    pub resource_uris: String,
    /// Seconds, or empty for the server's default.
    pub access_token_ttl: String,
    /// Seconds, or empty for the server's default.
    pub refresh_token_ttl: String,
    /// Seconds, or empty for the server's default.
    pub refresh_reuse_grace: String,
    /// A checkbox: present when ticked.
    pub require_dpop: Option<String>,
}

fn lines(list: &[String]) -> String {
    list.join("\n")
}

fn secs(v: Option<i64>) -> String {
    v.map(|n| n.to_string()).unwrap_or_default()
}

impl EditForm {
    /// The form filled with a stored client.
    pub fn of(view: &ClientView) -> EditForm {
        EditForm {
            name: view.name.clone(),
            scope: view.scope.clone(),
            grant_types: view.grant_types.join(" "),
            audiences: lines(&view.audiences),
            resource_uris: lines(&view.resource_uris),
            access_token_ttl: secs(view.access_token_ttl),
            refresh_token_ttl: secs(view.refresh_token_ttl),
            refresh_reuse_grace: secs(view.refresh_reuse_grace),
            require_dpop: view.require_dpop.then(|| "on".to_string()),
        }
    }

    /// The change: every attribute of the form (it shows them all); an empty
    /// lifetime goes back to the server's default.
    pub fn patch(&self) -> Result<ClientPatch, FieldErrors> {
        let mut errors = FieldErrors::default();
        let patch = ClientPatch {
            name: Some(self.name.trim().to_string()),
            scope: Some(self.scope.trim().to_string()),
            grant_types: Some(words(&self.grant_types)),
            audiences: Some(words(&self.audiences)),
            resource_uris: Some(words(&self.resource_uris)),
            access_token_ttl: Some(seconds(
                "access_token_ttl",
                &self.access_token_ttl,
                &mut errors,
            )),
            refresh_token_ttl: Some(seconds(
                "refresh_token_ttl",
                &self.refresh_token_ttl,
                &mut errors,
            )),
            refresh_reuse_grace: Some(seconds(
                "refresh_reuse_grace",
                &self.refresh_reuse_grace,
                &mut errors,
            )),
            require_dpop: Some(self.require_dpop.is_some()),
            auth_method: None,
        };
        if errors.is_empty() {
            Ok(patch)
        } else {
            Err(errors)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_claims_that_cannot_be_read_name_their_field() {
        let form = CreateForm {
            name: "x".into(),
            access_token_ttl: "ten".into(),
            claims: "repository=acme/app\nnot a pair".into(),
            ..CreateForm::default()
        };
        let errors = form.fields().expect_err("unreadable");
        assert!(errors.get("access_token_ttl").is_some());
        assert!(errors
            .get("claims")
            .is_some_and(|m| m.contains("KEY=VALUE")));
    }

    #[test]
    fn lists_split_on_lines_spaces_and_commas() {
        let form = CreateForm {
            name: "x".into(),
            audiences: "https://a.example\nhttps://b.example, https://c.example".into(),
            grant_types: "".into(),
            ..CreateForm::default()
        };
        let fields = form.fields().expect("read");
        assert_eq!(fields.audiences.len(), 3);
        assert_eq!(fields.grant_types, None);
    }

    #[test]
    fn an_empty_lifetime_on_edit_is_the_servers_default() {
        let form = EditForm {
            name: "x".into(),
            access_token_ttl: " ".into(),
            refresh_token_ttl: "600".into(),
            ..EditForm::default()
        };
        let patch = form.patch().expect("read");
        assert_eq!(patch.access_token_ttl, Some(None));
        assert_eq!(patch.refresh_token_ttl, Some(Some(600)));
    }
}
