//! The first start on an empty database: one admin client, created exactly once even
//! when several replicas start together.

use super::clients::{create, ClientFields, CreatedClient, Policy};
use super::AdminError;
use crate::db::models::meta;
use crate::db::{write_transaction, DbConnection, WriteLock};

use crate::oauth::scope::ADMIN_SCOPE;

/// Creates the bootstrap admin client unless one was created before (by this process
/// or any other). Returns it, with its secret, only to the process that created it.
pub fn ensure_admin_client(
    conn: &mut DbConnection,
    now: i64,
) -> Result<Option<CreatedClient>, AdminError> {
    if meta::get(conn, meta::BOOTSTRAPPED)?.is_some() {
        return Ok(None);
    }
    crate::db::audit::committed(conn, |conn| {
        write_transaction(conn, WriteLock::Bootstrap, |conn| bootstrap(conn, now))
    })?
}

/// Inside the bootstrap lock: the client, unless another process made it meanwhile.
fn bootstrap(
    conn: &mut DbConnection,
    now: i64,
) -> Result<Result<Option<CreatedClient>, AdminError>, crate::db::DbError> {
    if meta::get(conn, meta::BOOTSTRAPPED)?.is_some() {
        return Ok(Ok(None));
    }
    let fields = ClientFields {
        name: "bootstrap admin".into(),
        scope: ADMIN_SCOPE.into(),
        ..Default::default()
    };
    let policy = Policy {
        may_grant_admin: true,
        ..Policy::default()
    };
    let created = match create(conn, "server", &fields, policy, now) {
        Ok(c) => c,
        Err(AdminError::Db(e)) => return Err(e),
        Err(other) => return Ok(Err(other)),
    };
    meta::insert(conn, meta::BOOTSTRAPPED, &created.client.client_id)?;
    Ok(Ok(Some(created)))
}
