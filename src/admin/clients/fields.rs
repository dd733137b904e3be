//! A client's attributes as a front end received them, under neutral names: not yet
//! checked, not yet in stored form. Each front end fills these from its own input (a
//! flag, an RFC 7591 member, a TOML key) and renders an error about one of them
//! ([`AdminError::InvalidField`](crate::admin::AdminError::InvalidField)) in its own
//! words; the rules are all in [`super::validate`].

use crate::db::models::Client;
use crate::oauth::federation::Binding;
use secrecy::SecretString;

/// A client's attributes, raw. On create every attribute is the client's; on update
/// (RFC 7592 PUT, `apply`) the fields are the whole client, checked against the stored
/// one ([`super::validate::validate`] is given it).
#[derive(Debug, Clone, Default)]
pub struct ClientFields {
    /// Human name, 1 to 200 characters.
    pub name: String,
    /// An id chosen by the operator; generated when `None` on create. On update, the
    /// client's own id or `None`.
    pub client_id: Option<String>,
    /// Space-separated scope.
    pub scope: String,
    /// Grant type names (`token-exchange` or the `grant_type` value); `None`: the
    /// default, client_credentials.
    pub grant_types: Option<Vec<String>>,
    /// Audiences the client may get tokens for (the services it calls).
    pub audiences: Vec<String>,
    /// The client's own API as tokens name it in `aud` (token exchange).
    pub resource_uris: Vec<String>,
    /// RFC 7591 `token_endpoint_auth_method`; `None`: `client_secret_basic` on create,
    /// the stored one on update (it cannot change).
    pub auth_method: Option<String>,
    /// `private_key_jwt`: the client's JWK Set, as JSON text.
    pub jwks: Option<String>,
    /// `private_key_jwt`: where the client publishes its JWK Set.
    pub jwks_uri: Option<String>,
    /// `federated`: the trusted issuer (by name) whose tokens are the credential.
    pub issuer: Option<String>,
    /// `federated`: the token's `sub`, exact or a prefix ending in `*`.
    pub subject: Option<String>,
    /// `federated`: claims the token must carry with these values.
    pub claims: Vec<(String, String)>,
    /// Per-client access-token lifetime, seconds.
    pub access_token_ttl: Option<i64>,
    /// Per-client refresh-token family lifetime, seconds.
    pub refresh_token_ttl: Option<i64>,
    /// Per-client refresh reuse grace, seconds.
    pub refresh_reuse_grace: Option<i64>,
    /// Tokens only with a DPoP proof (RFC 9449 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    /// A secret the operator provides, stored hashed and never printed; generated
    /// (and shown once) when `None` on create.
    pub secret: Option<SecretString>,
}

/// A stored space-separated list (grant types, audiences, resource URIs) as a list.
pub(super) fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_string).collect()
}

impl ClientFields {
    /// The fields of a stored client, as an update would be given them to change
    /// nothing (without its secret, which only rotation changes).
    pub fn of_stored(c: &Client) -> ClientFields {
        let federated = c.federated_issuer.is_some();
        ClientFields {
            name: c.name.clone(),
            client_id: None,
            scope: c.scope.clone(),
            grant_types: Some(words(&c.grant_types)),
            audiences: words(&c.audiences),
            resource_uris: words(&c.resource_uris),
            auth_method: None,
            // The stored form: one of them set.
            jwks: c.jwks.clone().filter(|_| c.jwks_uri.is_none()),
            jwks_uri: c.jwks_uri.clone(),
            issuer: c.federated_issuer.clone(),
            subject: c.federated_subject.clone(),
            claims: if federated {
                Binding::parse_claims(c.federated_claims.as_deref())
            } else {
                Vec::new()
            },
            access_token_ttl: c.access_token_ttl,
            refresh_token_ttl: c.refresh_token_ttl,
            refresh_reuse_grace: c.refresh_reuse_grace,
            require_dpop: c.require_dpop,
            secret: None,
        }
    }
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

    /// `fields` with the attributes this patch names replaced.
    pub(super) fn over(self, fields: ClientFields) -> ClientFields {
        ClientFields {
            name: self.name.unwrap_or(fields.name),
            scope: self.scope.unwrap_or(fields.scope),
            grant_types: self.grant_types.or(fields.grant_types),
            audiences: self.audiences.unwrap_or(fields.audiences),
            resource_uris: self.resource_uris.unwrap_or(fields.resource_uris),
            access_token_ttl: self.access_token_ttl.unwrap_or(fields.access_token_ttl),
            refresh_token_ttl: self.refresh_token_ttl.unwrap_or(fields.refresh_token_ttl),
            refresh_reuse_grace: self
                .refresh_reuse_grace
                .unwrap_or(fields.refresh_reuse_grace),
            require_dpop: self.require_dpop.unwrap_or(fields.require_dpop),
            auth_method: self.auth_method,
            ..fields
        }
    }
}
