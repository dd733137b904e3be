//! `tessera user …`: manage the users of the password grant. Passwords are read from
//! stdin (a prompt without echo on a terminal), never from the command line.

use super::{connect, print_json, CLI};
use crate::admin::user_import::{self, ImportOptions, ModelLabel, MAX_IMPORT_BYTES};
use crate::admin::users;
use crate::config::Settings;
use crate::oauth::password::{check_new_password, hash_password};
use crate::service::now;
use anyhow::{bail, Context};
use clap::Subcommand;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

/// User commands.
#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user; the password (at least password_min_length characters) is read from stdin (a second line, if given, must match)
    Create {
        /// Login name (stored in lower case)
        #[arg(long)]
        username: String,
        /// The user's id in the system they came from (a Django pk); simplejwt tokens
        /// carry it as `user_id`
        #[arg(long)]
        external_id: Option<String>,
    },
    /// Import users with their password hashes; prints one JSON summary
    Import {
        /// The JSON of `manage.py dumpdata auth.user`
        #[arg(long, value_name = "FILE")]
        django: PathBuf,
        /// Update users that already exist (by username) instead of skipping them
        #[arg(long)]
        update: bool,
        /// Print the summary without writing anything
        #[arg(long)]
        dry_run: bool,
        /// The user model the file holds, as AUTH_USER_MODEL names it (case-insensitive)
        #[arg(long, value_name = "APP.MODEL", default_value = "auth.user")]
        model: String,
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
            let pw = read_password(settings.passwords.password_min_length)?;
            Some(hash_password(&pw, settings.passwords.hash_params()).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    // Likewise the import's flags and file: checked, and read whole, before connecting.
    let import = match &cmd {
        UserCommand::Import { django, model, .. } => {
            let model = ModelLabel::parse(model).map_err(|e| anyhow::anyhow!("--model: {e}"))?;
            Some((model, read_import_file(django)?))
        }
        _ => None,
    };
    let mut conn = connect(settings)?;
    let conn = &mut conn;
    let t = now();
    // The configured argon2id: what new hashes use, and what bounds a stored one.
    let hashing = settings.passwords.hash_params();
    match (cmd, new_hash) {
        (
            UserCommand::Create {
                username,
                external_id,
            },
            Some(hash),
        ) => {
            let ext = external_id.as_deref();
            let user = users::create(conn, CLI, &username, &hash, ext, hashing, t)?;
            eprintln!("created user {}", user.user.username);
            print_json(&user)
        }
        (
            UserCommand::Import {
                update, dry_run, ..
            },
            _,
        ) => {
            let (model, data) = import.unwrap_or_else(|| (ModelLabel::auth_user(), Vec::new()));
            let options = ImportOptions {
                update,
                dry_run,
                hashing,
                model,
            };
            let summary = user_import::import_django(conn, CLI, &data, options, t)?;
            print_json(&summary)
        }
        (UserCommand::SetPassword { username }, Some(hash)) => print_json(&users::set_password(
            conn, CLI, &username, &hash, hashing, t,
        )?),
        (UserCommand::Disable { username }, _) => print_json(&users::set_disabled(
            conn, CLI, &username, true, hashing, t,
        )?),
        (UserCommand::Enable { username }, _) => print_json(&users::set_disabled(
            conn, CLI, &username, false, hashing, t,
        )?),
        (UserCommand::Show { username }, _) => print_json(&users::show(conn, &username, hashing)?),
        (UserCommand::List, _) => print_json(&users::list(conn, hashing)?),
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

/// The import file, whole (at most 256 MiB).
fn read_import_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut data = Vec::new();
    file.take(MAX_IMPORT_BYTES + 1)
        .read_to_end(&mut data)
        .with_context(|| format!("cannot read {}", path.display()))?;
    if data.len() as u64 > MAX_IMPORT_BYTES {
        bail!(
            "{} is larger than {} MiB; import it in parts (dumpdata --pks)",
            path.display(),
            MAX_IMPORT_BYTES / (1024 * 1024)
        );
    }
    Ok(data)
}

/// The new password: prompted twice on a terminal; otherwise the first line of stdin,
/// and the second line, when present, must repeat it. It must be at least `min_chars`
/// characters long (`password_min_length`).
pub(crate) fn read_password(min_chars: usize) -> anyhow::Result<String> {
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
    // A typo in the repetition is the likelier mistake: say that first.
    if repeat.is_some_and(|r| r != pw) {
        bail!("the passwords do not match");
    }
    check_new_password(&pw, min_chars).map_err(anyhow::Error::msg)?;
    Ok(pw)
}
