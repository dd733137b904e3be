//! Pre-signs the single-use JWTs the benchmark sends (bench/run.sh), so the load
//! generator only replays lines and the server's work is what gets measured.
//!
//! ```text
//! cargo run --release --example bench_jwt -- keygen DIR
//!     # an RSA 2048 client key: DIR/key.der (PKCS#1) and DIR/jwks.json (public)
//! cargo run --release --example bench_jwt -- assertions DIR CLIENT_ID AUD COUNT
//!     # COUNT token request bodies, each with its own RS256 client assertion whose
//!     # aud is AUD: the issuer identifier (RFC 7523bis; bench/run.sh passes it)
//! cargo run --release --example bench_jwt -- dpop HTU COUNT
//!     # COUNT ES256 DPoP proofs for POST HTU, one fresh key
//! cargo run --release --example bench_jwt -- platform DIR ISS SUB AUD
//!     # one RS256 platform token (reusable, an hour) signed with DIR's key
//! ```
//!
//! Signing runs on every core. DPoP proofs are accepted for 60 seconds after they are
//! made, client assertions for 5 minutes: generate them right before the run.

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::traits::PublicKeyParts;
use serde_json::json;
use std::io::Write;
use std::path::Path;

type Fail = Box<dyn std::error::Error>;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match refs.as_slice() {
        ["keygen", dir] => keygen(Path::new(dir)),
        ["assertions", dir, client_id, aud, count] => {
            assertions(Path::new(dir), client_id, aud, count)
        }
        ["dpop", htu, count] => dpop(htu, count),
        ["platform", dir, iss, sub, aud] => platform(Path::new(dir), iss, sub, aud),
        _ => Err(
            "usage: bench_jwt keygen DIR | assertions DIR CLIENT_ID AUD COUNT \
                  | dpop HTU COUNT | platform DIR ISS SUB AUD"
                .into(),
        ),
    };
    if let Err(e) = result {
        eprintln!("bench_jwt: {e}");
        std::process::exit(1);
    }
}

fn keygen(dir: &Path) -> Result<(), Fail> {
    let key = rsa::RsaPrivateKey::new(&mut rand::thread_rng(), 2048)?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("key.der"), key.to_pkcs1_der()?.as_bytes())?;
    let b64 = |b: Vec<u8>| URL_SAFE_NO_PAD.encode(b);
    let jwks = json!({"keys": [{
        "kty": "RSA", "alg": "RS256", "use": "sig", "kid": "bench",
        "n": b64(key.n().to_bytes_be()), "e": b64(key.e().to_bytes_be()),
    }]});
    std::fs::write(dir.join("jwks.json"), jwks.to_string())?;
    Ok(())
}

/// Signs `count` lines with `line(i)` on every core and prints them in order.
fn sign_lines(count: usize, line: impl Fn(usize) -> String + Sync) -> Result<(), Fail> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = count.div_ceil(threads).max(1);
    let parts: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..count)
            .step_by(chunk)
            .map(|start| {
                let line = &line;
                s.spawn(move || (start..(start + chunk).min(count)).map(line).collect())
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for l in parts.iter().flatten() {
        writeln!(out, "{l}")?;
    }
    Ok(())
}

fn assertions(dir: &Path, client_id: &str, aud: &str, count: &str) -> Result<(), Fail> {
    let count: usize = count.parse()?;
    let der = std::fs::read(dir.join("key.der"))?;
    rsa::RsaPrivateKey::from_pkcs1_der(&der)?;
    let key = EncodingKey::from_rsa_der(&der);
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("bench".into());
    let now = chrono::Utc::now().timestamp();
    let run = uuid::Uuid::new_v4();
    sign_lines(count, |i| {
        let claims = json!({
            "iss": client_id, "sub": client_id, "aud": aud,
            "iat": now, "exp": now + 290, "jti": format!("{run}-{i}"),
        });
        let jwt = encode(&header, &claims, &key).unwrap_or_default();
        format!(
            "grant_type=client_credentials&client_assertion_type=\
             urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion={jwt}"
        )
    })
}

/// One platform token (like a Kubernetes projected service-account token), valid for
/// an hour: federated clients reuse theirs, so one serves a whole run.
fn platform(dir: &Path, iss: &str, sub: &str, aud: &str) -> Result<(), Fail> {
    let der = std::fs::read(dir.join("key.der"))?;
    rsa::RsaPrivateKey::from_pkcs1_der(&der)?;
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("bench".into());
    let now = chrono::Utc::now().timestamp();
    let claims = json!({"iss": iss, "sub": sub, "aud": [aud], "iat": now, "nbf": now,
                        "exp": now + 3600});
    println!(
        "{}",
        encode(&header, &claims, &EncodingKey::from_rsa_der(&der))?
    );
    Ok(())
}

fn dpop(htu: &str, count: &str) -> Result<(), Fail> {
    let count: usize = count.parse()?;
    let pkcs8 =
        EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
            .map_err(|_| "keygen failed")?;
    let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref())
        .map_err(|_| "bad key")?;
    let point = pair.public_key().as_ref();
    let jwk: Jwk = serde_json::from_value(json!({
        "kty": "EC", "crv": "P-256",
        "x": URL_SAFE_NO_PAD.encode(&point[1..33]), "y": URL_SAFE_NO_PAD.encode(&point[33..]),
    }))?;
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("dpop+jwt".into());
    header.jwk = Some(jwk);
    let now = chrono::Utc::now().timestamp();
    let run = uuid::Uuid::new_v4();
    sign_lines(count, |i| {
        let claims = json!({"jti": format!("{run}-{i}"), "htm": "POST", "htu": htu, "iat": now});
        encode(&header, &claims, &key).unwrap_or_default()
    })
}
