//! `grant_type=urn:ietf:params:oauth:grant-type:token-exchange` (RFC 8693): a service
//! holding an access token meant for it calls another service on the same subject's
//! behalf, with a token for that service and the delegation chain in `act`.
//!
//! This module holds the rules: whom a subject token was meant for, whose an actor
//! token must be, what binding the new token gets, its claims. Checking that the
//! subject and actor tokens are active access tokens of this server (signature,
//! expiry, revocation) is the caller's.

use crate::oauth::binding::{self, Constraint, Presented};
use crate::oauth::client::RegisteredClient;
use crate::oauth::form::FormParams;
use crate::oauth::scope::{self, Scope};
use crate::oauth::token::{AccessTokenClaims, Audience, Confirmation, TokenContext};
use crate::oauth::{ErrorCode, OAuthError};
use serde_json::{json, Value};

/// RFC 8693 §3: an access token.
pub const ACCESS_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:access_token";
/// RFC 8693 §3: a JWT.
pub const JWT_TOKEN_TYPE: &str = "urn:ietf:params:oauth:token-type:jwt";
/// Longest `act` chain carried, hops (each hop nests the one before).
pub const MAX_ACT_DEPTH: usize = 16;

/// A checked token-exchange request.
#[derive(Debug)]
pub struct Exchange<'a> {
    /// The subject token, to be checked as an active access token of this server.
    pub subject_token: &'a str,
    /// The actor token, likewise, if given.
    pub actor_token: Option<&'a str>,
    /// The `issued_token_type` of the answer.
    pub issued_token_type: &'static str,
}

fn token_type_ok(t: &str) -> bool {
    t == ACCESS_TOKEN_TYPE || t == JWT_TOKEN_TYPE
}

/// Checks the request's form (RFC 8693 §2.1).
pub fn request(params: &FormParams) -> Result<Exchange<'_>, OAuthError> {
    let subject_token = params.require("subject_token")?;
    let subject_type = params.require("subject_token_type")?;
    if !token_type_ok(subject_type) {
        return Err(OAuthError::invalid_request(format!(
            "unsupported subject_token_type (supported: {ACCESS_TOKEN_TYPE}, {JWT_TOKEN_TYPE})"
        )));
    }
    let actor_token = params.get("actor_token");
    match (actor_token, params.get("actor_token_type")) {
        (Some(_), Some(t)) if token_type_ok(t) => {}
        (Some(_), Some(_)) => {
            return Err(OAuthError::invalid_request(format!(
                "unsupported actor_token_type (supported: {ACCESS_TOKEN_TYPE}, {JWT_TOKEN_TYPE})"
            )))
        }
        (Some(_), None) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type is required with actor_token",
            ))
        }
        (None, Some(_)) => {
            return Err(OAuthError::invalid_request(
                "actor_token_type without actor_token",
            ))
        }
        (None, None) => {}
    }
    let issued_token_type = match params.get("requested_token_type") {
        None | Some(ACCESS_TOKEN_TYPE) => ACCESS_TOKEN_TYPE,
        Some(JWT_TOKEN_TYPE) => JWT_TOKEN_TYPE,
        Some(_) => {
            return Err(OAuthError::invalid_request(format!(
            "unsupported requested_token_type (supported: {ACCESS_TOKEN_TYPE}, {JWT_TOKEN_TYPE})"
        )))
        }
    };
    Ok(Exchange {
        subject_token,
        actor_token,
        issued_token_type,
    })
}

/// The token for `client` to call its target on `subject`'s behalf: the subject's
/// `sub` and `ext`, the caller as `client_id`, the target as `aud`, the scope narrowed
/// to what both the subject token and the caller hold, and `act` naming the actor
/// (the actor token's `sub`, else the caller) with the subject token's own `act`
/// nested inside. It never outlives the subject token.
pub fn claims(
    client: &RegisteredClient,
    params: &FormParams,
    subject: &AccessTokenClaims,
    actor: Option<&AccessTokenClaims>,
    ctx: &TokenContext<'_>,
    jti: String,
) -> Result<AccessTokenClaims, OAuthError> {
    if !meant_for(client, subject) {
        return Err(OAuthError::invalid_request(
            "the subject token is not meant for this client: its aud names neither the \
             client id nor one of the client's resource URIs (audiences the client may \
             call do not count)",
        ));
    }
    if let Some(a) = actor {
        actor_is_callers_own(client, a)?;
    }
    let aud = target(client, params)?;
    let granted = Scope::parse(&subject.scope)
        .unwrap_or_default()
        .intersection(&client.scope);
    let scope = scope::resolve(params.get("scope"), &granted)?;
    let depth = act_depth(subject.act.as_ref());
    if depth >= MAX_ACT_DEPTH {
        return Err(OAuthError::invalid_request(format!(
            "the delegation chain is already {depth} hops long (at most {MAX_ACT_DEPTH})"
        )));
    }
    let actor_sub = actor.map_or_else(|| client.client_id.clone(), |a| a.sub.clone());
    let act = match &subject.act {
        Some(prior) => json!({ "sub": actor_sub, "act": prior }),
        None => json!({ "sub": actor_sub }),
    };
    let ttl = client.access_token_ttl.unwrap_or(ctx.default_access_ttl);
    let mut claims = AccessTokenClaims::new(
        ctx,
        subject.sub.clone(),
        client.client_id.clone(),
        aud,
        &scope,
        ttl,
        jti,
    );
    claims.exp = claims.exp.min(subject.exp);
    claims.ext = subject.ext.clone();
    claims.act = Some(act);
    Ok(claims)
}

/// Whether `token` was meant for `client`, as a resource server: its `aud` names the
/// client's id or one of its resource URIs. The client's audiences are the services it
/// may *call*; a token for one of them is that service's, never the caller's, or a
/// client allowed to call payroll could turn anyone's payroll token into its own.
pub fn meant_for(client: &RegisteredClient, token: &AccessTokenClaims) -> bool {
    token
        .aud
        .iter()
        .any(|a| a == client.client_id || client.resource_uris.iter().any(|r| r == a))
}

/// An actor token names who acts, so it must be the caller's own: issued to the caller
/// (`client_id`), and not itself obtained by delegation (an `act` claim), or a caller
/// could name as its actor anyone whose token was merely handed to it.
fn actor_is_callers_own(
    client: &RegisteredClient,
    actor: &AccessTokenClaims,
) -> Result<(), OAuthError> {
    if actor.client_id != client.client_id {
        return Err(OAuthError::invalid_request(
            "the actor_token was not issued to this client: an actor token must be one of \
             the caller's own access tokens",
        ));
    }
    if actor.act.is_some() {
        return Err(OAuthError::invalid_request(
            "the actor_token was itself obtained by token exchange (it has act): an actor \
             presents a token issued to it as itself",
        ));
    }
    Ok(())
}

/// The binding of the exchanged token ([`binding::issued`]): a sender-constrained
/// subject token is someone else's credential, so the caller proves a key of its own
/// and the new token is bound to it; a bound actor token is the caller's own and needs
/// a proof by its key. Without a proof, nothing bound is exchanged (`invalid_request`,
/// RFC 8693 §2.2.2), so no exchange ever turns a bound token into a bearer one.
pub fn binding(
    subject: &AccessTokenClaims,
    actor: Option<&AccessTokenClaims>,
    proof_jkt: Option<&str>,
) -> Result<Option<Confirmation>, OAuthError> {
    let mut presented = vec![Presented::received(
        "the subject_token",
        Constraint::of_claim(subject.cnf.as_ref()),
    )];
    if let Some(a) = actor {
        presented.push(Presented::own(
            "the actor_token",
            Constraint::of_claim(a.cnf.as_ref()),
        ));
    }
    binding::issued(&presented, proof_jkt, ErrorCode::InvalidRequest)
}

/// The audience: the one asked for (`audience` or `resource`, among the caller's),
/// else the caller's only audience.
fn target(client: &RegisteredClient, params: &FormParams) -> Result<Audience, OAuthError> {
    let mut asked: Vec<&str> = params.get_all("resource").collect();
    asked.extend(params.get_all("audience"));
    asked.dedup();
    let invalid_target = |m: String| OAuthError::new(ErrorCode::InvalidTarget, m);
    match asked.as_slice() {
        [] => match client.audiences.as_slice() {
            [only] => Ok(Audience::One(only.clone())),
            [] => Err(invalid_target(
                "the client has no audiences to exchange a token for".into(),
            )),
            _ => Err(invalid_target(
                "the client has several audiences: name the target with audience or resource"
                    .into(),
            )),
        },
        [one] if client.audiences.iter().any(|a| a == one) => Ok(Audience::One((*one).to_string())),
        [one] => {
            let shown: String = one.chars().take(100).collect();
            Err(invalid_target(format!(
                "audience {shown:?} is not registered for this client"
            )))
        }
        _ => Err(invalid_target(
            "name one target (audience or resource)".into(),
        )),
    }
}

fn act_depth(act: Option<&Value>) -> usize {
    std::iter::successors(act, |a| a.get("act")).count()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::token::TokenContext;
    use crate::oauth::GrantType;

    fn ctx() -> TokenContext<'static> {
        TokenContext {
            issuer: "https://as",
            now: 1_000,
            default_access_ttl: 300,
        }
    }

    fn caller(audiences: &[&str]) -> RegisteredClient {
        RegisteredClient {
            audiences: audiences.iter().map(|a| a.to_string()).collect(),
            ..RegisteredClient::for_tests(
                "svc-a",
                "orders:read orders:write",
                vec![GrantType::TokenExchange],
            )
        }
    }

    fn subject() -> AccessTokenClaims {
        let mut c = AccessTokenClaims::new(
            &ctx(),
            "user-1".into(),
            "web".into(),
            Audience::One("svc-a".into()),
            &Scope::parse("orders:read profile").expect("scope"),
            100,
            "j0".into(),
        );
        c.ext = Some(json!({"iss": "https://k8s", "sub": "sa"}));
        c
    }

    fn form(body: &str) -> FormParams {
        FormParams::parse(body.as_bytes()).expect("form")
    }

    #[test]
    fn the_exchanged_token_keeps_the_subject_and_names_the_actor() {
        let c = caller(&["https://orders"]);
        let t = claims(&c, &form(""), &subject(), None, &ctx(), "j1".into()).expect("ok");
        assert_eq!(t.sub, "user-1");
        assert_eq!(t.client_id, "svc-a");
        assert_eq!(t.aud, Audience::One("https://orders".into()));
        assert_eq!(t.scope, "orders:read", "subject ∩ caller");
        assert_eq!(t.act, Some(json!({"sub": "svc-a"})));
        assert_eq!(t.ext, subject().ext);
        assert_eq!(t.exp, 1_100, "never past the subject token");

        // A second hop nests the first.
        let b = RegisteredClient {
            client_id: "svc-b".into(),
            ..caller(&["https://billing"])
        };
        let mut hop = t.clone();
        hop.aud = Audience::One("svc-b".into());
        let t2 = claims(&b, &form(""), &hop, None, &ctx(), "j2".into()).expect("ok");
        assert_eq!(
            t2.act,
            Some(json!({"sub": "svc-b", "act": {"sub": "svc-a"}}))
        );
    }

    #[test]
    fn only_the_callers_id_or_resource_uris_make_a_token_meant_for_it() {
        // The caller may call orders: a token for orders is not meant for it.
        let c = caller(&["https://orders", "https://payroll"]);
        let mut for_orders = subject();
        for_orders.aud = Audience::One("https://orders".into());
        assert!(!meant_for(&c, &for_orders));
        let e = claims(
            &c,
            &form("audience=https://payroll"),
            &for_orders,
            None,
            &ctx(),
            "j".into(),
        )
        .expect_err("confused deputy");
        assert_eq!(e.code, ErrorCode::InvalidRequest);

        // Its own API is named by its resource URIs.
        let api = RegisteredClient {
            resource_uris: vec!["https://orders".into()],
            ..caller(&["https://payroll"])
        };
        assert!(meant_for(&api, &for_orders));
        let mut several = subject();
        several.aud = Audience::Many(vec!["https://x".into(), "svc-a".into()]);
        assert!(meant_for(&c, &several), "its client id among several");
        assert!(claims(&api, &form(""), &for_orders, None, &ctx(), "j".into()).is_ok());
    }

    #[test]
    fn an_actor_token_must_be_the_callers_own_undelegated_token() {
        let c = caller(&["https://orders"]);
        let own = |client_id: &str| {
            let mut a = subject();
            a.client_id = client_id.into();
            a.sub = "operator-bob".into();
            a
        };
        let ok = claims(
            &c,
            &form(""),
            &subject(),
            Some(&own("svc-a")),
            &ctx(),
            "j".into(),
        )
        .expect("own actor token");
        assert_eq!(ok.act, Some(json!({"sub": "operator-bob"})));
        for (why, actor) in [
            ("another client's", own("admin")),
            ("delegated", {
                let mut a = own("svc-a");
                a.act = Some(json!({"sub": "svc-z"}));
                a
            }),
        ] {
            let e =
                claims(&c, &form(""), &subject(), Some(&actor), &ctx(), "j".into()).expect_err(why);
            assert_eq!(e.code, ErrorCode::InvalidRequest, "{why}");
        }
    }

    #[test]
    fn a_bound_subject_or_actor_token_never_yields_a_bearer_token() {
        let bound = |jkt: &str| {
            let mut t = subject();
            t.cnf = Some(Confirmation::dpop(jkt.into()));
            t
        };
        let jkt_of =
            |r: Result<Option<Confirmation>, OAuthError>| r.ok().map(|c| c.and_then(|c| c.jkt));
        // A bound subject token: the caller's own proof, and the result is bound to it.
        assert!(binding(&bound("alice"), None, None).is_err());
        assert_eq!(
            jkt_of(binding(&bound("alice"), None, Some("caller"))),
            Some(Some("caller".into()))
        );
        // A bound actor token: a proof by its own key only.
        let actor = bound("caller");
        assert!(binding(&subject(), Some(&actor), None).is_err());
        assert!(binding(&subject(), Some(&actor), Some("other")).is_err());
        assert_eq!(
            jkt_of(binding(&subject(), Some(&actor), Some("caller"))),
            Some(Some("caller".into()))
        );
        // A certificate-bound subject token cannot be exchanged (no mutual TLS).
        let mut cert = subject();
        cert.cnf = Some(Confirmation {
            jkt: None,
            x5t_s256: Some("thumb".into()),
        });
        let e = binding(&cert, None, Some("caller")).expect_err("x5t#S256");
        assert_eq!(e.code, ErrorCode::InvalidRequest);
        assert!(e.description.contains("certificate"), "{}", e.description);
        // Nothing bound, no proof: a bearer token, as before.
        assert_eq!(jkt_of(binding(&subject(), None, None)), Some(None));
    }

    #[test]
    fn refusals_have_rfc_8693_codes() {
        let c = caller(&["https://orders", "https://billing"]);
        let s = subject();
        let code = |p: &str, s: &AccessTokenClaims| {
            claims(&c, &form(p), s, None, &ctx(), "j".into())
                .expect_err(p)
                .code
        };
        assert_eq!(code("", &s), ErrorCode::InvalidTarget, "several audiences");
        assert_eq!(
            code("audience=https://elsewhere", &s),
            ErrorCode::InvalidTarget
        );
        assert_eq!(
            code("audience=https://orders&scope=orders:write", &s),
            ErrorCode::InvalidScope,
            "only narrowing"
        );
        let mut foreign = s.clone();
        foreign.aud = Audience::One("svc-z".into());
        assert_eq!(
            code("audience=https://orders", &foreign),
            ErrorCode::InvalidRequest
        );
        let bad = |body: &str| request(&form(body)).expect_err(body).code;
        assert_eq!(bad("subject_token=x"), ErrorCode::InvalidRequest);
        assert_eq!(
            bad("subject_token=x&subject_token_type=urn:x"),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            bad(&format!(
                "subject_token=x&subject_token_type={ACCESS_TOKEN_TYPE}&requested_token_type=urn:x"
            )),
            ErrorCode::InvalidRequest
        );
        assert_eq!(
            bad(&format!(
                "subject_token=x&subject_token_type={ACCESS_TOKEN_TYPE}&actor_token=y"
            )),
            ErrorCode::InvalidRequest
        );
    }
}
