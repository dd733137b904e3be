//! URLs made fit for logs and error messages: the one place that decides what of a URL
//! may be printed. A database URL, the OTLP endpoint and an issuer's URLs can carry a
//! password in their userinfo (`postgres://app:PASSWORD@db/…`) or in a query parameter
//! (libpq's `?password=…`, `sslpassword=…`, a token in `?access_token=…`); every place
//! that prints one of them prints [`url()`] of it instead.
//!
//! Text that is no URL at all (a typo the parser refused) is redacted the same way, so
//! an error message about a malformed URL never echoes its password either.

use std::ops::Range;

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
///
/// A password may hold `@`, `/`, `?`, `#` or `&` unencoded, where a URL parser, libpq
/// and a reader each split it differently; what is masked is what any of those
/// readings would take for a secret, so no reading prints part of one.
pub fn url(raw: &str) -> String {
    // Masking can join what was apart (a mask next to an '@' or '='), so the result is
    // judged again until nothing more is masked: redacting twice is redacting once.
    let mut out = masked_once(raw);
    for _ in 0..4 {
        let again = masked_once(&out);
        if again == out {
            break;
        }
        out = again;
    }
    out
}

/// `raw` with the ranges of [`hidden_ranges`] replaced by the mask.
fn masked_once(raw: &str) -> String {
    let hidden = hidden_ranges(raw);
    let mut out = String::with_capacity(raw.len());
    let mut shown_to = 0;
    for r in hidden {
        out.push_str(raw.get(shown_to..r.start).unwrap_or_default());
        out.push_str(MASK);
        shown_to = r.end;
    }
    out.push_str(raw.get(shown_to..).unwrap_or_default());
    out
}

/// The byte ranges of `raw` that [`url()`] masks, sorted and merged (an empty range
/// marks an empty secret value, shown as `***` too).
fn hidden_ranges(raw: &str) -> Vec<Range<usize>> {
    let start = raw.find("://").map_or(0, |i| i.saturating_add("://".len()));
    let rest = raw.get(start..).unwrap_or_default();
    let mut hidden = Vec::new();
    // The userinfo ends at the last '@' (a password may hold '@', '/', '?' or '#'),
    // and the password begins after its first ':'. An '@' in a path or query costs
    // that part of the URL in the message, never a secret.
    if let Some(at) = rest.rfind('@') {
        if let Some(colon) = rest.get(..at).and_then(|u| u.find(':')) {
            hidden.push(start.saturating_add(colon).saturating_add(1)..start.saturating_add(at));
        }
    }
    // Every `name=value` after a '?', '&' or ';' (wherever a reader may take a query
    // to begin), its name percent-decoded; the value runs to the next '&', whatever
    // '#' or ';' it holds.
    for (i, _) in raw
        .match_indices(['?', '&', ';'])
        .filter(|(i, _)| *i >= start)
    {
        let name_start = i.saturating_add(1);
        let tail = raw.get(name_start..).unwrap_or_default();
        let name_len = tail
            .find(['=', '&', ';', '?', '#', '/'])
            .unwrap_or(tail.len());
        let name = tail.get(..name_len).unwrap_or_default();
        if tail.get(name_len..).is_some_and(|t| t.starts_with('='))
            && secret_parameter(&percent_encoding::percent_decode_str(name).decode_utf8_lossy())
        {
            let value_start = name_start.saturating_add(name_len).saturating_add(1);
            let value_end = raw
                .get(value_start..)
                .and_then(|v| v.find('&'))
                .map_or(raw.len(), |e| value_start.saturating_add(e));
            hidden.push(value_start..value_end);
        }
    }
    hidden.sort_by_key(|r| r.start);
    let mut merged: Vec<Range<usize>> = Vec::with_capacity(hidden.len());
    for r in hidden {
        match merged.last_mut() {
            Some(last) if r.start <= last.end => last.end = last.end.max(r.end),
            _ => merged.push(r),
        }
    }
    merged
}

/// Whether `raw` (a URL) holds something [`url()`] would mask: a password in its
/// userinfo or a secret-looking query parameter.
pub fn holds_secret(raw: &str) -> bool {
    // A URL redacted once holds masks, not secrets: judged by what redaction changes.
    url(raw) != raw
}

/// The secrets [`url()`] masks in `raw`, as written and percent-decoded: what a
/// message about that URL must not show in any form (a client library may quote the
/// decoded password, or the URL cut where its own reading ends).
pub fn secrets_of(raw: &str) -> Vec<String> {
    let mut secrets: Vec<String> = hidden_ranges(raw)
        .into_iter()
        .filter_map(|r| raw.get(r))
        .filter(|s| !s.is_empty())
        .flat_map(|s| {
            let decoded = percent_encoding::percent_decode_str(s).decode_utf8_lossy();
            [s.to_string(), decoded.into_owned()]
        })
        .collect();
    // Longest first, so a secret holding a shorter one is masked whole.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets.dedup();
    secrets
}

/// `text` (a message about a connection to `secrets`' URL) with every one of
/// `secrets` masked, wherever and however the message quotes it, and any other URL in
/// it redacted by [`urls_in`].
pub fn scrubbed(text: &str, secrets: &[String]) -> String {
    let mut text = text.to_string();
    for s in secrets {
        if text.contains(s.as_str()) {
            text = text.replace(s.as_str(), MASK);
        }
    }
    urls_in(&text)
}

/// Whether a query parameter of this name may hold a secret.
fn secret_parameter(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    SECRET_PARAMETERS.iter().any(|s| name.contains(s))
}

/// `text` (a message that may quote URLs, such as an HTTP client's error) with every
/// URL in it redacted by [`url()`]. A URL runs to the end of its word (whitespace), less
/// the closing brackets, quotes and punctuation of the sentence around it: a URL parser
/// leaves `)`, `'` or `,` unencoded in a password, a path or a query, so the URL does
/// not end at the first one.
pub fn urls_in(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some((head, after)) = rest.find("://").and_then(|at| rest.split_at_checked(at)) {
        // The scheme: the ASCII letters (and + - .) right before "://".
        let before = head
            .trim_end_matches(|c: char| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        let scheme = head.strip_prefix(before).unwrap_or_default();
        out.push_str(before);
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
            "https://u:***@issuer.example/jwks?access_token=***"
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
    fn no_reading_of_a_password_with_delimiters_shows_part_of_it() {
        for raw in [
            // One '@' in the password before a '#', '?' or '/': a URL parser ends the
            // authority there; libpq ends the userinfo at the first '@'.
            "postgres://app:Ab@SecrS3#SecrS4@host/db",
            "postgres://app:Ab@SecrS3?SecrS4@host/db",
            "postgres://app:Ab@SecrS3/SecrS4@host/db",
            // An '@' in a secret query value.
            "postgres://u@h/db?password=SecrT1@SecrT2",
            "postgres://u@h:5432/db?password=SecrT1@SecrT2&sslmode=disable",
            // Names percent-encoded or after ';', values holding '#' or ';'.
            "postgres://h/db?p%61ssword=SecrU1",
            "postgres://h/db?x=1;password=SecrU2",
            "postgres://h/db?password=ab#SecrU3",
            "postgres://h/db?password=ab;SecrU4&sslmode=disable",
            "https://h/jwks?%61ccess_%74oken=SecrU5",
        ] {
            let shown = url(raw);
            assert!(!shown.contains("Secr"), "{raw} -> {shown}");
            assert!(holds_secret(raw), "{raw}");
            assert!(!urls_in(&format!("({raw})")).contains("Secr"), "{raw}");
        }
        assert_eq!(
            url("postgres://u@h/db?password=SecrT1@SecrT2&sslmode=disable"),
            "postgres://u@h/db?password=***&sslmode=disable"
        );
        assert!(!holds_secret("https://issuer.example/a@b?x=1;y=2"));
    }

    #[test]
    fn a_message_quoting_a_secret_in_any_form_shows_none_of_it() {
        let raw = "postgres://app:Xy7%25Lq2!Secret@h/db?sslpassword=Key%20Pass";
        let secrets = secrets_of(raw);
        for message in [
            // libpq quotes what it could not read, decoded or as written, in quotes
            // that end a URL for `urls_in`.
            r#"invalid percent-encoded token: "Xy7%Lq2!Secret""#,
            r#"could not connect: "postgres://app:Xy7%25Lq2!Secret@h/db""#,
            "password authentication failed (Key Pass)",
        ] {
            let shown = scrubbed(message, &secrets);
            assert!(
                !shown.contains("Secret") && !shown.contains("Key"),
                "{message} -> {shown}"
            );
        }
        assert_eq!(scrubbed("no secret here", &secrets), "no secret here");
        assert!(secrets_of("postgres://app@h/db").is_empty());
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
                !shown.contains("se@") && !shown.contains("cret"),
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
        assert_eq!(urls_in("(éhttps://a:b@h)"), "(éhttps://a:***@h)");
    }
}
