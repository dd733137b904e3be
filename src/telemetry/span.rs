//! Spans as the layers open them: a request's span (opened by the http layer) carries
//! the [`Tracer`] in its OpenTelemetry `Context`, and [`internal`], [`db`] and
//! [`outbound`] open children of whatever span is current. With tracing off (no
//! `otlp_endpoint` anywhere in the process) each of them is one atomic load and
//! returns a [`Span`] that does nothing.
//!
//! Attributes never hold a secret, a token or a password: callers pass identifiers
//! (client ids, key ids, grant names), never request bodies or headers.

use opentelemetry::trace::{FutureExt as _, SpanKind, Status, TraceContextExt as _, Tracer as _};
use opentelemetry::{Context, KeyValue, Value};
use opentelemetry_sdk::trace::SdkTracer;
use std::borrow::Cow;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Tracers alive in this process; zero means every span below is a no-op.
static LIVE: AtomicUsize = AtomicUsize::new(0);

/// Counts one live tracer while it exists.
#[derive(Debug)]
pub(super) struct Live;

impl Live {
    pub(super) fn new() -> Live {
        LIVE.fetch_add(1, Ordering::Relaxed);
        Live
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        LIVE.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a child span needs to start, carried in the request's `Context`.
#[derive(Debug, Clone)]
pub struct Tracer {
    pub(super) tracer: SdkTracer,
    /// `db.system.name` of the database spans (`sqlite`, `postgresql`).
    pub(super) db_system: &'static str,
}

/// An open span, ended when dropped; does nothing when tracing is off or the
/// request is not traced.
#[derive(Debug)]
pub struct Span {
    cx: Option<Context>,
}

impl Span {
    /// A span that records nothing.
    const fn off() -> Span {
        Span { cx: None }
    }

    /// Whether attributes set on this span are recorded: compute costly ones only then.
    pub fn is_recording(&self) -> bool {
        self.cx.as_ref().is_some_and(|cx| cx.span().is_recording())
    }

    /// Sets an attribute.
    pub fn set(&self, key: &'static str, value: impl Into<Value>) {
        if let Some(cx) = &self.cx {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }

    /// Sets an attribute whose value is computed only when it is recorded.
    pub fn set_with<V: Into<Value>>(&self, key: &'static str, value: impl FnOnce() -> V) {
        if self.is_recording() {
            self.set(key, value());
        }
    }

    /// Marks the span failed (a fault of the server or of what it depends on, not a
    /// client's mistake), with the error's kind as `error.type`.
    pub fn fail(&self, kind: impl Into<Cow<'static, str>>) {
        if let Some(cx) = &self.cx {
            let kind = kind.into();
            let span = cx.span();
            span.set_attribute(KeyValue::new("error.type", kind.clone()));
            span.set_status(Status::error(kind));
        }
    }

    /// Runs `fut` with this span current, so spans opened inside are its children.
    pub async fn run<F: Future>(&self, fut: F) -> F::Output {
        match &self.cx {
            None => fut.await,
            Some(cx) => fut.with_context(cx.clone()).await,
        }
    }

    /// Runs `fut` like [`Span::run`]; an `Err` that `fault` names a kind for (the
    /// server's or a dependency's fault, not the client's) marks the span failed.
    pub async fn run_result<T, E>(
        &self,
        fut: impl Future<Output = Result<T, E>>,
        fault: impl FnOnce(&E) -> Option<&'static str>,
    ) -> Result<T, E> {
        let out = self.run(fut).await;
        if let Some(kind) = out.as_ref().err().and_then(fault) {
            self.fail(kind);
        }
        out
    }

    /// The W3C `traceparent` (and `tracestate`) naming this span as the parent, for
    /// a request tessera sends; empty when nothing is traced.
    pub fn trace_headers(&self) -> Vec<(String, String)> {
        use opentelemetry::propagation::TextMapPropagator as _;
        let mut headers = std::collections::HashMap::new();
        if let Some(cx) = &self.cx {
            opentelemetry_sdk::propagation::TraceContextPropagator::new()
                .inject_context(cx, &mut headers);
        }
        headers.into_iter().collect()
    }

    pub(super) fn from_context(cx: Context) -> Span {
        Span { cx: Some(cx) }
    }
}

impl Drop for Span {
    fn drop(&mut self) {
        if let Some(cx) = &self.cx {
            cx.span().end();
        }
    }
}

/// Whether any tracer is alive in this process.
fn enabled() -> bool {
    LIVE.load(Ordering::Relaxed) > 0
}

/// A child of the current span, when the current request is traced; `attributes`
/// are computed only then.
fn child(
    name: &'static str,
    kind: SpanKind,
    attributes: impl FnOnce(&Tracer) -> Vec<KeyValue>,
) -> Span {
    if !enabled() {
        return Span::off();
    }
    let parent = Context::current();
    let Some(tracer) = parent.get::<Tracer>() else {
        return Span::off();
    };
    let span = tracer
        .tracer
        .span_builder(name)
        .with_kind(kind)
        .with_attributes(attributes(tracer))
        .start_with_context(&tracer.tracer, &parent);
    Span::from_context(parent.with_span(span))
}

/// A child span for work inside tessera (client authentication, signing, hashing).
pub fn internal(name: &'static str) -> Span {
    child(name, SpanKind::Internal, |_| Vec::new())
}

/// A child span for one database unit of work; `summary` names it (`claim jtis`,
/// `find user`), as OpenTelemetry's `db.query.summary`.
pub fn db(summary: &'static str) -> Span {
    child(summary, SpanKind::Client, |tracer| {
        vec![
            KeyValue::new("db.system.name", tracer.db_system),
            KeyValue::new("db.query.summary", summary),
        ]
    })
}

/// A child span for an HTTP request tessera makes (a `jwks_uri`, an issuer's
/// discovery document); `url` is logged without its query.
pub fn outbound(name: &'static str, url: &url::Url) -> Span {
    child(name, SpanKind::Client, |_| {
        let mut shown = url.clone();
        shown.set_query(None);
        shown.set_fragment(None);
        let _ = shown.set_password(None);
        let _ = shown.set_username("");
        vec![
            KeyValue::new("http.request.method", "GET"),
            KeyValue::new("url.full", shown.to_string()),
            KeyValue::new("server.address", url.host_str().unwrap_or("").to_string()),
        ]
    })
}

/// Sets an attribute on the current span (the request's, or the innermost span being
/// run), when there is one.
pub fn annotate(key: &'static str, value: impl Into<Value>) {
    if enabled() {
        let cx = Context::current();
        if cx.get::<Tracer>().is_some() {
            cx.span().set_attribute(KeyValue::new(key, value));
        }
    }
}
