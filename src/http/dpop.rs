//! DPoP (RFC 9449) where requests arrive: the request's proof checked for the endpoint
//! it was sent to. Every endpoint that issues tokens (`/oauth/token`, the simplejwt
//! endpoints) takes its proof and applies the client's `require_dpop` here; the admin
//! API, tessera's own resource server, checks a bound access token's proof here.

use crate::oauth::binding::{self, Constraint, Presented};
use crate::oauth::dpop::{self, Expected, Proof};
use crate::oauth::token::Confirmation;
use crate::oauth::{ErrorCode, OAuthError, RegisteredClient};
use crate::service::{now, AppState};
use actix_web::HttpRequest;

fn bad(m: &str) -> OAuthError {
    OAuthError::new(ErrorCode::InvalidDpopProof, m)
}

/// The request's one `DPoP` header, if any, as text.
fn header(req: &HttpRequest) -> Result<Option<&str>, OAuthError> {
    let mut headers = req.headers().get_all("dpop");
    let Some(value) = headers.next() else {
        return Ok(None);
    };
    if headers.next().is_some() {
        return Err(bad("more than one DPoP header"));
    }
    value
        .to_str()
        .map(Some)
        .map_err(|_| bad("the DPoP header is not ASCII"))
}

/// Checks the proof `value` for this request: `htm` its method, `htu` the issuer's base
/// and its path, and `ath` the hash of `access_token` when one is presented with it.
fn check_for_request(
    value: &str,
    req: &HttpRequest,
    state: &AppState,
    access_token: Option<&str>,
) -> Result<Proof, OAuthError> {
    let url = format!("{}{}", state.issuer, req.path());
    let expected = Expected {
        method: req.method().as_str(),
        url: &url,
        access_token,
    };
    dpop::check(value, expected, now(), &state.dpop_keys)
}

/// The proof of a request for tokens (signature, typ, alg, htm, htu, iat checked), or
/// `None` without one; a client registered with `require_dpop` must send one. Its
/// `jti` is not used up yet: the caller claims it once the request is acceptable.
pub fn issuing_proof(
    req: &HttpRequest,
    state: &AppState,
    client: &RegisteredClient,
) -> Result<Option<Proof>, OAuthError> {
    let proof = header(req)?
        .map(|value| check_for_request(value, req, state, None))
        .transpose()?;
    if client.require_dpop && proof.is_none() {
        return Err(bad("this client must present a DPoP proof"));
    }
    Ok(proof)
}

/// The proof that must accompany `token`, a sender-constrained access token (its
/// `cnf`), at a protected endpoint: by the token's own key, for this request, with the
/// token's hash as `ath` (the binding rule is [`binding::check`]'s). Its `jti` is not
/// used up yet.
pub fn resource_proof(
    req: &HttpRequest,
    state: &AppState,
    token: &str,
    cnf: &Confirmation,
) -> Result<Proof, OAuthError> {
    let presented = Presented::own("this access token", Some(Constraint::of(cnf)));
    let proof = header(req)?
        .map(|value| check_for_request(value, req, state, Some(token)))
        .transpose()?;
    let proof_jkt = proof.as_ref().map(|p| p.jkt.as_str());
    binding::check(&presented, proof_jkt, ErrorCode::InvalidDpopProof)?;
    proof.ok_or_else(|| bad("a DPoP-bound token needs a DPoP proof"))
}
