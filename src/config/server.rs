//! The `server` section: where tessera listens, the name it advertises, its HTTP
//! workers and whom it believes about a request's address.

use super::section::section;

section! {
    /// Where the server listens and what it advertises.
    Server, ServerArgs;

    /// Listen address; port 0 picks a free port
    bind: String = "127.0.0.1:8080", "ADDR" env "TESSERA_BIND",
        check |b| is_host_port(b), "expected HOST:PORT, e.g. 127.0.0.1:8080";
    /// Issuer identifier, the base of every advertised URL
    issuer: String => Option<String>: issuer, "URL" env "TESSERA_ISSUER",
        shown "http://<bind>";
    /// HTTP worker threads
    workers: usize = super::cpus(), "N" env "TESSERA_WORKERS", shown "number of CPUs",
        check |w| (1..=1024).contains(w), "must be 1 to 1024";
    /// Take the client address from the last X-Forwarded-For entry (behind a proxy you run)
    trust_forwarded_for: bool = false, "BOOL" env "TESSERA_TRUST_FORWARDED_FOR";
}

/// Whether `bind` ends in `:PORT`.
fn is_host_port(bind: &str) -> bool {
    bind.rsplit_once(':')
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .is_some()
}

/// The issuer without its trailing `/`: an http(s) URL with a host, no user name or
/// password (every client sees it, the log prints it), no query or fragment.
fn issuer(issuer: Option<String>) -> Result<Option<String>, String> {
    let Some(issuer) = issuer else {
        return Ok(None);
    };
    let issuer = issuer.trim_end_matches('/').to_string();
    let ok_scheme = issuer.starts_with("https://") || issuer.starts_with("http://");
    if !ok_scheme || issuer.contains('?') || issuer.contains('#') {
        return Err("must be an http(s) URL without query or fragment".into());
    }
    if url::Url::parse(&issuer).map_or(true, |u| !u.username().is_empty() || u.password().is_some())
    {
        return Err(
            "must be an http(s) URL with a host and without a user name or password".into(),
        );
    }
    Ok(Some(issuer))
}
