//! An OTLP/HTTP trace receiver, as an OpenTelemetry collector runs one:
//! `POST /v1/traces` with a protobuf `ExportTraceServiceRequest`, decoded with the
//! OpenTelemetry proto types and kept for the test to read. It can also take the
//! connection and never answer (a collector that hangs).

use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, KeyValue};
use prost::Message;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// How the receiver answers exports.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Collect {
    /// Decodes and keeps the spans, answers 200.
    Accept,
    /// Reads the export and never answers.
    Hang,
}

/// One received span, its ids in hex and its attributes as JSON values.
#[derive(Clone, Debug)]
pub struct ReceivedSpan {
    pub name: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: String,
    /// OTLP `SpanKind`: 1 internal, 2 server, 3 client.
    pub kind: i32,
    /// OTLP status code: 0 unset, 1 ok, 2 error.
    pub status: i32,
    pub attributes: HashMap<String, Value>,
    pub resource: HashMap<String, Value>,
}

impl ReceivedSpan {
    /// An attribute as a string (numbers and booleans as JSON text).
    pub fn attr(&self, key: &str) -> Option<String> {
        self.attributes.get(key).map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
    }
}

/// A running receiver.
pub struct OtlpReceiver {
    /// The base URL to configure as `otlp_endpoint`.
    pub endpoint: String,
    spans: Arc<Mutex<Vec<ReceivedSpan>>>,
    /// Export requests seen (answered or not).
    exports: Arc<Mutex<usize>>,
}

fn json(v: Option<&opentelemetry_proto::tonic::common::v1::AnyValue>) -> Value {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => Value::String(s.clone()),
        Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
        Some(any_value::Value::IntValue(i)) => Value::from(*i),
        Some(any_value::Value::DoubleValue(d)) => Value::from(*d),
        Some(other) => Value::String(format!("{other:?}")),
        None => Value::Null,
    }
}

fn attributes(kvs: &[KeyValue]) -> HashMap<String, Value> {
    kvs.iter()
        .map(|kv| (kv.key.clone(), json(kv.value.as_ref())))
        .collect()
}

/// Reads one HTTP/1.1 request (head and `Content-Length` body); `None` at end of input.
async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<(String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let length = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    let mut body = buf[head_end..].to_vec();
    while body.len() < length {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&chunk[..n]);
    }
    Some((head, body))
}

impl OtlpReceiver {
    /// Starts listening on a free port.
    pub async fn start(mode: Collect) -> OtlpReceiver {
        let (listener, endpoint) = super::listen_local().await;
        let spans = Arc::new(Mutex::new(Vec::new()));
        let exports = Arc::new(Mutex::new(0));
        let (kept, seen) = (spans.clone(), exports.clone());
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (kept, seen) = (kept.clone(), seen.clone());
                tokio::spawn(async move {
                    while let Some((head, body)) = read_request(&mut sock).await {
                        *seen.lock().expect("count") += 1;
                        if mode == Collect::Hang {
                            tokio::time::sleep(Duration::from_secs(120)).await;
                            return;
                        }
                        let ok = head.starts_with("POST /v1/traces ")
                            && head
                                .to_ascii_lowercase()
                                .contains("content-type: application/x-protobuf");
                        let decoded = ok
                            .then(|| ExportTraceServiceRequest::decode(body.as_slice()).ok())
                            .flatten();
                        let status = match decoded {
                            Some(export) => {
                                let mut kept = kept.lock().expect("spans");
                                for rs in &export.resource_spans {
                                    let resource = rs
                                        .resource
                                        .as_ref()
                                        .map(|r| attributes(&r.attributes))
                                        .unwrap_or_default();
                                    for span in rs.scope_spans.iter().flat_map(|s| &s.spans) {
                                        kept.push(ReceivedSpan {
                                            name: span.name.clone(),
                                            trace_id: hex::encode(&span.trace_id),
                                            span_id: hex::encode(&span.span_id),
                                            parent_span_id: hex::encode(&span.parent_span_id),
                                            kind: span.kind,
                                            status: span.status.as_ref().map_or(0, |s| s.code),
                                            attributes: attributes(&span.attributes),
                                            resource: resource.clone(),
                                        });
                                    }
                                }
                                "200 OK"
                            }
                            None => "400 Bad Request",
                        };
                        let reply = ExportTraceServiceResponse::default().encode_to_vec();
                        let head = format!(
                            "HTTP/1.1 {status}\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n",
                            reply.len()
                        );
                        if sock.write_all(head.as_bytes()).await.is_err()
                            || sock.write_all(&reply).await.is_err()
                        {
                            return;
                        }
                    }
                });
            }
        });
        OtlpReceiver {
            endpoint,
            spans,
            exports,
        }
    }

    /// The spans received so far.
    pub fn spans(&self) -> Vec<ReceivedSpan> {
        self.spans.lock().expect("spans").clone()
    }

    /// Export requests received so far.
    pub fn exports(&self) -> usize {
        *self.exports.lock().expect("count")
    }

    /// Waits (up to 15 s) until the spans received satisfy `done`, and returns them.
    pub async fn wait_for(
        &self,
        what: &str,
        done: impl Fn(&[ReceivedSpan]) -> bool,
    ) -> Vec<ReceivedSpan> {
        for _ in 0..300 {
            let spans = self.spans();
            if done(&spans) {
                return spans;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let names: Vec<String> = self.spans().iter().map(|s| s.name.clone()).collect();
        panic!("the receiver never saw {what}; it has {names:?}");
    }
}
