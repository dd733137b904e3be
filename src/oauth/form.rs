//! `application/x-www-form-urlencoded` request bodies, parsed strictly.
//!
//! RFC 6749 §3.1: parameters without a value count as omitted, and a parameter must
//! not appear more than once (RFC 8707 `resource` is the one that may repeat).
//! Bytes that do not decode to UTF-8, and control characters such as NUL, are refused
//! rather than replaced, so what is checked is what was sent.

use super::OAuthError;
use percent_encoding::percent_decode;
use std::collections::HashSet;

/// Parameter names that may legitimately appear several times.
const REPEATABLE: &[&str] = &["resource"];

/// The most parameters one body may carry (no endpoint needs more than a dozen): a
/// bigger body is refused before more of it is decoded.
pub const MAX_PARAMS: usize = 1_000;

/// The decoded parameters of one request body.
#[derive(Debug, Default, Clone)]
pub struct FormParams {
    pairs: Vec<(String, String)>,
}

impl FormParams {
    /// Parses a body; errors are `invalid_request` naming the offending parameter.
    /// At most `MAX_PARAMS` parameters are decoded, and repeats are then found with a
    /// set of the names, so the work is linear in the body's size.
    pub fn parse(body: &[u8]) -> Result<FormParams, OAuthError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (n, part) in body
            .split(|b| *b == b'&')
            .filter(|p| !p.is_empty())
            .enumerate()
        {
            if n >= MAX_PARAMS {
                return Err(OAuthError::invalid_request(format!(
                    "more than {MAX_PARAMS} parameters in the request body"
                )));
            }
            let mut halves = part.splitn(2, |b| *b == b'=');
            let name = halves.next().unwrap_or_default();
            let value = halves.next().unwrap_or_default();
            let name = decode(name).ok_or_else(|| {
                OAuthError::invalid_request("a parameter name is not valid UTF-8 text")
            })?;
            let value = decode(value).ok_or_else(|| {
                OAuthError::invalid_request(format!(
                    "parameter {} is not valid UTF-8 text or holds control characters",
                    printable(&name)
                ))
            })?;
            if value.is_empty() {
                continue;
            }
            pairs.push((name, value));
        }
        let mut seen = HashSet::with_capacity(pairs.len());
        for (name, _) in &pairs {
            if !REPEATABLE.contains(&name.as_str()) && !seen.insert(name.as_str()) {
                return Err(OAuthError::invalid_request(format!(
                    "parameter {} is repeated",
                    printable(name)
                )));
            }
        }
        Ok(FormParams { pairs })
    }

    /// Parameters given as pairs (a JSON body's fields), taken as they are.
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> FormParams {
        FormParams {
            pairs: pairs
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
        }
    }

    /// Every parameter, in the order sent (what a body that reads the same is made of).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of a single-valued parameter.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable parameter, in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.pairs
            .iter()
            .filter(move |(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// A parameter that must be present.
    pub fn require(&self, name: &str) -> Result<&str, OAuthError> {
        self.get(name)
            .ok_or_else(|| OAuthError::invalid_request(format!("missing parameter {name}")))
    }
}

/// Form-decodes one name or value; `None` for invalid UTF-8 or control characters.
fn decode(raw: &[u8]) -> Option<String> {
    let plus_as_space: Vec<u8> = raw
        .iter()
        .map(|b| if *b == b'+' { b' ' } else { *b })
        .collect();
    let bytes: Vec<u8> = percent_decode(&plus_as_space).collect();
    let text = String::from_utf8(bytes).ok()?;
    if text.chars().any(char::is_control) {
        return None;
    }
    Some(text)
}

/// A parameter name safe to echo in an error description.
fn printable(name: &str) -> String {
    let short: String = name.chars().take(40).collect();
    format!("{short:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_and_percent() {
        let p = FormParams::parse(b"grant_type=client_credentials&scope=a+b%20c").expect("valid");
        assert_eq!(p.get("grant_type"), Some("client_credentials"));
        assert_eq!(p.get("scope"), Some("a b c"));
    }

    #[test]
    fn empty_values_count_as_omitted() {
        let p = FormParams::parse(b"scope=&grant_type=x&&flag").expect("valid");
        assert_eq!(p.get("scope"), None);
        assert_eq!(p.get("flag"), None);
        assert!(p.require("scope").is_err());
    }

    #[test]
    fn repeated_parameters_are_refused_except_resource() {
        let e = FormParams::parse(b"scope=a&scope=b").expect_err("repeated");
        assert!(e.description.contains("repeated"));
        let p = FormParams::parse(b"resource=https://a&resource=https://b").expect("valid");
        assert_eq!(
            p.get_all("resource").collect::<Vec<_>>(),
            ["https://a", "https://b"]
        );
    }

    #[test]
    fn more_than_the_cap_of_parameters_is_refused() {
        let body = |n: usize| {
            (0..n)
                .map(|i| format!("p{i}=v"))
                .collect::<Vec<_>>()
                .join("&")
        };
        assert!(FormParams::parse(body(MAX_PARAMS).as_bytes()).is_ok());
        let e = FormParams::parse(body(MAX_PARAMS + 1).as_bytes()).expect_err("over the cap");
        assert!(e.description.contains("more than 1000 parameters"));
        // A repeat among many distinct names is still found.
        let mut many = body(MAX_PARAMS - 1);
        many.push_str("&p5=again");
        assert!(FormParams::parse(many.as_bytes())
            .expect_err("repeated")
            .description
            .contains("repeated"));
    }

    #[test]
    fn invalid_utf8_and_nul_are_refused() {
        assert!(FormParams::parse(b"scope=%FF%FE").is_err());
        assert!(FormParams::parse(b"scope=a%00b").is_err());
        assert!(FormParams::parse(b"sc%00ope=a").is_err());
        assert!(FormParams::parse(&[b's', b'=', 0xC3, 0x28]).is_err());
    }
}
