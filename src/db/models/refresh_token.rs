//! The `refresh_families` and `refresh_tokens` tables: issuing, rotating (one winner,
//! decided by a conditional UPDATE), revoking and purging refresh tokens.

use crate::db::schema::{refresh_families, refresh_tokens, users};
use crate::db::{DbConnection, DbError};
use diesel::prelude::*;

/// A family to start at login.
#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = refresh_families)]
pub struct NewFamily<'a> {
    /// Family id.
    pub id: &'a str,
    /// The client it was issued to.
    pub client_id: &'a str,
    /// The user it was issued for.
    pub user_id: &'a str,
    /// The scope granted at login (refreshes may only narrow it).
    pub scope: &'a str,
    /// DPoP key thumbprint the family is bound to, if any.
    pub dpop_jkt: Option<&'a str>,
    /// Unix seconds.
    pub created_at: i64,
    /// Absolute end of the family, Unix seconds.
    pub expires_at: i64,
}

#[derive(Debug, Clone, Insertable)]
#[diesel(table_name = refresh_tokens)]
struct NewToken<'a> {
    token_hash: &'a str,
    family_id: &'a str,
    parent_hash: Option<&'a str>,
    issued_at: i64,
}

/// What a successful rotation hands back: the family the new token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Family {
    /// Family id.
    pub id: String,
    /// The user.
    pub user_id: String,
    /// The user's external id, if any.
    pub user_external_id: Option<String>,
    /// The scope granted at login.
    pub scope: String,
    /// DPoP binding, if any.
    pub dpop_jkt: Option<String>,
    /// Absolute end, Unix seconds.
    pub expires_at: i64,
}

/// A stored refresh token with its family and its user, read as one row: what the
/// caller of [`rotate`] decides from.
#[derive(Debug, Clone, PartialEq, Eq, Queryable)]
pub struct StoredToken {
    /// Family id.
    pub family_id: String,
    /// When this token was rotated out, if it was.
    pub used_at: Option<i64>,
    /// The client the family was issued to.
    pub client_id: String,
    /// The user.
    pub user_id: String,
    /// The scope granted at login.
    pub scope: String,
    /// DPoP binding, if any.
    pub dpop_jkt: Option<String>,
    /// The family's absolute end, Unix seconds.
    pub expires_at: i64,
    /// When the family was revoked, if it was.
    pub revoked_at: Option<i64>,
    /// Whether the family's user is disabled.
    pub user_disabled: bool,
    /// The user's external id, if any.
    pub user_external_id: Option<String>,
}

impl StoredToken {
    /// The family this token belongs to.
    pub fn family(&self) -> Family {
        Family {
            id: self.family_id.clone(),
            user_id: self.user_id.clone(),
            user_external_id: self.user_external_id.clone(),
            scope: self.scope.clone(),
            dpop_jkt: self.dpop_jkt.clone(),
            expires_at: self.expires_at,
        }
    }
}

/// What the caller of [`rotate`] decided for a presented token, from its stored state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step<R, E> {
    /// Keep it used and store the successor; `R` is handed back.
    Rotate(R),
    /// Revoke the whole family (a rotated token presented again).
    RevokeFamily,
    /// Change nothing and report `E`.
    Refuse(E),
}

/// What presenting a refresh token did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rotation<R, E> {
    /// The successor is stored and the presented token used; the family and what the
    /// decision handed back.
    Rotated(Family, R),
    /// The decision refused: nothing changed.
    Refused(E),
    /// The family is revoked now.
    Revoked,
    /// No such token: nothing changed.
    Unknown,
}

/// Starts a family and stores its first token.
pub fn issue(
    conn: &mut DbConnection,
    family: &NewFamily<'_>,
    token_hash: &str,
) -> Result<(), DbError> {
    conn.transaction(|conn| {
        diesel::insert_into(refresh_families::table)
            .values(family)
            .execute(conn)?;
        insert_token(conn, token_hash, family.id, None, family.created_at)?;
        Ok(())
    })
}

fn insert_token(
    conn: &mut DbConnection,
    hash: &str,
    family_id: &str,
    parent: Option<&str>,
    now: i64,
) -> QueryResult<usize> {
    diesel::insert_into(refresh_tokens::table)
        .values(NewToken {
            token_hash: hash,
            family_id,
            parent_hash: parent,
            issued_at: now,
        })
        .execute(conn)
}

/// Presents the token hashed `presented` at `now`: `decide` sees its stored state
/// (as it was before this presentation) and says whether to rotate it to `successor`
/// (a hash), refuse, or revoke its family. Storage decides nothing itself.
///
/// One transaction whose first statement is the conditional
/// `UPDATE … SET used_at = now WHERE token_hash = ? AND used_at IS NULL`: of concurrent
/// presentations exactly one can find the token unused, on any replica (PostgreSQL
/// re-checks the condition after the winner commits; SQLite serialises writers).
/// Starting with the write also takes SQLite's write lock before anything is read.
/// Refusals roll back.
pub fn rotate<R, E>(
    conn: &mut DbConnection,
    presented: &str,
    successor: &str,
    now: i64,
    decide: impl Fn(&StoredToken) -> Step<R, E>,
) -> Result<Rotation<R, E>, DbError> {
    if let DbConnection::Pg(_) = conn {
        if let Some(done) = rotate_in_one_statement(conn, presented, successor, now, &decide)? {
            return Ok(done);
        }
    }
    let result = conn.transaction::<_, Abort<R, E>, _>(|conn| {
        let won = diesel::update(
            refresh_tokens::table
                .find(presented)
                .filter(refresh_tokens::used_at.is_null()),
        )
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)?
            == 1;
        let Some(mut stored) = inspect(conn, presented)? else {
            return Err(Abort::Outcome(Box::new(Rotation::Unknown)));
        };
        if won {
            stored.used_at = None; // as it was before this presentation
        }
        match decide(&stored) {
            Step::Rotate(r) => {
                insert_token(conn, successor, &stored.family_id, Some(presented), now)?;
                Ok(Rotation::Rotated(stored.family(), r))
            }
            Step::RevokeFamily => {
                revoke(conn, Families::One(&stored.family_id), now)?;
                Ok(Rotation::Revoked)
            }
            Step::Refuse(e) => Err(Abort::Outcome(Box::new(Rotation::Refused(e)))),
        }
    });
    match result {
        Ok(outcome) => Ok(outcome),
        Err(Abort::Outcome(outcome)) => Ok(*outcome),
        Err(Abort::Db(e)) => Err(DbError::from(e)),
    }
}

/// PostgreSQL fast path for the common case, a first use: one read, the decision,
/// then one statement that marks the token used and inserts its successor only if it
/// is still unused and its family still live — two round trips instead of five
/// (BEGIN, UPDATE, SELECT, INSERT, COMMIT). Anything else (already used, lost a race,
/// revoked meanwhile) returns `None` and the transactional path decides.
fn rotate_in_one_statement<R, E>(
    conn: &mut DbConnection,
    presented: &str,
    successor: &str,
    now: i64,
    decide: &impl Fn(&StoredToken) -> Step<R, E>,
) -> Result<Option<Rotation<R, E>>, DbError> {
    use diesel::sql_types::{BigInt, Text};
    #[derive(QueryableByName)]
    struct Won {
        #[diesel(sql_type = Text)]
        #[expect(dead_code, reason = "only whether a row came back matters")]
        family_id: String,
    }
    if !matches!(conn, DbConnection::Pg(_)) {
        return Ok(None);
    }
    let Some(stored) = inspect(conn, presented)? else {
        return Ok(Some(Rotation::Unknown));
    };
    if stored.used_at.is_some() {
        return Ok(None);
    }
    let accepted = match decide(&stored) {
        Step::Rotate(r) => r,
        Step::Refuse(e) => return Ok(Some(Rotation::Refused(e))),
        Step::RevokeFamily => return Ok(None),
    };
    // The WHERE below mirrors what `decide` just accepted (the refresh grant's rule in
    // oauth::grant::refresh_token::decide: the family's own client, not revoked, not
    // expired, user enabled, token unused), re-checked in the statement itself so a
    // change since the read makes it match nothing and the transactional path decide.
    let won: Vec<Won> = diesel::sql_query(
        "WITH won AS ( \
           UPDATE refresh_tokens t SET used_at = $1 \
           FROM refresh_families f JOIN users u ON u.id = f.user_id \
           WHERE t.token_hash = $2 AND t.used_at IS NULL AND f.id = t.family_id \
             AND f.revoked_at IS NULL AND f.expires_at > $1 AND f.client_id = $3 \
             AND NOT u.disabled \
           RETURNING t.family_id) \
         INSERT INTO refresh_tokens (token_hash, family_id, parent_hash, issued_at) \
         SELECT $4, family_id, $2, $1 FROM won RETURNING family_id",
    )
    .bind::<BigInt, _>(now)
    .bind::<Text, _>(presented)
    .bind::<Text, _>(&stored.client_id)
    .bind::<Text, _>(successor)
    .load(match conn {
        DbConnection::Pg(pg) => pg,
        DbConnection::Sqlite(_) => return Ok(None),
    })?;
    Ok((!won.is_empty()).then(|| Rotation::Rotated(stored.family(), accepted)))
}

/// Ends a rotation transaction early: with an outcome to report after rolling back
/// (nothing the refused request did is kept), or on a database error.
enum Abort<R, E> {
    Outcome(Box<Rotation<R, E>>),
    Db(diesel::result::Error),
}

impl<R, E> From<diesel::result::Error> for Abort<R, E> {
    fn from(e: diesel::result::Error) -> Self {
        Abort::Db(e)
    }
}

/// The token hashed `hash`, with its family and user (`None`: no such token).
pub fn inspect(conn: &mut DbConnection, hash: &str) -> QueryResult<Option<StoredToken>> {
    refresh_tokens::table
        .inner_join(refresh_families::table.inner_join(users::table))
        .filter(refresh_tokens::token_hash.eq(hash))
        .select((
            refresh_families::id,
            refresh_tokens::used_at,
            refresh_families::client_id,
            refresh_families::user_id,
            refresh_families::scope,
            refresh_families::dpop_jkt,
            refresh_families::expires_at,
            refresh_families::revoked_at,
            users::disabled,
            users::external_id,
        ))
        .first(conn)
        .optional()
}

/// Whose live refresh-token families to revoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Families<'a> {
    /// One family (reuse detected, or revoked through RFC 7009).
    One(&'a str),
    /// Every family of a user (password change, disable).
    OfUser(&'a str),
    /// Every family of a client (client disabled).
    OfClient(&'a str),
}

/// Revokes the live families selected (idempotent); returns how many.
pub fn revoke(conn: &mut DbConnection, which: Families<'_>, now: i64) -> QueryResult<usize> {
    use refresh_families::{client_id, id, revoked_at, user_id};
    let live = refresh_families::table.filter(revoked_at.is_null());
    let revoked = revoked_at.eq(now);
    match which {
        Families::One(f) => diesel::update(live.filter(id.eq(f)))
            .set(revoked)
            .execute(conn),
        Families::OfUser(u) => diesel::update(live.filter(user_id.eq(u)))
            .set(revoked)
            .execute(conn),
        Families::OfClient(c) => diesel::update(live.filter(client_id.eq(c)))
            .set(revoked)
            .execute(conn),
    }
}

/// Each listed user's refresh-token families: how many still stand at `now` (not
/// revoked, not ended) and when the latest one started (its login), as
/// `(user_id, live, latest_start)`; users without a family are left out.
pub fn sessions_of_users(
    conn: &mut DbConnection,
    user_ids: &[String],
    now: i64,
) -> QueryResult<Vec<(String, i64, Option<i64>)>> {
    use diesel::dsl::{count_star, max};
    use refresh_families::{created_at, expires_at, revoked_at, user_id};
    let latest: Vec<(String, Option<i64>)> = refresh_families::table
        .filter(user_id.eq_any(user_ids))
        .group_by(user_id)
        .select((user_id, max(created_at)))
        .load(conn)?;
    let live: Vec<(String, i64)> = refresh_families::table
        .filter(user_id.eq_any(user_ids))
        .filter(revoked_at.is_null())
        .filter(expires_at.gt(now))
        .group_by(user_id)
        .select((user_id, count_star()))
        .load(conn)?;
    Ok(latest
        .into_iter()
        .map(|(user, started)| {
            let n = live.iter().find(|(u, _)| *u == user).map_or(0, |(_, n)| *n);
            (user, n, started)
        })
        .collect())
}

/// Deletes families (and, by cascade, their tokens) that ended before `now`, or were
/// revoked more than `revoked_retention` seconds ago. Returns how many.
pub fn purge(conn: &mut DbConnection, now: i64, revoked_retention: i64) -> QueryResult<usize> {
    let ended = refresh_families::table.filter(
        refresh_families::expires_at
            .le(now)
            .or(refresh_families::revoked_at.le(now.saturating_sub(revoked_retention))),
    );
    let ids: Vec<String> = ended
        .select(refresh_families::id)
        .limit(10_000)
        .load(conn)?;
    if ids.is_empty() {
        return Ok(0);
    }
    conn.transaction(|conn| {
        diesel::delete(refresh_tokens::table.filter(refresh_tokens::family_id.eq_any(&ids)))
            .execute(conn)?;
        diesel::delete(refresh_families::table.filter(refresh_families::id.eq_any(&ids)))
            .execute(conn)
    })
}
