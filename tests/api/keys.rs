//! The signing-key lifecycle seen from outside: rotation that never breaks a valid
//! token, pre-publication, retention, several processes on one database, encryption
//! at rest, and the key commands.

use crate::helpers::{
    kids, run_cli, serve_process, spawn_app_on, spawn_app_with, verify_with_discovery, TestDb,
};
use jsonwebtoken::decode_header;
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

const KEK: &str = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
const OTHER_KEK: &str = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100";

#[tokio::test]
async fn rotation_prepublishes_new_keys_and_never_breaks_a_valid_token() {
    let app = spawn_app_with(|c| {
        c.signing.key_rotation_period = Some(6);
        c.signing.key_prepublish = Some(3);
        c.signing.key_refresh_interval = Some(1);
        c.signing.key_retention = Some(4);
        c.tokens.access_token_ttl = Some(3);
    })
    .await;
    let client = app.create_client(&[]).await;
    let start = Instant::now();
    let mut first_published: HashMap<String, Instant> = HashMap::new();
    let mut first_used: HashMap<String, Instant> = HashMap::new();
    let mut tokens: Vec<(String, String, i64)> = Vec::new(); // (token, kid, exp)
    let mut gone: HashMap<String, Instant> = HashMap::new();
    while start.elapsed() < Duration::from_secs(17) {
        let jwks_now = app.jwks().await;
        let published = kids(&jwks_now);
        for k in &published {
            first_published
                .entry(k.clone())
                .or_insert_with(Instant::now);
        }
        for k in first_published.keys() {
            if !published.contains(k) {
                gone.entry(k.clone()).or_insert_with(Instant::now);
            }
        }
        let answer = app
            .token_basic(&client, "grant_type=client_credentials")
            .await;
        let token = answer.access_token().to_string();
        let kid = decode_header(&token).expect("header").kid.expect("kid");
        first_used.entry(kid.clone()).or_insert_with(Instant::now);
        let (_, claims) = app.verify(&token).await;
        tokens.push((token, kid, claims["exp"].as_i64().expect("exp")));
        // Every token not yet expired still verifies against the JWKS served at the
        // start of this round (checked locally, so each round stays short and the
        // publication times above stay precise).
        let set: jsonwebtoken::jwk::JwkSet = serde_json::from_value(jwks_now).expect("JWKS");
        let now = chrono::Utc::now().timestamp();
        for (t, kid, _) in tokens.iter().filter(|(_, _, exp)| *exp > now + 1) {
            let jwk = set
                .find(kid)
                .unwrap_or_else(|| panic!("{kid} left the JWKS while its token was valid"));
            let key = jsonwebtoken::DecodingKey::from_jwk(jwk).expect("key");
            let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
            v.validate_aud = false;
            jsonwebtoken::decode::<Value>(t, &key, &v).expect("still verifies");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(first_used.len() >= 3, "keys signed in turn: {first_used:?}");
    let (first_token, _, _) = &tokens[0];
    let first_kid = decode_header(first_token).expect("h").kid.expect("kid");
    for (kid, used) in first_used.iter().filter(|(k, _)| **k != first_kid) {
        let published = first_published[kid];
        assert!(
            *used >= published + Duration::from_secs(1),
            "{kid} was in the JWKS at least a second before it signed"
        );
    }
    let left = gone
        .get(&first_kid)
        .expect("the first key left the JWKS after retention");
    let last_exp = tokens
        .iter()
        .filter(|(_, k, _)| *k == first_kid)
        .map(|(_, _, e)| *e)
        .max()
        .expect("tokens of the first key");
    let left_at = chrono::Utc::now().timestamp() - left.elapsed().as_secs() as i64;
    assert!(
        left_at >= last_exp - 1,
        "the first key stayed published until its last token expired"
    );
}

#[tokio::test]
async fn three_serve_processes_on_one_database_rotate_once_per_period_and_agree() {
    let db = TestDb::new();
    let cwd = tempfile::tempdir().expect("dir");
    let env = [
        ("TESSERA_DATABASE_URL", db.url()),
        ("TESSERA_KEY_ROTATION_PERIOD", "4".to_string()),
        ("TESSERA_KEY_PREPUBLISH", "2".to_string()),
        ("TESSERA_KEY_REFRESH_INTERVAL", "1".to_string()),
        ("TESSERA_KEY_RETENTION", "2".to_string()),
        ("TESSERA_ACCESS_TOKEN_TTL", "1".to_string()),
    ];
    let (a, b, c) = tokio::join!(
        serve_process(cwd.path(), &env),
        serve_process(cwd.path(), &env),
        serve_process(cwd.path(), &env)
    );
    let http = reqwest::Client::new();
    let fetch = |addr: String| {
        let http = http.clone();
        async move {
            http.get(format!("{addr}/.well-known/jwks.json"))
                .send()
                .await
                .expect("jwks")
                .bytes()
                .await
                .expect("body")
        }
    };
    let start = Instant::now();
    let mut seen: HashSet<String> = HashSet::new();
    while start.elapsed() < Duration::from_secs(14) {
        for addr in [&a.address, &b.address, &c.address] {
            let body: Value = serde_json::from_slice(&fetch(addr.clone()).await).expect("json");
            seen.extend(kids(&body));
        }
        let list = run_cli(&db, &["key", "list"], None).await.json();
        let states: Vec<&str> = list
            .as_array()
            .expect("array")
            .iter()
            .map(|k| k["state"].as_str().expect("state"))
            .collect();
        assert_eq!(
            states.iter().filter(|s| **s == "active").count(),
            1,
            "{list}"
        );
        assert!(
            states.iter().filter(|s| **s == "next").count() <= 1,
            "{list}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    // 14 s at one key per 4 s: the first key plus 3 or 4 more; two or three times that
    // if the processes each made their own.
    assert!(
        (4..=5).contains(&seen.len()),
        "keys created: {}",
        seen.len()
    );
    let mut identical = false;
    for _ in 0..20 {
        let (ja, jb, jc) = tokio::join!(
            fetch(a.address.clone()),
            fetch(b.address.clone()),
            fetch(c.address.clone())
        );
        if ja == jb && jb == jc {
            identical = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(identical, "all processes serve byte-identical JWKS");
}

#[tokio::test]
async fn private_keys_are_sealed_at_rest_and_a_wrong_kek_stops_startup() {
    let port = crate::helpers::free_port();
    let bind = move |c: &mut tessera::config::ConfigArgs| {
        c.server.bind = Some(format!("127.0.0.1:{port}"));
        c.signing.key_encryption_key = Some(KEK.into());
    };
    let app = spawn_app_with(bind).await;
    let client = app.create_client(&[]).await;
    let token = app.client_credentials_token(&client).await;
    let stored = app.raw_signing_keys();
    assert_eq!(stored.len(), 1);
    let (kid, bytes, encrypted) = &stored[0];
    assert!(encrypted);
    assert_ne!(bytes[0], 0x30, "not DER (a SEQUENCE)");
    assert!(
        !String::from_utf8_lossy(bytes).contains("PRIVATE KEY"),
        "not PEM"
    );
    verify_with_discovery(&app.http, &app.address, &token).await;
    let db = app.stop().await;

    let wrong = tessera::startup::Application::build(crate::helpers::test_settings(&db, |c| {
        c.signing.key_encryption_key = Some(OTHER_KEK.into())
    }))
    .await;
    let err = format!("{:#}", wrong.err().expect("a wrong KEK must not start"));
    assert!(err.contains("key_encryption_key"), "{err}");
    let none =
        tessera::startup::Application::build(crate::helpers::test_settings(&db, |_| {})).await;
    let err = format!("{:#}", none.err().expect("no KEK must not start"));
    assert!(err.contains("key_encryption_key"), "{err}");

    let app = spawn_app_on(db, bind).await;
    let (header, _) = app.verify(&token).await;
    assert_eq!(header.kid.as_deref(), Some(kid.as_str()));
    let fresh = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(fresh.status, 200);
}

#[tokio::test]
async fn setting_a_kek_seals_existing_keys_and_the_previous_kek_lets_it_rotate() {
    let app = spawn_app_with(|_| {}).await;
    assert!(!app.raw_signing_keys()[0].2, "plaintext without a KEK");
    let db = app.stop().await;
    let app = spawn_app_on(db, |c| c.signing.key_encryption_key = Some(KEK.into())).await;
    let sealed = app.raw_signing_keys()[0].clone();
    assert!(sealed.2, "sealed once a KEK is set");
    let db = app.stop().await;
    let app = spawn_app_on(db, |c| {
        c.signing.key_encryption_key = Some(OTHER_KEK.into());
        c.signing.previous_key_encryption_key = Some(KEK.into());
    })
    .await;
    let resealed = app.raw_signing_keys()[0].clone();
    assert_ne!(resealed.1, sealed.1, "re-sealed under the new KEK");
    let db = app.stop().await;
    let app = spawn_app_on(db, |c| {
        c.signing.key_encryption_key = Some(OTHER_KEK.into())
    })
    .await;
    assert_eq!(app.raw_signing_keys()[0].0, sealed.0, "same key throughout");
}

#[tokio::test]
async fn key_commands_rotate_import_and_export() {
    let app = spawn_app_with(|c| c.signing.key_refresh_interval = Some(1)).await;
    let client = app.create_client(&[]).await;
    let list = app.cli(&["key", "list"]).await.json();
    assert_eq!(list.as_array().expect("array").len(), 1);
    let old = list[0]["kid"].as_str().expect("kid").to_string();
    assert_eq!(list[0]["state"], "active");

    let rotated = app.cli(&["key", "rotate"]).await;
    assert!(rotated.success, "{}", rotated.stderr);
    let next = rotated.json()["kid"].as_str().expect("kid").to_string();
    assert_eq!(rotated.json()["state"], "next");
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    assert!(kids(&app.jwks().await).contains(&next), "published at once");
    let t = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    let kid = t.kid();
    assert_eq!(kid, old, "the new key waits for its pre-publication window");

    let immediate = app.cli(&["key", "rotate", "--immediate"]).await;
    let now_kid = immediate.json()["kid"].as_str().expect("kid").to_string();
    tokio::time::sleep(Duration::from_millis(2_200)).await;
    let t = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    let kid = t.kid();
    assert_eq!(kid, now_kid, "--immediate signs at once");
    app.verify(t.access_token()).await;

    // Export writes public keys only; they verify the tokens.
    let out = tempfile::tempdir().expect("dir");
    let out_dir = out.path().to_string_lossy().to_string();
    let export = app
        .cli(&["key", "export", "--public", "--out", &out_dir])
        .await;
    assert!(export.success, "{}", export.stderr);
    let pem = std::fs::read_to_string(out.path().join(format!("{now_kid}.pub.pem"))).expect("pem");
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    let key = jsonwebtoken::DecodingKey::from_rsa_pem(pem.as_bytes()).expect("rsa pem");
    let mut v = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    v.validate_aud = false;
    jsonwebtoken::decode::<Value>(t.access_token(), &key, &v).expect("verifies with exported key");
    assert!(
        !app.cli(&["key", "export"]).await.success,
        "--public is required"
    );

    // Import: an RSA key from PEM; junk and short keys are refused and change nothing.
    let file = out.path().join("signing.pem");
    crate::jose::write_rsa_pem(&file);
    let junk = out.path().join("junk.pem");
    std::fs::write(&junk, "not a key").expect("write");
    let before = app.cli(&["key", "list"]).await.stdout;
    let bad = app.cli(&["key", "import", &junk.to_string_lossy()]).await;
    assert_eq!(bad.code, Some(1));
    assert_eq!(bad.stderr.trim().lines().count(), 1, "{}", bad.stderr);
    assert_eq!(
        app.cli(&["key", "list"]).await.stdout,
        before,
        "nothing written"
    );
    let imported = app.cli(&["key", "import", &file.to_string_lossy()]).await;
    assert!(imported.success, "{}", imported.stderr);
    assert_eq!(imported.json()["state"], "next");
    let again = app.cli(&["key", "import", &file.to_string_lossy()]).await;
    assert!(!again.success, "the same key twice is refused");
}

#[tokio::test]
async fn every_signing_algorithm_issues_tokens_that_verify_against_the_jwks() {
    for (alg, kty, crv) in [
        ("PS256", "RSA", None),
        ("ES256", "EC", Some("P-256")),
        ("EdDSA", "OKP", Some("Ed25519")),
    ] {
        let app = spawn_app_with(|c| c.signing.signing_alg = Some(alg.into())).await;
        let client = app.create_client(&[]).await;
        let a = app
            .token_basic(&client, "grant_type=client_credentials")
            .await;
        assert_eq!(a.status, 200, "{alg}: {}", a.body);
        let (header, _) = app.verify(a.access_token()).await;
        assert_eq!(format!("{:?}", header.alg), alg);
        let jwks = app.jwks().await;
        let key = &jwks["keys"][0];
        assert_eq!(
            (key["kty"].as_str(), key["alg"].as_str()),
            (Some(kty), Some(alg))
        );
        assert_eq!(key["crv"].as_str(), crv);
        assert!(key.get("d").is_none(), "{alg}: no private member");
        // Introspection verifies with the same keys.
        let gw = app.create_client(&["--scope", "tessera:introspect"]).await;
        let res = app
            .http
            .post(format!("{}/oauth/introspect", app.address))
            .basic_auth(&gw.id, Some(&gw.secret))
            .form(&[("token", a.access_token())])
            .send()
            .await
            .expect("sent");
        let body: Value = res.json().await.expect("json");
        assert_eq!(body["active"], true, "{alg}");
    }
}

#[tokio::test]
async fn switching_the_signing_algorithm_is_a_rotation_that_keeps_old_tokens_valid() {
    let port = crate::helpers::free_port();
    let base = move |c: &mut tessera::config::ConfigArgs| {
        c.server.bind = Some(format!("127.0.0.1:{port}"));
        c.signing.key_prepublish = Some(2);
        c.signing.key_refresh_interval = Some(1);
    };
    let app = spawn_app_with(base).await;
    let client = app.create_client(&[]).await;
    let rs = app.client_credentials_token(&client).await;
    let db = app.stop().await;
    let app = spawn_app_on(db, move |c| {
        base(c);
        c.signing.signing_alg = Some("ES256".into());
    })
    .await;
    // Published at once, signing only after the pre-publication window.
    let during = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(
        format!("{:?}", app.verify(during.access_token()).await.0.alg),
        "RS256"
    );
    assert!(app.jwks().await["keys"]
        .as_array()
        .expect("keys")
        .iter()
        .any(|k| k["alg"] == "ES256"));
    tokio::time::sleep(Duration::from_millis(3_500)).await;
    let after = app
        .token_basic(&client, "grant_type=client_credentials")
        .await;
    assert_eq!(
        format!("{:?}", app.verify(after.access_token()).await.0.alg),
        "ES256"
    );
    app.verify(&rs).await;
}

#[tokio::test]
async fn key_export_writes_every_published_key_type_as_pem_that_verifies_tokens() {
    for (alg, jwt_alg) in [
        ("ES256", jsonwebtoken::Algorithm::ES256),
        ("EdDSA", jsonwebtoken::Algorithm::EdDSA),
        ("RS256", jsonwebtoken::Algorithm::RS256),
    ] {
        let app = spawn_app_with(|c| c.signing.signing_alg = Some(alg.into())).await;
        let client = app.create_client(&[]).await;
        let token = app.client_credentials_token(&client).await;
        let out = tempfile::tempdir().expect("tempdir");
        let dir = out.path().to_string_lossy().to_string();
        let exported = app.cli(&["key", "export", "--public", "--out", &dir]).await;
        assert!(exported.success, "{alg}: {}", exported.stderr);
        let kid = decode_header(&token).expect("header").kid.expect("kid");
        let pem = std::fs::read(out.path().join(format!("{kid}.pub.pem"))).expect("exported");
        let key = match jwt_alg {
            jsonwebtoken::Algorithm::ES256 => jsonwebtoken::DecodingKey::from_ec_pem(&pem),
            jsonwebtoken::Algorithm::EdDSA => jsonwebtoken::DecodingKey::from_ed_pem(&pem),
            _ => jsonwebtoken::DecodingKey::from_rsa_pem(&pem),
        }
        .unwrap_or_else(|e| panic!("{alg}: exported PEM does not parse: {e}"));
        let mut validation = jsonwebtoken::Validation::new(jwt_alg);
        validation.validate_aud = false;
        jsonwebtoken::decode::<Value>(&token, &key, &validation)
            .unwrap_or_else(|e| panic!("{alg}: token does not verify with the exported key: {e}"));
    }
}

/// `key list` as (kid, state) pairs.
async fn key_states(app: &crate::helpers::TestApp) -> Vec<(String, String)> {
    let out = app.cli(&["key", "list"]).await;
    assert!(out.success, "{}", out.stderr);
    out.json()
        .as_array()
        .expect("keys")
        .iter()
        .map(|k| {
            (
                k["kid"].as_str().expect("kid").to_string(),
                k["state"].as_str().expect("state").to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_pending_key_is_never_dropped_silently() {
    let app = spawn_app_with(|_| {}).await;
    let dir = tempfile::tempdir().expect("dir");
    let pem = dir.path().join("signing.pem");
    crate::jose::write_rsa_pem(&pem);
    let pem = pem.display().to_string();

    let rotated = app.cli(&["key", "rotate"]).await;
    assert!(rotated.success, "{}", rotated.stderr);
    let pending = rotated.json()["kid"].as_str().expect("kid").to_string();
    let before = key_states(&app).await;
    assert!(
        before.contains(&(pending.clone(), "next".into())),
        "{before:?}"
    );

    // Another key while one is pending: refused in one line that says why and what to do.
    for args in [vec!["key", "import", pem.as_str()], vec!["key", "rotate"]] {
        let out = app.cli(&args).await;
        assert!(!out.success, "{args:?} replaced the pending key");
        let lines: Vec<&str> = out
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        assert_eq!(lines.len(), 1, "{args:?}: {lines:#?}");
        assert!(
            lines[0].contains(&pending),
            "names the pending key: {}",
            lines[0]
        );
        assert!(
            lines[0].contains("--replace-pending"),
            "says what to do: {}",
            lines[0]
        );
        assert_eq!(key_states(&app).await, before, "{args:?}: nothing changed");
    }

    // Asked for, the pending key is replaced out loud: retired (still published, never
    // signing), in the output, in the audit log.
    let out = app.cli(&["key", "import", &pem, "--replace-pending"]).await;
    assert!(out.success, "{}", out.stderr);
    let imported = out.json()["kid"].as_str().expect("kid").to_string();
    assert_eq!(out.json()["replaced"], serde_json::json!([pending.clone()]));
    assert!(out.stderr.contains(&pending), "{}", out.stderr);
    let after = key_states(&app).await;
    assert!(
        after.contains(&(pending.clone(), "retired".into())),
        "{after:?}"
    );
    assert!(
        after.contains(&(imported.clone(), "next".into())),
        "{after:?}"
    );
    // Every replica (here, the one server) serves the change within seconds.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let published = kids(&app.jwks().await);
    assert!(
        published.contains(&pending) && published.contains(&imported),
        "both published: {published:?}"
    );

    // --immediate retires the active key and any pending one, and says which.
    let out = app.cli(&["key", "rotate", "--immediate"]).await;
    assert!(out.success, "{}", out.stderr);
    assert_eq!(
        out.json()["replaced"],
        serde_json::json!([imported.clone()])
    );
    assert!(out.stderr.contains(&imported), "{}", out.stderr);
    let states = key_states(&app).await;
    assert!(states.contains(&(imported, "retired".into())), "{states:?}");
    let audit = app.cli(&["audit"]).await.json();
    assert!(
        audit
            .as_array()
            .expect("entries")
            .iter()
            .any(|e| e["action"] == "key.import" && e["details"].to_string().contains(&pending)),
        "{audit}"
    );
}
