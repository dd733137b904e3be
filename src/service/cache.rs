//! The service layer's one cache mechanism. Every cache that can refuse a request
//! (clients, trusted issuers, the clients bound to an issuer) and every cache of fetched
//! documents (key sets at a `jwks_uri`, issuers' discovery documents) is a [`Cache`]; a
//! [`Policy`] says how each behaves:
//!
//! - **Lifetime:** an entry is served until its lifetime ends, without a lock: a fixed
//!   one (`client_cache_ttl`) or the one its value states (a response's
//!   `Cache-Control`). A fixed lifetime of zero remembers nothing.
//! - **Single flight:** concurrent misses of one key share one load, and its failure.
//! - **Bounded size:** at most `capacity` entries and as many remembered failures; beyond
//!   that the least useful are dropped (`quick_cache`'s S3-FIFO). The per-key locks are
//!   kept only while someone holds or waits for them.
//! - **Back-off:** a failed load is remembered for the policy's back-off; requests
//!   meanwhile get its error without loading again — or the last good value, while the
//!   policy lets it be served stale.
//! - **Read before refusing:** before a request is refused on what an entry says (an
//!   unknown client, another secret, no key with the token's `kid`), [`Cache::reread`]
//!   asks the source again, at most once per interval per key, concurrent refusals
//!   sharing that read. So what was added elsewhere (a client made by the CLI, another
//!   replica or `apply`, a new secret, new keys, a new issuer) works at once, while a
//!   flood of refused requests for one key costs at most one read per interval.
//!   Removals still take up to the lifetime.

use quick_cache::sync::Cache as Entries;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Least time between two reads of one database key made to avoid a refusal.
pub const MIN_REREAD: Duration = Duration::from_secs(1);

/// How long an entry is served.
#[derive(Debug)]
pub enum Lifetime<T> {
    /// The same for every entry; zero remembers nothing.
    Fixed(Duration),
    /// The one the value states (a fetched document's `Cache-Control`).
    Stated(fn(&T) -> Duration),
}

/// When a refusal may read the source again, measured from the load of the entry it
/// was refused on.
#[derive(Debug, Clone, Copy)]
pub enum Reread {
    /// Wait until the entry is this old, then read (a database: cheap, and what was
    /// just added must work).
    Wait(Duration),
    /// Read only when the entry is at least this old; a younger one stands (a remote
    /// document: never wait for it).
    IfOlder(Duration),
}

/// How a cache behaves.
#[derive(Debug)]
pub struct Policy<T> {
    /// How long an entry is served.
    pub lifetime: Lifetime<T>,
    /// Entries (and remembered failures) kept at most.
    pub capacity: usize,
    /// How long a failed load is remembered: requests meanwhile do not load again.
    pub backoff: Duration,
    /// How long after its load the last good value is served when loading fails
    /// (zero: never; [`Duration::MAX`]: always).
    pub stale_for: Duration,
    /// When a refusal may read again.
    pub reread: Reread,
}

impl<T> Policy<T> {
    /// A database cache: entries served for `ttl`, a failure shared only with the
    /// requests that waited for it (the pool has its own time limits, and a remembered
    /// outage would outlast the database's), nothing served stale, a refusal read again
    /// once a [`MIN_REREAD`].
    pub fn database(ttl: Duration, capacity: usize) -> Policy<T> {
        Policy {
            lifetime: Lifetime::Fixed(ttl),
            capacity,
            backoff: Duration::ZERO,
            stale_for: Duration::ZERO,
            reread: Reread::Wait(MIN_REREAD),
        }
    }
}

/// What a lookup found, and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// The value (as loaded from the source at some point).
    pub value: T,
    /// When it was loaded, if it came from the cache; `None` when this lookup loaded
    /// it itself (then a refusal needs no second look).
    cached_at: Option<Instant>,
}

impl<T> Found<T> {
    /// A value loaded just now for this request (never read again).
    pub fn fresh(value: T) -> Found<T> {
        Found {
            value,
            cached_at: None,
        }
    }
}

/// What a cache remembers for one key ([`Cache::peek`]).
#[derive(Debug, Clone)]
pub struct Peek<T, E> {
    /// The last good value and its age.
    pub value: Option<(T, Duration)>,
    /// The last failure remembered and its age.
    pub failure: Option<(E, Duration)>,
}

#[derive(Debug, Clone)]
struct Entry<T> {
    value: T,
    loaded_at: Instant,
    fresh_until: Instant,
}

impl<T> Entry<T> {
    fn found(self) -> Found<T> {
        Found {
            value: self.value,
            cached_at: Some(self.loaded_at),
        }
    }
}

#[derive(Debug, Clone)]
struct Failure<E> {
    error: E,
    at: Instant,
}

/// A cache of loads keyed by text (see the module documentation).
pub struct Cache<T, E> {
    policy: Policy<T>,
    entries: Entries<String, Entry<T>>,
    failures: Entries<String, Failure<E>>,
    /// One lock per key being loaded: concurrent misses wait for one load.
    flights: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl<T: Clone, E: Clone> std::fmt::Debug for Cache<T, E> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cache")
            .field("entries", &self.entries.len())
            .field("failures", &self.failures.len())
            .finish_non_exhaustive()
    }
}

impl<T: Clone, E: Clone> Cache<T, E> {
    /// An empty cache that behaves as `policy` says.
    pub fn new(policy: Policy<T>) -> Cache<T, E> {
        let capacity = policy.capacity;
        Cache {
            policy,
            entries: Entries::new(capacity),
            failures: Entries::new(capacity),
            flights: Mutex::new(HashMap::new()),
        }
    }

    /// The entry for `key` while it is within its lifetime.
    pub fn fresh(&self, key: &str) -> Option<Found<T>> {
        let entry = self.entries.get(key)?;
        (Instant::now() < entry.fresh_until).then(|| entry.found())
    }

    /// Remembers `value` for `key`, loaded now.
    pub fn store(&self, key: &str, value: T) {
        let ttl = match &self.policy.lifetime {
            Lifetime::Fixed(ttl) if ttl.is_zero() => return,
            Lifetime::Fixed(ttl) => *ttl,
            Lifetime::Stated(of) => of(&value),
        };
        let loaded_at = Instant::now();
        let fresh_until = loaded_at.checked_add(ttl).unwrap_or(loaded_at);
        let entry = Entry {
            value,
            loaded_at,
            fresh_until,
        };
        self.entries.insert(key.to_string(), entry);
    }

    /// Forgets `key` (and a failure to load it), so the next lookup loads.
    pub fn invalidate(&self, key: &str) {
        self.entries.remove(key);
        self.failures.remove(key);
    }

    /// What is remembered for `key`, without loading: the last good value and how long
    /// ago it was loaded, and the last failure (if one is remembered) and how long ago
    /// it happened. For operators' views of a cache, never for deciding a request.
    pub fn peek(&self, key: &str) -> Peek<T, E> {
        let now = Instant::now();
        Peek {
            value: self
                .entries
                .get(key)
                .map(|e| (e.value, now.saturating_duration_since(e.loaded_at))),
            failure: self
                .failures
                .get(key)
                .map(|f| (f.error, now.saturating_duration_since(f.at))),
        }
    }

    /// How many entries are remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value for `key`: the cache's while fresh, else `load`'s (remembered), shared
    /// with the concurrent misses of `key`. While a failure is remembered, its error
    /// (or the last good value, if it may be served stale) without loading.
    pub async fn get<Fut>(&self, key: &str, load: impl FnOnce() -> Fut) -> Result<Found<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(hit) = self.fresh(key) {
            return Ok(hit);
        }
        // Boxed: the hit above, the hot path, keeps a small future.
        Box::pin(self.miss(key, load)).await
    }

    /// Before refusing a request on `found`: the source's answer now, when `found`
    /// came from the cache (`None` when it was loaded for this request, or, under
    /// [`Reread::IfOlder`], is too young: nothing newer to try). Concurrent refusals
    /// share one read, and a caller that finds an entry newer than `found` takes it
    /// instead of reading.
    pub async fn reread<Fut>(
        &self,
        key: &str,
        found: &Found<T>,
        load: impl FnOnce() -> Fut,
    ) -> Result<Option<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(seen_at) = found.cached_at else {
            return Ok(None);
        };
        if let Some(newer) = self.newer_than(key, seen_at) {
            return Ok(Some(newer));
        }
        let (Reread::Wait(after) | Reread::IfOlder(after)) = self.policy.reread;
        let due = seen_at.checked_add(after).unwrap_or(seen_at);
        match self.policy.reread {
            Reread::Wait(_) => tokio::time::sleep_until(tokio::time::Instant::from_std(due)).await,
            Reread::IfOlder(_) if Instant::now() < due => return Ok(None),
            Reread::IfOlder(_) => {}
        }
        let failed = self.failures.get(key).map(|f| f.at);
        let flight = self.flight(key);
        let _turn = flight.lock().await;
        if let Some(newer) = self.newer_than(key, seen_at) {
            return Ok(Some(newer));
        }
        if let Some(answer) = self.remembered_failure(key, failed) {
            return answer.map(|f| Some(f.value));
        }
        self.load(key, load).await.map(|f| Some(f.value))
    }

    /// Whether anything is kept at all.
    fn remembers(&self) -> bool {
        !matches!(self.policy.lifetime, Lifetime::Fixed(ttl) if ttl.is_zero())
    }

    /// A miss: wait for the load under way, if any, and take its result; else load
    /// (without remembering anything under a zero lifetime).
    async fn miss<Fut>(&self, key: &str, load: impl FnOnce() -> Fut) -> Result<Found<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if !self.remembers() {
            return load().await.map(Found::fresh);
        }
        let loaded = self.entries.get(key).map(|e| e.loaded_at);
        let failed = self.failures.get(key).map(|f| f.at);
        let flight = self.flight(key);
        let _turn = flight.lock().await;
        if let Some(entry) = self.entries.get(key) {
            if Some(entry.loaded_at) != loaded || Instant::now() < entry.fresh_until {
                // Loaded while this request waited for the flight.
                return Ok(entry.found());
            }
        }
        if let Some(answer) = self.remembered_failure(key, failed) {
            return answer;
        }
        self.load(key, load).await
    }

    /// The answer a remembered failure gives, if it stands: one that happened while
    /// this request waited (`failed` is the one it saw before), or one within the
    /// back-off.
    fn remembered_failure(
        &self,
        key: &str,
        failed: Option<Instant>,
    ) -> Option<Result<Found<T>, E>> {
        let failure = self.failures.get(key)?;
        let backing_off = failure
            .at
            .checked_add(self.policy.backoff)
            .is_some_and(|until| Instant::now() < until);
        (Some(failure.at) != failed || backing_off).then(|| self.stale_or(key, failure.error))
    }

    /// Loads `key` now (the caller holds its flight) and remembers the value, or the
    /// failure.
    async fn load<Fut>(&self, key: &str, load: impl FnOnce() -> Fut) -> Result<Found<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        match load().await {
            Ok(value) => {
                self.store(key, value.clone());
                self.failures.remove(key);
                Ok(Found::fresh(value))
            }
            Err(error) => {
                let at = Instant::now();
                let failure = Failure {
                    error: error.clone(),
                    at,
                };
                self.failures.insert(key.to_string(), failure);
                self.stale_or(key, error)
            }
        }
    }

    /// The last good value for `key` while it may be served stale, else `error`.
    fn stale_or(&self, key: &str, error: E) -> Result<Found<T>, E> {
        let now = Instant::now();
        match self.entries.get(key) {
            Some(entry)
                if entry
                    .loaded_at
                    .checked_add(self.policy.stale_for)
                    .is_none_or(|until| now < until) =>
            {
                Ok(entry.found())
            }
            _ => Err(error),
        }
    }

    /// The value for `key` if it was loaded after `seen_at`.
    fn newer_than(&self, key: &str, seen_at: Instant) -> Option<T> {
        self.entries
            .get(key)
            .filter(|e| e.loaded_at > seen_at)
            .map(|e| e.value)
    }

    fn flight(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.flights.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() >= self.policy.capacity && !locks.contains_key(key) {
            // Keep only the locks someone holds or waits for.
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.to_string()).or_default().clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn database(ttl: Duration) -> Cache<u32, ()> {
        Cache::new(Policy::database(ttl, 100))
    }

    /// A source that counts the loads it answers.
    #[derive(Default)]
    struct Source {
        loads: AtomicUsize,
    }

    impl Source {
        /// A load answering `v`.
        fn answer(&self, v: u32) -> impl FnOnce() -> std::future::Ready<Result<u32, ()>> + '_ {
            move || {
                self.loads.fetch_add(1, Ordering::SeqCst);
                std::future::ready(Ok(v))
            }
        }

        fn loads(&self) -> usize {
            self.loads.load(Ordering::SeqCst)
        }
    }

    #[tokio::test]
    async fn an_entry_is_served_for_its_lifetime_then_loaded_again() {
        let cache = database(Duration::from_millis(300));
        let source = Source::default();
        let read = |v: u32| source.answer(v);
        assert_eq!(cache.get("k", read(1)).await.map(|f| f.value), Ok(1));
        assert_eq!(cache.get("k", read(2)).await.map(|f| f.value), Ok(1));
        assert_eq!(source.loads(), 1);
        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(cache.get("k", read(3)).await.map(|f| f.value), Ok(3));
        assert_eq!(source.loads(), 2);
    }

    #[tokio::test]
    async fn a_value_can_state_its_own_lifetime() {
        let cache: Cache<(u32, Duration), ()> = Cache::new(Policy {
            lifetime: Lifetime::Stated(|v: &(u32, Duration)| v.1),
            ..Policy::database(Duration::from_secs(60), 100)
        });
        let short = (1, Duration::from_millis(100));
        let long = (2, Duration::from_secs(60));
        cache
            .get("short", || async { Ok(short) })
            .await
            .expect("load");
        cache
            .get("long", || async { Ok(long) })
            .await
            .expect("load");
        tokio::time::sleep(Duration::from_millis(150)).await;
        assert!(cache.fresh("short").is_none(), "its 100 ms are over");
        assert_eq!(cache.fresh("long").map(|f| f.value), Some(long));
    }

    #[tokio::test]
    async fn concurrent_misses_of_one_key_share_one_load_and_its_failure() {
        let cache = database(Duration::from_secs(60));
        let reads = AtomicUsize::new(0);
        let slow = |v: u32| {
            let reads = &reads;
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(100)).await;
                Ok::<u32, ()>(v)
            }
        };
        let (a, b, c) = tokio::join!(
            cache.get("k", slow(1)),
            cache.get("k", slow(2)),
            cache.get("k", slow(3)),
        );
        assert_eq!(reads.load(Ordering::SeqCst), 1, "one load for three misses");
        assert_eq!([a, b, c].map(|r| r.map(|f| f.value)), [Ok(1), Ok(1), Ok(1)]);

        // Another key is not held up by this one, and a failure is shared too.
        let failing = || async {
            reads.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(100)).await;
            Err::<u32, ()>(())
        };
        let (x, y) = tokio::join!(cache.get("down", failing), cache.get("down", failing));
        assert_eq!((x.map(|f| f.value), y.map(|f| f.value)), (Err(()), Err(())));
        assert_eq!(reads.load(Ordering::SeqCst), 2, "one load for both");
        // Without a back-off, the next request loads again.
        assert_eq!(
            cache.get("down", || async { Ok(7) }).await.map(|f| f.value),
            Ok(7)
        );
    }

    #[tokio::test]
    async fn a_failed_load_is_remembered_for_the_back_off_and_the_last_good_value_served() {
        let cache: Cache<u32, &str> = Cache::new(Policy {
            lifetime: Lifetime::Fixed(Duration::from_millis(50)),
            capacity: 100,
            backoff: Duration::from_millis(300),
            stale_for: Duration::from_millis(1_500),
            reread: Reread::IfOlder(Duration::from_secs(10)),
        });
        let loads = AtomicUsize::new(0);
        let fail = || async {
            loads.fetch_add(1, Ordering::SeqCst);
            Err::<u32, &str>("down")
        };
        assert_eq!(cache.get("new", fail).await.map(|f| f.value), Err("down"));
        assert_eq!(cache.get("new", fail).await.map(|f| f.value), Err("down"));
        assert_eq!(
            loads.load(Ordering::SeqCst),
            1,
            "failed fast, without a load"
        );

        cache.get("k", || async { Ok(1) }).await.expect("load");
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(cache.get("k", fail).await.map(|f| f.value), Ok(1), "stale");
        assert_eq!(cache.get("k", fail).await.map(|f| f.value), Ok(1));
        assert_eq!(
            loads.load(Ordering::SeqCst),
            2,
            "one load within the back-off"
        );

        tokio::time::sleep(Duration::from_millis(350)).await;
        assert_eq!(
            cache.get("new", || async { Ok(5) }).await.map(|f| f.value),
            Ok(5)
        );
        assert_eq!(
            cache.get("k", fail).await.map(|f| f.value),
            Ok(1),
            "still stale"
        );
        assert_eq!(
            loads.load(Ordering::SeqCst),
            3,
            "loaded again after the back-off"
        );
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert_eq!(
            cache.get("k", fail).await.map(|f| f.value),
            Err("down"),
            "too old to serve"
        );
    }

    #[tokio::test]
    async fn refusals_read_at_most_once_a_second_and_share_the_read() {
        let cache = database(Duration::from_secs(5));
        let source = Source::default();
        let read = |v: u32| source.answer(v);
        let first = cache.get("k", read(1)).await.expect("read");
        assert_eq!(source.loads(), 1);
        let nothing_newer = cache.reread("k", &first, read(9)).await;
        assert_eq!(
            nothing_newer,
            Ok(None),
            "read for this request: no second look"
        );

        let cached = cache.get("k", read(2)).await.expect("cached");
        assert_eq!(cached.value, 1);
        let started = Instant::now();
        // futures' join polls in order (tokio's rotates): the first refusal reads.
        let (a, b, c) = futures::join!(
            cache.reread("k", &cached, read(3)),
            cache.reread("k", &cached, read(4)),
            cache.reread("k", &cached, read(5)),
        );
        assert_eq!(source.loads(), 2, "one read for three refusals");
        assert_eq!([a, b, c], [Ok(Some(3)), Ok(Some(3)), Ok(Some(3))]);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(950),
            "{waited:?}: 1 s after the read"
        );
        assert_eq!(cache.fresh("k").map(|f| f.value), Some(3));

        // A refusal on the new entry waits for its second, then reads again.
        let again = cache.get("k", read(6)).await.expect("cached");
        let before = Instant::now();
        assert_eq!(cache.reread("k", &again, read(7)).await, Ok(Some(7)));
        assert!(before.elapsed() >= Duration::from_millis(950));
        assert_eq!(source.loads(), 3);
    }

    #[tokio::test]
    async fn a_remote_refusal_reads_again_only_once_the_entry_is_old_enough() {
        let cache: Cache<u32, ()> = Cache::new(Policy {
            lifetime: Lifetime::Fixed(Duration::from_secs(60)),
            capacity: 100,
            backoff: Duration::from_secs(10),
            stale_for: Duration::MAX,
            reread: Reread::IfOlder(Duration::from_millis(500)),
        });
        cache.get("k", || async { Ok(1) }).await.expect("load");
        let cached = cache.get("k", || async { Ok(2) }).await.expect("cached");
        let started = Instant::now();
        let young = cache.reread("k", &cached, || async { Ok(3) }).await;
        assert_eq!(young, Ok(None), "too young: the entry stands");
        assert!(started.elapsed() < Duration::from_millis(400), "no wait");
        tokio::time::sleep(Duration::from_millis(550)).await;
        assert_eq!(
            cache.reread("k", &cached, || async { Ok(4) }).await,
            Ok(Some(4))
        );
        // A refusal on the older entry takes the newer one without a read.
        assert_eq!(
            cache.reread("k", &cached, || async { Ok(5) }).await,
            Ok(Some(4))
        );
    }

    #[tokio::test]
    async fn a_zero_lifetime_remembers_nothing_and_never_rereads() {
        let cache = database(Duration::ZERO);
        let found = cache
            .get("k", || async { Ok::<u32, ()>(1) })
            .await
            .expect("read");
        assert!(cache.is_empty());
        assert_eq!(
            cache
                .reread("k", &found, || async { Ok::<u32, ()>(2) })
                .await,
            Ok(None)
        );
    }

    #[test]
    fn the_cache_and_its_locks_stay_within_their_bound() {
        let cache: Cache<Option<u32>, ()> =
            Cache::new(Policy::database(Duration::from_secs(60), 1_000));
        for i in 0..3_000 {
            cache.store(&format!("made-up-{i}"), None);
            drop(cache.flight(&format!("made-up-{i}")));
        }
        assert!(cache.len() <= 1_000, "{} entries", cache.len());
        assert!(cache.flights.lock().map(|l| l.len()).unwrap_or(0) <= 1_000);
    }
}
