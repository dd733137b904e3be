//! `grant_type=password` (RFC 6749 §4.3): a first-party client logs a user in.
//!
//! This module parses and checks the request; verifying the password (slow, throttled)
//! and storing the refresh token happen outside the pure protocol layer.

use crate::oauth::form::FormParams;
use crate::oauth::password::{normalize_username, MAX_PASSWORD_BYTES};
use crate::oauth::scope::{self, Scope};
use crate::oauth::{OAuthError, RegisteredClient};

/// A checked login request.
#[derive(Debug)]
pub struct Login<'a> {
    /// The normalised username, or `None` when it cannot name any user (the login is
    /// refused like a wrong password, after the same work).
    pub username: Option<String>,
    /// The username as typed (for the throttle key when it cannot be normalised).
    pub raw_username: &'a str,
    /// The password.
    pub password: &'a str,
    /// The scope the tokens will carry.
    pub scope: Scope,
}

/// Checks a password-grant request from `client`.
pub fn request<'a>(
    client: &RegisteredClient,
    params: &'a FormParams,
) -> Result<Login<'a>, OAuthError> {
    let raw_username = params.require("username")?;
    let password = params.require("password")?;
    if password.len() > MAX_PASSWORD_BYTES {
        return Err(OAuthError::invalid_request(
            "password is longer than 1024 bytes",
        ));
    }
    let scope = scope::resolve(params.get("scope"), &client.scope)?;
    Ok(Login {
        username: normalize_username(raw_username).ok(),
        raw_username,
        password,
        scope,
    })
}

/// The one answer to a wrong username or password, whichever it was.
pub fn bad_credentials() -> OAuthError {
    OAuthError::invalid_grant("invalid username or password")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oauth::{ErrorCode, GrantType};

    fn client(grants: Vec<GrantType>) -> RegisteredClient {
        RegisteredClient::for_tests("app", "profile orders", grants)
    }

    fn parse(body: &str) -> FormParams {
        FormParams::parse(body.as_bytes()).expect("form")
    }

    #[test]
    fn needs_the_grant_username_and_password() {
        let c = client(vec![GrantType::Password]);
        let p = parse("grant_type=password&username=Alice&password=pw&scope=profile");
        let login = request(&c, &p).expect("ok");
        assert_eq!(login.username.as_deref(), Some("alice"));
        assert_eq!(login.scope.to_string(), "profile");

        let err = request(&c, &parse("grant_type=password&username=a")).expect_err("no pw");
        assert_eq!(err.code, ErrorCode::InvalidRequest);
        let err = request(
            &c,
            &parse("grant_type=password&username=a&password=p&scope=admin"),
        )
        .expect_err("scope");
        assert_eq!(err.code, ErrorCode::InvalidScope);
    }
}
