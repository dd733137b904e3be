//! Where tessera may connect when it fetches a URL someone else chose (a client's
//! `jwks_uri`; a `jwks_uri` a trusted issuer's discovery document names, or a redirect,
//! on an origin the operator did not give): https only unless `jwks_uri_allow_http`,
//! and — unless
//! `jwks_uri_allow_private` — never to loopback, private, link-local, unspecified or
//! other non-public addresses, so a registered URL cannot make the server probe its
//! own network. Checked on the URL (literal addresses, `localhost`) at registration
//! and before each fetch and redirect, and on every address a name resolves to.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use url::{Host, Url};

/// What outbound fetches of client-chosen URLs may reach.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FetchPolicy {
    /// Plain `http` URLs are allowed too.
    pub allow_http: bool,
    /// Loopback and private addresses are allowed too.
    pub allow_private: bool,
}

impl FetchPolicy {
    /// Whether `url` may be fetched, judged without resolving its name: the scheme, a
    /// literal address, a `localhost` name. `Err` says why not, in one line.
    pub fn check_url(&self, url: &Url) -> Result<(), String> {
        let scheme_ok = url.scheme() == "https" || (self.allow_http && url.scheme() == "http");
        if !scheme_ok {
            return Err(format!(
                "must use https{}",
                if self.allow_http { " or http" } else { "" }
            ));
        }
        if self.allow_private {
            return Ok(());
        }
        let refused = |what: &str| {
            Err(format!(
                "must not point at {what} (jwks_uri_allow_private is off)"
            ))
        };
        match url.host() {
            None => Err("must have a host".into()),
            Some(Host::Ipv4(ip)) if !is_public(IpAddr::V4(ip)) => refused("a non-public address"),
            Some(Host::Ipv6(ip)) if !is_public(IpAddr::V6(ip)) => refused("a non-public address"),
            Some(Host::Domain(name)) if is_localhost(name) => refused("localhost"),
            Some(_) => Ok(()),
        }
    }

    /// Whether a resolved address may be connected to.
    pub fn allows(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

fn is_localhost(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// Whether `ip` is a public unicast address: not loopback, private (RFC 1918, RFC 4193),
/// link-local, unspecified, shared (RFC 6598), multicast, broadcast or documentation.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)))
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_loopback()
        || ip.is_unspecified()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local, fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local, fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated), fec0::/10
        || ip.to_ipv4().is_some_and(|v4| !is_public_v4(v4) && first == 0))
}

/// A DNS resolver for reqwest that drops the addresses `policy` refuses: a name that
/// resolves only to such addresses cannot be fetched, whatever the URL looked like.
#[derive(Debug, Clone)]
pub struct FilteringResolver {
    policy: FetchPolicy,
}

impl FilteringResolver {
    /// A resolver applying `policy`.
    pub fn new(policy: FetchPolicy) -> Arc<FilteringResolver> {
        Arc::new(FilteringResolver { policy })
    }
}

impl reqwest::dns::Resolve for FilteringResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy;
        Box::pin(async move {
            let host = name.as_str().to_string();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = found
                .iter()
                .copied()
                .filter(|a| policy.allows(a.ip()))
                .collect();
            if allowed.is_empty() {
                let why = if found.is_empty() {
                    format!("{host} does not resolve")
                } else {
                    format!(
                        "{host} resolves only to non-public addresses (jwks_uri_allow_private is off)"
                    )
                };
                return Err(why.into());
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(u: &str) -> Url {
        Url::parse(u).expect("url")
    }

    #[test]
    fn non_public_targets_are_refused_unless_allowed() {
        let strict = FetchPolicy::default();
        for u in [
            "https://127.0.0.1/jwks",
            "https://127.1.2.3:8443/jwks",
            "https://10.0.0.7/jwks",
            "https://172.16.0.1/jwks",
            "https://192.168.1.1/jwks",
            "https://169.254.169.254/latest/meta-data",
            "https://0.0.0.0/jwks",
            "https://100.64.0.1/jwks",
            "https://[::1]/jwks",
            "https://[::]/jwks",
            "https://[fe80::1]/jwks",
            "https://[fd00::1]/jwks",
            "https://[::ffff:127.0.0.1]/jwks",
            "https://localhost/jwks",
            "https://keys.localhost./jwks",
        ] {
            assert!(strict.check_url(&url(u)).is_err(), "{u}");
            let open = FetchPolicy {
                allow_private: true,
                ..strict
            };
            assert!(open.check_url(&url(u)).is_ok(), "{u} with allow_private");
        }
        for u in [
            "https://keys.example.com/jwks",
            "https://93.184.216.34/jwks",
            "https://[2606:4700::1111]/jwks",
        ] {
            assert!(strict.check_url(&url(u)).is_ok(), "{u}");
        }
    }

    #[test]
    fn plain_http_needs_its_own_setting() {
        let u = url("http://keys.example.com/jwks");
        assert!(FetchPolicy::default().check_url(&u).is_err());
        let http = FetchPolicy {
            allow_http: true,
            allow_private: false,
        };
        assert!(http.check_url(&u).is_ok());
        assert!(http.check_url(&url("http://127.0.0.1/jwks")).is_err());
    }
}
