//! The `clients` table.

use crate::db::schema::clients;
use crate::db::DbConnection;
use diesel::prelude::*;
use serde::Serialize;

/// A client row as stored (read and inserted whole).
#[derive(Debug, Clone, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = clients)]
pub struct Client {
    /// Public identifier.
    pub client_id: String,
    /// Human name.
    pub name: String,
    /// Hex SHA-256 of the secret.
    #[serde(skip)]
    pub secret_hash: Option<String>,
    /// RFC 7591 `token_endpoint_auth_method`.
    pub auth_method: String,
    /// Space-separated scope tokens.
    pub scope: String,
    /// Space-separated grant types.
    pub grant_types: String,
    /// Space-separated audiences.
    pub audiences: String,
    /// Per-client access-token lifetime.
    pub access_token_ttl: Option<i64>,
    /// Per-client refresh-token family lifetime.
    pub refresh_token_ttl: Option<i64>,
    /// Per-client refresh reuse grace.
    pub refresh_reuse_grace: Option<i64>,
    /// Disabled clients cannot authenticate.
    pub disabled: bool,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
    /// Tokens only with a DPoP proof (RFC 9449 `dpop_bound_access_tokens`).
    pub require_dpop: bool,
    /// `private_key_jwt`: the client's JWK Set, inline.
    pub jwks: Option<String>,
    /// `private_key_jwt`: where the client publishes its JWK Set.
    pub jwks_uri: Option<String>,
    /// Hex SHA-256 of the secret before the current one, while it overlaps.
    #[serde(skip)]
    pub previous_secret_hash: Option<String>,
    /// Unix seconds when the previous secret stops working.
    pub previous_secret_expires_at: Option<i64>,
    /// `federated`: the trusted issuer (by name) whose tokens authenticate the client.
    pub federated_issuer: Option<String>,
    /// `federated`: the token's `sub` (exact, or a prefix ending in `*`).
    pub federated_subject: Option<String>,
    /// `federated`: claims the token must carry with these values (a JSON object).
    pub federated_claims: Option<String>,
    /// `apply` for a client `tessera apply` created; `None` for one made by hand.
    pub managed_by: Option<String>,
    /// Space-separated resource URIs: the client's own API, as tokens name it in `aud`.
    pub resource_uris: String,
    /// Unix seconds when the current secret was set; `None` before this was kept (the
    /// secret then dates from `created_at`) and for clients without a secret.
    pub secret_created_at: Option<i64>,
}

/// Changes to a client; `None` leaves a column as it is.
#[derive(Debug, Clone, Default, AsChangeset)]
#[diesel(table_name = clients)]
pub struct ClientChanges {
    /// New name.
    pub name: Option<String>,
    /// New secret hash.
    pub secret_hash: Option<Option<String>>,
    /// New scope.
    pub scope: Option<String>,
    /// New grant types.
    pub grant_types: Option<String>,
    /// New audiences.
    pub audiences: Option<String>,
    /// New access-token lifetime.
    pub access_token_ttl: Option<Option<i64>>,
    /// New refresh-token lifetime.
    pub refresh_token_ttl: Option<Option<i64>>,
    /// New reuse grace.
    pub refresh_reuse_grace: Option<Option<i64>>,
    /// Enable or disable.
    pub disabled: Option<bool>,
    /// Require DPoP.
    pub require_dpop: Option<bool>,
    /// New inline JWK Set.
    pub jwks: Option<Option<String>>,
    /// New `jwks_uri`.
    pub jwks_uri: Option<Option<String>>,
    /// The secret that keeps working for a while after a rotation.
    pub previous_secret_hash: Option<Option<String>>,
    /// When it stops.
    pub previous_secret_expires_at: Option<Option<i64>>,
    /// New federated binding: issuer.
    pub federated_issuer: Option<Option<String>>,
    /// New federated binding: subject.
    pub federated_subject: Option<Option<String>>,
    /// New federated binding: claims.
    pub federated_claims: Option<Option<String>>,
    /// Who manages the client (`apply`), or by hand.
    pub managed_by: Option<Option<String>>,
    /// New resource URIs.
    pub resource_uris: Option<String>,
    /// When the new secret was set.
    pub secret_created_at: Option<Option<i64>>,
    /// Always set by `update`.
    pub updated_at: Option<i64>,
}

impl Client {
    /// The client with this id, if any.
    pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Client>> {
        clients::table
            .find(id)
            .select(Client::as_select())
            .first(conn)
            .optional()
    }

    /// The client, for a read-modify-write inside a transaction: on PostgreSQL its row
    /// is locked (`FOR UPDATE`) until the transaction ends, so a concurrent change
    /// commits before the read or waits for the write, and is never written over with
    /// what was read before it. SQLite's write transactions already run one at a time.
    pub fn find_for_update(conn: &mut DbConnection, id: &str) -> QueryResult<Option<Client>> {
        match conn {
            DbConnection::Pg(pg) => clients::table
                .find(id)
                .select(Client::as_select())
                .for_update()
                .first(pg)
                .optional(),
            DbConnection::Sqlite(_) => Client::find(conn, id),
        }
    }

    /// How many clients there are.
    pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
        clients::table.count().get_result(conn)
    }

    /// Every client, oldest first.
    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<Client>> {
        clients::table
            .order((clients::created_at.asc(), clients::client_id.asc()))
            .select(Client::as_select())
            .load(conn)
    }

    /// The longest per-client access-token lifetime, if any client has one.
    pub fn max_access_token_ttl(conn: &mut DbConnection) -> QueryResult<Option<i64>> {
        clients::table
            .select(diesel::dsl::max(clients::access_token_ttl))
            .first(conn)
    }

    /// How many clients still accept a previous secret at `now` (a rotation's
    /// overlap), and how many of those stop accepting it before `until`.
    pub fn previous_secret_counts(
        conn: &mut DbConnection,
        now: i64,
        until: i64,
    ) -> QueryResult<(i64, i64)> {
        use clients::{previous_secret_expires_at as ends, previous_secret_hash};
        let live = || {
            clients::table
                .filter(previous_secret_hash.is_not_null())
                .filter(ends.gt(now))
        };
        let overlapping = live().count().get_result(conn)?;
        let ending = live().filter(ends.le(until)).count().get_result(conn)?;
        Ok((overlapping, ending))
    }

    /// Inserts a client.
    pub fn insert(conn: &mut DbConnection, new: &Client) -> QueryResult<()> {
        diesel::insert_into(clients::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// Applies `changes` at `now`; returns whether the client existed.
    pub fn update(
        conn: &mut DbConnection,
        id: &str,
        mut changes: ClientChanges,
        now: i64,
    ) -> QueryResult<bool> {
        changes.updated_at = Some(now);
        let n = diesel::update(clients::table.find(id))
            .set(&changes)
            .execute(conn)?;
        Ok(n == 1)
    }

    /// The clients bound to the trusted issuer `name`.
    pub fn bound_to_issuer(conn: &mut DbConnection, name: &str) -> QueryResult<Vec<Client>> {
        clients::table
            .filter(clients::federated_issuer.eq(name))
            .order(clients::client_id.asc())
            .select(Client::as_select())
            .load(conn)
    }

    /// Deletes a client; returns whether it existed.
    pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
        Ok(diesel::delete(clients::table.find(id)).execute(conn)? == 1)
    }
}
