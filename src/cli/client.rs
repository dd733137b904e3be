//! `tessera client …`: register and manage clients.

use super::{connect, print_json, Conn, CLI};
use crate::admin::clients::{
    self, auth_method_names, grant_type_names, ClientFields, ClientPatch, Policy,
};
use crate::admin::AdminError;
use crate::config::Settings;
use crate::db::audit;
use crate::oauth::client_keys::MAX_JWKS_BYTES;
use crate::oauth::{AuthMethod, GrantType};
use crate::service::now;
use clap::{Args, CommandFactory, Subcommand};

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints it with its secret (shown once) as JSON
    Create(Box<CreateArgs>),
    /// Change some attributes of a client, keeping the others; prints it as JSON
    Update(Box<UpdateArgs>),
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
    #[arg(long, value_delimiter = ',', value_name = "GRANTS", help = grant_types_help(true))]
    grant_types: Option<Vec<String>>,
    /// An audience (resource server) the client may get tokens for; repeatable
    #[arg(long = "audience", value_name = "AUD")]
    audiences: Vec<String>,
    /// A resource URI: the client's own API as tokens name it in `aud` (a token for
    /// it is meant for this client at token exchange); repeatable
    #[arg(long = "resource-uri", value_name = "URI")]
    resource_uris: Vec<String>,
    /// Access-token lifetime for this client, seconds
    #[arg(long, value_name = "SECS")]
    access_token_ttl: Option<i64>,
    /// Refresh-token family lifetime for this client, seconds
    #[arg(long, value_name = "SECS")]
    refresh_token_ttl: Option<i64>,
    /// Refresh-token reuse grace for this client, seconds (0 to 300)
    #[arg(long, value_name = "SECS")]
    refresh_reuse_grace: Option<i64>,
    #[arg(long, value_name = "METHOD", help = auth_method_help())]
    auth_method: Option<String>,
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

/// `client update` options: each one given changes that attribute only.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Client id
    id: String,
    /// New human-readable name
    #[arg(long)]
    name: Option<String>,
    /// New space-separated scope, replacing the whole scope ("" for none)
    #[arg(long)]
    scope: Option<String>,
    #[arg(long, value_delimiter = ',', value_name = "GRANTS", help = grant_types_help(false))]
    grant_types: Option<Vec<String>>,
    /// An audience (resource server) the client may get tokens for; repeatable: the
    /// ones given replace the whole list
    #[arg(long = "audience", value_name = "AUD", conflicts_with = "no_audiences")]
    audiences: Option<Vec<String>>,
    /// Remove every audience
    #[arg(long)]
    no_audiences: bool,
    /// A resource URI (the client's own API as tokens name it in `aud`); repeatable:
    /// the ones given replace the whole list
    #[arg(
        long = "resource-uri",
        value_name = "URI",
        conflicts_with = "no_resource_uris"
    )]
    resource_uris: Option<Vec<String>>,
    /// Remove every resource URI
    #[arg(long)]
    no_resource_uris: bool,
    /// Access-token lifetime for this client, seconds, or `default` for the server's
    #[arg(long, value_name = "SECS|default", value_parser = lifetime)]
    access_token_ttl: Option<Lifetime>,
    /// Refresh-token family lifetime for this client, seconds, or `default` for the server's
    #[arg(long, value_name = "SECS|default", value_parser = lifetime)]
    refresh_token_ttl: Option<Lifetime>,
    /// Refresh-token reuse grace for this client, seconds (0 to 300), or `default` for the server's
    #[arg(long, value_name = "SECS|default", value_parser = lifetime)]
    refresh_reuse_grace: Option<Lifetime>,
    /// Issue tokens only with a DPoP proof (RFC 9449 dpop_bound_access_tokens)
    #[arg(long, conflicts_with = "no_require_dpop")]
    require_dpop: bool,
    /// Issue tokens without a DPoP proof too
    #[arg(long)]
    no_require_dpop: bool,
    /// The client's auth method, which cannot change: refused unless it is the current
    /// one (to change it, delete the client and create it again)
    #[arg(long, value_name = "METHOD")]
    auth_method: Option<String>,
}

impl UpdateArgs {
    /// The attributes to change.
    fn patch(&self) -> ClientPatch {
        let list = |given: &Option<Vec<String>>, none: bool| {
            if none {
                Some(Vec::new())
            } else {
                given.clone()
            }
        };
        ClientPatch {
            name: self.name.clone(),
            scope: self.scope.clone(),
            grant_types: self.grant_types.clone(),
            audiences: list(&self.audiences, self.no_audiences),
            resource_uris: list(&self.resource_uris, self.no_resource_uris),
            access_token_ttl: self.access_token_ttl.map(Lifetime::secs),
            refresh_token_ttl: self.refresh_token_ttl.map(Lifetime::secs),
            refresh_reuse_grace: self.refresh_reuse_grace.map(Lifetime::secs),
            require_dpop: match (self.require_dpop, self.no_require_dpop) {
                (true, _) => Some(true),
                (_, true) => Some(false),
                _ => None,
            },
            auth_method: self.auth_method.clone(),
        }
    }
}

/// A per-client lifetime as `client update` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifetime {
    /// The server's default (the client has none of its own).
    Default,
    /// This many seconds.
    Secs(i64),
}

impl Lifetime {
    fn secs(self) -> Option<i64> {
        match self {
            Lifetime::Default => None,
            Lifetime::Secs(s) => Some(s),
        }
    }
}

fn lifetime(s: &str) -> Result<Lifetime, String> {
    if s == "default" {
        return Ok(Lifetime::Default);
    }
    s.parse()
        .map(Lifetime::Secs)
        .map_err(|_| "expected a number of seconds or `default`".into())
}

fn grant_types_help(create: bool) -> String {
    let default = if create {
        format!(" [default: {}]", GrantType::DEFAULT.name())
    } else {
        String::new()
    };
    format!(
        "Comma-separated grant types: {}{default}",
        grant_type_names()
    )
}

fn auth_method_help() -> String {
    format!(
        "Token endpoint authentication: {} [default: {}]",
        auth_method_names(),
        AuthMethod::DEFAULT.as_str()
    )
}

/// The flag of `client <command>` that sets a client attribute (its neutral name, as
/// [`AdminError::InvalidField`] gives it); `None` for one no flag sets.
fn flag(field: &str) -> Option<&'static str> {
    Some(match field {
        "name" => "name",
        "client_id" => "client-id",
        "scope" => "scope",
        "grant_types" => "grant-types",
        "audiences" => "audience",
        "resource_uris" => "resource-uri",
        "auth_method" => "auth-method",
        "jwks" => "jwks",
        "jwks_uri" => "jwks-uri",
        "issuer" => "issuer",
        "subject" => "subject",
        "claims" => "claim",
        "access_token_ttl" => "access-token-ttl",
        "refresh_token_ttl" => "refresh-token-ttl",
        "refresh_reuse_grace" => "refresh-reuse-grace",
        "require_dpop" => "require-dpop",
        "keep_old" => "keep-old",
        _ => return None,
    })
}

/// An administration error in the CLI's words: an invalid attribute is named by the
/// flag of `client <command>` that sets it, or, when the command has none (`update`
/// meeting a stored value that no longer passes), as the stored attribute.
fn flagged(command: &str, e: AdminError) -> anyhow::Error {
    let AdminError::InvalidField { field, message } = e else {
        return e.into();
    };
    let cli = super::Cli::command();
    let long = flag(field).filter(|long| {
        cli.find_subcommand("client")
            .and_then(|c| c.find_subcommand(command))
            .is_some_and(|c| c.get_arguments().any(|a| a.get_long() == Some(long)))
    });
    match long {
        Some(long) => anyhow::anyhow!("--{long}: {message}"),
        None => anyhow::anyhow!("the client's stored {field}: {message}"),
    }
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

/// The JWK Set file (`--jwks`) read, or the `--jwks-uri`, as the fields take them.
fn key_fields(
    jwks: Option<std::path::PathBuf>,
    jwks_uri: Option<String>,
) -> anyhow::Result<(Option<String>, Option<String>)> {
    let jwks = match jwks {
        Some(path) => {
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
            Some(text)
        }
        None => None,
    };
    Ok((jwks, jwks_uri))
}

/// `--claim KEY=VALUE` flags as pairs.
fn claim_pairs(claims: Vec<String>) -> anyhow::Result<Vec<(String, String)>> {
    claims
        .into_iter()
        .map(|c| match c.split_once('=') {
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => anyhow::bail!("--claim {c:?}: expected KEY=VALUE"),
        })
        .collect()
}

/// What the CLI may do: grant `tessera:admin` (its user has the database), and fetch
/// the `jwks_uri`s the settings allow.
fn policy(settings: &Settings) -> Policy {
    Policy {
        jwks_uri_policy: settings.jwks_uri_policy(),
        may_grant_admin: true,
    }
}

/// Runs a client command.
pub fn run(settings: &Settings, cmd: ClientCommand) -> anyhow::Result<()> {
    let mut conn = connect(settings)?;
    let conn: &mut Conn = &mut conn;
    match cmd {
        ClientCommand::Create(a) => {
            let (jwks, jwks_uri) = key_fields(a.keys.jwks, a.keys.jwks_uri)?;
            let fields = ClientFields {
                name: a.name,
                client_id: a.client_id,
                scope: a.scope,
                grant_types: a.grant_types,
                audiences: a.audiences,
                resource_uris: a.resource_uris,
                auth_method: a.auth_method,
                jwks,
                jwks_uri,
                issuer: a.issuer,
                subject: a.subject,
                claims: claim_pairs(a.claims)?,
                access_token_ttl: a.access_token_ttl,
                refresh_token_ttl: a.refresh_token_ttl,
                refresh_reuse_grace: a.refresh_reuse_grace,
                require_dpop: a.require_dpop,
                secret: None,
            };
            let policy = policy(settings);
            let created =
                audit::transaction(conn, |c| clients::create(c, CLI, &fields, policy, now()))
                    .map_err(|e| flagged("create", e))?;
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
        ClientCommand::Update(a) => {
            let patch = a.patch();
            if patch.is_empty() {
                anyhow::bail!(
                    "nothing to change: give the attributes to change (tessera client update --help)"
                );
            }
            let view = clients::patch(conn, CLI, &a.id, &patch, policy(settings), now())
                .map_err(|e| flagged("update", e))?;
            eprintln!("updated client {}", view.client_id);
            print_json(&view)
        }
        ClientCommand::List => print_json(&clients::list(conn)?),
        ClientCommand::Show { id } => print_json(&clients::show(conn, &id)?),
        ClientCommand::Disable { id } => print_json(&audit::transaction(conn, |c| {
            clients::set_disabled(c, CLI, &id, true, now())
        })?),
        ClientCommand::Enable { id } => print_json(&audit::transaction(conn, |c| {
            clients::set_disabled(c, CLI, &id, false, now())
        })?),
        ClientCommand::RotateSecret { id, keep_old } => print_json(
            &audit::transaction(conn, |c| {
                clients::rotate_secret(c, CLI, &id, keep_old, now())
            })
            .map_err(|e| flagged("rotate-secret", e))?,
        ),
        ClientCommand::SetKeys { id, keys } => {
            let (jwks, jwks_uri) = key_fields(keys.jwks, keys.jwks_uri)?;
            let policy = policy(settings);
            print_json(
                &audit::transaction(conn, |c| {
                    clients::set_keys(c, CLI, &id, jwks, jwks_uri, policy, now())
                })
                .map_err(|e| flagged("set-keys", e))?,
            )
        }
        ClientCommand::Delete { id } => {
            audit::transaction(conn, |c| clients::delete(c, CLI, &id, now()))?;
            eprintln!("deleted client {id}");
            print_json(&serde_json::json!({ "deleted": id }))
        }
    }
}
