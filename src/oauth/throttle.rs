//! Brute-force throttling of password logins: fixed windows of attempts per username
//! and per client address. The counters live in the database; this is the policy.
//!
//! An attempt is counted before its password is checked, so the check is reserved:
//! N simultaneous attempts count 1..N, and only those within the limit are checked.
//! A failed check keeps its count; a success, or a check that never ran, gives it back.

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed in a window; the next attempt is refused until it ends.
    pub max_failures: i64,
    /// Window length, seconds.
    pub window: i64,
}

/// Whether an attempt that is the `attempts`-th counted in the window that opened at
/// `window_start` may have its password checked: `Err` with the seconds until the
/// window ends (at least 1) when it is over the limit.
pub fn admit(attempts: i64, window_start: i64, limit: Limit, now: i64) -> Result<(), i64> {
    if attempts <= limit.max_failures {
        return Ok(());
    }
    Err(window_start
        .saturating_add(limit.window)
        .saturating_sub(now)
        .max(1))
}

/// The counter key of a username.
pub fn user_key(username: &str) -> String {
    format!("user:{username}")
}

/// The counter key of a console operator's name (its first 64 characters, as typed):
/// apart from the users' keys, so a console attack never locks a user out.
pub fn operator_key(username: &str) -> String {
    format!("operator:{}", username.chars().take(64).collect::<String>())
}

/// The counter key of a client address.
pub fn addr_key(addr: &str) -> String {
    format!("addr:{addr}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const L: Limit = Limit {
        max_failures: 3,
        window: 60,
    };

    #[test]
    fn the_attempts_within_the_limit_are_checked_the_rest_wait_for_the_window() {
        assert_eq!(admit(1, 100, L, 110), Ok(()));
        assert_eq!(
            admit(3, 100, L, 110),
            Ok(()),
            "the third of three is checked"
        );
        assert_eq!(admit(4, 100, L, 110), Err(50));
        assert_eq!(admit(40, 100, L, 110), Err(50));
        assert_eq!(admit(4, 100, L, 160), Err(1), "never less than a second");
    }
}
