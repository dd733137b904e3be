//! Building and running the server: pool, migrations, keys, bootstrap, the actix App,
//! and the background task that keeps each replica's keys current.

use crate::admin::bootstrap::ensure_admin_client;
use crate::admin::clients::CreatedClient;
use crate::config::Settings;
use crate::db::models::Client;
use crate::db::pool::{build_pool, PoolOptions};
use crate::db::{self, DbPool};
use crate::http::{self, LoggedClientId};
use crate::keys::lifecycle::{self, load_key_set, KeyPolicy};
use crate::keys::KeyStore;
use crate::oauth::GrantType;
use crate::service::clients::ClientCache;
use crate::service::hash_pool::HashPool;
use crate::service::jobs;
use crate::service::{now, AppState};
use crate::telemetry::export::{ExportSettings, Traces};
use actix_web::dev::Server;
use actix_web::middleware::{Condition, Logger};
use actix_web::{web, App, HttpMessage, HttpServer};
use anyhow::Context;
use std::net::TcpListener;
use std::sync::Arc;

/// A built server, bound and ready to run.
pub struct Application {
    addr: std::net::SocketAddr,
    server: Server,
    /// The issuer identifier the server advertises.
    pub issuer: String,
    /// The bootstrap admin client, when this start created it (shown once).
    pub bootstrap_admin: Option<CreatedClient>,
    /// The one-time link that creates the console's first operator, when the console
    /// is on and there is no operator yet (shown once; valid an hour).
    pub console_setup_link: Option<String>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    traces: Option<Traces>,
    final_flush: UsageFlush,
}

/// What the usage job needs, and the flush at shutdown.
#[derive(Clone)]
struct UsageFlush {
    pool: DbPool,
    usage: Arc<crate::service::usage::Usage>,
    metrics: crate::metrics::Metrics,
}

impl UsageFlush {
    fn run(&self) -> anyhow::Result<()> {
        jobs::flush_usage(&self.pool, &self.usage, &self.metrics)
    }
}

/// Opens the pool for `settings`; `create` lets a missing SQLite file be created (only
/// `serve` and `migrate` make databases).
pub fn pool_for(settings: &Settings, create: bool) -> anyhow::Result<DbPool> {
    let opts = PoolOptions {
        max_size: settings.database.db_pool_size,
        connect_timeout: settings.database.db_connect_timeout,
        statement_timeout: settings.database.db_statement_timeout_ms,
        create_sqlite: create,
        log_failures: true,
    };
    build_pool(&settings.database.database_url, &opts)
        .with_context(|| format!("database {}", settings.database.database_url.redacted()))
}

/// The key lifecycle policy of these settings (KEKs parsed; `validate` checked them).
pub fn key_policy(settings: &Settings) -> anyhow::Result<KeyPolicy> {
    settings.key_policy().map_err(anyhow::Error::msg)
}

/// Migrates and brings the signing keys up to date (sealed as configured, rotation
/// plan applied, so an empty database gets its first key). Blocking.
fn prepare_database(conn: &mut db::DbConnection, policy: &KeyPolicy) -> anyhow::Result<()> {
    let ran = db::run_migrations(conn)?;
    if ran > 0 {
        log::info!("applied {ran} database migration(s)");
    }
    let sealed = lifecycle::reconcile_sealing(conn, policy)?;
    if sealed > 0 {
        log::info!("encrypted {sealed} signing key(s) with the key-encryption key");
    }
    for line in lifecycle::step(conn, policy, now())? {
        log::info!("{line}");
    }
    Ok(())
}

/// The trace exporter of `settings`, when `otlp_endpoint` is set.
fn start_traces(settings: &Settings) -> anyhow::Result<Option<Traces>> {
    let Some(url) = &settings.telemetry.otlp_endpoint else {
        return Ok(None);
    };
    let traces = Traces::start(ExportSettings {
        url: url.clone(),
        batch_delay: settings.telemetry.otlp_batch_delay_ms,
        timeout: settings.telemetry.otlp_timeout,
        sample_ratio: settings.telemetry.otlp_sample_ratio,
        db_system: if settings.database.database_url.is_sqlite() {
            "sqlite"
        } else {
            "postgresql"
        },
    })
    // The exporter's messages may quote the endpoint (its password too, cut wherever
    // its own parser ends the URL).
    .map_err(|e| {
        let secrets = crate::telemetry::redact::secrets_of(url.as_str());
        anyhow::anyhow!(crate::telemetry::redact::scrubbed(&e, &secrets))
    })?;
    log::info!(
        "exporting traces to {}",
        crate::telemetry::redact::url(url.as_str())
    );
    Ok(Some(traces))
}

/// `serve --apply FILE`: the file applied before listening, under the apply lock (so
/// replicas starting together apply one after another and end in one state). Secrets
/// it generates are not printed by a server: a client that needs its secret shown
/// gets `secret_file`/`secret_env`, or is applied once with `tessera apply`.
fn apply_at_start(
    conn: &mut db::DbConnection,
    settings: &Settings,
    path: &std::path::Path,
) -> anyhow::Result<()> {
    use crate::admin::apply::{apply, read_file, ApplyOptions};
    let text = read_file(path)?;
    let options = ApplyOptions {
        dry_run: false,
        prune: false,
        allow_http: settings.clients.jwks_uri_allow_http,
        jwks_uri_policy: settings.jwks_uri_policy(),
    };
    let report = apply(conn, path, &text, options, now())?;
    for c in report.changes.iter().filter(|c| c.action != "unchanged") {
        log::info!("apply {}: {} {} {}", path.display(), c.action, c.kind, c.id);
    }
    for id in report.secrets.keys() {
        log::warn!(
            "apply {}: client {id} was created with a generated secret that is not shown; \
             give it secret_file or secret_env, or rotate its secret",
            path.display()
        );
    }
    Ok(())
}

/// The `simplejwt_client` must name a client allowed the password and refresh_token
/// grants (the endpoints hand out pairs): checked at
/// start, so a typo is one line now rather than a 503 on every login later.
fn check_simplejwt_client(conn: &mut db::DbConnection, settings: &Settings) -> anyhow::Result<()> {
    let Some(id) = &settings.tokens.simplejwt_client else {
        return Ok(());
    };
    let client = Client::find(conn, id)?.map(|c| crate::service::clients::registered(&c));
    match client {
        None => anyhow::bail!("invalid simplejwt_client: there is no client {id:?}"),
        Some(c) if !c.allows(GrantType::Password) || !c.allows(GrantType::RefreshToken) => {
            anyhow::bail!(
                "invalid simplejwt_client: client {id:?} is not allowed the password grant \
                 and the refresh_token grant (create it with --grant-types password,refresh_token)"
            )
        }
        Some(c) if c.disabled => {
            log::warn!("simplejwt_client {id:?} is disabled: logins at /api/token/ answer 503 until it is enabled");
            Ok(())
        }
        Some(_) => Ok(()),
    }
}

impl Application {
    /// Prepares the database, binds the listener and builds the server.
    ///
    /// The listener is bound and the issuer settled first, and the bootstrap admin is
    /// created last, after every check that can stop the start (the apply file, the
    /// simplejwt client, a usable signing key): its secret, shown once, is never made
    /// by a process that then fails without printing it.
    pub async fn build(settings: Settings) -> anyhow::Result<Application> {
        let listener = TcpListener::bind(&settings.server.bind)
            .with_context(|| format!("cannot listen on {}", settings.server.bind))?;
        let addr = listener.local_addr()?;
        if settings.server.issuer.is_none() && addr.ip().is_unspecified() {
            anyhow::bail!(
                "bind {} is an unspecified address, which clients cannot use as the issuer: \
                 set issuer (TESSERA_ISSUER or --issuer) to the URL clients reach tessera at",
                settings.server.bind
            );
        }
        let issuer = settings.issuer_for(addr);

        let pool = pool_for(&settings, true)?;
        let policy = Arc::new(key_policy(&settings)?);
        let traces = start_traces(&settings)?;
        let (bootstrap_admin, (key_set, key_marker), setup_code) = {
            let (pool, settings, policy) = (pool.clone(), settings.clone(), policy.clone());
            tokio::task::spawn_blocking(move || -> anyhow::Result<_> {
                let mut conn = db::pool::get(&pool).with_context(|| {
                    format!(
                        "cannot connect to {}",
                        settings.database.database_url.redacted()
                    )
                })?;
                prepare_database(&mut conn, &policy)?;
                if let Some(path) = &settings.clients.apply {
                    apply_at_start(&mut conn, &settings, path)?;
                }
                check_simplejwt_client(&mut conn, &settings)?;
                // Read before the keys: a change in between is seen as a change.
                let marker = lifecycle::change_marker(&mut conn)?;
                let keys = load_key_set(&mut conn, &policy, now(), None)?;
                if keys.signer.is_none() {
                    anyhow::bail!("no usable signing key in the database");
                }
                let admin = ensure_admin_client(&mut conn, now())?;
                let setup = if settings.console.console {
                    crate::admin::console::new_setup_code(&mut conn, now())?
                } else {
                    None
                };
                Ok((admin, (keys, marker), setup))
            })
            .await??
        };

        let console_setup_link =
            setup_code.map(|code| format!("{issuer}/console/setup?code={code}"));
        let keys = Arc::new(KeyStore::new(key_set));
        let state = web::Data::new(AppState {
            issuer: issuer.clone(),
            token_endpoint: format!("{issuer}/oauth/token"),
            metadata: http::discovery::render(&issuer),
            openapi: http::openapi::render(&issuer),
            jwks_cache_control: http::jwks::cache_control(&settings),
            clients: ClientCache::new(settings.clients.client_cache_ttl),
            dpop_keys: Default::default(),
            client_jwks: crate::service::client_jwks::ClientJwks::new(
                settings.clients.jwks_uri_timeout,
                settings.jwks_uri_policy(),
            )
            .context("cannot set up the HTTP client for jwks_uri")?,
            federation: crate::service::federation::Federation::new(
                pool.clone(),
                issuer.clone(),
                settings.clients.client_cache_ttl,
                settings.clients.jwks_uri_timeout,
                settings.jwks_uri_policy(),
            )
            .context("cannot set up the HTTP client for trusted issuers")?,
            metrics: crate::metrics::Metrics::new(settings.telemetry.metrics_client_label),
            usage: Default::default(),
            hash_pool: HashPool::start(
                settings.passwords.password_hash_concurrency,
                settings.passwords.hash_params(),
            )
            .context("cannot start the password hashing threads")?,
            keys: keys.clone(),
            writer: crate::db::writer::Writer::start(
                pool.clone(),
                settings.database.database_url.is_sqlite(),
            )
            .context("cannot start the database writer")?,
            pool: pool.clone(),
            settings: settings.clone(),
            traces: traces.clone(),
        });
        let traced = traces.is_some();
        let final_flush = UsageFlush {
            pool: pool.clone(),
            usage: state.usage.clone(),
            metrics: state.metrics.clone(),
        };
        let usage_flush = final_flush.clone();

        let simplejwt = settings.tokens.simplejwt_client.is_some();
        let console = settings.console.console;
        let server = HttpServer::new(move || {
            App::new()
                // The request log costs a few allocations per request: only when it is on.
                .wrap(Condition::new(
                    log::log_enabled!(target: "actix_web::middleware::logger", log::Level::Info),
                    Logger::new(r#"%{r}a "%{method}xi %U" %s %Dms client_id=%{client_id}xo"#)
                        .custom_request_replace("method", |req| req.method().to_string())
                        .custom_response_replace("client_id", |res| {
                            res.request()
                                .extensions()
                                .get::<LoggedClientId>()
                                .map_or_else(|| "-".to_string(), |c| c.0.clone())
                        }),
                ))
                .wrap(Condition::new(
                    console,
                    actix_web::middleware::from_fn(crate::console::headers),
                ))
                .wrap(actix_web::middleware::from_fn(http::metrics::record))
                // Outermost, so the request's span covers the other middleware too.
                .wrap(Condition::new(
                    traced,
                    actix_web::middleware::from_fn(http::traces::trace),
                ))
                .app_data(state.clone())
                .configure(http::routes)
                .configure(|cfg| {
                    if simplejwt {
                        http::simplejwt_routes(cfg);
                    }
                    if console {
                        crate::console::routes(cfg);
                    }
                })
                .default_service(web::to(not_found))
        })
        .workers(settings.server.workers)
        .listen(listener)?
        .run();

        let (reload_pool, checkpoint_pool) = (pool.clone(), pool.clone());
        let (watch_pool, watch_policy, watch_keys) = (pool.clone(), policy.clone(), keys.clone());
        let seen = std::sync::Mutex::new(key_marker);
        let login_window = settings.logins.user_limit().window;
        let console_idle = settings.console.console_idle_timeout;
        let tasks = vec![
            jobs::every(
                "key lifecycle",
                settings.signing.key_refresh_interval,
                move || jobs::keep_keys_current(&reload_pool, &policy, &keys),
            ),
            jobs::every("key change check", jobs::KEY_CHANGE_POLL, move || {
                jobs::reload_keys_if_changed(&watch_pool, &watch_policy, &watch_keys, &seen)
            }),
            jobs::every("purge", settings.database.purge_interval, move || {
                jobs::purge(&pool, login_window, console_idle)
            }),
            jobs::every(
                "usage flush",
                settings.database.usage_flush_interval,
                move || usage_flush.run(),
            ),
            jobs::every(
                "wal checkpoint",
                std::time::Duration::from_secs(1),
                move || Ok(db::pool::checkpoint(&checkpoint_pool)?),
            ),
        ];
        Ok(Application {
            addr,
            server,
            issuer,
            bootstrap_admin,
            console_setup_link,
            tasks,
            traces,
            final_flush,
        })
    }

    /// The port actually bound.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// A handle to stop the server.
    pub fn handle(&self) -> actix_web::dev::ServerHandle {
        self.server.handle()
    }

    /// Serves until the server is stopped (SIGINT/SIGTERM or a handle).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        log::info!("listening on http://{} (issuer {})", self.addr, self.issuer);
        let out = self.server.await;
        for task in &self.tasks {
            task.abort();
        }
        // What was counted since the last flush is written before the process ends.
        let flush = self.final_flush;
        match tokio::task::spawn_blocking(move || flush.run()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => log::warn!("usage flush at shutdown failed: {e:#}"),
            Err(e) => log::warn!("usage flush at shutdown failed: {e}"),
        }
        if let Some(traces) = self.traces {
            // Sends the spans still queued; blocks up to the export timeout.
            let _ = tokio::task::spawn_blocking(move || traces.shutdown()).await;
        }
        out
    }
}

async fn not_found() -> actix_web::HttpResponse {
    actix_web::HttpResponse::NotFound().json(serde_json::json!({ "error": "not_found" }))
}
