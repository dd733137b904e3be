//! RFC 9068 JWT access tokens: the claims, and assembling a signed JWT from them.

use super::Scope;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::{Deserialize, Serialize};

/// Access-token lifetimes allowed, globally and per client, seconds.
pub const ACCESS_TOKEN_TTL: std::ops::RangeInclusive<i64> = 1..=86_400;
/// Refresh-token family lifetimes allowed, seconds (up to a year).
pub const REFRESH_TOKEN_TTL: std::ops::RangeInclusive<i64> = 1..=365 * 86_400;
/// Refresh reuse grace allowed, seconds (RFC 9700 leaves it to the server; kept short).
pub const REFRESH_REUSE_GRACE: std::ops::RangeInclusive<i64> = 0..=300;

/// The longest token (access or refresh) tessera looks at when one is presented to it;
/// its own are far shorter, so a longer one is refused without any work.
pub const MAX_PRESENTED_TOKEN: usize = 8 * 1024;

/// The `aud` claim: one audience as a string, several as an array (RFC 7519 §4.1.3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    /// A single audience.
    One(String),
    /// Several audiences.
    Many(Vec<String>),
}

impl Audience {
    /// Builds the claim from a list: a string for one, an array for more.
    pub fn from_list(mut list: Vec<String>) -> Audience {
        if list.len() == 1 {
            Audience::One(list.remove(0))
        } else {
            Audience::Many(list)
        }
    }

    /// The audiences as a slice-like iterator.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let v: Vec<&str> = match self {
            Audience::One(a) => vec![a.as_str()],
            Audience::Many(v) => v.iter().map(String::as_str).collect(),
        };
        v.into_iter()
    }
}

/// RFC 7800 confirmation claim: what a sender-constrained token is bound to. What a
/// presented `cnf` demands is decided in [`super::binding`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    /// JWK SHA-256 thumbprint of the DPoP key the token is bound to (RFC 9449 §6.1).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub jkt: Option<String>,
    /// SHA-256 thumbprint of the client certificate the token is bound to (RFC 8705
    /// §3.1). tessera issues none yet; a token carrying one is never usable without it.
    #[serde(rename = "x5t#S256", skip_serializing_if = "Option::is_none", default)]
    pub x5t_s256: Option<String>,
}

impl Confirmation {
    /// A binding to the DPoP key with thumbprint `jkt`.
    pub fn dpop(jkt: String) -> Confirmation {
        Confirmation {
            jkt: Some(jkt),
            x5t_s256: None,
        }
    }
}

/// The claims of an access token (RFC 9068 §2.2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessTokenClaims {
    /// This server's issuer identifier.
    pub iss: String,
    /// The client id (client_credentials) or the user's stable id.
    pub sub: String,
    /// The resource server(s) the token is for.
    pub aud: Audience,
    /// Expiry, Unix seconds.
    pub exp: i64,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Unique token id, for revocation.
    pub jti: String,
    /// The client the token was issued to.
    pub client_id: String,
    /// Granted scope, space-separated (omitted when empty).
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub scope: String,
    /// Proof-of-possession binding.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub cnf: Option<Confirmation>,
    /// A federated client's outside identity, `{iss, sub}` (kept through token
    /// exchange).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ext: Option<serde_json::Value>,
    /// RFC 8693 §4.1 actor: who acts on the subject's behalf, nesting earlier actors.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub act: Option<serde_json::Value>,
    /// djangorestframework-simplejwt's `token_type` (`"access"`), on user tokens of the
    /// `simplejwt_client` only.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub token_type: Option<String>,
    /// simplejwt's `user_id`, beside `token_type` (see [`super::simplejwt`]).
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub user_id: Option<serde_json::Value>,
}

/// Everything a grant needs besides the request: issuer, clock, defaults.
#[derive(Debug, Clone)]
pub struct TokenContext<'a> {
    /// The `iss` claim.
    pub issuer: &'a str,
    /// Now, Unix seconds (passed in so decisions are testable with a fixed clock).
    pub now: i64,
    /// Access-token lifetime when the client has none of its own, seconds.
    pub default_access_ttl: i64,
}

impl AccessTokenClaims {
    /// Claims for a token issued now to `client_id` on behalf of `sub`.
    pub fn new(
        ctx: &TokenContext<'_>,
        sub: String,
        client_id: String,
        aud: Audience,
        scope: &Scope,
        ttl: i64,
        jti: String,
    ) -> Self {
        AccessTokenClaims {
            iss: ctx.issuer.to_string(),
            sub,
            aud,
            exp: ctx.now.saturating_add(ttl),
            iat: ctx.now,
            jti,
            client_id,
            scope: scope.to_string(),
            cnf: None,
            ext: None,
            act: None,
            token_type: None,
            user_id: None,
        }
    }
}

/// Something that holds a private key and signs JWTs with it.
pub trait JwtSigner {
    /// The base64url-encoded JOSE header (`alg`, `typ: at+jwt`, `kid`), computed once.
    fn header_b64(&self) -> &str;
    /// The signature over `signing_input` (`header.payload`).
    fn sign(&self, signing_input: &[u8]) -> Result<Vec<u8>, SignError>;
}

/// Signing failed (a broken key or RNG); never the client's fault.
#[derive(Debug, thiserror::Error)]
#[error("signing failed: {0}")]
pub struct SignError(pub String);

/// Serialises `claims` and signs them into a compact JWT.
pub fn encode_jwt<C: Serialize>(signer: &dyn JwtSigner, claims: &C) -> Result<String, SignError> {
    let payload = serde_json::to_vec(claims).map_err(|e| SignError(e.to_string()))?;
    let header = signer.header_b64();
    let estimate = payload.len().saturating_mul(4) / 3;
    let mut out = String::with_capacity(header.len().saturating_add(estimate).saturating_add(400));
    out.push_str(header);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&payload, &mut out);
    let signature = signer.sign(out.as_bytes())?;
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&signature, &mut out);
    Ok(out)
}

/// The RFC 6749 §5.1 success response.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct TokenResponse {
    /// The JWT.
    pub access_token: String,
    /// `Bearer`, or `DPoP` for a bound token.
    pub token_type: String,
    /// Lifetime in seconds.
    pub expires_in: i64,
    /// Granted scope.
    #[serde(skip_serializing_if = "String::is_empty", default)]
    pub scope: String,
    /// Issued by the password and refresh grants.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub refresh_token: Option<String>,
    /// Token exchange (RFC 8693 §2.2.1): the type of the token issued.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub issued_token_type: Option<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::*;

    struct FakeSigner;
    impl JwtSigner for FakeSigner {
        fn header_b64(&self) -> &str {
            "eyJhbGciOiJub25lIn0"
        }
        fn sign(&self, input: &[u8]) -> Result<Vec<u8>, SignError> {
            Ok(input.len().to_be_bytes().to_vec())
        }
    }

    #[test]
    fn audience_is_a_string_for_one_and_an_array_for_many() {
        let one = serde_json::to_value(Audience::from_list(vec!["a".into()])).ok();
        assert_eq!(one, Some(serde_json::json!("a")));
        let many = serde_json::to_value(Audience::from_list(vec!["a".into(), "b".into()])).ok();
        assert_eq!(many, Some(serde_json::json!(["a", "b"])));
    }

    #[test]
    fn jwt_has_three_parts_and_signs_header_dot_payload() {
        let ctx = TokenContext {
            issuer: "http://i",
            now: 1000,
            default_access_ttl: 300,
        };
        let claims = AccessTokenClaims::new(
            &ctx,
            "s".into(),
            "c".into(),
            Audience::One("a".into()),
            &Scope::default(),
            300,
            "j".into(),
        );
        let jwt = encode_jwt(&FakeSigner, &claims).expect("signs");
        let parts: Vec<&str> = jwt.split('.').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "eyJhbGciOiJub25lIn0");
        let payload: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
        assert_eq!(payload["exp"], 1300);
        assert!(payload.get("scope").is_none(), "empty scope is omitted");
        let signed_len = (parts[0].len() + 1 + parts[1].len()).to_be_bytes();
        assert_eq!(
            URL_SAFE_NO_PAD.decode(parts[2]).ok(),
            Some(signed_len.to_vec())
        );
    }
}
