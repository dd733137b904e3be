//! `tessera apply FILE`: clients and trusted issuers as code.

use super::{connect, print_json};
use crate::admin::apply::{apply, read_file, ApplyOptions};
use crate::config::Settings;
use crate::service::now;
use clap::Args;

/// `apply` options.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    /// The TOML file of `[[client]]` and `[[issuer]]` tables (its help line says it
    /// without the code marks).
    #[arg(help = "The TOML file of [[client]] and [[issuer]] tables")]
    file: std::path::PathBuf,
    /// Print the plan; write nothing, generate no secret
    #[arg(long)]
    dry_run: bool,
    /// Delete clients and issuers an earlier apply created that the file no longer names
    #[arg(long)]
    prune: bool,
}

/// Runs `apply`.
pub fn run(settings: &Settings, args: ApplyArgs) -> anyhow::Result<()> {
    let text = read_file(&args.file)?;
    let mut conn = connect(settings)?;
    let options = ApplyOptions {
        dry_run: args.dry_run,
        prune: args.prune,
        allow_http: settings.clients.jwks_uri_allow_http,
        jwks_uri_policy: settings.jwks_uri_policy(),
    };
    let report = apply(&mut conn, &args.file, &text, options, now())?;
    if !report.secrets.is_empty() {
        eprintln!("generated secrets are shown once");
    }
    print_json(&report)
}
