//! Federated client authentication: a workload's platform token (Kubernetes, GitHub
//! Actions, SPIFFE, any OIDC issuer) authenticates the one client bound to its issuer,
//! subject and claims.
//!
//! Trusted issuers and the clients bound to each are cached like clients (for
//! `client_cache_ttl`), so an issuer deleted through one replica stops working on the
//! others within that bound; before a token is refused because the cache does not know
//! its issuer, its client or its key, the database is read again (at most once a second
//! per issuer), so what was added anywhere works at once. Issuer keys are fetched like
//! a client's `jwks_uri` (the same limits, Cache-Control, one early refetch on an
//! unknown `kid`, last good keys through a failed refetch). The
//! URL an operator gave (`--issuer`, for discovery, or `--jwks-uri`) may be internal;
//! a `jwks_uri` a discovery document names elsewhere, and every redirect elsewhere,
//! follow the client `jwks_uri` rules (`jwks_uri_allow_private`). An issuer given
//! without keys is discovered once per lifetime of its
//! `/.well-known/openid-configuration`; a failed discovery is retried at most every
//! 10 s (requests meanwhile are refused without a fetch), concurrent requests share one
//! discovery, and each issuer has its own, so a hanging one delays no other. Inline
//! key sets are parsed once. All of these caches are [`super::cache`]'s.
//!
//! Every refusal is `401 invalid_client` with one answer; the reason goes to the log.

use super::cache::{Cache, Found, Policy};
use super::client_jwks::{self, ClientJwks, FetchError, LastFetch};
use super::{now, read};
use crate::db::models::{Client, TrustedIssuer};
use crate::db::DbPool;
use crate::oauth::client_keys::{verify_compact, ClientKeySet, Strictness};
use crate::oauth::federation::{self, PlatformToken};
use crate::oauth::{AuthMethod, OAuthError, RegisteredClient};
use crate::outbound::FetchPolicy;
use serde_json::Value;
use std::sync::Arc;
use std::time::Duration;
use url::{Origin, Url};

/// Issuers and bindings remembered at most.
const MAX_ENTRIES: usize = 1_000;

/// A trusted issuer, ready to verify with.
#[derive(Debug)]
struct Issuer {
    row: TrustedIssuer,
    inline: Option<Arc<ClientKeySet>>,
}

impl Issuer {
    fn new(row: TrustedIssuer) -> Issuer {
        let inline = row.jwks.as_deref().and_then(|j| {
            ClientKeySet::parse(j.as_bytes(), Strictness::Fetched)
                .map_err(|e| log::error!("trusted issuer {}: stored jwks unusable: {e}", row.name))
                .ok()
                .map(Arc::new)
        });
        Issuer { row, inline }
    }
}

/// The clients bound to one issuer.
type Bound = Arc<Vec<Arc<RegisteredClient>>>;

/// The outside identity a federated client authenticated with: the access token's
/// `ext` claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutsideIdentity {
    /// The verified issuer's identifier (its `issuer`, which a token's `iss` equals).
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

/// Issuers, bindings, keys and discovery results, and where to read them.
pub struct Federation {
    pool: DbPool,
    /// This server's issuer identifier: the audience a platform token must name.
    audience: String,
    issuers: Cache<Option<Arc<Issuer>>, OAuthError>,
    bound: Cache<Bound, OAuthError>,
    keys: ClientJwks,
    /// The `jwks_uri` of each issuer given without keys, from its discovery document:
    /// one discovery at a time per issuer (the others wait for it and take its result),
    /// a hanging one holds up no other issuer, and the last good one stays in use
    /// while discovery fails.
    discovered: Cache<Discovered, FetchError>,
}

/// What an issuer's discovery document named, and how long the answer holds.
#[derive(Debug, Clone)]
struct Discovered {
    jwks_uri: String,
    ttl: Duration,
}

impl std::fmt::Debug for Federation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Federation")
            .field("issuers", &self.issuers)
            .finish_non_exhaustive()
    }
}

/// The origin of an operator-given URL, which its fetches may reach even when private.
fn origin_of(uri: &str) -> Option<Origin> {
    Url::parse(uri).ok().map(|u| u.origin())
}

impl Federation {
    /// Reads trusted issuers and bound clients from `pool`, caching them for `ttl` (the
    /// client cache's); accepts platform tokens for `audience` (this server's issuer
    /// identifier); fetches with `timeout`; what an issuer's remote side chooses (a
    /// discovered `jwks_uri`, redirects) may reach only what `policy` allows (the
    /// client `jwks_uri` rules), what the operator gave may also be private.
    pub fn new(
        pool: DbPool,
        audience: String,
        ttl: Duration,
        timeout: Duration,
        policy: FetchPolicy,
    ) -> Result<Federation, reqwest::Error> {
        Ok(Federation {
            pool,
            audience,
            issuers: Cache::new(Policy::database(ttl, MAX_ENTRIES)),
            bound: Cache::new(Policy::database(ttl, MAX_ENTRIES)),
            keys: ClientJwks::for_operators(timeout, policy)?,
            discovered: Cache::new(client_jwks::fetched_policy(
                MAX_ENTRIES,
                |d: &Discovered| d.ttl,
                Duration::MAX,
            )),
        })
    }

    async fn issuer(&self, key: &IssuerKey) -> Result<Found<Option<Arc<Issuer>>>, OAuthError> {
        self.issuers
            .get(&key.cache_key(), || read_issuer(&self.pool, key))
            .await
    }

    /// The issuer as the database has it now, when `found` came from the cache.
    async fn reread_issuer(
        &self,
        key: &IssuerKey,
        found: &Found<Option<Arc<Issuer>>>,
    ) -> Result<Option<Option<Arc<Issuer>>>, OAuthError> {
        self.issuers
            .reread(&key.cache_key(), found, || read_issuer(&self.pool, key))
            .await
    }

    /// The `jwks_uri` of an issuer given without keys, from its discovery document.
    async fn discover(&self, issuer: &str) -> Result<String, FetchError> {
        let found = self
            .discovered
            .get(issuer, || self.fetch_discovery(issuer))
            .await?;
        Ok(found.value.jwks_uri)
    }

    /// Fetches the discovery document of `issuer`.
    async fn fetch_discovery(&self, issuer: &str) -> Result<Discovered, FetchError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            issuer.trim_end_matches('/')
        );
        let about = ("discovery of trusted issuer", issuer);
        let named = origin_of(issuer);
        self.keys
            .fetch_parsed(&url, named.as_ref(), about, |body, ttl| {
                Ok(Discovered {
                    jwks_uri: jwks_uri_of(body, issuer)?,
                    ttl,
                })
            })
            .await
    }

    async fn verify_signature(&self, issuer: &Issuer, token: &str) -> Result<(), Refusal> {
        let (alg, kid) = federation::header(token).map_err(|e| Refusal::Token(e.into()))?;
        let check = |keys: &ClientKeySet| -> Option<bool> {
            let mut candidates = keys.candidates(kid.as_deref(), alg).peekable();
            candidates.peek()?;
            Some(verify_compact(token, alg, candidates))
        };
        let verdict = match &issuer.inline {
            Some(keys) => check(keys),
            None => {
                let fetch = |e: FetchError| Refusal::Fetch(e.0);
                // The operator's URL: --jwks-uri, or --issuer for discovery (whose
                // jwks_uri may be at that origin too, else it is someone else's choice).
                let (uri, named) = match &issuer.row.jwks_uri {
                    Some(u) => (u.clone(), origin_of(u)),
                    None => (
                        self.discover(&issuer.row.issuer).await.map_err(fetch)?,
                        origin_of(&issuer.row.issuer),
                    ),
                };
                let named = named.as_ref();
                let keys = self
                    .keys
                    .keys_named(&uri, false, named)
                    .await
                    .map_err(fetch)?;
                match check(&keys) {
                    None => check(
                        &*self
                            .keys
                            .keys_named(&uri, true, named)
                            .await
                            .map_err(fetch)?,
                    ),
                    v => v,
                }
            }
        };
        match verdict {
            Some(true) => Ok(()),
            Some(false) => Err(Refusal::Keys("the signature does not verify".into())),
            None => Err(Refusal::Keys(
                "no key of the issuer matches the token's kid and alg".into(),
            )),
        }
    }
}

/// The `jwks_uri` a discovery document of `issuer` names.
fn jwks_uri_of(body: &[u8], issuer: &str) -> Result<String, FetchError> {
    let doc: Value = serde_json::from_slice(body)
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
    doc.get("jwks_uri")
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| FetchError("the discovery document has no jwks_uri".into()))
}

async fn read_issuer(pool: &DbPool, key: &IssuerKey) -> Result<Option<Arc<Issuer>>, OAuthError> {
    let key = key.clone();
    let row = read(pool, "find trusted issuer", move |conn| {
        Ok(match &key {
            IssuerKey::Iss(i) => TrustedIssuer::find_by_issuer(conn, i)?,
            IssuerKey::TrustDomain(td) => TrustedIssuer::find_by_trust_domain(conn, td)?,
        })
    })
    .await?;
    Ok(row.map(|row| Arc::new(Issuer::new(row))))
}

async fn read_bound(pool: &DbPool, issuer: &str) -> Result<Bound, OAuthError> {
    let name = issuer.to_string();
    let rows = read(pool, "find bound clients", move |conn| {
        Ok(Client::bound_to_issuer(conn, &name)?)
    })
    .await?;
    Ok(Arc::new(
        rows.iter()
            .map(|row| Arc::new(super::clients::registered(row)))
            .filter(|c| c.auth_method == AuthMethod::Federated)
            .collect(),
    ))
}

/// Why an issuer's keys did not verify a token: the keys it has (which the issuer's
/// row, read again, may change), keys that could not be fetched (retried on their own
/// schedule, refused fast meanwhile), or the token itself.
enum Refusal {
    Keys(String),
    Fetch(String),
    Token(String),
}

impl Refusal {
    fn reason(&self) -> &str {
        match self {
            Refusal::Keys(r) | Refusal::Fetch(r) | Refusal::Token(r) => r,
        }
    }
}

/// How a token names its issuer: by `iss`, or by the trust domain of its SPIFFE id.
#[derive(Debug, Clone)]
enum IssuerKey {
    Iss(String),
    TrustDomain(String),
}

impl IssuerKey {
    fn cache_key(&self) -> String {
        match self {
            IssuerKey::Iss(i) => format!("iss:{i}"),
            IssuerKey::TrustDomain(td) => format!("td:{td}"),
        }
    }
}

/// The answer to an assertion that is neither a client's own (`iss` = `sub` = its id)
/// nor a trusted issuer's: most likely a `private_key_jwt` client's mistake.
fn not_a_client_assertion(iss: Option<&str>) -> OAuthError {
    log::info!(
        "client assertion refused: its iss {:?} is no trusted issuer, and iss and sub differ",
        iss.unwrap_or("")
    );
    OAuthError::invalid_client(
        "invalid client assertion: iss and sub must both be the client id, or iss a trusted issuer",
    )
}

/// Why a platform token was refused: the reason for the log.
fn refused(reason: impl std::fmt::Display) -> OAuthError {
    log::info!("federated client authentication refused: {reason}");
    OAuthError::invalid_client("client authentication failed")
}

impl Federation {
    /// Authenticates a federated client by its platform `token` (`spiffe`: sent as a
    /// JWT-SVID), for `client_id` when the request named one. Returns the client and
    /// the outside identity.
    pub async fn authenticate(
        &self,
        token: &str,
        spiffe: bool,
        client_id: Option<&str>,
    ) -> Result<(Arc<RegisteredClient>, OutsideIdentity), OAuthError> {
        let claimed = PlatformToken::read(token).map_err(refused)?;
        let spiffe_td = federation::trust_domain(&claimed.sub).map(str::to_string);
        // A jwt-bearer token with an iss names its issuer by it, and an iss that is no
        // trusted issuer's is refused, whatever its sub; a JWT-SVID (or a token without
        // iss) names it by the trust domain of its spiffe:// sub.
        let key = match (&claimed.iss, spiffe, &spiffe_td) {
            (Some(iss), false, _) => IssuerKey::Iss(iss.clone()),
            (_, _, Some(td)) => IssuerKey::TrustDomain(td.clone()),
            (_, true, None) => return Err(refused("a JWT-SVID's sub is not a spiffe:// id")),
            (None, false, None) => return Err(not_a_client_assertion(None)),
        };
        let mut found = self.issuer(&key).await?;
        if found.value.is_none() {
            // Perhaps added since the cache read it.
            if let Some(current) = self.reread_issuer(&key, &found).await? {
                found = Found::fresh(current);
            }
        }
        let Some(issuer) = found.value.clone() else {
            return Err(match key {
                IssuerKey::Iss(iss) if spiffe_td.is_none() => not_a_client_assertion(Some(&iss)),
                IssuerKey::Iss(iss) => refused(format!("iss {iss:?} is no trusted issuer")),
                IssuerKey::TrustDomain(td) => {
                    refused(format!("no trusted issuer for SPIFFE trust domain {td:?}"))
                }
            });
        };
        let issuer = match self.verify_signature(&issuer, token).await {
            Ok(()) => issuer,
            // The cache's issuer may have had other keys: look at the database once more.
            Err(Refusal::Keys(why)) => {
                let current = self.reread_issuer(&key, &found).await?;
                match current.flatten() {
                    Some(now) if now.row != issuer.row => {
                        self.verify_signature(&now, token).await.map_err(|r| {
                            refused(format!("issuer {}: {}", now.row.name, r.reason()))
                        })?;
                        now
                    }
                    _ => return Err(refused(format!("issuer {}: {why}", issuer.row.name))),
                }
            }
            Err(r) => {
                return Err(refused(format!(
                    "issuer {}: {}",
                    issuer.row.name,
                    r.reason()
                )))
            }
        };
        let name = &issuer.row.name;
        claimed
            .check_issuer(
                &issuer.row.issuer,
                issuer.row.spiffe_trust_domain.as_deref(),
            )
            .map_err(|why| refused(format!("issuer {name}: {why}")))?;
        claimed
            .check(&self.audience, issuer.row.max_token_age, now())
            .map_err(|why| refused(format!("issuer {name}: {why}")))?;
        let read_bound = || read_bound(&self.pool, name);
        let bound = self.bound.get(name, read_bound).await?;
        let client = match federation::choose(&bound.value, &claimed, client_id) {
            Ok(c) => c,
            Err(why) => match self.bound.reread(name, &bound, read_bound).await? {
                // Bound, enabled or changed elsewhere since the cache read them.
                Some(current) => federation::choose(&current, &claimed, client_id),
                None => Err(why),
            }
            .map_err(|why| refused(format!("issuer {name}: {why}")))?,
        };
        let outside = OutsideIdentity {
            iss: issuer.row.issuer.clone(),
            sub: claimed.sub.clone(),
        };
        Ok((client, outside))
    }
}

/// Where a trusted issuer's keys come from and what this replica last learnt there
/// ([`Federation::key_state`]). Each replica fetches on its own; this is one replica's
/// view.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IssuerKeyState {
    /// The key set's URL: the `jwks_uri` given, or the one discovery named (`None`
    /// for inline keys, or before discovery answered).
    pub jwks_uri: Option<String>,
    /// The last fetch of that URL (for inline keys: `keys` is how many are stored).
    pub fetch: LastFetch,
    /// Why discovery last failed, while that failure is remembered.
    pub discovery_error: Option<String>,
}

impl Federation {
    /// What this replica knows of an issuer's keys, without fetching: `issuer` its
    /// identifier, `jwks_uri` and `inline` (a JWK Set's JSON) as registered.
    pub fn key_state(
        &self,
        issuer: &str,
        jwks_uri: Option<&str>,
        inline: Option<&str>,
    ) -> IssuerKeyState {
        if let Some(jwks) = inline {
            let keys = ClientKeySet::parse(jwks.as_bytes(), Strictness::Fetched)
                .ok()
                .map(|k| k.len());
            return IssuerKeyState {
                fetch: LastFetch {
                    keys,
                    ..LastFetch::default()
                },
                ..IssuerKeyState::default()
            };
        }
        let (uri, named, discovery_error) = match jwks_uri {
            Some(u) => (Some(u.to_string()), origin_of(u), None),
            None => {
                let peek = self.discovered.peek(issuer);
                (
                    peek.value.map(|(d, _)| d.jwks_uri),
                    origin_of(issuer),
                    peek.failure.map(|(e, _)| e.0),
                )
            }
        };
        let fetch = uri
            .as_deref()
            .map(|u| self.keys.last_fetch(u, named.as_ref()))
            .unwrap_or_default();
        IssuerKeyState {
            jwks_uri: uri,
            fetch,
            discovery_error,
        }
    }
}
