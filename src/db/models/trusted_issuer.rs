//! The `trusted_issuers` table: outside token issuers whose JWTs authenticate
//! federated clients.

use crate::db::schema::trusted_issuers;
use crate::db::DbConnection;
use diesel::prelude::*;
use serde::Serialize;

/// A trusted issuer as stored (read and inserted whole).
#[derive(Debug, Clone, PartialEq, Eq, Queryable, Selectable, Insertable, Serialize)]
#[diesel(table_name = trusted_issuers)]
pub struct TrustedIssuer {
    /// The operator's name for it.
    pub name: String,
    /// The `iss` its tokens carry (for SPIFFE: `spiffe://<trust domain>` by default).
    pub issuer: String,
    /// Where its JWK Set is published, if given.
    pub jwks_uri: Option<String>,
    /// Its JWK Set, inline, if given.
    pub jwks: Option<String>,
    /// A SPIFFE issuer's trust domain.
    pub spiffe_trust_domain: Option<String>,
    /// Longest `exp − iat` accepted, seconds.
    pub max_token_age: i64,
    /// `cli` or `apply`.
    pub created_by: String,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds.
    pub updated_at: i64,
}

impl TrustedIssuer {
    /// The issuer named `name`, if any.
    pub fn find(conn: &mut DbConnection, name: &str) -> QueryResult<Option<TrustedIssuer>> {
        trusted_issuers::table
            .find(name)
            .select(TrustedIssuer::as_select())
            .first(conn)
            .optional()
    }

    /// The issuer whose tokens carry `iss`, if any.
    pub fn find_by_issuer(
        conn: &mut DbConnection,
        iss: &str,
    ) -> QueryResult<Option<TrustedIssuer>> {
        trusted_issuers::table
            .filter(trusted_issuers::issuer.eq(iss))
            .select(TrustedIssuer::as_select())
            .first(conn)
            .optional()
    }

    /// The SPIFFE issuer of trust domain `td`, if any.
    pub fn find_by_trust_domain(
        conn: &mut DbConnection,
        td: &str,
    ) -> QueryResult<Option<TrustedIssuer>> {
        trusted_issuers::table
            .filter(trusted_issuers::spiffe_trust_domain.eq(td))
            .select(TrustedIssuer::as_select())
            .first(conn)
            .optional()
    }

    /// Every issuer, by name.
    pub fn list(conn: &mut DbConnection) -> QueryResult<Vec<TrustedIssuer>> {
        trusted_issuers::table
            .order(trusted_issuers::name.asc())
            .select(TrustedIssuer::as_select())
            .load(conn)
    }

    /// Inserts an issuer.
    pub fn insert(conn: &mut DbConnection, new: &TrustedIssuer) -> QueryResult<()> {
        diesel::insert_into(trusted_issuers::table)
            .values(new)
            .execute(conn)
            .map(|_| ())
    }

    /// Replaces an issuer's key source, issuer identifier and limits (by name).
    pub fn replace(conn: &mut DbConnection, row: &TrustedIssuer) -> QueryResult<bool> {
        use trusted_issuers::dsl;
        let n = diesel::update(dsl::trusted_issuers.find(&row.name))
            .set((
                dsl::issuer.eq(&row.issuer),
                dsl::jwks_uri.eq(&row.jwks_uri),
                dsl::jwks.eq(&row.jwks),
                dsl::spiffe_trust_domain.eq(&row.spiffe_trust_domain),
                dsl::max_token_age.eq(row.max_token_age),
                dsl::updated_at.eq(row.updated_at),
            ))
            .execute(conn)?;
        Ok(n == 1)
    }

    /// Deletes an issuer; returns whether it existed.
    pub fn delete(conn: &mut DbConnection, name: &str) -> QueryResult<bool> {
        Ok(diesel::delete(trusted_issuers::table.find(name)).execute(conn)? == 1)
    }
}
