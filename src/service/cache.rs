//! The shape of tessera's database caches (clients, trusted issuers, the clients bound
//! to an issuer): an entry is trusted for the cache's lifetime (`client_cache_ttl`),
//! and before a request is refused on what an entry says, the database is read again.
//!
//! So whatever was added elsewhere — a client made by the CLI, another replica or
//! `apply`, a new secret, new keys, a new issuer — works at once, while a flood of
//! refused requests for one key costs at most one database read a second: a re-read
//! waits until the entry it would replace is a second old, and concurrent refusals for
//! one key share that one read. Removals still take up to the lifetime.

use quick_cache::sync::Cache;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Least time between two reads of one key made to avoid a refusal.
pub const MIN_REREAD: Duration = Duration::from_secs(1);

/// What a lookup found, and whether it came from the cache.
#[derive(Debug, Clone)]
pub struct Found<T> {
    /// The value (as read from the database at some point).
    pub value: T,
    /// When the database was read for it, if it came from the cache; `None` when this
    /// lookup read the database itself (then a refusal needs no second look).
    cached_at: Option<Instant>,
}

impl<T> Found<T> {
    /// A value read just now for this request (never re-read).
    pub fn fresh(value: T) -> Found<T> {
        Found {
            value,
            cached_at: None,
        }
    }
}

/// A cache of database reads keyed by text, with a lifetime and a read before refusing.
pub struct ReadCache<T> {
    ttl: Duration,
    entries: Cache<String, (T, Instant)>,
    /// One lock per key being re-read: concurrent refusals wait for one read.
    rereads: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    capacity: usize,
}

impl<T: Clone> std::fmt::Debug for ReadCache<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadCache")
            .field("ttl", &self.ttl)
            .field("entries", &self.entries.len())
            .finish()
    }
}

impl<T: Clone> ReadCache<T> {
    /// A cache of at most `capacity` entries, each trusted for `ttl` (zero: nothing is
    /// remembered, every lookup reads).
    pub fn new(ttl: Duration, capacity: usize) -> ReadCache<T> {
        ReadCache {
            ttl,
            entries: Cache::new(capacity),
            rereads: Mutex::new(HashMap::new()),
            capacity,
        }
    }

    /// The entry for `key` while it is within its lifetime.
    pub fn fresh(&self, key: &str) -> Option<Found<T>> {
        let (value, at) = self.entries.get(key)?;
        (at.elapsed() < self.ttl).then_some(Found {
            value,
            cached_at: Some(at),
        })
    }

    /// Remembers `value` for `key`, read now.
    pub fn store(&self, key: &str, value: T) {
        if !self.ttl.is_zero() {
            self.entries
                .insert(key.to_string(), (value, Instant::now()));
        }
    }

    /// Forgets `key`, so the next lookup reads the database.
    pub fn invalidate(&self, key: &str) {
        self.entries.remove(key);
    }

    /// How many entries are remembered now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether nothing is remembered.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The value for `key`: the cache's while fresh, else `read`'s (remembered).
    pub async fn get<E, Fut>(&self, key: &str, read: impl FnOnce() -> Fut) -> Result<Found<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        if let Some(hit) = self.fresh(key) {
            return Ok(hit);
        }
        let value = read().await?;
        self.store(key, value.clone());
        Ok(Found::fresh(value))
    }

    /// Before refusing a request on `found`: the database's answer now, when `found`
    /// came from the cache (`None` when it was read for this request: nothing newer to
    /// try). The read happens at most once a [`MIN_REREAD`] per key: it waits until the
    /// entry is that old, and a caller that finds a newer entry after waiting for
    /// another's read takes that entry instead of reading.
    pub async fn reread<E, Fut>(
        &self,
        key: &str,
        found: &Found<T>,
        read: impl FnOnce() -> Fut,
    ) -> Result<Option<T>, E>
    where
        Fut: Future<Output = Result<T, E>>,
    {
        let Some(seen_at) = found.cached_at else {
            return Ok(None);
        };
        let lock = self.lock_for(key);
        let _turn = lock.lock().await;
        if let Some((value, at)) = self.entries.get(key) {
            if at > seen_at {
                return Ok(Some(value));
            }
        }
        let wait = seen_at.checked_add(MIN_REREAD).map_or(Duration::ZERO, |t| {
            t.saturating_duration_since(Instant::now())
        });
        tokio::time::sleep(wait).await;
        let value = read().await?;
        self.store(key, value.clone());
        Ok(Some(value))
    }

    fn lock_for(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.rereads.lock().unwrap_or_else(|p| p.into_inner());
        if locks.len() >= self.capacity && !locks.contains_key(key) {
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

    #[tokio::test]
    async fn refusals_read_at_most_once_a_second_and_share_the_read() {
        let cache: ReadCache<u32> = ReadCache::new(Duration::from_secs(5), 100);
        let reads = AtomicUsize::new(0);
        let read = |v: u32| {
            let reads = &reads;
            move || async move {
                reads.fetch_add(1, Ordering::SeqCst);
                Ok::<u32, ()>(v)
            }
        };
        let first = cache.get("k", read(1)).await.expect("read");
        assert_eq!(reads.load(Ordering::SeqCst), 1);
        let nothing_newer = cache.reread("k", &first, read(9)).await;
        assert_eq!(
            nothing_newer,
            Ok(None),
            "read for this request: no second look"
        );

        let cached = cache.get("k", read(2)).await.expect("cached");
        assert_eq!(cached.value, 1);
        let started = Instant::now();
        let (a, b, c) = tokio::join!(
            cache.reread("k", &cached, read(3)),
            cache.reread("k", &cached, read(4)),
            cache.reread("k", &cached, read(5)),
        );
        assert_eq!(
            reads.load(Ordering::SeqCst),
            2,
            "one read for three refusals"
        );
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
        assert_eq!(reads.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn a_zero_lifetime_remembers_nothing_and_never_rereads() {
        let cache: ReadCache<u32> = ReadCache::new(Duration::ZERO, 100);
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
        let cache: ReadCache<Option<u32>> = ReadCache::new(Duration::from_secs(60), 1_000);
        for i in 0..3_000 {
            cache.store(&format!("made-up-{i}"), None);
            drop(cache.lock_for(&format!("made-up-{i}")));
        }
        assert!(cache.len() <= 1_000, "{} entries", cache.len());
        assert!(cache.rereads.lock().map(|l| l.len()).unwrap_or(0) <= 1_000);
    }
}
