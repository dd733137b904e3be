//! tessera: a standalone OAuth 2.0 authorization server.
//!
//! The crate is a library shared by the binary and the integration tests. Layers:
//! `oauth` (the protocol, pure), `service` (what one request does, in which units of
//! work), `http` (actix handlers), `db` (Diesel, the only SQL), `keys` (signing keys),
//! `admin` (operations shared by CLI and admin API), `cli`.
//!
//! Outside tests, no code of the library may panic on what it reads: a byte index
//! into text, an index or slice out of bounds, an overflow, an `unwrap` or `expect`
//! are refused here for every module, new ones included (CONTRIBUTING.md, "Reading
//! outside bytes"). The few truly infallible sites say why under `#[expect]`.
#![cfg_attr(
    not(test),
    deny(
        clippy::string_slice,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects,
        clippy::unwrap_used,
        clippy::expect_used
    )
)]

pub mod admin;
pub mod cli;
pub mod config;
pub mod console;
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
