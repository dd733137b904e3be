//! `tessera serve`.

use crate::config::Settings;
use crate::startup::Application;

/// Runs the server until SIGINT/SIGTERM.
pub fn run(settings: Settings) -> anyhow::Result<()> {
    actix_web::rt::System::new().block_on(async move {
        let app = Application::build(settings).await?;
        if let Some(admin) = &app.bootstrap_admin {
            // Straight to stderr, never through the logger: shown once, never logged.
            eprintln!(
                "\ntessera: created the bootstrap admin client (scope tessera:admin).\n\
                 Store the secret now; it is not shown again.\n  \
                 client_id:     {}\n  client_secret: {}\n",
                admin.client.client_id,
                admin.client_secret.as_deref().unwrap_or_default()
            );
        }
        if let Some(link) = &app.console_setup_link {
            // Like the admin secret: shown once, never logged.
            eprintln!(
                "\ntessera: the console has no operator yet. Create the first one within \
                 an hour at this one-time link:\n  {link}\n(or run `tessera operator add \
                 --username NAME`)\n"
            );
        }
        app.run_until_stopped().await?;
        Ok(())
    })
}
