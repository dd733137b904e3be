//! `tessera audit`: the newest entries of the audit log, filtered, as JSON.

use super::{connect, print_json};
use crate::admin::audit::{self, AuditQuery};
use crate::admin::AdminError;
use crate::config::Settings;
use clap::Args;

/// What `tessera audit` shows.
#[derive(Debug, Args)]
pub struct AuditArgs {
    /// How many entries (1 to 10000)
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Only what this actor did (`cli`, `console:<username>`, `client:<id>`, `server`)
    #[arg(long)]
    actor: Option<String>,
    /// Only this action (e.g. `client.create`, `token.revoke`)
    #[arg(long)]
    action: Option<String>,
    /// Only what concerns this client: changes to it and what it did
    #[arg(long, value_name = "CLIENT_ID")]
    client: Option<String>,
    /// Only entries older than this id (the last id of the previous page)
    #[arg(long, value_name = "ID")]
    before: Option<i64>,
}

/// Prints the newest matching audit entries, newest first.
pub fn run(settings: &Settings, args: AuditArgs) -> anyhow::Result<()> {
    let query = AuditQuery {
        actor: args.actor,
        action: args.action,
        client: args.client,
        before: args.before,
        limit: args.limit,
    };
    let mut conn = connect(settings)?;
    let page = audit::search(&mut conn, &query).map_err(|e| match e {
        AdminError::InvalidField { field, message } => anyhow::anyhow!("--{field}: {message}"),
        e => e.into(),
    })?;
    print_json(&page.entries)
}
