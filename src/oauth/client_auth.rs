//! Client authentication at the token endpoint (RFC 6749 §2.3): extracting the
//! credentials a request carries, then checking them against the registered client.

use super::client::MAX_CLIENT_ID_LEN;
use super::client_assertion::{self, ASSERTION_TYPE};
use super::error::Challenge;
use super::federation::SPIFFE_ASSERTION_TYPE;
use super::form::FormParams;
use super::secret::{SecretDigest, DUMMY_SECRET_HASH};
use super::{AuthMethod, OAuthError, RegisteredClient};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use percent_encoding::percent_decode_str;

/// A shared secret as a request carried it. RFC 6749 §2.3.1 has HTTP Basic carry id
/// and secret form-encoded, and some clients do (the `oauth2` crate, openid-client);
/// most send the secret as it is (curl `-u`, requests, authlib). A secret with `+`, `%`
/// or `:` reads differently either way, so a Basic secret is checked in both readings,
/// each in constant time. Whether there is a second reading depends only on what the
/// client sent, never on the stored secret, so it tells the sender nothing. A form
/// body's secret has one reading.
#[derive(Clone, PartialEq, Eq)]
pub struct PresentedSecret {
    decoded: String,
    as_sent: Option<String>,
}

impl PresentedSecret {
    /// A secret with one reading (the form body's, already decoded by the form parser).
    pub fn new(secret: impl Into<String>) -> PresentedSecret {
        PresentedSecret {
            decoded: secret.into(),
            as_sent: None,
        }
    }

    /// Both readings of a Basic secret: form-decoded, and as sent when that differs.
    fn basic(as_sent: &str, decoded: String) -> PresentedSecret {
        PresentedSecret {
            as_sent: (as_sent != decoded).then(|| as_sent.to_string()),
            decoded,
        }
    }

    /// The readings to check: the decoded secret, and the secret as sent when that
    /// reads differently.
    pub fn readings(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.decoded.as_str()).chain(self.as_sent.as_deref())
    }
}

/// What a client presents to prove who it is.
#[derive(Clone, PartialEq, Eq)]
pub enum Credential {
    /// A shared secret (Basic or form body).
    Secret(PresentedSecret),
    /// A signed JWT (`private_key_jwt`), not yet verified.
    Assertion(String),
    /// A federated client's platform token (an outside issuer's JWT), as its
    /// client assertion; `spiffe`: sent as a JWT-SVID (`…:jwt-spiffe`).
    Platform {
        /// The token.
        token: String,
        /// Sent with the `jwt-spiffe` assertion type.
        spiffe: bool,
    },
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print a secret, even in a debug log.
        match self {
            Credential::Secret(_) => f.write_str("Secret(..)"),
            Credential::Assertion(_) => f.write_str("Assertion(..)"),
            Credential::Platform { spiffe, .. } => write!(f, "Platform(spiffe={spiffe}, ..)"),
        }
    }
}

/// The credentials one request presents, by the one method it used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentedCredentials {
    /// The claimed client id.
    pub client_id: String,
    /// The presented credential.
    pub credential: Credential,
    /// How it was presented.
    pub method: AuthMethod,
}

impl PresentedCredentials {
    /// The challenge a refusal carries: `Basic` when the credentials came that way.
    pub fn challenge(&self) -> Challenge {
        match self.method {
            AuthMethod::ClientSecretBasic => Challenge::Basic,
            _ => Challenge::None,
        }
    }
}

/// A disabled client is refused, however it proved who it is (secret or assertion).
/// Asked once, by the service layer, after the credential was proved: only a caller
/// that proved it learns that the client is disabled.
pub fn refuse_disabled(
    presented: &PresentedCredentials,
    client: &RegisteredClient,
) -> Result<(), OAuthError> {
    if client.disabled {
        Err(OAuthError::invalid_client("client is disabled").with_challenge(presented.challenge()))
    } else {
        Ok(())
    }
}

/// Reads the client's credentials from the `Authorization` header or the body.
///
/// Exactly one method per request: Basic, a body secret and a client assertion
/// exclude each other. A client id longer than [`MAX_CLIENT_ID_LEN`] is
/// `invalid_client` at once: no client has one, so it is never looked up or cached.
pub fn extract(
    authorization: Option<&str>,
    params: &FormParams,
) -> Result<PresentedCredentials, OAuthError> {
    let presented = extract_any(authorization, params)?;
    if presented.client_id.len() > MAX_CLIENT_ID_LEN {
        return Err(OAuthError::invalid_client(format!(
            "client_id longer than {MAX_CLIENT_ID_LEN} characters"
        ))
        .with_challenge(presented.challenge()));
    }
    Ok(presented)
}

fn extract_any(
    authorization: Option<&str>,
    params: &FormParams,
) -> Result<PresentedCredentials, OAuthError> {
    let body_id = params.get("client_id");
    let body_secret = params.get("client_secret");
    let assertion_type = params.get("client_assertion_type");
    let assertion = params.get("client_assertion");
    if assertion_type.is_some() || assertion.is_some() {
        if authorization.is_some() || body_secret.is_some() {
            return Err(OAuthError::invalid_request(
                "more than one client authentication method (a client assertion and a secret) in one request",
            ));
        }
        return extract_assertion(assertion_type, assertion, body_id);
    }
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
        // RFC 6749 §2.3.1: id and secret are form-urlencoded before Basic encoding; the
        // secret is also taken as sent (see `PresentedSecret`). Client ids never hold
        // `+` or `%`, so they have one reading.
        let id = form_decode(id).ok_or_else(|| basic_failure("malformed Basic credentials"))?;
        let decoded = form_decode(secret).unwrap_or_else(|| secret.to_string());
        if secret.chars().any(char::is_control) || decoded.chars().any(char::is_control) {
            return Err(basic_failure("malformed Basic credentials"));
        }
        let secret = PresentedSecret::basic(secret, decoded);
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
            credential: Credential::Secret(secret),
            method: AuthMethod::ClientSecretBasic,
        });
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(PresentedCredentials {
            client_id: id.to_string(),
            credential: Credential::Secret(PresentedSecret::new(secret)),
            method: AuthMethod::ClientSecretPost,
        }),
        (None, Some(_)) => Err(OAuthError::invalid_request(
            "client_secret without client_id",
        )),
        _ => Err(OAuthError::invalid_client("client authentication required")
            .with_challenge(Challenge::Basic)),
    }
}

/// RFC 7523 §2.2: `client_assertion_type` and `client_assertion`; the client is the
/// assertion's `iss`/`sub`, and a `client_id` parameter, if sent, must agree.
fn extract_assertion(
    assertion_type: Option<&str>,
    assertion: Option<&str>,
    body_id: Option<&str>,
) -> Result<PresentedCredentials, OAuthError> {
    let spiffe = match assertion_type {
        Some(ASSERTION_TYPE) => false,
        Some(SPIFFE_ASSERTION_TYPE) => true,
        Some(_) => {
            return Err(OAuthError::invalid_client(format!(
                "unsupported client_assertion_type (supported: {ASSERTION_TYPE}, \
                 {SPIFFE_ASSERTION_TYPE})"
            )))
        }
        None => return Err(OAuthError::invalid_request("missing client_assertion_type")),
    };
    let assertion = assertion
        .filter(|a| !a.is_empty())
        .ok_or_else(|| OAuthError::invalid_request("missing client_assertion"))?;
    // A client's own assertion has iss = sub = its id; anything else (a JWT-SVID, a
    // platform token whose iss is an outside issuer) is a federated client's. (The
    // caller caps the client_id's length for both.)
    let claimed = if spiffe {
        None
    } else {
        client_assertion::claimed_client(assertion)?
    };
    let Some(client_id) = claimed else {
        return Ok(PresentedCredentials {
            client_id: body_id.unwrap_or_default().to_string(),
            credential: Credential::Platform {
                token: assertion.to_string(),
                spiffe,
            },
            method: AuthMethod::Federated,
        });
    };
    if body_id.is_some_and(|b| b != client_id) {
        return Err(OAuthError::invalid_client(
            "client_id differs from the client assertion's iss and sub",
        ));
    }
    Ok(PresentedCredentials {
        client_id,
        credential: Credential::Assertion(assertion.to_string()),
        method: AuthMethod::PrivateKeyJwt,
    })
}

fn form_decode(s: &str) -> Option<String> {
    let s = s.replace('+', " ");
    let text = percent_decode_str(&s).decode_utf8().ok()?.into_owned();
    (!text.chars().any(char::is_control)).then_some(text)
}

/// Checks a presented secret against the client it names (`None`: no such client).
/// Client assertions are verified by the caller, which may have to fetch keys.
///
/// Unknown client and wrong secret fail alike and cost alike. Only a caller that
/// proved the secret learns that it used the wrong method; whether the client is
/// disabled is the caller's question ([`refuse_disabled`]).
pub fn authenticate<'c>(
    presented: &PresentedCredentials,
    client: Option<&'c RegisteredClient>,
    now: i64,
) -> Result<&'c RegisteredClient, OAuthError> {
    let challenge = presented.challenge();
    let failed =
        || OAuthError::invalid_client("client authentication failed").with_challenge(challenge);
    let Credential::Secret(secret) = &presented.credential else {
        // Assertions and platform tokens are verified by the service layer.
        return Err(failed());
    };
    let stored = client
        .and_then(|c| c.secret_hash.as_deref())
        .unwrap_or(DUMMY_SECRET_HASH);
    // During a rotation's overlap the previous secret works too. Both comparisons run
    // every time, so the answer's timing says nothing about which one matched.
    let previous = client
        .and_then(|c| c.previous_secret.as_ref())
        .filter(|(_, until)| *until > now)
        .map(|(hash, _)| hash.as_str());
    let previous_hash = previous.unwrap_or(DUMMY_SECRET_HASH);
    let mut secret_ok = false;
    for reading in secret.readings() {
        let digest = SecretDigest::of(reading);
        let current_ok = digest.matches(stored);
        let previous_ok = digest.matches(previous_hash) & previous.is_some();
        secret_ok |= current_ok | previous_ok;
    }
    let client = match client {
        Some(c) if secret_ok => c,
        _ => return Err(failed()),
    };
    // A client with a secret may present it either way (its registered method is the
    // one it prefers); a client with keys has no secret and never reaches here.
    if !client.auth_method.uses_secret() {
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
    use crate::oauth::{ErrorCode, GrantType};

    fn params(body: &str) -> FormParams {
        FormParams::parse(body.as_bytes()).expect("valid form")
    }

    fn basic(id: &str, secret: &str) -> String {
        format!("Basic {}", STANDARD.encode(format!("{id}:{secret}")))
    }

    fn client(method: AuthMethod) -> RegisteredClient {
        RegisteredClient {
            secret_hash: Some(hash_secret("s3cret")),
            auth_method: method,
            ..RegisteredClient::for_tests("c1", "", vec![GrantType::ClientCredentials])
        }
    }

    #[test]
    fn basic_credentials_are_read_form_decoded_and_as_sent() {
        let p = extract(Some(&basic("my%20client", "a%2Bb")), &params("")).expect("valid");
        assert_eq!(p.client_id, "my client");
        let Credential::Secret(secret) = &p.credential else {
            panic!("a secret")
        };
        assert_eq!(secret.readings().collect::<Vec<_>>(), ["a+b", "a%2Bb"]);
        assert_eq!(p.method, AuthMethod::ClientSecretBasic);
        let p = extract(Some(&basic("c1", "plain")), &params("")).expect("valid");
        assert_eq!(
            p.credential,
            Credential::Secret(PresentedSecret::new("plain"))
        );
        // A `%` that starts no escape, or one that decodes to bytes that are not UTF-8,
        // is the secret as sent.
        for raw in ["100%", "%ff%fe+x"] {
            let p = extract(Some(&basic("c1", raw)), &params("")).expect(raw);
            let Credential::Secret(secret) = &p.credential else {
                panic!("a secret")
            };
            assert_eq!(secret.readings().last(), Some(raw));
        }
    }

    #[test]
    fn a_secret_with_plus_percent_and_colon_works_however_it_was_sent() {
        let secret = "a+b%2Fc:d e%zz";
        let c = RegisteredClient {
            secret_hash: Some(hash_secret(secret)),
            ..client(AuthMethod::ClientSecretBasic)
        };
        let form_encoded: String =
            url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        for sent in [secret.to_string(), form_encoded] {
            let p = extract(Some(&basic("c1", &sent)), &params("")).expect("valid");
            assert!(authenticate(&p, Some(&c), 0).is_ok(), "sent as {sent:?}");
        }
        let p = extract(Some(&basic("c1", "a+b%2Fc:d e%zy")), &params("")).expect("valid");
        assert!(authenticate(&p, Some(&c), 0).is_err());
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
            credential: Credential::Secret(PresentedSecret::new("nope")),
            method: AuthMethod::ClientSecretBasic,
        };
        let a = authenticate(&wrong, Some(&c), 0).expect_err("wrong secret");
        let b = authenticate(&wrong, None, 0).expect_err("unknown");
        assert_eq!(a, b);
    }

    #[test]
    fn the_previous_secret_works_until_its_window_ends() {
        let c = RegisteredClient {
            previous_secret: Some((hash_secret("old"), 100)),
            ..client(AuthMethod::ClientSecretBasic)
        };
        let with = |secret: &str| PresentedCredentials {
            client_id: "c1".into(),
            credential: Credential::Secret(PresentedSecret::new(secret)),
            method: AuthMethod::ClientSecretBasic,
        };
        assert!(authenticate(&with("old"), Some(&c), 99).is_ok());
        assert!(authenticate(&with("s3cret"), Some(&c), 99).is_ok());
        assert!(authenticate(&with("old"), Some(&c), 100).is_err(), "ended");
        assert!(authenticate(&with("s3cret"), Some(&c), 100).is_ok());
        assert!(authenticate(&with("other"), Some(&c), 99).is_err());
    }

    #[test]
    fn a_secret_works_by_either_secret_method_but_never_for_a_keyed_client() {
        let presented = |method| PresentedCredentials {
            client_id: "c1".into(),
            credential: Credential::Secret(PresentedSecret::new("s3cret")),
            method,
        };
        for registered in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
            let c = client(registered);
            for method in [AuthMethod::ClientSecretBasic, AuthMethod::ClientSecretPost] {
                assert!(
                    authenticate(&presented(method), Some(&c), 0).is_ok(),
                    "{registered:?} by {method:?}"
                );
            }
        }
        let keyed = client(AuthMethod::PrivateKeyJwt);
        let e = authenticate(&presented(AuthMethod::ClientSecretPost), Some(&keyed), 0)
            .expect_err("a keyed client never uses a secret");
        assert!(e.description.contains("private_key_jwt"));
    }

    #[test]
    fn an_overlong_client_id_is_refused_before_any_lookup() {
        let long = "a".repeat(MAX_CLIENT_ID_LEN + 1);
        let e = extract(Some(&basic(&long, "x")), &params("")).expect_err("too long");
        assert_eq!(e.code, ErrorCode::InvalidClient);
        assert_eq!(e.challenge, Challenge::Basic);
        let body = format!("client_id={long}&client_secret=x");
        let e = extract(None, &params(&body)).expect_err("too long");
        assert_eq!(e.code, ErrorCode::InvalidClient);
        let ok = "a".repeat(MAX_CLIENT_ID_LEN);
        assert!(extract(Some(&basic(&ok, "x")), &params("")).is_ok());
    }
}
