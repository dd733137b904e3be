//! The console's pages, one module each, every one registering its own routes.

pub mod client;
pub mod client_form;
pub mod clients;
pub mod overview;
