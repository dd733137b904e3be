//! `tessera issuer …`: the outside token issuers whose tokens authenticate federated
//! clients.

use super::{connect, print_json, CLI};
use crate::admin::issuers::{self, IssuerSpec};
use crate::admin::AdminError;
use crate::config::Settings;
use crate::oauth::client_keys::MAX_JWKS_BYTES;
use crate::service::federation::Federation;
use crate::service::now;
use anyhow::Context;
use clap::Subcommand;

/// Trusted-issuer commands.
#[derive(Debug, Subcommand)]
pub enum IssuerCommand {
    /// Register a trusted issuer; prints it as JSON
    Add {
        /// A name for it (1 to 64 characters of A-Z a-z 0-9 . _ -)
        #[arg(long)]
        name: String,
        /// The `iss` of its tokens (https URL; for SPIFFE, default `spiffe://<trust domain>`).
        /// Without --jwks-uri or --jwks its keys come from the jwks_uri of
        /// `<issuer>/.well-known/openid-configuration`
        #[arg(long, value_name = "URL")]
        issuer: Option<String>,
        /// Where its JWK Set is published
        #[arg(long, value_name = "URL", conflicts_with = "jwks")]
        jwks_uri: Option<String>,
        /// A file holding its JWK Set
        #[arg(long, value_name = "FILE")]
        jwks: Option<std::path::PathBuf>,
        /// A SPIFFE trust domain: tokens are JWT-SVIDs, keys from its trust bundle
        #[arg(long, value_name = "TD")]
        spiffe_trust_domain: Option<String>,
        /// Longest lifetime (exp − iat) of a token accepted, seconds [default: 86400]
        #[arg(long, value_name = "SECS")]
        max_token_age: Option<i64>,
    },
    /// List trusted issuers as JSON
    List,
    /// Show one trusted issuer as JSON
    Show {
        /// Its name
        name: String,
    },
    /// Delete a trusted issuer (refused while clients are bound to it)
    Delete {
        /// Its name
        name: String,
    },
    /// Run every check the token endpoint applies to a platform token and print each
    /// with its result and the client it would authenticate (no token is issued,
    /// nothing is written); exit 0 when it would be accepted. The audience checked is
    /// the configured issuer (`issuer`, TESSERA_ISSUER)
    Explain {
        /// A file holding the token, or - for stdin
        #[arg(value_name = "FILE|-")]
        file: std::path::PathBuf,
    },
}

/// Runs an issuer command.
pub fn run(settings: &Settings, cmd: IssuerCommand) -> anyhow::Result<()> {
    // The JWK Set file is read before the database is touched: bad input writes nothing.
    let spec = match &cmd {
        IssuerCommand::Add {
            name,
            issuer,
            jwks_uri,
            jwks,
            spiffe_trust_domain,
            max_token_age,
        } => Some(IssuerSpec {
            name: name.clone(),
            issuer: issuer.clone(),
            jwks_uri: jwks_uri.clone(),
            jwks: match jwks {
                Some(path) => Some(read_jwks(path)?),
                None => None,
            },
            spiffe_trust_domain: spiffe_trust_domain.clone(),
            max_token_age: *max_token_age,
            allow_http: settings.clients.jwks_uri_allow_http,
        }),
        _ => None,
    };
    if let IssuerCommand::Explain { file } = &cmd {
        return explain(settings, file);
    }
    let mut conn = connect(settings)?;
    let conn = &mut conn;
    match (cmd, spec) {
        (IssuerCommand::Add { .. }, Some(spec)) => {
            let view = issuers::add(conn, CLI, &spec, now()).map_err(flagged)?;
            eprintln!("added trusted issuer {}", view.name);
            print_json(&view)
        }
        (IssuerCommand::List, _) => print_json(&issuers::list(conn)?),
        (IssuerCommand::Show { name }, _) => print_json(&issuers::show(conn, &name)?),
        (IssuerCommand::Delete { name }, _) => {
            let view = issuers::delete(conn, CLI, &name, now())?;
            eprintln!("deleted trusted issuer {}", view.name);
            print_json(&serde_json::json!({ "deleted": view.name }))
        }
        (IssuerCommand::Add { .. }, None) => anyhow::bail!("no issuer was given"),
        (IssuerCommand::Explain { file }, _) => explain(settings, &file),
    }
}

/// An administration error in the CLI's words: an invalid attribute is named by the
/// flag of `issuer add` that sets it.
fn flagged(e: AdminError) -> anyhow::Error {
    let AdminError::InvalidField { field, message } = e else {
        return e.into();
    };
    let flag = match field {
        "name" => "name",
        "issuer" => "issuer",
        "jwks_uri" => "jwks-uri",
        "jwks" => "jwks",
        "spiffe_trust_domain" => "spiffe-trust-domain",
        "max_token_age" => "max-token-age",
        other => return anyhow::anyhow!("{other}: {message}"),
    };
    anyhow::anyhow!("--{flag}: {message}")
}

fn read_jwks(path: &std::path::Path) -> anyhow::Result<String> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if meta.len() > MAX_JWKS_BYTES as u64 {
        anyhow::bail!(
            "{}: a JWK Set is at most {MAX_JWKS_BYTES} bytes",
            path.display()
        );
    }
    std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))
}

/// Most bytes of input `issuer explain` reads: a platform token is at most 8 KiB, and
/// a paste may bring some whitespace.
const MAX_EXPLAIN_INPUT: u64 = 64 * 1024;

/// The token in `file` (`-`: stdin), read up to [`MAX_EXPLAIN_INPUT`].
fn read_token(file: &std::path::Path) -> anyhow::Result<String> {
    use std::io::Read;
    let shown = file.display();
    let source: Box<dyn Read> = if file.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(std::fs::File::open(file).with_context(|| format!("cannot read {shown}"))?)
    };
    let mut bytes = Vec::new();
    source
        .take(MAX_EXPLAIN_INPUT.saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {shown}"))?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > MAX_EXPLAIN_INPUT {
        anyhow::bail!("{shown}: over 64 KiB; a platform token is at most 8 KiB");
    }
    String::from_utf8(bytes).map_err(|_| anyhow::anyhow!("{shown}: not UTF-8 text"))
}

/// `issuer explain`: the checks, one a line (`ok`/`FAIL`, name, detail), then the client.
fn explain(settings: &Settings, file: &std::path::Path) -> anyhow::Result<()> {
    let token = read_token(file)?;
    let pool = super::pool(settings, false)?;
    {
        let mut conn = crate::db::pool::get(&pool).context("cannot connect to the database")?;
        crate::db::run_migrations(&mut conn)?;
    }
    let audience = settings
        .server
        .issuer
        .clone()
        .unwrap_or_else(|| format!("http://{}", settings.server.bind));
    let federation = Federation::new(
        pool,
        audience,
        settings.clients.client_cache_ttl,
        settings.clients.jwks_uri_timeout,
        settings.jwks_uri_policy(),
    )
    .context("cannot set up the HTTP client for trusted issuers")?;
    let explained = actix_web::rt::System::new().block_on(federation.explain(&token, now()));
    for check in &explained.checks {
        let mark = if check.ok { "ok  " } else { "FAIL" };
        println!("{mark}  {:<14} {}", check.name, check.detail);
    }
    match &explained.client_id {
        Some(id) => {
            println!("client: {id}");
            Ok(())
        }
        None => anyhow::bail!("the token would be refused (see the FAIL lines)"),
    }
}
