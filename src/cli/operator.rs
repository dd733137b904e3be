//! `tessera operator …`: manage the admin console's operators (never users of the
//! password grant). Passwords are read from stdin, as `user create` reads them.

use super::user::read_password;
use super::{connect, print_json, CLI};
use crate::admin::operators;
use crate::admin::AdminError;
use crate::config::Settings;
use crate::oauth::password::hash_password;
use crate::service::now;
use clap::Subcommand;

/// Operator commands.
#[derive(Debug, Subcommand)]
pub enum OperatorCommand {
    /// Add an operator; the password (at least password_min_length characters) is read from stdin (a second line, if given, must match)
    Add {
        /// Operator name, kept as typed (case and Unicode preserved), 1 to 64 characters
        #[arg(long)]
        username: String,
    },
    /// List operators as JSON
    List,
    /// Set an operator's password (read from stdin); ends its console sessions
    SetPassword {
        /// Operator name
        username: String,
    },
    /// Disable an operator: no sign-in, its console sessions end
    Disable {
        /// Operator name
        username: String,
    },
    /// Enable a disabled operator
    Enable {
        /// Operator name
        username: String,
    },
    /// Remove an operator and its console sessions
    Remove {
        /// Operator name
        username: String,
    },
}

/// Runs an operator command.
pub fn run(settings: &Settings, cmd: OperatorCommand) -> anyhow::Result<()> {
    // Name and password checked before the database is touched: bad input writes nothing.
    if let OperatorCommand::Add { username } = &cmd {
        operators::check_username(username).map_err(|e| flagged(e, "--username"))?;
    }
    let new_hash = match &cmd {
        OperatorCommand::Add { .. } | OperatorCommand::SetPassword { .. } => {
            let pw = read_password(settings.passwords.password_min_length)?;
            Some(hash_password(&pw, settings.passwords.hash_params()).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let mut conn = connect(settings)?;
    let conn = &mut conn;
    let t = now();
    match (cmd, new_hash) {
        (OperatorCommand::Add { username }, Some(hash)) => {
            let op = operators::add(conn, CLI, &username, &hash, t)
                .map_err(|e| flagged(e, "--username"))?;
            eprintln!("added operator {}", op.username);
            print_json(&op)
        }
        (OperatorCommand::List, _) => print_json(&operators::list(conn)?),
        (OperatorCommand::SetPassword { username }, Some(hash)) => print_json(
            &operators::set_password(conn, CLI, &username, &hash, None, t)
                .map_err(|e| flagged(e, "USERNAME"))?,
        ),
        (OperatorCommand::Disable { username }, _) => print_json(
            &operators::set_disabled(conn, CLI, &username, true, t)
                .map_err(|e| flagged(e, "USERNAME"))?,
        ),
        (OperatorCommand::Enable { username }, _) => print_json(
            &operators::set_disabled(conn, CLI, &username, false, t)
                .map_err(|e| flagged(e, "USERNAME"))?,
        ),
        (OperatorCommand::Remove { username }, _) => {
            let op =
                operators::remove(conn, CLI, &username, t).map_err(|e| flagged(e, "USERNAME"))?;
            eprintln!("removed operator {}", op.username);
            print_json(&serde_json::json!({ "removed": op.username }))
        }
        (OperatorCommand::Add { .. } | OperatorCommand::SetPassword { .. }, None) => {
            anyhow::bail!("no password was read")
        }
    }
}

/// An invalid or unknown name as one line naming the flag (or argument) it came from.
fn flagged(e: AdminError, flag: &str) -> anyhow::Error {
    match e {
        AdminError::InvalidField { message, .. } => anyhow::anyhow!("{flag}: {message}"),
        AdminError::NotFound(what) => anyhow::anyhow!("{flag}: {what} not found"),
        other => other.into(),
    }
}
