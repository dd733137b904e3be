//! A small pool of threads that verify and compute password hashes: argon2id, and the
//! deliberately slow formats imported users arrive with (Django's PBKDF2 is a million
//! rounds), which a successful login replaces by argon2id in the same job.
//!
//! A password hash costs tens of milliseconds and 19 MiB by design. Running it on the
//! HTTP workers would stall every request; running it on the shared blocking pool would
//! let a login flood take every core and all that memory. So: `concurrency` dedicated
//! threads, a bounded queue (a full queue answers 503 at once), and a lower scheduling
//! priority (nice +5 on Linux), so that under a login flood the token endpoint keeps
//! most of the CPU and logins slow down instead.
//!
//! A job that panics (a bug, or a stored hash no parser foresaw) fails its own login
//! alone: the thread catches it and takes the next job (see `crate::worker`).

use crate::oauth::password::{hash_password, verify_password, HashParams, StoredHash};
use crate::oauth::secret::random_token;
use crate::telemetry::span::{self, Span};
use crate::worker::{self, Liveness};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

/// Queue slots per hashing thread.
const QUEUE_PER_THREAD: usize = 64;
/// Nice increment of the hashing threads.
const NICENESS: i32 = 5;

type Job = Box<dyn FnOnce() + Send>;

/// The pool is saturated (or the check failed inside a thread, logged as the bug it
/// is); the caller should answer 503 and let the client retry.
#[derive(Debug, thiserror::Error)]
#[error("too many password checks in progress")]
pub struct Busy;

/// Queue slots of the one thread that checks oversized hashes.
const OVERSIZED_QUEUE: usize = 16;

/// Hashing threads and the parameters new hashes use.
#[derive(Debug)]
pub struct HashPool {
    jobs: SyncSender<Job>,
    /// Checks of stored hashes that need more memory than the configured argon2id (an
    /// imported Django argon2 hash may take up to 256 MiB), on one thread of their
    /// own: simultaneous logins of users not yet migrated cannot multiply that memory
    /// (the process needs at most `concurrency` times the configured memory, plus one
    /// of them), and while they take turns every other login goes on.
    oversized: SyncSender<Job>,
    params: HashParams,
    dummy: Arc<Dummy>,
    liveness: Liveness,
}

/// The hash an unknown user's password is checked against (made on first use, with
/// the configured cost), and how long its last check took.
#[derive(Debug, Default)]
struct Dummy {
    hash: OnceLock<String>,
    last_check_ns: AtomicU64,
}

impl Dummy {
    /// Checks `password` against the dummy hash; returns how long that took.
    fn check(&self, password: &str, params: HashParams) -> Duration {
        let started = Instant::now();
        let hash = self
            .hash
            .get_or_init(|| hash_password(&random_token(16), params).unwrap_or_default());
        verify_password(password, hash);
        let took = started.elapsed();
        let ns = u64::try_from(took.as_nanos()).unwrap_or(u64::MAX);
        self.last_check_ns.store(ns, Ordering::Relaxed);
        took
    }

    /// How long a failed check of a stored hash must last: as long as a check of the
    /// dummy hash (measured once with `password` if none has run yet).
    fn floor(&self, password: &str, params: HashParams) -> Duration {
        match self.last_check_ns.load(Ordering::Relaxed) {
            0 => self.check(password, params),
            ns => Duration::from_nanos(ns),
        }
    }
}

impl HashPool {
    /// Starts `concurrency` hashing threads.
    pub fn start(concurrency: usize, params: HashParams) -> std::io::Result<HashPool> {
        let liveness = Liveness::new(WORKER);
        let threads = |name: &str, count: usize, queue: usize| {
            let (jobs, rx) = sync_channel::<Job>(queue);
            let rx = Arc::new(Mutex::new(rx));
            for i in 0..count {
                let rx = rx.clone();
                let alive = liveness.thread();
                std::thread::Builder::new()
                    .name(format!("{name}-{i}"))
                    .spawn(move || {
                        let _alive = alive;
                        work(&rx)
                    })?;
            }
            std::io::Result::Ok(jobs)
        };
        let jobs = threads(
            "password-hash",
            concurrency,
            concurrency.saturating_mul(QUEUE_PER_THREAD),
        )?;
        let oversized = threads("password-hash-large", 1, OVERSIZED_QUEUE)?;
        Ok(HashPool {
            jobs,
            oversized,
            params,
            dummy: Arc::new(Dummy::default()),
            liveness,
        })
    }

    /// Whether every hashing thread is still running.
    pub fn liveness(&self) -> &Liveness {
        &self.liveness
    }

    /// Runs `f` on a hashing thread (the one for oversized hashes when `oversized`), in
    /// `span` (which covers the wait for a thread).
    async fn run<T: Send + 'static>(
        &self,
        span: &Span,
        oversized: bool,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            let _ = tx.send(f());
        });
        let queue = if oversized {
            &self.oversized
        } else {
            &self.jobs
        };
        let queued = match queue.try_send(job) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => Err(Busy),
        };
        let done = async move {
            queued?;
            rx.await.map_err(|_| Busy)
        };
        span.run_result(done, |_| Some("busy")).await
    }

    /// An argon2id hash of a new `password` with the configured cost, computed on a
    /// hashing thread (`Err(Busy)` when the pool is full or the hash failed).
    pub async fn hash(&self, password: String) -> Result<String, Busy> {
        let params = self.params;
        let span = span::internal("hash password");
        self.run(&span, false, move || hash_password(&password, params))
            .await?
            .map_err(|e| {
                log::error!("{e}");
                Busy
            })
    }

    /// Whether `password` matches `stored`, and the hash to store instead when it did
    /// and `stored` is weaker than the configured argon2id. With no usable stored hash
    /// (unknown user, no password, a hash costlier than the ceilings) it is checked
    /// against a dummy hash of the configured cost, so that takes the time of a native
    /// login and never more. A wrong password against a cheaper stored hash (an old
    /// Django PBKDF2 of a few thousand rounds) is answered no sooner than that either,
    /// so the time of a failure never tells a stranger the username exists.
    pub async fn verify(&self, password: String, stored: Option<String>) -> Result<Checked, Busy> {
        let dummy = self.dummy.clone();
        let params = self.params;
        let span = span::internal("verify password");
        let oversized = stored
            .as_deref()
            .map(|s| StoredHash::parse(s, params))
            .is_some_and(|h| h.is_usable() && h.memory_kib() > params.memory_kib);
        let (checked, pad) = self
            .run(&span, oversized, move || {
                let started = Instant::now();
                let parsed = stored.as_deref().map(|s| StoredHash::parse(s, params));
                match parsed.filter(StoredHash::is_usable) {
                    Some(hash) => {
                        let matched = hash.verify(&password);
                        let upgrade = (matched && hash.needs_upgrade(params))
                            .then(|| hash_password(&password, params))
                            .and_then(|new| new.map_err(|e| log::error!("{e}")).ok());
                        let pad = if matched {
                            Duration::ZERO
                        } else {
                            let took = started.elapsed();
                            dummy.floor(&password, params).saturating_sub(took)
                        };
                        (Checked { matched, upgrade }, pad)
                    }
                    None => {
                        dummy.check(&password, params);
                        let checked = Checked {
                            matched: false,
                            upgrade: None,
                        };
                        (checked, Duration::ZERO)
                    }
                }
            })
            .await?;
        if checked.upgrade.is_some() {
            span.set("tessera.password.rehashed", true);
        }
        // Waited here, not on a hashing thread: the wait costs no CPU and holds no
        // thread that another login needs.
        if !pad.is_zero() {
            tokio::time::sleep(pad).await;
        }
        Ok(checked)
    }
}

/// What checking a password found.
#[derive(Debug)]
pub struct Checked {
    /// The password matched the stored hash.
    pub matched: bool,
    /// An argon2id hash of the same password with the configured cost, to store in
    /// place of a weaker one.
    pub upgrade: Option<String>,
}

/// The pool's name, in `/readyz` and the log.
const WORKER: &str = "password-hash pool";

/// A hashing thread: runs jobs until the pool is dropped. A job's panic drops its
/// answer channel (its caller hears `Busy`) and the thread goes on.
fn work(rx: &Mutex<Receiver<Job>>) {
    worker::lower_current_thread(NICENESS, "hashing");
    loop {
        let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
        match job {
            Ok(job) => {
                let _ = worker::contain(WORKER, job);
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_panicking_check_fails_alone_and_the_threads_go_on() {
        let pool = HashPool::start(1, HashParams::default()).expect("pool");
        let span = span::internal("test");
        let failed = pool
            .run(&span, false, || -> u32 {
                panic!("a bug in one password check")
            })
            .await;
        assert!(failed.is_err());
        for i in 0..3 {
            assert_eq!(
                pool.run(&span, false, move || i * 2).await.ok(),
                Some(i * 2)
            );
        }
        assert!(pool.liveness().is_alive());
    }
}
