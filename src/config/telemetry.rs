//! The `telemetry` section: the log filter, the OTLP trace export and the metrics'
//! labels.

use super::log_filter;
use super::section::{millis, secs, section};
use std::time::Duration;

section! {
    /// Logs, traces and metrics.
    Telemetry, TelemetryArgs;

    /// env_logger filter (set by the global `--log`); RUST_LOG also works
    log: String => Option<String>: checked_log, "FILTER";
    /// OpenTelemetry collector's OTLP/HTTP base URL; spans go to <URL>/v1/traces; unset = tracing off
    otlp_endpoint: String => Option<url::Url>: traces_url, "URL" env "TESSERA_OTLP_ENDPOINT";
    /// Longest a finished span waits before its batch is exported, milliseconds
    otlp_batch_delay_ms: u64 = 5000 => Duration: millis,
        "MS" env "TESSERA_OTLP_BATCH_DELAY_MS",
        check |d| (10..=60_000).contains(&d.as_millis()), "must be 10 to 60000 milliseconds";
    /// How long one export to the collector may take, seconds
    otlp_timeout: u64 = 10 => Duration: secs, "SECS" env "TESSERA_OTLP_TIMEOUT",
        check |t| (1..=60).contains(&t.as_secs()), "must be 1 to 60 seconds";
    /// Share of new traces recorded, 0.0 to 1.0; a request with a traceparent follows its caller's choice
    otlp_sample_ratio: f64 = 1.0, "RATIO" env "TESSERA_OTLP_SAMPLE_RATIO",
        check |r| (0.0..=1.0).contains(r), "must be 0.0 to 1.0";
    /// Label tokens issued in /metrics by client_id (one series per client: mind the cardinality)
    metrics_client_label: bool = false, "BOOL" env "TESSERA_METRICS_CLIENT_LABEL";
}

/// The filter when none is given (for `serve`; other commands log warnings only).
const DEFAULT_LOG: &str = "info";

impl Telemetry {
    /// The log filter: as given, or `info`.
    pub fn log(&self) -> &str {
        self.log.as_deref().unwrap_or(DEFAULT_LOG)
    }

    /// Whether a filter was given (flag, variable, file or `RUST_LOG`) rather than
    /// defaulted: commands other than `serve` log warnings only unless asked.
    pub fn log_given(&self) -> bool {
        self.log.is_some()
    }
}

/// The filter, when env_logger would read it as meant.
fn checked_log(filter: Option<String>) -> Result<Option<String>, String> {
    if let Some(f) = &filter {
        log_filter::check(f)?;
    }
    Ok(filter)
}

/// The traces URL of a set endpoint (an empty one is unset).
fn traces_url(endpoint: Option<String>) -> Result<Option<url::Url>, String> {
    endpoint
        .filter(|e| !e.is_empty())
        .map(|e| otlp_traces_url(&e))
        .transpose()
}

/// The OTLP/HTTP traces URL of a collector's base URL (`http://collector:4318` →
/// `http://collector:4318/v1/traces`); a URL that already ends in `/v1/traces` is kept.
fn otlp_traces_url(endpoint: &str) -> Result<url::Url, String> {
    let mut url = url::Url::parse(endpoint)
        .map_err(|e| format!("{e}; expected e.g. http://localhost:4318"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err("must be an http(s) URL, e.g. http://localhost:4318".into());
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("must not have a query or fragment".into());
    }
    if !url.path().ends_with("/v1/traces") {
        let path = format!("{}/v1/traces", url.path().trim_end_matches('/'));
        url.set_path(&path);
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn otlp_endpoint_is_a_collector_base_url() {
        let traces = |e: &str| otlp_traces_url(e).map(|u| u.to_string());
        assert_eq!(
            traces("http://collector:4318").as_deref(),
            Ok("http://collector:4318/v1/traces")
        );
        assert_eq!(
            traces("https://otel.example/otlp/").as_deref(),
            Ok("https://otel.example/otlp/v1/traces")
        );
        assert_eq!(
            traces("http://c:4318/v1/traces").as_deref(),
            Ok("http://c:4318/v1/traces")
        );
        for bad in [
            "collector:4318",
            "ftp://c/",
            "http://c:4318/?a=b",
            "not a url",
        ] {
            assert!(traces(bad).is_err(), "{bad}");
        }
    }
}
