//! The command line: `serve` (the default), `migrate`, `client …`.
//!
//! Machine output (JSON) goes to stdout, human output to stderr; bad input is one line
//! on stderr and a non-zero exit, with nothing written.

pub mod apply;
pub mod audit;
pub mod client;
pub mod issuer;
pub mod key;
pub mod migrate;
pub mod serve;
pub mod user;

use crate::config::{ConfigArgs, GlobalArgs, Settings};
use crate::db::{self, DbConnection};
use anyhow::Context;
use clap::{Parser, Subcommand};

/// tessera: an OAuth 2.0 authorization server.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    globals: GlobalArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default)
    Serve(Box<ConfigArgs>),
    /// Apply pending database migrations and exit
    Migrate,
    /// Manage clients
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage users of the password grant
    #[command(subcommand)]
    User(user::UserCommand),
    /// Manage trusted issuers (outside token issuers for federated clients)
    #[command(subcommand)]
    Issuer(issuer::IssuerCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Make the database's clients and trusted issuers match a TOML file; prints the plan
    Apply(apply::ApplyArgs),
    /// Show the newest audit-log entries (who changed what, when) as JSON
    Audit {
        /// How many entries
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    let keys = match &cli.command {
        Some(Command::Serve(keys)) => (**keys).clone(),
        _ => ConfigArgs::from_env()?,
    };
    let settings = Settings::load(&keys.with_globals(&cli.globals))?;
    crate::telemetry::init(&settings.log);
    match cli.command {
        None | Some(Command::Serve(_)) => serve::run(settings),
        Some(Command::Migrate) => migrate::run(&settings),
        Some(Command::Client(cmd)) => client::run(&settings, cmd),
        Some(Command::User(cmd)) => user::run(&settings, cmd),
        Some(Command::Issuer(cmd)) => issuer::run(&settings, cmd),
        Some(Command::Key(cmd)) => key::run(&settings, cmd),
        Some(Command::Audit { limit }) => audit::run(&settings, limit),
        Some(Command::Apply(args)) => apply::run(&settings, args),
    }
}

/// A migrated connection for an administrative command.
pub(crate) fn connect(settings: &Settings) -> anyhow::Result<db::pool::PooledConn> {
    let mut small = settings.clone();
    small.db_pool_size = 1;
    let pool = crate::startup::pool_for(&small, false)?;
    let mut conn = db::pool::get(&pool)
        .with_context(|| format!("cannot connect to {}", settings.database_url.redacted()))?;
    db::run_migrations(&mut conn)?;
    Ok(conn)
}

/// Prints a value as JSON on stdout.
pub(crate) fn print_json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// The audit log's name for changes made through the CLI.
pub(crate) const CLI: &str = "cli";

/// Keeps the connection type in one place for command modules.
pub(crate) type Conn = DbConnection;
