//! `tessera user …`: manage the users of the password grant. Passwords are read from
//! stdin (a prompt without echo on a terminal), never from the command line.

use super::{connect, print_json, CLI};
use crate::admin::users;
use crate::config::Settings;
use crate::oauth::password::{check_new_password, hash_password};
use crate::service::now;
use anyhow::{bail, Context};
use clap::Subcommand;
use std::io::{IsTerminal, Read};

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password is read from stdin (a second line, if given, must match)
    Create {
        /// Login name (stored in lower case)
        #[arg(long)]
        username: String,
    },
    /// Set a user's password (read from stdin); ends the user's sessions
    SetPassword {
        /// Login name
        username: String,
    },
    /// Disable a user: no login, sessions end
    Disable {
        /// Login name
        username: String,
    },
    /// Enable a disabled user
    Enable {
        /// Login name
        username: String,
    },
    /// Show one user as JSON
    Show {
        /// Login name
        username: String,
    },
    /// List users as JSON
    List,
    /// Delete a user and their sessions
    Delete {
        /// Login name
        username: String,
    },
}

/// Runs a user command.
pub fn run(settings: &Settings, cmd: UserCommand) -> anyhow::Result<()> {
    // Read and check the password before touching the database: bad input writes nothing.
    let new_hash = match &cmd {
        UserCommand::Create { .. } | UserCommand::SetPassword { .. } => {
            let pw = read_password()?;
            Some(hash_password(&pw, settings.password_hash).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let mut conn = connect(settings)?;
    let conn = &mut conn;
    let t = now();
    match (cmd, new_hash) {
        (UserCommand::Create { username }, Some(hash)) => {
            let user = users::create(conn, CLI, &username, &hash, t)?;
            eprintln!("created user {}", user.username);
            print_json(&user)
        }
        (UserCommand::SetPassword { username }, Some(hash)) => {
            print_json(&users::set_password(conn, CLI, &username, &hash, t)?)
        }
        (UserCommand::Disable { username }, _) => {
            print_json(&users::set_disabled(conn, CLI, &username, true, t)?)
        }
        (UserCommand::Enable { username }, _) => {
            print_json(&users::set_disabled(conn, CLI, &username, false, t)?)
        }
        (UserCommand::Show { username }, _) => print_json(&users::show(conn, &username)?),
        (UserCommand::List, _) => print_json(&users::list(conn)?),
        (UserCommand::Delete { username }, _) => {
            let user = users::delete(conn, CLI, &username, t)?;
            eprintln!("deleted user {}", user.username);
            print_json(&serde_json::json!({ "deleted": user.username }))
        }
        (UserCommand::Create { .. } | UserCommand::SetPassword { .. }, None) => {
            bail!("no password was read")
        }
    }
}

/// The new password: prompted twice on a terminal; otherwise the first line of stdin,
/// and the second line, when present, must repeat it.
fn read_password() -> anyhow::Result<String> {
    let (pw, repeat) = if std::io::stdin().is_terminal() {
        let pw = rpassword::prompt_password("Password: ").context("cannot read the password")?;
        let again =
            rpassword::prompt_password("Repeat password: ").context("cannot read the password")?;
        (pw, Some(again))
    } else {
        let mut input = String::new();
        std::io::stdin()
            .take(64 * 1024)
            .read_to_string(&mut input)
            .context("cannot read the password from stdin (it must be UTF-8)")?;
        let mut lines = input.lines();
        let pw = lines.next().unwrap_or("").to_string();
        let repeat = lines.next().map(str::to_string);
        (pw, repeat)
    };
    check_new_password(&pw).map_err(anyhow::Error::msg)?;
    if repeat.is_some_and(|r| r != pw) {
        bail!("the passwords do not match");
    }
    Ok(pw)
}
