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
use crate::oauth::federation::{self, PlatformToken, MAX_PLATFORM_TOKEN};
use crate::oauth::{AuthMethod, OAuthError, RegisteredClient};
use crate::outbound::FetchPolicy;
use crate::telemetry::redact;
use jsonwebtoken::Algorithm;
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

    /// Verifies `token`'s signature (its header: `alg`, `kid`) with `issuer`'s keys.
    async fn verify_signature(
        &self,
        issuer: &Issuer,
        token: &str,
        alg: Algorithm,
        kid: Option<&str>,
    ) -> Result<(), Refusal> {
        let check = |keys: &ClientKeySet| -> Option<bool> {
            let mut candidates = keys.candidates(kid, alg).peekable();
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
            Some(false) => Err(Refusal::BadSignature),
            None => Err(Refusal::NoKey),
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
/// row, read again, may change: no key fits, or the one that fits does not verify),
/// or keys that could not be fetched (retried on their own schedule, refused fast
/// meanwhile).
enum Refusal {
    NoKey,
    BadSignature,
    Fetch(String),
}

impl Refusal {
    fn reason(&self) -> &str {
        match self {
            Refusal::NoKey => "no key of the issuer matches the token's kid and alg",
            Refusal::BadSignature => "the signature does not verify",
            Refusal::Fetch(r) => r,
        }
    }

    /// Whether the keys the issuer has decided it (not a failed fetch).
    fn by_keys(&self) -> bool {
        !matches!(self, Refusal::Fetch(_))
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

/// The names of the checks, in the order they run (those of the token's time claims
/// and audience are [`PlatformToken::checks`]'s).
const CHECK_TOKEN: &str = "token";
const CHECK_ISSUER: &str = "issuer";
const CHECK_HEADER: &str = "header";
const CHECK_KEY: &str = "key";
const CHECK_SIGNATURE: &str = "signature";
const CHECK_ISS: &str = "iss";
const CHECK_BINDING: &str = "binding";
const CHECK_CLIENT: &str = "client";

/// Most bound clients an explanation names.
const MAX_NAMED: usize = 10;

/// One check of a platform token and its outcome, as [`Federation::explain`] tells it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Check {
    /// What was checked: `token` (size, a compact JWS, claims, `sub`), `issuer` (a
    /// trusted issuer for its `iss` or SPIFFE trust domain), `header` (`alg`, `typ`),
    /// `key` (one of the issuer's keys for its `kid` and `alg`), `signature`, `iss`
    /// (the issuer's identifier and trust domain), `aud`, `exp`, `max token age`,
    /// `iat/nbf`, `binding` (clients bound to its subject and claims), `client` (the
    /// one enabled client it authenticates).
    pub name: &'static str,
    /// Whether it passed.
    pub ok: bool,
    /// What was found, one line; may quote the token's claims, never its signature.
    pub detail: String,
}

/// Every check the token endpoint applies to a platform token, with its outcome, and
/// the client the token would authenticate. Nothing is issued or written.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Explanation {
    /// The checks in the order they run; after a failure the others that can still
    /// run do, and those that cannot say why.
    pub checks: Vec<Check>,
    /// The client the token authenticates (without a `client_id` parameter): `Some`
    /// exactly when every check passed.
    pub client_id: Option<String>,
    /// The token's claims as pretty JSON, when it could be read (they are no secret to
    /// the operator; the signature is never shown).
    pub claims: Option<String>,
}

impl Explanation {
    /// Whether the token endpoint would accept the token.
    pub fn accepted(&self) -> bool {
        self.client_id.is_some()
    }
}

/// How a run of the checks goes: the token path stops at the first failure and
/// returns its refusal; an explanation writes every check down and goes on where it
/// can. The checks themselves are the same code either way.
struct Steps {
    /// The checks so far, when explaining.
    record: Option<Vec<Check>>,
    /// Whether one failed (explaining).
    failed: bool,
}

impl Steps {
    fn explaining(&self) -> bool {
        self.record.is_some()
    }

    /// A passed check; its `detail` is made only when explaining.
    fn pass(&mut self, name: &'static str, detail: impl FnOnce() -> String) {
        if let Some(checks) = &mut self.record {
            checks.push(Check {
                name,
                ok: true,
                detail: detail(),
            });
        }
    }

    /// A failed check: on the token path the refusal (`refusal` of the reason, which
    /// logs it) to return at once; explaining, written down.
    fn fail(
        &mut self,
        name: &'static str,
        detail: String,
        refusal: impl FnOnce(String) -> OAuthError,
    ) -> Result<(), OAuthError> {
        match &mut self.record {
            None => Err(refusal(detail)),
            Some(checks) => {
                checks.push(Check {
                    name,
                    ok: false,
                    detail,
                });
                self.failed = true;
                Ok(())
            }
        }
    }

    /// A check that could not run (explaining only), because of an earlier failure.
    fn skip(&mut self, name: &'static str, why: &str) {
        if let Some(checks) = &mut self.record {
            checks.push(Check {
                name,
                ok: false,
                detail: format!("not checked: {why}"),
            });
            self.failed = true;
        }
    }
}

/// A moment as a date, for an explanation's details.
fn date(ts: i64) -> String {
    chrono::DateTime::from_timestamp(ts, 0).map_or_else(
        || "a date out of range".to_string(),
        |t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
    )
}

/// What a passed time or audience check found.
fn passed(check: &str, claimed: &PlatformToken, audience: &str, max_age: i64) -> String {
    let number = |name: &str| claimed.claims.get(name).and_then(Value::as_i64);
    match check {
        federation::CHECK_AUD => format!("aud contains {audience:?}"),
        federation::CHECK_EXP => {
            format!("expires {}", number("exp").map_or_else(String::new, date))
        }
        federation::CHECK_MAX_AGE => format!("exp − iat within the issuer's {max_age} s"),
        _ => match number("iat") {
            Some(iat) => format!("issued {}, not ahead of now", date(iat)),
            None => "no iat; nbf not ahead of now".to_string(),
        },
    }
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
        let mut steps = Steps {
            record: None,
            failed: false,
        };
        self.examine(token, spiffe, client_id, now(), &mut steps)
            .await?
            .ok_or_else(|| refused("the checks ended without a client"))
    }

    /// Runs every check [`Federation::authenticate`] applies to a platform `token` (as a
    /// `jwt-bearer` client assertion without `client_id`) at `now`, the same code,
    /// and tells each outcome and the client it would authenticate. Nothing is
    /// issued, written or used up (platform tokens have no single-use `jti`); the input
    /// is judged after trimming surrounding whitespace (a pasted token), and one over
    /// 8 KiB is refused before it is read.
    pub async fn explain(&self, token: &str, now: i64) -> Explanation {
        let token = token.trim();
        let mut steps = Steps {
            record: Some(Vec::new()),
            failed: false,
        };
        let result = self.examine(token, false, None, now, &mut steps).await;
        let failed = steps.failed;
        let mut checks = steps.record.unwrap_or_default();
        let client_id = match result {
            Ok(Some((client, _))) if !failed => Some(client.client_id.clone()),
            Ok(_) => None,
            Err(e) => {
                checks.push(Check {
                    name: "database",
                    ok: false,
                    detail: format!("the checks could not finish: {}", e.description),
                });
                None
            }
        };
        let claims = (token.len() <= MAX_PLATFORM_TOKEN)
            .then(|| PlatformToken::read(token).ok())
            .flatten()
            .and_then(|t| serde_json::to_string_pretty(&t.claims).ok());
        Explanation {
            checks,
            client_id,
            claims,
        }
    }

    /// The checks of a platform token, in order; `steps` says whether to stop at the
    /// first failure (the token path) or to go on (an explanation). `Ok(None)`: no
    /// client (explaining, or checks that could not all run).
    async fn examine(
        &self,
        token: &str,
        spiffe: bool,
        client_id: Option<&str>,
        now: i64,
        steps: &mut Steps,
    ) -> Result<Option<(Arc<RegisteredClient>, OutsideIdentity)>, OAuthError> {
        let claimed = match PlatformToken::read(token) {
            Ok(c) => {
                steps.pass(CHECK_TOKEN, || {
                    format!(
                        "a compact JWS of {} bytes, iss {:?}, sub {:?}",
                        token.len(),
                        c.iss.as_deref().unwrap_or(""),
                        c.sub
                    )
                });
                c
            }
            Err(why) => {
                steps.fail(CHECK_TOKEN, why.into(), refused)?;
                return Ok(None);
            }
        };
        let spiffe_td = federation::trust_domain(&claimed.sub).map(str::to_string);
        // A jwt-bearer token with an iss names its issuer by it, and an iss that is no
        // trusted issuer's is refused, whatever its sub; a JWT-SVID (or a token without
        // iss) names it by the trust domain of its spiffe:// sub.
        let key = match (&claimed.iss, spiffe, &spiffe_td) {
            (Some(iss), false, _) => Some(IssuerKey::Iss(iss.clone())),
            (_, _, Some(td)) => Some(IssuerKey::TrustDomain(td.clone())),
            (_, true, None) => {
                let why = "a JWT-SVID's sub is not a spiffe:// id";
                steps.fail(CHECK_ISSUER, why.into(), refused)?;
                None
            }
            (None, false, None) => {
                let why = "the token has no iss, and its sub is no spiffe:// id";
                steps.fail(CHECK_ISSUER, why.into(), |_| not_a_client_assertion(None))?;
                None
            }
        };
        let mut issuer = None;
        let mut found = None;
        if let Some(key) = &key {
            let mut f = self.issuer(key).await?;
            if f.value.is_none() {
                // Perhaps added since the cache read it.
                if let Some(current) = self.reread_issuer(key, &f).await? {
                    f = Found::fresh(current);
                }
            }
            match (f.value.clone(), key) {
                (Some(i), _) => {
                    steps.pass(CHECK_ISSUER, || {
                        format!("trusted issuer {} ({:?})", i.row.name, i.row.issuer)
                    });
                    issuer = Some(i);
                }
                (None, IssuerKey::Iss(iss)) if spiffe_td.is_none() => {
                    let why = format!("iss {iss:?} is no trusted issuer");
                    steps.fail(CHECK_ISSUER, why, |_| not_a_client_assertion(Some(iss)))?;
                }
                (None, IssuerKey::Iss(iss)) => {
                    let why = format!("iss {iss:?} is no trusted issuer");
                    steps.fail(CHECK_ISSUER, why, refused)?;
                }
                (None, IssuerKey::TrustDomain(td)) => {
                    let why = format!("no trusted issuer for SPIFFE trust domain {td:?}");
                    steps.fail(CHECK_ISSUER, why, refused)?;
                }
            }
            found = Some(f);
        }
        let of_issuer = |i: &Issuer, why: &str| refused(format!("issuer {}: {why}", i.row.name));
        let header = match federation::header(token) {
            Ok((alg, kid)) => {
                steps.pass(CHECK_HEADER, || {
                    format!("alg {alg:?}, kid {:?}", kid.as_deref().unwrap_or(""))
                });
                Some((alg, kid))
            }
            Err(why) => {
                steps.fail(CHECK_HEADER, why.into(), |why| match &issuer {
                    Some(i) => of_issuer(i, &why),
                    None => refused(why),
                })?;
                None
            }
        };
        let verified = match (&issuer, &header, &key, &found) {
            (Some(first), Some((alg, kid)), Some(key), Some(found)) => {
                let kid = kid.as_deref();
                let outcome = match self.verify_signature(first, token, *alg, kid).await {
                    Ok(()) => Ok(Arc::clone(first)),
                    // The cache's issuer may have had other keys: look at the database
                    // once more.
                    Err(r) if r.by_keys() => {
                        match self.reread_issuer(key, found).await?.flatten() {
                            Some(current) if current.row != first.row => {
                                match self.verify_signature(&current, token, *alg, kid).await {
                                    Ok(()) => Ok(current),
                                    Err(r) => Err((current, r)),
                                }
                            }
                            _ => Err((Arc::clone(first), r)),
                        }
                    }
                    Err(r) => Err((Arc::clone(first), r)),
                };
                let source = |i: &Issuer| match (&i.inline, &i.row.jwks_uri) {
                    (Some(_), _) => "its inline JWK Set".to_string(),
                    (None, Some(u)) => format!("its jwks_uri {}", redact::url(u)),
                    (None, None) => "the jwks_uri of its discovery document".to_string(),
                };
                match outcome {
                    Ok(i) => {
                        steps.pass(CHECK_KEY, || {
                            format!(
                                "a key for kid {:?} and alg {alg:?} in {}",
                                kid.unwrap_or(""),
                                source(&i)
                            )
                        });
                        steps.pass(CHECK_SIGNATURE, || "verifies".to_string());
                        Some(i)
                    }
                    Err((i, Refusal::BadSignature)) => {
                        steps.pass(CHECK_KEY, || {
                            format!(
                                "a key for kid {:?} and alg {alg:?} in {}",
                                kid.unwrap_or(""),
                                source(&i)
                            )
                        });
                        let why = Refusal::BadSignature.reason();
                        steps.fail(CHECK_SIGNATURE, why.into(), |why| of_issuer(&i, &why))?;
                        Some(i)
                    }
                    Err((i, r)) => {
                        let why = format!("{} (keys from {})", r.reason(), source(&i));
                        steps.fail(CHECK_KEY, why, |_| of_issuer(&i, r.reason()))?;
                        steps.skip(CHECK_SIGNATURE, "no key to verify it with");
                        Some(i)
                    }
                }
            }
            _ => {
                steps.skip(CHECK_KEY, "needs a trusted issuer and a readable header");
                steps.skip(CHECK_SIGNATURE, "needs a key");
                None
            }
        };
        let Some(issuer) = verified else {
            // Without an issuer, the rules that need none still tell something.
            if steps.explaining() {
                steps.skip(CHECK_ISS, "needs a trusted issuer");
                let max_age = federation::DEFAULT_MAX_TOKEN_AGE;
                for (check, result) in claimed.checks(&self.audience, max_age, now) {
                    match result {
                        _ if check == federation::CHECK_MAX_AGE => {
                            steps.skip(check, "needs the issuer's max token age")
                        }
                        Ok(()) => {
                            steps.pass(check, || passed(check, &claimed, &self.audience, max_age))
                        }
                        Err(why) => steps.fail(check, why.into(), refused)?,
                    }
                }
                steps.skip(CHECK_BINDING, "needs a trusted issuer");
                steps.skip(CHECK_CLIENT, "needs a trusted issuer");
            }
            return Ok(None);
        };
        let name = &issuer.row.name;
        let refused_by = |why: String| refused(format!("issuer {name}: {why}"));
        match claimed.check_issuer(
            &issuer.row.issuer,
            issuer.row.spiffe_trust_domain.as_deref(),
        ) {
            Ok(()) => steps.pass(CHECK_ISS, || match &issuer.row.spiffe_trust_domain {
                Some(td) => format!("the issuer's, sub in trust domain {td:?}"),
                None => format!("{:?}, the issuer's identifier", issuer.row.issuer),
            }),
            Err(why) => steps.fail(CHECK_ISS, why, refused_by)?,
        }
        let max_age = issuer.row.max_token_age;
        for (check, result) in claimed.checks(&self.audience, max_age, now) {
            match result {
                Ok(()) => steps.pass(check, || passed(check, &claimed, &self.audience, max_age)),
                Err(why) => steps.fail(check, why.into(), refused_by)?,
            }
        }
        let read_bound = || read_bound(&self.pool, name);
        let bound = self.bound.get(name, read_bound).await?;
        let mut clients = bound.value.clone();
        let mut chosen = federation::choose(&clients, &claimed, client_id);
        if chosen.is_err() {
            // Bound, enabled or changed elsewhere since the cache read them.
            if let Some(current) = self.bound.reread(name, &bound, read_bound).await? {
                chosen = federation::choose(&current, &claimed, client_id);
                clients = current;
            }
        }
        if steps.explaining() {
            let matching: Vec<String> = federation::bound_to(&clients, &claimed)
                .take(MAX_NAMED)
                .map(|c| match c.disabled {
                    true => format!("{} (disabled)", c.client_id),
                    false => c.client_id.clone(),
                })
                .collect();
            if matching.is_empty() {
                let why = format!(
                    "no client of issuer {name} is bound to subject {:?} and the token's claims \
                     ({} clients bound to the issuer)",
                    claimed.sub,
                    clients.len()
                );
                steps.fail(CHECK_BINDING, why, refused)?;
            } else {
                steps.pass(CHECK_BINDING, || format!("bound: {}", matching.join(", ")));
            }
        }
        let client = match chosen {
            Ok(c) => {
                steps.pass(CHECK_CLIENT, || format!("client {} (enabled)", c.client_id));
                c
            }
            Err(why) => {
                steps.fail(CHECK_CLIENT, why, refused_by)?;
                return Ok(None);
            }
        };
        let outside = OutsideIdentity {
            iss: issuer.row.issuer.clone(),
            sub: claimed.sub.clone(),
        };
        Ok(Some((client, outside)))
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
