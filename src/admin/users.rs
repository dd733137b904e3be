//! User administration shared by the CLI (and later HTTP): one implementation of each
//! operation, synchronous, on a database connection. Passwords arrive already hashed;
//! every change that should end sessions revokes the user's refresh-token families.

use super::AdminError;
use crate::db::audit;
use crate::db::models::refresh_token::{revoke, sessions_of_users, Families};
use crate::db::models::{NewUser, User};
use crate::db::DbConnection;
use crate::oauth::password::{normalize_username, HashParams, StoredHash};
use serde::Serialize;

/// The longest external id accepted, in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;

/// A user as administration shows it: the row (never its hash) and the kind of hash.
#[derive(Debug, Clone, Serialize)]
pub struct UserView {
    /// The row.
    #[serde(flatten)]
    pub user: User,
    /// `argon2id`, `django_pbkdf2_sha256` (imported, replaced at the next login), …,
    /// `unusable` or `unsupported` (no login until `set-password`).
    pub password_scheme: String,
}

impl UserView {
    /// The view of `user`; `hashing` (the configured argon2id) decides whether its
    /// hash is within the cost ceilings, as a login would.
    pub fn new(user: User, hashing: HashParams) -> Self {
        let password_scheme = StoredHash::parse(&user.password_hash, hashing).scheme();
        UserView {
            user,
            password_scheme,
        }
    }
}

/// Checks an external id: 1 to 255 characters, no white space or control characters.
pub fn check_external_id(id: &str) -> Result<(), AdminError> {
    let bad = |m: &str| Err(AdminError::Invalid(format!("external id: {m}")));
    if id.is_empty() {
        return bad("empty");
    }
    if id.chars().count() > MAX_EXTERNAL_ID_CHARS {
        return bad("longer than 255 characters");
    }
    if id.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("contains white space or control characters");
    }
    Ok(())
}

/// Refuses an external id another user already has.
pub(super) fn external_id_free(conn: &mut DbConnection, id: &str) -> Result<(), AdminError> {
    match User::find_by_external_id(conn, id)? {
        Some(other) => Err(AdminError::Invalid(format!(
            "external id {id:?} already belongs to user {:?}",
            other.username
        ))),
        None => Ok(()),
    }
}

fn find(conn: &mut DbConnection, username: &str) -> Result<User, AdminError> {
    let name = normalize_username(username).map_err(|e| AdminError::Invalid(e.into()))?;
    User::find_by_username(conn, &name)?
        .ok_or_else(|| AdminError::NotFound(format!("user {name:?}")))
}

/// Creates a user with an already computed password hash and, optionally, the id it
/// has in the system it came from. `hashing` is the configured argon2id (for the view).
pub fn create(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    password_hash: &str,
    external_id: Option<&str>,
    hashing: HashParams,
    now: i64,
) -> Result<UserView, AdminError> {
    let name = normalize_username(username).map_err(|e| AdminError::Invalid(e.into()))?;
    if let Some(ext) = external_id {
        check_external_id(ext)?;
    }
    audit::transaction(conn, |conn| {
        if User::find_by_username(conn, &name)?.is_some() {
            return Err(AdminError::Invalid(format!("user {name:?} already exists")));
        }
        if let Some(ext) = external_id {
            external_id_free(conn, ext)?;
        }
        let id = uuid::Uuid::new_v4().to_string();
        User::insert(
            conn,
            &NewUser {
                id: &id,
                username: &name,
                password_hash,
                disabled: false,
                password_changed_at: now,
                created_at: now,
                updated_at: now,
                external_id,
            },
        )?;
        let details = serde_json::json!({ "id": id, "external_id": external_id });
        audit::record(conn, actor, "user.create", &name, details, now)?;
        Ok(())
    })?;
    show(conn, &name, hashing)
}

/// One user.
pub fn show(
    conn: &mut DbConnection,
    username: &str,
    hashing: HashParams,
) -> Result<UserView, AdminError> {
    find(conn, username).map(|u| UserView::new(u, hashing))
}

/// Every user.
pub fn list(conn: &mut DbConnection, hashing: HashParams) -> Result<Vec<UserView>, AdminError> {
    Ok(User::list(conn)?
        .into_iter()
        .map(|u| UserView::new(u, hashing))
        .collect())
}

/// Most users one page lists.
pub const MAX_PAGE_SIZE: u32 = 200;

/// Longest search text, in characters (longer is refused, not cut).
pub const MAX_SEARCH_CHARS: usize = 150;

/// Which users to list: those whose username or external id contains `search` (case
/// as usernames are stored: lower), page `page` (from 0) of `per_page` (1 to
/// [`MAX_PAGE_SIZE`]).
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Text the username or external id contains, taken literally.
    pub search: Option<String>,
    /// Page number, from 0.
    pub page: u32,
    /// Users per page.
    pub per_page: u32,
}

/// A listed user with what their sessions say.
#[derive(Debug, Clone, Serialize)]
pub struct UserRow {
    /// The user (never their hash).
    #[serde(flatten)]
    pub view: UserView,
    /// Refresh-token families still standing.
    pub live_sessions: u64,
    /// When their latest refresh-token family began (a login that kept a session), if
    /// one is still stored.
    pub last_login_at: Option<i64>,
}

/// One page of users.
#[derive(Debug, Clone, Serialize)]
pub struct UserPage {
    /// The users on this page, by username.
    pub rows: Vec<UserRow>,
    /// How many users match in all.
    pub total: u64,
}

/// One page of users, searched and counted in SQL.
pub fn page(
    conn: &mut DbConnection,
    query: &UserQuery,
    hashing: HashParams,
    now: i64,
) -> Result<UserPage, AdminError> {
    let needle = match query.search.as_deref().map(str::trim) {
        Some(s) if s.chars().count() > MAX_SEARCH_CHARS => {
            return Err(AdminError::field(
                "search",
                format!("must be at most {MAX_SEARCH_CHARS} characters"),
            ))
        }
        Some("") | None => None,
        Some(s) => Some(s.to_lowercase()),
    };
    let per_page = query.per_page.clamp(1, MAX_PAGE_SIZE);
    let offset = i64::from(query.page).saturating_mul(i64::from(per_page));
    let (users, total) = User::page(conn, needle.as_deref(), offset, i64::from(per_page))?;
    let ids: Vec<String> = users.iter().map(|u| u.id.clone()).collect();
    let sessions = sessions_of_users(conn, &ids, now)?;
    let rows = users
        .into_iter()
        .map(|user| {
            let (live, last) = sessions
                .iter()
                .find(|(id, _, _)| *id == user.id)
                .map_or((0, None), |(_, n, at)| (*n, *at));
            UserRow {
                view: UserView::new(user, hashing),
                live_sessions: u64::try_from(live).unwrap_or(0),
                last_login_at: last,
            }
        })
        .collect();
    Ok(UserPage {
        rows,
        total: u64::try_from(total).unwrap_or(0),
    })
}

/// Ends every refresh-token family of a user (they must log in again once their
/// access tokens expire); returns how many ended.
pub fn end_sessions(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    now: i64,
) -> Result<usize, AdminError> {
    let user = find(conn, username)?;
    audit::transaction(conn, |conn| {
        let ended = revoke(conn, Families::OfUser(&user.id), now)?;
        let details = serde_json::json!({ "sessions_ended": ended });
        audit::record(
            conn,
            actor,
            "user.end_sessions",
            &user.username,
            details,
            now,
        )?;
        Ok(ended)
    })
}

/// Sets a new password; the user's refresh-token families end.
pub fn set_password(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    password_hash: &str,
    hashing: HashParams,
    now: i64,
) -> Result<UserView, AdminError> {
    let user = find(conn, username)?;
    audit::transaction(conn, |conn| {
        User::set_password_hash(conn, &user.id, password_hash, now)?;
        let ended = revoke(conn, Families::OfUser(&user.id), now)?;
        let details = serde_json::json!({ "sessions_ended": ended });
        audit::record(
            conn,
            actor,
            "user.set_password",
            &user.username,
            details,
            now,
        )
    })?;
    show(conn, username, hashing)
}

/// Enables or disables a user; disabling ends their refresh-token families.
pub fn set_disabled(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    disabled: bool,
    hashing: HashParams,
    now: i64,
) -> Result<UserView, AdminError> {
    let user = find(conn, username)?;
    audit::transaction(conn, |conn| {
        User::set_disabled(conn, &user.id, disabled, now)?;
        let action = if disabled {
            revoke(conn, Families::OfUser(&user.id), now)?;
            "user.disable"
        } else {
            "user.enable"
        };
        audit::record(
            conn,
            actor,
            action,
            &user.username,
            serde_json::json!({}),
            now,
        )
    })?;
    show(conn, username, hashing)
}

/// Deletes a user and their refresh-token families.
pub fn delete(
    conn: &mut DbConnection,
    actor: &str,
    username: &str,
    now: i64,
) -> Result<User, AdminError> {
    let user = find(conn, username)?;
    audit::transaction(conn, |conn| {
        User::delete(conn, &user.id)?;
        audit::record(
            conn,
            actor,
            "user.delete",
            &user.username,
            serde_json::json!({}),
            now,
        )
    })?;
    Ok(user)
}
