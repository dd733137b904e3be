//! The `client_usage` and `token_outcomes` tables: what replicas counted in memory,
//! added here in one upsert per flush, and the reads the console and `/metrics` make
//! of them (the clients inventory, a client's days, the last hour, unused clients).
//!
//! Statements are written once with `?` placeholders and bound per backend
//! ([`Bind`]), because their number depends on the batch or the filters.

use crate::db::schema::{client_usage, token_outcomes};
use crate::db::DbConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Bool, Nullable, Text};

/// Seconds in a day: `day` values are multiples of it (00:00 UTC).
pub const DAY: i64 = 86_400;
/// Seconds in a minute: `minute` values are multiples of it.
pub const MINUTE: i64 = 60;
/// Rows per upsert statement: a flush is one statement up to this many (client, day)
/// pairs, well inside both databases' limits on bound parameters.
pub const BATCH: usize = 1_000;

/// Start (00:00 UTC) of the day of `t`, Unix seconds.
pub fn day_of(t: i64) -> i64 {
    t.saturating_sub(t.checked_rem_euclid(DAY).unwrap_or(0))
}

/// Start of the minute of `t`, Unix seconds.
pub fn minute_of(t: i64) -> i64 {
    t.saturating_sub(t.checked_rem_euclid(MINUTE).unwrap_or(0))
}

/// A value bound to a `?` of a statement built at run time.
#[derive(Debug, Clone)]
pub enum Bind {
    /// TEXT.
    Text(String),
    /// BIGINT.
    Int(i64),
}

/// `?` placeholders as PostgreSQL numbers them (`$1`, `$2`, …). The statements here
/// hold no `?` inside a literal.
fn numbered(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len().saturating_add(16));
    let mut n: u32 = 0;
    for ch in sql.chars() {
        if ch == '?' {
            n = n.saturating_add(1);
            out.push('$');
            out.push_str(&n.to_string());
        } else {
            out.push(ch);
        }
    }
    out
}

macro_rules! bound {
    ($conn:expr, $sql:expr, $binds:expr, |$q:ident| $run:expr) => {
        match $conn {
            DbConnection::Sqlite(c) => {
                let mut $q = diesel::sql_query($sql).into_boxed::<diesel::sqlite::Sqlite>();
                for b in $binds {
                    $q = match b {
                        Bind::Text(s) => $q.bind::<Text, _>(s.clone()),
                        Bind::Int(i) => $q.bind::<BigInt, _>(*i),
                    };
                }
                $run(c)
            }
            DbConnection::Pg(c) => {
                let mut $q = diesel::sql_query(numbered($sql)).into_boxed::<diesel::pg::Pg>();
                for b in $binds {
                    $q = match b {
                        Bind::Text(s) => $q.bind::<Text, _>(s.clone()),
                        Bind::Int(i) => $q.bind::<BigInt, _>(*i),
                    };
                }
                $run(c)
            }
        }
    };
}

/// Runs a statement with `binds`; the rows it changed.
pub fn execute(conn: &mut DbConnection, sql: &str, binds: &[Bind]) -> QueryResult<usize> {
    bound!(conn, sql, binds, |q| |c| q.execute(c))
}

/// Runs a query with `binds`; its rows.
pub fn load<T>(conn: &mut DbConnection, sql: &str, binds: &[Bind]) -> QueryResult<Vec<T>>
where
    T: QueryableByName<diesel::sqlite::Sqlite> + QueryableByName<diesel::pg::Pg> + 'static,
{
    bound!(conn, sql, binds, |q| |c| q.load::<T>(c))
}

/// One client's tokens on one day, as a replica counted them since its last flush.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageCount {
    /// The client.
    pub client_id: String,
    /// 00:00 UTC of the day, Unix seconds.
    pub day: i64,
    /// Tokens issued.
    pub tokens: i64,
    /// The last one's time, Unix seconds.
    pub last_used_at: i64,
}

/// Adds `counts` to the stored ones in one statement per [`BATCH`] rows: counts are
/// added (so every replica's flush sums) and the later `last_used_at` kept.
pub fn add_usage(conn: &mut DbConnection, counts: &[UsageCount]) -> QueryResult<usize> {
    let mut written = 0usize;
    for chunk in counts.chunks(BATCH) {
        let rows = vec!["(?, ?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO client_usage (client_id, day, tokens, last_used_at) VALUES {rows} \
             ON CONFLICT (client_id, day) DO UPDATE SET \
             tokens = client_usage.tokens + excluded.tokens, \
             last_used_at = CASE WHEN excluded.last_used_at > client_usage.last_used_at \
             THEN excluded.last_used_at ELSE client_usage.last_used_at END"
        );
        let binds: Vec<Bind> = chunk
            .iter()
            .flat_map(|c| {
                [
                    Bind::Text(c.client_id.clone()),
                    Bind::Int(c.day),
                    Bind::Int(c.tokens),
                    Bind::Int(c.last_used_at),
                ]
            })
            .collect();
        written = written.saturating_add(execute(conn, &sql, &binds)?);
    }
    Ok(written)
}

/// Adds a flush's counts in one transaction: [`add_usage`] and [`add_outcomes`];
/// the rows each added to.
pub fn add(
    conn: &mut DbConnection,
    counts: &[UsageCount],
    outcomes: &[(i64, String, i64)],
) -> QueryResult<(usize, usize)> {
    conn.transaction(|c| Ok((add_usage(c, counts)?, add_outcomes(c, outcomes)?)))
}

/// Adds per-minute outcome counts `(minute, outcome, count)`, one statement per batch.
pub fn add_outcomes(conn: &mut DbConnection, counts: &[(i64, String, i64)]) -> QueryResult<usize> {
    let mut written = 0usize;
    for chunk in counts.chunks(BATCH) {
        let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
        let sql = format!(
            "INSERT INTO token_outcomes (minute, outcome, count) VALUES {rows} \
             ON CONFLICT (minute, outcome) DO UPDATE SET \
             count = token_outcomes.count + excluded.count"
        );
        let binds: Vec<Bind> = chunk
            .iter()
            .flat_map(|(m, o, n)| [Bind::Int(*m), Bind::Text(o.clone()), Bind::Int(*n)])
            .collect();
        written = written.saturating_add(execute(conn, &sql, &binds)?);
    }
    Ok(written)
}

/// Deletes day rows before `days_before` except each client's latest (which holds its
/// `last_used_at`), rows of clients that no longer exist, and outcome minutes before
/// `minutes_before`.
pub fn purge(conn: &mut DbConnection, days_before: i64, minutes_before: i64) -> QueryResult<usize> {
    let days = execute(
        conn,
        "DELETE FROM client_usage WHERE day < ? AND day < \
         (SELECT MAX(u.day) FROM client_usage u WHERE u.client_id = client_usage.client_id)",
        &[Bind::Int(days_before)],
    )?;
    // A flush that raced a client's deletion wrote rows nothing reads.
    let orphans = execute(
        conn,
        "DELETE FROM client_usage WHERE NOT EXISTS \
         (SELECT 1 FROM clients c WHERE c.client_id = client_usage.client_id)",
        &[],
    )?;
    let minutes =
        diesel::delete(token_outcomes::table.filter(token_outcomes::minute.lt(minutes_before)))
            .execute(conn)?;
    Ok(days.saturating_add(orphans).saturating_add(minutes))
}

/// Deletes a client's usage (the client was deleted).
pub fn delete_client(conn: &mut DbConnection, client_id: &str) -> QueryResult<usize> {
    diesel::delete(client_usage::table.filter(client_usage::client_id.eq(client_id))).execute(conn)
}

/// When each of `ids` was last used, as flushed so far (clients never used are absent).
pub fn last_used(
    conn: &mut DbConnection,
    ids: &[String],
) -> QueryResult<std::collections::HashMap<String, i64>> {
    let mut out = std::collections::HashMap::new();
    for chunk in ids.chunks(BATCH) {
        let rows: Vec<(String, Option<i64>)> = client_usage::table
            .filter(client_usage::client_id.eq_any(chunk))
            .group_by(client_usage::client_id)
            .select((
                client_usage::client_id,
                diesel::dsl::max(client_usage::last_used_at),
            ))
            .load(conn)?;
        out.extend(rows.into_iter().filter_map(|(id, t)| Some((id, t?))));
    }
    Ok(out)
}

/// A client's stored day counts from `from_day` on, `(day, tokens)` by day.
pub fn days(
    conn: &mut DbConnection,
    client_id: &str,
    from_day: i64,
) -> QueryResult<Vec<(i64, i64)>> {
    client_usage::table
        .filter(client_usage::client_id.eq(client_id))
        .filter(client_usage::day.ge(from_day))
        .order(client_usage::day.asc())
        .select((client_usage::day, client_usage::tokens))
        .load(conn)
}

/// Stored outcome counts from `from_minute` on, `(minute, outcome, count)`.
pub fn outcomes_since(
    conn: &mut DbConnection,
    from_minute: i64,
) -> QueryResult<Vec<(i64, String, i64)>> {
    token_outcomes::table
        .filter(token_outcomes::minute.ge(from_minute))
        .select((
            token_outcomes::minute,
            token_outcomes::outcome,
            token_outcomes::count,
        ))
        .load(conn)
}

#[derive(QueryableByName)]
struct Counted {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

/// Clients whose last use (their creation, if never used) is before `before`.
pub fn unused_since(conn: &mut DbConnection, before: i64) -> QueryResult<u64> {
    let rows: Vec<Counted> = load(
        conn,
        "SELECT COUNT(*) AS n FROM clients c LEFT JOIN \
         (SELECT client_id, MAX(last_used_at) AS last_used_at FROM client_usage \
          GROUP BY client_id) u ON u.client_id = c.client_id \
         WHERE COALESCE(u.last_used_at, c.created_at) < ?",
        &[Bind::Int(before)],
    )?;
    Ok(rows
        .first()
        .map_or(0, |r| u64::try_from(r.n).unwrap_or_default()))
}

/// Clients unused for 30 and for 90 days at `now` ([`unused_since`]).
pub fn unused_counts(conn: &mut DbConnection, now: i64) -> QueryResult<(u64, u64)> {
    Ok((
        unused_since(conn, now.saturating_sub(30 * DAY))?,
        unused_since(conn, now.saturating_sub(90 * DAY))?,
    ))
}

/// A `LIKE` pattern matching `text` anywhere, `%`, `_` and `\` taken literally (with
/// `ESCAPE '\'`), lower-cased to compare with `lower(column)`.
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::with_capacity(text.len().saturating_add(2));
    p.push('%');
    for ch in text.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p.push('%');
    p
}

/// Which clients an inventory page lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryState {
    /// Every client.
    All,
    /// Enabled clients.
    Enabled,
    /// Disabled clients.
    Disabled,
    /// Last used (or, never used, created) before this time.
    UnusedBefore(i64),
    /// Made by `tessera apply`.
    Managed,
}

/// Columns an inventory page is sorted by (then by client id, for a stable order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InventoryOrder {
    /// Client id.
    Id,
    /// Name.
    Name,
    /// Last use (never used first when ascending).
    LastUsed,
    /// Tokens since `since`.
    Tokens,
    /// When the current secret was set.
    SecretAge,
}

/// One inventory page's question, in storage terms.
#[derive(Debug, Clone)]
pub struct InventoryFilter {
    /// A lower-cased `LIKE` pattern over id and name ([`contains_pattern`]).
    pub pattern: Option<String>,
    /// Exact `auth_method`.
    pub auth_method: Option<String>,
    /// Which clients.
    pub state: InventoryState,
    /// Sort column.
    pub order: InventoryOrder,
    /// Descending.
    pub descending: bool,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return.
    pub limit: i64,
    /// Tokens are counted on days from this one (00:00 UTC) on.
    pub tokens_from_day: i64,
}

/// One row of the clients inventory.
#[derive(Debug, Clone, QueryableByName)]
pub struct InventoryRecord {
    /// Client id.
    #[diesel(sql_type = Text)]
    pub client_id: String,
    /// Name.
    #[diesel(sql_type = Text)]
    pub name: String,
    /// `token_endpoint_auth_method`.
    #[diesel(sql_type = Text)]
    pub auth_method: String,
    /// Space-separated scope.
    #[diesel(sql_type = Text)]
    pub scope: String,
    /// Disabled.
    #[diesel(sql_type = Bool)]
    pub disabled: bool,
    /// Created, Unix seconds.
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
    /// Whether the client has a secret.
    #[diesel(sql_type = Bool)]
    pub has_secret: bool,
    /// When the current secret was set (stored), Unix seconds.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub secret_created_at: Option<i64>,
    /// When the previous secret stops working, Unix seconds.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub previous_secret_expires_at: Option<i64>,
    /// `apply`, or `None` for a client made by hand.
    #[diesel(sql_type = Nullable<Text>)]
    pub managed_by: Option<String>,
    /// Last use as flushed, Unix seconds.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub last_used_at: Option<i64>,
    /// Tokens on the days counted.
    #[diesel(sql_type = BigInt)]
    pub tokens: i64,
}

/// The inventory page `filter` asks for and how many clients match in all.
pub fn inventory(
    conn: &mut DbConnection,
    filter: &InventoryFilter,
) -> QueryResult<(Vec<InventoryRecord>, u64)> {
    let mut cond = vec!["1 = 1"];
    let mut binds = vec![Bind::Int(filter.tokens_from_day)];
    let mut where_binds = Vec::new();
    if let Some(p) = &filter.pattern {
        cond.push("(lower(c.client_id) LIKE ? ESCAPE '\\' OR lower(c.name) LIKE ? ESCAPE '\\')");
        where_binds.push(Bind::Text(p.clone()));
        where_binds.push(Bind::Text(p.clone()));
    }
    if let Some(m) = &filter.auth_method {
        cond.push("c.auth_method = ?");
        where_binds.push(Bind::Text(m.clone()));
    }
    match filter.state {
        InventoryState::All => {}
        InventoryState::Enabled => cond.push("c.disabled = FALSE"),
        InventoryState::Disabled => cond.push("c.disabled = TRUE"),
        InventoryState::Managed => cond.push("c.managed_by IS NOT NULL"),
        InventoryState::UnusedBefore(t) => {
            cond.push("COALESCE(u.last_used_at, c.created_at) < ?");
            where_binds.push(Bind::Int(t));
        }
    }
    let direction = if filter.descending { "DESC" } else { "ASC" };
    let order = match filter.order {
        InventoryOrder::Id => format!("c.client_id {direction}"),
        InventoryOrder::Name => format!("c.name {direction}, c.client_id {direction}"),
        // Never used sorts as the oldest use.
        InventoryOrder::LastUsed => {
            format!("COALESCE(u.last_used_at, -1) {direction}, c.client_id ASC")
        }
        InventoryOrder::Tokens => {
            format!("COALESCE(u.tokens, 0) {direction}, c.client_id ASC")
        }
        InventoryOrder::SecretAge => format!(
            // Oldest secret first when ascending by age (descending by time).
            "CASE WHEN c.secret_hash IS NULL THEN 1 ELSE 0 END ASC, \
             COALESCE(c.secret_created_at, c.created_at) {}, c.client_id ASC",
            if filter.descending { "ASC" } else { "DESC" }
        ),
    };
    let from = format!(
        "FROM clients c LEFT JOIN \
         (SELECT client_id, MAX(last_used_at) AS last_used_at, \
                 SUM(CASE WHEN day >= ? THEN tokens ELSE 0 END) AS tokens \
          FROM client_usage GROUP BY client_id) u ON u.client_id = c.client_id \
         WHERE {}",
        cond.join(" AND ")
    );
    binds.extend(where_binds);
    let total: Vec<Counted> = load(conn, &format!("SELECT COUNT(*) AS n {from}"), &binds)?;
    let total = total
        .first()
        .map_or(0, |r| u64::try_from(r.n).unwrap_or_default());
    let sql = format!(
        "SELECT c.client_id, c.name, c.auth_method, c.scope, c.disabled, c.created_at, \
         c.secret_hash IS NOT NULL AS has_secret, c.secret_created_at, \
         c.previous_secret_expires_at, c.managed_by, u.last_used_at, \
         CAST(COALESCE(u.tokens, 0) AS BIGINT) AS tokens \
         {from} ORDER BY {order} LIMIT ? OFFSET ?"
    );
    binds.push(Bind::Int(filter.limit));
    binds.push(Bind::Int(filter.offset));
    Ok((load(conn, &sql, &binds)?, total))
}
