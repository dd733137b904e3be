//! The connection enum over both backends (Diesel's `MultiConnection`).

#![expect(
    missing_docs,
    reason = "the MultiConnection derive generates undocumented items"
)]

/// A connection to either backend; queries are written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    /// The embedded default.
    Sqlite(diesel::SqliteConnection),
    /// Production, shared by replicas.
    Pg(diesel::PgConnection),
}
