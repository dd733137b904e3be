//! Federated client authentication: a workload's platform token (Kubernetes, GitHub
//! Actions, SPIFFE, any OIDC issuer) authenticates the one client bound to its issuer,
//! subject and claims.
//!
//! Trusted issuers and the clients bound to each are cached like clients (for
//! `client_cache_ttl`), so an issuer deleted through one replica stops working on the
//! others within that bound. Issuer keys are fetched like a client's `jwks_uri` (the
//! same limits, Cache-Control, one early refetch on an unknown `kid`, last good keys
//! through a failed refetch), by a fetcher that may reach internal addresses: issuers
//! are set by operators. An issuer given without keys is discovered once per lifetime
//! of its `/.well-known/openid-configuration`. Inline key sets are parsed once.
//!
//! Every refusal is `401 invalid_client` with one answer; the reason goes to the log.

use super::client_jwks::{ClientJwks, FetchError};
use super::{now, read, AppState};
use crate::db::models::{Client, TrustedIssuer};
use crate::oauth::client_keys::{verify_compact, ClientKeySet, Strictness};
use crate::oauth::federation::{self, PlatformToken};
use crate::oauth::{AuthMethod, OAuthError, RegisteredClient};
use crate::outbound::FetchPolicy;
use quick_cache::sync::Cache;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Issuers and bindings remembered at most.
const MAX_ENTRIES: usize = 1_000;
/// Least time between two discoveries of one issuer after a failure.
const REDISCOVER_AFTER_FAILURE: Duration = Duration::from_secs(10);

/// A trusted issuer, ready to verify with.
#[derive(Debug)]
struct Issuer {
    row: TrustedIssuer,
    inline: Option<Arc<ClientKeySet>>,
}

type Cached<T> = (T, Instant);

/// The outside identity a federated client authenticated with: the access token's
/// `ext` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideIdentity {
    /// The outside issuer (`iss`, or for a JWT-SVID without one, its issuer's value).
    pub iss: String,
    /// The outside subject.
    pub sub: String,
}

impl OutsideIdentity {
    /// As the `ext` claim.
    pub fn claim(&self) -> Value {
        serde_json::json!({ "iss": self.iss, "sub": self.sub })
    }
}

/// Issuers, bindings, keys and discovery results.
pub struct Federation {
    ttl: Duration,
    issuers: Cache<String, Cached<Option<Arc<Issuer>>>>,
    bound: Cache<String, Cached<Arc<Vec<Arc<RegisteredClient>>>>>,
    keys: ClientJwks,
    /// One entry per issuer, each behind its own lock: one discovery at a time per
    /// issuer, and a hanging one holds up no other issuer.
    discovered: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<Discovery>>>>,
}

#[derive(Debug, Clone, Default)]
struct Discovery {
    jwks_uri: Option<String>,
    fresh_until: Option<Instant>,
    failed_at: Option<Instant>,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

impl Federation {
    /// Caches trusted for `ttl` (the client cache's); fetches with `timeout`, over
    /// plain http only when `allow_http`.
    pub fn new(
        ttl: Duration,
        timeout: Duration,
        allow_http: bool,
    ) -> Result<Federation, reqwest::Error> {
        let policy = FetchPolicy {
            allow_http,
            allow_private: true,
        };
        Ok(Federation {
            ttl,
            issuers: Cache::new(MAX_ENTRIES),
            bound: Cache::new(MAX_ENTRIES),
            keys: ClientJwks::new(timeout, policy)?,
            discovered: std::sync::Mutex::new(HashMap::new()),
        })
    }

    fn fresh<T: Clone>(&self, cache: &Cache<String, Cached<T>>, key: &str) -> Option<T> {
        let (v, at) = cache.get(key)?;
        (at.elapsed() < self.ttl).then_some(v)
    }

    fn remember<T: Clone>(&self, cache: &Cache<String, Cached<T>>, key: String, v: T) {
        if !self.ttl.is_zero() {
            cache.insert(key, (v, Instant::now()));
        }
    }

    async fn issuer(
        &self,
        state: &AppState,
        key: IssuerKey,
    ) -> Result<Option<Arc<Issuer>>, OAuthError> {
        let cache_key = match &key {
            IssuerKey::Iss(i) => format!("iss:{i}"),
            IssuerKey::TrustDomain(td) => format!("td:{td}"),
        };
        if let Some(hit) = self.fresh(&self.issuers, &cache_key) {
            return Ok(hit);
        }
        let row = read(&state.pool, "find trusted issuer", move |conn| {
            Ok(match &key {
                IssuerKey::Iss(i) => TrustedIssuer::find_by_issuer(conn, i)?,
                IssuerKey::TrustDomain(td) => TrustedIssuer::find_by_trust_domain(conn, td)?,
            })
        })
        .await?;
        let issuer = row.map(|row| {
            let inline = row.jwks.as_deref().and_then(|j| {
                ClientKeySet::parse(j.as_bytes(), Strictness::Fetched)
                    .ok()
                    .map(Arc::new)
            });
            Arc::new(Issuer { row, inline })
        });
        self.remember(&self.issuers, cache_key, issuer.clone());
        Ok(issuer)
    }

    async fn bound_clients(
        &self,
        state: &AppState,
        issuer: &str,
    ) -> Result<Arc<Vec<Arc<RegisteredClient>>>, OAuthError> {
        if let Some(hit) = self.fresh(&self.bound, issuer) {
            return Ok(hit);
        }
        let name = issuer.to_string();
        let rows = read(&state.pool, "find bound clients", move |conn| {
            Ok(Client::bound_to_issuer(conn, &name)?)
        })
        .await?;
        let clients: Vec<Arc<RegisteredClient>> = rows
            .iter()
            .map(|row| Arc::new(super::clients::registered(row)))
            .filter(|c| c.auth_method == AuthMethod::Federated)
            .collect();
        let clients = Arc::new(clients);
        self.remember(&self.bound, issuer.to_string(), clients.clone());
        Ok(clients)
    }

    /// The `jwks_uri` of an issuer given without keys, from its discovery document.
    async fn discover(&self, issuer: &str) -> Result<String, FetchError> {
        let slot = {
            let mut map = self.discovered.lock().unwrap_or_else(|p| p.into_inner());
            if map.len() >= MAX_ENTRIES && !map.contains_key(issuer) {
                map.retain(|_, e| Arc::strong_count(e) > 1);
            }
            map.entry(issuer.to_string()).or_default().clone()
        };
        let mut entry = slot.lock().await;
        let now = Instant::now();
        if let Some(uri) = &entry.jwks_uri {
            let fresh = entry.fresh_until.is_some_and(|t| now < t);
            let backing_off = entry
                .failed_at
                .is_some_and(|t| now - t < REDISCOVER_AFTER_FAILURE);
            if fresh || backing_off {
                return Ok(uri.clone());
            }
        }
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let found = self.keys.fetch_bytes(&url).await.and_then(|(body, ttl)| {
            let doc: Value = serde_json::from_slice(&body)
                .map_err(|_| FetchError("the discovery document is not JSON".into()))?;
            let named = doc
                .get("issuer")
                .and_then(Value::as_str)
                .map(|i| i.trim_end_matches('/'));
            if named != Some(issuer.trim_end_matches('/')) {
                return Err(FetchError(
                    "the discovery document names another issuer".into(),
                ));
            }
            let uri = doc
                .get("jwks_uri")
                .and_then(Value::as_str)
                .ok_or_else(|| FetchError("the discovery document has no jwks_uri".into()))?;
            Ok((uri.to_string(), ttl))
        });
        match found {
            Ok((uri, ttl)) => {
                entry.jwks_uri = Some(uri.clone());
                entry.fresh_until = Some(Instant::now() + ttl);
                entry.failed_at = None;
                Ok(uri)
            }
            Err(e) => {
                log::warn!(
                    "discovery of trusted issuer {}: {}",
                    crate::telemetry::redact::url(issuer),
                    crate::telemetry::redact::urls_in(&e.0)
                );
                entry.failed_at = Some(Instant::now());
                entry.jwks_uri.clone().ok_or(e)
            }
        }
    }

    async fn verify_signature(&self, issuer: &Issuer, token: &str) -> Result<(), String> {
        let (alg, kid) = federation::header(token).map_err(str::to_string)?;
        let check = |keys: &ClientKeySet| -> Option<bool> {
            let mut candidates = keys.candidates(kid.as_deref(), alg).peekable();
            candidates.peek()?;
            Some(verify_compact(token, alg, candidates))
        };
        if let Some(keys) = &issuer.inline {
            return match check(keys) {
                Some(true) => Ok(()),
                Some(false) => Err("the signature does not verify".into()),
                None => Err("no key of the issuer matches the token's kid and alg".into()),
            };
        }
        let uri = match &issuer.row.jwks_uri {
            Some(u) => u.clone(),
            None => self.discover(&issuer.row.issuer).await.map_err(|e| e.0)?,
        };
        let keys = self.keys.keys(&uri, false).await.map_err(|e| e.0)?;
        let verdict = match check(&keys) {
            None => check(&*self.keys.keys(&uri, true).await.map_err(|e| e.0)?),
            v => v,
        };
        match verdict {
            Some(true) => Ok(()),
            Some(false) => Err("the signature does not verify".into()),
            None => Err("no key of the issuer matches the token's kid and alg".into()),
        }
    }
}

enum IssuerKey {
    Iss(String),
    TrustDomain(String),
}

/// Why a platform token was refused: the reason for the log.
fn refused(reason: impl std::fmt::Display) -> OAuthError {
    log::info!("federated client authentication refused: {reason}");
    OAuthError::invalid_client("client authentication failed")
}

/// Authenticates a federated client by its platform `token` (`spiffe`: sent as a
/// JWT-SVID), for `client_id` when the request named one. Returns the client and the
/// outside identity.
pub async fn authenticate(
    state: &AppState,
    token: &str,
    spiffe: bool,
    client_id: Option<&str>,
) -> Result<(Arc<RegisteredClient>, OutsideIdentity), OAuthError> {
    let fed = &state.federation;
    let claimed = PlatformToken::read(token).map_err(refused)?;
    let spiffe_td = federation::trust_domain(&claimed.sub).map(str::to_string);
    let by_iss = match (&claimed.iss, spiffe) {
        (Some(iss), false) => fed.issuer(state, IssuerKey::Iss(iss.clone())).await?,
        _ => None,
    };
    let issuer = match (by_iss, spiffe_td) {
        (Some(i), _) => i,
        (None, Some(td)) => fed
            .issuer(state, IssuerKey::TrustDomain(td.clone()))
            .await?
            .filter(|i| i.row.spiffe_trust_domain.is_some())
            .ok_or_else(|| refused(format!("no trusted issuer for SPIFFE trust domain {td:?}")))?,
        (None, None) if spiffe => return Err(refused("a JWT-SVID's sub is not a spiffe:// id")),
        (None, None) => {
            log::info!(
                "client assertion refused: its iss {:?} is no trusted issuer, and iss and sub differ",
                claimed.iss.as_deref().unwrap_or("")
            );
            return Err(OAuthError::invalid_client(
                "invalid client assertion: iss and sub must both be the client id, or iss a trusted issuer",
            ));
        }
    };
    let name = &issuer.row.name;
    fed.verify_signature(&issuer, token)
        .await
        .map_err(|why| refused(format!("issuer {name}: {why}")))?;
    claimed
        .check(&state.issuer, issuer.row.max_token_age, now())
        .map_err(|why| refused(format!("issuer {name}: {why}")))?;
    let bound = fed.bound_clients(state, name).await?;
    let matching: Vec<&Arc<RegisteredClient>> = bound
        .iter()
        .filter(|c| {
            c.federation
                .as_ref()
                .is_some_and(|b| b.matches(&claimed.sub, &claimed.claims))
        })
        .collect();
    let client = match client_id {
        Some(id) => matching
            .iter()
            .find(|c| c.client_id == id)
            .copied()
            .ok_or_else(|| {
                refused(format!(
                    "issuer {name}: client {id:?} is not bound to subject {:?} and its claims",
                    claimed.sub
                ))
            })?,
        None => match matching.as_slice() {
            [one] => *one,
            [] => {
                return Err(refused(format!(
                    "issuer {name}: no client is bound to subject {:?} and its claims",
                    claimed.sub
                )))
            }
            several => {
                return Err(refused(format!(
                    "issuer {name}: {} clients match subject {:?}; send client_id",
                    several.len(),
                    claimed.sub
                )))
            }
        },
    };
    if client.disabled {
        return Err(refused(format!("client {} is disabled", client.client_id)));
    }
    let outside = OutsideIdentity {
        iss: claimed
            .iss
            .clone()
            .unwrap_or_else(|| issuer.row.issuer.clone()),
        sub: claimed.sub.clone(),
    };
    Ok((client.clone(), outside))
}
