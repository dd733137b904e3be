//! tessera: a standalone OAuth 2.0 authorization server.
//!
//! The crate is a library shared by the binary and the integration tests. Layers:
//! `oauth` (the protocol, pure), `service` (what one request does, in which units of
//! work), `http` (actix handlers), `db` (Diesel, the only SQL), `keys` (signing keys),
//! `admin` (operations shared by CLI and admin API), `cli`.

pub mod admin;
pub mod cli;
pub mod config;
pub mod db;
pub mod http;
pub mod keys;
pub mod metrics;
pub mod oauth;
pub mod outbound;
pub mod service;
pub mod startup;
pub mod telemetry;
pub mod worker;
