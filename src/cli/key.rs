//! `tessera key …`: list, rotate, import and export signing keys. Private keys never
//! leave the database through the CLI; `export` writes public keys only.

use super::{connect, print_json, CLI};
use crate::config::Settings;
use crate::db::models::SigningKeyRow;
use crate::keys::lifecycle::add_key;
use crate::keys::material::generate;
use crate::startup::key_policy;
use crate::state::now;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey, LineEnding};
use rsa::traits::PublicKeyParts;
use std::path::PathBuf;

/// Key commands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// List signing keys and their state as JSON
    List,
    /// Add a new signing key now: published at once, signing after key_prepublish
    Rotate {
        /// Sign with it at once and retire the current key (resource servers with a
        /// cached JWKS may reject new tokens until they refetch it: for compromised keys)
        #[arg(long)]
        immediate: bool,
    },
    /// Import an RSA private key (PKCS#8 or PKCS#1 PEM) for RS256/PS256, with the same pre-publication rule
    Import {
        /// PEM file, e.g. keys/signing.pem
        file: PathBuf,
        /// Sign with it at once (see `rotate --immediate`)
        #[arg(long)]
        immediate: bool,
    },
    /// Write the published public keys as PEM files (one per kid)
    Export(ExportArgs),
}

/// `key export` options.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Export public keys (the only kind the CLI exports; required to say so)
    #[arg(long, required = true)]
    public: bool,
    /// Directory to write `<kid>.pub.pem` files into
    #[arg(long, default_value = "keys")]
    out: PathBuf,
}

/// One key as `key list` shows it.
#[derive(Debug, serde::Serialize)]
struct KeyView {
    kid: String,
    alg: String,
    state: String,
    encrypted: bool,
    created_at: i64,
    activates_at: i64,
    retired_at: Option<i64>,
    expires_at: Option<i64>,
}

impl From<&SigningKeyRow> for KeyView {
    fn from(r: &SigningKeyRow) -> Self {
        KeyView {
            kid: r.kid.clone(),
            alg: r.alg.clone(),
            state: r.state.clone(),
            encrypted: r.encrypted,
            created_at: r.created_at,
            activates_at: r.activates_at,
            retired_at: r.retired_at,
            expires_at: r.expires_at,
        }
    }
}

/// Runs a key command.
pub fn run(settings: &Settings, cmd: KeyCommand) -> anyhow::Result<()> {
    let policy = key_policy(settings)?;
    // Read and check input before touching the database: bad input writes nothing.
    let imported = match &cmd {
        KeyCommand::Import { file, .. } => Some(read_private_pem(file)?),
        _ => None,
    };
    let mut conn = connect(settings)?;
    let conn = &mut conn;
    match cmd {
        KeyCommand::List => {
            let rows = SigningKeyRow::list(conn)?;
            print_json(&rows.iter().map(KeyView::from).collect::<Vec<_>>())
        }
        KeyCommand::Rotate { immediate } => {
            let pkcs8 = generate(&policy.alg, settings.rsa_key_bits)?;
            let row = add_key(conn, &policy, &pkcs8, immediate, now())?;
            let details = serde_json::json!({ "immediate": immediate });
            crate::admin::audit::record(conn, CLI, "key.rotate", &row.kid, details, now())?;
            eprintln!(
                "created signing key {} ({}); replicas pick it up within key_refresh_interval",
                row.kid, row.state
            );
            print_json(&serde_json::json!({
                "kid": row.kid, "state": row.state, "activates_at": row.activates_at
            }))
        }
        KeyCommand::Import { immediate, .. } => {
            let pkcs8 = imported.unwrap_or_default();
            let row = add_key(conn, &policy, &pkcs8, immediate, now())?;
            let details = serde_json::json!({ "immediate": immediate });
            crate::admin::audit::record(conn, CLI, "key.import", &row.kid, details, now())?;
            eprintln!("imported signing key {} ({})", row.kid, row.state);
            print_json(&serde_json::json!({
                "kid": row.kid, "state": row.state, "activates_at": row.activates_at
            }))
        }
        KeyCommand::Export(a) => {
            std::fs::create_dir_all(&a.out)
                .with_context(|| format!("cannot create {}", a.out.display()))?;
            let mut written = Vec::new();
            for row in SigningKeyRow::list(conn)? {
                let pkcs8 = policy.open(&row)?;
                let key = rsa::RsaPrivateKey::from_pkcs8_der(&pkcs8)
                    .map_err(|e| anyhow::anyhow!("stored key {}: {e}", row.kid))?;
                let pem = key
                    .to_public_key()
                    .to_public_key_pem(LineEnding::LF)
                    .map_err(|e| anyhow::anyhow!("key {}: {e}", row.kid))?;
                let path = a.out.join(format!("{}.pub.pem", row.kid));
                std::fs::write(&path, pem)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written
                    .push(serde_json::json!({ "kid": row.kid, "state": row.state, "path": path }));
            }
            print_json(&written)
        }
    }
}

/// An RSA private key from a PEM file, as PKCS#8 DER; at least 2048 bits.
fn read_private_pem(path: &PathBuf) -> anyhow::Result<Vec<u8>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let key = rsa::RsaPrivateKey::from_pkcs8_pem(&text)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs1_pem(&text))
        .map_err(|_| {
            anyhow::anyhow!(
                "{}: not an RSA private key in PKCS#8 or PKCS#1 PEM",
                path.display()
            )
        })?;
    let bits = key.n().bits();
    if bits < 2048 {
        bail!(
            "{}: RSA key of {bits} bits; at least 2048 required",
            path.display()
        );
    }
    Ok(key
        .to_pkcs8_der()
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .as_bytes()
        .to_vec())
}
