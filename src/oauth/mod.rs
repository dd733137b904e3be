//! The OAuth 2.0 protocol, pure: request parsing, client authentication, grants and
//! token claims. Nothing here knows the web framework or the database; handlers pass
//! in what a decision needs (the client, the clock, the settings) and render the result.

pub mod binding;
pub mod certificate;
pub mod client;
pub mod client_assertion;
pub mod client_auth;
pub mod client_keys;
pub mod django_hash;
pub mod dpop;
pub mod error;
pub mod federation;
pub mod form;
pub mod grant;
pub mod hash_ceiling;
pub mod jws;
pub mod password;
pub mod scope;
pub mod secret;
pub mod simplejwt;
pub mod throttle;
pub mod token;

pub use client::{AuthMethod, ClientKeys, GrantType, RegisteredClient};
pub use error::{ErrorCode, OAuthError};
pub use scope::Scope;
