//! `tessera client …`: register and manage clients.

use super::{connect, print_json, Conn, CLI};
use crate::admin::audit;
use crate::admin::clients::{self, ClientSpec, FederationSpec, KeySource};
use crate::config::Settings;
use crate::oauth::client_keys::MAX_JWKS_BYTES;
use crate::service::now;
use clap::{Args, Subcommand};

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints it with its secret (shown once) as JSON
    Create(Box<CreateArgs>),
    /// List clients as JSON
    List,
    /// Show one client as JSON
    Show {
        /// Client id
        id: String,
    },
    /// Disable a client: it can no longer authenticate
    Disable {
        /// Client id
        id: String,
    },
    /// Enable a disabled client
    Enable {
        /// Client id
        id: String,
    },
    /// Issue a new secret; prints it as JSON. The old one stops working at once, or
    /// after --keep-old seconds
    RotateSecret {
        /// Client id
        id: String,
        /// Keep the old secret working this many seconds (at most 604800, a week), so
        /// every instance can move to the new one without a failed request
        #[arg(long, value_name = "SECS", default_value_t = 0)]
        keep_old: i64,
    },
    /// Replace a private_key_jwt client's public keys (inline JWK Set or jwks_uri)
    SetKeys {
        /// Client id
        id: String,
        /// Where the keys are
        #[command(flatten)]
        keys: KeyArgs,
    },
    /// Delete a client
    Delete {
        /// Client id
        id: String,
    },
}

/// `client create` options.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Human-readable name
    #[arg(long)]
    name: String,
    /// Choose the client id (1 to 64 characters of A-Z a-z 0-9 . _ -) instead of a generated one
    #[arg(long, value_name = "ID")]
    client_id: Option<String>,
    /// Space-separated scopes the client may request
    #[arg(long, default_value = "")]
    scope: String,
    /// Comma-separated grant types: client_credentials, password, refresh_token
    #[arg(long, value_delimiter = ',', default_value = "client_credentials")]
    grant_types: Vec<String>,
    /// An audience (resource server) the client may get tokens for; repeatable
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,
    /// Access-token lifetime for this client, seconds
    #[arg(long, value_name = "SECS")]
    access_token_ttl: Option<i64>,
    /// Refresh-token family lifetime for this client, seconds
    #[arg(long, value_name = "SECS")]
    refresh_token_ttl: Option<i64>,
    /// Refresh-token reuse grace for this client, seconds (0 to 300)
    #[arg(long, value_name = "SECS")]
    refresh_reuse_grace: Option<i64>,
    /// Token endpoint authentication: client_secret_basic, client_secret_post, private_key_jwt or federated
    #[arg(long, default_value = "client_secret_basic")]
    auth_method: String,
    /// federated: the trusted issuer (by name, see `tessera issuer list`) whose tokens authenticate the client
    #[arg(long, value_name = "NAME")]
    issuer: Option<String>,
    /// federated: the token's `sub`, exact or a prefix ending in *
    #[arg(long, value_name = "SUB")]
    subject: Option<String>,
    /// federated: a claim the token must carry with this value; repeatable
    #[arg(long = "claim", value_name = "KEY=VALUE")]
    claims: Vec<String>,
    /// private_key_jwt: the client's public keys
    #[command(flatten)]
    keys: OptionalKeyArgs,
    /// Issue tokens only with a DPoP proof (RFC 9449 dpop_bound_access_tokens)
    #[arg(long)]
    require_dpop: bool,
}

/// Where a private_key_jwt client's public keys are (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct KeyArgs {
    /// A file holding the client's JWK Set (public keys only)
    #[arg(long, value_name = "FILE")]
    jwks: Option<std::path::PathBuf>,
    /// The https URL where the client publishes its JWK Set
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
}

/// Like `KeyArgs`, for `client create`, where secret-based clients give neither.
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
pub struct OptionalKeyArgs {
    /// private_key_jwt: a file holding the client's JWK Set (public keys only)
    #[arg(long, value_name = "FILE")]
    jwks: Option<std::path::PathBuf>,
    /// private_key_jwt: the https URL where the client publishes its JWK Set
    #[arg(long, value_name = "URL")]
    jwks_uri: Option<String>,
}

/// Reads the key source the flags name.
fn key_source(
    jwks: Option<std::path::PathBuf>,
    jwks_uri: Option<String>,
) -> anyhow::Result<Option<KeySource>> {
    Ok(match (jwks, jwks_uri) {
        (Some(path), _) => {
            let meta = std::fs::metadata(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            if meta.len() > MAX_JWKS_BYTES as u64 {
                anyhow::bail!(
                    "{}: a JWK Set is at most {MAX_JWKS_BYTES} bytes",
                    path.display()
                );
            }
            let text = std::fs::read_to_string(&path)
                .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
            Some(KeySource::Jwks(text))
        }
        (None, Some(uri)) => Some(KeySource::JwksUri(uri)),
        (None, None) => None,
    })
}

/// The federated binding the flags name, if any.
fn federation(
    issuer: Option<String>,
    subject: Option<String>,
    claims: Vec<String>,
) -> anyhow::Result<Option<FederationSpec>> {
    let mut pairs = Vec::new();
    for c in claims {
        let Some((k, v)) = c.split_once('=') else {
            anyhow::bail!("--claim {c:?}: expected KEY=VALUE");
        };
        pairs.push((k.to_string(), v.to_string()));
    }
    Ok(match (issuer, subject) {
        (None, None) if pairs.is_empty() => None,
        (Some(issuer), Some(subject)) => Some(FederationSpec {
            issuer,
            subject,
            claims: pairs,
        }),
        (None, _) => anyhow::bail!("--subject and --claim need --issuer"),
        (Some(_), None) => anyhow::bail!("--issuer needs --subject"),
    })
}

/// Runs a client command.
pub fn run(settings: &Settings, cmd: ClientCommand) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    let conn: &mut Conn = &mut conn;
    match cmd {
        ClientCommand::Create(a) => {
            let spec = ClientSpec {
                name: a.name,
                scope: a.scope,
                grant_types: a.grant_types,
                audiences: a.audiences,
                auth_method: Some(a.auth_method),
                keys: key_source(a.keys.jwks, a.keys.jwks_uri)?,
                jwks_uri_policy: settings.jwks_uri_policy(),
                access_token_ttl: a.access_token_ttl,
                refresh_token_ttl: a.refresh_token_ttl,
                refresh_reuse_grace: a.refresh_reuse_grace,
                require_dpop: a.require_dpop,
                federation: federation(a.issuer, a.subject, a.claims)?,
                client_id: a.client_id,
                secret: None,
            };
            let created = audit::transaction(conn, |c| clients::create(c, CLI, &spec, now()))?;
            if created.client_secret.is_some() {
                eprintln!(
                    "created client {}; its secret is shown once",
                    created.client.client_id
                );
            } else {
                eprintln!("created client {}", created.client.client_id);
            }
            print_json(&created)
        }
        ClientCommand::List => print_json(&clients::list(conn)?),
        ClientCommand::Show { id } => print_json(&clients::show(conn, &id)?),
        ClientCommand::Disable { id } => print_json(&audit::transaction(conn, |c| {
            clients::set_disabled(c, CLI, &id, true, now())
        })?),
        ClientCommand::Enable { id } => print_json(&audit::transaction(conn, |c| {
            clients::set_disabled(c, CLI, &id, false, now())
        })?),
        ClientCommand::RotateSecret { id, keep_old } => {
            print_json(&audit::transaction(conn, |c| {
                clients::rotate_secret(c, CLI, &id, keep_old, now())
            })?)
        }
        ClientCommand::SetKeys { id, keys } => {
            let source = key_source(keys.jwks, keys.jwks_uri)?
                .ok_or_else(|| anyhow::anyhow!("give --jwks FILE or --jwks-uri URL"))?;
            let policy = settings.jwks_uri_policy();
            print_json(&audit::transaction(conn, |c| {
                clients::set_keys(c, CLI, &id, &source, policy, now())
            })?)
        }
        ClientCommand::Delete { id } => {
            audit::transaction(conn, |c| clients::delete(c, CLI, &id, now()))?;
            eprintln!("deleted client {id}");
            print_json(&serde_json::json!({ "deleted": id }))
        }
    }
}
