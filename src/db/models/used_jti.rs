//! The `used_jtis` table: single-use JWT ids (DPoP proofs, client assertions), shared
//! by every replica.

use crate::db::schema::used_jtis;
use crate::db::DbConnection;
use diesel::prelude::*;
use diesel::result::{DatabaseErrorKind, Error};

/// Records `key` as used until `expires_at`; `false` if it was used before (a replay).
/// The primary key decides, so two replicas seeing the same proof cannot both accept it.
pub fn claim(conn: &mut DbConnection, key: &str, expires_at: i64) -> QueryResult<bool> {
    let inserted = diesel::insert_into(used_jtis::table)
        .values((
            used_jtis::jti_key.eq(key),
            used_jtis::expires_at.eq(expires_at),
        ))
        .execute(conn);
    match inserted {
        Ok(_) => Ok(true),
        Err(Error::DatabaseError(DatabaseErrorKind::UniqueViolation, _)) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Claims every key, or none: the index of the first one used before, with nothing
/// recorded, or `None` when all were fresh and are now used.
pub fn claim_all(conn: &mut DbConnection, keys: &[(String, i64)]) -> QueryResult<Option<usize>> {
    if let [(key, until)] = keys {
        return Ok((!claim(conn, key, *until)?).then_some(0));
    }
    let mut replayed = None;
    let done = conn.transaction(|conn| {
        for (i, (key, until)) in keys.iter().enumerate() {
            if !claim(conn, key, *until)? {
                replayed = Some(i);
                return Err(Error::RollbackTransaction);
            }
        }
        Ok(())
    });
    match (done, replayed) {
        (Ok(()), _) => Ok(None),
        (Err(Error::RollbackTransaction), Some(i)) => Ok(Some(i)),
        (Err(e), _) => Err(e),
    }
}

/// Forgets ids whose proofs have expired.
pub fn purge(conn: &mut DbConnection, now: i64) -> QueryResult<usize> {
    diesel::delete(used_jtis::table.filter(used_jtis::expires_at.le(now))).execute(conn)
}
