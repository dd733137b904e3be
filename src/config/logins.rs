//! The `logins` section: how many failed logins lock a username or a client address,
//! and for how long.

use super::section::section;
use crate::oauth::throttle::Limit;

section! {
    /// The failed-login throttle.
    Logins, LoginsArgs;

    /// Failed logins per username before it is locked for the window
    login_max_failures: i64 = 5, "N" env "TESSERA_LOGIN_MAX_FAILURES",
        check |n| *n >= 1, "must be at least 1";
    /// Failed logins per client address before it is locked for the window
    login_max_failures_per_addr: i64 = 20, "N" env "TESSERA_LOGIN_MAX_FAILURES_PER_ADDR",
        check |n| *n >= 1, "must be at least 1";
    /// Length of the failed-login window and lockout, seconds
    login_lockout: i64 = 300, "SECS" env "TESSERA_LOGIN_LOCKOUT",
        check |t| (1..=86_400).contains(t), "must be 1 to 86400 seconds";
}

impl Logins {
    /// The per-username limit.
    pub fn user_limit(&self) -> Limit {
        Limit {
            max_failures: self.login_max_failures,
            window: self.login_lockout,
        }
    }

    /// The per-address limit.
    pub fn addr_limit(&self) -> Limit {
        Limit {
            max_failures: self.login_max_failures_per_addr,
            window: self.login_lockout,
        }
    }
}
