//! Client authentication at the token endpoint (RFC 6749 §2.3): extracting the
//! credentials a request carries, then checking them against the registered client.

use super::error::Challenge;
use super::form::FormParams;
use super::secret::{verify_secret, DUMMY_SECRET_HASH};
use super::{AuthMethod, OAuthError, RegisteredClient};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::percent_decode_str;

/// The credentials one request presents, by the one method it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCredentials {
    /// The claimed client id.
    pub client_id: String,
    /// The presented secret.
    pub secret: String,
    /// How they were presented.
    pub method: AuthMethod,
}

/// Reads the client's credentials from the `Authorization` header or the body.
///
/// Exactly one method per request: Basic and a body secret together are refused.
pub fn extract(
    authorization: Option<&str>,
    params: &FormParams,
) -> Result<PresentedCredentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    if let Some(header) = authorization {
        let basic_failure =
            |d: &str| OAuthError::invalid_client(d).with_challenge(Challenge::Basic);
        let (scheme, rest) = header.trim().split_once(' ').unwrap_or((header.trim(), ""));
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(basic_failure(
                "the token endpoint accepts only Basic authentication in the Authorization header",
            ));
        }
        if body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method (Basic and client_secret) in one request",
            ));
        }
        let decoded = STANDARD
            .decode(rest.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| basic_failure("malformed Basic credentials"))?;
        let (id, secret) = decoded
            .split_once(':')
            .ok_or_else(|| basic_failure("malformed Basic credentials"))?;
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding.
        let id = form_decode(id).ok_or_else(|| basic_failure("malformed Basic credentials"))?;
        let secret =
            form_decode(secret).ok_or_else(|| basic_failure("malformed Basic credentials"))?;
        if id.is_empty() {
            return Err(basic_failure("malformed Basic credentials"));
        }
        if body_id.is_some_and(|b| b != id) {
            return Err(OAuthError::invalid_request(
                "client_id in the body differs from the authenticated client",
            ));
        }
        return Ok(PresentedCredentials {
            client_id: id,
            secret,
            method: AuthMethod::ClientSecretBasic,
        });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(PresentedCredentials {
            client_id: id.to_string(),
            secret: secret.to_string(),
            method: AuthMethod::ClientSecretPost,
        }),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret without client_id",
        )),
        _ => Err(OAuthError::invalid_client("client authentication required")
            .with_challenge(Challenge::Basic)),
    }
}

fn form_decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let text = percent_decode_str(&s).decode_utf8().ok()?.into_owned();
    (!text.chars().any(char::is_control)).then_some(text)
}

/// Checks presented credentials against the client they name (`None`: no such client).
///
/// Unknown client and wrong secret fail alike and cost alike. Only a caller that
/// proved the secret learns that the client is disabled or used the wrong method.
pub fn authenticate<'c>(
    presented: &PresentedCredentials,
    client: Option<&'c RegisteredClient>,
) -> Result<&'c RegisteredClient, OAuthError> {
    let challenge = match presented.method {
        AuthMethod::ClientSecretBasic => Challenge::Basic,
        AuthMethod::ClientSecretPost => Challenge::None,
    };
    let failed =
        || OAuthError::invalid_client("client authentication failed").with_challenge(challenge);
    let stored = client
        .and_then(|c| c.secret_hash.as_deref())
        .unwrap_or(DUMMY_SECRET_HASH);
    let secret_ok = verify_secret(&presented.secret, stored);
    let client = match client {
        Some(c) if secret_ok => c,
        _ => return Err(failed()),
    };
    if client.disabled {
        return Err(OAuthError::invalid_client("client is disabled").with_challenge(challenge));
    }
    if client.auth_method != presented.method {
        return Err(OAuthError::invalid_client(format!(
            "this client must authenticate with {}",
            client.auth_method.as_str()
        ))
        .with_challenge(challenge));
    }
    Ok(client)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::secret::hash_secret;
    use crate::oauth::{ErrorCode, GrantType, Scope};

    fn params(body: &str) -> FormParams {
        FormParams::parse(body.as_bytes()).expect("valid form")
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn client(method: AuthMethod) -> RegisteredClient {
        RegisteredClient {
            client_id: "c1".into(),
            secret_hash: Some(hash_secret("s3cret")),
            auth_method: method,
            scope: Scope::default(),
            grant_types: vec![GrantType::ClientCredentials],
            audiences: vec![],
            access_token_ttl: None,
            refresh_token_ttl: None,
            refresh_reuse_grace: None,
            disabled: false,
            require_dpop: false,
        }
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        let p = extract(Some(&basic("my%20client", "a%2Bb")), &params("")).expect("valid");
        assert_eq!(p.client_id, "my client");
        assert_eq!(p.secret, "a+b");
        assert_eq!(p.method, AuthMethod::ClientSecretBasic);
    }

    #[test]
    fn two_methods_at_once_are_refused() {
        let e = extract(
            Some(&basic("c1", "x")),
            &params("client_id=c1&client_secret=x"),
        )
        .expect_err("two methods");
        assert_eq!(e.code, ErrorCode::InvalidRequest);
    }

    #[test]
    fn malformed_basic_is_invalid_client_with_challenge() {
        for h in ["Basic !!!", "Basic ", "Bearer abc", "Basic Y2xpZW50"] {
            let e = extract(Some(h), &params("")).expect_err(h);
            assert_eq!(e.code, ErrorCode::InvalidClient, "{h}");
            assert_eq!(e.challenge, Challenge::Basic, "{h}");
        }
    }

    #[test]
    fn unknown_client_and_wrong_secret_look_the_same() {
        let c = client(AuthMethod::ClientSecretBasic);
        let wrong = PresentedCredentials {
            client_id: "c1".into(),
            secret: "nope".into(),
            method: AuthMethod::ClientSecretBasic,
        };
        let a = authenticate(&wrong, Some(&c)).expect_err("wrong secret");
        let b = authenticate(&wrong, None).expect_err("unknown");
        assert_eq!(a, b);
    }

    #[test]
    fn the_registered_method_is_enforced() {
        let c = client(AuthMethod::ClientSecretBasic);
        let post = PresentedCredentials {
            client_id: "c1".into(),
            secret: "s3cret".into(),
            method: AuthMethod::ClientSecretPost,
        };
        let e = authenticate(&post, Some(&c)).expect_err("wrong method");
        assert!(e.description.contains("client_secret_basic"));
        let ok = PresentedCredentials {
            method: AuthMethod::ClientSecretBasic,
            ..post
        };
        assert!(authenticate(&ok, Some(&c)).is_ok());
    }
}
