//! `/console/issuers`: the trusted issuers, each with what this replica knows of its
//! keys and the clients bound to it; add one (through `admin::issuers::add`, the one
//! validator: its message shown next to the field it names) and delete one (after
//! typing its name).

use super::outcome::{self, FormErrors, Refusal};
use crate::admin::issuers::{self, BoundClient, IssuerSpec, IssuerView};
use crate::console::form::Posted;
use crate::console::page::{self, Nav};
use crate::console::session::Operator;
use crate::console::when::{when, When};
use crate::service::federation::IssuerKeyState;
use crate::service::state::AppState;
use crate::service::{now, read};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Registers the issuers routes.
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::resource("/console/issuers")
            .route(web::get().to(show))
            .route(web::post().to(add)),
    )
    .service(web::resource("/console/issuers/delete").route(web::post().to(delete)));
}

/// The add form as posted (every field text; empty means not given).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AddForm {
    name: Option<String>,
    issuer: Option<String>,
    jwks_uri: Option<String>,
    jwks: Option<String>,
    spiffe_trust_domain: Option<String>,
    max_token_age: Option<String>,
}

/// The delete form: the issuer, and its name typed again.
#[derive(Debug, Clone, Deserialize)]
pub struct DeleteForm {
    name: String,
    #[serde(default)]
    confirm: String,
}

/// One issuer as the page lists it.
struct Row {
    view: IssuerView,
    /// `cli`, `apply` or `console:<operator>`.
    managed_by_apply: bool,
    created: When,
    keys: IssuerKeyState,
    fetched: Option<When>,
    failed: Option<When>,
    bound: Vec<BoundClient>,
}

impl Row {
    /// The key source in words.
    fn source(&self) -> &'static str {
        match self.view.key_source {
            "jwks" => "keys stored inline",
            "jwks_uri" => "jwks_uri",
            _ => "discovery (the issuer's openid-configuration)",
        }
    }
}

#[derive(Template)]
#[template(path = "console/issuers.html")]
struct IssuersPage<'a> {
    nav: Nav<'a>,
    rows: Vec<Row>,
    form: AddForm,
    errors: FormErrors,
    general: Vec<String>,
    /// Why a delete was refused.
    delete_error: Option<String>,
}

/// The fields of the add form, by the validator's neutral names.
const FIELDS: [&str; 6] = [
    "name",
    "issuer",
    "jwks_uri",
    "jwks",
    "spiffe_trust_domain",
    "max_token_age",
];

/// Every issuer with its bound clients, and what this replica knows of its keys.
async fn rows(state: &AppState) -> Result<Vec<Row>, HttpResponse> {
    let listed = read(&state.pool, "list trusted issuers", |conn| {
        Ok(issuers::list(conn).and_then(|list| {
            list.into_iter()
                .map(|view| {
                    let bound = issuers::bound_clients(conn, &view.name)?;
                    Ok((view, bound))
                })
                .collect::<Result<Vec<_>, _>>()
        }))
    })
    .await;
    let listed = match outcome::settle(listed)? {
        Ok(listed) => listed,
        Err(refusal) => {
            return Err(page::error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &refusal.message,
            ))
        }
    };
    let t = now();
    let ago = |d: std::time::Duration| {
        let secs = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        when(Some(t.saturating_sub(secs)), t)
    };
    Ok(listed
        .into_iter()
        .map(|(view, bound)| {
            let inline = view.jwks.as_ref().map(|j| j.to_string());
            let keys = state.federation.key_state(
                &view.issuer,
                view.jwks_uri.as_deref(),
                inline.as_deref(),
            );
            Row {
                managed_by_apply: view.created_by == crate::admin::clients::APPLY,
                created: when(Some(view.created_at), t),
                fetched: keys.fetch.fetched_ago.map(ago),
                failed: keys.fetch.failed_ago.map(ago),
                keys,
                bound,
                view,
            }
        })
        .collect())
}

/// Renders the page with `status`.
async fn render(
    state: &AppState,
    op: &Operator,
    status: StatusCode,
    form: AddForm,
    errors: FormErrors,
    delete_error: Option<String>,
) -> HttpResponse {
    let rows = match rows(state).await {
        Ok(rows) => rows,
        Err(page) => return page,
    };
    let general = errors.general(&FIELDS);
    page::render(
        status,
        &IssuersPage {
            nav: Nav {
                op,
                current: "issuers",
            },
            rows,
            form,
            errors,
            general,
            delete_error,
        },
    )
}

async fn show(state: web::Data<AppState>, op: Operator) -> HttpResponse {
    render(
        &state,
        &op,
        StatusCode::OK,
        AddForm::default(),
        FormErrors::none(),
        None,
    )
    .await
}

/// The spec the form describes; a `max_token_age` that is no number is refused here
/// (the form's own parsing; its range is the validator's).
fn spec_of(form: &AddForm, allow_http: bool) -> Result<IssuerSpec, Refusal> {
    let max_token_age =
        match outcome::text(form.max_token_age.as_deref()) {
            Some(t) => Some(t.parse::<i64>().map_err(|_| {
                Refusal::field("max_token_age", "must be a whole number of seconds")
            })?),
            None => None,
        };
    Ok(IssuerSpec {
        name: form
            .name
            .as_deref()
            .map(str::trim)
            .unwrap_or("")
            .to_string(),
        issuer: outcome::text(form.issuer.as_deref()),
        jwks_uri: outcome::text(form.jwks_uri.as_deref()),
        jwks: outcome::text(form.jwks.as_deref()),
        spiffe_trust_domain: outcome::text(form.spiffe_trust_domain.as_deref()),
        max_token_age,
        allow_http,
    })
}

async fn add(state: web::Data<AppState>, Posted(op, form): Posted<AddForm>) -> HttpResponse {
    let spec = match spec_of(&form, state.settings.clients.jwks_uri_allow_http) {
        Ok(spec) => spec,
        Err(refusal) => {
            let errors = FormErrors::of(refusal);
            return render(&state, &op, StatusCode::BAD_REQUEST, form, errors, None).await;
        }
    };
    let actor = op.actor();
    let added = state
        .write("add trusted issuer", move |conn| {
            Ok(issuers::add(conn, &actor, &spec, now()))
        })
        .await;
    match outcome::settle(added) {
        Ok(Ok(_)) => page::see_other("/console/issuers"),
        Ok(Err(refusal)) => {
            let errors = FormErrors::of(refusal);
            render(&state, &op, StatusCode::BAD_REQUEST, form, errors, None).await
        }
        Err(page) => page,
    }
}

async fn delete(state: web::Data<AppState>, Posted(op, form): Posted<DeleteForm>) -> HttpResponse {
    let name = form.name.clone();
    let refused = |message: String| format!("{name}: {message}");
    if form.confirm.trim() != form.name {
        let why =
            refused("type the issuer's name exactly to delete it; nothing was deleted".into());
        let (status, fresh) = (StatusCode::BAD_REQUEST, AddForm::default());
        return render(&state, &op, status, fresh, FormErrors::none(), Some(why)).await;
    }
    let (actor, target) = (op.actor(), form.name.clone());
    let deleted = state
        .write("delete trusted issuer", move |conn| {
            Ok(issuers::delete(conn, &actor, &target, now()))
        })
        .await;
    match outcome::settle(deleted) {
        Ok(Ok(_)) => page::see_other("/console/issuers"),
        Ok(Err(refusal)) => {
            let why = refused(refusal.message);
            let (status, fresh) = (StatusCode::CONFLICT, AddForm::default());
            render(&state, &op, status, fresh, FormErrors::none(), Some(why)).await
        }
        Err(page) => page,
    }
}
