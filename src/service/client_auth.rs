//! Client authentication for every endpoint that takes it (token, introspection,
//! revocation): a secret (HTTP Basic or the form), checked against the cached client,
//! or a `private_key_jwt` assertion verified with the client's registered or published
//! keys; and the single-use JWT ids (assertions, DPoP proofs) used up in the database.

use crate::db::models::used_jti;
use crate::oauth::client_assertion::{self, Assertion, AssertionPolicy, Rejection};
use crate::oauth::client_auth::{authenticate, extract, Credential};
use crate::oauth::client_keys::ClientKeySet;
use crate::oauth::form::FormParams;
use crate::oauth::{ClientKeys, ErrorCode, OAuthError, RegisteredClient};
use crate::service::federation::{self, OutsideIdentity};
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
        let (client, outside) = federation::authenticate(state, token, *spiffe, id).await?;
        return Ok(Authenticated {
            client,
            pending_jti: None,
            outside: Some(outside),
        });
    }
    let found = state
        .clients
        .lookup(&state.pool, &presented.client_id)
        .await?;
    if let Credential::Assertion(assertion) = &presented.credential {
        let endpoint = format!("{}{path}", state.issuer);
        let endpoints = [state.token_endpoint.as_str(), endpoint.as_str()];
        let audience = AssertionPolicy {
            issuer: &state.issuer,
            legacy_endpoints: if state.settings.legacy_assertion_audience {
                &endpoints
            } else {
                &[]
            },
            max_lifetime: state.settings.client_assertion_max_lifetime,
        };
        let client = found.ok_or_else(no_key)?;
        let checked = verify_assertion(state, &client, assertion, audience).await?;
        if client.disabled {
            return Err(OAuthError::invalid_client("client is disabled"));
        }
        let key = client_assertion::replay_key(&client.client_id, &checked.jti);
        return Ok(Authenticated {
            client,
            pending_jti: Some((key, checked.expires_at)),
            outside: None,
        });
    }
    authenticate(&presented, found.as_deref(), now())?;
    let client = found.ok_or_else(|| OAuthError::invalid_client("client authentication failed"))?;
    Ok(Authenticated {
        client,
        pending_jti: None,
        outside: None,
    })
}

/// The answer when no key can verify an assertion; the same whether the client does
/// not exist, uses a secret, or has no key with the assertion's `kid` and `alg`.
fn no_key() -> OAuthError {
    OAuthError::invalid_client(
        "invalid client assertion: no registered key of the client matches its kid and alg",
    )
}

async fn verify_assertion(
    state: &AppState,
    client: &RegisteredClient,
    assertion: &str,
    audience: AssertionPolicy<'_>,
) -> Result<Assertion, OAuthError> {
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
                    .map_err(|e| OAuthError::invalid_client(e.to_string()))
            };
            match verify(&*published(false).await?) {
                Err(Rejection::NoKey) => verify(&*published(true).await?),
                other => other,
            }
        }
        ClientKeys::None => Err(Rejection::NoKey),
    };
    verdict.map_err(|r| match r {
        Rejection::NoKey => no_key(),
        Rejection::Invalid(e) => e,
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
    match replayed.map(|i| names[i].as_str()) {
        None => Ok(()),
        Some(key) if key.starts_with("dpop:") => Err(OAuthError::new(
            ErrorCode::InvalidDpopProof,
            "invalid DPoP proof: its jti was already used",
        )),
        Some(_) => Err(OAuthError::invalid_client(
            "invalid client assertion: its jti was already used",
        )),
    }
}
