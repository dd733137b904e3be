//! `tessera migrate`.

use crate::config::Settings;

/// Applies pending migrations and reports how many ran.
pub fn run(settings: &Settings) -> anyhow::Result<()> {
    let mut conn = super::open(settings, true)?;
    let ran = crate::db::run_migrations(&mut conn)?;
    eprintln!(
        "applied {ran} migration(s) to {}",
        settings.database.database_url.redacted()
    );
    super::print_json(&serde_json::json!({ "applied": ran }))
}
