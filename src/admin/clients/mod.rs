//! Clients, as one model: raw attributes under neutral names ([`ClientFields`]) → one
//! validator holding every rule ([`validate`]) → a valid client in stored form → the
//! operations ([`ops`]) → what operators see ([`ClientView`]). The CLI, RFC 7591/7592
//! and `apply` fill the fields and render [`AdminError::InvalidField`]'s neutral name
//! as their own (a flag, a metadata member, a TOML key); none of them holds a rule.
//!
//! [`AdminError::InvalidField`]: crate::admin::AdminError::InvalidField

pub mod detail;
pub mod fields;
pub mod inventory;
pub mod ops;
pub mod overlap;
pub mod validate;
pub mod view;

pub use detail::{detail, revoke_sessions, ClientDetail};
pub use fields::{ClientFields, ClientPatch};
pub use inventory::{
    daily_usage, inventory, stale_counts, Filter, InventoryPage, InventoryQuery, InventoryRow,
    Sort, SortKey,
};
pub use ops::{
    create, delete, list, patch, provide_secret, rotate_secret, set_disabled, set_keys, show,
    update, APPLY, MAX_KEEP_OLD_SECS,
};
pub use validate::{auth_method_names, grant_type_names, Policy};
pub use view::{ClientView, CreatedClient};
