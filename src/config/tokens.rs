//! The `tokens` section: access- and refresh-token lifetimes, the refresh replay grace
//! and the client the simplejwt-compatible endpoints act as.

use super::section::{non_empty, section};
use crate::oauth::token::{ACCESS_TOKEN_TTL, REFRESH_REUSE_GRACE, REFRESH_TOKEN_TTL};

section! {
    /// What tokens are issued for how long.
    Tokens, TokensArgs;

    /// Access-token lifetime, seconds
    access_token_ttl: i64 = 300, "SECS" env "TESSERA_ACCESS_TOKEN_TTL",
        check |t| ACCESS_TOKEN_TTL.contains(t), "must be 1 to 86400 seconds";
    /// Refresh-token family lifetime (absolute), seconds
    refresh_token_ttl: i64 = 86400, "SECS" env "TESSERA_REFRESH_TOKEN_TTL",
        check |t| REFRESH_TOKEN_TTL.contains(t), "must be 1 second to 365 days";
    /// Seconds a just-rotated refresh token may be replayed, 0 = strict
    refresh_reuse_grace: i64 = 0, "SECS" env "TESSERA_REFRESH_REUSE_GRACE",
        check |g| REFRESH_REUSE_GRACE.contains(g), "must be 0 to 300 seconds";
    /// Client id the simplejwt-compatible /api/token/ endpoints act as; unset = endpoints off
    simplejwt_client: String => Option<String>: non_empty,
        "CLIENT_ID" env "TESSERA_SIMPLEJWT_CLIENT";
}
