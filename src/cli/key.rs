//! `tessera key …`: list, rotate, import and export signing keys. Private keys never
//! leave the database through the CLI; `export` writes public keys only.

use super::{connect, print_json, CLI};
use crate::admin::keys;
use crate::admin::AdminError;
use crate::config::Settings;
use crate::keys::KeyError;
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
    Rotate(AddArgs),
    /// Import an RSA private key (PKCS#8 or PKCS#1 PEM) for RS256/PS256, with the same pre-publication rule
    Import {
        /// PEM file, e.g. keys/signing.pem
        file: PathBuf,
        /// How the key is added
        #[command(flatten)]
        add: AddArgs,
    },
    /// Write the published public keys as PEM files (one per kid)
    Export(ExportArgs),
}

/// How `rotate` and `import` add the key.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// Sign with it at once on every replica (within 5 s) and retire the current key
    /// and any pending one (resource servers with a cached JWKS may reject new tokens
    /// until they refetch it: for compromised keys)
    #[arg(long)]
    immediate: bool,
    /// Retire the pending key (published, not signing yet) in favour of this one;
    /// without it a pending key makes the command fail
    #[arg(long)]
    replace_pending: bool,
}

impl AddArgs {
    fn options(&self) -> keys::AddOptions {
        keys::AddOptions {
            immediate: self.immediate,
            replace_pending: self.replace_pending,
        }
    }
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
        KeyCommand::Rotate(add) => {
            let added =
                keys::rotate(conn, CLI, &policy, add.options(), now()).map_err(pending_refused)?;
            report("created", &added);
            print_json(&added)
        }
        KeyCommand::Import { add, .. } => {
            let pkcs8 = imported.unwrap_or_default();
            let added = keys::import(conn, CLI, &policy, &pkcs8, add.options(), now())
                .map_err(pending_refused)?;
            report("imported", &added);
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

/// The human line of an added key: what it is, when every replica has it, and which
/// pending key it replaced.
fn report(what: &str, added: &keys::AddedKey) {
    let when = if added.state == "active" {
        "every replica signs with it within 5 seconds".to_string()
    } else {
        format!(
            "every replica publishes it within 5 seconds; it signs from {}",
            timestamp(added.activates_at)
        )
    };
    eprintln!("{what} signing key {} ({}); {when}", added.kid, added.state);
    for kid in &added.replaced {
        eprintln!(
            "retired pending signing key {kid}: published until its retention ends, it never signs"
        );
    }
}

/// A refused addition because of a pending key, said the CLI's way: which key, when it
/// signs, and the flags that proceed.
fn pending_refused(e: AdminError) -> anyhow::Error {
    match e {
        AdminError::Keys(KeyError::Pending { kid, activates_at }) => anyhow::anyhow!(
            "signing key {kid} is pending (published, signing from {}); adding another \
             would replace it: wait until it signs, or add --replace-pending to retire it \
             (--immediate: sign with the new key now)",
            timestamp(activates_at)
        ),
        other => other.into(),
    }
}

/// Unix seconds as RFC 3339 UTC.
fn timestamp(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0).map_or_else(
        || secs.to_string(),
        |t| t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    )
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
