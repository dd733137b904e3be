//! Clients cached in memory for the token endpoint's hot path.
//!
//! Staleness bound: a change made elsewhere (CLI, another replica) is seen at the
//! latest `client_cache_ttl` seconds later (default 5). Changes made through this
//! process invalidate its entry at once. Before a request is refused on what the cache
//! says — no such client, another secret, no key with the assertion's `kid` — the
//! client is read again (at most once a second per id), so a client created, given a
//! new secret or new keys anywhere works at once; a removal takes up to the bound.
//! Concurrent misses of one id share one read. All of this is [`super::cache`]'s.
//!
//! The cache holds at most `MAX_ENTRIES` lookups (known clients and unknown ids alike)
//! and evicts the least useful ones beyond that, and ids longer than
//! `MAX_CLIENT_ID_LEN` never reach it: made-up ids cannot grow memory.

use super::cache::{Cache, Found, Policy};
use crate::db::models::Client;
use crate::db::{pool, DbError, DbPool};
use crate::oauth::client::MAX_CLIENT_ID_LEN;
use crate::oauth::client_keys::{ClientKeySet, Strictness};
use crate::oauth::federation::Binding;
use crate::oauth::{AuthMethod, ClientKeys, GrantType, OAuthError, RegisteredClient, Scope};
use std::sync::Arc;
use std::time::Duration;

/// Lookups remembered at most.
pub const MAX_ENTRIES: usize = 10_000;

/// A lookup's result: the client, or `None` when there is no such client.
pub type Lookup = Found<Option<Arc<RegisteredClient>>>;

/// The cache.
#[derive(Debug)]
pub struct ClientCache {
    entries: Cache<Option<Arc<RegisteredClient>>, OAuthError>,
}

impl ClientCache {
    /// A cache whose entries are trusted for `ttl` (zero: never cached).
    pub fn new(ttl: Duration) -> ClientCache {
        ClientCache {
            entries: Cache::new(Policy::database(ttl, MAX_ENTRIES)),
        }
    }

    /// How many lookups are remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets a client, so the next lookup reads the database.
    pub fn invalidate(&self, id: &str) {
        self.entries.invalidate(id);
    }

    /// The client with this id, from the cache or the database (off the async workers).
    /// Unknown ids are cached too, so guessing ids does not reach the database each time;
    /// an id longer than any client's is unknown without a lookup.
    pub async fn lookup(
        &self,
        pool: &DbPool,
        id: &str,
    ) -> Result<Option<Arc<RegisteredClient>>, OAuthError> {
        Ok(self.find(pool, id).await?.value)
    }

    /// Like [`ClientCache::lookup`], remembering whether the answer came from the cache,
    /// for [`ClientCache::reread`].
    pub async fn find(&self, pool: &DbPool, id: &str) -> Result<Lookup, OAuthError> {
        if id.len() > MAX_CLIENT_ID_LEN {
            return Ok(Found::fresh(None));
        }
        self.entries.get(id, || read(pool, id)).await
    }

    /// Before refusing a request on `found`: the client as the database has it now, if
    /// `found` came from the cache (read at most once a second per id); `None` when
    /// there is nothing newer to try.
    pub async fn reread(
        &self,
        pool: &DbPool,
        id: &str,
        found: &Lookup,
    ) -> Result<Option<Option<Arc<RegisteredClient>>>, OAuthError> {
        self.entries.reread(id, found, || read(pool, id)).await
    }
}

/// Reads one client, in the span `find client`. A failure is the request's answer (503
/// when the database is away), shared with the lookups that waited for this read.
async fn read(pool: &DbPool, id: &str) -> Result<Option<Arc<RegisteredClient>>, OAuthError> {
    let pool = pool.clone();
    let key = id.to_string();
    let find = async move {
        actix_web::web::block(move || -> Result<Option<Client>, DbError> {
            let mut conn = pool::get(&pool)?;
            Ok(Client::find(&mut conn, &key)?)
        })
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))?
    };
    let found = crate::telemetry::span::db("find client")
        .run_result(find, |_| Some("unavailable"))
        .await?;
    Ok(found.map(|c| Arc::new(registered(&c))))
}

/// The protocol's view of a stored client. Malformed stored values (edited by hand)
/// are dropped rather than trusted.
pub fn registered(row: &Client) -> RegisteredClient {
    RegisteredClient {
        client_id: row.client_id.clone(),
        secret_hash: row.secret_hash.clone(),
        previous_secret: row
            .previous_secret_hash
            .clone()
            .zip(row.previous_secret_expires_at),
        auth_method: AuthMethod::parse(&row.auth_method).unwrap_or(AuthMethod::ClientSecretBasic),
        scope: Scope::parse(&row.scope).unwrap_or_default(),
        grant_types: row
            .grant_types
            .split_whitespace()
            .filter_map(GrantType::parse)
            .collect(),
        audiences: row
            .audiences
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        resource_uris: row
            .resource_uris
            .split_whitespace()
            .map(str::to_string)
            .collect(),
        access_token_ttl: row.access_token_ttl,
        refresh_token_ttl: row.refresh_token_ttl,
        refresh_reuse_grace: row.refresh_reuse_grace,
        disabled: row.disabled,
        require_dpop: row.require_dpop,
        keys: keys(row),
        federation: match (&row.federated_issuer, &row.federated_subject) {
            (Some(issuer), Some(subject)) => Some(Binding {
                issuer: issuer.clone(),
                subject: subject.clone(),
                claims: Binding::parse_claims(row.federated_claims.as_deref()),
            }),
            _ => None,
        },
    }
}

/// Where a client's `private_key_jwt` keys are, parsed once. A stored set that no
/// longer parses (edited by hand) leaves the client with no usable key.
fn keys(row: &Client) -> ClientKeys {
    if let Some(uri) = &row.jwks_uri {
        return ClientKeys::Uri(uri.clone());
    }
    match &row.jwks {
        None => ClientKeys::None,
        Some(json) => {
            let set =
                ClientKeySet::parse(json.as_bytes(), Strictness::Fetched).unwrap_or_else(|e| {
                    log::error!("client {}: stored jwks unusable: {e}", row.client_id);
                    ClientKeySet::default()
                });
            ClientKeys::Inline(std::sync::Arc::new(set))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cache_stays_within_its_bound() {
        let cache = ClientCache::new(Duration::from_secs(60));
        for i in 0..(3 * MAX_ENTRIES) {
            cache.entries.store(&format!("made-up-{i}"), None);
        }
        assert!(cache.len() <= MAX_ENTRIES, "{} entries", cache.len());
        // Recent entries are still served.
        let last = format!("made-up-{}", 3 * MAX_ENTRIES - 1);
        assert!(matches!(
            cache.entries.fresh(&last).map(|f| f.value),
            Some(None)
        ));
    }
}
