//! The `log` filter (env_logger's syntax) checked before it is used: env_logger takes
//! a bare word it does not know as a module name, so `TESSERA_LOG=verbose` would
//! silently log nothing at all. Each comma-separated directive must be a level, a
//! module path, or `module=level` (an optional `/regex` after them is env_logger's own
//! message filter); a module is plausible when it starts a crate this binary is built
//! from (env_logger matches targets by prefix).

/// The levels env_logger knows, case-insensitively.
pub const LEVELS: [&str; 6] = ["off", "error", "warn", "info", "debug", "trace"];

/// The crates of this binary, from the lock file it was built with.
const LOCK: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.lock"));

fn is_level(word: &str) -> bool {
    LEVELS.iter().any(|l| l.eq_ignore_ascii_case(word))
}

/// Whether `path` (e.g. `tessera::http`, `actix_web`, `actix`) can name log targets of
/// this binary.
fn is_module(path: &str) -> bool {
    let (first, nested) = match path.split_once("::") {
        Some((first, _)) => (first, true),
        None => (path, false),
    };
    if first.is_empty() {
        return false;
    }
    LOCK.lines()
        .filter_map(|l| l.strip_prefix("name = \""))
        .filter_map(|l| l.strip_suffix('"'))
        .map(|name| name.replace('-', "_"))
        .any(|name| {
            if nested {
                name == first
            } else {
                name.starts_with(first)
            }
        })
}

/// Checks an env_logger filter; the error says what is wrong with which directive.
pub fn check(filter: &str) -> Result<(), String> {
    let levels = LEVELS.join(", ");
    let directives = filter.split_once('/').map_or(filter, |(d, _)| d);
    for directive in directives.split(',').map(str::trim) {
        if directive.is_empty() {
            continue;
        }
        match directive.split_once('=') {
            Some((module, level)) => {
                if !is_level(level.trim()) {
                    return Err(format!(
                        "{level:?} in {directive:?} is no log level; levels: {levels}"
                    ));
                }
                if !is_module(module.trim()) {
                    return Err(format!(
                        "{module:?} in {directive:?} is no module of tessera (e.g. tessera, \
                         tessera::http, actix_web)"
                    ));
                }
            }
            None if is_level(directive) || is_module(directive) => {}
            None => {
                return Err(format!(
                    "{directive:?} is neither a log level nor a module of tessera; \
                     levels: {levels} (per module: tessera=debug,actix_web=warn)"
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_modules_and_module_levels_pass_made_up_words_do_not() {
        for ok in [
            "info",
            "WARN",
            "",
            "tessera=debug,actix_web=warn",
            "tessera::admin",
            "actix",
            "warn,tessera::http=trace/token",
            "diesel=off",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "verbose",
            "debugg",
            "tessera=loud",
            "nope=info",
            "info,verbose",
            "::x",
        ] {
            let e = check(bad).expect_err(bad);
            assert!(e.contains("levels") || e.contains("module"), "{e}");
        }
        assert!(check("verbose").expect_err("bad").contains("debug"));
    }
}
