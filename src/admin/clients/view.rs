//! A client as operators see it: every attribute but its secret, for the CLI's JSON,
//! RFC 7592's representation, `apply`'s comparison and the audit log's details.

use super::fields::words;
use crate::db::models::Client;
use serde::Serialize;

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
    /// When a token was last issued to the client, Unix seconds, as the replicas have
    /// written their counts so far (`null`: never). Filled by `show` and `list`.
    pub last_used_at: Option<i64>,
}

impl ClientView {
    /// The view as audit-log details (it holds no secret).
    pub(super) fn details(&self) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or_default();
        // Use is not a change: the audit log records what operators changed.
        if let Some(m) = v.as_object_mut() {
            m.remove("last_used_at");
        }
        v
    }
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
            last_used_at: None,
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
