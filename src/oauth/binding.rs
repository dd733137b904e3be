//! Sender-constrained credentials: the one rule deciding what proof a bound credential
//! needs and what binding a token issued on its strength gets.
//!
//! A credential bound to a DPoP key (`cnf.jkt`, RFC 9449) or to a certificate
//! (`cnf.x5t#S256`, RFC 8705) never yields a bearer token, on any path: the refresh
//! grant (and simplejwt's refresh, which runs it), token exchange (subject and actor
//! tokens) and tessera's own resource server, the admin API, all decide here.

use super::token::Confirmation;
use super::{ErrorCode, OAuthError};

/// What a credential is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Constraint {
    /// A DPoP key, by its RFC 7638 thumbprint.
    Dpop(String),
    /// An X.509 certificate, by its SHA-256 thumbprint (RFC 8705 §3.1).
    Certificate(String),
    /// A `cnf` naming nothing tessera can check: bound, to something unknown.
    Unrecognised,
}

impl Constraint {
    /// The constraint a `cnf` claim states. A certificate thumbprint wins over a key
    /// (both would have to be proven, and a certificate cannot be).
    pub fn of(cnf: &Confirmation) -> Constraint {
        match (&cnf.x5t_s256, &cnf.jkt) {
            (Some(x5t), _) => Constraint::Certificate(x5t.clone()),
            (None, Some(jkt)) => Constraint::Dpop(jkt.clone()),
            (None, None) => Constraint::Unrecognised,
        }
    }

    /// The constraint of an optional `cnf`.
    pub fn of_claim(cnf: Option<&Confirmation>) -> Option<Constraint> {
        cnf.map(Constraint::of)
    }
}

/// Whose credential is presented, which decides the proof it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Holder {
    /// The presenter's own (a refresh token, an actor token, an access token at a
    /// resource): the request's proof must be by the very key it is bound to.
    Presenter,
    /// Someone else's, handed to the presenter (the subject token of an exchange): the
    /// presenter cannot prove the other party's key, so it proves one of its own and
    /// the token issued is bound to that.
    Other,
}

/// A credential presented with a request.
#[derive(Debug, Clone)]
pub struct Presented<'a> {
    /// How messages name it (`"subject_token"`, `"refresh token"`).
    pub name: &'a str,
    /// What it is bound to; `None` for a bearer credential.
    pub constraint: Option<Constraint>,
    /// Whose it is.
    pub holder: Holder,
}

impl<'a> Presented<'a> {
    /// The presenter's own credential.
    pub fn own(name: &'a str, constraint: Option<Constraint>) -> Self {
        Presented {
            name,
            constraint,
            holder: Holder::Presenter,
        }
    }

    /// A credential of someone else's, handed to the presenter.
    pub fn received(name: &'a str, constraint: Option<Constraint>) -> Self {
        Presented {
            name,
            constraint,
            holder: Holder::Other,
        }
    }
}

/// Checks that the request's DPoP proof (the thumbprint `proof_jkt` of its key, `None`
/// without one) satisfies what `presented` is bound to. `code` is the error code the
/// path answers with (`invalid_dpop_proof` for a refresh token or at a resource,
/// `invalid_request` for RFC 8693's tokens).
pub fn check(
    presented: &Presented<'_>,
    proof_jkt: Option<&str>,
    code: ErrorCode,
) -> Result<(), OAuthError> {
    let name = presented.name;
    let refuse = |m: String| Err(OAuthError::new(code, m));
    match (&presented.constraint, presented.holder, proof_jkt) {
        (None, _, _) => Ok(()),
        (Some(Constraint::Certificate(_)), _, _) => refuse(format!(
            "{name} is bound to a certificate (cnf x5t#S256) and tessera has no mutual TLS \
             to prove it: it cannot be used here"
        )),
        (Some(Constraint::Unrecognised), _, _) => refuse(format!(
            "{name} is bound (cnf) to something tessera cannot check: it cannot be used here"
        )),
        (Some(Constraint::Dpop(_)), Holder::Presenter, None) => refuse(format!(
            "{name} is bound to a DPoP key: present a DPoP proof by that key"
        )),
        (Some(Constraint::Dpop(bound)), Holder::Presenter, Some(jkt)) if bound != jkt => {
            refuse(format!("{name} is bound to another DPoP key"))
        }
        (Some(Constraint::Dpop(_)), Holder::Other, None) => refuse(format!(
            "{name} is DPoP-bound: send a DPoP proof of your own key, and the token issued \
             is bound to it"
        )),
        (Some(Constraint::Dpop(_)), _, Some(_)) => Ok(()),
    }
}

/// The binding of a token issued on the strength of `presented`, given the request's
/// DPoP proof: each bound credential must be satisfied ([`check`]), and the new token is
/// bound to the proof's key whenever the request carries one. So a token is never less
/// bound than the credentials it came from, and a request without a proof gets a
/// bearer token only when nothing it presented was bound.
pub fn issued(
    presented: &[Presented<'_>],
    proof_jkt: Option<&str>,
    code: ErrorCode,
) -> Result<Option<Confirmation>, OAuthError> {
    for p in presented {
        check(p, proof_jkt, code)?;
    }
    Ok(proof_jkt.map(|jkt| Confirmation::dpop(jkt.to_string())))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CODE: ErrorCode = ErrorCode::InvalidRequest;

    fn dpop(jkt: &str) -> Option<Constraint> {
        Some(Constraint::Dpop(jkt.into()))
    }

    fn bound_to(c: Option<Confirmation>) -> Option<String> {
        c.and_then(|c| c.jkt)
    }

    #[test]
    fn a_bearer_credential_gets_the_requests_binding_if_any() {
        let bearer = [Presented::own("t", None), Presented::received("s", None)];
        assert_eq!(issued(&bearer, None, CODE).ok(), Some(None));
        assert_eq!(
            issued(&bearer, Some("k"), CODE).ok().map(bound_to),
            Some(Some("k".into()))
        );
        assert_eq!(
            issued(&[], Some("k"), CODE).ok().map(bound_to),
            Some(Some("k".into()))
        );
    }

    #[test]
    fn ones_own_bound_credential_needs_a_proof_by_its_key_and_stays_bound_to_it() {
        let own = [Presented::own("refresh token", dpop("k"))];
        assert!(issued(&own, None, CODE).is_err(), "never a bearer token");
        assert!(issued(&own, Some("other"), CODE).is_err());
        assert_eq!(
            issued(&own, Some("k"), CODE).ok().map(bound_to),
            Some(Some("k".into()))
        );
    }

    #[test]
    fn a_received_bound_credential_needs_the_presenters_own_proof_and_binds_to_it() {
        let subject = [Presented::received("subject_token", dpop("alice"))];
        let e = issued(&subject, None, CODE).expect_err("no proof");
        assert_eq!(e.code, CODE);
        assert!(e.description.contains("subject_token"), "{}", e.description);
        assert_eq!(
            issued(&subject, Some("caller"), CODE).ok().map(bound_to),
            Some(Some("caller".into())),
            "bound to the caller's key, not alice's"
        );
    }

    #[test]
    fn every_credential_is_checked_and_the_error_code_is_the_paths() {
        let both = [
            Presented::received("subject_token", dpop("alice")),
            Presented::own("actor_token", dpop("caller")),
        ];
        assert!(
            issued(&both, Some("alice"), CODE).is_err(),
            "the actor's key"
        );
        assert!(issued(&both, Some("caller"), CODE).is_ok());
        let e = issued(&both[1..], None, ErrorCode::InvalidDpopProof).expect_err("no proof");
        assert_eq!(e.code, ErrorCode::InvalidDpopProof);
    }

    #[test]
    fn certificate_and_unrecognised_bindings_are_never_usable_without_mtls() {
        let x5t = Confirmation {
            jkt: Some("k".into()),
            x5t_s256: Some("c".into()),
        };
        let empty = Confirmation {
            jkt: None,
            x5t_s256: None,
        };
        assert_eq!(Constraint::of(&x5t), Constraint::Certificate("c".into()));
        assert_eq!(Constraint::of(&empty), Constraint::Unrecognised);
        for c in [x5t, empty] {
            for holder in [Holder::Presenter, Holder::Other] {
                let p = Presented {
                    name: "subject_token",
                    constraint: Some(Constraint::of(&c)),
                    holder,
                };
                assert!(check(&p, Some("k"), CODE).is_err(), "{c:?} {holder:?}");
                assert!(check(&p, None, CODE).is_err(), "{c:?} {holder:?}");
            }
        }
    }

    #[test]
    fn a_cnf_claim_reads_both_members() {
        let c: Confirmation =
            serde_json::from_value(serde_json::json!({"x5t#S256": "abc"})).expect("cnf");
        assert_eq!(Constraint::of(&c), Constraint::Certificate("abc".into()));
        let c: Confirmation = serde_json::from_value(serde_json::json!({"jkt": "k"})).expect("cnf");
        assert_eq!(Constraint::of(&c), Constraint::Dpop("k".into()));
        let c: Confirmation =
            serde_json::from_value(serde_json::json!({"jwk": {"kty": "EC"}})).expect("cnf");
        assert_eq!(Constraint::of(&c), Constraint::Unrecognised);
        assert_eq!(
            serde_json::to_value(Confirmation::dpop("k".into())).ok(),
            Some(serde_json::json!({"jkt": "k"}))
        );
    }
}
