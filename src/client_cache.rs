//! Clients cached in memory for the token endpoint's hot path.
//!
//! Staleness bound: a change made elsewhere (CLI, another replica) is seen at the
//! latest `client_cache_ttl` seconds later (default 5). Changes made through this
//! process invalidate its entry at once.

use crate::db::models::Client;
use crate::db::{pool, DbError, DbPool};
use crate::oauth::RegisteredClient;
use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// Entries beyond this are dropped wholesale; a flood of made-up ids cannot grow it.
const MAX_ENTRIES: usize = 100_000;

/// A cached lookup result (`None`: no such client) and when it was read.
type Entry = (Option<Arc<RegisteredClient>>, Instant);

/// The cache.
#[derive(Debug)]
pub struct ClientCache {
    ttl: Duration,
    entries: RwLock<HashMap<String, Entry>>,
}

impl ClientCache {
    /// A cache whose entries are trusted for `ttl` (zero: never cached).
    pub fn new(ttl: Duration) -> ClientCache {
        ClientCache {
            ttl,
            entries: RwLock::new(HashMap::new()),
        }
    }

    fn fresh(&self, id: &str) -> Option<Option<Arc<RegisteredClient>>> {
        let map = self.entries.read().ok()?;
        let (client, at) = map.get(id)?;
        (at.elapsed() < self.ttl).then(|| client.clone())
    }

    fn store(&self, id: &str, client: Option<Arc<RegisteredClient>>) {
        if self.ttl.is_zero() {
            return;
        }
        if let Ok(mut map) = self.entries.write() {
            if map.len() >= MAX_ENTRIES {
                map.clear();
            }
            map.insert(id.to_string(), (client, Instant::now()));
        }
    }

    /// Forgets a client, so the next lookup reads the database.
    pub fn invalidate(&self, id: &str) {
        if let Ok(mut map) = self.entries.write() {
            map.remove(id);
        }
    }

    /// The client with this id, from the cache or the database (off the async workers).
    /// Unknown ids are cached too, so guessing ids does not reach the database each time.
    pub async fn lookup(
        &self,
        pool: &DbPool,
        id: &str,
    ) -> Result<Option<Arc<RegisteredClient>>, DbError> {
        if let Some(hit) = self.fresh(id) {
            return Ok(hit);
        }
        let pool = pool.clone();
        let key = id.to_string();
        let found = actix_web::web::block(move || -> Result<Option<Client>, DbError> {
            let mut conn = pool::get(&pool)?;
            Ok(Client::find(&mut conn, &key)?)
        })
        .await
        .map_err(|e| DbError::Unavailable(e.to_string()))??;
        let client = found.map(|c| Arc::new(c.to_registered()));
        self.store(id, client.clone());
        Ok(client)
    }
}
