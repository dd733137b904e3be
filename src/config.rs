//! Typed settings: defaults < TOML file < `TESSERA_*` environment < command-line flags.
//!
//! `ConfigArgs` is both the flags (clap, which also reads the environment variables)
//! and the file layer (serde), so every key is declared once. `Settings::load`
//! resolves the layers and `validate` fails fast with one line naming where the bad
//! value came from (`origin`): the flag, the `TESSERA_*` variable, or the file's line
//! and key. `environment` reports `TESSERA_*` variables that are no setting;
//! `log_filter` checks the `log` filter.

mod environment;
pub mod log_filter;
pub mod origin;

pub use origin::{Origin, Origins};

use crate::db::DbUrl;
use clap::Args;
use secrecy::SecretString;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// Every configuration key, unresolved. `serve` takes them as flags; every command reads
/// them from `TESSERA_<KEY>` (see `from_env`); `--config` and `--database-url` are global.
#[derive(Debug, Clone, Default, Args, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigArgs {
    /// TOML configuration file (set from the global `--config`).
    #[arg(skip)]
    #[serde(skip)]
    pub config: Option<PathBuf>,
    /// Where each key set here came from (flag, variable, file line), for messages.
    #[arg(skip)]
    #[serde(skip)]
    pub origins: Origins,
    /// Listen address; port 0 picks a free port [default: 127.0.0.1:8080]
    #[arg(long, env = "TESSERA_BIND", value_name = "ADDR")]
    pub bind: Option<String>,
    /// Issuer identifier, the base of every advertised URL [default: http://<bind>]
    #[arg(long, env = "TESSERA_ISSUER", value_name = "URL")]
    pub issuer: Option<String>,
    /// SQLite path or sqlite:// URL, or postgres:// URL (set from the global `--database-url`).
    #[arg(skip)]
    pub database_url: Option<String>,
    /// Access-token lifetime, seconds [default: 300]
    #[arg(long, env = "TESSERA_ACCESS_TOKEN_TTL", value_name = "SECS")]
    pub access_token_ttl: Option<i64>,
    /// Refresh-token family lifetime (absolute), seconds [default: 86400]
    #[arg(long, env = "TESSERA_REFRESH_TOKEN_TTL", value_name = "SECS")]
    pub refresh_token_ttl: Option<i64>,
    /// Signing-key rotation period, seconds [default: 86400]
    #[arg(long, env = "TESSERA_KEY_ROTATION_PERIOD", value_name = "SECS")]
    pub key_rotation_period: Option<i64>,
    /// How long a new key is published before it signs, seconds [default: 3600]
    #[arg(long, env = "TESSERA_KEY_PREPUBLISH", value_name = "SECS")]
    pub key_prepublish: Option<i64>,
    /// 32-byte key (hex or base64) encrypting private keys at rest [default: unset]
    #[arg(
        long,
        env = "TESSERA_KEY_ENCRYPTION_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub key_encryption_key: Option<String>,
    /// File holding the key-encryption key (instead of key_encryption_key) [default: unset]
    #[arg(long, env = "TESSERA_KEY_ENCRYPTION_KEY_FILE", value_name = "FILE")]
    pub key_encryption_key_file: Option<PathBuf>,
    /// The previous key-encryption key, while rotating it: keys sealed with it are re-sealed [default: unset]
    #[arg(
        long,
        env = "TESSERA_PREVIOUS_KEY_ENCRYPTION_KEY",
        value_name = "KEY",
        hide_env_values = true
    )]
    pub previous_key_encryption_key: Option<String>,
    /// How long a retired key stays in the JWKS, seconds [default: longest access-token lifetime + key_refresh_interval + 60]
    #[arg(long, env = "TESSERA_KEY_RETENTION", value_name = "SECS")]
    pub key_retention: Option<i64>,
    /// Token signing algorithm: RS256, PS256, ES256 or EdDSA [default: RS256]
    #[arg(long, env = "TESSERA_SIGNING_ALG", value_name = "ALG")]
    pub signing_alg: Option<String>,
    /// RSA key size for new signing keys: 2048 or 3072 [default: 2048]
    #[arg(long, env = "TESSERA_RSA_KEY_BITS", value_name = "BITS")]
    pub rsa_key_bits: Option<usize>,
    /// Seconds a just-rotated refresh token may be replayed, 0 = strict [default: 0]
    #[arg(long, env = "TESSERA_REFRESH_REUSE_GRACE", value_name = "SECS")]
    pub refresh_reuse_grace: Option<i64>,
    /// env_logger filter (set from the global `--log`); RUST_LOG also works.
    #[arg(skip)]
    pub log: Option<String>,
    /// HTTP worker threads [default: number of CPUs]
    #[arg(long, env = "TESSERA_WORKERS", value_name = "N")]
    pub workers: Option<usize>,
    /// Maximum database connections per process [default: 10]
    #[arg(long, env = "TESSERA_DB_POOL_SIZE", value_name = "N")]
    pub db_pool_size: Option<u32>,
    /// Seconds to wait for a database connection before answering 503 [default: 2]
    #[arg(long, env = "TESSERA_DB_CONNECT_TIMEOUT", value_name = "SECS")]
    pub db_connect_timeout: Option<u64>,
    /// Per-statement timeout, milliseconds (SQLite: busy timeout) [default: 5000]
    #[arg(long, env = "TESSERA_DB_STATEMENT_TIMEOUT_MS", value_name = "MS")]
    pub db_statement_timeout_ms: Option<u64>,
    /// How long a client read from the database is trusted, seconds; 0 = always read [default: 5]
    #[arg(long, env = "TESSERA_CLIENT_CACHE_TTL", value_name = "SECS")]
    pub client_cache_ttl: Option<u64>,
    /// How often each replica reloads the signing keys, seconds [default: 60]
    #[arg(long, env = "TESSERA_KEY_REFRESH_INTERVAL", value_name = "SECS")]
    pub key_refresh_interval: Option<u64>,
    /// argon2id memory cost for user passwords, KiB [default: 19456]
    #[arg(long, env = "TESSERA_ARGON2_MEMORY_KIB", value_name = "KIB")]
    pub argon2_memory_kib: Option<u32>,
    /// argon2id passes [default: 2]
    #[arg(long, env = "TESSERA_ARGON2_ITERATIONS", value_name = "N")]
    pub argon2_iterations: Option<u32>,
    /// argon2id lanes [default: 1]
    #[arg(long, env = "TESSERA_ARGON2_PARALLELISM", value_name = "N")]
    pub argon2_parallelism: Option<u32>,
    /// Password hashes computed at once; more logins wait, a full queue gets 503 [default: half the CPUs, at least 1]
    #[arg(long, env = "TESSERA_PASSWORD_HASH_CONCURRENCY", value_name = "N")]
    pub password_hash_concurrency: Option<usize>,
    /// Shortest new password accepted by `user create` and `user set-password`, in characters [default: 8]
    #[arg(long, env = "TESSERA_PASSWORD_MIN_LENGTH", value_name = "CHARS")]
    pub password_min_length: Option<usize>,
    /// Failed logins per username before it is locked for the window [default: 5]
    #[arg(long, env = "TESSERA_LOGIN_MAX_FAILURES", value_name = "N")]
    pub login_max_failures: Option<i64>,
    /// Failed logins per client address before it is locked for the window [default: 20]
    #[arg(long, env = "TESSERA_LOGIN_MAX_FAILURES_PER_ADDR", value_name = "N")]
    pub login_max_failures_per_addr: Option<i64>,
    /// Length of the failed-login window and lockout, seconds [default: 300]
    #[arg(long, env = "TESSERA_LOGIN_LOCKOUT", value_name = "SECS")]
    pub login_lockout: Option<i64>,
    /// Take the client address from the last X-Forwarded-For entry (behind a proxy you run) [default: false]
    #[arg(long, env = "TESSERA_TRUST_FORWARDED_FOR", value_name = "BOOL")]
    pub trust_forwarded_for: Option<bool>,
    /// A `tessera apply` file applied at start, before listening, on every replica [default: unset]
    #[arg(long, env = "TESSERA_APPLY", value_name = "FILE")]
    pub apply: Option<std::path::PathBuf>,
    /// Client id the simplejwt-compatible /api/token/ endpoints act as; unset = endpoints off [default: unset]
    #[arg(long, env = "TESSERA_SIMPLEJWT_CLIENT", value_name = "CLIENT_ID")]
    pub simplejwt_client: Option<String>,
    /// How often ended refresh-token families and old login counters are deleted, seconds [default: 600]
    #[arg(long, env = "TESSERA_PURGE_INTERVAL", value_name = "SECS")]
    pub purge_interval: Option<u64>,
    /// Accept plain-http jwks_uri for private_key_jwt clients (tests, local development only) [default: false]
    #[arg(long, env = "TESSERA_JWKS_URI_ALLOW_HTTP", value_name = "BOOL")]
    pub jwks_uri_allow_http: Option<bool>,
    /// How long fetching a client's jwks_uri may take, seconds [default: 5]
    #[arg(long, env = "TESSERA_JWKS_URI_TIMEOUT", value_name = "SECS")]
    pub jwks_uri_timeout: Option<u64>,
    /// Let client jwks_uris reach loopback, private, link-local and unspecified addresses (tests, internal deployments) [default: false]
    #[arg(long, env = "TESSERA_JWKS_URI_ALLOW_PRIVATE", value_name = "BOOL")]
    pub jwks_uri_allow_private: Option<bool>,
    /// Label tokens issued in /metrics by client_id (one series per client: mind the cardinality) [default: false]
    #[arg(long, env = "TESSERA_METRICS_CLIENT_LABEL", value_name = "BOOL")]
    pub metrics_client_label: Option<bool>,
    /// private_key_jwt assertion `aud`: "strict" (the issuer only, RFC 7523bis) or "legacy" (endpoint URLs too) [default: strict]
    #[arg(long, env = "TESSERA_ASSERTION_AUDIENCE", value_name = "strict|legacy")]
    pub assertion_audience: Option<String>,
    /// How far ahead a private_key_jwt assertion's exp may be, seconds (60 to 86400); its jti is kept until then [default: 3600]
    #[arg(
        long,
        env = "TESSERA_CLIENT_ASSERTION_MAX_LIFETIME",
        value_name = "SECS"
    )]
    pub client_assertion_max_lifetime: Option<i64>,
    /// OpenTelemetry collector's OTLP/HTTP base URL; spans go to <URL>/v1/traces; unset = tracing off [default: unset]
    #[arg(long, env = "TESSERA_OTLP_ENDPOINT", value_name = "URL")]
    pub otlp_endpoint: Option<String>,
    /// Longest a finished span waits before its batch is exported, milliseconds [default: 5000]
    #[arg(long, env = "TESSERA_OTLP_BATCH_DELAY_MS", value_name = "MS")]
    pub otlp_batch_delay_ms: Option<u64>,
    /// How long one export to the collector may take, seconds [default: 10]
    #[arg(long, env = "TESSERA_OTLP_TIMEOUT", value_name = "SECS")]
    pub otlp_timeout: Option<u64>,
    /// Share of new traces recorded, 0.0 to 1.0; a request with a traceparent follows its caller's choice [default: 1.0]
    #[arg(long, env = "TESSERA_OTLP_SAMPLE_RATIO", value_name = "RATIO")]
    pub otlp_sample_ratio: Option<f64>,
}

/// Fully resolved and validated settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Listen address.
    pub bind: String,
    /// Explicit issuer; `None` means `http://` + the bound address.
    pub issuer: Option<String>,
    /// The database.
    pub database_url: DbUrl,
    /// Seconds.
    pub access_token_ttl: i64,
    /// Seconds.
    pub refresh_token_ttl: i64,
    /// Seconds.
    pub key_rotation_period: i64,
    /// Seconds.
    pub key_prepublish: i64,
    /// The key-encryption key, if set (hex or base64 of 32 bytes).
    pub key_encryption_key: Option<SecretString>,
    /// The previous key-encryption key, while rotating it.
    pub previous_key_encryption_key: Option<SecretString>,
    /// Explicit retention of retired keys, seconds.
    pub key_retention: Option<i64>,
    /// JWS algorithm for new tokens.
    pub signing_alg: String,
    /// RSA modulus size for new keys.
    pub rsa_key_bits: usize,
    /// Seconds.
    pub refresh_reuse_grace: i64,
    /// env_logger filter.
    pub log: String,
    /// HTTP workers.
    pub workers: usize,
    /// Pool size.
    pub db_pool_size: u32,
    /// Pool checkout timeout.
    pub db_connect_timeout: Duration,
    /// Statement / busy timeout.
    pub db_statement_timeout: Duration,
    /// Client cache staleness bound.
    pub client_cache_ttl: Duration,
    /// Key reload interval.
    pub key_refresh_interval: Duration,
    /// argon2id parameters for user passwords.
    pub password_hash: crate::oauth::password::HashParams,
    /// Password hashes computed at once.
    pub password_hash_concurrency: usize,
    /// Shortest new password, in characters.
    pub password_min_length: usize,
    /// Per-username failed-login limit.
    pub login_user_limit: crate::oauth::throttle::Limit,
    /// Per-address failed-login limit.
    pub login_addr_limit: crate::oauth::throttle::Limit,
    /// Whether X-Forwarded-For names the client address.
    pub trust_forwarded_for: bool,
    /// The client the simplejwt endpoints act as, if they are on.
    pub simplejwt_client: Option<String>,
    /// The clients-as-code file applied at start, if any.
    pub apply: Option<std::path::PathBuf>,
    /// Background purge interval.
    pub purge_interval: Duration,
    /// Whether a `jwks_uri` may be plain http.
    pub jwks_uri_allow_http: bool,
    /// Time limit for fetching a `jwks_uri`.
    pub jwks_uri_timeout: Duration,
    /// Whether a client's `jwks_uri` may reach loopback or private addresses.
    pub jwks_uri_allow_private: bool,
    /// Whether tokens issued are counted per client in `/metrics`.
    pub metrics_client_label: bool,
    /// Whether client assertions may name endpoint URLs as `aud` (`"legacy"`), or only
    /// the issuer (`"strict"`, RFC 7523bis).
    pub legacy_assertion_audience: bool,
    /// How far ahead a client assertion's `exp` may be, seconds.
    pub client_assertion_max_lifetime: i64,
    /// Where spans are exported (the full OTLP/HTTP traces URL); `None` = tracing off.
    pub otlp_traces_url: Option<url::Url>,
    /// Longest a finished span waits for its batch's export.
    pub otlp_batch_delay: Duration,
    /// Time limit of one export.
    pub otlp_timeout: Duration,
    /// Share of new traces recorded.
    pub otlp_sample_ratio: f64,
    /// Whether `log` was set (flag, variable, file or `RUST_LOG`) rather than defaulted:
    /// commands other than `serve` log warnings only unless asked.
    pub log_given: bool,
    /// Where each key's value came from, for messages.
    pub origins: Origins,
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
        self.database_url = globals.database_url.clone();
        self.log = globals.log.clone();
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

    /// Fills every key unset here from `lower`.
    fn or(self, lower: ConfigArgs) -> ConfigArgs {
        ConfigArgs {
            config: self.config.or(lower.config),
            origins: self.origins.or(lower.origins),
            bind: self.bind.or(lower.bind),
            issuer: self.issuer.or(lower.issuer),
            database_url: self.database_url.or(lower.database_url),
            access_token_ttl: self.access_token_ttl.or(lower.access_token_ttl),
            refresh_token_ttl: self.refresh_token_ttl.or(lower.refresh_token_ttl),
            key_rotation_period: self.key_rotation_period.or(lower.key_rotation_period),
            key_prepublish: self.key_prepublish.or(lower.key_prepublish),
            key_encryption_key: self.key_encryption_key.or(lower.key_encryption_key),
            key_encryption_key_file: self
                .key_encryption_key_file
                .or(lower.key_encryption_key_file),
            previous_key_encryption_key: self
                .previous_key_encryption_key
                .or(lower.previous_key_encryption_key),
            key_retention: self.key_retention.or(lower.key_retention),
            signing_alg: self.signing_alg.or(lower.signing_alg),
            rsa_key_bits: self.rsa_key_bits.or(lower.rsa_key_bits),
            refresh_reuse_grace: self.refresh_reuse_grace.or(lower.refresh_reuse_grace),
            log: self.log.or(lower.log),
            workers: self.workers.or(lower.workers),
            db_pool_size: self.db_pool_size.or(lower.db_pool_size),
            db_connect_timeout: self.db_connect_timeout.or(lower.db_connect_timeout),
            db_statement_timeout_ms: self
                .db_statement_timeout_ms
                .or(lower.db_statement_timeout_ms),
            client_cache_ttl: self.client_cache_ttl.or(lower.client_cache_ttl),
            key_refresh_interval: self.key_refresh_interval.or(lower.key_refresh_interval),
            argon2_memory_kib: self.argon2_memory_kib.or(lower.argon2_memory_kib),
            argon2_iterations: self.argon2_iterations.or(lower.argon2_iterations),
            argon2_parallelism: self.argon2_parallelism.or(lower.argon2_parallelism),
            password_hash_concurrency: self
                .password_hash_concurrency
                .or(lower.password_hash_concurrency),
            password_min_length: self.password_min_length.or(lower.password_min_length),
            login_max_failures: self.login_max_failures.or(lower.login_max_failures),
            login_max_failures_per_addr: self
                .login_max_failures_per_addr
                .or(lower.login_max_failures_per_addr),
            login_lockout: self.login_lockout.or(lower.login_lockout),
            trust_forwarded_for: self.trust_forwarded_for.or(lower.trust_forwarded_for),
            simplejwt_client: self.simplejwt_client.or(lower.simplejwt_client),
            apply: self.apply.or(lower.apply),
            purge_interval: self.purge_interval.or(lower.purge_interval),
            jwks_uri_allow_http: self.jwks_uri_allow_http.or(lower.jwks_uri_allow_http),
            jwks_uri_timeout: self.jwks_uri_timeout.or(lower.jwks_uri_timeout),
            jwks_uri_allow_private: self.jwks_uri_allow_private.or(lower.jwks_uri_allow_private),
            metrics_client_label: self.metrics_client_label.or(lower.metrics_client_label),
            assertion_audience: self.assertion_audience.or(lower.assertion_audience),
            client_assertion_max_lifetime: self
                .client_assertion_max_lifetime
                .or(lower.client_assertion_max_lifetime),
            otlp_endpoint: self.otlp_endpoint.or(lower.otlp_endpoint),
            otlp_batch_delay_ms: self.otlp_batch_delay_ms.or(lower.otlp_batch_delay_ms),
            otlp_timeout: self.otlp_timeout.or(lower.otlp_timeout),
            otlp_sample_ratio: self.otlp_sample_ratio.or(lower.otlp_sample_ratio),
        }
    }
}

/// The OTLP/HTTP traces URL of a collector's base URL (`http://collector:4318` →
/// `http://collector:4318/v1/traces`); a URL that already ends in `/v1/traces` is kept.
fn otlp_traces_url(endpoint: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| format!("{e}; expected e.g. http://localhost:4318"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL, e.g. http://localhost:4318".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
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
    let keys = file_keys();
    let why = if first.starts_with("unknown field") {
        match origin::closest(&key, keys.iter().map(String::as_str)) {
            Some(meant) => format!("unknown key; did you mean {meant}?"),
            None => "unknown key (the README lists the configuration keys)".to_string(),
        }
    } else if SECRET_KEYS.contains(&key.as_str()) {
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

/// Keys whose values are never echoed.
const SECRET_KEYS: [&str; 3] = [
    "key_encryption_key",
    "previous_key_encryption_key",
    "database_url",
];

/// Every key the config file takes (the `TESSERA_<KEY>` variables, lower case).
fn file_keys() -> Vec<String> {
    let mut cmd = cmd_for_errors();
    for global in GlobalArgs::augment_args(clap::Command::new("globals")).get_arguments() {
        cmd = cmd.arg(global.clone());
    }
    environment::known_variables(&cmd)
        .iter()
        .filter_map(|v| v.strip_prefix(environment::PREFIX))
        .map(str::to_ascii_lowercase)
        .filter(|k| k != "config")
        .collect()
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
        if args.log.is_none() {
            if let Ok(rust_log) = std::env::var("RUST_LOG") {
                merged.log = Some(rust_log);
                merged.origins.set("log", Origin::env("RUST_LOG", false));
            }
        }
        Settings::resolve(merged)
    }

    /// Applies defaults and validates.
    pub fn resolve(c: ConfigArgs) -> Result<Settings, ConfigError> {
        let origins = c.origins.clone();
        let database_url = DbUrl::parse(c.database_url.as_deref().unwrap_or("./data/tessera.db"))
            .map_err(|why| origins.error("database_url", &why))?;
        let log_given = c.log.is_some();
        let s = Settings {
            bind: c.bind.unwrap_or_else(|| "127.0.0.1:8080".into()),
            issuer: c.issuer.map(|i| i.trim_end_matches('/').to_string()),
            database_url,
            access_token_ttl: c.access_token_ttl.unwrap_or(300),
            refresh_token_ttl: c.refresh_token_ttl.unwrap_or(86_400),
            key_rotation_period: c.key_rotation_period.unwrap_or(86_400),
            key_prepublish: c.key_prepublish.unwrap_or(3_600),
            key_encryption_key: match (c.key_encryption_key, c.key_encryption_key_file) {
                (Some(_), Some(_)) => {
                    return Err(ConfigError(format!(
                        "{} and {}: set key_encryption_key or key_encryption_key_file, not both",
                        origins.describe("key_encryption_key"),
                        origins.describe("key_encryption_key_file")
                    )))
                }
                (Some(k), None) => Some(SecretString::from(k)),
                (None, Some(path)) => Some(SecretString::from(
                    std::fs::read_to_string(&path)
                        .map_err(|e| {
                            origins.error(
                                "key_encryption_key_file",
                                &format!("cannot read {}: {e}", path.display()),
                            )
                        })?
                        .trim()
                        .to_string(),
                )),
                (None, None) => None,
            },
            previous_key_encryption_key: c.previous_key_encryption_key.map(SecretString::from),
            key_retention: c.key_retention,
            signing_alg: c.signing_alg.unwrap_or_else(|| "RS256".into()),
            rsa_key_bits: c.rsa_key_bits.unwrap_or(2048),
            refresh_reuse_grace: c.refresh_reuse_grace.unwrap_or(0),
            log: c.log.unwrap_or_else(|| "info".into()),
            workers: c.workers.unwrap_or_else(cpus),
            db_pool_size: c.db_pool_size.unwrap_or(10),
            db_connect_timeout: Duration::from_secs(c.db_connect_timeout.unwrap_or(2)),
            db_statement_timeout: Duration::from_millis(c.db_statement_timeout_ms.unwrap_or(5_000)),
            client_cache_ttl: Duration::from_secs(c.client_cache_ttl.unwrap_or(5)),
            key_refresh_interval: Duration::from_secs(c.key_refresh_interval.unwrap_or(60)),
            password_hash: crate::oauth::password::HashParams {
                memory_kib: c.argon2_memory_kib.unwrap_or(19_456),
                iterations: c.argon2_iterations.unwrap_or(2),
                parallelism: c.argon2_parallelism.unwrap_or(1),
            },
            password_hash_concurrency: c
                .password_hash_concurrency
                .unwrap_or_else(|| (cpus() / 2).max(1)),
            password_min_length: c.password_min_length.unwrap_or(8),
            login_user_limit: crate::oauth::throttle::Limit {
                max_failures: c.login_max_failures.unwrap_or(5),
                window: c.login_lockout.unwrap_or(300),
            },
            login_addr_limit: crate::oauth::throttle::Limit {
                max_failures: c.login_max_failures_per_addr.unwrap_or(20),
                window: c.login_lockout.unwrap_or(300),
            },
            trust_forwarded_for: c.trust_forwarded_for.unwrap_or(false),
            simplejwt_client: c.simplejwt_client.filter(|s| !s.is_empty()),
            apply: c.apply,
            purge_interval: Duration::from_secs(c.purge_interval.unwrap_or(600)),
            jwks_uri_allow_http: c.jwks_uri_allow_http.unwrap_or(false),
            jwks_uri_timeout: Duration::from_secs(c.jwks_uri_timeout.unwrap_or(5)),
            jwks_uri_allow_private: c.jwks_uri_allow_private.unwrap_or(false),
            metrics_client_label: c.metrics_client_label.unwrap_or(false),
            legacy_assertion_audience: match c.assertion_audience.as_deref() {
                None | Some("strict") => false,
                Some("legacy") => true,
                Some(_) => {
                    return Err(
                        origins.error("assertion_audience", "must be \"strict\" or \"legacy\"")
                    )
                }
            },
            client_assertion_max_lifetime: c
                .client_assertion_max_lifetime
                .unwrap_or(crate::oauth::client_assertion::DEFAULT_MAX_LIFETIME),
            otlp_traces_url: match c.otlp_endpoint.as_deref().filter(|e| !e.is_empty()) {
                None => None,
                Some(e) => {
                    Some(otlp_traces_url(e).map_err(|why| origins.error("otlp_endpoint", &why))?)
                }
            },
            otlp_batch_delay: Duration::from_millis(c.otlp_batch_delay_ms.unwrap_or(5_000)),
            otlp_timeout: Duration::from_secs(c.otlp_timeout.unwrap_or(10)),
            otlp_sample_ratio: c.otlp_sample_ratio.unwrap_or(1.0),
            log_given,
            origins,
        };
        s.validate()?;
        Ok(s)
    }

    /// Fails on the first key whose value cannot work.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |key: &str, why: &str| Err(self.origins.error(key, why));
        if self
            .bind
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return bad("bind", "expected HOST:PORT, e.g. 127.0.0.1:8080");
        }
        if let Some(issuer) = &self.issuer {
            let ok_scheme = issuer.starts_with("https://") || issuer.starts_with("http://");
            if !ok_scheme || issuer.contains('?') || issuer.contains('#') {
                return bad("issuer", "must be an http(s) URL without query or fragment");
            }
            // Every client sees the issuer (metadata, `iss`), and the log prints it.
            if url::Url::parse(issuer)
                .map_or(true, |u| !u.username().is_empty() || u.password().is_some())
            {
                return bad(
                    "issuer",
                    "must be an http(s) URL with a host and without a user name or password",
                );
            }
        }
        use crate::oauth::token::{ACCESS_TOKEN_TTL, REFRESH_REUSE_GRACE, REFRESH_TOKEN_TTL};
        if !ACCESS_TOKEN_TTL.contains(&self.access_token_ttl) {
            return bad("access_token_ttl", "must be 1 to 86400 seconds");
        }
        if !REFRESH_TOKEN_TTL.contains(&self.refresh_token_ttl) {
            return bad("refresh_token_ttl", "must be 1 second to 365 days");
        }
        if !(1..=365 * 86_400).contains(&self.key_rotation_period) {
            return bad("key_rotation_period", "must be 1 second to 365 days");
        }
        if self.key_prepublish < 0 || self.key_prepublish >= self.key_rotation_period {
            return bad(
                "key_prepublish",
                "must be at least 0 and shorter than key_rotation_period",
            );
        }
        if self.key_refresh_interval.as_secs() as i64 >= self.key_prepublish {
            return bad(
                "key_prepublish",
                "must be longer than key_refresh_interval, so every replica publishes a new key before any signs with it",
            );
        }
        if self.key_retention.is_some_and(|r| r < 1) {
            return bad("key_retention", "must be at least 1 second");
        }
        for (name, kek) in [
            ("key_encryption_key", &self.key_encryption_key),
            (
                "previous_key_encryption_key",
                &self.previous_key_encryption_key,
            ),
        ] {
            if let Some(k) = kek {
                if let Err(e) = crate::keys::sealing::Kek::parse(k) {
                    return bad(name, &e);
                }
            }
        }
        if !REFRESH_REUSE_GRACE.contains(&self.refresh_reuse_grace) {
            return bad("refresh_reuse_grace", "must be 0 to 300 seconds");
        }
        if !crate::keys::material::SIGNING_ALGS.contains(&self.signing_alg.as_str()) {
            return bad("signing_alg", "must be RS256, PS256, ES256 or EdDSA");
        }
        if ![2048, 3072, 4096].contains(&self.rsa_key_bits) {
            return bad("rsa_key_bits", "must be 2048, 3072 or 4096");
        }
        if self.workers == 0 || self.workers > 1024 {
            return bad("workers", "must be 1 to 1024");
        }
        if self.db_pool_size == 0 || self.db_pool_size > 1000 {
            return bad("db_pool_size", "must be 1 to 1000");
        }
        if self.db_connect_timeout.is_zero() {
            return bad("db_connect_timeout", "must be at least 1 second");
        }
        if self.key_refresh_interval.is_zero() {
            return bad("key_refresh_interval", "must be at least 1 second");
        }
        if let Err(e) = self.password_hash.validate() {
            return bad("argon2_memory_kib/argon2_iterations/argon2_parallelism", &e);
        }
        if self.password_hash_concurrency == 0 || self.password_hash_concurrency > 256 {
            return bad("password_hash_concurrency", "must be 1 to 256");
        }
        use crate::oauth::password::MAX_PASSWORD_BYTES;
        if !(1..=MAX_PASSWORD_BYTES).contains(&self.password_min_length) {
            return bad("password_min_length", "must be 1 to 1024 characters");
        }
        if self.login_user_limit.max_failures < 1 || self.login_addr_limit.max_failures < 1 {
            return bad("login_max_failures", "must be at least 1");
        }
        if !(1..=86_400).contains(&self.login_user_limit.window) {
            return bad("login_lockout", "must be 1 to 86400 seconds");
        }
        if self.purge_interval.is_zero() {
            return bad("purge_interval", "must be at least 1 second");
        }
        if !(1..=60).contains(&self.jwks_uri_timeout.as_secs()) {
            return bad("jwks_uri_timeout", "must be 1 to 60 seconds");
        }
        if !crate::oauth::client_assertion::MAX_LIFETIME_RANGE
            .contains(&self.client_assertion_max_lifetime)
        {
            return bad(
                "client_assertion_max_lifetime",
                "must be 60 to 86400 seconds",
            );
        }
        if !(10..=60_000).contains(&self.otlp_batch_delay.as_millis()) {
            return bad("otlp_batch_delay_ms", "must be 10 to 60000 milliseconds");
        }
        if !(1..=60).contains(&self.otlp_timeout.as_secs()) {
            return bad("otlp_timeout", "must be 1 to 60 seconds");
        }
        if !(0.0..=1.0).contains(&self.otlp_sample_ratio) {
            return bad("otlp_sample_ratio", "must be 0.0 to 1.0");
        }
        if let Err(why) = log_filter::check(&self.log) {
            return bad("log", &why);
        }
        Ok(())
    }

    /// Which client `jwks_uri`s may be registered and fetched.
    pub fn jwks_uri_policy(&self) -> crate::outbound::FetchPolicy {
        crate::outbound::FetchPolicy {
            allow_http: self.jwks_uri_allow_http,
            allow_private: self.jwks_uri_allow_private,
        }
    }

    /// The issuer for a server bound to `addr` (used when no issuer is configured).
    pub fn issuer_for(&self, addr: std::net::SocketAddr) -> String {
        self.issuer
            .clone()
            .unwrap_or_else(|| format!("http://{addr}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_match_the_spec() {
        let s = Settings::resolve(ConfigArgs::default()).expect("defaults are valid");
        assert_eq!(s.bind, "127.0.0.1:8080");
        assert_eq!(s.database_url, DbUrl::Sqlite("./data/tessera.db".into()));
        assert_eq!((s.access_token_ttl, s.refresh_token_ttl), (300, 86_400));
        assert_eq!((s.key_rotation_period, s.key_prepublish), (86_400, 3_600));
        assert_eq!(s.signing_alg, "RS256");
        assert_eq!(s.refresh_reuse_grace, 0);
        assert_eq!(s.password_min_length, 8);
    }

    #[test]
    fn higher_layers_win() {
        let file: ConfigArgs =
            toml::from_str("bind = \"0.0.0.0:9000\"\naccess_token_ttl = 60").expect("toml");
        let flags = ConfigArgs {
            access_token_ttl: Some(30),
            ..Default::default()
        };
        let s = Settings::resolve(flags.or(file)).expect("valid");
        assert_eq!(s.bind, "0.0.0.0:9000");
        assert_eq!(s.access_token_ttl, 30);
    }

    #[test]
    fn unknown_file_keys_and_bad_values_are_refused() {
        assert!(toml::from_str::<ConfigArgs>("bnid = \"x\"").is_err());
        let e = Settings::resolve(ConfigArgs {
            refresh_reuse_grace: Some(301),
            ..Default::default()
        })
        .expect_err("over the cap");
        assert!(e.0.contains("refresh_reuse_grace"));
        assert!(Settings::resolve(ConfigArgs {
            bind: Some("nope".into()),
            ..Default::default()
        })
        .is_err());
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
    fn otlp_endpoint_is_a_collector_base_url() {
        let traces = |e: &str| otlp_traces_url(e).map(|u| u.to_string());
        assert_eq!(
            traces("http://collector:4318").as_deref(),
            Ok("http://collector:4318/v1/traces")
        );
        assert_eq!(
            traces("https://otel.example/otlp/").as_deref(),
            Ok("https://otel.example/otlp/v1/traces")
        );
        assert_eq!(
            traces("http://c:4318/v1/traces").as_deref(),
            Ok("http://c:4318/v1/traces")
        );
        for bad in [
            "collector:4318",
            "ftp://c/",
            "http://c:4318/?a=b",
            "not a url",
        ] {
            assert!(traces(bad).is_err(), "{bad}");
        }
        let off = Settings::resolve(ConfigArgs::default()).expect("defaults");
        assert!(off.otlp_traces_url.is_none());
        let e = Settings::resolve(ConfigArgs {
            otlp_sample_ratio: Some(1.5),
            ..Default::default()
        })
        .expect_err("over 1");
        assert!(e.0.contains("otlp_sample_ratio"));
    }
}
