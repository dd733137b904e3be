//! `tessera audit`: the newest entries of the audit log, as JSON.

use super::{connect, print_json};
use crate::config::Settings;
use crate::db::models::audit;

/// Prints the newest `limit` audit entries, newest first.
pub fn run(settings: &Settings, limit: i64) -> anyhow::Result<()> {
    if !(1..=10_000).contains(&limit) {
        anyhow::bail!("--limit must be 1 to 10000");
    }
    let mut conn = connect(settings)?;
    print_json(&audit::recent(&mut conn, limit)?)
}
