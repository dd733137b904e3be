//! tessera's integration tests: one binary, one module per capability.

mod admin_api;
mod apply;
mod bad_input;
mod cli;
mod client_credentials;
mod discovery;
mod django;
mod dpop;
mod federation;
mod first_use;
mod hardening;
mod helpers;
mod jose;
mod keys;
mod kubernetes;
mod layout;
mod lifecycle;
mod password;
mod private_key_jwt;
mod refresh;
mod replicas;
mod schema;
mod simplejwt;
mod token_exchange;
mod traces;
mod user_import;
