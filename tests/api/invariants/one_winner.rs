//! Exactly one winner: N (2..=16) concurrent uses of one refresh token, through the
//! token endpoint and simplejwt's refresh, bound to a DPoP key or not, interleaved at
//! generated offsets with uses of a second family's token: exactly one use of each
//! token gets new tokens, every other one is refused (`invalid_grant`, or simplejwt's
//! `token_not_valid`), and afterwards SPEC's reuse rule holds — a family whose rotated
//! token was presented again is revoked, so its winner's new refresh token is refused
//! too, while a family used once keeps working.

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
            Path::OAuth => a.status == 400 && a.body["error"] == "invalid_grant",
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

#[tokio::test]
async fn of_concurrent_uses_of_one_refresh_token_exactly_one_wins() {
    let (app, web) = spawn_simplejwt_app(&[], super::quiet).await;
    for (name, password) in USERS {
        app.create_user(name, password).await;
    }
    let mut run = Run::new("exactly_one_winner");
    let cases = run.cases(30);
    for case in 0..cases {
        let n = run.pick(2..=16usize);
        let m = run.pick(0..=4usize);
        let mut families = Vec::new();
        for (user, uses) in [(0, n), (1, m)] {
            let bound = run.chance(0.5).then(DpopKey::new);
            let mut f = login(&app, &web, user, bound.as_ref()).await;
            f.key = bound;
            let paths: Vec<Path> = (0..uses)
                .map(|_| *run.choose(&[Path::OAuth, Path::Simplejwt]))
                .collect();
            families.push((f, paths));
        }
        // Every use with the family it belongs to, in a generated order, each sent
        // after a generated delay (0–3 ms) so the interleavings differ.
        let mut uses: Vec<(usize, Path, u64)> = Vec::new();
        for (fi, (_, paths)) in families.iter().enumerate() {
            for p in paths {
                uses.push((fi, *p, 0));
            }
        }
        for i in (1..uses.len()).rev() {
            let j = run.pick(0..=i);
            uses.swap(i, j);
        }
        for u in &mut uses {
            u.2 = run.pick(0..=3_000u64);
        }
        run.step(format!(
            "case {case}: {n} uses of family A (bound: {}), {m} of family B (bound: {}), \
             order and delays (family, path, µs) {uses:?}",
            families[0].0.key.is_some(),
            families[1].0.key.is_some(),
        ));
        let answers = futures::future::join_all(uses.iter().map(|&(fi, path, delay)| {
            let (app, web, family) = (&app, &web, &families[fi].0);
            async move {
                tokio::time::sleep(Duration::from_micros(delay)).await;
                let a = use_token(app, web, &family.refresh, family.key.as_ref(), path).await;
                (fi, path, a)
            }
        }))
        .await;

        for (fi, (family, paths)) in families.iter().enumerate() {
            let mine: Vec<&(usize, Path, Answer)> =
                answers.iter().filter(|(f, _, _)| *f == fi).collect();
            let winners: Vec<&&(usize, Path, Answer)> =
                mine.iter().filter(|(_, _, a)| a.status == 200).collect();
            let summary: Vec<String> = mine
                .iter()
                .map(|(_, p, a)| format!("{p:?} {} {}", a.status, a.body))
                .collect();
            let name = ["A", "B"][fi];
            if paths.is_empty() {
                continue;
            }
            assert_eq!(
                winners.len(),
                1,
                "family {name}: {} uses, {} winners: {summary:#?}\n{run}",
                paths.len(),
                winners.len()
            );
            for (_, p, a) in mine.iter().filter(|(_, _, a)| a.status != 200) {
                assert!(
                    is_refusal(a, *p),
                    "family {name}: a loser via {p:?} was not refused as invalid_grant: {} {}\n{run}",
                    a.status,
                    a.body
                );
            }
            let (_, path, won) = winners[0];
            let next = successor(won, *path);
            // SPEC: presenting a rotated token again revokes the family, so after a
            // race the winner's token is refused too; a family used once lives on.
            let again = use_token(&app, &web, &next, family.key.as_ref(), Path::OAuth).await;
            if paths.len() >= 2 {
                assert!(
                    family_revoked(&app, &family.refresh),
                    "family {name}: reused {} times but not revoked\n{run}",
                    paths.len() - 1
                );
                assert!(
                    is_refusal(&again, Path::OAuth),
                    "family {name}: the winner's new token still works after reuse: {}\n{run}",
                    again.body
                );
            } else {
                assert!(
                    !family_revoked(&app, &family.refresh),
                    "family {name}\n{run}"
                );
                assert_eq!(
                    again.status, 200,
                    "family {name}: used once, raced by the other family: {}\n{run}",
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
