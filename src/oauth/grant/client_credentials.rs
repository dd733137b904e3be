//! `grant_type=client_credentials` (RFC 6749 §4.4): the client acts for itself.

use crate::oauth::form::FormParams;
use crate::oauth::grant::resolve_audience;
use crate::oauth::scope;
use crate::oauth::token::{AccessTokenClaims, TokenContext};
use crate::oauth::{OAuthError, RegisteredClient};

/// Decides the claims of a client_credentials token for an authenticated client.
pub fn grant(
    client: &RegisteredClient,
    params: &FormParams,
    ctx: &TokenContext<'_>,
    jti: String,
) -> Result<AccessTokenClaims, OAuthError> {
    let scope = scope::resolve(params.get("scope"), &client.scope)?;
    let aud = resolve_audience(client, params, ctx.issuer)?;
    let ttl = client.access_token_ttl.unwrap_or(ctx.default_access_ttl);
    Ok(AccessTokenClaims::new(
        ctx,
        client.client_id.clone(),
        client.client_id.clone(),
        aud,
        &scope,
        ttl,
        jti,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::token::Audience;
    use crate::oauth::{ErrorCode, GrantType};

    fn client() -> RegisteredClient {
        RegisteredClient {
            audiences: vec!["https://api.example".into(), "billing".into()],
            access_token_ttl: Some(60),
            ..RegisteredClient::for_tests("svc", "read write", vec![GrantType::ClientCredentials])
        }
    }

    const CTX: TokenContext<'static> = TokenContext {
        issuer: "http://issuer",
        now: 1_700_000_000,
        default_access_ttl: 300,
    };

    fn run(body: &str) -> Result<AccessTokenClaims, OAuthError> {
        let params = FormParams::parse(body.as_bytes()).expect("form");
        grant(&client(), &params, &CTX, "jti".into())
    }

    #[test]
    fn defaults_to_all_scopes_and_audiences_with_the_client_ttl() {
        let c = run("grant_type=client_credentials").expect("grant");
        assert_eq!(c.sub, "svc");
        assert_eq!(c.scope, "read write");
        assert_eq!(c.exp - c.iat, 60);
        assert_eq!(
            c.aud,
            Audience::Many(vec!["https://api.example".into(), "billing".into()])
        );
    }

    #[test]
    fn resource_and_audience_narrow_the_aud_claim() {
        assert_eq!(
            run("resource=billing").expect("grant").aud,
            Audience::One("billing".into())
        );
        assert_eq!(
            run("audience=billing").expect("grant").aud,
            Audience::One("billing".into())
        );
        assert_eq!(
            run("resource=other").expect_err("unknown").code,
            ErrorCode::InvalidTarget
        );
    }

    #[test]
    fn scope_outside_the_clients_is_invalid_scope() {
        assert_eq!(
            run("scope=admin").expect_err("excess").code,
            ErrorCode::InvalidScope
        );
        assert_eq!(run("scope=read").expect("grant").scope, "read");
    }
}
