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
pub mod operator;
pub mod serve;
pub mod user;

use crate::config::{ConfigArgs, GlobalArgs, Origins, Settings};
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
    /// Which flags and variables set which keys (see [`Cli::parse_argv`]).
    #[arg(skip)]
    origins: Origins,
}

impl Cli {
    /// Parses the command line, remembering whether each setting came from a flag or
    /// an environment variable, so a bad value is reported under the name the operator
    /// used.
    pub fn parse_argv(argv: &[String]) -> Result<Cli, clap::Error> {
        use clap::{CommandFactory, FromArgMatches};
        let cmd = Cli::command();
        let matches = cmd.clone().try_get_matches_from(argv)?;
        let mut cli = Cli::from_arg_matches(&matches)?;
        cli.origins = Origins::of_matches(&matches, &cmd);
        if let (Some(("serve", sub)), Some(serve)) =
            (matches.subcommand(), cmd.find_subcommand("serve"))
        {
            cli.origins.extend(Origins::of_matches(sub, serve));
        }
        Ok(cli)
    }
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
    /// Manage the admin console's operators (not users of the password grant)
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Manage trusted issuers (outside token issuers for federated clients)
    #[command(subcommand)]
    Issuer(issuer::IssuerCommand),
    /// Manage signing keys
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Make the database's clients and trusted issuers match a TOML file; prints the plan
    Apply(apply::ApplyArgs),
    /// Show the newest audit-log entries (who changed what, when) as JSON
    Audit(audit::AuditArgs),
}

/// Runs the parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    use clap::CommandFactory;
    let warnings = crate::config::check_environment(&Cli::command())?;
    let serve = matches!(cli.command, None | Some(Command::Serve(_)));
    let mut keys = match &cli.command {
        Some(Command::Serve(keys)) => (**keys).clone(),
        _ => ConfigArgs::from_env()?,
    };
    keys.origins.extend(cli.origins.clone());
    let settings = Settings::load(&keys.with_globals(&cli.globals))?;
    for warning in &warnings {
        eprintln!("tessera: warning: {warning}");
    }
    // A command prints its own human line and its error; the audit table records its
    // change. Its log is for who asks (`--log info`): warnings only by default.
    let filter = if serve || settings.telemetry.log_given() {
        settings.telemetry.log()
    } else {
        "warn"
    };
    crate::telemetry::init(filter);
    match cli.command {
        None | Some(Command::Serve(_)) => serve::run(settings),
        Some(Command::Migrate) => migrate::run(&settings),
        Some(Command::Client(cmd)) => client::run(&settings, cmd),
        Some(Command::User(cmd)) => user::run(&settings, cmd),
        Some(Command::Operator(cmd)) => operator::run(&settings, cmd),
        Some(Command::Issuer(cmd)) => issuer::run(&settings, cmd),
        Some(Command::Key(cmd)) => key::run(&settings, cmd),
        Some(Command::Audit(args)) => audit::run(&settings, args),
        Some(Command::Apply(args)) => apply::run(&settings, args),
    }
}

/// A connection for a command (`create`: whether a missing SQLite file is made). A
/// failure is the command's one error line, naming the database without its password;
/// the pool logs nothing meanwhile.
pub(crate) fn open(settings: &Settings, create: bool) -> anyhow::Result<db::pool::PooledConn> {
    let pool = pool(settings, create)?;
    let shown = settings.database.database_url.redacted();
    db::pool::get(&pool).with_context(|| format!("cannot connect to {shown}"))
}

/// A one-connection pool for a command that runs the server's own units of work.
pub(crate) fn pool(settings: &Settings, create: bool) -> anyhow::Result<db::DbPool> {
    let opts = db::pool::PoolOptions {
        max_size: 1,
        connect_timeout: settings.database.db_connect_timeout,
        statement_timeout: settings.database.db_statement_timeout_ms,
        create_sqlite: create,
        log_failures: false,
    };
    let shown = settings.database.database_url.redacted();
    db::pool::build_pool(&settings.database.database_url, &opts)
        .with_context(|| format!("database {shown}"))
}

/// A migrated connection for an administrative command.
pub(crate) fn connect(settings: &Settings) -> anyhow::Result<db::pool::PooledConn> {
    let mut conn = open(settings, false)?;
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
