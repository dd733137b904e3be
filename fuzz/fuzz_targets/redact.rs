//! URL redaction for logs and errors (`telemetry::redact`) and the `database_url`
//! reader (`db::DbUrl`), which quotes URLs only through it.
//!
//! Input: `scheme \0 user \0 password \0 rest \0 query-value`, made into
//! `scheme://user:password@rest` and `scheme://rest?password=value`-like URLs; the
//! whole input is also redacted as it is. Asserts: a password (in the userinfo or in a
//! secret query parameter) never appears in the redacted text, in a PostgreSQL
//! `DbUrl`'s `redacted()` or `Debug`, or in its parse error; redaction is idempotent.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera::db::DbUrl;
use tessera::telemetry::redact;
use tessera_fuzz::text_fields;

const SCHEMES: [&str; 5] = ["postgres", "postgresql", "https", "sqlite", "otlp+http"];
const SECRET_NAMES: [&str; 5] = [
    "password",
    "sslpassword",
    "access_token",
    "api_key",
    "X-Sig",
];

/// The fixed text of the messages judged here: a short secret may be part of it.
const FIXED: &str = "error sending request for url (): timed out \
    is empty: give a SQLite path or a postgres:// URL \
    is a key=value connection string: give a postgres:// URL (with the password percent-encoded) \
    is neither a SQLite path nor a postgres:// URL \
    has a user name or password holding @, /, ? or # unencoded: percent-encode them (%40, %2F, %3F, %23)";

/// Asserts that `secret`, which `raw` holds once, is nowhere in `shown` (a secret with
/// `*`, `"` or `\` is not judged: the mask, the quotes around a quoted URL and the
/// escapes of a `{:?}`-quoted one hold them).
fn hidden(raw: &str, secret: &str, shown: &str, what: &str) {
    let judged = secret.chars().count() >= 4
        && !secret.contains(['*', '"', '\\'])
        && !FIXED.contains(secret)
        && raw.matches(secret).count() == 1;
    if !judged {
        return;
    }
    assert!(
        !shown.contains(secret),
        "{what} shows {secret:?}: {raw:?} -> {shown:?}"
    );
}

fn idempotent(text: &str) {
    let once = redact::url(text);
    assert_eq!(redact::url(&once), once, "redacting twice differs");
    assert!(!redact::holds_secret(&once));
    let in_text = redact::urls_in(text);
    assert_eq!(
        redact::urls_in(&in_text),
        in_text,
        "redacting a message twice differs"
    );
}

fn judge(raw: &str, secret: &str) {
    idempotent(raw);
    hidden(raw, secret, &redact::url(raw), "url()");
    // In a message a URL ends at whitespace (a URL parser encodes whitespace).
    if !raw.contains(char::is_whitespace) {
        let message = format!("error sending request for url ({raw}): timed out");
        hidden(&message, secret, &redact::urls_in(&message), "urls_in()");
    }
    match DbUrl::parse(raw) {
        // A SQLite "URL" is a file name: `sqlite://a:b@c` names the file `a:b@c`.
        Ok(DbUrl::Sqlite(_)) => {}
        Ok(u) => {
            hidden(raw, secret, &u.redacted(), "DbUrl::redacted");
            hidden(raw, secret, &format!("{u:?}"), "DbUrl Debug");
        }
        Err(e) => hidden(raw, secret, &e, "DbUrl::parse error"),
    }
}

fuzz_target!(|data: &[u8]| {
    let whole = String::from_utf8_lossy(data);
    idempotent(&whole);
    let _ = DbUrl::parse(&whole);

    let f = text_fields(data, 5);
    let pick = |list: &[&'static str], s: &str| list[s.len() % list.len()];
    let scheme = if f[0]
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
        && !f[0].is_empty()
    {
        f[0].clone()
    } else {
        pick(&SCHEMES, &f[0]).to_string()
    };
    let user: String = f[1].chars().filter(|c| !matches!(c, ':' | '@')).collect();
    let (password, rest, value) = (&f[2], &f[3], &f[4]);

    // A password in the userinfo (it may hold '@', '/', '?', '#': all masked).
    judge(&format!("{scheme}://{user}:{password}@{rest}"), password);
    // A secret query parameter's value, ending at '&' or '#'.
    let value: String = value.chars().filter(|c| !matches!(c, '&' | '#')).collect();
    let name = pick(&SECRET_NAMES, rest);
    let host: String = rest
        .chars()
        .filter(|c| !matches!(c, '@' | '?' | '#'))
        .collect();
    judge(&format!("{scheme}://{host}?a=b&{name}={value}&c=d"), &value);
});
