//! Binding never weakens: from DPoP-bound credentials (a login's access and refresh
//! tokens, a machine's `client_credentials` token), any generated sequence of
//! refreshes (`/oauth/token` and simplejwt's `/api/token/refresh/`, with the right
//! key's proof, another key's, a replayed one or none), replays of rotated refresh
//! tokens, token exchanges (the bound token as subject, the caller's own bound token as
//! actor, exchanged tokens exchanged again so `act` nests) and bound tokens shown to
//! the admin API as Bearer yields only tokens bound to the key that proved the request
//! (`cnf.jkt`, `token_type: DPoP`); every attempt without the proof the credential
//! demands is refused, and no refusal carries a token. Tokens bound to a certificate
//! (`cnf.x5t#S256`, which tessera cannot mint before mutual TLS) or to something it
//! cannot check are forged here with the server's own signing key, as a replica that
//! had mutual TLS would mint them, and must never be usable.

use super::Run;
use crate::helpers::{
    answer, form, spawn_simplejwt_app, unverified_claims, verify_with_jwks, Answer, TestApp,
    TestClient,
};
use crate::jose::{DpopKey, ISSUER};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

const EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const ACCESS: &str = "urn:ietf:params:oauth:token-type:access_token";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const PASSWORD: &str = "ada's password";

/// Two services that call each other, so exchanges nest `act` as deep as generated.
const SERVICES: [&str; 2] = ["svc-a", "svc-b"];

/// The world a case runs in.
struct World {
    app: TestApp,
    web: TestClient,
    machine: TestClient,
    services: Vec<(TestClient, DpopKey)>,
    /// ada's key (her app's), the machine's, and a key nobody registered anywhere.
    user_key: DpopKey,
    machine_key: DpopKey,
    stranger: DpopKey,
    jwks: jsonwebtoken::jwk::JwkSet,
    /// The server's signing key, for forging tokens a replica with mTLS would mint.
    server_key: (String, jsonwebtoken::EncodingKey),
}

/// A bound access token held during a case.
#[derive(Clone, Debug)]
struct Held {
    token: String,
    /// The thumbprint it must be bound to.
    jkt: String,
    /// The service it was issued for (its `aud`), which may exchange it.
    meant_for: usize,
    /// Its `act` claim (`Null` when none).
    act: Value,
    label: String,
}

/// A user's refresh-token family during a case.
struct Family {
    current: String,
    rotated: Vec<String>,
    revoked: bool,
    /// Proofs already used (a replay must be refused).
    used_proofs: Vec<String>,
}

#[derive(Clone, Copy, Debug)]
enum Proof {
    Right,
    OtherKey,
    Replayed,
    None,
}

#[derive(Clone, Copy, Debug)]
enum Path {
    OAuth,
    Simplejwt,
}

impl World {
    fn key_of(&self, jkt: &str) -> Option<&DpopKey> {
        [&self.user_key, &self.machine_key, &self.stranger]
            .into_iter()
            .chain(self.services.iter().map(|(_, k)| k))
            .find(|k| k.jkt() == jkt)
    }

    async fn token(&self, client: &TestClient, body: &str, proof: Option<&str>) -> Answer {
        self.app
            .post_form_as("/oauth/token", client, body, proof.map(|p| ("DPoP", p)))
            .await
    }

    /// Checks an issued access token as a resource server would and returns its claims;
    /// it must be bound to `jkt`.
    fn bound_claims(&self, run: &Run, token: &str, jkt: &str, what: &str) -> Value {
        let (_, claims) = verify_with_jwks(&self.jwks, ISSUER, token);
        assert_eq!(
            claims["cnf"],
            json!({ "jkt": jkt }),
            "{what}: the issued token must be bound to the proving key\n{run}"
        );
        claims
    }
}

async fn world() -> World {
    let (app, web) = spawn_simplejwt_app(&["--audience", SERVICES[0]], super::quiet).await;
    let mut services = Vec::new();
    for (i, id) in SERVICES.iter().enumerate() {
        let next = SERVICES[(i + 1) % SERVICES.len()];
        let client = app
            .create_client(&[
                "--client-id",
                id,
                "--grant-types",
                "token-exchange,client_credentials",
                "--scope",
                "orders",
                "--audience",
                next,
            ])
            .await;
        services.push((client, DpopKey::new()));
    }
    let machine = app
        .create_client(&["--scope", "orders", "--audience", SERVICES[0]])
        .await;
    app.create_user("ada", PASSWORD).await;
    let jwks = serde_json::from_value(app.jwks().await).expect("JWKS");
    let (kid, der, encrypted) = app
        .raw_signing_keys()
        .into_iter()
        .next()
        .expect("a signing key");
    assert!(!encrypted, "test servers keep keys unencrypted");
    let server_key = {
        use rsa::pkcs1::EncodeRsaPrivateKey;
        use rsa::pkcs8::DecodePrivateKey;
        let key = rsa::RsaPrivateKey::from_pkcs8_der(&der).expect("an RSA signing key");
        let pkcs1 = key.to_pkcs1_der().expect("pkcs1");
        (
            kid,
            jsonwebtoken::EncodingKey::from_rsa_der(pkcs1.as_bytes()),
        )
    };
    World {
        app,
        web,
        machine,
        services,
        user_key: DpopKey::new(),
        machine_key: DpopKey::new(),
        stranger: DpopKey::new(),
        jwks,
        server_key,
    }
}

/// A refusal carries no token, whatever its shape.
fn assert_refused(run: &Run, a: &Answer, status: u16, error: &str, what: &str) {
    assert!(
        a.body.get("access_token").is_none() && a.body.get("access").is_none(),
        "{what}: a refusal carried a token: {}\n{run}",
        a.body
    );
    let got = a.body["error"]
        .as_str()
        .or_else(|| a.body["code"].as_str())
        .unwrap_or("<none>");
    assert_eq!(
        (a.status, got),
        (status, error),
        "{what}: expected a refusal, got {}\n{run}",
        a.body
    );
}

#[tokio::test]
async fn binding_never_weakens_along_any_chain_of_refreshes_and_exchanges() {
    let w = world().await;
    let mut run = Run::new("binding_never_weakens");
    let cases = run.cases(20);
    forged_bindings_are_never_usable(&w, &mut run).await;
    for case in 0..cases {
        run.step(format!("case {case}"));
        let mut held: Vec<Held> = Vec::new();
        let mut family = start(&w, &mut run, &mut held).await;
        let ops = run.pick(6..=14usize);
        for _ in 0..ops {
            match run.pick(0..=9u8) {
                0..=2 => refresh(&w, &mut run, &mut family, &mut held).await,
                3 => replay_rotated(&w, &mut run, &mut family).await,
                4..=7 => exchange(&w, &mut run, &mut held).await,
                _ => bearer_at_the_admin_api(&w, &mut run, &held).await,
            }
        }
    }
    run.finish();
}

/// A case's bound credentials: ada's login (by the token endpoint or simplejwt's) with
/// her key, and the machine's own token with its key.
async fn start(w: &World, run: &mut Run, held: &mut Vec<Held>) -> Family {
    let via = *run.choose(&[Path::OAuth, Path::Simplejwt]);
    run.step(format!("login with DPoP via {via:?}"));
    let (access, refresh, proof) = match via {
        Path::OAuth => {
            let proof = w.user_key.proof();
            let body = form(&[
                ("grant_type", "password"),
                ("username", "ada"),
                ("password", PASSWORD),
            ]);
            let a = w.token(&w.web, &body, Some(&proof)).await;
            assert_eq!(a.status, 200, "login: {}\n{run}", a.body);
            assert_eq!(a.body["token_type"], "DPoP", "login\n{run}");
            (
                a.access_token().to_string(),
                a.refresh_token().to_string(),
                proof,
            )
        }
        Path::Simplejwt => {
            let proof = w
                .user_key
                .proof_for("POST", &format!("{ISSUER}/api/token/"), None);
            let a = w
                .app
                .post_json(
                    "/api/token/",
                    &json!({"username": "ada", "password": PASSWORD}),
                    Some(&proof),
                )
                .await;
            assert_eq!(a.status, 200, "simplejwt login: {}\n{run}", a.body);
            (
                a.body["access"].as_str().expect("access").to_string(),
                a.body["refresh"].as_str().expect("refresh").to_string(),
                proof,
            )
        }
    };
    w.bound_claims(run, &access, &w.user_key.jkt(), "login");
    held.push(Held {
        token: access,
        jkt: w.user_key.jkt(),
        meant_for: 0,
        act: Value::Null,
        label: "ada's login token".into(),
    });
    run.step("machine client_credentials with DPoP");
    let a = w
        .token(
            &w.machine,
            "grant_type=client_credentials",
            Some(&w.machine_key.proof()),
        )
        .await;
    assert_eq!(a.status, 200, "client_credentials: {}\n{run}", a.body);
    assert_eq!(a.body["token_type"], "DPoP", "client_credentials\n{run}");
    w.bound_claims(run, a.access_token(), &w.machine_key.jkt(), "machine");
    held.push(Held {
        token: a.access_token().to_string(),
        jkt: w.machine_key.jkt(),
        meant_for: 0,
        act: Value::Null,
        label: "the machine's token".into(),
    });
    Family {
        current: refresh,
        rotated: Vec::new(),
        revoked: false,
        used_proofs: vec![proof],
    }
}

/// A refresh of ada's family through either path with a generated proof: only the
/// right key's fresh proof on a live family yields tokens, bound to her key.
async fn refresh(w: &World, run: &mut Run, family: &mut Family, held: &mut Vec<Held>) {
    let via = *run.choose(&[Path::OAuth, Path::Simplejwt]);
    let kind = *run.choose(&[
        Proof::Right,
        Proof::Right,
        Proof::OtherKey,
        Proof::Replayed,
        Proof::None,
    ]);
    let narrow = run.chance(0.3);
    run.step(format!(
        "refresh via {via:?} with proof {kind:?}{} (family revoked: {})",
        if narrow { ", scope narrowed" } else { "" },
        family.revoked
    ));
    let path = match via {
        Path::OAuth => "/oauth/token",
        Path::Simplejwt => "/api/token/refresh/",
    };
    let url = format!("{ISSUER}{path}");
    let proof = match kind {
        Proof::Right => Some(w.user_key.proof_for("POST", &url, None)),
        Proof::OtherKey => Some(
            run.choose(&[&w.stranger, &w.machine_key, &w.services[0].1])
                .proof_for("POST", &url, None),
        ),
        Proof::Replayed => Some(run.choose(&family.used_proofs).clone()),
        Proof::None => None,
    };
    let a = match via {
        Path::OAuth => {
            let mut pairs = vec![
                ("grant_type", "refresh_token"),
                ("refresh_token", family.current.as_str()),
            ];
            if narrow {
                pairs.push(("scope", "orders"));
            }
            w.token(&w.web, &form(&pairs), proof.as_deref()).await
        }
        Path::Simplejwt => {
            w.app
                .post_json(
                    path,
                    &json!({ "refresh": family.current }),
                    proof.as_deref(),
                )
                .await
        }
    };
    if let Some(p) = &proof {
        family.used_proofs.push(p.clone());
    }
    let what = format!("refresh via {via:?} with {kind:?}");
    run.count(format!(
        "{what}, family revoked: {}: {}",
        family.revoked, a.status
    ));
    match (kind, family.revoked, via) {
        (Proof::Right, false, _) => {
            assert_eq!(a.status, 200, "{what}: {}\n{run}", a.body);
            let (access, refresh) = match via {
                Path::OAuth => {
                    assert_eq!(a.body["token_type"], "DPoP", "{what}\n{run}");
                    (a.access_token().to_string(), a.refresh_token().to_string())
                }
                Path::Simplejwt => (
                    a.body["access"].as_str().expect("access").to_string(),
                    a.body["refresh"].as_str().expect("refresh").to_string(),
                ),
            };
            w.bound_claims(run, &access, &w.user_key.jkt(), &what);
            held.push(Held {
                token: access,
                jkt: w.user_key.jkt(),
                meant_for: 0,
                act: Value::Null,
                label: "ada's refreshed token".into(),
            });
            family
                .rotated
                .push(std::mem::replace(&mut family.current, refresh));
        }
        (_, _, Path::Simplejwt) => assert_refused(run, &a, 401, "token_not_valid", &what),
        // A revoked family refuses before any binding is looked at, unless a proof by
        // another key (or a used one) is refused first.
        (Proof::Right | Proof::None, true, Path::OAuth) => {
            assert_refused(run, &a, 400, "invalid_grant", &what)
        }
        // A used proof by her key for this URL: the revoked family or the replay,
        // whichever is looked at first.
        (Proof::Replayed, true, Path::OAuth) if a.body["error"] == "invalid_grant" => {
            assert_refused(run, &a, 400, "invalid_grant", &what)
        }
        (_, _, Path::OAuth) => assert_refused(run, &a, 400, "invalid_dpop_proof", &what),
    }
}

/// A rotated refresh token presented again: refused, and with a proof that is not
/// refused for its key (her own, or none) the family is revoked (RFC 9700 §4.14).
async fn replay_rotated(w: &World, run: &mut Run, family: &mut Family) {
    if family.rotated.is_empty() {
        return;
    }
    let old = run.choose(&family.rotated).clone();
    let kind = *run.choose(&[Proof::Right, Proof::OtherKey, Proof::None]);
    run.step(format!(
        "replay a rotated refresh token with proof {kind:?}"
    ));
    let proof = match kind {
        Proof::Right => Some(w.user_key.proof()),
        Proof::OtherKey => Some(w.stranger.proof()),
        _ => None,
    };
    let body = form(&[("grant_type", "refresh_token"), ("refresh_token", &old)]);
    let a = w.token(&w.web, &body, proof.as_deref()).await;
    run.count(format!(
        "replay of a rotated token with {kind:?}: {}",
        a.status
    ));
    match kind {
        Proof::OtherKey => {
            assert_refused(run, &a, 400, "invalid_dpop_proof", "replay by another key")
        }
        _ => {
            assert_refused(run, &a, 400, "invalid_grant", "replay of a rotated token");
            family.revoked = true;
        }
    }
}

/// A token exchange by the service a held token was issued for, maybe with that
/// service's own bound token as actor, with a generated proof.
async fn exchange(w: &World, run: &mut Run, held: &mut Vec<Held>) {
    let subject = run.choose(held).clone();
    let caller = subject.meant_for;
    let (client, caller_key) = &w.services[caller];
    let with_actor = run.chance(0.4);
    let subject_key = w.key_of(&subject.jkt).expect("a known key");
    let (proof_label, key): (&str, Option<&DpopKey>) = *run.choose(&[
        ("the caller's key", Some(caller_key)),
        ("the caller's key", Some(caller_key)),
        ("the subject token's key", Some(subject_key)),
        ("a stranger's key", Some(&w.stranger)),
        ("no proof", None),
    ]);
    let jwt = run.chance(0.3);
    run.step(format!(
        "{} exchanges {} (act depth {}){} with {proof_label}",
        client.id,
        subject.label,
        depth(&subject.act),
        if with_actor {
            " and its own bound actor token"
        } else {
            ""
        },
    ));
    let mut pairs = vec![
        ("grant_type", EXCHANGE.to_string()),
        ("subject_token", subject.token.clone()),
        (
            "subject_token_type",
            if jwt { JWT } else { ACCESS }.to_string(),
        ),
    ];
    if jwt {
        pairs.push(("requested_token_type", JWT.to_string()));
    }
    if with_actor {
        let own = w
            .token(
                client,
                "grant_type=client_credentials",
                Some(&caller_key.proof()),
            )
            .await;
        assert_eq!(
            own.status, 200,
            "the caller's own token: {}\n{run}",
            own.body
        );
        w.bound_claims(
            run,
            own.access_token(),
            &caller_key.jkt(),
            "the caller's own token",
        );
        pairs.push(("actor_token", own.access_token().to_string()));
        pairs.push(("actor_token_type", ACCESS.to_string()));
    }
    let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let a = w
        .token(client, &form(&refs), key.map(DpopKey::proof).as_deref())
        .await;
    let what = format!("exchange with {proof_label}");
    run.count(format!(
        "{what}{}, act depth {}: {}",
        if with_actor {
            " and an actor token"
        } else {
            ""
        },
        depth(&subject.act).min(3),
        a.status
    ));
    let accepted = match key {
        None => false,
        // The actor token is the caller's own: only its key proves it.
        Some(k) => !with_actor || k.jkt() == caller_key.jkt(),
    };
    if !accepted {
        assert_refused(run, &a, 400, "invalid_request", &what);
        return;
    }
    assert_eq!(a.status, 200, "{what}: {}\n{run}", a.body);
    assert_eq!(a.body["token_type"], "DPoP", "{what}\n{run}");
    let key = key.expect("accepted with a proof");
    let claims = w.bound_claims(run, a.access_token(), &key.jkt(), &what);
    let mut act = json!({ "sub": client.id });
    if !subject.act.is_null() {
        act["act"] = subject.act.clone();
    }
    assert_eq!(claims["act"], act, "{what}: the chain stays visible\n{run}");
    held.push(Held {
        token: a.access_token().to_string(),
        jkt: key.jkt(),
        meant_for: (caller + 1) % SERVICES.len(),
        act,
        label: format!("{}'s exchanged token", client.id),
    });
}

fn depth(act: &Value) -> usize {
    if act.is_null() {
        0
    } else {
        1 + depth(&act["act"])
    }
}

/// A bound token presented as a Bearer token at tessera's own resource server.
async fn bearer_at_the_admin_api(w: &World, run: &mut Run, held: &[Held]) {
    let h = run.choose(held);
    run.step(format!("{} as Bearer at the admin API", h.label));
    let a = admin_get(w, &format!("Bearer {}", h.token), None).await;
    run.count(format!(
        "a bound token as Bearer at the admin API: {}",
        a.status
    ));
    assert_refused(run, &a, 401, "invalid_token", "a bound token as Bearer");
}

async fn admin_get(w: &World, authorization: &str, proof: Option<String>) -> Answer {
    let mut req = w
        .app
        .http
        .get(format!("{}/oauth/register/{}", w.app.address, w.web.id))
        .header("Authorization", authorization);
    if let Some(p) = proof {
        req = req.header("DPoP", p);
    }
    answer(req.send().await.expect("sent")).await
}

/// Re-signs `token`'s claims with the server's key, `cnf` replaced and a new `jti`.
fn forge(w: &World, token: &str, cnf: Value) -> String {
    let mut claims = unverified_claims(token);
    claims["cnf"] = cnf;
    claims["jti"] = json!(uuid::Uuid::new_v4().simple().to_string());
    let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
    header.typ = Some("at+jwt".into());
    header.kid = Some(w.server_key.0.clone());
    jsonwebtoken::encode(&header, &claims, &w.server_key.1).expect("sign")
}

/// Tokens bound to a certificate or to something unknown, forged as a replica with
/// mutual TLS would mint them: refused as subject token, as actor token and at the
/// admin API, whatever proof comes with them. The same forgery bound to a DPoP key is
/// accepted, so the refusals are for the binding and not for the forgery.
async fn forged_bindings_are_never_usable(w: &World, run: &mut Run) {
    let (svc, svc_key) = &w.services[0];
    let machine = w
        .token(
            &w.machine,
            "grant_type=client_credentials",
            Some(&w.machine_key.proof()),
        )
        .await;
    let own = w
        .token(svc, "grant_type=client_credentials", Some(&svc_key.proof()))
        .await;
    let (machine, own) = (machine.access_token(), own.access_token());
    let thumbprint = URL_SAFE_NO_PAD.encode([run.pick(0..=255u8); 32]);
    let exchange = |subject: String, actor: Option<String>, proof: Option<String>| async move {
        let mut pairs = vec![
            ("grant_type", EXCHANGE.to_string()),
            ("subject_token", subject),
            ("subject_token_type", ACCESS.to_string()),
        ];
        if let Some(actor) = actor {
            pairs.push(("actor_token", actor));
            pairs.push(("actor_token_type", ACCESS.to_string()));
        }
        let refs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        w.token(svc, &form(&refs), proof.as_deref()).await
    };

    run.step("control: a forged token bound to a DPoP key is usable");
    let control = forge(w, machine, json!({"jkt": w.stranger.jkt()}));
    let a = exchange(control, None, Some(svc_key.proof())).await;
    assert_eq!(
        a.status, 200,
        "the forgery itself is accepted: {}\n{run}",
        a.body
    );
    let control_actor = forge(w, own, json!({"jkt": svc_key.jkt()}));
    let a = exchange(
        machine.to_string(),
        Some(control_actor),
        Some(svc_key.proof()),
    )
    .await;
    assert_eq!(
        a.status, 200,
        "a forged actor token is accepted: {}\n{run}",
        a.body
    );

    for (name, cnf) in [
        ("x5t#S256", json!({ "x5t#S256": thumbprint })),
        (
            "x5t#S256 and jkt",
            json!({ "x5t#S256": thumbprint, "jkt": svc_key.jkt() }),
        ),
        ("an unknown member", json!({ "jwk": w.stranger.key.public })),
        ("nothing", json!({})),
    ] {
        for proof in [Some(svc_key), Some(&w.stranger), None] {
            let p = || proof.map(DpopKey::proof);
            run.step(format!(
                "a token bound to {name} as subject, proof {:?}",
                proof.map(|k| k.jkt())
            ));
            let a = exchange(forge(w, machine, cnf.clone()), None, p()).await;
            assert_refused(
                run,
                &a,
                400,
                "invalid_request",
                &format!("subject bound to {name}"),
            );
            run.step(format!("a token bound to {name} as actor"));
            let a = exchange(machine.to_string(), Some(forge(w, own, cnf.clone())), p()).await;
            assert_refused(
                run,
                &a,
                400,
                "invalid_request",
                &format!("actor bound to {name}"),
            );
        }
        run.step(format!("a token bound to {name} at the admin API"));
        let token = forge(w, own, cnf.clone());
        let url = format!("{ISSUER}/oauth/register/{}", w.web.id);
        for (scheme, proof) in [
            ("Bearer", None),
            ("DPoP", Some(svc_key.proof_for("GET", &url, Some(&token)))),
        ] {
            let a = admin_get(w, &format!("{scheme} {token}"), proof).await;
            assert_eq!(
                a.status, 401,
                "{name} as {scheme} at the admin API: {}\n{run}",
                a.body
            );
        }
    }
}
