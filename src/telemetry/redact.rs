//! URLs made fit for logs and error messages: the one place that decides what of a URL
//! may be printed. A database URL, the OTLP endpoint and an issuer's URLs can carry a
//! password in their userinfo (`postgres://app:PASSWORD@db/…`) or in a query parameter
//! (libpq's `?password=…`, `sslpassword=…`, a token in `?access_token=…`); every place
//! that prints one of them prints [`url`] of it instead.
//!
//! Text that is no URL at all (a typo the parser refused) is redacted the same way, so
//! an error message about a malformed URL never echoes its password either.

/// What replaces a secret.
pub const MASK: &str = "***";

/// Query parameter names whose value may be a secret (compared case-insensitively,
/// as substrings, so `sslpassword` and `api_key` are covered).
const SECRET_PARAMETERS: [&str; 8] = [
    "pass",
    "pwd",
    "secret",
    "token",
    "key",
    "auth",
    "credential",
    "sig",
];

/// `raw` with the password of its userinfo and the values of secret-looking query
/// parameters replaced by `***`; everything else (scheme, user, host, port, path,
/// other parameters) kept as it was, so the message still says which server.
pub fn url(raw: &str) -> String {
    let (scheme, rest) = match raw.split_once("://") {
        Some((scheme, rest)) => (Some(scheme), rest),
        None => (None, raw),
    };
    // The userinfo ends at the last '@': a password may hold '@', '/', '?' or '#'
    // unencoded (a URL parser would split it there, and then print the rest), so every
    // reading that could put part of it elsewhere is masked whole. An '@' in a path or
    // query costs that part of the URL in the message, never a secret.
    let (userinfo, after) = match rest.rsplit_once('@') {
        Some((userinfo, after)) => (Some(userinfo), after),
        None => (None, rest),
    };
    // The host ends at the first '/', '?' or '#' after it.
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (host, tail) = after.split_at(end);
    let authority = match userinfo {
        Some(userinfo) => match userinfo.split_once(':') {
            Some((user, _password)) => format!("{user}:{MASK}@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => host.to_string(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (tail, None),
    };
    let (path, query) = match before_fragment.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (before_fragment, None),
    };
    let mut out = String::with_capacity(raw.len());
    if let Some(s) = scheme {
        out.push_str(s);
        out.push_str("://");
    }
    out.push_str(&authority);
    out.push_str(path);
    if let Some(q) = query {
        out.push('?');
        out.push_str(&query_without_secrets(q));
    }
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    // A '/', '?' or '#' before that '@' also reads as the end of the host (RFC 3986's
    // userinfo holds none of them), the '@' then inside a query: a secret parameter of
    // that reading would show above (as a user name, a host), so such a URL is masked
    // whole.
    // The redacted text is judged the same way, so that redacting it again changes
    // nothing.
    let out_rest = match scheme {
        Some(s) => out.strip_prefix(s).and_then(|r| r.strip_prefix("://")),
        None => Some(out.as_str()),
    };
    if query_secret_in_reach(rest) || out_rest.is_some_and(query_secret_in_reach) {
        return match scheme {
            Some(s) => format!("{s}://{MASK}"),
            None => MASK.to_string(),
        };
    }
    out
}

/// Whether `rest` (a URL after its scheme) has an '@' after a '/', '?' or '#' and a
/// secret-looking query parameter when read the RFC 3986 way.
fn query_secret_in_reach(rest: &str) -> bool {
    let ambiguous = rest
        .rsplit_once('@')
        .is_some_and(|(userinfo, _)| userinfo.contains(['/', '?', '#']));
    ambiguous && holds_secret_parameter(rest)
}

/// Whether `rest` (a URL after its scheme), read the RFC 3986 way (the host ends at the
/// first '/', '?' or '#'), has a secret-looking query parameter with a value (other
/// than the mask: a URL redacted once reads the same redacted again).
fn holds_secret_parameter(rest: &str) -> bool {
    let before_fragment = rest.split('#').next().unwrap_or(rest);
    before_fragment.split_once('?').is_some_and(|(_, query)| {
        query.split('&').any(|pair| {
            pair.split_once('=').is_some_and(|(name, value)| {
                !value.is_empty() && value != MASK && secret_parameter(name)
            })
        })
    })
}

/// Whether `raw` (a URL) holds something [`url`] would mask: a password in its
/// userinfo or a secret-looking query parameter.
pub fn holds_secret(raw: &str) -> bool {
    url(raw) != raw
}

/// Whether a query parameter of this name may hold a secret.
fn secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|s| name.contains(s))
}

fn query_without_secrets(query: &str) -> String {
    query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if secret_parameter(name) => format!("{name}={MASK}"),
            _ => pair.to_string(),
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// `text` (a message that may quote URLs, such as an HTTP client's error) with every
/// URL in it redacted by [`url`]. A URL runs to the end of its word (whitespace), less
/// the closing brackets, quotes and punctuation of the sentence around it: a URL parser
/// leaves `)`, `'` or `,` unencoded in a password, a path or a query, so the URL does
/// not end at the first one.
pub fn urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("://") {
        // The scheme: the ASCII letters (and + - .) right before "://".
        let head = &rest[..at];
        let scheme_len = head
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .map(char::len_utf8)
            .sum::<usize>();
        let (before, scheme) = head.split_at(head.len() - scheme_len);
        out.push_str(before);
        let after = &rest[at..];
        let word = after.split(char::is_whitespace).next().unwrap_or(after);
        let len = word
            .trim_end_matches(|c: char| {
                matches!(c, ')' | ']' | '>' | '"' | '\'' | ',' | '.' | ':' | ';')
            })
            .len();
        let (found, remaining) = after.split_at(len);
        out.push_str(&url(&format!("{scheme}{found}")));
        rest = remaining;
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_and_secret_parameters_are_masked_the_rest_is_kept() {
        assert_eq!(
            url("postgres://app:s3cret@db:5432/tessera"),
            "postgres://app:***@db:5432/tessera"
        );
        assert_eq!(
            url("postgres://app@db/tessera?sslmode=require&password=pw&sslpassword=x&sslkey=/k"),
            "postgres://app@db/tessera?sslmode=require&password=***&sslpassword=***&sslkey=***"
        );
        assert_eq!(
            url("http://collector:4318/v1/traces"),
            "http://collector:4318/v1/traces"
        );
        assert_eq!(
            url("https://u:p@issuer.example/jwks?access_token=t#frag"),
            "https://u:***@issuer.example/jwks?access_token=***#frag"
        );
        // An '@', '/', '?' or '#' in the password (percent-encoded or not) hides all of it.
        assert_eq!(url("postgres://a:b@c@db/x"), "postgres://a:***@db/x");
        for raw in [
            "postgres://postgres:pa#ss4@127.0.0.1:1/db",
            "postgres://postgres:pa?ss3@127.0.0.1:1/db",
            "postgres://postgres:pa/ss2@127.0.0.1:1/db",
            "http://u:pa#OtlpSecretB@127.0.0.1:1",
        ] {
            let shown = url(raw);
            assert!(shown.contains(":***@127.0.0.1:1"), "{raw} -> {shown}");
            assert!(
                !shown.contains("ss") && !shown.contains("Secret"),
                "{shown}"
            );
        }
        // A path '@' is no userinfo.
        assert_eq!(url("https://h/a@b"), "https://h/a@b");
    }

    #[test]
    fn a_url_holding_a_quote_bracket_or_comma_is_masked_in_a_message() {
        // Found by the `redact` fuzz target: the URL was cut at the first closer, inside
        // the password or before the query, and what followed was printed as it was.
        for pw in [
            "pa'ss", "pa,ss", "pa)ss", "pa]ss", "pa>ss", "pa\"ss", "p'a@s,s",
        ] {
            let message = format!(
                "error sending request for url (https://ops:{pw}@collector.example/v1/traces): timed out"
            );
            let shown = urls_in(&message);
            assert!(!shown.contains(pw), "{shown}");
            assert!(
                shown.ends_with("(https://ops:***@collector.example/v1/traces): timed out"),
                "{shown}"
            );
        }
        assert_eq!(
            urls_in("fetching 'https://h/a)b,c?access_token=t0k3n', then: x"),
            "fetching 'https://h/a)b,c?access_token=***', then: x"
        );
    }

    #[test]
    fn a_secret_parameter_holding_an_at_sign_is_masked() {
        // Found by the `redact` fuzz target: the '@' was taken for the end of a
        // userinfo, and the parameter's value was shown as a user name and a host.
        for raw in [
            "postgres://db/tessera?sslpassword=se@cret",
            "https://h:8080/p?access_token=se@cret&x=1",
        ] {
            let shown = url(raw);
            assert!(
                !shown.contains("se") && !shown.contains("cret"),
                "{raw} -> {shown}"
            );
        }
        // A path '@' with no secret around still shows the rest.
        assert_eq!(url("https://h/a@b?page=2"), "https://h/a@b?page=2");
        // Redacted once, a URL reads the same redacted again.
        for raw in [
            "postgres://a/b:pw@h?password=",
            "x?\0p@Q.)0.1:54=p\0p@Q.pass.1:54=32/db",
        ] {
            let once = url(raw);
            assert_eq!(url(&once), once, "{raw}");
        }
    }

    #[test]
    fn text_that_is_no_url_is_redacted_too_and_unicode_is_kept_whole() {
        assert_eq!(url("https://ops:pw@[bad"), "https://ops:***@[bad");
        assert_eq!(url("ops:pw@host"), "ops:***@host");
        assert_eq!(
            url("héllo:wörld@hôst/ü?passwörd=ä"),
            "héllo:***@hôst/ü?passwörd=***"
        );
        assert_eq!(url(""), "");
        for s in ["@", ":@", "://", "?", "#", "a://b?c=d&&=", "é://ü:é@"] {
            let _ = url(s);
        }
    }

    #[test]
    fn urls_inside_a_message_are_redacted() {
        assert_eq!(
            urls_in("error sending request for url (http://c:s3cret@127.0.0.1:9/v1/traces)"),
            "error sending request for url (http://c:***@127.0.0.1:9/v1/traces)"
        );
        assert_eq!(
            urls_in("a https://x:y@h/ and ü postgres://p:q@h2?password=z end"),
            "a https://x:***@h/ and ü postgres://p:***@h2?password=*** end"
        );
        assert_eq!(urls_in("no url here"), "no url here");
        assert_eq!(urls_in("ü://"), "ü://");
    }
}
