//! What every handler shares: settings, the pool, the key store, the client cache and
//! the published documents.

use crate::config::Settings;
use crate::db::DbPool;
use crate::keys::KeyStore;
use crate::service::clients::ClientCache;
use std::sync::Arc;

/// Shared application state, held in `web::Data`.
#[derive(Debug)]
pub struct AppState {
    /// Resolved settings.
    pub settings: Settings,
    /// The issuer identifier (explicit, or derived from the bound address).
    pub issuer: String,
    /// The token endpoint URL, as clients must address it.
    pub token_endpoint: String,
    /// Database pool.
    pub pool: DbPool,
    /// Where request-path writes run.
    pub writer: crate::db::writer::Writer,
    /// Signing keys.
    pub keys: Arc<KeyStore>,
    /// Client cache.
    pub clients: ClientCache,
    /// DPoP proof keys already parsed.
    pub dpop_keys: crate::oauth::dpop::ProofKeys,
    /// Keys of `private_key_jwt` clients that publish them at a `jwks_uri`.
    pub client_jwks: crate::service::client_jwks::ClientJwks,
    /// Trusted issuers, their keys and the clients bound to them.
    pub federation: crate::service::federation::Federation,
    /// Prometheus metrics.
    pub metrics: crate::metrics::Metrics,
    /// Tokens and token-request outcomes counted, not yet written (flushed by a job).
    pub usage: Arc<crate::service::usage::Usage>,
    /// Password hashing threads.
    pub hash_pool: crate::service::hash_pool::HashPool,
    /// The OpenAPI document, serialised once.
    pub openapi: bytes::Bytes,
    /// RFC 8414 metadata, serialised once.
    pub metadata: bytes::Bytes,
    /// The JWKS `Cache-Control` value, computed once from the key settings.
    pub jwks_cache_control: String,
    /// The trace exporter, when `otlp_endpoint` is set.
    pub traces: Option<crate::telemetry::export::Traces>,
}

impl AppState {
    /// Runs a request-path unit of work that writes (see `db::writer`), in a span
    /// named `summary`. The audit lines of what it changed are logged once the writer
    /// has committed it (on SQLite, with the rest of its group).
    pub async fn write<T, F>(
        &self,
        summary: &'static str,
        f: F,
    ) -> Result<T, crate::oauth::OAuthError>
    where
        T: Send + 'static,
        F: FnOnce(&mut crate::db::DbConnection) -> Result<T, crate::oauth::OAuthError>
            + Send
            + 'static,
    {
        use crate::db::audit;
        let unit = move |conn: &mut crate::db::DbConnection| audit::captured(conn, f);
        let (value, lines) = crate::telemetry::span::db(summary)
            .run_result(self.writer.run(unit), super::database_fault)
            .await?;
        lines.log();
        Ok(value)
    }
}
