//! Periodic background work of `serve`: key reloads, purges (and, with key rotation,
//! the rotation check). Each job runs on the blocking pool; a failure is logged and
//! retried at the next tick, never fatal.

use std::time::Duration;
use tokio::task::JoinHandle;

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
