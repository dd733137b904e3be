//! One module per grant type; each turns an authenticated client and the request's
//! parameters into the claims of the token to issue.

pub mod client_credentials;
pub mod password;
pub mod refresh_token;
pub mod token_exchange;

use super::client::{GrantType, RegisteredClient};
use super::form::FormParams;
use super::scope::Scope;
use super::token::{AccessTokenClaims, Audience, TokenContext};
use super::ErrorCode;
use super::OAuthError;

/// Whether `client` may use `grant`: `unauthorized_client` (RFC 6749 §5.2) unless it is
/// registered with it. Asked once per token request, before the grant runs
/// (`service::issue::grant`), never by the grants themselves.
pub fn permitted(client: &RegisteredClient, grant: GrantType) -> Result<(), OAuthError> {
    if client.allows(grant) {
        Ok(())
    } else {
        Err(OAuthError::new(
            ErrorCode::UnauthorizedClient,
            format!("this client may not use the {} grant", grant.name()),
        ))
    }
}

/// Resolves the `aud` claim from RFC 8707 `resource` (repeatable) or `audience`.
///
/// A requested audience must be one of the client's; none requested means all of
/// them, or the issuer itself for a client registered without audiences.
pub fn resolve_audience(
    client: &RegisteredClient,
    params: &FormParams,
    issuer: &str,
) -> Result<Audience, OAuthError> {
    let mut requested: Vec<String> = params.get_all("resource").map(str::to_string).collect();
    if let Some(a) = params.get("audience") {
        if !requested.is_empty() {
            return Err(OAuthError::invalid_request(
                "use either resource or audience, not both",
            ));
        }
        requested.push(a.to_string());
    }
    if requested.is_empty() {
        return Ok(if client.audiences.is_empty() {
            Audience::One(issuer.to_string())
        } else {
            Audience::from_list(client.audiences.clone())
        });
    }
    requested.dedup();
    if let Some(bad) = requested.iter().find(|a| !client.audiences.contains(a)) {
        let shown: String = bad.chars().take(100).collect();
        return Err(OAuthError::new(
            ErrorCode::InvalidTarget,
            format!("audience {shown:?} is not registered for this client"),
        ));
    }
    Ok(Audience::from_list(requested))
}

/// Claims of an access token for user `user_id` through `client` (the password and
/// refresh grants): the audience as [`resolve_audience`] decides, the client's lifetime.
pub fn user_claims(
    client: &RegisteredClient,
    params: &FormParams,
    user_id: &str,
    scope: &Scope,
    ctx: &TokenContext<'_>,
    jti: String,
) -> Result<AccessTokenClaims, OAuthError> {
    let aud = resolve_audience(client, params, ctx.issuer)?;
    let ttl = client.access_token_ttl.unwrap_or(ctx.default_access_ttl);
    Ok(AccessTokenClaims::new(
        ctx,
        user_id.to_string(),
        client.client_id.clone(),
        aud,
        scope,
        ttl,
        jti,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_client_without_the_grant_is_unauthorized_for_every_grant() {
        for grant in GrantType::ALL {
            let others: Vec<GrantType> =
                GrantType::ALL.into_iter().filter(|g| *g != grant).collect();
            let without = RegisteredClient::for_tests("x", "", others);
            let e = permitted(&without, grant).expect_err("not registered with it");
            assert_eq!(e.code, ErrorCode::UnauthorizedClient);
            assert!(e.description.contains(grant.name()), "{}", e.description);
            let with = RegisteredClient::for_tests("x", "", vec![grant]);
            assert!(permitted(&with, grant).is_ok());
        }
    }
}
