//! The OTLP/HTTP exporter: finished spans go to a bounded queue and a background
//! thread sends them in batches (protobuf, `POST <otlp_endpoint>/v1/traces`). A
//! request never waits for the collector: when the queue is full (the collector is
//! slow or down), new spans are dropped, and export failures are logged at most once
//! a minute.
//!
//! The standard `OTEL_SERVICE_NAME`, `OTEL_RESOURCE_ATTRIBUTES` and
//! `OTEL_EXPORTER_OTLP_HEADERS` (e.g. a collector's API key) are honoured.

use super::span::{Live, Span, Tracer};
use opentelemetry::trace::{SpanKind, TraceContextExt as _, Tracer as _, TracerProvider as _};
use opentelemetry::{Context, KeyValue};
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
use opentelemetry_sdk::trace::{
    BatchConfigBuilder, BatchSpanProcessor, Sampler, SdkTracerProvider,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where and how spans are exported.
#[derive(Debug, Clone)]
pub struct ExportSettings {
    /// The full OTLP/HTTP traces URL.
    pub url: url::Url,
    /// Longest a finished span waits before its batch is sent.
    pub batch_delay: Duration,
    /// Time limit of one export.
    pub timeout: Duration,
    /// Share of new traces recorded (a traced caller's choice is followed).
    pub sample_ratio: f64,
    /// `db.system.name` for database spans.
    pub db_system: &'static str,
}

/// A running exporter and the tracer requests start their spans with.
#[derive(Debug, Clone)]
pub struct Traces {
    provider: SdkTracerProvider,
    tracer: Tracer,
    _live: Arc<Live>,
}

/// Spans a batch holds at most; the queue holds four batches.
const BATCH: usize = 512;
/// The collector's answer is read up to this size.
const MAX_RESPONSE: u64 = 64 * 1024;
/// Export failures are logged at most this often.
const FAILURE_LOG_INTERVAL: Duration = Duration::from_secs(60);

impl Traces {
    /// Starts the exporter thread. The HTTP client and the exporter are built on a
    /// thread of their own, outside any async runtime, as the blocking client needs.
    pub fn start(settings: ExportSettings) -> Result<Traces, String> {
        let db_system = settings.db_system;
        let provider = std::thread::Builder::new()
            .name("otlp-setup".into())
            .spawn(move || build_provider(&settings))
            .map_err(|e| e.to_string())?
            .join()
            .map_err(|_| "setting up the OTLP exporter panicked".to_string())??;
        let tracer = Tracer {
            tracer: provider.tracer("tessera"),
            db_system,
        };
        Ok(Traces {
            provider,
            tracer,
            _live: Arc::new(Live::new()),
        })
    }

    /// Opens a request's span (kind server), a child of `parent` (the caller's
    /// `traceparent`, or nothing). Spans opened while it runs are its children.
    pub fn request(&self, parent: &Context, name: String, attributes: Vec<KeyValue>) -> Span {
        let span = self
            .tracer
            .tracer
            .span_builder(name)
            .with_kind(SpanKind::Server)
            .with_attributes(attributes)
            .start_with_context(&self.tracer.tracer, parent);
        Span::from_context(parent.with_span(span).with_value(self.tracer.clone()))
    }

    /// Sends what is queued and stops the exporter; blocks up to the export timeout.
    pub fn shutdown(&self) {
        if let Err(e) = self.provider.shutdown() {
            log::debug!("trace exporter shutdown: {e}");
        }
    }
}

/// The collector's URL without its userinfo, and the userinfo as a Basic
/// `Authorization` value. Credentials never travel inside the URL the HTTP client is
/// given: it prints the URLs it connects to (reqwest, at `debug`), and no password in
/// an OTLP URL may ever be printed.
fn without_credentials(url: &url::Url) -> (url::Url, Option<reqwest::header::HeaderValue>) {
    use base64::Engine as _;
    if url.username().is_empty() && url.password().is_none() {
        return (url.clone(), None);
    }
    let decoded = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8_lossy()
            .into_owned()
    };
    let credentials = format!(
        "{}:{}",
        decoded(url.username()),
        decoded(url.password().unwrap_or_default())
    );
    let value = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(credentials)
    );
    let mut bare = url.clone();
    // An http(s) URL with a host always takes these (config checked both).
    let _ = bare.set_username("");
    let _ = bare.set_password(None);
    let header = reqwest::header::HeaderValue::from_str(&value)
        .ok()
        .map(|mut v| {
            v.set_sensitive(true);
            v
        });
    (bare, header)
}

fn build_provider(settings: &ExportSettings) -> Result<SdkTracerProvider, String> {
    let (endpoint, authorization) = without_credentials(&settings.url);
    let client = reqwest::blocking::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout.min(Duration::from_secs(2)))
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| format!("cannot set up the OTLP HTTP client: {e}"))?;
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_http_client(Collector {
            client,
            authorization,
            failures: AtomicU64::new(0),
            last_logged: Mutex::new(None),
        })
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.as_str())
        .with_timeout(settings.timeout)
        .build()
        .map_err(|e| format!("cannot set up the OTLP exporter: {e}"))?;
    let batches = BatchConfigBuilder::default()
        .with_max_queue_size(4 * BATCH)
        .with_max_export_batch_size(BATCH)
        .with_scheduled_delay(settings.batch_delay)
        .build();
    let mut resource = opentelemetry_sdk::Resource::builder().with_attributes([
        KeyValue::new("service.version", env!("CARGO_PKG_VERSION")),
        KeyValue::new("service.instance.id", uuid::Uuid::new_v4().to_string()),
    ]);
    if std::env::var_os("OTEL_SERVICE_NAME").is_none() {
        resource = resource.with_service_name("tessera");
    }
    Ok(SdkTracerProvider::builder()
        .with_span_processor(
            BatchSpanProcessor::builder(exporter)
                .with_batch_config(batches)
                .build(),
        )
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
            settings.sample_ratio,
        ))))
        .with_resource(resource.build())
        .build())
}

/// The collector, reached with a blocking client from the exporter's own thread (the
/// SDK runs each export there to completion); failures are logged, rate-limited.
#[derive(Debug)]
struct Collector {
    client: reqwest::blocking::Client,
    /// The endpoint URL's userinfo, sent as Basic credentials unless the request
    /// already has an `Authorization` (from `OTEL_EXPORTER_OTLP_HEADERS`).
    authorization: Option<reqwest::header::HeaderValue>,
    failures: AtomicU64,
    last_logged: Mutex<Option<Instant>>,
}

impl Collector {
    fn send(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        use std::io::Read as _;
        let mut request = reqwest::blocking::Request::try_from(request)?;
        if let Some(value) = &self.authorization {
            request
                .headers_mut()
                .entry(reqwest::header::AUTHORIZATION)
                .or_insert_with(|| value.clone());
        }
        let mut response = self.client.execute(request)?;
        let status = response.status();
        let headers = std::mem::take(response.headers_mut());
        let mut body = Vec::new();
        response.take(MAX_RESPONSE).read_to_end(&mut body)?;
        let mut out = Response::builder().status(status).body(Bytes::from(body))?;
        *out.headers_mut() = headers;
        Ok(out)
    }

    /// Logs a failed export (rate-limited). The HTTP client's message quotes the
    /// collector's URL, which may carry credentials: it is redacted.
    fn note_failure(&self, why: &str) {
        let failed = self
            .failures
            .fetch_add(1, Ordering::Relaxed)
            .saturating_add(1);
        let Ok(mut last) = self.last_logged.lock() else {
            return;
        };
        if last.is_none_or(|t| t.elapsed() >= FAILURE_LOG_INTERVAL) {
            *last = Some(Instant::now());
            log::warn!(
                "exporting traces failed ({failed} export(s) so far): {}",
                super::redact::urls_in(why)
            );
        }
    }
}

#[async_trait::async_trait]
impl HttpClient for Collector {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let out = self.send(request);
        match &out {
            Err(e) => self.note_failure(&e.to_string()),
            Ok(r) if !r.status().is_success() => {
                self.note_failure(&format!("the collector answered {}", r.status()));
            }
            Ok(_) => {}
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_in_the_endpoint_travel_as_a_header_never_in_the_url() {
        let url =
            url::Url::parse("http://otel:p%40ss%3Aw0rd@collector:4318/v1/traces").expect("url");
        let (bare, header) = without_credentials(&url);
        assert_eq!(bare.as_str(), "http://collector:4318/v1/traces");
        let header = header.expect("a header");
        assert!(header.is_sensitive());
        assert_eq!(
            header.to_str().ok(),
            Some("Basic b3RlbDpwQHNzOncwcmQ="),
            "base64 of otel:p@ss:w0rd"
        );
        let plain = url::Url::parse("http://collector:4318/v1/traces").expect("url");
        assert_eq!(without_credentials(&plain), (plain, None));
    }
}
