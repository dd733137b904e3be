//! The test harness: a real tessera server on a random port over a fresh database,
//! the real CLI binary, and verification the way a resource server does it.
//!
//! One module per concern; everything is re-exported here, so tests name `helpers::X`.

mod answer;
mod app;
mod browser;
mod cli;
mod db;
mod jwks_server;
mod oauth2_client;
mod otlp_receiver;
mod process;
mod test_issuer;
mod verify;

pub use answer::*;
pub use app::*;
pub use browser::*;
pub use cli::*;
pub use db::*;
pub use jwks_server::*;
pub use oauth2_client::*;
pub use otlp_receiver::*;
pub use process::*;
pub use test_issuer::*;
pub use verify::*;
