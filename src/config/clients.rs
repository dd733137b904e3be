//! The `clients` section: how long a client read from the database is trusted, what a
//! client's (or a trusted issuer's) `jwks_uri` may be and reach, what a
//! `private_key_jwt` assertion may say, and the clients-as-code file applied at start.

use super::section::{secs, section};
use crate::oauth::client_assertion::{DEFAULT_MAX_LIFETIME, MAX_LIFETIME_RANGE};
use std::path::PathBuf;
use std::time::Duration;

section! {
    /// Clients: their cache, their keys' URLs and assertions, the file applied at start.
    Clients, ClientsArgs;

    /// How long a client read from the database is trusted, seconds; 0 = always read
    client_cache_ttl: u64 = 5 => Duration: secs, "SECS" env "TESSERA_CLIENT_CACHE_TTL";
    /// Accept plain-http jwks_uri for private_key_jwt clients (tests, local development only)
    jwks_uri_allow_http: bool = false, "BOOL" env "TESSERA_JWKS_URI_ALLOW_HTTP";
    /// How long fetching a client's jwks_uri may take, seconds
    jwks_uri_timeout: u64 = 5 => Duration: secs, "SECS" env "TESSERA_JWKS_URI_TIMEOUT",
        check |t| (1..=60).contains(&t.as_secs()), "must be 1 to 60 seconds";
    /// Let client jwks_uris reach loopback, private, link-local and unspecified addresses (tests, internal deployments)
    jwks_uri_allow_private: bool = false, "BOOL" env "TESSERA_JWKS_URI_ALLOW_PRIVATE";
    /// private_key_jwt assertion `aud`: "strict" (the issuer only, RFC 7523bis) or "legacy" (endpoint URLs too)
    assertion_audience: String = "strict" => AssertionAudience: AssertionAudience::parse,
        "strict|legacy" env "TESSERA_ASSERTION_AUDIENCE";
    /// How far ahead a private_key_jwt assertion's exp may be, seconds (60 to 86400); its jti is kept until then
    client_assertion_max_lifetime: i64 = DEFAULT_MAX_LIFETIME,
        "SECS" env "TESSERA_CLIENT_ASSERTION_MAX_LIFETIME", shown "3600",
        check |t| MAX_LIFETIME_RANGE.contains(t), "must be 60 to 86400 seconds";
    /// A `tessera apply` file applied at start, before listening, on every replica
    apply: PathBuf, "FILE" env "TESSERA_APPLY";
}

/// Which `aud` a client assertion may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssertionAudience {
    /// The issuer only (RFC 7523bis).
    Strict,
    /// The issuer or an endpoint URL (RFC 7523 as first written).
    Legacy,
}

impl AssertionAudience {
    /// Reads `strict` or `legacy`.
    fn parse(word: String) -> Result<AssertionAudience, String> {
        match word.as_str() {
            "strict" => Ok(AssertionAudience::Strict),
            "legacy" => Ok(AssertionAudience::Legacy),
            _ => Err("must be \"strict\" or \"legacy\"".into()),
        }
    }
}

impl Clients {
    /// Which client `jwks_uri`s may be registered and fetched.
    pub fn jwks_uri_policy(&self) -> crate::outbound::FetchPolicy {
        crate::outbound::FetchPolicy {
            allow_http: self.jwks_uri_allow_http,
            allow_private: self.jwks_uri_allow_private,
        }
    }
}
