//! What tessera tells operators about itself: logs (env_logger, to stderr) and, when an
//! OTLP endpoint is configured, OpenTelemetry traces (`export` sends them, `span` is
//! how the layers below http open spans); `redact` makes URLs fit to be printed.
//!
//! Logs stay on env_logger rather than being bridged into OpenTelemetry: the request
//! log line and every warning already reach stderr, where container platforms collect
//! them, and a bridge would put log records on the export queue the spans share.

pub mod export;
pub mod redact;
pub mod span;

/// Initialises the global logger once; later calls (tests) are ignored.
pub fn init(filter: &str) {
    let _ = env_logger::Builder::new()
        .parse_filters(filter)
        .format_timestamp_millis()
        .try_init();
}
