//! Scopes (RFC 6749 §3.3): a set of scope tokens, space-delimited on the wire.

use super::OAuthError;
use std::collections::BTreeSet;

/// The scope that authorises the admin API (granted only through the CLI).
pub const ADMIN_SCOPE: &str = "tessera:admin";
/// The scope that lets a client introspect tokens (RFC 7662).
pub const INTROSPECT_SCOPE: &str = "tessera:introspect";

/// A validated set of scope tokens, kept sorted so equal sets print the same.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(BTreeSet<String>);

impl Scope {
    /// Parses a space-delimited scope string; every token must be RFC 6749 `scope-token`
    /// characters (printable ASCII except space, `"` and `\`).
    pub fn parse(s: &str) -> Result<Scope, String> {
        let mut set = BTreeSet::new();
        for token in s.split(' ').filter(|t| !t.is_empty()) {
            if let Some(c) = token.chars().find(|c| !is_scope_char(*c)) {
                return Err(format!(
                    "scope token {token:?} contains the character {c:?}"
                ));
            }
            if token.len() > 200 {
                return Err("a scope token is longer than 200 characters".into());
            }
            set.insert(token.to_string());
        }
        Ok(Scope(set))
    }

    /// Parses a scope sent by a client: malformed is `invalid_scope`.
    pub fn parse_requested(s: &str) -> Result<Scope, OAuthError> {
        Scope::parse(s).map_err(OAuthError::invalid_scope)
    }

    /// The tokens in both.
    pub fn intersection(&self, other: &Scope) -> Scope {
        Scope(self.0.intersection(&other.0).cloned().collect())
    }

    /// Whether every token here is also in `other`.
    pub fn is_subset(&self, other: &Scope) -> bool {
        self.0.is_subset(&other.0)
    }

    /// Whether the set holds `token`.
    pub fn contains(&self, token: &str) -> bool {
        self.0.contains(token)
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The tokens, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(String::as_str)
    }

    /// The tokens of `self` that are not in `allowed`.
    pub fn excess_over<'a>(&'a self, allowed: &'a Scope) -> impl Iterator<Item = &'a str> + 'a {
        self.0.difference(&allowed.0).map(String::as_str)
    }
}

impl std::fmt::Display for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for t in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(t)?;
            first = false;
        }
        Ok(())
    }
}

fn is_scope_char(c: char) -> bool {
    matches!(c, '\x21' | '\x23'..='\x5B' | '\x5D'..='\x7E')
}

/// Resolves the scope of a token: the requested one if the client may have all of it,
/// otherwise `invalid_scope`; no request means everything the client may have.
pub fn resolve(requested: Option<&str>, allowed: &Scope) -> Result<Scope, OAuthError> {
    match requested {
        None => Ok(allowed.clone()),
        Some(raw) => {
            let scope = Scope::parse_requested(raw)?;
            if scope.is_subset(allowed) {
                Ok(scope)
            } else {
                let excess: Vec<&str> = scope.excess_over(allowed).collect();
                Err(OAuthError::invalid_scope(format!(
                    "scope not allowed for this client: {}",
                    excess.join(" ")
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(x: &str) -> Scope {
        Scope::parse(x).expect("valid scope")
    }

    #[test]
    fn parse_sorts_and_dedups() {
        assert_eq!(s("b a  b").to_string(), "a b");
        assert!(Scope::parse("a \"b\"").is_err());
        assert!(Scope::parse("a\\b").is_err());
        assert!(s("").is_empty());
    }

    #[test]
    fn resolve_defaults_to_all_and_refuses_excess() {
        let allowed = s("read write");
        assert_eq!(resolve(None, &allowed).ok(), Some(allowed.clone()));
        assert_eq!(resolve(Some("read"), &allowed).ok(), Some(s("read")));
        let e = resolve(Some("read admin"), &allowed).expect_err("excess");
        assert_eq!(e.code, crate::oauth::ErrorCode::InvalidScope);
        assert!(e.description.contains("admin"));
    }
}
