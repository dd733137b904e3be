//! Configuration files: a TOML text read as `--config fuzz.toml` would be, then
//! resolved over the defaults and validated (no environment, no flags).
//!
//! Input: the file's text. Asserts: every error is one line naming the file (or, for a
//! default, the key), never quoting a key-encryption key or a database password.
//! Files naming `*_file` keys are skipped (they read other files).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tessera::config::{ConfigArgs, Settings};
use tessera_fuzz::{assert_one_line, names_a_file};

/// Secrets the file may hold: error messages must not quote them.
fn secrets(text: &str) -> Vec<String> {
    let Ok(toml::Value::Table(t)) = text.parse::<toml::Value>() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for key in ["key_encryption_key", "previous_key_encryption_key"] {
        if let Some(toml::Value::String(s)) = t.get(key) {
            out.push(s.clone());
        }
    }
    if let Some(toml::Value::String(url)) = t.get("database_url") {
        let userinfo = url.split_once("://").and_then(|(_, r)| r.rsplit_once('@'));
        if let Some((_, password)) = userinfo.and_then(|(u, _)| u.split_once(':')) {
            out.push(password.to_string());
        }
    }
    out.retain(|s| s.len() >= 8 && !s.contains('*'));
    out
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if data.len() > 16 * 1024 || names_a_file(text) {
        return;
    }
    let path = Path::new("fuzz.toml");
    let result = ConfigArgs::from_toml(path, text).and_then(Settings::resolve);
    let Err(e) = result else {
        return;
    };
    let message = e.0;
    assert_one_line("config", &message);
    assert!(
        message.starts_with("fuzz.toml") || message.starts_with("invalid "),
        "the error names neither the file nor the key: {message}"
    );
    for secret in secrets(text) {
        if text.matches(secret.as_str()).count() == 1 {
            assert!(
                !message.contains(&secret),
                "the error quotes a secret: {message}"
            );
        }
    }
});
