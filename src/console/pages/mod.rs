//! The console's pages, one module each, every one registering its own routes.

pub mod overview;
