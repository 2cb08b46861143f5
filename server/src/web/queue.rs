//! The queue: the requests the administrator may see (governance's `requests`, as
//! `GET /api/v1/requests`), newest first, filtered, with how often the same file was
//! asked for before.

use askama::Template;
use axum::extract::{Query, State};
use portcullis_governance::RequestState;
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
}

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

/// `GET /approvals`
pub async fn page(State(app): State<App>, viewer: Viewer, Query(filters): Query<Filters>) -> Page {
    let wanted = state_filter(filters.state.trim())?;
    let me = viewer.id.clone();
    let (all, openable, now) = app
        .governance(move |g| {
            // Every state, to count the earlier requests for the same file.
            let all = g.requests(&me, None)?;
            let openable = all
                .iter()
                .map(|r| g.may_open(&me, r))
                .collect::<Result<Vec<bool>, _>>()?;
            Ok((all, openable, g.now().unix()))
        })
        .await?;
    let matches = |value: &str, filter: &str| {
        let filter = filter.trim();
        filter.is_empty() || value.eq_ignore_ascii_case(filter)
    };
    let mut rows: Vec<Row> = all
        .iter()
        .zip(&openable)
        .filter(|(r, _)| wanted.is_none_or(|s| r.state == s))
        .filter(|(r, _)| {
            let f = &r.filed;
            matches(f.kind.as_str(), &filters.kind)
                && matches(&f.organization, &filters.organization)
                && matches(&f.computer, &filters.computer)
                && matches(&f.event.user, &filters.user)
                && matches(&f.event.sha256.to_string(), &filters.hash)
        })
        .map(|(r, may_open)| {
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
                earlier: all
                    .iter()
                    .filter(|o| o.id < r.id && o.filed.event.sha256 == f.event.sha256)
                    .count(),
                sha256: sha,
                age: age(now - f.created.unix()),
                may_open: *may_open,
            }
        })
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse(r.id));
    let state = if filters.state.trim().is_empty() {
        "pending".to_owned()
    } else {
        filters.state.trim().to_owned()
    };
    render(&QueuePage {
        frame: Frame::of(&viewer, "Approval queue"),
        filters: Filters {
            kind: shown(&filters.kind),
            state: String::new(),
            organization: shown(&filters.organization),
            computer: shown(&filters.computer),
            user: shown(&filters.user),
            hash: shown(&filters.hash),
        },
        rows,
        state,
    })
}
