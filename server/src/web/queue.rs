//! The queue: the requests the administrator may see (governance's `requests`, as
//! `GET /api/v1/requests`), newest first, filtered, with how often the same file was
//! asked for before, [`PER_PAGE`] to a page.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Query, State};
use portcullis_engine::model::Sha256;
use portcullis_governance::{RequestRecord, RequestState};
use serde::Deserialize;

use super::{age, percent_encode, render, shown, Frame, Page, Viewer};
use crate::app::App;
use crate::ServerError;

/// The queue's filters; empty ones match everything.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    #[serde(default)]
    kind: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    organization: String,
    #[serde(default)]
    computer: String,
    #[serde(default)]
    user: String,
    #[serde(default)]
    hash: String,
    /// The page, from 1 (the newest requests).
    #[serde(default)]
    page: Option<String>,
}

/// Rows on a page of the queue.
pub const PER_PAGE: usize = 50;

/// One row of the queue.
struct Row {
    id: i64,
    kind: &'static str,
    state: &'static str,
    organization: String,
    computer: String,
    user: String,
    file: String,
    sha256: String,
    /// The query that filters the queue on this file.
    hash_link: String,
    age: String,
    earlier: usize,
    may_open: bool,
}

#[derive(Template)]
#[template(path = "queue.html")]
struct QueuePage {
    frame: Frame,
    filters: Filters,
    rows: Vec<Row>,
    /// `pending` when no state was chosen.
    state: String,
    /// This page (from 1), the number of pages and of matching requests.
    page: usize,
    pages: usize,
    total: usize,
    /// The queries of the previous and next pages, the filters kept.
    previous: Option<String>,
    next: Option<String>,
}

fn state_filter(text: &str) -> Result<Option<RequestState>, ServerError> {
    match text {
        "" | "pending" => Ok(Some(RequestState::Pending)),
        "all" => Ok(None),
        other => RequestState::parse(other).map(Some).ok_or_else(|| {
            ServerError::BadInput(format!(
                "state `{}`: choose pending, approved, rejected, expired or all",
                shown(other)
            ))
        }),
    }
}

/// The file's name from its path.
pub fn file_name(path: &str) -> &str {
    path.rsplit(['\\', '/'])
        .find(|part| !part.is_empty())
        .unwrap_or(path)
}

/// The page asked for: a number from 1.
fn page_number(text: Option<&str>) -> Result<usize, ServerError> {
    match text.map(str::trim) {
        None | Some("") => Ok(1),
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| *n >= 1)
            .ok_or_else(|| {
                ServerError::BadInput(format!("page `{}`: a number from 1", shown(text)))
            }),
    }
}

/// What one page of the queue needs from governance: its requests, each with whether
/// the viewer may open it and its earlier requests for the same file; the number of
/// matching requests; and the time.
struct Read {
    records: Vec<(RequestRecord, bool, usize)>,
    total: usize,
    now: i64,
}

/// `GET /approvals`
pub async fn page(State(app): State<App>, viewer: Viewer, Query(filters): Query<Filters>) -> Page {
    let wanted = state_filter(filters.state.trim())?;
    let number = page_number(filters.page.as_deref())?;
    let me = viewer.id.clone();
    let wanted_by = [
        filters.kind.trim().to_owned(),
        filters.organization.trim().to_owned(),
        filters.computer.trim().to_owned(),
        filters.user.trim().to_owned(),
        filters.hash.trim().to_owned(),
    ];
    let read = app
        .governance(move |g| {
            // Every state, to count the earlier requests for the same file.
            let all = g.requests(&me, None)?;
            let matches =
                |value: &str, filter: &str| filter.is_empty() || value.eq_ignore_ascii_case(filter);
            let [kind, organization, computer, user, hash] = &wanted_by;
            // Newest first: `requests` lists them by id.
            let matching: Vec<&RequestRecord> = all
                .iter()
                .rev()
                .filter(|r| {
                    let f = &r.filed;
                    wanted.is_none_or(|s| r.state == s)
                        && matches(f.kind.as_str(), kind)
                        && matches(&f.organization, organization)
                        && matches(&f.computer, computer)
                        && matches(&f.event.user, user)
                        && (hash.is_empty() || matches(&f.event.sha256.to_string(), hash))
                })
                .collect();
            let total = matching.len();
            let on_page: Vec<&RequestRecord> = matching
                .into_iter()
                .skip((number - 1).saturating_mul(PER_PAGE))
                .take(PER_PAGE)
                .collect();
            // The earlier requests for the files on this page, in one pass.
            let mut earlier: HashMap<&Sha256, Vec<i64>> = on_page
                .iter()
                .map(|r| (&r.filed.event.sha256, Vec::new()))
                .collect();
            for r in &all {
                if let Some(ids) = earlier.get_mut(&r.filed.event.sha256) {
                    ids.push(r.id);
                }
            }
            let mut records = Vec::with_capacity(on_page.len());
            for r in on_page {
                let before = earlier
                    .get(&r.filed.event.sha256)
                    .map_or(0, |ids| ids.iter().filter(|id| **id < r.id).count());
                records.push(((*r).clone(), g.may_open(&me, r)?, before));
            }
            Ok(Read {
                records,
                total,
                now: g.now().unix(),
            })
        })
        .await?;
    let Read {
        records,
        total,
        now,
    } = read;
    let rows: Vec<Row> = records
        .into_iter()
        .map(|(r, may_open, earlier)| {
            let f = &r.filed;
            let sha = f.event.sha256.to_string();
            Row {
                id: r.id,
                kind: f.kind.as_str(),
                state: r.state.as_str(),
                organization: shown(&f.organization),
                computer: shown(&f.computer),
                user: shown(&f.event.user),
                file: shown(file_name(&f.event.path)),
                hash_link: format!("?state=all&hash={}", percent_encode(&sha)),
                earlier,
                sha256: sha,
                age: age(now - f.created.unix()),
                may_open,
            }
        })
        .collect();
    let state = if filters.state.trim().is_empty() {
        "pending".to_owned()
    } else {
        filters.state.trim().to_owned()
    };
    let pages = total.div_ceil(PER_PAGE).max(1);
    let link = |n: usize| {
        let mut query = format!("?state={}", percent_encode(&state));
        for (name, value) in [
            ("kind", &filters.kind),
            ("organization", &filters.organization),
            ("computer", &filters.computer),
            ("user", &filters.user),
            ("hash", &filters.hash),
        ] {
            if !value.trim().is_empty() {
                query.push_str(&format!("&{name}={}", percent_encode(value.trim())));
            }
        }
        format!("{query}&page={n}")
    };
    let previous = (number > 1).then(|| link((number - 1).min(pages)));
    let next = (number < pages).then(|| link(number + 1));
    render(&QueuePage {
        frame: Frame::of(&viewer, "Approval queue"),
        filters: Filters {
            kind: shown(&filters.kind),
            state: String::new(),
            organization: shown(&filters.organization),
            computer: shown(&filters.computer),
            user: shown(&filters.user),
            hash: shown(&filters.hash),
            page: None,
        },
        rows,
        state,
        page: number,
        pages,
        total,
        previous,
        next,
    })
}
