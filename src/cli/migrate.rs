//! `tessera migrate`.

use crate::config::Settings;

/// Applies pending migrations and reports how many ran.
pub fn run(settings: &Settings) -> anyhow::Result<()> {
    let mut small = settings.clone();
    small.db_pool_size = 1;
    let pool = crate::startup::pool_for(&small, true)?;
    let mut conn = crate::db::pool::get(&pool)?;
    let ran = crate::db::run_migrations(&mut conn)?;
    eprintln!(
        "applied {ran} migration(s) to {}",
        settings.database_url.redacted()
    );
    super::print_json(&serde_json::json!({ "applied": ran }))
}
