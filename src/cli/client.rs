//! `tessera client …`: register and manage clients.

use super::{connect, print_json, Conn, CLI};
use crate::admin::clients::{self, ClientSpec};
use crate::config::Settings;
use crate::state::now;
use clap::{Args, Subcommand};

/// Client commands.
#[derive(Debug, Subcommand)]
pub enum ClientCommand {
    /// Register a client; prints it with its secret (shown once) as JSON
    Create(CreateArgs),
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
    /// Issue a new secret (the old one stops working); prints it as JSON
    RotateSecret {
        /// Client id
        id: String,
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
    /// Token endpoint authentication: client_secret_basic or client_secret_post
    #[arg(long, default_value = "client_secret_basic")]
    auth_method: String,
    /// Issue tokens only with a DPoP proof (RFC 9449 dpop_bound_access_tokens)
    #[arg(long)]
    require_dpop: bool,
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
                auth_method: a.auth_method,
                access_token_ttl: a.access_token_ttl,
                refresh_token_ttl: a.refresh_token_ttl,
                refresh_reuse_grace: a.refresh_reuse_grace,
                require_dpop: a.require_dpop,
            };
            let created = clients::create(conn, CLI, &spec, now())?;
            eprintln!(
                "created client {}; its secret is shown once",
                created.client.client_id
            );
            print_json(&created)
        }
        ClientCommand::List => print_json(&clients::list(conn)?),
        ClientCommand::Show { id } => print_json(&clients::show(conn, &id)?),
        ClientCommand::Disable { id } => {
            print_json(&clients::set_disabled(conn, CLI, &id, true, now())?)
        }
        ClientCommand::Enable { id } => {
            print_json(&clients::set_disabled(conn, CLI, &id, false, now())?)
        }
        ClientCommand::RotateSecret { id } => {
            print_json(&clients::rotate_secret(conn, CLI, &id, now())?)
        }
        ClientCommand::Delete { id } => {
            clients::delete(conn, CLI, &id, now())?;
            eprintln!("deleted client {id}");
            print_json(&serde_json::json!({ "deleted": id }))
        }
    }
}
