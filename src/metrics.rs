//! Prometheus metrics (the `prometheus` crate): requests by endpoint and status, latency,
//! tokens issued by grant (and by client only when `metrics_client_label` is on: client
//! ids are not for everyone, and one series per client grows without bound),
//! authentication failures, refresh-token reuse, signing-key age, database pool
//! usage and clients unused for 30 and 90 days. Served as text at `GET /metrics`.

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

/// Every metric tessera exports.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Requests by endpoint (route pattern) and status.
    pub requests: IntCounterVec,
    /// Latency by endpoint, seconds.
    pub latency: HistogramVec,
    /// Access tokens issued by grant (and client, when labelled): see [`Metrics::token_issued`].
    tokens_issued: IntCounterVec,
    /// Whether `tokens_issued` has the `client_id` label.
    client_label: bool,
    /// Failed client authentications.
    pub client_auth_failures: IntCounter,
    /// Failed password logins (wrong password, unknown user, locked).
    pub login_failures: IntCounter,
    /// Refresh-token reuse detected (families revoked).
    pub refresh_reuse: IntCounter,
    /// Tokens revoked through `/oauth/revoke`, by kind.
    pub revocations: IntCounterVec,
    /// Age of the signing key, seconds (set at scrape).
    pub signing_key_age: IntGauge,
    /// Database pool connections by state (set at scrape).
    pub db_pool: IntGaugeVec,
    /// Clients unused for `days` (30, 90) days, never-used ones by their age: counts
    /// only, never ids (set by the usage job, not per scrape).
    pub clients_unused: IntGaugeVec,
}

impl Metrics {
    /// Registers every metric; `client_label` adds `client_id` to tokens issued.
    #[expect(
        clippy::expect_used,
        reason = "names, labels and buckets are constants: a failure is a programming \
                  error, and every test that starts a server would hit it"
    )]
    pub fn new(client_label: bool) -> Metrics {
        let registry =
            Registry::new_custom(Some("tessera".into()), None).expect("a valid metrics prefix");
        let requests = IntCounterVec::new(
            Opts::new(
                "http_requests_total",
                "HTTP requests by endpoint and status",
            ),
            &["endpoint", "status"],
        )
        .expect("metric");
        let latency = HistogramVec::new(
            HistogramOpts::new("http_request_duration_seconds", "HTTP request latency").buckets(
                vec![
                    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                ],
            ),
            &["endpoint"],
        )
        .expect("metric");
        let tokens_issued = if client_label {
            IntCounterVec::new(
                Opts::new(
                    "tokens_issued_total",
                    "Access tokens issued by grant and client",
                ),
                &["grant_type", "client_id"],
            )
        } else {
            IntCounterVec::new(
                Opts::new("tokens_issued_total", "Access tokens issued by grant"),
                &["grant_type"],
            )
        }
        .expect("metric");
        let client_auth_failures = IntCounter::new(
            "client_authentication_failures_total",
            "Failed client authentications",
        )
        .expect("metric");
        let login_failures =
            IntCounter::new("login_failures_total", "Refused password logins").expect("metric");
        let refresh_reuse = IntCounter::new(
            "refresh_token_reuse_total",
            "Rotated refresh tokens presented again (family revoked)",
        )
        .expect("metric");
        let revocations = IntCounterVec::new(
            Opts::new("revocations_total", "Tokens revoked, by kind"),
            &["token_type"],
        )
        .expect("metric");
        let signing_key_age = IntGauge::new(
            "signing_key_age_seconds",
            "Age of the key signing new tokens",
        )
        .expect("metric");
        let db_pool = IntGaugeVec::new(
            Opts::new("db_pool_connections", "Database pool connections by state"),
            &["state"],
        )
        .expect("metric");
        let clients_unused = IntGaugeVec::new(
            Opts::new(
                "clients_unused",
                "Clients without a token issued for this many days (never used: by age)",
            ),
            &["days"],
        )
        .expect("metric");
        for m in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(tokens_issued.clone()),
            Box::new(client_auth_failures.clone()),
            Box::new(login_failures.clone()),
            Box::new(refresh_reuse.clone()),
            Box::new(revocations.clone()),
            Box::new(signing_key_age.clone()),
            Box::new(db_pool.clone()),
            Box::new(clients_unused.clone()),
        ] {
            registry.register(m).expect("unique metric names");
        }
        Metrics {
            registry,
            requests,
            latency,
            tokens_issued,
            client_label,
            client_auth_failures,
            login_failures,
            refresh_reuse,
            revocations,
            signing_key_age,
            db_pool,
            clients_unused,
        }
    }

    /// Sets the unused-clients gauges (30 and 90 days).
    pub fn set_clients_unused(&self, unused_30: u64, unused_90: u64) {
        for (days, n) in [("30", unused_30), ("90", unused_90)] {
            self.clients_unused
                .with_label_values(&[days])
                .set(i64::try_from(n).unwrap_or(i64::MAX));
        }
    }

    /// Counts one access token issued by `grant` to `client_id`.
    pub fn token_issued(&self, grant: &str, client_id: &str) {
        if self.client_label {
            self.tokens_issued
                .with_label_values(&[grant, client_id])
                .inc();
        } else {
            self.tokens_issued.with_label_values(&[grant]).inc();
        }
    }

    /// The Prometheus text exposition of every metric.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new(false)
    }
}
