//! Logging: env_logger with the configured filter, to stderr.

/// Initialises the global logger once; later calls (tests) are ignored.
pub fn init(filter: &str) {
    let _ = env_logger::Builder::new()
        .parse_filters(filter)
        .format_timestamp_millis()
        .try_init();
}
