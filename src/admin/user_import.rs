//! `tessera user import --django FILE`: a Django project's users, from the JSON of
//! `manage.py dumpdata auth.user` (or of a custom user model, `AUTH_USER_MODEL`, with
//! the same fields). Each user keeps its `pk` as external id, its
//! username (tessera's normalisation applied), `is_active`, and its password hash as
//! it is: logins verify Django's formats and then store argon2id instead. A hash of a
//! format tessera does not verify, or costlier than the ceilings of
//! [`crate::oauth::hash_ceiling`], makes the user's password unusable (reported).
//!
//! The whole file is checked before anything is written, and written in one
//! transaction: a bad record, or a clash between two identities, writes nothing.

use super::AdminError;
use crate::db::audit;
use crate::db::models::refresh_token::{revoke, Families};
use crate::db::models::{ImportedChange, NewUser, User};
use crate::db::DbConnection;
use crate::oauth::password::{normalize_username, HashParams, StoredHash};
use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::HashMap;

/// The largest file read, bytes (about half a million users).
pub const MAX_IMPORT_BYTES: u64 = 256 * 1024 * 1024;
/// The longest password hash kept as it is, bytes; a longer one is no Django hash.
const MAX_HASH_BYTES: usize = 1024;
/// What a user whose hash tessera cannot verify gets: no usable password.
const UNUSABLE: &str = "!";

/// The longest model label accepted, in characters.
const MAX_MODEL_LABEL_CHARS: usize = 200;

/// A Django model label, `app_label.ModelName` (`auth.user`, or a custom user model as
/// `AUTH_USER_MODEL` names it), kept in lower case: Django's labels are
/// case-insensitive, and dumpdata writes them in lower case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelLabel(String);

impl ModelLabel {
    /// Django's own user model.
    pub fn auth_user() -> ModelLabel {
        ModelLabel("auth.user".into())
    }

    /// Parses `app_label.ModelName`: two identifiers (letters, digits, `_`, not
    /// starting with a digit) joined by one dot.
    pub fn parse(raw: &str) -> Result<ModelLabel, String> {
        let expected = "expected app_label.ModelName as in AUTH_USER_MODEL, e.g. accounts.User";
        if raw.chars().count() > MAX_MODEL_LABEL_CHARS {
            return Err(format!("longer than {MAX_MODEL_LABEL_CHARS} characters"));
        }
        let identifier = |s: &str| {
            s.chars().next().is_some_and(|c| !c.is_ascii_digit())
                && s.chars().all(|c| c.is_alphanumeric() || c == '_')
        };
        match raw.split_once('.') {
            Some((app, model)) if identifier(app) && identifier(model) => {
                Ok(ModelLabel(raw.to_lowercase()))
            }
            _ => Err(expected.into()),
        }
    }

    /// The label, in lower case.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// How to read the file and treat users that already exist (by username).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportOptions {
    /// Update existing users (hash, `is_active`, external id) instead of skipping them.
    pub update: bool,
    /// Work out the summary, write nothing.
    pub dry_run: bool,
    /// The configured argon2id: a hash of tessera's own format may not ask for more
    /// memory (the cost ceilings of [`crate::oauth::hash_ceiling`]).
    pub hashing: HashParams,
    /// The user model the records are of (`auth.user` unless the project has its own).
    pub model: ModelLabel,
}

/// What an import did (or, dry, would do).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportSummary {
    /// Users created.
    pub imported: usize,
    /// Existing users updated (`--update`).
    pub updated: usize,
    /// Existing users left as they were.
    pub skipped: usize,
    /// Usernames whose hash tessera does not verify (unknown format, or beyond the
    /// cost ceilings): imported (or updated) without a usable password; `set-password`
    /// gives them one.
    pub unsupported: Vec<String>,
    /// Whether this was a dry run (nothing written).
    pub dry_run: bool,
}

/// One `auth.user` record, checked.
#[derive(Debug)]
struct Record {
    /// The Django pk, as text.
    pk: String,
    /// Normalised.
    username: String,
    /// Kept as it is, or [`UNUSABLE`].
    password_hash: String,
    /// The format was not one tessera verifies.
    unsupported: bool,
    /// Django's `is_active`.
    active: bool,
}

/// Imports the dumpdata JSON `data`; see the module documentation.
pub fn import_django(
    conn: &mut DbConnection,
    actor: &str,
    data: &[u8],
    options: ImportOptions,
    now: i64,
) -> Result<ImportSummary, AdminError> {
    let records = parse(data, &options)?;
    let result = audit::transaction(conn, |conn| {
        let mut summary = ImportSummary {
            dry_run: options.dry_run,
            ..ImportSummary::default()
        };
        for r in &records {
            apply(conn, r, &options, now, &mut summary)?;
        }
        let details = serde_json::json!({
            "source": "django",
            "imported": summary.imported,
            "updated": summary.updated,
            "skipped": summary.skipped,
            "unsupported": summary.unsupported.len(),
        });
        audit::record(conn, actor, "user.import", "django", details, now)?;
        if options.dry_run {
            // The same work as a real import, then nothing of it kept.
            return Err(Outcome::DryRun(summary));
        }
        Ok(summary)
    });
    match result {
        Ok(summary) | Err(Outcome::DryRun(summary)) => Ok(summary),
        Err(Outcome::Failed(e)) => Err(e),
    }
}

/// Ends the import transaction: a dry run's summary (rolled back) or a failure.
enum Outcome {
    DryRun(ImportSummary),
    Failed(AdminError),
}

impl From<crate::db::QueryError> for Outcome {
    fn from(e: crate::db::QueryError) -> Self {
        Outcome::Failed(e.into())
    }
}

impl From<AdminError> for Outcome {
    fn from(e: AdminError) -> Self {
        Outcome::Failed(e)
    }
}

fn apply(
    conn: &mut DbConnection,
    r: &Record,
    options: &ImportOptions,
    now: i64,
    summary: &mut ImportSummary,
) -> Result<(), AdminError> {
    let by_name = User::find_by_username(conn, &r.username)?;
    if let Some(holder) = User::find_by_external_id(conn, &r.pk)? {
        if holder.username != r.username {
            return Err(AdminError::Invalid(format!(
                "pk {} ({:?}) is already the external id of tessera user {:?}; nothing was imported",
                r.pk, r.username, holder.username
            )));
        }
    }
    let Some(existing) = by_name else {
        let id = uuid::Uuid::new_v4().to_string();
        User::insert(
            conn,
            &NewUser {
                id: &id,
                username: &r.username,
                password_hash: &r.password_hash,
                disabled: !r.active,
                password_changed_at: now,
                created_at: now,
                updated_at: now,
                external_id: Some(&r.pk),
            },
        )?;
        summary.imported = summary.imported.saturating_add(1);
        note_unsupported(r, summary);
        return Ok(());
    };
    if let Some(other) = existing.external_id.as_deref().filter(|e| *e != r.pk) {
        return Err(AdminError::Invalid(format!(
            "tessera user {:?} has external id {other:?}, the file gives pk {}; nothing was imported",
            r.username, r.pk
        )));
    }
    if !options.update {
        summary.skipped = summary.skipped.saturating_add(1);
        return Ok(());
    }
    let new_password = existing.password_hash != r.password_hash;
    User::apply_import(
        conn,
        &existing.id,
        &ImportedChange {
            password_hash: &r.password_hash,
            disabled: !r.active,
            external_id: &r.pk,
            password_changed_at: if new_password {
                now
            } else {
                existing.password_changed_at
            },
            updated_at: now,
        },
    )?;
    if new_password || !r.active {
        revoke(conn, Families::OfUser(&existing.id), now)?;
    }
    summary.updated = summary.updated.saturating_add(1);
    note_unsupported(r, summary);
    Ok(())
}

fn note_unsupported(r: &Record, summary: &mut ImportSummary) {
    if r.unsupported {
        summary.unsupported.push(r.username.clone());
    }
}

/// Reads and checks every record; the first problem is the file's one error.
fn parse(data: &[u8], options: &ImportOptions) -> Result<Vec<Record>, AdminError> {
    let bad = |m: String| AdminError::Invalid(m);
    let value: Value = serde_json::from_slice(data)
        .map_err(|e| bad(format!("not a JSON file from manage.py dumpdata: {e}")))?;
    let Value::Array(items) = value else {
        return Err(bad(
            "not a dumpdata file: expected a JSON list of records".into()
        ));
    };
    let mut records = Vec::with_capacity(items.len());
    let mut by_username: HashMap<String, String> = HashMap::new();
    let mut pks: HashMap<String, usize> = HashMap::new();
    for (i, item) in items.iter().enumerate() {
        let n = i.saturating_add(1);
        let r = record(item, options).map_err(|m| bad(format!("record {n}: {m}")))?;
        if let Some(first) = pks.insert(r.pk.clone(), n) {
            return Err(bad(format!(
                "records {first} and {n} have the same pk {}",
                r.pk
            )));
        }
        if let Some(other) = by_username.insert(r.username.clone(), r.pk.clone()) {
            return Err(bad(format!(
                "pks {other} and {} both have the username {:?} once normalised \
                 (tessera's are case-insensitive); rename one in Django first",
                r.pk, r.username
            )));
        }
        records.push(r);
    }
    Ok(records)
}

fn record(item: &Value, options: &ImportOptions) -> Result<Record, String> {
    let Value::Object(obj) = item else {
        return Err("not an object".into());
    };
    let expected = options.model.as_str();
    match obj.get("model") {
        Some(Value::String(m)) if m.to_lowercase() == expected => {}
        Some(Value::String(m)) => {
            return Err(format!(
                "model {:?} is not {expected} (dump with: manage.py dumpdata {expected}; \
                 a custom user model is read with --model app_label.ModelName)",
                shorten(m)
            ))
        }
        _ => return Err("\"model\" is missing or not a string".into()),
    }
    let pk = match obj.get("pk") {
        Some(Value::Number(n)) if n.as_u64().is_some() => n.to_string(),
        Some(_) => return Err("\"pk\" is not a non-negative integer".into()),
        None => return Err("\"pk\" is missing".into()),
    };
    let fields = match obj.get("fields") {
        Some(Value::Object(f)) => f,
        _ => return Err(format!("pk {pk}: \"fields\" is missing or not an object")),
    };
    let at = |m: String| format!("pk {pk}: {m}");
    let raw_name = string_field(fields, "username").map_err(at)?;
    let username = normalize_username(raw_name)
        .map_err(|e| at(format!("username {:?}: {e}", shorten(raw_name))))?;
    let password = string_field(fields, "password").map_err(at)?;
    let active = match fields.get("is_active") {
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(at("fields.is_active is not true or false".into())),
        None => return Err(at("fields.is_active is missing".into())),
    };
    // Django's own unusable passwords (`!…`) stay unusable and are no surprise; a hash
    // of an unknown format or beyond the cost ceilings is reported.
    let unusable = password.starts_with('!');
    let kept = password.len() <= MAX_HASH_BYTES
        && (unusable || StoredHash::parse(password, options.hashing).is_usable());
    let password_hash = if kept { password } else { UNUSABLE }.to_string();
    let unsupported = !kept && !unusable;
    Ok(Record {
        pk,
        username,
        password_hash,
        unsupported,
        active,
    })
}

fn string_field<'a>(fields: &'a Map<String, Value>, name: &str) -> Result<&'a str, String> {
    match fields.get(name) {
        Some(Value::String(s)) => Ok(s),
        Some(_) => Err(format!("fields.{name} is not a string")),
        None => Err(format!("fields.{name} is missing")),
    }
}

/// At most 40 characters of a value quoted in an error, which must stay one line.
fn shorten(s: &str) -> String {
    let mut out: String = s.chars().take(40).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::ModelLabel;

    #[test]
    fn model_labels_are_two_identifiers_in_lower_case() {
        let label = ModelLabel::parse("accounts.User").expect("valid");
        assert_eq!(label.as_str(), "accounts.user");
        assert_eq!(ModelLabel::auth_user().as_str(), "auth.user");
        assert!(ModelLabel::parse("my_app2.Kunde_ß").is_ok());
        for bad in [
            "",
            "accounts",
            "a.b.c",
            ".user",
            "accounts.",
            "1app.user",
            "app.us er",
            "app.user\n",
        ] {
            assert!(ModelLabel::parse(bad).is_err(), "{bad:?}");
        }
        assert!(ModelLabel::parse(&format!("a.{}", "x".repeat(300))).is_err());
    }
}
