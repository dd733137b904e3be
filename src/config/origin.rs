//! Where each configuration key's value came from, so that a mistake is reported as
//! one line naming what the operator wrote: the flag (`--signing-alg`), the variable
//! with its value (`TESSERA_SIGNING_ALG=HS256`; a secret's value is never shown, a
//! URL's password is redacted), or the file, line and key (`tessera.toml:3:
//! access_token_ttl`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The source of one key's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A command-line flag, e.g. `--access-token-ttl`.
    Flag(String),
    /// An environment variable; `shown` is its value as it may be printed (`None` for
    /// a secret).
    Env {
        /// The variable, e.g. `TESSERA_SIGNING_ALG`.
        name: String,
        /// The value, redacted, or nothing for a secret.
        shown: Option<String>,
    },
    /// A line of the configuration file.
    File {
        /// The file as given.
        path: PathBuf,
        /// 1-based line of the key.
        line: usize,
    },
}

/// The longest value echoed in a message, characters.
const MAX_SHOWN: usize = 64;

impl Origin {
    /// The environment variable `name` as a source, its value shown unless `secret`.
    pub fn env(name: &str, secret: bool) -> Origin {
        let shown = if secret {
            None
        } else {
            std::env::var_os(name).map(|v| shown_value(&v.to_string_lossy()))
        };
        Origin::Env {
            name: name.to_string(),
            shown,
        }
    }

    /// How a message names this source of `key`.
    fn describe(&self, key: &str) -> String {
        match self {
            Origin::Flag(flag) => flag.clone(),
            Origin::Env {
                name,
                shown: Some(v),
            } => format!("{name}={v}"),
            Origin::Env { name, shown: None } => name.clone(),
            Origin::File { path, line } => format!("{}:{line}: {key}", path.display()),
        }
    }
}

/// A value as it may appear in a message: URLs redacted, long values cut (at a
/// character, never inside one), quoted when blank or holding spaces or control
/// characters.
fn shown_value(raw: &str) -> String {
    let redacted = crate::telemetry::redact::url(raw);
    let mut cut: String = redacted.chars().take(MAX_SHOWN).collect();
    if redacted.chars().count() > MAX_SHOWN {
        cut.push('…');
    }
    if cut.is_empty()
        || cut
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"')
    {
        format!("{cut:?}")
    } else {
        cut
    }
}

/// The source of every key that has one (keys set by code, as in tests, have none).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origins(BTreeMap<String, Origin>);

impl Origins {
    /// Records where `key` came from.
    pub fn set(&mut self, key: &str, origin: Origin) {
        self.0.insert(key.to_string(), origin);
    }

    /// Where `key` came from, if known.
    pub fn get(&self, key: &str) -> Option<&Origin> {
        self.0.get(key)
    }

    /// Adds `lower`'s sources for keys this one has none for.
    pub fn or(mut self, lower: Origins) -> Origins {
        for (k, v) in lower.0 {
            self.0.entry(k).or_insert(v);
        }
        self
    }

    /// Adds every source of `other`, replacing this one's.
    pub fn extend(&mut self, other: Origins) {
        self.0.extend(other.0);
    }

    /// How a message names `key`: its source, or the key itself.
    pub fn describe(&self, key: &str) -> String {
        self.get(key)
            .map_or_else(|| key.to_string(), |o| o.describe(key))
    }

    /// The one-line error for a bad value of `key`: `<source>: <why>`, or `invalid
    /// <key>: <why>` when the source is unknown.
    pub fn error(&self, key: &str, why: &str) -> super::ConfigError {
        match self.get(key) {
            Some(o) => super::ConfigError(format!("{}: {why}", o.describe(key))),
            None => super::ConfigError(format!("invalid {key}: {why}")),
        }
    }

    /// The sources of the flags and variables `matches` holds for `cmd` (clap knows
    /// whether each value came from the command line or the environment). Keys are
    /// the arguments' ids, which are the configuration keys.
    pub fn of_matches(matches: &clap::ArgMatches, cmd: &clap::Command) -> Origins {
        use clap::parser::ValueSource;
        let mut origins = Origins::default();
        for id in matches.ids() {
            let id = id.as_str();
            let Some(arg) = cmd.get_arguments().find(|a| a.get_id() == id) else {
                continue;
            };
            let origin = match matches.value_source(id) {
                Some(ValueSource::CommandLine) => match arg.get_long() {
                    Some(long) => Origin::Flag(format!("--{long}")),
                    None => continue,
                },
                Some(ValueSource::EnvVariable) => match arg.get_env() {
                    Some(name) => {
                        Origin::env(&name.to_string_lossy(), arg.is_hide_env_values_set())
                    }
                    None => continue,
                },
                _ => continue,
            };
            origins.set(id, origin);
        }
        origins
    }

    /// The lines of a TOML configuration file that set top-level keys.
    pub fn of_file(path: &Path, text: &str) -> Origins {
        let mut origins = Origins::default();
        for (i, line) in text.lines().enumerate() {
            let line_text = line.trim_start();
            if line_text.starts_with('[') {
                break; // the keys are all top-level
            }
            if let Some((key, _)) = line_text.split_once('=') {
                let key = key.trim().trim_matches('"');
                if !key.is_empty() && !key.starts_with('#') {
                    origins.set(
                        key,
                        Origin::File {
                            path: path.to_path_buf(),
                            line: i.saturating_add(1),
                        },
                    );
                }
            }
        }
        origins
    }
}

/// Distance between two names: insertions, deletions, substitutions and swaps of two
/// neighbours each count one (optimal string alignment), on characters.
pub fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    // The table one row at a time: `prev` is the row of a's characters so far (cell j:
    // the distance to b's first j characters), `prev2` the row before it (for swaps).
    let mut prev2: Vec<usize> = Vec::new();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut last_a = None;
    for (i, ca) in a.chars().enumerate() {
        let mut left = i.saturating_add(1);
        let mut row = Vec::with_capacity(prev.len());
        row.push(left);
        let mut last_b = None;
        for (j, (&cb, pair)) in b.iter().zip(prev.windows(2)).enumerate() {
            let &[diagonal, up] = pair else { break };
            let cost = usize::from(ca != cb);
            let mut best = up
                .saturating_add(1)
                .min(left.saturating_add(1))
                .min(diagonal.saturating_add(cost));
            if last_a == Some(cb) && last_b == Some(ca) {
                if let Some(&swapped) = j.checked_sub(1).and_then(|k| prev2.get(k)) {
                    best = best.min(swapped.saturating_add(1));
                }
            }
            row.push(best);
            left = best;
            last_b = Some(cb);
        }
        prev2 = std::mem::replace(&mut prev, row);
        last_a = Some(ca);
    }
    prev.last().copied().unwrap_or_default()
}

/// The name of `known` that `word` most likely misspells: within one edit for names
/// of up to seven characters, two for longer ones (so short unrelated names are not
/// taken for typos).
pub fn closest<'a>(word: &str, known: impl IntoIterator<Item = &'a str>) -> Option<&'a str> {
    // Long words are compared only with names of similar length (bounds the work).
    let len = word.chars().count();
    known
        .into_iter()
        .filter(|k| k.chars().count().abs_diff(len) <= 2)
        .map(|k| (edit_distance(word, k), k))
        .filter(|(d, k)| *d > 0 && *d <= if k.chars().count() <= 7 { 1 } else { 2 })
        .min_by_key(|(d, _)| *d)
        .map(|(_, k)| k)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typos_are_near_and_unrelated_names_are_not() {
        assert_eq!(edit_distance("BIDN", "BIND"), 1);
        assert_eq!(edit_distance("ACESS_TOKEN_TTL", "ACCESS_TOKEN_TTL"), 1);
        assert_eq!(edit_distance("", "LOG"), 3);
        let keys = [
            "BIND",
            "LOG",
            "ACCESS_TOKEN_TTL",
            "REFRESH_TOKEN_TTL",
            "ISSUER",
        ];
        assert_eq!(closest("BIDN", keys), Some("BIND"));
        assert_eq!(closest("ACESS_TOKEN_TTL", keys), Some("ACCESS_TOKEN_TTL"));
        assert_eq!(closest("ACCESS_TOKEN_TL", keys), Some("ACCESS_TOKEN_TTL"));
        assert_eq!(closest("LOGS", keys), Some("LOG"));
        assert_eq!(closest("FROBNICATE", keys), None);
        assert_eq!(closest("FOO", keys), None);
        assert_eq!(closest("BIND", keys), None, "an exact name is no typo");
        assert_eq!(closest("ÄCCESS_TOKEN_TTL", keys), Some("ACCESS_TOKEN_TTL"));
    }

    #[test]
    fn a_huge_unknown_name_costs_no_comparison() {
        let keys = ["BIND", "ACCESS_TOKEN_TTL"];
        let huge = "A".repeat(1_000_000);
        let started = std::time::Instant::now();
        assert_eq!(closest(&huge, keys), None);
        assert!(started.elapsed() < std::time::Duration::from_millis(200));
    }

    #[test]
    fn sources_are_named_as_the_operator_wrote_them() {
        let mut o = Origins::default();
        o.set("workers", Origin::Flag("--workers".into()));
        o.set(
            "signing_alg",
            Origin::Env {
                name: "TESSERA_SIGNING_ALG".into(),
                shown: Some(shown_value("HS256")),
            },
        );
        o.set(
            "access_token_ttl",
            Origin::File {
                path: "t.toml".into(),
                line: 3,
            },
        );
        assert_eq!(o.error("workers", "must be 1").0, "--workers: must be 1");
        assert_eq!(
            o.error("signing_alg", "no").0,
            "TESSERA_SIGNING_ALG=HS256: no"
        );
        assert_eq!(
            o.error("access_token_ttl", "no").0,
            "t.toml:3: access_token_ttl: no"
        );
        assert_eq!(o.error("bind", "no").0, "invalid bind: no");
        assert_eq!(shown_value("http://u:pw@h"), "http://u:***@h");
        assert_eq!(shown_value("a b"), "\"a b\"");
        assert_eq!(shown_value("x\ny"), "\"x\\ny\"");
        assert_eq!(shown_value(&"é".repeat(100)).chars().count(), MAX_SHOWN + 1);
    }

    #[test]
    fn file_lines_name_top_level_keys() {
        let o = Origins::of_file(
            Path::new("t.toml"),
            "# c\nbind = \"x\"\n\n \"log\" = \"info\"\n[table]\nworkers = 2\n",
        );
        assert_eq!(o.describe("bind"), "t.toml:2: bind");
        assert_eq!(o.describe("log"), "t.toml:4: log");
        assert_eq!(o.describe("workers"), "workers");
    }
}
