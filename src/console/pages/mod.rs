//! The console's pages, one module each, every one registering its own routes.

pub mod audit;
pub mod client;
pub mod client_form;
pub mod clients;
pub mod explain;
pub mod issuers;
pub mod keys;
pub mod outcome;
pub mod overview;
pub mod users;
