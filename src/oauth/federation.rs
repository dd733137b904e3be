//! Federated client authentication, the protocol part: a workload presents the token
//! its platform gave it (a Kubernetes service-account token, a GitHub Actions OIDC
//! token, a SPIFFE JWT-SVID) as its client assertion, and tessera accepts it when a
//! trusted issuer signed it for tessera and exactly one client is bound to its subject
//! and claims. Verifying the signature and finding the issuer happen in the service
//! layer; this module holds the rules that need no I/O.

use super::{jws, RegisteredClient};
use jsonwebtoken::Algorithm;
use serde_json::{Map, Value};
use std::sync::Arc;

/// `client_assertion_type` of a SPIFFE JWT-SVID (draft-ietf-oauth-spiffe-client-auth).
pub const SPIFFE_ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-spiffe";
/// Longest platform token looked at, bytes (real ones are 1–2 KiB).
pub const MAX_PLATFORM_TOKEN: usize = 8 * 1024;
/// Most `aud` entries looked at.
pub const MAX_AUDIENCES: usize = 32;
/// Clock skew allowed for `iat` and `nbf`, seconds.
pub const MAX_SKEW: i64 = 60;
/// Default and largest `max_token_age`, seconds.
pub const DEFAULT_MAX_TOKEN_AGE: i64 = 86_400;
/// Most `--claim` bindings per client.
pub const MAX_BOUND_CLAIMS: usize = 16;

/// What a federated client is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    /// The trusted issuer's name.
    pub issuer: String,
    /// The subject: exact, or a prefix when it ends in `*`.
    pub subject: String,
    /// Claims the token must carry with exactly these string values.
    pub claims: Vec<(String, String)>,
}

impl Binding {
    /// Whether a token with `sub` and `claims` is this client's. Subjects and claim
    /// values are compared as Unicode text, exactly (no normalisation, no case folding).
    /// A stored subject that breaks [`check_subject`]'s prefix rule (written before the
    /// rule, or by hand) is no prefix: it matches only itself, never more.
    pub fn matches(&self, sub: &str, claims: &Map<String, Value>) -> bool {
        let subject_ok = match prefix(&self.subject) {
            Some(prefix) => sub.starts_with(prefix),
            None => sub == self.subject,
        };
        subject_ok
            && self
                .claims
                .iter()
                .all(|(k, v)| claim(claims, k) == Some(v.as_str()))
    }

    /// Reads the stored claims (a JSON object of strings).
    pub fn parse_claims(stored: Option<&str>) -> Vec<(String, String)> {
        let Some(Ok(Value::Object(map))) = stored.map(serde_json::from_str::<Value>) else {
            return Vec::new();
        };
        map.into_iter()
            .filter_map(|(k, v)| v.as_str().map(|v| (k, v.to_string())))
            .collect()
    }
}

/// A bound claim's string value in a token: the member named `key`, or, for a dotted
/// key like `kubernetes.io.namespace`, a member of a nested object (`kubernetes.io`,
/// then `namespace`), whichever way the dots split (an exact member first). Each
/// object of the token is visited at most once per key, so the work is bounded by the
/// token's size.
pub fn claim<'a>(claims: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    if let Some(v) = claims.get(key) {
        return v.as_str();
    }
    key.match_indices('.').find_map(|(at, _)| {
        let (head, dot_rest) = key.split_at_checked(at)?;
        let rest = dot_rest.strip_prefix('.')?;
        match claims.get(head)? {
            Value::Object(inner) => claim(inner, rest),
            _ => None,
        }
    })
}

/// The prefix a bound subject stands for: it ends in `*` right after `:` or `/`
/// (`repo:acme/*` is `repo:acme/`). `None`: an exact subject.
pub fn prefix(subject: &str) -> Option<&str> {
    subject
        .strip_suffix('*')
        .filter(|p| p.ends_with(':') || p.ends_with('/'))
}

/// Checks a bound subject: non-empty, at most 512 characters, no control characters;
/// a `*` only at the end, right after `:` or `/` (a prefix that ends at a separator:
/// `repo:acme*` would also match `repo:acme-evil`), and not alone. Works on characters,
/// never on byte offsets: any Unicode text is judged, none panics.
pub fn check_subject(subject: &str) -> Result<(), String> {
    if subject.is_empty() || subject == "*" {
        return Err("must name a subject (a bare * would match anything)".into());
    }
    if subject.chars().count() > 512 || subject.chars().any(char::is_control) {
        return Err("a subject is at most 512 characters, without control characters".into());
    }
    let body = subject.strip_suffix('*').unwrap_or(subject);
    if body.contains('*') {
        return Err("a subject may hold a * only at its end (a prefix)".into());
    }
    if body.len() < subject.len() && prefix(subject).is_none() {
        return Err(
            "a subject may end in * only right after : or / (repo:acme/* is a prefix, repo:acme* is refused: it would match repo:acme-evil)"
                .into(),
        );
    }
    Ok(())
}

/// Checks bound claims: at most 16, names 1–64 characters, values non-empty.
pub fn check_claims(claims: &[(String, String)]) -> Result<(), String> {
    if claims.len() > MAX_BOUND_CLAIMS {
        return Err(format!("at most {MAX_BOUND_CLAIMS} bound claims"));
    }
    for (k, v) in claims {
        let reserved = ["iss", "sub", "aud", "exp", "iat", "nbf", "jti"];
        if k.is_empty()
            || k.chars().count() > 64
            || k.chars().any(char::is_control)
            || reserved.contains(&k.as_str())
        {
            return Err(format!(
                "bound claim {k:?}: a name of 1 to 64 characters, without control characters, \
                 other than {}",
                reserved.join(", ")
            ));
        }
        if v.is_empty() || v.chars().count() > 512 || v.chars().any(char::is_control) {
            return Err(format!(
                "bound claim {k:?}: a value of 1 to 512 characters, without control characters"
            ));
        }
    }
    Ok(())
}

/// The SPIFFE trust domain of a `spiffe://` id.
pub fn trust_domain(spiffe_id: &str) -> Option<&str> {
    let rest = spiffe_id.strip_prefix("spiffe://")?;
    let td = rest.split('/').next()?;
    (!td.is_empty()).then_some(td)
}

/// A platform token's claims, read before its signature is checked (to find the
/// issuer); nothing here is trusted until [`PlatformToken::check`] passes after the signature.
#[derive(Debug, Clone)]
pub struct PlatformToken {
    /// `iss`, if present.
    pub iss: Option<String>,
    /// `sub`.
    pub sub: String,
    /// All claims.
    pub claims: Map<String, Value>,
}

/// A platform token's header: an asymmetric `alg` and the `kid`. `typ` may be absent,
/// `JWT`, `JOSE` (JWT-SVIDs) or `at+jwt` (another tessera's access tokens); a JWT of
/// another kind (a DPoP proof, a logout token, …) is no workload identity.
pub fn header(token: &str) -> Result<(Algorithm, Option<String>), &'static str> {
    #[derive(serde::Deserialize)]
    struct Header {
        alg: String,
        #[serde(default)]
        typ: Option<String>,
        #[serde(default)]
        kid: Option<String>,
    }
    let h: Header = jws::parts(token)
        .and_then(|(h, _, _)| jws::json_part(h))
        .ok_or("not a compact JWS")?;
    let typ_ok = |t: &str| {
        let t = t.strip_prefix("application/").unwrap_or(t);
        ["JWT", "JOSE", "at+jwt"]
            .iter()
            .any(|ok| t.eq_ignore_ascii_case(ok))
    };
    if h.typ.as_deref().is_some_and(|t| !typ_ok(t)) {
        return Err("typ is not JWT, JOSE or at+jwt");
    }
    let alg = h
        .alg
        .parse::<Algorithm>()
        .ok()
        .filter(|a| jws::accepted(*a))
        .ok_or("alg is not one of RS256, PS256, ES256, EdDSA")?;
    Ok((alg, h.kid))
}

impl PlatformToken {
    /// Reads the claims of a compact JWS; `Err` is the reason for the log.
    pub fn read(token: &str) -> Result<PlatformToken, &'static str> {
        if token.len() > MAX_PLATFORM_TOKEN {
            return Err("the token is over 8 KiB");
        }
        let (_, payload, _) = jws::parts(token).ok_or("not a compact JWS")?;
        let claims: Map<String, Value> =
            jws::json_part(payload).ok_or("its claims are not a JSON object")?;
        let sub = match claims.get("sub") {
            // A subject goes into the access token (`ext.sub`) and the log: text that
            // could rewrite a downstream log line or terminal is no workload's identity.
            Some(Value::String(s)) if s.chars().any(char::is_control) => {
                return Err("sub holds control characters")
            }
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err("no sub"),
        };
        let iss = match claims.get("iss") {
            None => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err("iss is not a string"),
        };
        Ok(PlatformToken { iss, sub, claims })
    }

    /// The time claims and the audience, after the signature verified: `aud` must
    /// contain `audience` (tessera's issuer), `exp` be in the future and at most
    /// `max_age` after `iat` (or after now, without `iat`), `iat`/`nbf` not ahead.
    /// The first of [`PlatformToken::checks`] to fail.
    pub fn check(&self, audience: &str, max_age: i64, now: i64) -> Result<(), &'static str> {
        self.checks(audience, max_age, now)
            .into_iter()
            .try_for_each(|(_, result)| result)
    }

    /// Each rule of [`PlatformToken::check`] with its own result, in order: `aud`,
    /// `exp`, the issuer's `max token age`, `iat/nbf`.
    pub fn checks(
        &self,
        audience: &str,
        max_age: i64,
        now: i64,
    ) -> [(&'static str, Result<(), &'static str>); 4] {
        let number = |name: &str| self.claims.get(name).and_then(Value::as_i64);
        let aud = match self.claims.get("aud") {
            Some(Value::String(a)) if a == audience => Ok(()),
            Some(Value::Array(list)) if list.len() > MAX_AUDIENCES => {
                Err("more than 32 aud entries")
            }
            Some(Value::Array(list)) if list.iter().any(|a| a.as_str() == Some(audience)) => Ok(()),
            _ => Err("aud does not contain this server's issuer identifier"),
        };
        let exp = number("exp");
        let expiry = match exp {
            None => Err("no exp"),
            Some(exp) if exp <= now => Err("expired"),
            Some(_) => Ok(()),
        };
        let iat = number("iat");
        // Both are the issuer's numbers: a lifetime too long for an i64 is too long.
        let age = match exp {
            None => Err("no exp"),
            Some(exp)
                if exp
                    .checked_sub(iat.unwrap_or(now))
                    .is_none_or(|lifetime| lifetime > max_age) =>
            {
                Err("exp is further from iat than the issuer's max token age")
            }
            Some(_) => Ok(()),
        };
        let ahead = now.saturating_add(MAX_SKEW);
        let issued = if iat.is_some_and(|t| t > ahead) || number("nbf").is_some_and(|t| t > ahead) {
            Err("issued in the future (iat or nbf)")
        } else {
            Ok(())
        };
        [
            (CHECK_AUD, aud),
            (CHECK_EXP, expiry),
            (CHECK_MAX_AGE, age),
            (CHECK_ISSUED, issued),
        ]
    }
}

/// The name of the audience check in [`PlatformToken::checks`].
pub const CHECK_AUD: &str = "aud";
/// The name of the expiry check.
pub const CHECK_EXP: &str = "exp";
/// The name of the issuer's token lifetime check.
pub const CHECK_MAX_AGE: &str = "max token age";
/// The name of the `iat`/`nbf` check.
pub const CHECK_ISSUED: &str = "iat/nbf";

impl PlatformToken {
    /// The rules that need the issuer, once the signature verified with its keys:
    /// `issuer` is its identifier, `spiffe_trust_domain` its trust domain if it is a
    /// SPIFFE issuer. A token that carries an `iss` carries that identifier (a JWT-SVID
    /// found through its trust domain may not name another issuer), and a SPIFFE
    /// issuer's tokens are for ids in its trust domain.
    pub fn check_issuer(
        &self,
        issuer: &str,
        spiffe_trust_domain: Option<&str>,
    ) -> Result<(), String> {
        if let Some(iss) = &self.iss {
            if iss != issuer {
                return Err(format!(
                    "iss {iss:?} is not the issuer's identifier {issuer:?}"
                ));
            }
        }
        if let Some(td) = spiffe_trust_domain {
            if trust_domain(&self.sub) != Some(td) {
                return Err(format!("sub {:?} is not in trust domain {td:?}", self.sub));
            }
        }
        Ok(())
    }
}

/// The clients among `bound` whose binding `token` matches, enabled or not.
pub fn bound_to<'a>(
    bound: &'a [Arc<RegisteredClient>],
    token: &'a PlatformToken,
) -> impl Iterator<Item = &'a Arc<RegisteredClient>> + 'a {
    bound.iter().filter(|c| {
        c.federation
            .as_ref()
            .is_some_and(|b| b.matches(&token.sub, &token.claims))
    })
}

/// The one enabled client among `bound` (an issuer's federated clients) whose binding
/// `token` matches; with `client_id`, that client, which must be among them. Disabled
/// clients never count, so a disabled twin does not block the enabled one. `Err` is
/// the reason, for the log.
pub fn choose(
    bound: &[Arc<RegisteredClient>],
    token: &PlatformToken,
    client_id: Option<&str>,
) -> Result<Arc<RegisteredClient>, String> {
    let matching: Vec<&Arc<RegisteredClient>> =
        bound_to(bound, token).filter(|c| !c.disabled).collect();
    let sub = &token.sub;
    match (client_id, matching.as_slice()) {
        (Some(id), _) => matching
            .iter()
            .find(|c| c.client_id == id)
            .map(|c| Arc::clone(c))
            .ok_or_else(|| {
                format!("no enabled client {id:?} is bound to subject {sub:?} and its claims")
            }),
        (None, [one]) => Ok(Arc::clone(one)),
        (None, []) => Err(format!(
            "no enabled client is bound to subject {sub:?} and its claims"
        )),
        (None, several) => Err(format!(
            "{} clients match subject {sub:?}; send client_id",
            several.len()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn token(claims: Value) -> PlatformToken {
        let Value::Object(claims) = claims else {
            panic!("object")
        };
        PlatformToken {
            iss: claims
                .get("iss")
                .and_then(Value::as_str)
                .map(str::to_string),
            sub: claims["sub"].as_str().unwrap_or_default().to_string(),
            claims,
        }
    }

    #[test]
    fn subjects_match_exactly_or_by_prefix_and_claims_exactly() {
        let b = Binding {
            issuer: "gh".into(),
            subject: "repo:org/app:*".into(),
            claims: vec![("ref".into(), "refs/heads/main".into())],
        };
        let claims = |r: &str| json!({"ref": r}).as_object().cloned().unwrap_or_default();
        assert!(b.matches(
            "repo:org/app:ref:refs/heads/main",
            &claims("refs/heads/main")
        ));
        assert!(!b.matches("repo:org/other:x", &claims("refs/heads/main")));
        assert!(!b.matches("repo:org/app:x", &claims("refs/heads/dev")));
        let exact = Binding {
            subject: "system:serviceaccount:shop:orders".into(),
            claims: vec![],
            ..b
        };
        assert!(exact.matches("system:serviceaccount:shop:orders", &Map::new()));
        assert!(!exact.matches("system:serviceaccount:shop:orders2", &Map::new()));
        assert!(check_subject("").is_err() && check_subject("*").is_err());
        assert!(check_subject("a*b").is_err() && check_subject("a:*").is_ok());
    }

    #[test]
    fn disabled_clients_never_count_and_client_id_picks_among_the_enabled() {
        let client = |id: &str, subject: &str, disabled: bool| {
            let mut c = RegisteredClient::for_tests(id, "", vec![]);
            c.disabled = disabled;
            c.federation = Some(Binding {
                issuer: "ci".into(),
                subject: subject.into(),
                claims: vec![],
            });
            Arc::new(c)
        };
        let claimed = token(json!({"sub": "pipeline:deploy"}));
        let chosen = |bound: &[Arc<RegisteredClient>], id: Option<&str>| {
            choose(bound, &claimed, id).map(|c| c.client_id.clone())
        };
        let twins = [
            client("old", "pipeline:deploy", true),
            client("new", "pipeline:deploy", false),
            client("other", "pipeline:other", false),
        ];
        assert_eq!(chosen(&twins, None), Ok("new".into()));
        assert_eq!(chosen(&twins, Some("new")), Ok("new".into()));
        assert!(
            chosen(&twins, Some("old")).is_err(),
            "a disabled client never"
        );
        assert!(
            chosen(&twins, Some("other")).is_err(),
            "not bound to this subject"
        );
        let both = [
            client("a", "pipeline:deploy", false),
            client("b", "pipeline:*", false),
        ];
        assert!(chosen(&both, None).is_err(), "two matches need client_id");
        assert_eq!(chosen(&both, Some("b")), Ok("b".into()));
        assert!(chosen(&[client("x", "pipeline:deploy", true)], None).is_err());
    }

    #[test]
    fn a_token_names_only_its_own_issuer_and_a_spiffe_issuer_only_its_trust_domain() {
        let svid = |claims: Value| token(claims);
        let id = "spiffe://prod.example/ns/shop/sa/orders";
        let td = Some("prod.example");
        assert!(svid(json!({"sub": id}))
            .check_issuer("spiffe://prod.example", td)
            .is_ok());
        assert!(svid(json!({"sub": id, "iss": "spiffe://prod.example"}))
            .check_issuer("spiffe://prod.example", td)
            .is_ok());
        for iss in ["https://evil.example", "spiffe://dev.example", ""] {
            assert!(
                svid(json!({"sub": id, "iss": iss}))
                    .check_issuer("spiffe://prod.example", td)
                    .is_err(),
                "{iss}"
            );
        }
        let foreign =
            svid(json!({"sub": "spiffe://dev.example/x", "iss": "spiffe://prod.example"}));
        assert!(foreign.check_issuer("spiffe://prod.example", td).is_err());
        let k8s = svid(json!({"sub": "system:serviceaccount:a:b", "iss": "https://k8s"}));
        assert!(k8s.check_issuer("https://k8s", None).is_ok());
    }

    #[test]
    fn a_dotted_claim_name_reaches_into_nested_objects() {
        let token = json!({
            "kubernetes.io": {"namespace": "shop", "pod": {"name": "orders-1"}},
            "a.b": "flat", "a": {"b": "nested"}, "n": 7, "x": {"y": ["z"]},
        });
        let claims = token.as_object().cloned().unwrap_or_default();
        assert_eq!(claim(&claims, "kubernetes.io.namespace"), Some("shop"));
        assert_eq!(claim(&claims, "kubernetes.io.pod.name"), Some("orders-1"));
        assert_eq!(claim(&claims, "a.b"), Some("flat"), "an exact member first");
        assert_eq!(claim(&claims, "n"), None, "strings only");
        for missing in [
            "kubernetes",
            "kubernetes.io.",
            ".",
            "x.y",
            "x.y.0",
            "é.é",
            "kubernetes.io.nope",
        ] {
            assert_eq!(claim(&claims, missing), None, "{missing}");
        }
        let bound = Binding {
            issuer: "k8s".into(),
            subject: "system:serviceaccount:shop:orders".into(),
            claims: vec![("kubernetes.io.namespace".into(), "shop".into())],
        };
        assert!(bound.matches("system:serviceaccount:shop:orders", &claims));
    }

    #[test]
    fn a_prefix_ends_at_a_colon_or_a_slash_and_text_is_never_cut_inside_a_character() {
        for ok in [
            "repo:acme/*",
            "system:serviceaccount:shop:*",
            "café",
            "dépôt:é/*",
            "ü",
            "/*",
            ":*",
        ] {
            assert_eq!(check_subject(ok), Ok(()), "{ok}");
        }
        for bad in [
            "repo:acme*",
            "a*",
            "é*",
            "café*",
            "*é",
            "x*é",
            "é*é",
            "**",
            "a/**",
            "\u{7}é",
            "é\n",
        ] {
            assert!(check_subject(bad).is_err(), "{bad}");
        }
        assert!(check_subject(&"é".repeat(512)).is_ok());
        assert!(check_subject(&"é".repeat(513)).is_err());

        let bound = |subject: &str| Binding {
            issuer: "ci".into(),
            subject: subject.into(),
            claims: vec![],
        };
        let none = Map::new();
        assert!(bound("repo:acme/*").matches("repo:acme/app", &none));
        assert!(!bound("repo:acme/*").matches("repo:acme-evil/app", &none));
        assert!(!bound("repo:acme/*").matches("repo:acme", &none));
        assert!(bound("dépôt:é/*").matches("dépôt:é/x", &none));
        assert!(bound("café").matches("café", &none));
        assert!(!bound("café").matches("cafe\u{301}", &none));
        // A stored subject against the rule (older rows, hand edits) is no prefix.
        assert!(!bound("repo:acme*").matches("repo:acme-evil", &none));
        assert!(bound("repo:acme*").matches("repo:acme*", &none));
    }

    #[test]
    fn time_and_audience_rules() {
        let now = 1_800_000_000;
        let good = json!({"sub": "s", "aud": ["x", "https://as"], "exp": now + 600, "iat": now});
        assert_eq!(token(good.clone()).check("https://as", 86_400, now), Ok(()));
        let mut cases = vec![];
        for (k, v) in [
            ("aud", json!("https://other")),
            ("exp", json!(now)),
            ("exp", Value::Null),
            ("iat", json!(now + 120)),
            ("nbf", json!(now + 120)),
            ("iat", json!(now - 100_000)),
            ("aud", json!(vec!["https://as"; 1000])),
        ] {
            let mut c = good.clone();
            c[k] = v;
            cases.push(c);
        }
        for c in cases {
            assert!(
                token(c.clone()).check("https://as", 86_400, now).is_err(),
                "{c}"
            );
        }
        assert_eq!(
            trust_domain("spiffe://prod.example/ns/a"),
            Some("prod.example")
        );
        assert_eq!(trust_domain("https://x"), None);
    }

    #[test]
    fn a_token_issued_at_the_start_of_time_is_too_old_not_a_crash() {
        // exp - iat overflows i64: it panicked in debug builds and, wrapping in
        // release, came out negative and passed the max-age rule.
        let now = 1_800_000_000;
        for iat in [i64::MIN, i64::MIN + 1, -now] {
            let c = json!({"sub": "s", "aud": "https://as", "exp": i64::MAX, "iat": iat});
            assert_eq!(
                token(c).check("https://as", 86_400, now),
                Err("exp is further from iat than the issuer's max token age"),
                "iat {iat}"
            );
        }
    }
}
