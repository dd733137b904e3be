//! The `console` section: whether the admin console is served at `/console/`, and how
//! long a signed-in operator may stay idle.

use super::section::section;

section! {
    /// The admin console.
    Console, ConsoleArgs;

    /// Serve the admin console at /console/ (false: /console/ is 404)
    console: bool = true, "BOOL" env "TESSERA_CONSOLE";
    /// Seconds a console session may stay unused before it ends (it ends after 12 h anyway)
    console_idle_timeout: i64 = 1800, "SECS" env "TESSERA_CONSOLE_IDLE_TIMEOUT",
        check |t| (1..=43_200).contains(t), "must be 1 to 43200 seconds";
}
