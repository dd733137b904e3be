//! What the fuzz targets share: splitting one input into fields, signing JWS with a
//! fixed key (so a target reaches the checks behind the signature), and a fresh SQLite
//! database with its row counts (so a target can show that a refused input wrote
//! nothing).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use serde_json::{json, Value};
use std::sync::OnceLock;
use tessera::db::DbConnection;

/// The clock every target runs at.
pub const NOW: i64 = 1_750_000_000;

/// The fields of one input: its bytes split at NUL, at most `n` of them (the last
/// takes the rest). Seed files are text with `\0` between fields.
pub fn fields(data: &[u8], n: usize) -> Vec<&[u8]> {
    let mut out: Vec<&[u8]> = data.splitn(n, |b| *b == 0).collect();
    out.resize(n, &[]);
    out
}

/// The fields of one input as text (lossy: the targets that take `&str` are reached
/// through `str` only).
pub fn text_fields(data: &[u8], n: usize) -> Vec<String> {
    fields(data, n)
        .into_iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect()
}

/// Panics unless `message` is one line of text: error messages end up in one log line
/// or one terminal line, and a newline, a carriage return or an escape sequence in
/// them would let input forge or rewrite another.
pub fn assert_one_line(what: &str, message: &str) {
    assert!(
        !message.contains(char::is_control),
        "{what} error is not one line of text: {message:?}"
    );
}

fn ed25519() -> &'static aws_lc_rs::signature::Ed25519KeyPair {
    static KEY: OnceLock<aws_lc_rs::signature::Ed25519KeyPair> = OnceLock::new();
    KEY.get_or_init(|| {
        aws_lc_rs::signature::Ed25519KeyPair::from_seed_unchecked(&[7u8; 32])
            .expect("a 32-byte Ed25519 seed")
    })
}

/// The fixed signing key's public JWK (`kid` `fuzz`).
pub fn public_jwk() -> Value {
    use aws_lc_rs::signature::KeyPair;
    let x = URL_SAFE_NO_PAD.encode(ed25519().public_key().as_ref());
    json!({"kty": "OKP", "crv": "Ed25519", "x": x, "kid": "fuzz", "alg": "EdDSA", "use": "sig"})
}

/// A compact JWS of `header` and `payload` (taken as bytes, JSON or not) signed with
/// the fixed Ed25519 key.
pub fn sign(header: &[u8], payload: &[u8]) -> String {
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = ed25519().sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
}

/// `base` with the members of `over` (when it is a JSON object) written over it: the
/// fuzzer changes a well-formed header member by member.
pub fn merged(base: Value, over: &[u8]) -> Vec<u8> {
    let mut base = base;
    if let (Some(b), Ok(Value::Object(o))) = (base.as_object_mut(), serde_json::from_slice(over)) {
        b.extend(o);
    }
    base.to_string().into_bytes()
}

/// A fresh in-memory SQLite database with every migration applied.
pub fn fresh_db() -> DbConnection {
    let c = diesel::SqliteConnection::establish(":memory:").expect("in-memory SQLite");
    let mut conn = DbConnection::Sqlite(c);
    tessera::db::run_migrations(&mut conn).expect("migrations");
    conn
}

#[derive(QueryableByName)]
struct Name {
    #[diesel(sql_type = diesel::sql_types::Text)]
    name: String,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Every table's row count, by name.
pub fn row_counts(conn: &mut DbConnection) -> Vec<(String, i64)> {
    let DbConnection::Sqlite(c) = conn else {
        unreachable!("the fuzz database is SQLite")
    };
    let tables: Vec<Name> =
        diesel::sql_query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            .load(c)
            .expect("table names");
    tables
        .into_iter()
        .map(|t| {
            let q = format!("SELECT count(*) AS n FROM \"{}\"", t.name);
            let counted: Vec<Count> = diesel::sql_query(q).load(c).expect("count");
            (t.name, counted.first().map_or(0, |c| c.n))
        })
        .collect()
}

/// Whether a TOML text may name a key that makes tessera read a file (`*_file`, also
/// spelled with escapes in a quoted key): a fuzz target must not read `/dev/zero` or
/// wait on a FIFO, so such inputs are skipped.
pub fn names_a_file(text: &str) -> bool {
    text.contains("_file") || text.contains("\\u") || text.contains("\\U")
}
