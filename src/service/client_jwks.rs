//! Client key sets fetched from `jwks_uri` (for `private_key_jwt`), cached per URL; and
//! the same fetcher for trusted issuers' keys and discovery documents.
//!
//! A fetch has a time limit (`jwks_uri_timeout`, for the whole fetch with its
//! redirects), a size cap, at most three redirects, and one fetch at a time per URL
//! (concurrent requests wait for it and share its result). Every hop is checked where
//! it connects: never plain http unless `jwks_uri_allow_http`, never a non-public
//! address unless `jwks_uri_allow_private` (see `outbound`), whether the address is in
//! the URL or what its name resolves to. The one exception is an origin an operator
//! named (a trusted issuer's `--issuer` or `--jwks-uri`): any path there may be private.
//! The result is kept as long as the response's `Cache-Control: max-age` says (1 s to
//! 1 day; 5 minutes without one), so a client's key rotation is picked up once that
//! lifetime has passed. An assertion naming a `kid` the cached set lacks triggers one
//! early refetch, at most every 10 seconds per URL. When a fetch fails, keys fetched
//! less than an hour ago stay in use; without them the client cannot authenticate until
//! a later fetch succeeds (retried at most every 10 seconds, so a hanging URL does not
//! hold up every request). The caching is [`super::cache`]'s, with these bounds.

use super::cache::{Cache, Lifetime, Policy, Reread};
use crate::oauth::client_keys::{ClientKeySet, Strictness, MAX_JWKS_BYTES};
use crate::outbound::{FetchPolicy, FilteringResolver};
use crate::telemetry::span::{self, Span};
use futures_util::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use url::{Origin, Url};

/// Lifetime of a response without `Cache-Control: max-age`.
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
/// Longest lifetime honoured.
pub const MAX_TTL: Duration = Duration::from_secs(86_400);
/// Shortest lifetime (also for `no-cache`/`no-store`): at most one fetch a second.
pub const MIN_TTL: Duration = Duration::from_secs(1);
/// Least time between two fetches of one URL outside its cache lifetime.
pub const MIN_REFETCH: Duration = Duration::from_secs(10);
/// How long keys stay usable when refetching them fails.
pub const MAX_STALE: Duration = Duration::from_secs(3600);
/// Redirects followed.
pub const MAX_REDIRECTS: usize = 3;
/// URLs remembered; beyond this the least useful entries are dropped.
const MAX_ENTRIES: usize = 10_000;

/// Why a client's keys are not available.
#[derive(Debug, Clone, thiserror::Error)]
#[error("the client's jwks_uri could not be used: {0}")]
pub struct FetchError(pub String);

/// What one replica knows of a `jwks_uri` ([`ClientJwks::status`]).
#[derive(Debug, Clone, Default)]
pub struct JwksStatus {
    /// The last good fetch: how many keys it held, how long ago.
    pub fetched: Option<(usize, Duration)>,
    /// The last failed fetch: why, how long ago.
    pub failed: Option<(String, Duration)>,
}

/// A key set as published, with the lifetime its response gave it.
#[derive(Debug, Clone)]
struct Published {
    keys: Arc<ClientKeySet>,
    ttl: Duration,
}

/// How fetched documents are cached: for the lifetime their response states, a failed
/// fetch retried after [`MIN_REFETCH`] (last good value served meanwhile, for up to
/// `stale_for`), an early refetch on a refusal at most every [`MIN_REFETCH`].
pub fn fetched_policy<T>(
    capacity: usize,
    lifetime: fn(&T) -> Duration,
    stale_for: Duration,
) -> Policy<T> {
    Policy {
        lifetime: Lifetime::Stated(lifetime),
        capacity,
        backoff: MIN_REFETCH,
        stale_for,
        reread: Reread::IfOlder(MIN_REFETCH),
    }
}

/// What one replica knows of a fetched key set ([`ClientJwks::last_fetch`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LastFetch {
    /// How many keys the last good fetch gave.
    pub keys: Option<usize>,
    /// How long ago that fetch was.
    pub fetched_ago: Option<Duration>,
    /// Why the last failed fetch failed, while that failure is remembered (a later
    /// good fetch forgets it).
    pub error: Option<String>,
    /// How long ago it failed.
    pub failed_ago: Option<Duration>,
}

/// An entry's key: the URL, and the origin an operator named for it (if any), since
/// that decides what the fetch may reach. An origin's serialisation never holds a line
/// break, so the two cannot run into each other.
fn entry_key(named: Option<&Origin>, uri: &str) -> String {
    let origin = named.map(Origin::ascii_serialization).unwrap_or_default();
    format!("{origin}\n{uri}")
}

/// An HTTP client that connects only where its policy allows.
struct Reach {
    http: reqwest::Client,
    policy: FetchPolicy,
}

impl Reach {
    fn new(timeout: Duration, policy: FetchPolicy) -> Result<Reach, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            // Redirects are followed by hand: each hop is judged on its own.
            .redirect(reqwest::redirect::Policy::none())
            .dns_resolver(FilteringResolver::new(policy))
            .user_agent(concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Reach { http, policy })
    }
}

/// The fetcher and its cache.
pub struct ClientJwks {
    timeout: Duration,
    /// What URLs chosen by others (clients, remote issuers) may reach.
    chosen: Reach,
    /// What an operator-named origin may reach (private addresses too); `None` for
    /// clients' keys, where nothing is operator-named.
    named: Option<Reach>,
    entries: Cache<Published, FetchError>,
}

impl std::fmt::Debug for ClientJwks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientJwks").finish_non_exhaustive()
    }
}

impl ClientJwks {
    /// A fetcher with this time limit per fetch, reaching only what `policy` allows
    /// (checked on the URL, on each redirect, and on every resolved address).
    pub fn new(timeout: Duration, policy: FetchPolicy) -> Result<ClientJwks, reqwest::Error> {
        Ok(ClientJwks {
            timeout,
            chosen: Reach::new(timeout, policy)?,
            named: None,
            entries: Cache::new(fetched_policy(
                MAX_ENTRIES,
                |p: &Published| p.ttl,
                MAX_STALE,
            )),
        })
    }

    /// A fetcher for trusted issuers: like [`ClientJwks::new`], and an origin the
    /// operator named may also be a private address (`policy.allow_http` still holds).
    pub fn for_operators(
        timeout: Duration,
        policy: FetchPolicy,
    ) -> Result<ClientJwks, reqwest::Error> {
        let operator = FetchPolicy {
            allow_private: true,
            ..policy
        };
        Ok(ClientJwks {
            named: Some(Reach::new(timeout, operator)?),
            ..ClientJwks::new(timeout, policy)?
        })
    }

    /// The keys published at `uri`: cached while fresh, fetched otherwise.
    /// `missing_kid`: the cached set lacked the key an assertion names, so fetch early
    /// if the last fetch is at least `MIN_REFETCH` old.
    pub async fn keys(
        &self,
        uri: &str,
        missing_kid: bool,
    ) -> Result<Arc<ClientKeySet>, FetchError> {
        self.keys_named(uri, missing_kid, None).await
    }

    /// [`ClientJwks::keys`] for a URL at or learnt from `named`, an origin an operator
    /// gave (a trusted issuer's): hops to that origin may reach private addresses.
    pub async fn keys_named(
        &self,
        uri: &str,
        missing_kid: bool,
        named: Option<&Origin>,
    ) -> Result<Arc<ClientKeySet>, FetchError> {
        let key = entry_key(named, uri);
        let fetch = || self.fetch_keys(uri, named);
        let found = self.entries.get(&key, fetch).await?;
        if missing_kid {
            if let Some(newer) = self.entries.reread(&key, &found, fetch).await? {
                return Ok(newer.keys);
            }
        }
        Ok(found.value.keys)
    }

    /// What this replica knows of the keys at a client's `jwks_uri`, fetching nothing:
    /// the last good fetch (how many keys, how long ago) and the last failure (why, how
    /// long ago). Both `None` when no request has needed them here yet.
    pub fn status(&self, uri: &str) -> JwksStatus {
        let peek = self.entries.peek(&entry_key(None, uri));
        JwksStatus {
            fetched: peek.value.map(|(p, age)| (p.keys.len(), age)),
            failed: peek.failure.map(|(e, age)| (e.0, age)),
        }
    }

    /// What this replica last learnt from `uri` (fetched for `named`, as in
    /// [`ClientJwks::keys_named`]), without fetching: for operators' views.
    pub fn last_fetch(&self, uri: &str, named: Option<&Origin>) -> LastFetch {
        let peek = self.entries.peek(&entry_key(named, uri));
        let (keys, fetched_ago) = peek
            .value
            .map_or((None, None), |(p, age)| (Some(p.keys.len()), Some(age)));
        let (error, failed_ago) = peek
            .failure
            .map_or((None, None), |(e, age)| (Some(e.0), Some(age)));
        LastFetch {
            keys,
            fetched_ago,
            error,
            failed_ago,
        }
    }

    /// Fetches and parses the key set at `uri`.
    async fn fetch_keys(&self, uri: &str, named: Option<&Origin>) -> Result<Published, FetchError> {
        self.fetch_parsed(uri, named, ("jwks_uri", uri), |body, ttl| {
            let keys = ClientKeySet::parse(body, Strictness::Fetched).map_err(FetchError)?;
            Ok(Published {
                keys: Arc::new(keys),
                ttl,
            })
        })
        .await
    }

    /// [`ClientJwks::fetch_bytes_named`], the body read by `parse` (with the lifetime
    /// its response gave it); a failure is logged as `about`'s: a label and the URL it
    /// concerns (printed redacted).
    pub async fn fetch_parsed<T>(
        &self,
        uri: &str,
        named: Option<&Origin>,
        about: (&str, &str),
        parse: impl FnOnce(&[u8], Duration) -> Result<T, FetchError>,
    ) -> Result<T, FetchError> {
        let fetched = self
            .fetch_bytes_named(uri, named)
            .await
            .and_then(|(body, ttl)| parse(&body, ttl));
        if let Err(err) = &fetched {
            let (label, url) = about;
            log::warn!(
                "{label} {}: {}",
                crate::telemetry::redact::url(url),
                crate::telemetry::redact::urls_in(&err.0)
            );
        }
        fetched
    }

    /// GETs `uri` under this fetcher's rules (policy on every hop, one time limit for
    /// the whole fetch, at most three redirects, a 64 KiB cap): the body and how long
    /// it may be used (`Cache-Control`). `named`: an origin an operator gave, whose
    /// hops may reach private addresses (see [`ClientJwks::for_operators`]).
    pub async fn fetch_bytes_named(
        &self,
        uri: &str,
        named: Option<&Origin>,
    ) -> Result<(Vec<u8>, Duration), FetchError> {
        let url = Url::parse(uri).map_err(|_| FetchError("not a URL".into()))?;
        let span = span::outbound("GET", &url);
        let fetch = async {
            match tokio::time::timeout(self.timeout, self.follow(url, named, &span)).await {
                Ok(result) => result,
                Err(_) => Err(FetchError("timed out".into())),
            }
        };
        span.run_result(fetch, |_| Some("fetch")).await
    }

    /// Which client may fetch `url`: the operator's for an origin the operator named,
    /// else the one for URLs chosen by others.
    fn reach(&self, url: &Url, named: Option<&Origin>) -> &Reach {
        match (&self.named, named) {
            (Some(reach), Some(origin)) if url.origin() == *origin => reach,
            _ => &self.chosen,
        }
    }

    /// The request and its redirects, each hop judged by [`ClientJwks::reach`], in
    /// `span` (its `traceparent` sent along).
    async fn follow(
        &self,
        mut url: Url,
        named: Option<&Origin>,
        span: &Span,
    ) -> Result<(Vec<u8>, Duration), FetchError> {
        let fail = |m: String| FetchError(m);
        for hop in 0..=MAX_REDIRECTS {
            let reach = self.reach(&url, named);
            // Registration checked the first URL already; the settings may have
            // changed since, and a redirect's target is checked here only.
            if let Err(why) = reach.policy.check_url(&url) {
                return Err(fail(if hop == 0 {
                    format!("the URL {why}")
                } else {
                    format!("redirected to a URL that {why}")
                }));
            }
            let mut request = reach
                .http
                .get(url.clone())
                .header("accept", "application/jwk-set+json, application/json");
            for (name, value) in span.trace_headers() {
                request = request.header(name, value);
            }
            let response = request.send().await.map_err(|e| fail(describe(&e)))?;
            let status = response.status();
            span.set("http.response.status_code", i64::from(status.as_u16()));
            let redirect = matches!(status.as_u16(), 301 | 302 | 303 | 307 | 308);
            if !redirect {
                return read(response).await;
            }
            let location = response
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .ok_or_else(|| fail("a redirect without a usable Location".into()))?;
            url = url
                .join(location)
                .map_err(|_| fail("a redirect to something that is not a URL".into()))?;
        }
        Err(fail(format!("more than {MAX_REDIRECTS} redirects")))
    }
}

/// A final answer's body, if it is a success within the size cap, and its lifetime.
async fn read(response: reqwest::Response) -> Result<(Vec<u8>, Duration), FetchError> {
    let fail = |m: String| FetchError(m);
    if !response.status().is_success() {
        return Err(fail(format!(
            "answered HTTP {}",
            response.status().as_u16()
        )));
    }
    if response
        .content_length()
        .is_some_and(|n| n > MAX_JWKS_BYTES as u64)
    {
        return Err(fail(format!("the document is over {MAX_JWKS_BYTES} bytes")));
    }
    let ttl = response
        .headers()
        .get_all("cache-control")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect::<Vec<_>>()
        .join(",");
    let ttl = lifetime(&ttl);
    let mut body = Vec::new();
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| fail(describe(&e)))?;
        if body.len().saturating_add(chunk.len()) > MAX_JWKS_BYTES {
            return Err(fail(format!("the document is over {MAX_JWKS_BYTES} bytes")));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((body, ttl))
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        // The resolver's own refusal (a name with only non-public addresses) says why.
        let mut source = std::error::Error::source(e);
        while let Some(s) = source {
            let text = s.to_string();
            if text.contains("non-public") {
                return text;
            }
            source = s.source();
        }
        "cannot connect".into()
    } else {
        "the request failed".into()
    }
}

/// How long a response may be used, from its `Cache-Control` header (all its values,
/// comma-joined), clamped to [`MIN_TTL`, `MAX_TTL`].
pub fn lifetime(cache_control: &str) -> Duration {
    let mut ttl = None;
    for directive in cache_control.split(',').map(str::trim) {
        let (name, value) = directive.split_once('=').unwrap_or((directive, ""));
        match name.to_ascii_lowercase().as_str() {
            "no-store" | "no-cache" => return MIN_TTL,
            "max-age" => ttl = value.trim_matches('"').parse::<u64>().ok(),
            _ => {}
        }
    }
    ttl.map(Duration::from_secs)
        .unwrap_or(DEFAULT_TTL)
        .clamp(MIN_TTL, MAX_TTL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_control_decides_the_lifetime_within_bounds() {
        assert_eq!(lifetime("public, max-age=60"), Duration::from_secs(60));
        assert_eq!(lifetime(""), DEFAULT_TTL);
        assert_eq!(lifetime("max-age=0"), MIN_TTL);
        assert_eq!(lifetime("no-store"), MIN_TTL);
        assert_eq!(lifetime("max-age=99999999"), MAX_TTL);
        assert_eq!(lifetime("max-age=junk"), DEFAULT_TTL);
    }
}
