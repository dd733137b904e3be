//! Issuing, grant → claims → signature: the grants as units of work, the context claims
//! are built in (issuer, clock, default lifetime), the DPoP binding and the signature
//! with the current key, shared by every endpoint that hands out tokens.

use crate::oauth::binding;
use crate::oauth::certificate::PresentedCertificate;
use crate::oauth::dpop::{self, Proof};
use crate::oauth::form::FormParams;
use crate::oauth::grant::{
    self as grants, client_credentials, password, refresh_token, token_exchange, user_claims,
};
use crate::oauth::secret::random_token;
use crate::oauth::simplejwt;
use crate::oauth::token::{encode_jwt, AccessTokenClaims, TokenContext};
use crate::oauth::{ErrorCode, GrantType, OAuthError, RegisteredClient};
use crate::service::access::{self, AccessToken};
use crate::service::client_auth::claim_jtis;
use crate::service::federation::OutsideIdentity;
use crate::service::{login, sessions};
use crate::service::{now, AppState};

/// The context a grant builds claims in, now.
pub fn context(state: &AppState) -> TokenContext<'_> {
    TokenContext {
        issuer: &state.issuer,
        now: now(),
        default_access_ttl: state.settings.tokens.access_token_ttl,
    }
}

/// Signs `claims` with the current key.
pub fn sign(state: &AppState, claims: &AccessTokenClaims) -> Result<String, OAuthError> {
    let keys = state.keys.snapshot();
    let signer = keys.signer.as_ref().ok_or_else(|| {
        log::error!("no signing key is loaded");
        OAuthError::unavailable()
    })?;
    let span = crate::telemetry::span::internal("sign token");
    span.set_with("tessera.signing_key.kid", || signer.kid().to_string());
    encode_jwt(signer.as_ref(), claims).map_err(|e| {
        log::error!("{e}");
        span.fail("sign");
        OAuthError::server_error()
    })
}

/// A token request as an endpoint received it: the authenticated client, the grant and
/// its parameters, the DPoP proof (checked, its `jti` not used up yet) and how to learn
/// where it came from (asked only by grants that throttle logins, so the token
/// endpoint's hot path never works it out).
pub struct TokenRequest<'a> {
    /// The authenticated client.
    pub client: &'a RegisteredClient,
    /// The grant asked for.
    pub grant: GrantType,
    /// Its parameters.
    pub params: &'a FormParams,
    /// A checked DPoP proof, if the request carried one.
    pub proof: Option<Proof>,
    /// The client assertion's replay-cache entry, not claimed yet.
    pub pending_jti: Option<(String, i64)>,
    /// A federated client's outside identity, carried as `ext`.
    pub outside: Option<&'a OutsideIdentity>,
    /// The client's address, for login throttling.
    pub client_addr: &'a dyn Fn() -> String,
    /// The client certificate the connection presented (RFC 8705), if any.
    pub certificate: Option<&'a PresentedCertificate>,
}

/// What a grant issued.
#[derive(Debug)]
pub struct Issued {
    /// The access token's claims.
    pub claims: AccessTokenClaims,
    /// The signed access token.
    pub access_token: String,
    /// A refresh token, for the password and refresh grants.
    pub refresh_token: Option<String>,
    /// Token exchange's `issued_token_type` (RFC 8693 §2.2.1).
    pub issued_token_type: Option<&'static str>,
}

/// Runs a grant: its rule, its units of work, the DPoP binding, the signature. Every
/// endpoint that hands out tokens (`/oauth/token`, the simplejwt endpoints) comes here.
/// Single-use ids (assertion, proof) are used up once the request is known to be
/// acceptable and before anything else is written: a refused request uses up nothing.
pub async fn grant(state: &AppState, req: TokenRequest<'_>) -> Result<Issued, OAuthError> {
    let TokenRequest {
        client,
        grant,
        params,
        proof,
        pending_jti,
        outside,
        client_addr,
        certificate: _,
    } = req;
    grants::permitted(client, grant)?;
    let jkt = proof.as_ref().map(|p| p.jkt.clone());
    let mut jtis: Vec<(String, i64)> = pending_jti.into_iter().collect();
    jtis.extend(proof.iter().map(dpop::replay_entry));
    let ctx = context(state);
    // The user a user grant is for: (tessera id, external id).
    let user: Option<(String, Option<String>)>;
    let mut issued_token_type = None;
    // Each grant decides the binding of what it issues through `binding::issued`, from
    // what the request presented and its proof: a bound credential never yields a
    // bearer token.
    let code = ErrorCode::InvalidDpopProof;
    let (mut claims, refresh_token, cnf) = match grant {
        GrantType::ClientCredentials => {
            let mut claims = client_credentials::grant(client, params, &ctx, random_token(16))?;
            claims.ext = outside.map(OutsideIdentity::claim);
            let cnf = binding::issued(&[], jkt.as_deref(), code)?;
            claim_jtis(state, jtis).await?;
            user = None;
            (claims, None, cnf)
        }
        GrantType::Password => {
            let login = password::request(client, params)?;
            let cnf = binding::issued(&[], jkt.as_deref(), code)?;
            claim_jtis(state, jtis).await?;
            let logged_in = login::authenticate(state, &login, &client_addr()).await?;
            let claims = user_claims(
                client,
                params,
                &logged_in.id,
                &login.scope,
                &ctx,
                random_token(16),
            )?;
            let refresh = if client.allows(GrantType::RefreshToken) {
                // The family is bound as its first access token is.
                let bound = cnf.as_ref().and_then(|c| c.jkt.as_deref());
                Some(sessions::start(state, client, &logged_in.id, &login.scope, bound).await?)
            } else {
                None
            };
            user = Some((logged_in.id, logged_in.external_id));
            (claims, refresh, cnf)
        }
        GrantType::RefreshToken => {
            let presented = refresh_token::presented(params)?;
            if !jtis.is_empty() {
                // Before the proof or assertion is used up: a refresh that will be
                // refused (wrong key, unknown token, wider scope…) costs nothing.
                let check = sessions::claims_on_refresh(client.clone(), params.clone(), state);
                sessions::check_before_use(state, client, presented, jkt.as_deref(), check).await?;
            }
            claim_jtis(state, jtis).await?;
            let check = sessions::claims_on_refresh(client.clone(), params.clone(), state);
            let rotated = sessions::rotate(state, client, presented, jkt.as_deref(), check).await?;
            let family = rotated.family;
            user = Some((family.user_id, family.user_external_id));
            (rotated.decided, Some(rotated.successor), rotated.cnf)
        }
        GrantType::TokenExchange => {
            let exchange = token_exchange::request(params)?;
            let subject = active_token(state, exchange.subject_token, "subject_token").await?;
            let actor = match exchange.actor_token {
                Some(t) => Some(active_token(state, t, "actor_token").await?),
                None => None,
            };
            let claims = token_exchange::claims(
                client,
                params,
                &subject,
                actor.as_deref(),
                &ctx,
                random_token(16),
            )?;
            let cnf = token_exchange::binding(&subject, actor.as_deref(), jkt.as_deref())?;
            claim_jtis(state, jtis).await?;
            issued_token_type = Some(exchange.issued_token_type);
            user = None;
            (claims, None, cnf)
        }
    };
    claims.cnf = cnf;
    let simplejwt_client =
        state.settings.tokens.simplejwt_client.as_deref() == Some(&client.client_id);
    if let Some((id, external_id)) = user.filter(|_| simplejwt_client) {
        simplejwt::add_claims(&mut claims, &id, external_id.as_deref());
    }
    let access_token = sign(state, &claims)?;
    state
        .metrics
        .token_issued(grant.as_str(), &client.client_id);
    state.usage.token_issued(&client.client_id, ctx.now);
    Ok(Issued {
        claims,
        access_token,
        refresh_token,
        issued_token_type,
    })
}

/// A token presented for exchange: one of this server's active access tokens, else
/// `invalid_request` (RFC 8693 §2.2.2), whatever is wrong with it.
async fn active_token(
    state: &AppState,
    token: &str,
    name: &str,
) -> Result<Box<AccessTokenClaims>, OAuthError> {
    if token.len() > access::MAX_PRESENTED_TOKEN {
        return Err(OAuthError::invalid_request(format!("{name} is too long")));
    }
    match access::check(state, token).await? {
        AccessToken::Active(claims) => Ok(claims),
        AccessToken::NotOurs | AccessToken::Inactive => Err(OAuthError::invalid_request(format!(
            "{name} is not an active access token of this server"
        ))),
    }
}
