//! `/console/clients`: the clients inventory (search, filter, sort and paging in the
//! query string, answered by the database one page at a time), and
//! `/console/clients/new`: a client made through the one client model, its secret shown
//! once on the answer to the `POST`.

use super::client::{created_page, href};
use super::client_form::{kept, policy, CreateForm, FieldErrors};
use crate::admin::clients::{self, Filter, InventoryQuery, InventoryRow, Sort, SortKey, APPLY};
use crate::console::form::Posted;
use crate::console::page::{error_page, render, Nav};
use crate::console::session::Operator;
use crate::console::when::when;
use crate::oauth::{AuthMethod, GrantType, OAuthError};
use crate::service::{now, AppState};
use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

/// Rows per page unless the query asks otherwise.
pub const PER_PAGE: u32 = 50;

/// Registers the inventory and the new-client form (before `/console/clients/{id}`,
/// so that `new` is the form).
pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.service(web::resource("/console/clients").route(web::get().to(list)))
        .service(
            web::resource("/console/clients/new")
                .route(web::get().to(new_form))
                .route(web::post().to(create)),
        );
}

/// The inventory's query string, as given (every part optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ListParams {
    /// Text the id or name contains.
    q: String,
    /// Only this auth method (empty: any).
    method: String,
    /// A [`Filter`] name.
    state: String,
    /// A [`SortKey`] name.
    sort: String,
    /// `asc` or `desc`.
    dir: String,
    /// Page, from 1.
    page: String,
    /// Rows per page.
    per_page: String,
}

/// The question the query string asks, or what in it cannot be read.
fn query(p: &ListParams) -> Result<InventoryQuery, String> {
    let or_default = |s: &str, default: &'static str| {
        let t = s.trim();
        if t.is_empty() {
            default.to_string()
        } else {
            t.to_string()
        }
    };
    let state = or_default(&p.state, Filter::All.as_str());
    let state = Filter::parse(&state).ok_or_else(|| format!("no such filter: {state:?}"))?;
    let sort = or_default(&p.sort, SortKey::Id.as_str());
    let key = SortKey::parse(&sort).ok_or_else(|| format!("no such sort: {sort:?}"))?;
    let descending = match p.dir.trim() {
        "" | "asc" => false,
        "desc" => true,
        other => return Err(format!("no such order: {other:?} (asc or desc)")),
    };
    let number = |s: &str, what: &str, default: u32| -> Result<u32, String> {
        let t = s.trim();
        if t.is_empty() {
            return Ok(default);
        }
        t.parse::<u32>()
            .map_err(|_| format!("{what} must be a whole number, not {t:?}"))
    };
    let method = p.method.trim();
    if !method.is_empty() && AuthMethod::parse(method).is_none() {
        return Err(format!("no such auth method: {method:?}"));
    }
    Ok(InventoryQuery {
        search: Some(p.q.trim().to_string()).filter(|s| !s.is_empty()),
        auth_method: Some(method.to_string()).filter(|s| !s.is_empty()),
        state,
        sort: Sort { key, descending },
        page: number(&p.page, "page", 1)?,
        per_page: number(&p.per_page, "per_page", PER_PAGE)?,
    })
}

/// The query string of the inventory `q` asks for, at `page`, sorted by `sort`.
fn link(q: &InventoryQuery, sort: Sort, page: u32) -> String {
    let mut s = url::form_urlencoded::Serializer::new(String::new());
    if let Some(text) = &q.search {
        s.append_pair("q", text);
    }
    if let Some(m) = &q.auth_method {
        s.append_pair("method", m);
    }
    if q.state != Filter::All {
        s.append_pair("state", q.state.as_str());
    }
    s.append_pair("sort", sort.key.as_str());
    s.append_pair("dir", if sort.descending { "desc" } else { "asc" });
    if q.per_page != PER_PAGE {
        s.append_pair("per_page", &q.per_page.to_string());
    }
    s.append_pair("page", &page.to_string());
    format!("/console/clients?{}", s.finish())
}

/// One client as the table shows it.
struct Row {
    href: String,
    id: String,
    name: String,
    auth_method: String,
    scope: String,
    disabled: bool,
    managed: bool,
    last_used: String,
    tokens_24h: u64,
    secret: String,
    previous_until: String,
}

impl Row {
    fn of(r: InventoryRow, now: i64) -> Row {
        Row {
            href: href(&r.client_id),
            secret: match r.secret_created_at {
                Some(t) => when(Some(t), now).to_string(),
                None => String::new(),
            },
            previous_until: match r.previous_secret_expires_at.filter(|t| *t > now) {
                Some(t) => when(Some(t), now).to_string(),
                None => String::new(),
            },
            last_used: when(r.last_used_at, now).to_string(),
            managed: r.managed_by.as_deref() == Some(APPLY),
            id: r.client_id,
            name: r.name,
            auth_method: r.auth_method,
            scope: r.scope,
            disabled: r.disabled,
            tokens_24h: r.tokens_24h,
        }
    }
}

/// A sortable column's header: its label, the link that sorts by it (the other way
/// when it is the current sort), and its `aria-sort`.
struct Column {
    label: &'static str,
    href: String,
    aria_sort: &'static str,
}

#[derive(Template)]
#[template(path = "console/clients.html")]
struct ListPage<'a> {
    nav: Nav<'a>,
    q: String,
    method: String,
    state: &'static str,
    sort: &'static str,
    descending: bool,
    per_page: u32,
    methods: Vec<&'static str>,
    states: Vec<(&'static str, &'static str)>,
    sorts: Vec<(&'static str, &'static str)>,
    by_id: Column,
    by_name: Column,
    by_last_used: Column,
    by_tokens: Column,
    by_secret: Column,
    rows: Vec<Row>,
    total: u64,
    page: u32,
    pages: u32,
    first: u64,
    last: u64,
    prev: Option<String>,
    next: Option<String>,
    error: Option<String>,
}

/// A filter's label in the form.
fn state_label(f: Filter) -> &'static str {
    match f {
        Filter::All => "All clients",
        Filter::Enabled => "Enabled",
        Filter::Disabled => "Disabled",
        Filter::Stale30 => "Unused for 30 days",
        Filter::Stale90 => "Unused for 90 days",
        Filter::Managed => "Managed by apply",
    }
}

/// A sort key's label.
fn sort_label(k: SortKey) -> &'static str {
    match k {
        SortKey::Id => "Client id",
        SortKey::Name => "Name",
        SortKey::LastUsed => "Last used",
        SortKey::Tokens24h => "Tokens (24 h)",
        SortKey::SecretAge => "Secret age",
    }
}

fn failed(e: &OAuthError) -> HttpResponse {
    let status = StatusCode::from_u16(e.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_page(status, &e.description)
}

/// `GET /console/clients`.
async fn list(
    op: Operator,
    state: web::Data<AppState>,
    params: web::Query<ListParams>,
) -> HttpResponse {
    let params = params.into_inner();
    let (q, error) = match query(&params) {
        Ok(q) => (q, None),
        Err(e) => (InventoryQuery::default(), Some(e)),
    };
    let now = now();
    let asked = q.clone();
    let out = crate::service::read(&state.pool, "console clients", move |conn| {
        kept(clients::inventory(conn, &asked, now))
    })
    .await;
    let (found, error) = match out {
        Ok(Ok(found)) => (found, error),
        Ok(Err(e)) => {
            // The search was refused (too long): the form shows why, over an empty page.
            let empty = clients::InventoryPage {
                rows: Vec::new(),
                total: 0,
                page: 1,
                per_page: PER_PAGE,
            };
            (empty, Some(e.to_string()))
        }
        Err(e) => return failed(&e),
    };
    let q = InventoryQuery {
        page: found.page,
        per_page: found.per_page,
        ..q
    };
    let per_page = u64::from(found.per_page.max(1));
    let pages = u32::try_from(found.total.div_ceil(per_page).max(1)).unwrap_or(u32::MAX);
    let first = u64::from(found.page.saturating_sub(1))
        .saturating_mul(per_page)
        .saturating_add(1);
    let shown = u64::try_from(found.rows.len()).unwrap_or_default();
    let column = |key: SortKey| {
        let current = q.sort.key == key;
        let descending = current && !q.sort.descending;
        Column {
            label: sort_label(key),
            href: link(&q, Sort { key, descending }, 1),
            aria_sort: match (current, q.sort.descending) {
                (false, _) => "none",
                (true, false) => "ascending",
                (true, true) => "descending",
            },
        }
    };
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let page = ListPage {
        nav: Nav {
            op: &op,
            current: "clients",
        },
        q: q.search.clone().unwrap_or_default(),
        method: q.auth_method.clone().unwrap_or_default(),
        state: q.state.as_str(),
        sort: q.sort.key.as_str(),
        descending: q.sort.descending,
        per_page: q.per_page,
        methods: AuthMethod::ALL.iter().map(|m| m.as_str()).collect(),
        states: Filter::ALL
            .into_iter()
            .map(|f| (f.as_str(), state_label(f)))
            .collect(),
        sorts: SortKey::ALL
            .into_iter()
            .map(|k| (k.as_str(), sort_label(k)))
            .collect(),
        by_id: column(SortKey::Id),
        by_name: column(SortKey::Name),
        by_last_used: column(SortKey::LastUsed),
        by_tokens: column(SortKey::Tokens24h),
        by_secret: column(SortKey::SecretAge),
        rows: found.rows.into_iter().map(|r| Row::of(r, now)).collect(),
        total: found.total,
        page: found.page,
        pages,
        first: if shown == 0 { 0 } else { first },
        last: first.saturating_add(shown).saturating_sub(1),
        prev: (found.page > 1).then(|| link(&q, q.sort, found.page.saturating_sub(1))),
        next: (found.page < pages).then(|| link(&q, q.sort, found.page.saturating_add(1))),
        error,
    };
    render(status, &page)
}

#[derive(Template)]
#[template(path = "console/client_new.html")]
struct NewPage<'a> {
    nav: Nav<'a>,
    form: CreateForm,
    errors: FieldErrors,
    methods: Vec<&'static str>,
    default_grant: &'static str,
}

impl NewPage<'_> {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors.get(field)
    }
}

fn new_page(
    op: &Operator,
    status: StatusCode,
    form: CreateForm,
    errors: FieldErrors,
) -> HttpResponse {
    render(
        status,
        &NewPage {
            nav: Nav {
                op,
                current: "clients",
            },
            form,
            errors,
            methods: AuthMethod::ALL.iter().map(|m| m.as_str()).collect(),
            default_grant: GrantType::DEFAULT.name(),
        },
    )
}

/// `GET /console/clients/new`.
async fn new_form(op: Operator) -> HttpResponse {
    let form = CreateForm {
        auth_method: AuthMethod::DEFAULT.as_str().to_string(),
        ..CreateForm::default()
    };
    new_page(&op, StatusCode::OK, form, FieldErrors::default())
}

/// `POST /console/clients/new`: through `admin::clients::create` (the one validator);
/// a refusal shows the form again as typed with the message next to its field; a
/// secret is shown once on the answer.
async fn create(Posted(op, form): Posted<CreateForm>, state: web::Data<AppState>) -> HttpResponse {
    let fields = match form.fields() {
        Ok(f) => f,
        Err(errors) => return new_page(&op, StatusCode::BAD_REQUEST, form, errors),
    };
    let (actor, policy) = (op.actor(), policy(&state));
    let out = state
        .write("console create client", move |conn| {
            kept(clients::create(conn, &actor, &fields, policy, now()))
        })
        .await;
    match out {
        Ok(Ok(created)) => {
            let c = created.client;
            state.clients.invalidate(&c.client_id);
            match created.client_secret {
                Some(secret) => created_page(&op, &c.client_id, &c.name, secret),
                None => crate::console::page::see_other(&href(&c.client_id)),
            }
        }
        Ok(Err(e)) => new_page(&op, StatusCode::BAD_REQUEST, form, FieldErrors::of(&e)),
        Err(e) => failed(&e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_string_reads_into_the_inventory_question() {
        let p = ListParams {
            q: " billing ".into(),
            state: "stale30".into(),
            sort: "last_used".into(),
            dir: "desc".into(),
            page: "3".into(),
            ..ListParams::default()
        };
        let q = query(&p).expect("read");
        assert_eq!(q.search.as_deref(), Some("billing"));
        assert_eq!(q.state, Filter::Stale30);
        assert_eq!(q.sort.key, SortKey::LastUsed);
        assert!(q.sort.descending);
        assert_eq!(q.page, 3);
        assert_eq!(q.per_page, PER_PAGE);
    }

    #[test]
    fn what_cannot_be_read_is_said() {
        for p in [
            ListParams {
                sort: "secret".into(),
                ..ListParams::default()
            },
            ListParams {
                page: "-1".into(),
                ..ListParams::default()
            },
            ListParams {
                method: "magic".into(),
                ..ListParams::default()
            },
        ] {
            assert!(query(&p).is_err(), "{p:?}");
        }
    }

    #[test]
    fn links_keep_the_question_and_escape_it() {
        let q = InventoryQuery {
            search: Some("a&b c".into()),
            per_page: PER_PAGE,
            ..InventoryQuery::default()
        };
        let l = link(&q, q.sort, 2);
        assert!(l.contains("q=a%26b+c"), "{l}");
        assert!(l.ends_with("page=2"), "{l}");
    }
}
