//! How a configuration section declares its keys: `section!` turns one declaration per
//! key into the section's raw layer (`<Name>Args`: a clap flag with its `TESSERA_*`
//! variable, and a TOML key, every value optional), the merge of two layers, and the
//! resolved section (`<Name>`: the default applied, the value converted, its check
//! made), so a key is written once, with its default once.
//!
//! One key, as a section file writes it:
//!
//! ```text
//! /// Access-token lifetime, seconds
//! access_token_ttl: i64 = 300, "SECS" env "TESSERA_ACCESS_TOKEN_TTL",
//!     check |t| ACCESS_TOKEN_TTL.contains(t), "must be 1 to 86400 seconds";
//! ```
//!
//! - the doc line is the `--help` line; `[default: 300]` is added from the default
//!   (or from `shown "…"` when the default is computed, or `unset` when there is none);
//! - `key: T` is the key and its raw type (flag, variable and TOML value); `= default`
//!   makes the resolved field a `T`, without one it is an `Option<T>`;
//! - `=> R: convert` turns the value into an `R` (`convert` returns `Result<R, String>`,
//!   the error naming where the value came from);
//! - `"VALUE"` is the flag's value name; `env "TESSERA_…"` its variable (without it
//!   the key has no flag of `serve`: a global flag sets it, as `--database-url`);
//! - `secret true` hides the variable's value from `--help` and the key's value from
//!   every message;
//! - `check |value| …, "why"` refuses a resolved value with a one-line message naming
//!   the flag, variable or file line (`Origins::error`).
//!
//! A rule over several keys of the section is a function named by the section's
//! header (`Signing, SigningArgs, finish rules`): it takes the resolved section and the
//! origins, and returns the section (a value made of several keys filled in) or the
//! error; it runs after the keys' own checks.

use super::{ConfigError, Origins};

/// A default written as a literal of a friendlier type (`"RS256"` for a `String`).
pub trait DefaultValue<T> {
    /// The value.
    fn value(self) -> T;
}

impl<T> DefaultValue<T> for T {
    fn value(self) -> T {
        self
    }
}

impl DefaultValue<String> for &str {
    fn value(self) -> String {
        self.to_string()
    }
}

/// The `--help` line of a key: its doc line and its default.
pub fn help(doc: &str, shown: &[&str]) -> String {
    let shown = shown.first().copied().unwrap_or("unset").trim_matches('"');
    format!("{} [default: {shown}]", doc.trim())
}

/// Whether a resolved value passes its key's check.
pub fn holds<T>(value: &T, check: impl Fn(&T) -> bool) -> bool {
    check(value)
}

/// The error of a failed conversion or check of `key`.
pub fn refuse(origins: &Origins, key: &str, why: &str) -> ConfigError {
    origins.error(key, why)
}

/// Seconds as a duration (a conversion).
pub fn secs(s: u64) -> Result<std::time::Duration, String> {
    Ok(std::time::Duration::from_secs(s))
}

/// Milliseconds as a duration (a conversion).
pub fn millis(ms: u64) -> Result<std::time::Duration, String> {
    Ok(std::time::Duration::from_millis(ms))
}

/// A string that is unset when empty (a conversion).
pub fn non_empty(value: Option<String>) -> Result<Option<String>, String> {
    Ok(value.filter(|v| !v.is_empty()))
}

/// A secret, kept out of `Debug` (a conversion).
pub fn secrets(value: Option<String>) -> Result<Option<secrecy::SecretString>, String> {
    Ok(value.map(secrecy::SecretString::from))
}

/// Declares a section; see the module documentation.
macro_rules! section {
    (
        $(#[doc = $sdoc:literal])+
        $name:ident, $args:ident $(, finish $finish:path)?;
        $(
            $(#[doc = $doc:literal])+
            $key:ident : $raw:ty $(= $default:expr)? $(=> $res:ty : $conv:expr)?,
                $value_name:literal $(env $env:literal)?
                $(, shown $shown:literal)?
                $(, secret $secret:literal)?
                $(, check $check:expr, $why:literal)?;
        )+
    ) => {
        section!(@raw
            #[doc = concat!("The raw layer of [`", stringify!($name), "`]: flags, `TESSERA_*` variables or file keys, each unset until given.")]
            #[derive(Debug, Clone, Default, clap::Args)]
            $args []
            $({
                $key, $raw, [$($doc)+], [$($env)?], $value_name,
                $crate::config::section::help(
                    concat!($($doc),+),
                    &[$($shown,)? $(stringify!($default),)?],
                ),
                false $(|| $secret)?
            })+
        );

        $(#[doc = $sdoc])+
        #[derive(Debug, Clone)]
        pub struct $name {
            $(
                $(#[doc = $doc])+
                pub $key: section!(@ty [$($res)?] [$($default)?] $raw),
            )+
        }

        impl $args {
            /// The section's keys, as the file names them.
            pub const KEYS: &'static [&'static str] = &[$(stringify!($key)),+];

            /// Fills every key unset here from `lower`.
            pub fn or(self, lower: $args) -> $args {
                $args { $($key: self.$key.or(lower.$key),)+ }
            }

            /// Whether the value of `key` is never shown.
            pub fn is_secret(key: &str) -> bool {
                match key {
                    $(stringify!($key) => false $(|| $secret)?,)+
                    _ => false,
                }
            }

            /// Reads the value of `key` from a file's table, if `key` is one of this
            /// section's (`false` when it is not).
            pub fn read_key<'de, A: serde::de::MapAccess<'de>>(
                &mut self,
                key: &str,
                map: &mut A,
            ) -> Result<bool, A::Error> {
                match key {
                    $(stringify!($key) => self.$key = map.next_value()?,)+
                    _ => return Ok(false),
                }
                Ok(true)
            }

            /// Applies the defaults, converts and checks each value, then the section's
            /// rules over several keys.
            pub fn resolve(
                self,
                origins: &$crate::config::Origins,
            ) -> Result<$name, $crate::config::ConfigError> {
                let section = $name {
                    $($key: section!(@value self.$key, origins, stringify!($key),
                        [$($default)?], [$($conv)?]),)+
                };
                $($(
                    if !$crate::config::section::holds(&section.$key, $check) {
                        return Err($crate::config::section::refuse(origins, stringify!($key), $why));
                    }
                )?)+
                $(let section = $finish(section, origins)?;)?
                Ok(section)
            }
        }
    };

    // The raw struct, one field at a time: a key with a variable is a flag of `serve`,
    // one without is set from a global flag.
    (@raw $(#[$m:meta])* $args:ident [$($done:tt)*]) => {
        $(#[$m])*
        pub struct $args { $($done)* }
    };
    (@raw $(#[$m:meta])* $args:ident [$($done:tt)*]
        { $key:ident, $raw:ty, [$($doc:literal)+], [], $vn:literal, $help:expr, $hide:expr }
        $($rest:tt)*
    ) => {
        section!(@raw $(#[$m])* $args [
            $($done)*
            $(#[doc = $doc])+
            #[arg(skip)]
            pub $key: Option<$raw>,
        ] $($rest)*);
    };
    (@raw $(#[$m:meta])* $args:ident [$($done:tt)*]
        { $key:ident, $raw:ty, [$($doc:literal)+], [$env:literal], $vn:literal, $help:expr, $hide:expr }
        $($rest:tt)*
    ) => {
        section!(@raw $(#[$m])* $args [
            $($done)*
            $(#[doc = $doc])+
            #[arg(long, env = $env, value_name = $vn, help = $help, hide_env_values = $hide)]
            pub $key: Option<$raw>,
        ] $($rest)*);
    };

    // The resolved type: converted, defaulted, or optional.
    (@ty [$res:ty] [$($d:tt)*] $raw:ty) => { $res };
    (@ty [] [$d:tt] $raw:ty) => { $raw };
    (@ty [] [] $raw:ty) => { Option<$raw> };

    // The resolved value.
    (@value $v:expr, $o:ident, $k:expr, [$d:expr], []) => {
        $v.unwrap_or_else(|| $crate::config::section::DefaultValue::value($d))
    };
    (@value $v:expr, $o:ident, $k:expr, [], []) => { $v };
    (@value $v:expr, $o:ident, $k:expr, [$d:expr], [$conv:expr]) => {
        $conv($v.unwrap_or_else(|| $crate::config::section::DefaultValue::value($d)))
            .map_err(|why: String| $crate::config::section::refuse($o, $k, &why))?
    };
    (@value $v:expr, $o:ident, $k:expr, [], [$conv:expr]) => {
        $conv($v).map_err(|why: String| $crate::config::section::refuse($o, $k, &why))?
    };
}

pub(crate) use section;
