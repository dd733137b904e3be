//! Brute-force throttling of password logins: fixed windows of failures per username
//! and per client address. The counters live in the database; this is the policy.

/// Limits for one kind of key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Failures allowed in a window; the next attempt is refused until it ends.
    pub max_failures: i64,
    /// Window length, seconds.
    pub window: i64,
}

/// Seconds until a key with `failures` counted since `window_start` may try again, or
/// `None` when it may try now.
pub fn retry_after(failures: i64, window_start: i64, limit: Limit, now: i64) -> Option<i64> {
    let ends = window_start + limit.window;
    (failures >= limit.max_failures && now < ends).then_some(ends - now)
}

/// The counter key of a username.
pub fn user_key(username: &str) -> String {
    format!("user:{username}")
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
    fn locks_at_the_limit_until_the_window_ends() {
        assert_eq!(retry_after(2, 100, L, 110), None);
        assert_eq!(retry_after(3, 100, L, 110), Some(50));
        assert_eq!(retry_after(3, 100, L, 160), None);
    }
}
