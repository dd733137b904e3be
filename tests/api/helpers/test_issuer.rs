//! An outside token issuer for the federation tests: OIDC discovery at
//! `/.well-known/openid-configuration`, its JWK Set at `/jwks` (answered as a
//! [`Serve`] mode says: keys, a hang, a redirect loop, 10 MB, a 404), keys rotated on
//! demand, a discovery document that can name a `jwks_uri` elsewhere, hang, fail or
//! redirect (its fetches counted), and tokens shaped like Kubernetes projected service-account tokens, GitHub
//! Actions OIDC tokens and SPIFFE JWT-SVIDs.

use super::Serve;
use crate::jose::TestKey;
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What `/.well-known/openid-configuration` answers.
#[derive(Clone)]
pub enum Discovery {
    /// The issuer's own document: `jwks_uri` is its `/jwks`.
    Standard,
    /// A document naming this `jwks_uri` (somewhere the operator never named).
    JwksUri(String),
    /// As this mode says: `Hang`, `NotFound`, `Redirect(url)`; other modes answer 500.
    Serve(Serve),
}

/// A running issuer.
pub struct TestIssuer {
    /// Its issuer identifier (`http://127.0.0.1:PORT`).
    pub url: String,
    jwks: Arc<Mutex<Serve>>,
    discovery: Arc<Mutex<Discovery>>,
    discovery_hits: Arc<AtomicUsize>,
}

impl TestIssuer {
    /// Starts serving; its JWK Set is `jwks` until [`TestIssuer::set`] changes it.
    pub async fn start(jwks: Serve) -> TestIssuer {
        TestIssuer::start_with(jwks, Discovery::Standard).await
    }

    /// Starts serving with this discovery behaviour.
    pub async fn start_with(jwks: Serve, discovery: Discovery) -> TestIssuer {
        let (listener, url) = super::listen_local().await;
        let jwks = Arc::new(Mutex::new(jwks));
        let discovery = Arc::new(Mutex::new(discovery));
        let discovery_hits = Arc::new(AtomicUsize::new(0));
        let (mode, base) = (jwks.clone(), url.clone());
        let (doc_mode, doc_hits) = (discovery.clone(), discovery_hits.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let serve = mode.lock().expect("mode").clone();
                let doc = doc_mode.lock().expect("discovery").clone();
                let doc_hits = doc_hits.clone();
                let base = base.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    let path = request.split_whitespace().nth(1).unwrap_or("/").to_string();
                    let reply = |status: &str, headers: &str, body: &str| {
                        format!(
                            "HTTP/1.1 {status}\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    if path == "/.well-known/openid-configuration" {
                        doc_hits.fetch_add(1, Ordering::SeqCst);
                    }
                    let out = match (path.as_str(), serve) {
                        ("/.well-known/openid-configuration", _) => {
                            let jwks_uri = match doc {
                                Discovery::Standard => format!("{base}/jwks"),
                                Discovery::JwksUri(uri) => uri,
                                Discovery::Serve(Serve::Hang) => {
                                    tokio::time::sleep(Duration::from_secs(30)).await;
                                    return;
                                }
                                Discovery::Serve(Serve::NotFound) => {
                                    let _ = sock.write_all(reply("404 Not Found", "", "").as_bytes()).await;
                                    return;
                                }
                                Discovery::Serve(Serve::Redirect(to)) => {
                                    let out = reply("302 Found", &format!("Location: {to}\r\n"), "");
                                    let _ = sock.write_all(out.as_bytes()).await;
                                    return;
                                }
                                Discovery::Serve(_) => {
                                    let out = reply("500 Internal Server Error", "", "");
                                    let _ = sock.write_all(out.as_bytes()).await;
                                    return;
                                }
                            };
                            let doc = json!({"issuer": base, "jwks_uri": jwks_uri,
                                             "id_token_signing_alg_values_supported": ["RS256"]});
                            reply("200 OK", "Content-Type: application/json\r\n", &doc.to_string())
                        }
                        ("/jwks", Serve::Jwks { body, cache_control }) => reply(
                            "200 OK",
                            &format!("Content-Type: application/json\r\nCache-Control: {cache_control}\r\n"),
                            &body,
                        ),
                        ("/jwks", Serve::Hang) => {
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            return;
                        }
                        ("/jwks", Serve::RedirectLoop) => reply("302 Found", "Location: /jwks\r\n", ""),
                        ("/jwks", Serve::Redirect(to)) => {
                            reply("302 Found", &format!("Location: {to}\r\n"), "")
                        }
                        ("/jwks", Serve::Huge) => {
                            let size = 10 * 1024 * 1024;
                            let head = format!("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {size}\r\n\r\n");
                            let _ = sock.write_all(head.as_bytes()).await;
                            let chunk = vec![b'<'; 64 * 1024];
                            for _ in 0..size / chunk.len() {
                                if sock.write_all(&chunk).await.is_err() {
                                    break;
                                }
                            }
                            return;
                        }
                        _ => reply("404 Not Found", "", ""),
                    };
                    let _ = sock.write_all(out.as_bytes()).await;
                });
            }
        });
        TestIssuer {
            url,
            jwks,
            discovery,
            discovery_hits,
        }
    }

    /// What `/jwks` answers from now on.
    pub fn set(&self, jwks: Serve) {
        *self.jwks.lock().expect("mode") = jwks;
    }

    /// What discovery answers from now on.
    pub fn set_discovery(&self, discovery: Discovery) {
        *self.discovery.lock().expect("discovery") = discovery;
    }

    /// How many times its discovery document was asked for.
    pub fn discovery_hits(&self) -> usize {
        self.discovery_hits.load(Ordering::SeqCst)
    }

    /// Signs `claims` with `key` (its `kid` in the header, `typ: JWT`).
    pub fn mint(&self, key: &TestKey, claims: &Value) -> String {
        key.sign_with(claims, |h| h.typ = Some("JWT".into()))
    }
}

/// Claims like a Kubernetes projected service-account token for `audience`.
pub fn kubernetes_claims(issuer: &str, audience: &str, namespace: &str, sa: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "aud": [audience], "exp": now + 3600, "iat": now, "nbf": now, "iss": issuer,
        "sub": format!("system:serviceaccount:{namespace}:{sa}"),
        "kubernetes.io": {"namespace": namespace,
                          "pod": {"name": format!("{sa}-7d9f8"), "uid": uuid::Uuid::new_v4().to_string()},
                          "serviceaccount": {"name": sa, "uid": uuid::Uuid::new_v4().to_string()}},
    })
}

/// Claims like a GitHub Actions OIDC token for `audience`.
pub fn github_claims(issuer: &str, audience: &str, repository: &str, git_ref: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "jti": uuid::Uuid::new_v4().to_string(), "sub": format!("repo:{repository}:ref:{git_ref}"),
        "aud": audience, "ref": git_ref, "sha": "d6e1a0b1c2", "repository": repository,
        "repository_owner": repository.split('/').next().unwrap_or(""), "run_id": "4242",
        "event_name": "push", "ref_type": "branch", "workflow": "deploy", "actor": "octocat",
        "iss": issuer, "nbf": now - 5, "exp": now + 300, "iat": now,
    })
}

/// Claims of a SPIFFE JWT-SVID (no `iss`, as SPIRE issues them by default).
pub fn svid_claims(spiffe_id: &str, audience: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({"sub": spiffe_id, "aud": [audience], "exp": now + 300, "iat": now})
}

/// A SPIFFE trust bundle's JWK Set: keys marked `use: "jwt-svid"`, without `alg`.
pub fn spiffe_bundle(keys: &[&TestKey]) -> Serve {
    let keys: Vec<Value> = keys
        .iter()
        .map(|k| {
            let mut jwk = k.public.clone();
            jwk["kid"] = json!(k.kid);
            jwk["use"] = json!("jwt-svid");
            jwk
        })
        .collect();
    Serve::Jwks {
        body: json!({"keys": keys, "spiffe_sequence": 1, "spiffe_refresh_hint": 300}).to_string(),
        cache_control: "max-age=300".into(),
    }
}
