//! `tessera key …`: list, rotate, import and export signing keys. Private keys never
//! leave the database through the CLI; `export` writes public keys only.

use super::{connect, print_json, CLI};
use crate::admin::keys;
use crate::config::Settings;
use crate::service::now;
use crate::startup::key_policy;
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
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
        KeyCommand::List => print_json(&keys::list(conn)?),
        KeyCommand::Rotate { immediate } => {
            let added = keys::rotate(conn, CLI, &policy, immediate, now())?;
            eprintln!(
                "created signing key {} ({}); replicas publish it within key_refresh_interval",
                added.kid, added.state
            );
            print_json(&added)
        }
        KeyCommand::Import { immediate, .. } => {
            let pkcs8 = imported.unwrap_or_default();
            let added = keys::import(conn, CLI, &policy, &pkcs8, immediate, now())?;
            eprintln!("imported signing key {} ({})", added.kid, added.state);
            print_json(&added)
        }
        KeyCommand::Export(a) => {
            let public = keys::public_keys(conn)?;
            std::fs::create_dir_all(&a.out)
                .with_context(|| format!("cannot create {}", a.out.display()))?;
            let mut written = Vec::new();
            for key in public {
                let path = a.out.join(format!("{}.pub.pem", key.kid));
                std::fs::write(&path, &key.pem)
                    .with_context(|| format!("cannot write {}", path.display()))?;
                written
                    .push(serde_json::json!({ "kid": key.kid, "state": key.state, "path": path }));
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
