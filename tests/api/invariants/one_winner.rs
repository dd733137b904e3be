//! Exactly one winner: N (2..=16) concurrent uses of one refresh token, through the
//! token endpoint and simplejwt's refresh, bound to a DPoP key or not, interleaved at
//! generated offsets with 0..=4 uses of a second family's token; against a bound
//! family some uses come without a proof or with another key's. Of each token's uses
//! with the right proof exactly one gets new tokens (none without it), every other use
//! is refused (`invalid_grant`, `invalid_dpop_proof`, or simplejwt's
//! `token_not_valid`), and afterwards SPEC's reuse rule holds: a family whose rotated
//! token was presented again is revoked, so its winner's new refresh token is refused
//! too, a family used once keeps working, and one only refused changed nothing.
//! (`refresh_reuse_grace` is SPEC's default, 0: a grace lets replays win on purpose.)

use super::Run;
use crate::helpers::{count_sql, form, spawn_simplejwt_app, Answer, TestApp, TestClient};
use crate::jose::{DpopKey, ISSUER};
use serde_json::json;
use std::time::Duration;

const USERS: [(&str, &str); 2] = [("ada", "ada's password"), ("bob", "bob's password")];

#[derive(Clone, Copy, Debug)]
enum Path {
    OAuth,
    Simplejwt,
}

/// One family under test: its token, the key it is bound to (if any).
struct Family {
    refresh: String,
    key: Option<DpopKey>,
}

async fn login(app: &TestApp, web: &TestClient, user: usize, key: Option<&DpopKey>) -> Family {
    let (name, password) = USERS[user];
    let body = form(&[
        ("grant_type", "password"),
        ("username", name),
        ("password", password),
    ]);
    let proof = key.map(DpopKey::proof);
    let a = app
        .post_form_as(
            "/oauth/token",
            web,
            body,
            proof.as_deref().map(|p| ("DPoP", p)),
        )
        .await;
    assert_eq!(a.status, 200, "login: {}", a.body);
    Family {
        refresh: a.refresh_token().to_string(),
        key: None,
    }
}

/// One use of `token` through `path`, with a fresh proof by `key` when bound.
async fn use_token(
    app: &TestApp,
    web: &TestClient,
    token: &str,
    key: Option<&DpopKey>,
    path: Path,
) -> Answer {
    match path {
        Path::OAuth => {
            let body = form(&[("grant_type", "refresh_token"), ("refresh_token", token)]);
            let proof = key.map(DpopKey::proof);
            app.post_form_as(
                "/oauth/token",
                web,
                body,
                proof.as_deref().map(|p| ("DPoP", p)),
            )
            .await
        }
        Path::Simplejwt => {
            let url = format!("{ISSUER}/api/token/refresh/");
            let proof = key.map(|k| k.proof_for("POST", &url, None));
            app.post_json(
                "/api/token/refresh/",
                &json!({ "refresh": token }),
                proof.as_deref(),
            )
            .await
        }
    }
}

/// The new refresh token of a winning answer.
fn successor(a: &Answer, path: Path) -> String {
    match path {
        Path::OAuth => a.refresh_token().to_string(),
        Path::Simplejwt => a.body["refresh"].as_str().expect("refresh").to_string(),
    }
}

fn is_refusal(a: &Answer, path: Path) -> bool {
    let has_token = a.body.get("access_token").is_some() || a.body.get("access").is_some();
    !has_token
        && match path {
            Path::OAuth => {
                a.status == 400
                    && (a.body["error"] == "invalid_grant"
                        || a.body["error"] == "invalid_dpop_proof")
            }
            Path::Simplejwt => a.status == 401 && a.body["code"] == "token_not_valid",
        }
}

/// Whether the family of the stored refresh token `token` is revoked.
fn family_revoked(app: &TestApp, token: &str) -> bool {
    let hash = tessera::oauth::secret::hash_secret(token);
    count_sql(
        &app.db,
        &format!(
            "SELECT COUNT(*) AS n FROM refresh_tokens t JOIN refresh_families f \
             ON f.id = t.family_id WHERE t.token_hash = '{hash}' AND f.revoked_at IS NOT NULL"
        ),
    ) == 1
}

/// How a use proves the family's key.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Attempt {
    /// A fresh proof by the family's key (no proof for an unbound family).
    Right,
    /// No proof, for a bound family.
    NoProof,
    /// A proof by another key, for a bound family.
    OtherKey,
}

#[tokio::test]
async fn of_concurrent_uses_of_one_refresh_token_exactly_one_wins() {
    let (app, web) = spawn_simplejwt_app(&[], super::quiet).await;
    for (name, password) in USERS {
        app.create_user(name, password).await;
    }
    let stranger = DpopKey::new();
    let mut run = Run::new("exactly_one_winner");
    let cases = run.cases(30);
    for case in 0..cases {
        let n = run.pick(2..=16usize);
        let m = run.pick(0..=4usize);
        let mut families = Vec::new();
        for (user, uses) in [(0, n), (1, m)] {
            let bound = run.chance(0.5).then(DpopKey::new);
            let mut f = login(&app, &web, user, bound.as_ref()).await;
            let attempts: Vec<(Path, Attempt)> = (0..uses)
                .map(|_| {
                    let path = *run.choose(&[Path::OAuth, Path::Simplejwt]);
                    // Against a bound family, some uses come without its key.
                    let attempt = match (&bound, run.pick(0..=7u8)) {
                        (Some(_), 0) => Attempt::NoProof,
                        (Some(_), 1) => Attempt::OtherKey,
                        _ => Attempt::Right,
                    };
                    (path, attempt)
                })
                .collect();
            f.key = bound;
            families.push((f, attempts));
        }
        // Every use with the family it belongs to, in a generated order, each sent
        // after a generated delay (0–3 ms) so the interleavings differ.
        let mut uses: Vec<(usize, Path, Attempt, u64)> = Vec::new();
        for (fi, (_, attempts)) in families.iter().enumerate() {
            for (p, a) in attempts {
                uses.push((fi, *p, *a, 0));
            }
        }
        for i in (1..uses.len()).rev() {
            let j = run.pick(0..=i);
            uses.swap(i, j);
        }
        for u in &mut uses {
            u.3 = run.pick(0..=3_000u64);
        }
        run.step(format!(
            "case {case}: {n} uses of family A (bound: {}), {m} of family B (bound: {}), \
             order and delays (family, path, proof, µs) {uses:?}",
            families[0].0.key.is_some(),
            families[1].0.key.is_some(),
        ));
        let answers = futures::future::join_all(uses.iter().map(|&(fi, path, attempt, delay)| {
            let (app, web, family, stranger) = (&app, &web, &families[fi].0, &stranger);
            async move {
                tokio::time::sleep(Duration::from_micros(delay)).await;
                let key = match attempt {
                    Attempt::Right => family.key.as_ref(),
                    Attempt::NoProof => None,
                    Attempt::OtherKey => Some(stranger),
                };
                let a = use_token(app, web, &family.refresh, key, path).await;
                (fi, path, attempt, a)
            }
        }))
        .await;

        for (fi, (family, attempts)) in families.iter().enumerate() {
            let name = ["A", "B"][fi];
            let mine: Vec<&(usize, Path, Attempt, Answer)> =
                answers.iter().filter(|u| u.0 == fi).collect();
            let right = attempts
                .iter()
                .filter(|(_, a)| *a == Attempt::Right)
                .count();
            let winners: Vec<&&(usize, Path, Attempt, Answer)> =
                mine.iter().filter(|u| u.3.status == 200).collect();
            let summary: Vec<String> = mine
                .iter()
                .map(|(_, p, at, a)| format!("{p:?} {at:?} {} {}", a.status, a.body))
                .collect();
            run.count(format!(
                "family {name}: {} right uses and {} without the key",
                match right {
                    0 => "0",
                    1 => "1",
                    _ => "2+",
                },
                if attempts.len() > right {
                    "some"
                } else {
                    "none"
                }
            ));
            assert_eq!(
                winners.len(),
                right.min(1),
                "family {name}: {} uses ({right} with the right proof), {} winners: \
                 {summary:#?}\n{run}",
                attempts.len(),
                winners.len()
            );
            for (_, p, at, a) in mine.iter().filter(|u| u.3.status != 200) {
                assert!(
                    is_refusal(a, *p),
                    "family {name}: a loser via {p:?} with {at:?} was not refused: {} {}\n{run}",
                    a.status,
                    a.body
                );
            }
            let Some((_, path, attempt, won)) = winners.first().map(|w| **w) else {
                // Nobody had the key: nothing changed, the token still works.
                if !attempts.is_empty() {
                    assert!(
                        !family_revoked(&app, &family.refresh),
                        "family {name}\n{run}"
                    );
                    let a = use_token(
                        &app,
                        &web,
                        &family.refresh,
                        family.key.as_ref(),
                        Path::OAuth,
                    )
                    .await;
                    assert_eq!(
                        a.status, 200,
                        "family {name}, only refused uses: {}\n{run}",
                        a.body
                    );
                }
                continue;
            };
            assert_eq!(
                *attempt,
                Attempt::Right,
                "family {name}: won without the key\n{run}"
            );
            let next = successor(won, *path);
            // SPEC: presenting a rotated token again revokes the family, so after a
            // race the winner's token is refused too; a family used once lives on. A
            // use without a proof that came after the winner presented a rotated
            // token too (and a revocation needs no proof); one by another key was
            // refused before its token was looked at.
            let revoked = family_revoked(&app, &family.refresh);
            if right >= 2 {
                assert!(
                    revoked,
                    "family {name}: reused {} times but not revoked\n{run}",
                    right - 1
                );
            }
            if right == attempts.len() && right == 1 {
                assert!(!revoked, "family {name}: used once, yet revoked\n{run}");
            }
            let again = use_token(&app, &web, &next, family.key.as_ref(), Path::OAuth).await;
            if revoked {
                assert!(
                    is_refusal(&again, Path::OAuth),
                    "family {name}: the winner's new token still works after reuse: {}\n{run}",
                    again.body
                );
            } else {
                assert_eq!(
                    again.status, 200,
                    "family {name}: not revoked, yet its new token is refused: {}\n{run}",
                    again.body
                );
            }
        }
        run.count(format!("races of {:2} uses", n));
        run.count(format!("second family used {m} times"));
        // A family nobody used is untouched by the other's race.
        if m == 0 {
            let (b, _) = &families[1];
            let a = use_token(&app, &web, &b.refresh, b.key.as_ref(), Path::OAuth).await;
            assert_eq!(a.status, 200, "family B, never used: {}\n{run}", a.body);
        }
    }
    run.finish();
}
