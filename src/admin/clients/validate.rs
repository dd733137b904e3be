//! The one validator of a client: every rule a client's attributes obey, written once,
//! from raw [`ClientFields`] to a [`ValidClient`] in stored form. Given the stored
//! client on update, it also holds the rules between the two (the auth method cannot
//! change, nor the id). An error names the attribute by its neutral name
//! ([`AdminError::InvalidField`]) and never by a front end's spelling: each front end
//! renders the name as its flag, metadata member or TOML key.

use super::fields::ClientFields;
use crate::admin::AdminError;
use crate::db::models::Client;
use crate::oauth::client::{validate_audience, validate_resource_uri};
use crate::oauth::client_keys::{ClientKeySet, Strictness};
use crate::oauth::federation;
use crate::oauth::scope::ADMIN_SCOPE;
use crate::oauth::secret::hash_secret;
use crate::oauth::token::{ACCESS_TOKEN_TTL, REFRESH_REUSE_GRACE, REFRESH_TOKEN_TTL};
use crate::oauth::{AuthMethod, GrantType, Scope};
use crate::outbound::FetchPolicy;
use secrecy::{ExposeSecret, SecretString};

/// The shortest secret an operator may provide.
pub const MIN_PROVIDED_SECRET: usize = 32;

/// The most audiences, and the most resource URIs, a client has.
pub const MAX_URIS: usize = 50;

/// The most scope tokens a client has.
pub const MAX_SCOPE_TOKENS: usize = 100;

/// The longest name, characters.
pub const MAX_NAME_CHARS: usize = 200;

/// What a front end's fields are judged by besides the rules: the server's settings
/// and who is asking.
#[derive(Debug, Clone, Copy, Default)]
pub struct Policy {
    /// Which `jwks_uri`s are accepted (`jwks_uri_allow_http`, `jwks_uri_allow_private`).
    pub jwks_uri_policy: FetchPolicy,
    /// Whether the reserved scope `tessera:admin` may be granted: only by someone with
    /// database access (the CLI, `apply`, the first start), never over RFC 7591.
    pub may_grant_admin: bool,
}

/// What the fields are judged against besides themselves.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The stored client, on update.
    pub stored: Option<&'a Client>,
    /// The settings and the asker.
    pub policy: Policy,
}

/// A client's attributes, checked, in stored form.
#[derive(Debug, Clone)]
pub struct ValidClient {
    /// The chosen id (create), checked; `None`: generate one.
    pub client_id: Option<String>,
    /// The name, trimmed.
    pub name: String,
    /// The one method the client authenticates with.
    pub auth_method: AuthMethod,
    /// Space-separated scope.
    pub scope: String,
    /// Space-separated grant types (`grant_type` values), sorted, without repeats.
    pub grant_types: String,
    /// Space-separated audiences, without repeats.
    pub audiences: String,
    /// Space-separated resource URIs, without repeats.
    pub resource_uris: String,
    /// `private_key_jwt`: the JWK Set, as compact JSON.
    pub jwks: Option<String>,
    /// `private_key_jwt`: where the JWK Set is published.
    pub jwks_uri: Option<String>,
    /// `federated`: the trusted issuer's name, the subject and the claims as a JSON
    /// object.
    pub federation: Option<(String, String, String)>,
    /// Per-client access-token lifetime.
    pub access_token_ttl: Option<i64>,
    /// Per-client refresh-token family lifetime.
    pub refresh_token_ttl: Option<i64>,
    /// Per-client refresh reuse grace.
    pub refresh_reuse_grace: Option<i64>,
    /// Tokens only with a DPoP proof.
    pub require_dpop: bool,
    /// A provided secret, hashed.
    pub secret_hash: Option<String>,
}

fn invalid<T>(field: &'static str, message: impl Into<String>) -> Result<T, AdminError> {
    Err(AdminError::field(field, message))
}

/// At most 80 characters of an untrusted value, for a message.
fn shown(value: &str) -> String {
    value.chars().take(80).collect()
}

/// Checks `fields` (against `ctx.stored` on update). `known_issuer` says whether a
/// trusted issuer of that name is registered.
pub fn validate(
    fields: &ClientFields,
    ctx: Context<'_>,
    known_issuer: &mut dyn FnMut(&str) -> Result<bool, AdminError>,
) -> Result<ValidClient, AdminError> {
    let auth_method = auth_method(fields.auth_method.as_deref(), ctx.stored)?;
    let client_id = match (&fields.client_id, ctx.stored) {
        (Some(id), Some(stored)) if *id != stored.client_id => {
            return invalid("client_id", "a client's id cannot change");
        }
        (Some(_), Some(_)) | (None, _) => None,
        (Some(id), None) => Some(check_client_id(id)?),
    };
    let name = fields.name.trim();
    if name.is_empty()
        || fields.name.chars().count() > MAX_NAME_CHARS
        || fields.name.chars().any(char::is_control)
    {
        return invalid(
            "name",
            format!("must be 1 to {MAX_NAME_CHARS} printable characters"),
        );
    }
    let scope = Scope::parse(&fields.scope).map_err(|m| AdminError::field("scope", m))?;
    if scope.iter().count() > MAX_SCOPE_TOKENS {
        return invalid("scope", format!("at most {MAX_SCOPE_TOKENS} scope tokens"));
    }
    if !ctx.policy.may_grant_admin && scope.iter().any(|s| s == ADMIN_SCOPE) {
        return invalid(
            "scope",
            format!("the scope {ADMIN_SCOPE} can only be granted through the CLI"),
        );
    }
    let grant_types = grant_types(fields.grant_types.as_deref())?;
    let audiences = uri_list(
        "audiences",
        "audiences",
        &fields.audiences,
        validate_audience,
    )?;
    let resource_uris = uri_list(
        "resource_uris",
        "resource URIs",
        &fields.resource_uris,
        validate_resource_uri,
    )?;
    let (jwks, jwks_uri) = keys(fields, auth_method, ctx.policy.jwks_uri_policy)?;
    let federation = federation(fields, auth_method, known_issuer)?;
    check_ttl(
        "access_token_ttl",
        fields.access_token_ttl,
        ACCESS_TOKEN_TTL,
    )?;
    check_ttl(
        "refresh_token_ttl",
        fields.refresh_token_ttl,
        REFRESH_TOKEN_TTL,
    )?;
    check_ttl(
        "refresh_reuse_grace",
        fields.refresh_reuse_grace,
        REFRESH_REUSE_GRACE,
    )?;
    let secret_hash = match &fields.secret {
        Some(_) if !auth_method.uses_secret() => {
            return invalid(
                "secret",
                format!("a {} client has no secret", auth_method.as_str()),
            )
        }
        Some(s) => Some(provided_secret(s)?),
        None => None,
    };
    Ok(ValidClient {
        client_id,
        name: name.to_string(),
        auth_method,
        scope: scope.to_string(),
        grant_types: grant_types.join(" "),
        audiences: audiences.join(" "),
        resource_uris: resource_uris.join(" "),
        jwks,
        jwks_uri,
        federation,
        access_token_ttl: fields.access_token_ttl,
        refresh_token_ttl: fields.refresh_token_ttl,
        refresh_reuse_grace: fields.refresh_reuse_grace,
        require_dpop: fields.require_dpop,
        secret_hash,
    })
}

/// The method asked for, or the stored one, or the default; on update it cannot change.
fn auth_method(asked: Option<&str>, stored: Option<&Client>) -> Result<AuthMethod, AdminError> {
    let asked = match asked {
        None => None,
        Some(m) => Some(AuthMethod::parse(m).ok_or_else(|| {
            AdminError::field(
                "auth_method",
                format!(
                    "unknown token endpoint auth method {:?} (supported: {})",
                    shown(m),
                    auth_method_names()
                ),
            )
        })?),
    };
    let Some(stored) = stored else {
        return Ok(asked.unwrap_or(AuthMethod::DEFAULT));
    };
    match (asked, AuthMethod::parse(&stored.auth_method)) {
        (None, Some(m)) => Ok(m),
        (Some(a), Some(m)) if a == m => Ok(m),
        _ => invalid(
            "auth_method",
            format!(
                "client {} authenticates with {}; a client's auth method cannot change: \
                 delete the client and create it again with the new method",
                stored.client_id, stored.auth_method
            ),
        ),
    }
}

/// Checks an operator-chosen client id: 1 to 64 characters of `[A-Za-z0-9._-]`.
fn check_client_id(id: &str) -> Result<String, AdminError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(id.to_string())
    } else {
        invalid(
            "client_id",
            format!("{:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -", shown(id)),
        )
    }
}

/// The grant types as administrators write them, from [`GrantType::ALL`]: for help
/// texts and messages.
pub fn grant_type_names() -> String {
    let names: Vec<&str> = GrantType::ALL.iter().map(|g| g.name()).collect();
    names.join(", ")
}

/// The auth methods' names, from [`AuthMethod::ALL`]: for help texts and messages.
pub fn auth_method_names() -> String {
    let names: Vec<&str> = AuthMethod::ALL.iter().map(|m| m.as_str()).collect();
    names.join(", ")
}

/// Grant names read, without repeats, sorted; `None` is the default grant.
fn grant_types(names: Option<&[String]>) -> Result<Vec<&'static str>, AdminError> {
    let Some(names) = names else {
        return Ok(vec![GrantType::DEFAULT.as_str()]);
    };
    let mut grants = Vec::new();
    for g in names {
        let g = g.trim();
        let grant = GrantType::from_name(g).ok_or_else(|| {
            AdminError::field(
                "grant_types",
                format!(
                    "unknown grant type {:?} (supported: {})",
                    shown(g),
                    grant_type_names()
                ),
            )
        })?;
        if !grants.contains(&grant) {
            grants.push(grant);
        }
    }
    if grants.is_empty() {
        return invalid("grant_types", "at least one grant type is required");
    }
    grants.sort();
    Ok(grants.into_iter().map(GrantType::as_str).collect())
}

/// A list of audiences or resource URIs (`field`, called `plural` in messages): at most
/// [`MAX_URIS`], each valid, duplicates dropped, order kept.
fn uri_list(
    field: &'static str,
    plural: &str,
    items: &[String],
    valid: fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, AdminError> {
    if items.len() > MAX_URIS {
        return invalid(field, format!("at most {MAX_URIS} {plural}"));
    }
    let mut out: Vec<String> = Vec::new();
    for item in items {
        valid(item).map_err(|m| AdminError::field(field, m))?;
        if !out.contains(item) {
            out.push(item.clone());
        }
    }
    Ok(out)
}

/// A `private_key_jwt` client's keys: `jwks` or `jwks_uri`, exactly one, and only for
/// that method. Stored as (`jwks`, `jwks_uri`).
fn keys(
    fields: &ClientFields,
    method: AuthMethod,
    policy: FetchPolicy,
) -> Result<(Option<String>, Option<String>), AdminError> {
    let keyed = method == AuthMethod::PrivateKeyJwt;
    match (&fields.jwks, &fields.jwks_uri) {
        (Some(_), Some(_)) => invalid("jwks_uri", "give jwks or jwks_uri, not both"),
        (None, None) if keyed => invalid("jwks", "a private_key_jwt client needs jwks or jwks_uri"),
        (None, None) => Ok((None, None)),
        (Some(_), None) if !keyed => invalid("jwks", "keys are for private_key_jwt clients only"),
        (None, Some(_)) if !keyed => {
            invalid("jwks_uri", "keys are for private_key_jwt clients only")
        }
        (Some(json), None) => Ok((Some(jwks(json)?), None)),
        (None, Some(uri)) => Ok((None, Some(jwks_uri(uri, policy)?))),
    }
}

/// An inline JWK Set (public keys only), as compact JSON.
pub fn jwks(json: &str) -> Result<String, AdminError> {
    ClientKeySet::parse(json.as_bytes(), Strictness::Registration)
        .map_err(|e| AdminError::field("jwks", e.to_string()))?;
    let value: serde_json::Value =
        serde_json::from_str(json).map_err(|_| AdminError::field("jwks", "not valid JSON"))?;
    Ok(value.to_string())
}

/// A `jwks_uri` the policy allows: a URL with a host, without credentials, secret
/// query parameters or fragment, at most 2048 characters. Messages show it redacted.
pub fn jwks_uri(uri: &str, policy: FetchPolicy) -> Result<String, AdminError> {
    let shown = || crate::telemetry::redact::url(uri);
    let url = url::Url::parse(uri).map_err(|_| {
        AdminError::field("jwks_uri", format!("{:?} is not an absolute URL", shown()))
    })?;
    policy
        .check_url(&url)
        .map_err(|why| AdminError::field("jwks_uri", why))?;
    if crate::telemetry::redact::holds_secret(uri) {
        return invalid(
            "jwks_uri",
            format!(
                "{:?} must not carry a password or secret query parameter: it would be \
                 printed wherever the URL is",
                shown()
            ),
        );
    }
    if url.host_str().is_none_or(str::is_empty)
        || !url.username().is_empty()
        || url.password().is_some()
        || url.fragment().is_some()
        || uri.len() > 2048
    {
        return invalid(
            "jwks_uri",
            "must be a URL with a host, without credentials or fragment, of at most 2048 \
             characters",
        );
    }
    Ok(url.to_string())
}

/// A federated client's binding: an issuer that is registered and a subject, with
/// claims; only for that method.
fn federation(
    fields: &ClientFields,
    method: AuthMethod,
    known_issuer: &mut dyn FnMut(&str) -> Result<bool, AdminError>,
) -> Result<Option<(String, String, String)>, AdminError> {
    let federated = method == AuthMethod::Federated;
    let bound = fields.issuer.is_some() || fields.subject.is_some() || !fields.claims.is_empty();
    if !federated {
        if bound {
            let field = if fields.issuer.is_some() {
                "issuer"
            } else if fields.subject.is_some() {
                "subject"
            } else {
                "claims"
            };
            return invalid(
                field,
                format!(
                    "an issuer, subject and claims are for federated clients, not {} ones",
                    method.as_str()
                ),
            );
        }
        return Ok(None);
    }
    let issuer = match fields.issuer.as_deref() {
        Some(i) if !i.is_empty() => i,
        _ if bound => return invalid("issuer", "a subject and claims need an issuer"),
        _ => return invalid("issuer", "a federated client needs an issuer and a subject"),
    };
    let Some(subject) = fields.subject.as_deref() else {
        return invalid("subject", "a federated client needs a subject");
    };
    federation::check_subject(subject).map_err(|m| AdminError::field("subject", m))?;
    federation::check_claims(&fields.claims).map_err(|m| AdminError::field("claims", m))?;
    if !known_issuer(issuer)? {
        return invalid(
            "issuer",
            format!(
                "no trusted issuer named {:?} (tessera issuer list)",
                shown(issuer)
            ),
        );
    }
    let claims: serde_json::Map<String, serde_json::Value> = fields
        .claims
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    let claims = serde_json::Value::Object(claims).to_string();
    Ok(Some((issuer.to_string(), subject.to_string(), claims)))
}

fn check_ttl(
    field: &'static str,
    v: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<(), AdminError> {
    match v {
        Some(v) if !range.contains(&v) => invalid(
            field,
            format!("must be {} to {} seconds", range.start(), range.end()),
        ),
        _ => Ok(()),
    }
}

/// An operator-provided secret, checked (at least [`MIN_PROVIDED_SECRET`] characters,
/// no control characters) and hashed.
pub fn provided_secret(secret: &SecretString) -> Result<String, AdminError> {
    let s = secret.expose_secret();
    if s.chars().count() < MIN_PROVIDED_SECRET || s.chars().any(char::is_control) {
        return invalid(
            "secret",
            format!(
                "a provided secret must be at least {MIN_PROVIDED_SECRET} characters, \
                 without control characters"
            ),
        );
    }
    Ok(hash_secret(s))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged(fields: &ClientFields, stored: Option<&Client>) -> Result<ValidClient, AdminError> {
        let ctx = Context {
            stored,
            policy: Policy::default(),
        };
        validate(fields, ctx, &mut |name| Ok(name == "ci"))
    }

    /// The field an invalid `fields` is refused for.
    fn refused(fields: &ClientFields, stored: Option<&Client>) -> &'static str {
        match judged(fields, stored) {
            Err(AdminError::InvalidField { field, message }) => {
                assert!(!message.contains("--"), "{field}: {message}");
                field
            }
            other => panic!("{other:?}"),
        }
    }

    fn named(name: &str) -> ClientFields {
        ClientFields {
            name: name.into(),
            ..ClientFields::default()
        }
    }

    fn federated(issuer: Option<&str>, subject: Option<&str>) -> ClientFields {
        ClientFields {
            auth_method: Some("federated".into()),
            issuer: issuer.map(Into::into),
            subject: subject.map(Into::into),
            ..named("w")
        }
    }

    #[test]
    fn a_new_client_gets_the_default_method_and_grant() {
        let v = judged(&named("svc"), None).expect("valid");
        assert_eq!(v.auth_method, AuthMethod::DEFAULT);
        assert_eq!(v.grant_types, GrantType::DEFAULT.as_str());
        assert!(v.client_id.is_none() && v.secret_hash.is_none());
    }

    #[test]
    fn pairing_rules_name_the_field_without_a_front_ends_spelling() {
        let keyed = |jwks: Option<&str>, uri: Option<&str>| ClientFields {
            auth_method: Some("private_key_jwt".into()),
            jwks: jwks.map(Into::into),
            jwks_uri: uri.map(Into::into),
            ..named("k")
        };
        let set = r#"{"keys":[]}"#;
        assert_eq!(
            refused(&keyed(Some(set), Some("https://k.example")), None),
            "jwks_uri"
        );
        assert_eq!(refused(&keyed(None, None), None), "jwks");
        let secret_with_keys = ClientFields {
            jwks_uri: Some("https://k.example/jwks".into()),
            ..named("s")
        };
        assert_eq!(refused(&secret_with_keys, None), "jwks_uri");

        assert_eq!(refused(&federated(None, None), None), "issuer");
        assert_eq!(refused(&federated(None, Some("s")), None), "issuer");
        assert_eq!(refused(&federated(Some("ci"), None), None), "subject");
        assert_eq!(refused(&federated(Some("ci"), Some("*")), None), "subject");
        assert_eq!(refused(&federated(Some("nope"), Some("s")), None), "issuer");
        assert!(judged(&federated(Some("ci"), Some("repo:acme/*")), None).is_ok());
        let secret_with_binding = ClientFields {
            issuer: Some("ci".into()),
            subject: Some("s".into()),
            ..named("s")
        };
        assert_eq!(refused(&secret_with_binding, None), "issuer");
    }

    #[test]
    fn a_keyed_or_federated_client_never_has_a_secret_and_a_provided_one_is_long() {
        let secret = |s: &str| Some(SecretString::from(s.to_string()));
        let federated_with_secret = ClientFields {
            secret: secret(&"x".repeat(40)),
            ..federated(Some("ci"), Some("s"))
        };
        assert_eq!(refused(&federated_with_secret, None), "secret");
        let short = ClientFields {
            secret: secret("short"),
            ..named("s")
        };
        assert_eq!(refused(&short, None), "secret");
        let long = ClientFields {
            secret: secret(&"x".repeat(MIN_PROVIDED_SECRET)),
            ..named("s")
        };
        assert!(judged(&long, None).expect("valid").secret_hash.is_some());
    }

    #[test]
    fn grants_ids_lifetimes_lists_and_the_admin_scope_are_checked() {
        let grants = |g: &[&str]| ClientFields {
            grant_types: Some(g.iter().map(|s| s.to_string()).collect()),
            ..named("g")
        };
        assert_eq!(refused(&grants(&["implicit"]), None), "grant_types");
        assert_eq!(refused(&grants(&[]), None), "grant_types");
        let every: Vec<&str> = GrantType::ALL.iter().map(|g| g.name()).collect();
        assert!(judged(&grants(&every), None).is_ok());
        let id = ClientFields {
            client_id: Some("a b".into()),
            ..named("i")
        };
        assert_eq!(refused(&id, None), "client_id");
        let ttl = ClientFields {
            refresh_reuse_grace: Some(301),
            ..named("t")
        };
        assert_eq!(refused(&ttl, None), "refresh_reuse_grace");
        let many = ClientFields {
            audiences: (0..=MAX_URIS).map(|i| format!("urn:{i}")).collect(),
            ..named("a")
        };
        assert_eq!(refused(&many, None), "audiences");
        let admin = ClientFields {
            scope: ADMIN_SCOPE.into(),
            ..named("a")
        };
        assert_eq!(refused(&admin, None), "scope");
        let by_cli = Context {
            stored: None,
            policy: Policy {
                may_grant_admin: true,
                ..Policy::default()
            },
        };
        assert!(validate(&admin, by_cli, &mut |_| Ok(false)).is_ok());
    }

    #[test]
    fn on_update_the_method_and_the_id_cannot_change() {
        let v = judged(&named("svc"), None).expect("valid");
        let stored = Client {
            client_id: "svc".into(),
            name: v.name,
            secret_hash: None,
            auth_method: v.auth_method.as_str().into(),
            scope: v.scope,
            grant_types: v.grant_types,
            audiences: v.audiences,
            access_token_ttl: None,
            refresh_token_ttl: None,
            refresh_reuse_grace: None,
            disabled: false,
            created_at: 0,
            updated_at: 0,
            require_dpop: false,
            jwks: None,
            jwks_uri: None,
            previous_secret_hash: None,
            previous_secret_expires_at: None,
            federated_issuer: None,
            federated_subject: None,
            federated_claims: None,
            managed_by: None,
            resource_uris: v.resource_uris,
            secret_created_at: None,
        };
        let same = ClientFields::of_stored(&stored);
        assert!(judged(&same, Some(&stored)).is_ok());
        let other_method = ClientFields {
            auth_method: Some("client_secret_post".into()),
            ..same.clone()
        };
        assert_eq!(refused(&other_method, Some(&stored)), "auth_method");
        let other_id = ClientFields {
            client_id: Some("other".into()),
            ..same
        };
        assert_eq!(refused(&other_id, Some(&stored)), "client_id");
    }
}
