//! What the protocol knows of a registered client.

use super::client_keys::ClientKeySet;
use super::Scope;
use std::sync::Arc;

/// The longest client id tessera issues or accepts (generated ids are far shorter):
/// a longer presented id is refused before any lookup or caching.
pub const MAX_CLIENT_ID_LEN: usize = 256;

/// A grant type a client may be allowed to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum GrantType {
    /// RFC 6749 §4.4.
    ClientCredentials,
    /// RFC 6749 §4.3.
    Password,
    /// RFC 6749 §6.
    RefreshToken,
    /// RFC 8693.
    TokenExchange,
}

impl GrantType {
    /// Every grant type tessera supports, in the order metadata lists them.
    pub const ALL: [GrantType; 4] = [
        GrantType::ClientCredentials,
        GrantType::Password,
        GrantType::RefreshToken,
        GrantType::TokenExchange,
    ];

    /// The grant a client is registered with when none is named.
    pub const DEFAULT: GrantType = GrantType::ClientCredentials;

    /// The `grant_type` parameter value.
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client_credentials",
            GrantType::Password => "password",
            GrantType::RefreshToken => "refresh_token",
            GrantType::TokenExchange => "urn:ietf:params:oauth:grant-type:token-exchange",
        }
    }

    /// Reads a `grant_type` value; `None` for anything tessera does not support.
    pub fn parse(s: &str) -> Option<GrantType> {
        GrantType::ALL.into_iter().find(|g| g.as_str() == s)
    }

    /// Reads a grant type as administrators write it: the `grant_type` value, or
    /// `token-exchange` for RFC 8693's URN.
    pub fn from_name(s: &str) -> Option<GrantType> {
        GrantType::ALL
            .into_iter()
            .find(|g| g.name() == s)
            .or_else(|| GrantType::parse(s))
    }

    /// The name administrators write (CLI, apply): the `grant_type` value, or
    /// `token-exchange` for RFC 8693's URN.
    pub fn name(self) -> &'static str {
        match self {
            GrantType::TokenExchange => "token-exchange",
            g => g.as_str(),
        }
    }
}

/// How a client authenticates at the token endpoint (RFC 7591 `token_endpoint_auth_method`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthMethod {
    /// HTTP Basic with the client id and secret (RFC 6749 §2.3.1), the default.
    ClientSecretBasic,
    /// `client_id` and `client_secret` in the form body.
    ClientSecretPost,
    /// A JWT signed with the client's private key (RFC 7523 §2.2): no shared secret.
    PrivateKeyJwt,
    /// A token from a trusted outside issuer (its platform's identity) as the client
    /// assertion: no secret, no key of the client's own.
    Federated,
}

impl AuthMethod {
    /// Every method tessera supports.
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::ClientSecretBasic,
        AuthMethod::ClientSecretPost,
        AuthMethod::PrivateKeyJwt,
        AuthMethod::Federated,
    ];

    /// The method a client is registered with when none is named.
    pub const DEFAULT: AuthMethod = AuthMethod::ClientSecretBasic;

    /// The RFC 7591 name.
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMethod::ClientSecretBasic => "client_secret_basic",
            AuthMethod::ClientSecretPost => "client_secret_post",
            AuthMethod::PrivateKeyJwt => "private_key_jwt",
            AuthMethod::Federated => "federated",
        }
    }

    /// Reads an RFC 7591 name.
    pub fn parse(s: &str) -> Option<AuthMethod> {
        AuthMethod::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the method proves a shared secret (and the client has one).
    pub fn uses_secret(self) -> bool {
        !matches!(self, AuthMethod::PrivateKeyJwt | AuthMethod::Federated)
    }
}

/// Where a `private_key_jwt` client's public keys are.
#[derive(Debug, Clone)]
pub enum ClientKeys {
    /// The client authenticates with a secret.
    None,
    /// Registered inline (`jwks`), checked when the client was loaded.
    Inline(Arc<ClientKeySet>),
    /// Published by the client at this URL (`jwks_uri`).
    Uri(String),
}

/// A client as the token endpoint sees it.
#[derive(Debug, Clone)]
pub struct RegisteredClient {
    /// The public identifier.
    pub client_id: String,
    /// Hex SHA-256 of the secret, for secret-based methods.
    pub secret_hash: Option<String>,
    /// The secret before the current one and when it stops working (Unix seconds),
    /// during a rotation's overlap.
    pub previous_secret: Option<(String, i64)>,
    /// The one method this client authenticates with.
    pub auth_method: AuthMethod,
    /// Everything the client may ask for.
    pub scope: Scope,
    /// Grants the client may use.
    pub grant_types: Vec<GrantType>,
    /// Audiences (resource servers) the client may get tokens for: the services it
    /// calls.
    pub audiences: Vec<String>,
    /// The client's own API, as tokens name it in `aud`: a token whose `aud` has one of
    /// these (or the client id) was meant for this client (token exchange).
    pub resource_uris: Vec<String>,
    /// Per-client access-token lifetime, seconds.
    pub access_token_ttl: Option<i64>,
    /// Per-client refresh-token family lifetime, seconds.
    pub refresh_token_ttl: Option<i64>,
    /// Per-client refresh-token reuse grace, seconds.
    pub refresh_reuse_grace: Option<i64>,
    /// A disabled client cannot authenticate.
    pub disabled: bool,
    /// Tokens only with a DPoP proof.
    pub require_dpop: bool,
    /// `private_key_jwt`: the client's public keys.
    pub keys: ClientKeys,
    /// `federated`: the outside issuer, subject and claims whose tokens are this
    /// client's credential.
    pub federation: Option<super::federation::Binding>,
}

impl RegisteredClient {
    /// A client for unit tests: basic auth, no secret, no keys, no per-client settings.
    #[cfg(test)]
    pub fn for_tests(client_id: &str, scope: &str, grant_types: Vec<GrantType>) -> Self {
        RegisteredClient {
            client_id: client_id.into(),
            secret_hash: None,
            previous_secret: None,
            auth_method: AuthMethod::ClientSecretBasic,
            scope: Scope::parse(scope).expect("test scope"),
            grant_types,
            audiences: vec![],
            resource_uris: vec![],
            access_token_ttl: None,
            refresh_token_ttl: None,
            refresh_reuse_grace: None,
            disabled: false,
            require_dpop: false,
            keys: ClientKeys::None,
            federation: None,
        }
    }

    /// Whether the client may use `grant`.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.grant_types.contains(&grant)
    }
}

/// The longest audience or resource URI, characters.
pub const MAX_URI_CHARS: usize = 512;

/// Checks an audience value: an identifier or URI without white space or control
/// characters, 1 to 512 characters.
pub fn validate_audience(aud: &str) -> Result<(), String> {
    validate_identifier("audience", aud)
}

/// Checks a resource URI (a client's own API, as tokens name it in `aud`): like an
/// audience.
pub fn validate_resource_uri(uri: &str) -> Result<(), String> {
    validate_identifier("resource URI", uri)
}

/// An identifier or URI, as `aud` carries it: 1 to 512 characters (counted as
/// characters, never bytes), no white space (lists are stored space-separated) and no
/// control characters. Messages show at most 80 characters of the value.
fn validate_identifier(what: &str, value: &str) -> Result<(), String> {
    let chars = value.chars().count();
    if chars == 0 || chars > MAX_URI_CHARS {
        return Err(format!("{what} must be 1 to {MAX_URI_CHARS} characters"));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        let shown: String = value.chars().take(80).collect();
        return Err(format!(
            "{what} {shown:?} contains white space or control characters"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grant_names_round_trip_for_every_grant() {
        for g in GrantType::ALL {
            assert_eq!(GrantType::from_name(g.name()), Some(g));
            assert_eq!(GrantType::from_name(g.as_str()), Some(g));
        }
        assert_eq!(GrantType::from_name("implicit"), None);
    }

    #[test]
    fn resource_uris_are_bounded_in_characters_and_refuse_white_space() {
        assert!(validate_resource_uri("https://orders.example").is_ok());
        let wide = format!("urn:{}", "é".repeat(MAX_URI_CHARS - 4));
        assert!(
            validate_resource_uri(&wide).is_ok(),
            "512 characters, 1020 bytes"
        );
        assert!(validate_resource_uri(&format!("{wide}é")).is_err());
        for bad in ["", "a b", "a\tb", "a\u{0}b", "a\u{85}b", "a\u{2028}b"] {
            let e = validate_resource_uri(bad).expect_err(bad);
            assert!(e.contains("resource URI"), "{e}");
        }
        // The message never slices the value by bytes.
        let long_bad = format!("{} x", "é".repeat(300));
        assert!(validate_resource_uri(&long_bad).is_err());
    }
}
