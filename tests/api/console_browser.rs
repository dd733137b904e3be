//! temporary harness smoke test
use crate::helpers::{spawn_app, Browser};

#[tokio::test]
#[ignore = "needs chromium"]
async fn harness_smoke() {
    let app = spawn_app().await;
    let b = Browser::start("smoke").await;
    b.step("open", async {
        b.goto(&format!("{}/.well-known/oauth-authorization-server", app.address)).await;
        b.expect_text("token_endpoint").await;
    }).await;
    b.resize(360, 800).await;
    let w = b.js("return [window.innerWidth, document.body.scrollWidth, document.documentElement.clientWidth];").await;
    eprintln!("widths at 360: {w}");
    let _ = std::process::Command::new("sh").arg("-c").arg("ps -eo pid,pgid,ppid,comm | grep -E 'chrom' | head -30").status();
    b.step("fails", async {
        b.expect_text("no such text").await;
    }).await;
}
