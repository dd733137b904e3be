//! `TESSERA_*` variables that are no setting. A misspelt key (`TESSERA_ACESS_TOKEN_TTL`)
//! would otherwise be ignored without a word and the default used: a name close to a
//! real one is an error that names both; any other unknown name is a warning. The
//! variables Kubernetes injects for a Service named `tessera` (or `tessera-…`) into
//! every pod of its namespace — `TESSERA_SERVICE_HOST`, `TESSERA_PORT=tcp://…`,
//! `TESSERA_PORT_8080_TCP_ADDR`, … — are recognised and left alone.

use super::origin::closest;
use super::ConfigError;

/// The prefix of tessera's variables.
pub const PREFIX: &str = "TESSERA_";

/// Every variable a command of `cmd` reads (all of its arguments' `env`, in every
/// subcommand).
pub fn known_variables(cmd: &clap::Command) -> Vec<String> {
    let mut out: Vec<String> = cmd
        .get_arguments()
        .filter_map(|a| a.get_env())
        .map(|e| e.to_string_lossy().into_owned())
        .collect();
    for sub in cmd.get_subcommands() {
        out.extend(known_variables(sub));
    }
    out.sort();
    out.dedup();
    out
}

/// Checks `vars` (the process environment) against `known`: an error for a likely
/// typo of a known name, a warning line for every other unknown `TESSERA_*` name.
pub fn check<I>(vars: I, known: &[String]) -> Result<Vec<String>, ConfigError>
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut warnings = Vec::new();
    let mut unknown: Vec<(String, String)> = vars
        .into_iter()
        .filter(|(name, _)| name.starts_with(PREFIX) && !known.contains(name))
        .filter(|(name, value)| !is_service_link(name, value))
        .collect();
    unknown.sort();
    for (name, _) in unknown {
        let suffixes = known.iter().filter_map(|k| k.strip_prefix(PREFIX));
        let typo = name.strip_prefix(PREFIX).and_then(|s| closest(s, suffixes));
        match typo {
            Some(meant) => {
                return Err(ConfigError(format!(
                    "{name} is not a tessera setting; did you mean {PREFIX}{meant}? \
                     (a misspelt variable would be ignored and the default used)"
                )))
            }
            None => warnings.push(format!(
                "ignoring {name}: not a tessera setting (`tessera serve --help` lists them)"
            )),
        }
    }
    Ok(warnings)
}

/// Whether `name=value` is a Kubernetes service link of a Service named `tessera` or
/// `tessera-<x>`: `…_SERVICE_HOST`, `…_SERVICE_PORT[_<PORT NAME>]`, `…_PORT=tcp://…`
/// and `…_PORT_<n>_<TCP|UDP|SCTP>[_PROTO|_PORT|_ADDR]`.
pub fn is_service_link(name: &str, value: &str) -> bool {
    let Some(rest) = name.strip_prefix("TESSERA") else {
        return false;
    };
    if rest.ends_with("_SERVICE_HOST") || rest.contains("_SERVICE_PORT") {
        return true;
    }
    let url = ["tcp://", "udp://", "sctp://"]
        .iter()
        .any(|s| value.starts_with(s));
    if rest.ends_with("_PORT") && url {
        return true;
    }
    let Some((_, tail)) = rest.rsplit_once("_PORT_") else {
        return false;
    };
    let mut parts = tail.split('_');
    let number = parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    let protocol = parts
        .next()
        .is_some_and(|p| matches!(p, "TCP" | "UDP" | "SCTP"));
    let field = match (parts.next(), parts.next()) {
        (None, _) => true,
        (Some(f), None) => matches!(f, "PROTO" | "PORT" | "ADDR"),
        _ => false,
    };
    number && protocol && field
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<String> {
        [
            "TESSERA_BIND",
            "TESSERA_LOG",
            "TESSERA_ACCESS_TOKEN_TTL",
            "TESSERA_CONFIG",
        ]
        .map(String::from)
        .to_vec()
    }

    fn vars(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn typos_fail_other_unknown_names_warn_known_ones_pass() {
        let e = check(vars(&[("TESSERA_ACESS_TOKEN_TTL", "5")]), &known()).expect_err("typo");
        assert!(
            e.0.contains("TESSERA_ACESS_TOKEN_TTL") && e.0.contains("TESSERA_ACCESS_TOKEN_TTL")
        );
        let w = check(
            vars(&[
                ("TESSERA_FROBNICATE", "1"),
                ("TESSERA_BIND", "x"),
                ("PATH", "/bin"),
            ]),
            &known(),
        )
        .expect("a warning only");
        assert_eq!(w.len(), 1);
        assert!(w[0].contains("TESSERA_FROBNICATE"));
        assert!(check(vars(&[("TESSERA_LOG", "x")]), &known())
            .expect("known")
            .is_empty());
    }

    #[test]
    fn kubernetes_service_links_are_recognised() {
        for (name, value) in [
            ("TESSERA_SERVICE_HOST", "10.0.0.1"),
            ("TESSERA_SERVICE_PORT", "80"),
            ("TESSERA_SERVICE_PORT_HTTP", "80"),
            ("TESSERA_PORT", "tcp://10.0.0.1:80"),
            ("TESSERA_PORT_80_TCP", "tcp://10.0.0.1:80"),
            ("TESSERA_PORT_80_TCP_PROTO", "tcp"),
            ("TESSERA_PORT_80_TCP_PORT", "80"),
            ("TESSERA_PORT_80_TCP_ADDR", "10.0.0.1"),
            ("TESSERA_DB_PORT", "tcp://10.0.0.2:5432"),
            ("TESSERA_DB_PORT_5432_TCP_ADDR", "10.0.0.2"),
            ("TESSERA_PORT_5432_TCP_PORT", "5432"),
        ] {
            assert!(is_service_link(name, value), "{name}");
        }
        for (name, value) in [
            ("TESSERA_PORT", "8080"),
            ("TESSERA_PORT_X_TCP", "tcp://h:1"),
            ("TESSERA_PORT_80_HTTP", "x"),
            ("TESSERA_PORT_80_TCP_HOST", "x"),
            ("TESSERA_BIND", "x"),
            ("OTHER_SERVICE_HOST", "x"),
        ] {
            assert!(!is_service_link(name, value), "{name}");
        }
        let links = vars(&[
            ("TESSERA_PORT", "tcp://10.0.0.1:80"),
            ("TESSERA_SERVICE_HOST", "h"),
        ]);
        assert!(check(links, &known()).expect("fine").is_empty());
    }
}
