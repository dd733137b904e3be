//! Row types, one module per table, with their queries beside them.

pub mod audit;
pub mod client;
pub mod login_failure;
pub mod meta;
pub mod operator;
pub mod refresh_token;
pub mod revoked_token;
pub mod signing_key;
pub mod trusted_issuer;
pub mod usage;
pub mod used_jti;
pub mod user;

pub use client::{Client, ClientChanges};
pub use operator::{OperatorRow, SessionRow};
pub use signing_key::{KeyState, NewSigningKey, SigningKeyRow};
pub use trusted_issuer::TrustedIssuer;
pub use user::{ImportedChange, NewUser, User};
