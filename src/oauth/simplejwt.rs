//! The claims djangorestframework-simplejwt's stock `JWTAuthentication` reads, on the
//! user tokens of the `simplejwt_client`: `token_type: "access"`, and `user_id` naming
//! the Django user — the user's external id (the Django pk, a JSON number when it is
//! all digits, as Django's integer pks are) or, for a user with none, the tessera id.

use super::token::AccessTokenClaims;
use serde_json::Value;

/// simplejwt's `token_type` of an access token.
pub const ACCESS: &str = "access";

/// Adds simplejwt's claims for the user `user_id` (tessera id) with `external_id`.
pub fn add_claims(claims: &mut AccessTokenClaims, user_id: &str, external_id: Option<&str>) {
    claims.token_type = Some(ACCESS.to_string());
    claims.user_id = Some(match external_id {
        Some(ext) => as_json_id(ext),
        None => Value::String(user_id.to_string()),
    });
}

/// An id as JSON: a number when it is a canonical non-negative integer that fits in
/// 64 bits (no sign, no leading zero: `"007"` stays a string), else the string.
fn as_json_id(id: &str) -> Value {
    let canonical = !id.is_empty()
        && id.bytes().all(|b| b.is_ascii_digit())
        && (id == "0" || !id.starts_with('0'));
    match id.parse::<u64>() {
        Ok(n) if canonical => Value::from(n),
        _ => Value::String(id.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_ids_are_numbers_and_others_strings() {
        assert_eq!(as_json_id("42"), Value::from(42u64));
        assert_eq!(as_json_id("0"), Value::from(0u64));
        assert_eq!(as_json_id("007"), Value::from("007"));
        assert_eq!(as_json_id("-3"), Value::from("-3"));
        assert_eq!(
            as_json_id("18446744073709551616"),
            Value::from("18446744073709551616")
        );
        assert_eq!(as_json_id("a1b2"), Value::from("a1b2"));
    }
}
