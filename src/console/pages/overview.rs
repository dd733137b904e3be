//! `/console/`: the overview. The token endpoint's outcomes over the last hour (a
//! per-minute chart and the totals by reason), the signing key's state (the active
//! kid, its age, the next rotation), and the credentials that want attention (clients
//! unused for 30 and 90 days, secrets in a rotation's overlap), each linking into its
//! list.

use super::outcome;
use crate::admin::clients::overlap::{secret_overlaps, SecretOverlaps};
use crate::admin::{clients, keys};
use crate::console::page::{self, Nav};
use crate::console::session::Operator;
use crate::console::svg::{self, Svg};
use crate::console::when::{when, When};
use crate::oauth::OAuthError;
use crate::service::state::AppState;
use crate::service::{now, read, usage};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;

/// Registers the overview route.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/").route(web::get().to(show)));
}

/// The outcome that is a token issued; every other outcome is an error code.
const ISSUED: &str = "issued";

/// An outcome's total over the hour.
struct Total {
    outcome: String,
    count: u64,
}

/// The signing key that signs now.
struct ActiveKey {
    kid: String,
    alg: String,
    since: When,
}

#[derive(Template)]
#[template(path = "console/overview.html")]
struct OverviewPage<'a> {
    nav: Nav<'a>,
    chart: Svg,
    issued: u64,
    errors: Vec<Total>,
    active: Option<ActiveKey>,
    pending: usize,
    next_rotation: When,
    unused_30: u64,
    unused_90: u64,
    overlaps: SecretOverlaps,
}

/// The totals by outcome, issued first, then errors by count (most first).
fn totals(series: &[(String, Vec<u64>)]) -> (u64, Vec<Total>) {
    let sum = |v: &[u64]| v.iter().fold(0u64, |a, b| a.saturating_add(*b));
    let issued = series
        .iter()
        .filter(|(o, _)| o == ISSUED)
        .map(|(_, v)| sum(v))
        .fold(0u64, u64::saturating_add);
    let mut errors: Vec<Total> = series
        .iter()
        .filter(|(o, _)| o != ISSUED)
        .map(|(o, v)| Total {
            outcome: o.clone(),
            count: sum(v),
        })
        .filter(|t| t.count > 0)
        .collect();
    errors.sort_by(|a, b| b.count.cmp(&a.count).then(a.outcome.cmp(&b.outcome)));
    (issued, errors)
}

async fn show(state: web::Data<AppState>, op: Operator) -> HttpResponse {
    let t = now();
    let policy = match state.settings.key_policy() {
        Ok(p) => p,
        Err(e) => {
            log::error!("overview: {e}");
            return outcome::failed(&OAuthError::server_error());
        }
    };
    let counted = state.usage.clone();
    let found = read(&state.pool, "overview", move |conn| {
        let series = usage::last_hour(conn, &counted, t).map_err(OAuthError::from)?;
        Ok((|| {
            let keys = keys::list(conn)?;
            let timeline = keys::timeline(conn, &policy, t)?;
            let (unused_30, unused_90) = clients::stale_counts(conn, t)?;
            let overlaps = secret_overlaps(conn, t)?;
            Ok((
                series,
                keys,
                timeline.next_rotation,
                unused_30,
                unused_90,
                overlaps,
            ))
        })())
    })
    .await;
    let (series, keys, next_rotation, unused_30, unused_90, overlaps) = match outcome::settle(found)
    {
        Ok(Ok(found)) => found,
        Ok(Err(refusal)) => {
            return page::error_page(StatusCode::INTERNAL_SERVER_ERROR, &refusal.message)
        }
        Err(page) => return page,
    };
    let active = keys
        .iter()
        .filter(|k| k.state == "active")
        .max_by_key(|k| k.activates_at)
        .map(|k| ActiveKey {
            kid: k.kid.clone(),
            alg: k.alg.clone(),
            since: when(Some(k.activates_at), t),
        });
    let pending = keys.iter().filter(|k| k.state == "next").count();
    let (issued, errors) = totals(&series);
    page::render(
        StatusCode::OK,
        &OverviewPage {
            nav: Nav {
                op: &op,
                current: "overview",
            },
            chart: svg::minute_series(&series),
            issued,
            errors,
            active,
            pending,
            next_rotation: when(next_rotation, t),
            unused_30,
            unused_90,
            overlaps,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_put_issued_apart_and_errors_by_count() {
        let series = vec![
            ("issued".to_string(), vec![1, 2, 3]),
            ("invalid_grant".to_string(), vec![0, 1, 0]),
            ("invalid_client".to_string(), vec![2, 2, 0]),
            ("invalid_scope".to_string(), vec![0, 0, 0]),
        ];
        let (issued, errors) = totals(&series);
        assert_eq!(issued, 6);
        let named: Vec<(&str, u64)> = errors
            .iter()
            .map(|t| (t.outcome.as_str(), t.count))
            .collect();
        assert_eq!(named, [("invalid_client", 4), ("invalid_grant", 1)]);
    }
}
