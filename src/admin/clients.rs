//! Registering and managing clients.

use super::AdminError;
use crate::db::audit;
use crate::db::models::{Client, ClientChanges, TrustedIssuer};
use crate::db::DbConnection;
use crate::oauth::client::{validate_audience, validate_resource_uri};
use crate::oauth::client_keys::{ClientKeySet, Strictness};
use crate::oauth::federation;
use crate::oauth::secret::{generate_client_secret, hash_secret};
use crate::oauth::token::{ACCESS_TOKEN_TTL, REFRESH_REUSE_GRACE, REFRESH_TOKEN_TTL};
use crate::oauth::{AuthMethod, GrantType, Scope};
use crate::outbound::FetchPolicy;
use serde::Serialize;

/// What an administrator asks for when registering a client.
#[derive(Debug, Clone)]
pub struct ClientSpec {
    /// Human name, 1 to 200 characters.
    pub name: String,
    /// Space-separated scope.
    pub scope: String,
    /// Grant type names.
    pub grant_types: Vec<String>,
    /// Audiences the client may get tokens for (the services it calls).
    pub audiences: Vec<String>,
    /// The client's own API as tokens name it in `aud` (token exchange: a token meant
    /// for this client).
    pub resource_uris: Vec<String>,
    /// RFC 7591 `token_endpoint_auth_method`; `None`: `client_secret_basic` for a new
    /// client, unchanged for an update (the method cannot change).
    pub auth_method: Option<String>,
    /// `private_key_jwt`: where the client's public keys are.
    pub keys: Option<KeySource>,
    /// Which `jwks_uri`s are accepted (`jwks_uri_allow_http`, `jwks_uri_allow_private`).
    pub jwks_uri_policy: FetchPolicy,
    /// Per-client access-token lifetime, seconds.
    pub access_token_ttl: Option<i64>,
    /// Per-client refresh-token family lifetime, seconds.
    pub refresh_token_ttl: Option<i64>,
    /// Per-client refresh reuse grace, seconds.
    pub refresh_reuse_grace: Option<i64>,
    /// Tokens only with a DPoP proof (RFC 9449 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    /// `federated`: whose outside tokens are the client's credential.
    pub federation: Option<FederationSpec>,
    /// An id chosen by the operator (`[A-Za-z0-9._-]`, 1 to 64); generated otherwise.
    pub client_id: Option<String>,
    /// A secret the operator provides (at least 32 characters), stored hashed like a
    /// generated one and never printed; generated (and shown once) otherwise.
    pub secret: Option<secrecy::SecretString>,
}

/// The shortest secret an operator may provide.
pub const MIN_PROVIDED_SECRET: usize = 32;

/// Checks an operator-chosen client id: 1 to 64 characters of `[A-Za-z0-9._-]`.
pub fn check_client_id(id: &str) -> Result<(), AdminError> {
    let ok = (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(AdminError::Invalid(format!(
            "client id {:?}: 1 to 64 characters of A-Z a-z 0-9 . _ -",
            id.chars().take(80).collect::<String>()
        )))
    }
}

/// A federated client's binding, as an administrator gives it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FederationSpec {
    /// A trusted issuer's name.
    pub issuer: String,
    /// The token's `sub`: exact, or a prefix ending in `*`.
    pub subject: String,
    /// Claims the token must carry with these values.
    pub claims: Vec<(String, String)>,
}

impl Default for ClientSpec {
    fn default() -> Self {
        ClientSpec {
            name: String::new(),
            scope: String::new(),
            grant_types: vec![GrantType::ClientCredentials.as_str().into()],
            audiences: Vec::new(),
            resource_uris: Vec::new(),
            auth_method: None,
            keys: None,
            jwks_uri_policy: FetchPolicy::default(),
            access_token_ttl: None,
            refresh_token_ttl: None,
            refresh_reuse_grace: None,
            require_dpop: false,
            federation: None,
            client_id: None,
            secret: None,
        }
    }
}

/// A validated spec, in stored form.
struct ValidSpec {
    scope: Scope,
    grant_types: Vec<GrantType>,
    audiences: Vec<String>,
    resource_uris: Vec<String>,
    auth_method: Option<AuthMethod>,
    jwks: Option<String>,
    jwks_uri: Option<String>,
    /// Issuer name, subject, claims as a JSON object.
    federation: Option<(String, String, String)>,
}

/// Where a `private_key_jwt` client's public keys are, as an administrator gives them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// A JWK Set (RFC 7517 §5), as JSON text.
    Jwks(String),
    /// An `https` URL where the client publishes its JWK Set.
    JwksUri(String),
}

impl KeySource {
    /// The stored form: (`jwks`, `jwks_uri`), one of them set.
    fn validate(
        &self,
        policy: FetchPolicy,
    ) -> Result<(Option<String>, Option<String>), AdminError> {
        match self {
            KeySource::Jwks(json) => {
                let invalid = |m: String| AdminError::field("jwks", m);
                ClientKeySet::parse(json.as_bytes(), Strictness::Registration)
                    .map_err(|e| invalid(format!("jwks: {e}")))?;
                let value: serde_json::Value = serde_json::from_str(json)
                    .map_err(|_| invalid("jwks: not valid JSON".into()))?;
                Ok((Some(value.to_string()), None))
            }
            KeySource::JwksUri(uri) => {
                let invalid = |m: String| AdminError::field("jwks_uri", m);
                let shown = || crate::telemetry::redact::url(uri);
                let url = url::Url::parse(uri).map_err(|_| {
                    invalid(format!("jwks_uri {:?} is not an absolute URL", shown()))
                })?;
                policy
                    .check_url(&url)
                    .map_err(|why| invalid(format!("jwks_uri {why}")))?;
                if crate::telemetry::redact::holds_secret(uri) {
                    return Err(invalid(format!(
                        "jwks_uri {:?} must not carry a password or secret query \
                         parameter: it would be printed wherever the URL is",
                        shown()
                    )));
                }
                if url.host_str().is_none_or(str::is_empty)
                    || !url.username().is_empty()
                    || url.password().is_some()
                    || url.fragment().is_some()
                    || uri.len() > 2048
                {
                    return Err(invalid(
                        "jwks_uri must be a URL with a host, without credentials or fragment, \
                         of at most 2048 characters"
                            .into(),
                    ));
                }
                Ok((None, Some(url.to_string())))
            }
        }
    }
}

impl ClientSpec {
    fn validate(&self) -> Result<ValidSpec, AdminError> {
        let invalid = |field, m: String| Err(AdminError::field(field, m));
        let name_len = self.name.chars().count();
        if self.name.trim().is_empty() || name_len > 200 || self.name.chars().any(char::is_control)
        {
            return invalid("name", "name must be 1 to 200 printable characters".into());
        }
        let scope = Scope::parse(&self.scope).map_err(|m| AdminError::field("scope", m))?;
        if scope.iter().count() > 100 {
            return invalid("scope", "at most 100 scope tokens".into());
        }
        let mut grant_types = Vec::new();
        for g in &self.grant_types {
            let g = g.trim();
            let grant = GrantType::from_name(g).ok_or_else(|| {
                let shown: String = g.chars().take(80).collect();
                AdminError::field(
                    "grant_types",
                    format!(
                        "unknown grant type {shown:?} (supported: {})",
                        grant_type_names()
                    ),
                )
            })?;
            if !grant_types.contains(&grant) {
                grant_types.push(grant);
            }
        }
        if grant_types.is_empty() {
            return invalid("grant_types", "at least one grant type is required".into());
        }
        grant_types.sort();
        let audiences = uri_list("audiences", "audiences", &self.audiences, validate_audience)?;
        let resource_uris = uri_list(
            "resource_uris",
            "resource URIs",
            &self.resource_uris,
            validate_resource_uri,
        )?;
        let auth_method = match &self.auth_method {
            None => None,
            Some(m) => Some(AuthMethod::parse(m).ok_or_else(|| {
                let shown: String = m.chars().take(80).collect();
                AdminError::field(
                    "auth_method",
                    format!(
                        "unknown token endpoint auth method {shown:?} (supported: {})",
                        auth_method_names()
                    ),
                )
            })?),
        };
        let (jwks, jwks_uri) = match (&self.keys, auth_method) {
            (Some(k), Some(AuthMethod::PrivateKeyJwt) | None) => {
                k.validate(self.jwks_uri_policy)?
            }
            (None, Some(AuthMethod::PrivateKeyJwt)) => {
                return invalid(
                    "jwks",
                    "a private_key_jwt client needs jwks or jwks_uri".into(),
                )
            }
            (Some(_), Some(_)) => {
                return invalid(
                    "jwks",
                    "jwks and jwks_uri are for private_key_jwt clients only".into(),
                )
            }
            (None, _) => (None, None),
        };
        let federation = match (&self.federation, auth_method) {
            (Some(f), Some(AuthMethod::Federated) | None) => {
                federation::check_subject(&f.subject)
                    .map_err(|m| AdminError::field("subject", m))?;
                federation::check_claims(&f.claims).map_err(|m| AdminError::field("claims", m))?;
                if f.issuer.is_empty() {
                    return invalid("issuer", "a federated client needs --issuer".into());
                }
                let claims: serde_json::Map<String, serde_json::Value> = f
                    .claims
                    .iter()
                    .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                    .collect();
                let claims = serde_json::Value::Object(claims).to_string();
                Some((f.issuer.clone(), f.subject.clone(), claims))
            }
            (None, Some(AuthMethod::Federated)) => {
                return invalid(
                    "issuer",
                    "a federated client needs --issuer and --subject".into(),
                )
            }
            (Some(_), Some(_)) => {
                return invalid(
                    "issuer",
                    "--issuer, --subject and --claim are for federated clients".into(),
                )
            }
            (None, _) => None,
        };
        check_ttl("access_token_ttl", self.access_token_ttl, ACCESS_TOKEN_TTL)?;
        check_ttl(
            "refresh_token_ttl",
            self.refresh_token_ttl,
            REFRESH_TOKEN_TTL,
        )?;
        check_ttl(
            "refresh_reuse_grace",
            self.refresh_reuse_grace,
            REFRESH_REUSE_GRACE,
        )?;
        Ok(ValidSpec {
            scope,
            grant_types,
            audiences,
            resource_uris,
            auth_method,
            jwks,
            jwks_uri,
            federation,
        })
    }
}

/// The most audiences, and the most resource URIs, a client has.
pub const MAX_URIS: usize = 50;

/// A list of audiences or resource URIs (`field`, called `plural` in messages): at most
/// [`MAX_URIS`], each valid, duplicates dropped, order kept.
fn uri_list(
    field: &'static str,
    plural: &str,
    items: &[String],
    valid: fn(&str) -> Result<(), String>,
) -> Result<Vec<String>, AdminError> {
    if items.len() > MAX_URIS {
        return Err(AdminError::field(
            field,
            format!("at most {MAX_URIS} {plural}"),
        ));
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

/// The grant types as administrators write them, from [`GrantType::ALL`]: for help
/// texts and messages.
pub fn grant_type_names() -> String {
    GrantType::ALL.map(GrantType::name).join(", ")
}

/// The token endpoint auth methods, from [`AuthMethod::ALL`]: for help texts and
/// messages.
pub fn auth_method_names() -> String {
    AuthMethod::ALL.map(AuthMethod::as_str).join(", ")
}

/// Refuses a binding to an issuer that is not registered.
fn issuer_exists(
    conn: &mut DbConnection,
    f: &Option<(String, String, String)>,
) -> Result<(), AdminError> {
    match f {
        Some((name, _, _)) if TrustedIssuer::find(conn, name)?.is_none() => Err(AdminError::field(
            "issuer",
            format!("no trusted issuer named {name:?} (tessera issuer list)"),
        )),
        _ => Ok(()),
    }
}

fn check_ttl(
    key: &'static str,
    v: Option<i64>,
    range: std::ops::RangeInclusive<i64>,
) -> Result<(), AdminError> {
    match v {
        Some(v) if !range.contains(&v) => Err(AdminError::field(
            key,
            format!("{key} must be {} to {} seconds", range.start(), range.end()),
        )),
        _ => Ok(()),
    }
}

/// A client as shown to administrators (never with its secret hash).
#[derive(Debug, Clone, Serialize)]
pub struct ClientView {
    /// Public identifier.
    pub client_id: String,
    /// Human name.
    pub name: String,
    /// Space-separated scope.
    pub scope: String,
    /// Allowed grant types.
    pub grant_types: Vec<String>,
    /// Allowed audiences: the services the client calls.
    pub audiences: Vec<String>,
    /// The client's own API as tokens name it in `aud`.
    pub resource_uris: Vec<String>,
    /// How the client authenticates.
    pub token_endpoint_auth_method: String,
    /// Per-client access-token lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl: Option<i64>,
    /// Per-client refresh-token lifetime.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token_ttl: Option<i64>,
    /// Per-client refresh reuse grace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_reuse_grace: Option<i64>,
    /// Whether the client is disabled.
    pub disabled: bool,
    /// Whether tokens need a DPoP proof.
    pub require_dpop: bool,
    /// `private_key_jwt`: the client's public keys, inline.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks: Option<serde_json::Value>,
    /// `private_key_jwt`: where the client publishes its public keys.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// `federated`: the trusted issuer whose tokens authenticate the client.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federated_issuer: Option<String>,
    /// `federated`: the subject (exact, or a prefix ending in `*`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federated_subject: Option<String>,
    /// `federated`: claims the token must carry.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub federated_claims: Option<serde_json::Value>,
    /// While the secret before the current one still works (`rotate-secret
    /// --keep-old`): when it stops, Unix seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous_secret_expires_at: Option<i64>,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl ClientView {
    /// The view as audit-log details (it holds no secret).
    fn details(&self) -> serde_json::Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

/// A stored space-separated list (grant types, audiences, resource URIs) as a list.
fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

impl From<&Client> for ClientView {
    fn from(c: &Client) -> Self {
        ClientView {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            scope: c.scope.clone(),
            grant_types: words(&c.grant_types),
            audiences: words(&c.audiences),
            resource_uris: words(&c.resource_uris),
            token_endpoint_auth_method: c.auth_method.clone(),
            access_token_ttl: c.access_token_ttl,
            refresh_token_ttl: c.refresh_token_ttl,
            refresh_reuse_grace: c.refresh_reuse_grace,
            disabled: c.disabled,
            require_dpop: c.require_dpop,
            jwks: c.jwks.as_deref().and_then(|j| serde_json::from_str(j).ok()),
            jwks_uri: c.jwks_uri.clone(),
            federated_issuer: c.federated_issuer.clone(),
            federated_subject: c.federated_subject.clone(),
            federated_claims: c
                .federated_claims
                .as_deref()
                .and_then(|j| serde_json::from_str(j).ok()),
            previous_secret_expires_at: c
                .previous_secret_expires_at
                .filter(|t| *t > chrono::Utc::now().timestamp()),
            created_at: c.created_at,
            updated_at: c.updated_at,
        }
    }
}

/// A newly created client, with its secret (for secret-based methods): shown once,
/// never stored.
#[derive(Debug, Clone, Serialize)]
pub struct CreatedClient {
    /// The client.
    #[serde(flatten)]
    pub client: ClientView,
    /// The secret in plain text; `None` for `private_key_jwt`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
}

fn join<T: AsRef<str>>(items: &[T]) -> String {
    items
        .iter()
        .map(AsRef::as_ref)
        .collect::<Vec<_>>()
        .join(" ")
}

/// Registers a client and returns it with its secret.
pub fn create(
    conn: &mut DbConnection,
    actor: &str,
    spec: &ClientSpec,
    now: i64,
) -> Result<CreatedClient, AdminError> {
    let v = spec.validate()?;
    let method = v.auth_method.unwrap_or(AuthMethod::ClientSecretBasic);
    if v.federation.is_some() && method != AuthMethod::Federated {
        // Without a method a new client would be a secret one: never with a binding.
        return Err(AdminError::field(
            "issuer",
            format!(
                "--issuer, --subject and --claim are for federated clients, not {} ones",
                method.as_str()
            ),
        ));
    }
    if method.uses_secret() && (v.jwks.is_some() || v.jwks_uri.is_some()) {
        return Err(AdminError::Invalid(
            "jwks and jwks_uri are for private_key_jwt clients only".into(),
        ));
    }
    issuer_exists(conn, &v.federation)?;
    let client_id = match &spec.client_id {
        Some(id) => {
            check_client_id(id)?;
            if Client::find(conn, id)?.is_some() {
                return Err(AdminError::field(
                    "client_id",
                    format!("client id {id:?} is taken"),
                ));
            }
            id.clone()
        }
        None => uuid::Uuid::new_v4().to_string(),
    };
    let provided = match &spec.secret {
        Some(_) if !method.uses_secret() => {
            return Err(AdminError::Invalid(format!(
                "a {} client has no secret",
                method.as_str()
            )))
        }
        Some(s) => Some(check_provided_secret(s)?),
        None => None,
    };
    let secret = (method.uses_secret() && provided.is_none()).then(generate_client_secret);
    let secret_hash = provided.or_else(|| secret.as_deref().map(hash_secret));
    let grant_names: Vec<&str> = v.grant_types.iter().map(|g| g.as_str()).collect();
    let (federated_issuer, federated_subject, federated_claims) = match v.federation {
        Some((i, s, c)) => (Some(i), Some(s), Some(c)),
        None => (None, None, None),
    };
    let new = Client {
        client_id,
        name: spec.name.trim().to_string(),
        secret_hash,
        auth_method: method.as_str().to_string(),
        scope: v.scope.to_string(),
        grant_types: join(&grant_names),
        audiences: join(&v.audiences),
        resource_uris: join(&v.resource_uris),
        access_token_ttl: spec.access_token_ttl,
        refresh_token_ttl: spec.refresh_token_ttl,
        refresh_reuse_grace: spec.refresh_reuse_grace,
        disabled: false,
        created_at: now,
        updated_at: now,
        require_dpop: spec.require_dpop,
        jwks: v.jwks,
        jwks_uri: v.jwks_uri,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
        federated_issuer,
        federated_subject,
        federated_claims,
        managed_by: (actor == APPLY).then(|| APPLY.to_string()),
    };
    Client::insert(conn, &new)?;
    let stored = Client::find(conn, &new.client_id)?
        .ok_or_else(|| AdminError::NotFound(new.client_id.clone()))?;
    let view = ClientView::from(&stored);
    audit::record(
        conn,
        actor,
        "client.create",
        &view.client_id,
        view.details(),
        now,
    )?;
    Ok(CreatedClient {
        client: view,
        client_secret: secret,
    })
}

/// Replaces a client's metadata (RFC 7592 PUT semantics: the spec is the whole client).
pub fn update(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    spec: &ClientSpec,
    now: i64,
) -> Result<ClientView, AdminError> {
    let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
    let method = AuthMethod::parse(&stored.auth_method);
    // Asked first: a new method's own requirements (keys, a binding) are beside the point.
    let asked = spec.auth_method.as_deref().and_then(AuthMethod::parse);
    if asked.is_some_and(|m| Some(m) != method) {
        return Err(AdminError::field(
            "auth_method",
            format!(
                "client {id} authenticates with {}; a client's auth method cannot change: \
                 delete the client and create it again with the new method",
                stored.auth_method
            ),
        ));
    }
    let v = spec.validate()?;
    let is_key_client = method == Some(AuthMethod::PrivateKeyJwt);
    if v.jwks.is_some() || v.jwks_uri.is_some() {
        if !is_key_client {
            return Err(AdminError::Invalid(
                "jwks and jwks_uri are for private_key_jwt clients only".into(),
            ));
        }
    } else if is_key_client {
        return Err(AdminError::Invalid(
            "a private_key_jwt client needs jwks or jwks_uri".into(),
        ));
    }
    let is_federated = method == Some(AuthMethod::Federated);
    if is_federated != v.federation.is_some() {
        return Err(AdminError::Invalid(if is_federated {
            "a federated client needs federated_issuer and federated_subject".into()
        } else {
            "federated_issuer, federated_subject and federated_claims are for federated clients"
                .into()
        }));
    }
    issuer_exists(conn, &v.federation)?;
    let grant_names: Vec<&str> = v.grant_types.iter().map(|g| g.as_str()).collect();
    let (federated_issuer, federated_subject, federated_claims) = match v.federation {
        Some((i, s, c)) => (Some(Some(i)), Some(Some(s)), Some(Some(c))),
        None => (None, None, None),
    };
    let changes = ClientChanges {
        federated_issuer,
        federated_subject,
        federated_claims,
        name: Some(spec.name.trim().to_string()),
        scope: Some(v.scope.to_string()),
        grant_types: Some(join(&grant_names)),
        audiences: Some(join(&v.audiences)),
        resource_uris: Some(join(&v.resource_uris)),
        access_token_ttl: Some(spec.access_token_ttl),
        refresh_token_ttl: Some(spec.refresh_token_ttl),
        refresh_reuse_grace: Some(spec.refresh_reuse_grace),
        require_dpop: Some(spec.require_dpop),
        jwks: is_key_client.then_some(v.jwks),
        jwks_uri: is_key_client.then_some(v.jwks_uri),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    let view = show(conn, id)?;
    audit::record(conn, actor, "client.update", id, view.details(), now)?;
    Ok(view)
}

/// Some attributes of a client to change (`tessera client update`); `None` keeps one
/// as it is. A list given replaces the whole list (an empty one empties it); a lifetime
/// of `Some(None)` goes back to the server's default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientPatch {
    /// New name.
    pub name: Option<String>,
    /// New space-separated scope.
    pub scope: Option<String>,
    /// New grant type names.
    pub grant_types: Option<Vec<String>>,
    /// New audiences.
    pub audiences: Option<Vec<String>>,
    /// New resource URIs.
    pub resource_uris: Option<Vec<String>>,
    /// New access-token lifetime (`Some(None)`: the server's default).
    pub access_token_ttl: Option<Option<i64>>,
    /// New refresh-token family lifetime (`Some(None)`: the server's default).
    pub refresh_token_ttl: Option<Option<i64>>,
    /// New refresh reuse grace (`Some(None)`: the server's default).
    pub refresh_reuse_grace: Option<Option<i64>>,
    /// Whether tokens need a DPoP proof.
    pub require_dpop: Option<bool>,
    /// The auth method, which cannot change: accepted only when it is the client's.
    pub auth_method: Option<String>,
}

impl ClientPatch {
    /// Whether it changes nothing.
    pub fn is_empty(&self) -> bool {
        *self == ClientPatch::default()
    }

    /// `spec` with the attributes this patch names replaced.
    fn over(self, spec: ClientSpec) -> ClientSpec {
        ClientSpec {
            name: self.name.unwrap_or(spec.name),
            scope: self.scope.unwrap_or(spec.scope),
            grant_types: self.grant_types.unwrap_or(spec.grant_types),
            audiences: self.audiences.unwrap_or(spec.audiences),
            resource_uris: self.resource_uris.unwrap_or(spec.resource_uris),
            access_token_ttl: self.access_token_ttl.unwrap_or(spec.access_token_ttl),
            refresh_token_ttl: self.refresh_token_ttl.unwrap_or(spec.refresh_token_ttl),
            refresh_reuse_grace: self.refresh_reuse_grace.unwrap_or(spec.refresh_reuse_grace),
            require_dpop: self.require_dpop.unwrap_or(spec.require_dpop),
            auth_method: self.auth_method,
            ..spec
        }
    }
}

impl ClientSpec {
    /// The spec of a stored client, as [`update`] would be given it to change nothing.
    fn of_stored(c: &Client, jwks_uri_policy: FetchPolicy) -> ClientSpec {
        let keys = match (&c.jwks_uri, &c.jwks) {
            (Some(uri), _) => Some(KeySource::JwksUri(uri.clone())),
            (None, Some(jwks)) => Some(KeySource::Jwks(jwks.clone())),
            (None, None) => None,
        };
        let federation = match (&c.federated_issuer, &c.federated_subject) {
            (Some(issuer), Some(subject)) => Some(FederationSpec {
                issuer: issuer.clone(),
                subject: subject.clone(),
                claims: federation::Binding::parse_claims(c.federated_claims.as_deref()),
            }),
            _ => None,
        };
        ClientSpec {
            name: c.name.clone(),
            scope: c.scope.clone(),
            grant_types: words(&c.grant_types),
            audiences: words(&c.audiences),
            resource_uris: words(&c.resource_uris),
            auth_method: None,
            keys,
            jwks_uri_policy,
            access_token_ttl: c.access_token_ttl,
            refresh_token_ttl: c.refresh_token_ttl,
            refresh_reuse_grace: c.refresh_reuse_grace,
            require_dpop: c.require_dpop,
            federation,
            client_id: None,
            secret: None,
        }
    }
}

/// Changes the attributes `patch` names and keeps the others: the stored client with
/// the patch laid over it goes through [`update`], so the rules and the audit record
/// are RFC 7592's and `apply`'s. The secret, keys and federated binding stay as they
/// are (`rotate-secret`, `set-keys`); the auth method cannot change. One unit: read,
/// check, write, audit; the audit line is logged once it commits.
pub fn patch(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    patch: &ClientPatch,
    jwks_uri_policy: FetchPolicy,
    now: i64,
) -> Result<ClientView, AdminError> {
    audit::transaction(conn, |conn| {
        let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
        let spec = patch
            .clone()
            .over(ClientSpec::of_stored(&stored, jwks_uri_policy));
        update(conn, actor, id, &spec, now)
    })
}

/// The audit log's (and `managed_by`'s) name for changes made by `tessera apply`.
pub const APPLY: &str = "apply";

/// Hashes an operator-provided secret after checking its length.
pub fn check_provided_secret(secret: &secrecy::SecretString) -> Result<String, AdminError> {
    use secrecy::ExposeSecret;
    let s = secret.expose_secret();
    if s.chars().count() < MIN_PROVIDED_SECRET || s.chars().any(char::is_control) {
        return Err(AdminError::Invalid(format!(
            "a provided secret must be at least {MIN_PROVIDED_SECRET} characters, without control characters"
        )));
    }
    Ok(hash_secret(s))
}

/// Sets an operator-provided secret hash (`apply`), the old secret stops at once.
pub fn set_secret_hash(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    hash: String,
    now: i64,
) -> Result<(), AdminError> {
    let changes = ClientChanges {
        secret_hash: Some(Some(hash)),
        previous_secret_hash: Some(None),
        previous_secret_expires_at: Some(None),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    let details = serde_json::json!({ "provided": true });
    audit::record(conn, actor, "client.rotate_secret", id, details, now)?;
    Ok(())
}

fn not_found(id: &str) -> AdminError {
    AdminError::NotFound(format!("client {id}"))
}

/// One client.
pub fn show(conn: &mut DbConnection, id: &str) -> Result<ClientView, AdminError> {
    Client::find(conn, id)?
        .map(|c| ClientView::from(&c))
        .ok_or_else(|| not_found(id))
}

/// Every client.
pub fn list(conn: &mut DbConnection) -> Result<Vec<ClientView>, AdminError> {
    Ok(Client::list(conn)?.iter().map(ClientView::from).collect())
}

/// Enables or disables a client.
pub fn set_disabled(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    disabled: bool,
    now: i64,
) -> Result<ClientView, AdminError> {
    let changes = ClientChanges {
        disabled: Some(disabled),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    if disabled {
        // Its users' sessions end with it; enabling it again does not revive them.
        use crate::db::models::refresh_token::{revoke, Families};
        revoke(conn, Families::OfClient(id), now)?;
    }
    let action = if disabled {
        "client.disable"
    } else {
        "client.enable"
    };
    audit::record(conn, actor, action, id, serde_json::json!({}), now)?;
    show(conn, id)
}

/// The longest overlap `rotate-secret --keep-old` allows, seconds (a week).
pub const MAX_KEEP_OLD_SECS: i64 = 604_800;

/// Issues a new secret. The old one stops working at once, or keeps working for
/// `keep_old` seconds (at most a week) so that every instance of the client can move
/// to the new one without a failed request; rotating again within that window ends
/// the older secret at once.
pub fn rotate_secret(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    keep_old: i64,
    now: i64,
) -> Result<CreatedClient, AdminError> {
    if !(0..=MAX_KEEP_OLD_SECS).contains(&keep_old) {
        return Err(AdminError::Invalid(format!(
            "--keep-old must be 0 to {MAX_KEEP_OLD_SECS} seconds"
        )));
    }
    // Locked: the previous secret kept is the one stored when the new one is written.
    let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
    match AuthMethod::parse(&stored.auth_method) {
        Some(AuthMethod::PrivateKeyJwt) => {
            return Err(AdminError::Invalid(format!(
                "client {id} authenticates with private_key_jwt and has no secret; \
                 change its keys instead"
            )))
        }
        Some(AuthMethod::Federated) => {
            return Err(AdminError::Invalid(format!(
                "client {id} is federated (its platform's tokens are its credential) and \
                 has no secret to rotate"
            )))
        }
        _ => {}
    }
    let secret = generate_client_secret();
    let overlap = keep_old > 0 && stored.secret_hash.is_some();
    let old_expires_at = overlap.then_some(now.saturating_add(keep_old));
    let changes = ClientChanges {
        secret_hash: Some(Some(hash_secret(&secret))),
        previous_secret_hash: Some(stored.secret_hash.clone().filter(|_| overlap)),
        previous_secret_expires_at: Some(old_expires_at),
        ..Default::default()
    };
    if !Client::update(conn, id, changes, now)? {
        return Err(not_found(id));
    }
    let details = serde_json::json!({
        "keep_old_secs": keep_old,
        "previous_secret_expires_at": old_expires_at,
    });
    audit::record(conn, actor, "client.rotate_secret", id, details, now)?;
    Ok(CreatedClient {
        client: show(conn, id)?,
        client_secret: Some(secret),
    })
}

/// Replaces a `private_key_jwt` client's public keys (the client rotated its keys).
pub fn set_keys(
    conn: &mut DbConnection,
    actor: &str,
    id: &str,
    keys: &KeySource,
    jwks_uri_policy: FetchPolicy,
    now: i64,
) -> Result<ClientView, AdminError> {
    let stored = Client::find_for_update(conn, id)?.ok_or_else(|| not_found(id))?;
    if stored.auth_method != AuthMethod::PrivateKeyJwt.as_str() {
        return Err(AdminError::Invalid(format!(
            "client {id} authenticates with {}, not private_key_jwt",
            stored.auth_method
        )));
    }
    let (jwks, jwks_uri) = keys.validate(jwks_uri_policy)?;
    let changes = ClientChanges {
        jwks: Some(jwks),
        jwks_uri: Some(jwks_uri),
        ..Default::default()
    };
    Client::update(conn, id, changes, now)?;
    let view = show(conn, id)?;
    audit::record(conn, actor, "client.set_keys", id, view.details(), now)?;
    Ok(view)
}

/// Deletes a client (its refresh-token families go with it).
pub fn delete(conn: &mut DbConnection, actor: &str, id: &str, now: i64) -> Result<(), AdminError> {
    if Client::delete(conn, id)? {
        audit::record(conn, actor, "client.delete", id, serde_json::json!({}), now)?;
        Ok(())
    } else {
        Err(not_found(id))
    }
}
