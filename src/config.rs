//! Typed settings: defaults < TOML file < `TESSERA_*` environment < command-line flags.
//!
//! The keys live in sections, one file each (`server`, `database`, `tokens`,
//! `signing`, `clients`, `passwords`, `logins`, `telemetry`, `console`): a section declares each
//! of its keys once (`section!`: flag, variable, file key, doc line, default, check)
//! and holds its rules over several keys. [`ConfigArgs`] is every section's raw layer
//! (clap reads the flags and variables; the file is read key by key, each by its
//! section, the file's keys staying at its top level); [`Settings::load`] merges the
//! layers and [`Settings::resolve`] resolves each section, failing fast with one line
//! naming where the bad value came from (`origin`): the flag, the `TESSERA_*`
//! variable, or the file's line and key. `environment` reports `TESSERA_*` variables
//! that are no setting; `log_filter` checks the `log` filter.

pub mod clients;
pub mod console;
pub mod database;
mod environment;
pub mod log_filter;
pub mod logins;
pub mod origin;
pub mod passwords;
mod section;
pub mod server;
pub mod signing;
pub mod telemetry;
pub mod tokens;

pub use origin::{Origin, Origins};

use clap::Args;
use serde::Deserialize;
use std::path::PathBuf;

/// Every section: its field in [`ConfigArgs`] and [`Settings`], its resolved and raw
/// types. A new section is one line here (and its file); a new key is one line of its
/// section.
macro_rules! sections {
    ($($(#[doc = $doc:literal])+ $field:ident: $name:ty, $args:ty;)+) => {
        /// Every configuration key, unresolved, by section. `serve` takes them as flags;
        /// every command reads them from `TESSERA_<KEY>` (see `from_env`); `--config`,
        /// `--database-url` and `--log` are global. The file's keys are the same, at the
        /// top level of the file.
        #[derive(Debug, Clone, Default, Args)]
        pub struct ConfigArgs {
            /// TOML configuration file (set from the global `--config`).
            #[arg(skip)]
            pub config: Option<PathBuf>,
            /// Where each key set here came from (flag, variable, file line), for messages.
            #[arg(skip)]
            pub origins: Origins,
            $(
                $(#[doc = $doc])+
                #[command(flatten)]
                pub $field: $args,
            )+
        }

        /// Fully resolved and validated settings, by section.
        #[derive(Debug, Clone)]
        pub struct Settings {
            $(
                $(#[doc = $doc])+
                pub $field: $name,
            )+
            /// Where each key's value came from, for messages.
            pub origins: Origins,
        }

        impl ConfigArgs {
            /// Every key the file takes.
            pub fn keys() -> impl Iterator<Item = &'static str> {
                std::iter::empty()$(.chain(<$args>::KEYS.iter().copied()))+
            }

            /// Whether the value of `key` is never shown.
            fn is_secret(key: &str) -> bool {
                $(<$args>::is_secret(key))||+
            }

            /// Fills every key unset here from `lower`.
            fn or(self, lower: ConfigArgs) -> ConfigArgs {
                ConfigArgs {
                    config: self.config.or(lower.config),
                    origins: self.origins.or(lower.origins),
                    $($field: self.$field.or(lower.$field),)+
                }
            }

            /// Reads the value of a known `key` from a file's table.
            fn read_key<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<(), A::Error> {
                $(if self.$field.read_key(key, map)? {
                    return Ok(());
                })+
                Err(serde::de::Error::custom(format_args!("unknown field `{key}`")))
            }
        }

        impl Settings {
            /// Applies defaults and validates, section by section.
            pub fn resolve(c: ConfigArgs) -> Result<Settings, ConfigError> {
                let origins = c.origins;
                Ok(Settings {
                    $($field: c.$field.resolve(&origins)?,)+
                    origins,
                })
            }
        }
    };
}

sections! {
    /// Where the server listens and what it advertises.
    server: server::Server, server::ServerArgs;
    /// The database and its connections.
    database: database::Database, database::DatabaseArgs;
    /// What tokens are issued for how long.
    tokens: tokens::Tokens, tokens::TokensArgs;
    /// Signing keys: algorithm, rotation, publication and encryption at rest.
    signing: signing::Signing, signing::SigningArgs;
    /// Clients: their cache, their keys' URLs and assertions, the file applied at start.
    clients: clients::Clients, clients::ClientsArgs;
    /// User passwords: hashing cost and concurrency, the shortest new one.
    passwords: passwords::Passwords, passwords::PasswordsArgs;
    /// The failed-login throttle.
    logins: logins::Logins, logins::LoginsArgs;
    /// Logs, traces and metrics.
    telemetry: telemetry::Telemetry, telemetry::TelemetryArgs;
    /// The admin console.
    console: console::Console, console::ConsoleArgs;
}

/// The file layer: a table whose keys are the sections' keys, each read by its
/// section (an unknown key is refused where it stands, so its line is named).
impl<'de> Deserialize<'de> for ConfigArgs {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<ConfigArgs, D::Error> {
        d.deserialize_map(FileVisitor)
    }
}

/// Reads a configuration file's table.
struct FileVisitor;

impl<'de> serde::de::Visitor<'de> for FileVisitor {
    type Value = ConfigArgs;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a table of configuration keys")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<ConfigArgs, A::Error> {
        let mut args = ConfigArgs::default();
        while let Some(key) = map.next_key_seed(KnownKey)? {
            args.read_key(key, &mut map)?;
        }
        Ok(args)
    }
}

/// A key of the file, refused unless it is a configuration key.
struct KnownKey;

impl<'de> serde::de::DeserializeSeed<'de> for KnownKey {
    type Value = &'static str;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<&'static str, D::Error> {
        d.deserialize_identifier(self)
    }
}

impl serde::de::Visitor<'_> for KnownKey {
    type Value = &'static str;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a configuration key")
    }

    fn visit_str<E: serde::de::Error>(self, key: &str) -> Result<&'static str, E> {
        ConfigArgs::keys()
            .find(|k| *k == key)
            .ok_or_else(|| E::custom(format_args!("unknown field `{key}`")))
    }
}

/// A configuration problem, reported as one line.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// The flags every command takes.
#[derive(Debug, Clone, Default, Args)]
pub struct GlobalArgs {
    /// TOML configuration file
    #[arg(long, env = "TESSERA_CONFIG", global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// SQLite path or sqlite:// URL, or postgres:// URL [default: ./data/tessera.db]
    #[arg(
        long,
        env = "TESSERA_DATABASE_URL",
        global = true,
        value_name = "URL",
        hide_env_values = true
    )]
    pub database_url: Option<String>,
    /// Log filter: a level (error, warn, info, debug, trace, off) or module=level pairs,
    /// e.g. tessera=debug,actix_web=warn; RUST_LOG also works [default: info for serve,
    /// warn for the other commands]
    #[arg(long, env = "TESSERA_LOG", global = true, value_name = "FILTER")]
    pub log: Option<String>,
}

impl ConfigArgs {
    /// The keys as set in the environment alone (for commands without server flags).
    pub fn from_env() -> Result<ConfigArgs, ConfigError> {
        use clap::FromArgMatches;
        let cmd = cmd_for_errors();
        let matches = cmd
            .clone()
            .try_get_matches_from(Vec::<String>::new())
            .map_err(|e| ConfigError(arg_error_line(&e, &cmd, &[])))?;
        let mut args = ConfigArgs::from_arg_matches(&matches)
            .map_err(|e| ConfigError(arg_error_line(&e, &cmd, &[])))?;
        args.origins = Origins::of_matches(&matches, &cmd);
        Ok(args)
    }

    /// Adds the global flags.
    pub fn with_globals(mut self, globals: &GlobalArgs) -> ConfigArgs {
        self.config = globals.config.clone();
        self.database.database_url = globals.database_url.clone();
        self.telemetry.log = globals.log.clone();
        self
    }

    /// The keys a configuration file sets: its `text`, read from `path` (named in
    /// errors, one line each: `file:line: key: why`). Reads nothing else, so a fuzz
    /// target can judge any text.
    pub fn from_toml(path: &std::path::Path, text: &str) -> Result<ConfigArgs, ConfigError> {
        let mut file =
            toml::from_str::<ConfigArgs>(text).map_err(|e| file_error(path, text, &e))?;
        file.origins = Origins::of_file(path, text);
        Ok(file)
    }
}

/// A TOML error of the config file as one line: `file:line: key: what`, with a
/// suggestion for a misspelt key and without a secret key's value.
fn file_error(path: &std::path::Path, text: &str, e: &toml::de::Error) -> ConfigError {
    let first = e
        .message()
        .lines()
        .next()
        .unwrap_or("invalid TOML")
        .to_string();
    let Some(span) = e.span() else {
        return ConfigError(format!("{}: {first}", path.display()));
    };
    let before = text.get(..span.start).unwrap_or(text);
    let index = before.matches('\n').count();
    let line = index.saturating_add(1);
    let key = text
        .lines()
        .nth(index)
        .and_then(|l| l.split_once('='))
        .map(|(k, _)| k.trim().trim_matches('"').to_string())
        // A key with control characters is not quoted: the message stays one line.
        .filter(|k| !k.is_empty() && !k.starts_with('[') && !k.contains(char::is_control));
    let at = format!("{}:{line}", path.display());
    let Some(key) = key else {
        return ConfigError(format!("{at}: {first}"));
    };
    let why = if first.starts_with("unknown field") {
        // In alphabetical order: of two names equally near, the first is suggested.
        let mut keys: Vec<&str> = ConfigArgs::keys().collect();
        keys.sort_unstable();
        match origin::closest(&key, keys) {
            Some(meant) => format!("unknown key; did you mean {meant}?"),
            None => "unknown key (the README lists the configuration keys)".to_string(),
        }
    } else if ConfigArgs::is_secret(&key) {
        "must be a string".to_string()
    } else {
        first
            .replace("expected i64", "expected an integer")
            .replace("expected u64", "expected a whole number")
            .replace("expected u32", "expected a whole number")
            .replace("expected usize", "expected a whole number")
            .replace("expected f64", "expected a number")
    };
    ConfigError(format!("{at}: {key}: {why}"))
}

/// Checks this process's `TESSERA_*` variables against every variable `cmd` (the
/// whole command line) reads: a likely typo of a setting is an error naming both,
/// any other unknown name a warning (returned, one line each); Kubernetes service
/// links are left alone.
pub fn check_environment(cmd: &clap::Command) -> Result<Vec<String>, ConfigError> {
    let known = environment::known_variables(cmd);
    let vars = std::env::vars_os().map(|(k, v)| {
        (
            k.to_string_lossy().into_owned(),
            v.to_string_lossy().into_owned(),
        )
    });
    environment::check(vars, &known)
}

/// CPUs this process may run on.
fn cpus() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
}

fn cmd_for_errors() -> clap::Command {
    ConfigArgs::augment_args(clap::Command::new("tessera").no_binary_name(true))
}

/// One line for a command-line or environment error, naming what the user typed: the
/// flag, or the `TESSERA_*` variable when the value came from the environment (clap
/// names the flag either way). Clap's usage block and tips are left out.
pub fn arg_error_line(e: &clap::Error, cmd: &clap::Command, argv: &[String]) -> String {
    use clap::error::{ContextKind, ContextValue};
    let text = e.render().to_string();
    let mut line = text
        .lines()
        .map(str::trim)
        .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
        .filter(|l| !l.is_empty() && !l.starts_with("tip:"))
        .collect::<Vec<_>>()
        .join(" ");
    line = line.trim_start_matches("error: ").to_string();
    if let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) {
        let long = arg
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_start_matches("--");
        let typed = argv
            .iter()
            .any(|a| a == &format!("--{long}") || a.starts_with(&format!("--{long}=")));
        let env =
            find_arg(cmd, long).and_then(|a| a.get_env().map(|e| e.to_string_lossy().into_owned()));
        if let (false, Some(env)) = (typed, env) {
            if std::env::var_os(&env).is_some() {
                line = line.replace(&format!("'{arg}'"), &env);
            }
        }
    }
    line
}

/// The argument with this long name, in `cmd` or any of its subcommands.
fn find_arg<'a>(cmd: &'a clap::Command, long: &str) -> Option<&'a clap::Arg> {
    cmd.get_arguments()
        .find(|a| a.get_long() == Some(long))
        .or_else(|| cmd.get_subcommands().find_map(|c| find_arg(c, long)))
}

impl Settings {
    /// The key lifecycle policy of these settings (KEKs parsed; `validate` checked
    /// them): what `serve`, `tessera key` and the console's "rotate now" all use.
    pub fn key_policy(&self) -> Result<crate::keys::lifecycle::KeyPolicy, String> {
        use crate::keys::sealing::Kek;
        let parse = |k: &Option<secrecy::SecretString>, name: &str| {
            k.as_ref()
                .map(|k| Kek::parse(k).map(std::sync::Arc::new))
                .transpose()
                .map_err(|e| format!("invalid {name}: {e}"))
        };
        Ok(crate::keys::lifecycle::KeyPolicy {
            alg: self.signing.signing_alg.clone(),
            rsa_bits: self.signing.rsa_key_bits,
            period: self.signing.key_rotation_period,
            prepublish: self.signing.key_prepublish,
            retention: self.signing.key_retention,
            access_token_ttl: self.tokens.access_token_ttl,
            refresh_interval: i64::try_from(self.signing.key_refresh_interval.as_secs())
                .unwrap_or(i64::MAX),
            kek: parse(&self.signing.key_encryption_key, "key_encryption_key")?,
            previous_kek: parse(
                &self.signing.previous_key_encryption_key,
                "previous_key_encryption_key",
            )?,
        })
    }

    /// Resolves flags and environment (already merged by clap) over the file over defaults.
    pub fn load(args: &ConfigArgs) -> Result<Settings, ConfigError> {
        let file = match &args.config {
            None => ConfigArgs::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| {
                    ConfigError(format!("cannot read config file {}: {e}", path.display()))
                })?;
                ConfigArgs::from_toml(path, &text)?
            }
        };
        let mut merged = args.clone().or(file);
        // RUST_LOG sits below an explicit TESSERA_LOG / --log but above the file.
        if args.telemetry.log.is_none() {
            if let Ok(rust_log) = std::env::var("RUST_LOG") {
                merged.telemetry.log = Some(rust_log);
                merged.origins.set("log", Origin::env("RUST_LOG", false));
            }
        }
        Settings::resolve(merged)
    }

    /// Which client `jwks_uri`s may be registered and fetched.
    pub fn jwks_uri_policy(&self) -> crate::outbound::FetchPolicy {
        self.clients.jwks_uri_policy()
    }

    /// The issuer for a server bound to `addr` (used when no issuer is configured).
    pub fn issuer_for(&self, addr: std::net::SocketAddr) -> String {
        self.server
            .issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::DbUrl;

    #[test]
    fn defaults_match_the_spec() {
        let s = Settings::resolve(ConfigArgs::default()).expect("defaults are valid");
        assert_eq!(s.server.bind, "127.0.0.1:8080");
        assert_eq!(
            s.database.database_url,
            DbUrl::Sqlite("./data/tessera.db".into())
        );
        let t = &s.tokens;
        assert_eq!((t.access_token_ttl, t.refresh_token_ttl), (300, 86_400));
        let k = &s.signing;
        assert_eq!((k.key_rotation_period, k.key_prepublish), (86_400, 3_600));
        assert_eq!(k.signing_alg, "RS256");
        assert_eq!(t.refresh_reuse_grace, 0);
        assert_eq!(s.passwords.password_min_length, 8);
        assert_eq!(s.telemetry.log(), "info");
        assert!(s.telemetry.otlp_endpoint.is_none());
    }

    #[test]
    fn higher_layers_win() {
        let file: ConfigArgs =
            toml::from_str("bind = \"0.0.0.0:9000\"\naccess_token_ttl = 60").expect("toml");
        let mut flags = ConfigArgs::default();
        flags.tokens.access_token_ttl = Some(30);
        let s = Settings::resolve(flags.or(file)).expect("valid");
        assert_eq!(s.server.bind, "0.0.0.0:9000");
        assert_eq!(s.tokens.access_token_ttl, 30);
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<ConfigArgs>("bnid = \"x\"").is_err());
        let mut args = ConfigArgs::default();
        args.tokens.refresh_reuse_grace = Some(301);
        let e = Settings::resolve(args).expect_err("over the cap");
        assert!(e.0.contains("refresh_reuse_grace"));
        let mut args = ConfigArgs::default();
        args.server.bind = Some("nope".into());
        assert!(Settings::resolve(args).is_err());
        let mut args = ConfigArgs::default();
        args.telemetry.otlp_sample_ratio = Some(1.5);
        let e = Settings::resolve(args).expect_err("over 1");
        assert!(e.0.contains("otlp_sample_ratio"));
    }

    #[test]
    fn a_file_error_is_one_line_even_when_its_key_holds_control_characters() {
        // Found by the `config` fuzz target: a lone CR (or an escape sequence) in a
        // key was quoted into the message, which then rewrote the terminal line.
        for text in ["acc\r\"me = \n5", "sc\u{1b}[2Kope = 1\n"] {
            let e = ConfigArgs::from_toml(std::path::Path::new("t.toml"), text)
                .expect_err("invalid TOML");
            assert!(!e.0.contains(char::is_control), "{:?}", e.0);
            assert!(e.0.starts_with("t.toml:1: "), "{:?}", e.0);
        }
    }

    #[test]
    fn a_file_error_names_the_line_and_key_whichever_section_reads_it() {
        let file = |text: &str| {
            ConfigArgs::from_toml(std::path::Path::new("t.toml"), text)
                .expect_err("refused")
                .0
        };
        assert_eq!(
            file("bind = \"x:1\"\nacess_token_ttl = 5\n"),
            "t.toml:2: acess_token_ttl: unknown key; did you mean access_token_ttl?"
        );
        assert_eq!(
            file("log = \"info\"\n\naccess_token_ttl = \"abc\"\n"),
            "t.toml:3: access_token_ttl: invalid type: string \"abc\", expected an integer"
        );
        assert_eq!(
            file("key_encryption_key = 5\n"),
            "t.toml:1: key_encryption_key: must be a string"
        );
        assert!(file("[server]\nbind = \"x:1\"\n").starts_with("t.toml:1: "));
    }

    #[test]
    fn every_key_is_a_flag_a_variable_and_a_file_key_of_one_name() {
        let cmd = cmd_for_errors();
        let globals = ["database_url", "log"];
        let keys: Vec<&str> = ConfigArgs::keys().collect();
        let mut seen = std::collections::BTreeSet::new();
        for key in &keys {
            assert!(seen.insert(*key), "{key} is declared twice");
            let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == *key) else {
                assert!(globals.contains(key), "{key} has no flag");
                continue;
            };
            assert_eq!(arg.get_long(), Some(key.replace('_', "-").as_str()));
            let env = arg.get_env().map(|e| e.to_string_lossy().into_owned());
            assert_eq!(env, Some(format!("TESSERA_{}", key.to_ascii_uppercase())));
            let help = arg.get_help().map(ToString::to_string).unwrap_or_default();
            assert!(help.contains("[default: "), "{key}: {help}");
        }
        let readme = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"));
        for key in keys {
            assert!(
                readme.contains(&format!("| `{key}`"))
                    || readme.contains(&format!("`{key}` /"))
                    || readme.contains(&format!("/ `{key}`")),
                "the README's configuration table lacks {key}"
            );
        }
    }

    #[test]
    fn help_shows_the_default_the_code_applies() {
        let cmd = cmd_for_errors();
        let help = |key: &str| {
            cmd.get_arguments()
                .find(|a| a.get_id() == key)
                .and_then(|a| a.get_help())
                .map(ToString::to_string)
                .unwrap_or_default()
        };
        assert!(help("access_token_ttl").ends_with("seconds [default: 300]"));
        assert!(help("signing_alg").ends_with("[default: RS256]"));
        assert!(help("workers").ends_with("[default: number of CPUs]"));
        assert!(help("key_encryption_key").ends_with("[default: unset]"));
        assert!(help("otlp_sample_ratio").ends_with("[default: 1.0]"));
    }
}
