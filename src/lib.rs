//! tessera: a standalone OAuth 2.0 authorization server.
//!
//! The crate is a library shared by the binary and the integration tests. Layers:
//! `oauth` (the protocol, pure), `http` (actix handlers), `db` (Diesel, the only SQL),
//! `keys` (signing keys), `admin` (operations shared by CLI and admin API), `cli`.

pub mod admin;
pub mod cli;
pub mod client_cache;
pub mod client_jwks;
pub mod config;
pub mod db;
pub mod http;
pub mod keys;
pub mod login;
pub mod metrics;
pub mod oauth;
pub mod outbound;
pub mod priority;
pub mod startup;
pub mod state;
pub mod tasks;
pub mod telemetry;
