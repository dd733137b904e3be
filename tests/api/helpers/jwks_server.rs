//! A tiny `jwks_uri` server for the tests: serves a JWK Set with a Cache-Control, or
//! hangs, loops redirects, floods or 404s, and counts the connections it gets.

use crate::jose::TestKey;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// What the test `jwks_uri` server answers.
#[derive(Clone)]
pub enum Serve {
    /// A JWK Set with this Cache-Control.
    Jwks { body: String, cache_control: String },
    /// Never answers.
    Hang,
    /// Redirects to itself.
    RedirectLoop,
    /// Redirects (302) to this URL.
    Redirect(String),
    /// 10 MB of body.
    Huge,
    /// 404.
    NotFound,
}

/// A tiny HTTP server for `jwks_uri`: one response per connection, as set.
pub struct JwksServer {
    /// Where it serves.
    pub url: String,
    mode: Arc<Mutex<Serve>>,
    hits: Arc<AtomicUsize>,
    heads: Arc<Mutex<Vec<String>>>,
}

impl JwksServer {
    pub async fn start(mode: Serve) -> JwksServer {
        JwksServer::start_at("127.0.0.1", mode).await
    }

    /// Like [`JwksServer::start`], listening on another loopback address (`127.0.0.3`),
    /// a host that is not the one a test's issuer or client named.
    pub async fn start_at(ip: &str, mode: Serve) -> JwksServer {
        let listener = tokio::net::TcpListener::bind((ip, 0)).await.expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let url = format!("{base}/jwks.json");
        let mode = Arc::new(Mutex::new(mode));
        let hits = Arc::new(AtomicUsize::new(0));
        let heads = Arc::new(Mutex::new(Vec::new()));
        let (m, h, seen) = (mode.clone(), hits.clone(), heads.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                h.fetch_add(1, Ordering::SeqCst);
                let serve = m.lock().expect("mode").clone();
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let n = sock.read(&mut buf).await.unwrap_or(0);
                    let request = String::from_utf8_lossy(&buf[..n]).to_string();
                    seen.lock().expect("heads").push(request);
                    let head = |status: &str, headers: &str, len: usize| {
                        format!("HTTP/1.1 {status}\r\n{headers}Content-Length: {len}\r\nConnection: close\r\n\r\n")
                    };
                    match serve {
                        Serve::Jwks {
                            body,
                            cache_control,
                        } => {
                            let h = head(
                                "200 OK",
                                &format!("Content-Type: application/json\r\nCache-Control: {cache_control}\r\n"),
                                body.len(),
                            );
                            let _ = sock.write_all(format!("{h}{body}").as_bytes()).await;
                        }
                        Serve::Hang => tokio::time::sleep(Duration::from_secs(30)).await,
                        Serve::RedirectLoop => {
                            let h = head("302 Found", "Location: /jwks.json\r\n", 0);
                            let _ = sock.write_all(h.as_bytes()).await;
                        }
                        Serve::Redirect(to) => {
                            let h = head("302 Found", &format!("Location: {to}\r\n"), 0);
                            let _ = sock.write_all(h.as_bytes()).await;
                        }
                        Serve::Huge => {
                            let size = 10 * 1024 * 1024;
                            let h = head("200 OK", "Content-Type: application/json\r\n", size);
                            let _ = sock.write_all(h.as_bytes()).await;
                            let chunk = vec![b' '; 64 * 1024];
                            for _ in 0..size / chunk.len() {
                                if sock.write_all(&chunk).await.is_err() {
                                    break;
                                }
                            }
                        }
                        Serve::NotFound => {
                            let _ = sock
                                .write_all(head("404 Not Found", "", 0).as_bytes())
                                .await;
                        }
                    }
                });
            }
        });
        JwksServer {
            url,
            mode,
            hits,
            heads,
        }
    }

    pub fn set(&self, mode: Serve) {
        *self.mode.lock().expect("mode") = mode;
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// The requests received so far: request line and headers.
    pub fn request_heads(&self) -> Vec<String> {
        self.heads.lock().expect("heads").clone()
    }
}

/// A JWK Set of `keys`, cacheable for `max_age` seconds.
pub fn published(keys: &[&TestKey], max_age: u64) -> Serve {
    Serve::Jwks {
        body: TestKey::jwks(keys).to_string(),
        cache_control: format!("public, max-age={max_age}"),
    }
}
