//! Periodic background work of `serve`: key reloads, purges, usage counts written
//! (and, with key rotation, the rotation check). Each job runs on the blocking pool; a failure is logged and
//! retried at the next tick, never fatal.
//!
//! A key change made elsewhere (`key rotate --immediate` from the CLI, another
//! replica's rotation) reaches this replica within [`KEY_CHANGE_POLL`]: every second
//! it reads the keys' change marker (one row, by primary key) and reloads the keys
//! only when the marker moved. The full lifecycle step still runs every
//! `key_refresh_interval`.

use crate::db::models::{login_failure, operator, refresh_token, revoked_token, usage, used_jti};
use crate::db::{self, DbPool};
use crate::keys::lifecycle::{self, load_key_set, KeyPolicy};
use crate::keys::KeyStore;
use crate::service::now;
use std::sync::Mutex;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often each replica checks whether the signing keys changed.
pub const KEY_CHANGE_POLL: Duration = Duration::from_secs(1);

/// Runs `job` every `period` (the first run one period after start).
pub fn every<F>(name: &'static str, period: Duration, job: F) -> JoinHandle<()>
where
    F: Fn() -> anyhow::Result<()> + Send + Sync + 'static,
{
    let job = std::sync::Arc::new(job);
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            let job = job.clone();
            match tokio::task::spawn_blocking(move || job()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => log::warn!("{name} failed: {e:#}"),
                Err(e) => log::warn!("{name} task failed: {e}"),
            }
        }
    })
}

/// Applies the rotation plan (whichever replica gets the lock first makes each
/// transition; the others find nothing to do), then reloads the key set from the
/// database, so each replica publishes what the others publish and signs with the key
/// whose time has come.
pub fn keep_keys_current(
    pool: &DbPool,
    policy: &KeyPolicy,
    store: &KeyStore,
) -> anyhow::Result<()> {
    // A plain connection: key generation (a second or so, once a period) must not hold
    // the writer turn; the lifecycle's own lock covers the short transaction.
    let mut conn = db::pool::get(pool)?;
    for line in lifecycle::step(&mut conn, policy, now())? {
        log::info!("{line}");
    }
    reload_keys(&mut conn, policy, store)
}

/// Reloads the keys when their change marker differs from the one `seen` holds (the
/// marker read before the keys this replica serves were loaded).
pub fn reload_keys_if_changed(
    pool: &DbPool,
    policy: &KeyPolicy,
    store: &KeyStore,
    seen: &Mutex<Option<String>>,
) -> anyhow::Result<()> {
    // While the database is away this would fail every second: the readiness check
    // and the lifecycle job already say so, this check just tries again.
    let quiet = |e: &db::DbError| e.is_unavailable();
    let mut conn = match db::pool::get(pool) {
        Err(e) if quiet(&e) => return Ok(()),
        other => other?,
    };
    let marker = match lifecycle::change_marker(&mut conn) {
        Err(crate::keys::KeyError::Db(e)) if quiet(&e) => return Ok(()),
        other => other?,
    };
    let mut seen = seen
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if *seen == marker {
        return Ok(());
    }
    // Remembered only once the reload worked: a failed one is retried next second.
    reload_keys(&mut conn, policy, store)?;
    *seen = marker;
    Ok(())
}

/// Rebuilds the key set from the database and serves it (the console's "rotate now"
/// calls it so the replica that rotated publishes at once; the others follow their
/// change-marker poll).
pub fn reload_keys(
    conn: &mut db::DbConnection,
    policy: &KeyPolicy,
    store: &KeyStore,
) -> anyhow::Result<()> {
    let previous = store.snapshot();
    let set = load_key_set(conn, policy, now(), Some(&previous))?;
    if set.etag != previous.etag
        || set.signer.as_ref().map(|s| s.kid().to_string())
            != previous.signer.as_ref().map(|s| s.kid().to_string())
    {
        log::info!("signing keys reloaded ({} published)", set.published.len());
    }
    if set.signer.is_some() {
        store.replace(set);
    } else {
        log::error!("no active signing key in the database; keeping the current one");
    }
    Ok(())
}

/// How long a revoked refresh-token family is kept (for logs and support) before purge.
const REVOKED_FAMILY_RETENTION: i64 = 3_600;

/// Deletes ended refresh-token families and closed login-failure windows.
pub fn purge(pool: &DbPool, login_window: i64, console_idle: i64) -> anyhow::Result<()> {
    let mut conn = db::pool::get_for_write(pool)?;
    let t = now();
    let families = refresh_token::purge(&mut conn, t, REVOKED_FAMILY_RETENTION)?;
    let counters = login_failure::purge(&mut conn, t, login_window)?;
    let revoked =
        revoked_token::purge(&mut conn, t)?.saturating_add(used_jti::purge(&mut conn, t)?);
    let console = operator::SessionRow::purge(
        &mut conn,
        t.saturating_sub(console_idle),
        t.saturating_sub(super::console::ABSOLUTE_LIFETIME),
    )?
    .saturating_add(operator::purge_setup_codes(&mut conn, t)?);
    if console > 0 {
        log::info!("purged {console} ended console sessions and expired setup codes");
    }
    let counts = usage::purge(
        &mut conn,
        crate::service::usage::day_of(t.saturating_sub(crate::service::usage::DAYS_KEPT)),
        t.saturating_sub(crate::service::usage::MINUTES_KEPT),
    )?;
    if families > 0 || counters > 0 || revoked > 0 || counts > 0 {
        log::info!(
            "purged {families} refresh-token families, {counters} login counters, \
             {revoked} expired revocations, {counts} old usage counts"
        );
    }
    Ok(())
}

/// Writes this replica's usage counts (one upsert per table), then sets the
/// unused-clients gauges from the database (so a scrape never queries it).
pub fn flush_usage(
    pool: &DbPool,
    counted: &crate::service::usage::Usage,
    metrics: &crate::metrics::Metrics,
) -> anyhow::Result<()> {
    let t = now();
    {
        let mut conn = db::pool::get_for_write(pool)?;
        counted.flush(&mut conn, t)?;
    }
    // A plain connection: the count only reads, and must not hold the writer turn.
    let mut conn = db::pool::get(pool)?;
    let (unused_30, unused_90) = crate::service::usage::unused_counts(&mut conn, t)?;
    metrics.set_clients_unused(unused_30, unused_90);
    Ok(())
}
