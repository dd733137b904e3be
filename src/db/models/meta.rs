//! The `server_meta` table: small server-wide facts.

use crate::db::schema::server_meta;
use crate::db::DbConnection;
use diesel::prelude::*;

/// Name of the fact recording that the bootstrap admin client was created.
pub const BOOTSTRAPPED: &str = "bootstrap_admin_created";
/// Name of the fact that changes (to a new random value) whenever the signing keys
/// change: replicas poll this one row and reload the keys only when it moved.
pub const SIGNING_KEYS_CHANGED: &str = "signing_keys_changed";

/// The value of a fact, if recorded.
pub fn get(conn: &mut DbConnection, name: &str) -> QueryResult<Option<String>> {
    server_meta::table
        .find(name)
        .select(server_meta::value)
        .first(conn)
        .optional()
}

/// Records a fact (inserting; the caller holds the write lock and checked `get`).
pub fn insert(conn: &mut DbConnection, name: &str, value: &str) -> QueryResult<()> {
    diesel::insert_into(server_meta::table)
        .values((server_meta::name.eq(name), server_meta::value.eq(value)))
        .execute(conn)
        .map(|_| ())
}

/// Sets a fact, inserting it when it is not recorded yet (the caller holds the lock
/// that orders writers of this fact).
pub fn set(conn: &mut DbConnection, name: &str, value: &str) -> QueryResult<()> {
    let updated = diesel::update(server_meta::table.find(name))
        .set(server_meta::value.eq(value))
        .execute(conn)?;
    if updated == 0 {
        insert(conn, name, value)?;
    }
    Ok(())
}
