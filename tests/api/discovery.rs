//! Metadata, JWKS caching headers, health and readiness.

use crate::helpers::spawn_app;

#[tokio::test]
async fn metadata_documents_point_at_the_real_endpoints() {
    let app = spawn_app().await;
    let meta = app.metadata().await;
    assert_eq!(meta["issuer"], app.address.as_str());
    assert_eq!(
        meta["token_endpoint"],
        format!("{}/oauth/token", app.address)
    );
    assert_eq!(
        meta["jwks_uri"],
        format!("{}/.well-known/jwks.json", app.address)
    );
    assert!(meta["grant_types_supported"]
        .as_array()
        .is_some_and(|g| g.contains(&"client_credentials".into())));
    let methods = meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .expect("methods");
    assert!(
        methods.contains(&"client_secret_basic".into())
            && methods.contains(&"client_secret_post".into())
    );

    let oidc: serde_json::Value = app
        .get("/.well-known/openid-configuration")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        oidc, meta,
        "the OpenID discovery document is the same document"
    );

    for (key, value) in meta.as_object().expect("object") {
        if key.ends_with("_endpoint") || key == "jwks_uri" {
            let url = value.as_str().expect("url");
            let status = app.http.get(url).send().await.expect("reachable").status();
            assert_ne!(status, 404, "{key} {url} exists");
        }
    }
}

#[tokio::test]
async fn jwks_has_rs256_keys_an_etag_and_answers_304() {
    let app = spawn_app().await;
    let res = app.get("/.well-known/jwks.json").await;
    assert_eq!(res.status(), 200);
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .expect("ETag")
        .to_string();
    assert!(
        etag.starts_with('"') && etag.ends_with('"'),
        "strong ETag: {etag}"
    );
    let cc = res
        .headers()
        .get("cache-control")
        .and_then(|v| v.to_str().ok())
        .expect("Cache-Control")
        .to_string();
    let max_age: i64 = cc
        .strip_prefix("public, max-age=")
        .and_then(|n| n.parse().ok())
        .expect("max-age");
    assert!(
        max_age > 0 && max_age < 3600,
        "max-age {max_age} below the pre-publication window"
    );
    let jwks: serde_json::Value = res.json().await.expect("json");
    let keys = jwks["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1);
    for member in ["kty", "use", "alg", "kid", "n", "e"] {
        assert!(keys[0][member].is_string(), "JWK member {member}");
    }
    assert_eq!(keys[0]["use"], "sig");
    assert_eq!(keys[0]["alg"], "RS256");
    assert!(keys[0].get("d").is_none(), "no private members");

    let again = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.address))
        .header("If-None-Match", &etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), 304);
    assert_eq!(
        again.headers().get("etag").and_then(|v| v.to_str().ok()),
        Some(etag.as_str())
    );
    let other = app
        .http
        .get(format!("{}/.well-known/jwks.json", app.address))
        .header("If-None-Match", "\"stale\"")
        .send()
        .await
        .expect("sent");
    assert_eq!(other.status(), 200);
}

#[tokio::test]
async fn health_and_readiness_report_ok() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), 200);
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status(), 200);
    let body: serde_json::Value = ready.json().await.expect("json");
    assert_eq!(body["database"], "ok");
    assert_eq!(body["signing_key"], "ok");
}
