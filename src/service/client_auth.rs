//! Client authentication for every endpoint that takes it (token, introspection,
//! revocation): a secret (HTTP Basic or the form), checked against the cached client,
//! or a `private_key_jwt` assertion verified with the client's registered or published
//! keys (the cached client is read again before either is refused); and the
//! single-use JWT ids (assertions, DPoP proofs) used up in the database.

use crate::config::clients::AssertionAudience;
use crate::db::models::used_jti;
use crate::oauth::client_assertion::{self, Assertion, AssertionPolicy, Rejection};
use crate::oauth::client_auth::{
    authenticate, extract, refuse_disabled, Credential, PresentedCredentials,
};
use crate::oauth::client_keys::ClientKeySet;
use crate::oauth::form::FormParams;
use crate::oauth::{ClientKeys, ErrorCode, OAuthError, RegisteredClient};
use crate::service::federation::OutsideIdentity;
use crate::service::{now, AppState};
use crate::telemetry::span;
use std::sync::Arc;

/// A client that proved who it is; an assertion's `jti` is not used up yet.
#[derive(Debug)]
pub struct Authenticated {
    /// The client.
    pub client: Arc<RegisteredClient>,
    /// The replay-cache entry to claim (`private_key_jwt`): key and until when.
    pub pending_jti: Option<(String, i64)>,
    /// A federated client's outside identity (the token's `ext` claim).
    pub outside: Option<OutsideIdentity>,
}

/// The client a request to `path` authenticated as, or the RFC 6749 `invalid_client`
/// error; `authorization` is its `Authorization` header. The caller claims
/// `pending_jti` (with [`claim_jtis`]) once the rest of the request is known to be
/// acceptable, so a request refused for another reason uses up nothing.
pub async fn authenticate_client(
    state: &AppState,
    authorization: Option<&str>,
    path: &str,
    params: &FormParams,
) -> Result<Authenticated, OAuthError> {
    let span = span::internal("client authentication");
    let result = span
        .run(check_credentials(state, authorization, path, params))
        .await;
    match &result {
        Ok(a) => span.set_with("tessera.client_id", || a.client.client_id.clone()),
        Err(e) => {
            span.set("tessera.oauth.error", e.code.as_str());
            if e.code == ErrorCode::InvalidClient {
                state.metrics.client_auth_failures.inc();
            }
        }
    }
    result
}

/// The credentials' check itself, in the span of [`authenticate_client`].
async fn check_credentials(
    state: &AppState,
    authorization: Option<&str>,
    path: &str,
    params: &FormParams,
) -> Result<Authenticated, OAuthError> {
    let presented = extract(authorization, params)?;
    span::annotate("tessera.client_auth.method", presented.method.as_str());
    if let Credential::Platform { token, spiffe } = &presented.credential {
        let id = Some(presented.client_id.as_str()).filter(|id| !id.is_empty());
        let (client, outside) = state.federation.authenticate(token, *spiffe, id).await?;
        return Ok(Authenticated {
            client,
            pending_jti: None,
            outside: Some(outside),
        });
    }
    // Refused on what the cache remembers (no such client, another secret, no key with
    // the assertion's kid): look at the database once more first, so a client made or
    // changed elsewhere works at once (at most one read a second per client id).
    let found = state
        .clients
        .find(&state.pool, &presented.client_id)
        .await?;
    match check_client(state, &presented, found.value.clone(), path).await {
        Err(refused) if refused.stored => {
            match state
                .clients
                .reread(&state.pool, &presented.client_id, &found)
                .await?
            {
                Some(current) => check_client(state, &presented, current, path)
                    .await
                    .map_err(|r| r.error),
                None => Err(refused.error),
            }
        }
        checked => checked.map_err(|r| r.error),
    }
}

/// A refused credential, and whether the stored client decided it (so a newer one
/// might not): an unknown id, another secret, no fitting key, a disabled client. A
/// `jwks_uri` that cannot be fetched is not the stored client's say.
struct Refused {
    error: OAuthError,
    stored: bool,
}

impl From<OAuthError> for Refused {
    fn from(error: OAuthError) -> Self {
        let stored = error.code == ErrorCode::InvalidClient;
        Refused { error, stored }
    }
}

/// Checks a secret or a `private_key_jwt` assertion against `found`, the stored client
/// with the presented id (`None`: no such client), then refuses a disabled client:
/// the one place that rule is asked for a client that proved who it is (a federated
/// client's binding never picks a disabled one, see `oauth::federation`).
async fn check_client(
    state: &AppState,
    presented: &PresentedCredentials,
    found: Option<Arc<RegisteredClient>>,
    path: &str,
) -> Result<Authenticated, Refused> {
    let authenticated = check_credential(state, presented, found, path).await?;
    refuse_disabled(presented, &authenticated.client)?;
    Ok(authenticated)
}

/// The credential's own check, in [`check_client`].
async fn check_credential(
    state: &AppState,
    presented: &PresentedCredentials,
    found: Option<Arc<RegisteredClient>>,
    path: &str,
) -> Result<Authenticated, Refused> {
    if let Credential::Assertion(assertion) = &presented.credential {
        let endpoint = format!("{}{path}", state.issuer);
        let endpoints = [state.token_endpoint.as_str(), endpoint.as_str()];
        let audience = AssertionPolicy {
            issuer: &state.issuer,
            legacy_endpoints: if state.settings.clients.assertion_audience
                == AssertionAudience::Legacy
            {
                &endpoints
            } else {
                &[]
            },
            max_lifetime: state.settings.clients.client_assertion_max_lifetime,
        };
        let client = found.ok_or_else(no_key)?;
        let checked = verify_assertion(state, &client, assertion, audience).await?;
        let key = client_assertion::replay_key(&client.client_id, &checked.jti);
        return Ok(Authenticated {
            client,
            pending_jti: Some((key, checked.expires_at)),
            outside: None,
        });
    }
    authenticate(presented, found.as_deref(), now())?;
    let client = found
        .ok_or_else(|| Refused::from(OAuthError::invalid_client("client authentication failed")))?;
    Ok(Authenticated {
        client,
        pending_jti: None,
        outside: None,
    })
}

/// The answer when no key can verify an assertion; the same whether the client does
/// not exist, uses a secret, or has no key with the assertion's `kid` and `alg`.
fn no_key() -> OAuthError {
    OAuthError::invalid_client(format!(
        "invalid client assertion: {}",
        client_assertion::NO_KEY_VERIFIES
    ))
}

async fn verify_assertion(
    state: &AppState,
    client: &RegisteredClient,
    assertion: &str,
    audience: AssertionPolicy<'_>,
) -> Result<Assertion, Refused> {
    let id = client.client_id.as_str();
    let verify =
        |keys: &ClientKeySet| client_assertion::verify(assertion, id, keys, audience, now());
    let verdict = match &client.keys {
        ClientKeys::Inline(keys) => verify(keys),
        ClientKeys::Uri(uri) => {
            let published = |missing_kid| async move {
                state
                    .client_jwks
                    .keys(uri, missing_kid)
                    .await
                    .map_err(|e| Refused {
                        error: OAuthError::invalid_client(e.to_string()),
                        stored: false,
                    })
            };
            match verify(&*published(false).await?) {
                Err(Rejection::NoKey) => verify(&*published(true).await?),
                other => other,
            }
        }
        ClientKeys::None => Err(Rejection::NoKey),
    };
    verdict.map_err(|r| match r {
        Rejection::NoKey => no_key().into(),
        Rejection::Invalid(e) => e.into(),
    })
}

/// Uses up single-use JWT ids (assertion and DPoP proof) in the database, all or none,
/// so a replay on any replica fails. `Err` names the one that was used before.
pub async fn claim_jtis(state: &AppState, keys: Vec<(String, i64)>) -> Result<(), OAuthError> {
    if keys.is_empty() {
        return Ok(());
    }
    let names: Vec<String> = keys.iter().map(|(k, _)| k.clone()).collect();
    let replayed = state
        .write("claim jtis", move |conn| {
            Ok(used_jti::claim_all(conn, &keys)?)
        })
        .await?;
    match replayed {
        None => Ok(()),
        Some(i) if names.get(i).is_some_and(|key| key.starts_with("dpop:")) => {
            Err(OAuthError::new(
                ErrorCode::InvalidDpopProof,
                "invalid DPoP proof: its jti was already used",
            ))
        }
        Some(_) => Err(OAuthError::invalid_client(
            "invalid client assertion: its jti was already used",
        )),
    }
}
