//! Row types, one module per table, with their queries beside them.

pub mod client;
pub mod meta;
pub mod signing_key;

pub use client::{Client, ClientChanges, NewClient};
pub use signing_key::{KeyState, NewSigningKey, SigningKeyRow};
