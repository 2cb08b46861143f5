//! One request: everything needed to judge it (governance's `request_dossier`), the
//! approve form with only the choices this administrator has, the preview of what an
//! approval would do (`preview_approval`), and the approval (`approve`, with its
//! proof) or rejection itself — the same governance calls as the API's.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::IntoResponse;
use portcullis_engine::model::{CertificateCondition, FileRule, SignatureStatus};
use portcullis_engine::{DecisionRecord, Outcome, TraceStatus};
use portcullis_governance::{
    ApproveOptions, Approved, Dossier, Matching, Preview, RequestRecord, ScopeKind,
};
use serde::Deserialize;

use super::{render, shown, with_status, Form, Frame, Page, Viewer, WebError};
use crate::app::App;
use crate::ServerError;

/// The approve form's fields, kept as sent so that a preview shows them again.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ApproveForm {
    #[serde(default)]
    csrf: String,
    /// `SCOPE TARGET`, e.g. `group lakeside-fd`.
    #[serde(default)]
    place: String,
    #[serde(default)]
    matching: String,
    #[serde(default)]
    rule_path: String,
    #[serde(default)]
    rule_subject: String,
    #[serde(default)]
    rule_issuer: String,
    #[serde(default)]
    application: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    elevate: Option<String>,
    #[serde(default)]
    expires: String,
    #[serde(default)]
    justification: String,
    #[serde(default)]
    position: String,
}

/// A request's number from the page's path.
fn request_id(text: &str) -> Result<i64, WebError> {
    text.parse()
        .map_err(|_| WebError::Failed(bad(format!("`{}` is not a request number", shown(text)))))
}

fn bad(message: String) -> ServerError {
    ServerError::BadInput(message)
}

impl ApproveForm {
    /// The approval options the form asks for; what does not parse is a clear error.
    fn options(&self) -> Result<ApproveOptions, ServerError> {
        let (scope, target) = self
            .place
            .trim()
            .split_once(' ')
            .unwrap_or((self.place.trim(), ""));
        let scope = match scope {
            "" | "computer" => ScopeKind::Computer,
            "group" => ScopeKind::Group,
            "organization" => ScopeKind::Organization,
            "global" => ScopeKind::Global,
            other => {
                return Err(bad(format!(
                    "scope `{}` is not one of computer, group, organization, global",
                    shown(other)
                )))
            }
        };
        let matching = match self.matching.trim() {
            "" => Matching::Hash,
            "custom" => Matching::Custom(self.custom_rule()?),
            other => Matching::named(other).ok_or_else(|| {
                bad(format!(
                    "match `{}` is not one of hash, certificate, certificate-path, path, custom",
                    shown(other)
                ))
            })?,
        };
        let text = |s: &str| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
        let mut options = ApproveOptions::new(scope, matching);
        options.target = text(target);
        options.application = text(&self.application);
        options.application_name = text(&self.name);
        options.elevate = self.elevate.is_some();
        options.justification = text(&self.justification);
        options.expires = match text(&self.expires) {
            None => None,
            Some(t) => Some(expiry(&t)?),
        };
        options.position = match text(&self.position) {
            None => None,
            Some(p) => Some(
                p.parse()
                    .map_err(|_| bad(format!("position `{}` is not a whole number", shown(&p))))?,
            ),
        };
        Ok(options)
    }

    fn custom_rule(&self) -> Result<FileRule, ServerError> {
        let mut rule = FileRule::default();
        if !self.rule_path.trim().is_empty() {
            rule = rule.with_path(self.rule_path.trim());
        }
        let dn = |field: &str, text: &str| {
            text.trim().parse().map_err(|e| {
                bad(format!(
                    "the custom rule's {field} `{}`: {e}",
                    shown(text.trim())
                ))
            })
        };
        if !self.rule_subject.trim().is_empty() {
            let issuer = if self.rule_issuer.trim().is_empty() {
                None
            } else {
                Some(dn("issuer", &self.rule_issuer)?)
            };
            rule = rule.with_certificate(CertificateCondition {
                thumbprint: None,
                subject: Some(dn("subject", &self.rule_subject)?),
                issuer,
            });
        }
        Ok(rule)
    }
}

/// An expiry from the form: RFC 3339, or a browser's `datetime-local` (taken as UTC).
pub(super) fn expiry(text: &str) -> Result<portcullis_engine::model::Timestamp, ServerError> {
    let full = if text.len() == 16 {
        format!("{text}:00Z")
    } else if text.len() == 19 {
        format!("{text}Z")
    } else {
        text.to_owned()
    };
    full.parse().map_err(|e| {
        bad(format!(
            "expiry `{}`: {e} (give a date and time, e.g. 2027-01-31T18:00)",
            shown(text)
        ))
    })
}

/// A decision in words: `allow (policy `p`)`, `deny (default deny)`.
pub fn outcome(decision: &DecisionRecord) -> String {
    let what = match decision.decision {
        Outcome::Allow if decision.elevated => "allow, elevated",
        Outcome::Allow => "allow",
        Outcome::Deny => "deny",
    };
    match &decision.policy {
        Some(policy) => format!("{what} (policy `{}`)", shown(policy)),
        None if decision.default_deny => format!("{what} (default deny)"),
        None => what.to_owned(),
    }
}

/// One policy the decision considered.
struct TraceRow {
    policy: String,
    organization: String,
    scope: String,
    position: i64,
    action: String,
    status: &'static str,
    /// The row's class: `decided`, `no-match`, …
    class: &'static str,
    reasons: Vec<String>,
}

/// A signer of the file's chain.
struct SignerRow {
    subject: String,
    issuer: String,
    thumbprint: String,
}

/// An earlier approval of the same software.
struct EarlierRow {
    id: i64,
    computer: String,
    by: String,
    scope: String,
}

/// An approval plugin's verdict.
struct VerdictRow {
    plugin: String,
    kind: String,
    verdict: String,
}

/// The request as the page shows it; every text from a user or agent passed through
/// [`shown`].
struct RequestView {
    id: i64,
    kind: &'static str,
    state: &'static str,
    organization: String,
    organization_name: String,
    computer: String,
    /// The computer's id for its page's address.
    computer_link: String,
    group: String,
    user: String,
    message: String,
    email: String,
    filed: String,
    path: String,
    sha256: String,
    signature: &'static str,
    signers: Vec<SignerRow>,
    parent: String,
    created_by: String,
    elevation: bool,
    denied_by: String,
    now: String,
    trace: Vec<TraceRow>,
    attached: bool,
    computers_seen: usize,
    requests_seen: usize,
    earlier: Vec<EarlierRow>,
    verdicts: Vec<VerdictRow>,
    closure: Option<(String, String, String)>,
}

fn view(dossier: &Dossier) -> RequestView {
    let r = &dossier.request;
    let e = &r.filed.event;
    let trace = dossier
        .explanation
        .policies
        .iter()
        .map(|p| TraceRow {
            policy: shown(&p.policy),
            organization: shown(&p.organization),
            scope: shown(&p.scope),
            position: p.position,
            action: format!(
                "{}{}",
                action(p.action),
                if p.elevate { ", elevate" } else { "" }
            ),
            status: match p.status {
                TraceStatus::Decided => "decided",
                TraceStatus::NoMatch => "no match",
                TraceStatus::Skipped => "skipped",
                TraceStatus::NotReached => "not reached",
            },
            class: match p.status {
                TraceStatus::Decided => "decided",
                TraceStatus::NoMatch => "no-match",
                TraceStatus::Skipped => "skipped",
                TraceStatus::NotReached => "not-reached",
            },
            reasons: p.reasons.iter().map(|r| shown(r)).collect(),
        })
        .collect();
    RequestView {
        id: r.id,
        kind: r.filed.kind.as_str(),
        state: r.state.as_str(),
        organization: shown(&r.filed.organization),
        organization_name: shown(&dossier.organization_name),
        computer: shown(&r.filed.computer),
        computer_link: super::percent_encode(&r.filed.computer),
        group: shown(&dossier.group),
        user: shown(&e.user),
        message: shown(&r.filed.message),
        email: shown(r.filed.email.as_deref().unwrap_or("")),
        filed: r.filed.created.to_string(),
        path: shown(&e.path),
        sha256: e.sha256.to_string(),
        signature: match e.signature.status {
            SignatureStatus::Valid => "valid",
            SignatureStatus::Invalid => "invalid",
            SignatureStatus::Unsigned => "unsigned",
        },
        signers: e
            .signature
            .signers
            .iter()
            .map(|s| SignerRow {
                subject: shown(&s.subject.to_string()),
                issuer: shown(
                    &s.issuer
                        .as_ref()
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
                thumbprint: s.thumbprint.map(|t| t.to_string()).unwrap_or_default(),
            })
            .collect(),
        parent: shown(e.parent.as_deref().unwrap_or("")),
        created_by: shown(e.created_by.as_deref().unwrap_or("")),
        elevation: e.elevation,
        denied_by: r.filed.denied_by.as_deref().map_or_else(
            || "the default deny".to_owned(),
            |p| format!("policy `{}`", shown(p)),
        ),
        now: outcome(&dossier.explanation.decision),
        trace,
        attached: r.filed.file.is_some(),
        computers_seen: dossier.prevalence.computers,
        requests_seen: dossier.prevalence.requests,
        earlier: dossier.prevalence.approvals.iter().map(earlier).collect(),
        verdicts: dossier
            .verdicts
            .iter()
            .map(|v| VerdictRow {
                plugin: shown(&v.entry.actor),
                kind: shown(&v.entry.kind),
                verdict: shown(
                    &v.entry
                        .detail
                        .get("verdict")
                        .filter(|v| !v.is_null())
                        .or_else(|| v.entry.detail.get("failure"))
                        .map(ToString::to_string)
                        .unwrap_or_default(),
                ),
            })
            .collect(),
        closure: r
            .closure
            .as_ref()
            .map(|c| (c.state.as_str().to_owned(), shown(&c.by), shown(&c.reason))),
    }
}

fn action(action: portcullis_engine::Action) -> &'static str {
    match action {
        portcullis_engine::Action::Permit => "permit",
        portcullis_engine::Action::Deny => "deny",
    }
}

fn earlier(r: &RequestRecord) -> EarlierRow {
    let approval = r.closure.as_ref().and_then(|c| c.approval.as_ref());
    EarlierRow {
        id: r.id,
        computer: shown(&r.filed.computer),
        by: shown(r.closure.as_ref().map_or("", |c| c.by.as_str())),
        scope: approval.map_or_else(String::new, |a| format!("{} {}", a.scope, shown(&a.target))),
    }
}

/// The approve form's choices.
struct ChoicesView {
    /// (`SCOPE TARGET`, label)
    places: Vec<(String, String)>,
    matches: Vec<&'static str>,
    /// `custom` is among the matches.
    custom: bool,
    applications: Vec<(String, String)>,
    elevate: bool,
    elevation_request: bool,
    position: bool,
    reject: bool,
    guardrails: Vec<String>,
}

fn choices_view(dossier: &Dossier) -> Option<ChoicesView> {
    let c = dossier.choices.as_ref()?;
    let places = c
        .scopes
        .iter()
        .flat_map(|(scope, targets)| {
            targets
                .iter()
                .map(move |t| (format!("{scope} {t}"), format!("{scope}: {}", shown(t))))
        })
        .collect();
    Some(ChoicesView {
        places,
        matches: c.matches.clone(),
        custom: c.matches.contains(&"custom"),
        applications: c
            .applications
            .iter()
            .map(|(id, name)| (id.clone(), format!("{} ({})", shown(name), shown(id))))
            .collect(),
        elevate: c.elevate,
        elevation_request: c.elevation_request,
        position: c.position,
        reject: c.reject,
        guardrails: c.guardrails.clone(),
    })
}

/// A preview as the page shows it.
struct PreviewView {
    rule: Vec<(&'static str, String)>,
    application: String,
    new_application: bool,
    policy: String,
    scope: String,
    position: i64,
    elevate: bool,
    expires: String,
    computers: Vec<String>,
    allowed: Option<String>,
    blocked: Option<String>,
}

/// A rule in lines of label and value.
pub fn rule_lines(rule: &FileRule) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Some(sha) = rule.sha256 {
        out.push(("SHA-256", sha.to_string()));
    }
    if let Some(c) = rule.certificate() {
        if let Some(s) = &c.subject {
            out.push(("signer subject", shown(&s.to_string())));
        }
        if let Some(i) = &c.issuer {
            out.push(("signer issuer", shown(&i.to_string())));
        }
        if let Some(t) = c.thumbprint {
            out.push(("thumbprint", t.to_string()));
        }
    }
    for (label, value) in [
        ("path", rule.path()),
        ("parent process", rule.process()),
        ("created by", rule.created_by()),
    ] {
        if let Some(v) = value {
            out.push((label, shown(v)));
        }
    }
    out
}

/// A policy's scope in words: `group lakeside-fd`.
pub fn scope_text(scope: &portcullis_engine::model::Scope) -> String {
    use portcullis_engine::model::Scope;
    let kind = match scope {
        Scope::Computer(_) => "computer",
        Scope::Group(_) => "group",
        Scope::Organization(_) => "organization",
        Scope::Global(_) => "global",
    };
    format!("{kind} {}", shown(scope.target()))
}

fn preview_view(p: &Preview) -> PreviewView {
    PreviewView {
        rule: rule_lines(&p.rule),
        application: shown(&p.application),
        new_application: p.new_application,
        policy: shown(&p.policy.id),
        scope: scope_text(&p.policy.scope),
        position: p.policy.position,
        elevate: p.policy.elevate,
        expires: p.policy.expires.map(|t| t.to_string()).unwrap_or_default(),
        computers: p.computers.iter().map(|c| shown(c)).collect(),
        allowed: p.outcome.as_ref().ok().map(outcome),
        blocked: p.outcome.as_ref().err().map(|e| shown(e)),
    }
}

#[derive(Template)]
#[template(path = "request.html")]
struct RequestPage {
    frame: Frame,
    r: RequestView,
    choices: Option<ChoicesView>,
    form: ApproveForm,
    preview: Option<PreviewView>,
    problem: Option<String>,
}

fn request_page(viewer: &Viewer, dossier: &Dossier, form: ApproveForm) -> RequestPage {
    RequestPage {
        frame: Frame::of(viewer, format!("Request {}", dossier.request.id)),
        r: view(dossier),
        choices: choices_view(dossier),
        form: ApproveForm {
            csrf: String::new(),
            rule_path: shown(&form.rule_path),
            rule_subject: shown(&form.rule_subject),
            rule_issuer: shown(&form.rule_issuer),
            name: shown(&form.name),
            expires: shown(&form.expires),
            justification: shown(&form.justification),
            position: shown(&form.position),
            ..form
        },
        preview: None,
        problem: None,
    }
}

async fn dossier(app: &App, viewer: &Viewer, id: i64) -> Result<Dossier, WebError> {
    let me = viewer.id.clone();
    Ok(app
        .governance(move |g| Ok(g.request_dossier(&me, id)?))
        .await?)
}

/// `GET /approvals/requests/{id}`
pub async fn page(State(app): State<App>, viewer: Viewer, Path(id): Path<String>) -> Page {
    let id = request_id(&id)?;
    let dossier = dossier(&app, &viewer, id).await?;
    render(&request_page(&viewer, &dossier, ApproveForm::default()))
}

/// `POST /approvals/requests/{id}/preview`: the page again, with what the approval
/// would do, or why it would be refused.
pub async fn preview(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> Page {
    let id = request_id(&id)?;
    viewer.check(&form.csrf)?;
    let dossier = dossier(&app, &viewer, id).await?;
    let previewed = match form.options() {
        Ok(options) => {
            let me = viewer.id.clone();
            app.governance(move |g| Ok(g.preview_approval(&me, id, &options)?))
                .await
        }
        Err(e) => Err(e),
    };
    let mut page = request_page(&viewer, &dossier, form);
    let status = match previewed {
        Ok(p) => {
            page.preview = Some(preview_view(&p));
            StatusCode::OK
        }
        Err(e) if !e.status().is_server_error() => {
            let status = e.status();
            page.problem = Some(shown(&e.to_string()));
            status
        }
        Err(e) => return Err(e.into()),
    };
    with_status(status, render(&page))
}

#[derive(Template)]
#[template(path = "result.html")]
struct ResultPage {
    frame: Frame,
    id: i64,
    approved: Option<ApprovedView>,
    rejected: Option<String>,
}

struct ApprovedView {
    policy: String,
    application: String,
    scope: String,
    position: i64,
    version: i64,
    generation: u64,
    proof: String,
    suggestion: Option<String>,
}

/// `POST /approvals/requests/{id}/approve`
pub async fn approve(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<ApproveForm>,
) -> Page {
    let id = request_id(&id)?;
    viewer.check(&form.csrf)?;
    let options = form.options()?;
    let me = viewer.id.clone();
    let approved: Result<Approved, ServerError> = app
        .governance(move |g| Ok(g.approve(&me, id, options)?))
        .await;
    let approved = match approved {
        Ok(a) => a,
        Err(e) if !e.status().is_server_error() => {
            // Shown on the request's page, with the form as it was sent.
            let dossier = dossier(&app, &viewer, id).await?;
            let status = e.status();
            let mut page = request_page(&viewer, &dossier, form);
            page.problem = Some(shown(&e.to_string()));
            return with_status(status, render(&page));
        }
        Err(e) => return Err(e.into()),
    };
    let record = approved
        .request
        .closure
        .as_ref()
        .and_then(|c| c.approval.as_ref());
    let view = ApprovedView {
        policy: shown(record.map_or("", |a| a.policy.as_str())),
        application: shown(record.map_or("", |a| a.application.as_str())),
        scope: record.map_or_else(String::new, |a| format!("{} {}", a.scope, shown(&a.target))),
        position: record.map_or(0, |a| a.position),
        version: record.map_or(0, |a| a.version),
        generation: approved.generation,
        proof: outcome(&approved.proof),
        suggestion: approved.suggestion.as_ref().map(|s| {
            format!(
                "approved on {} computers one by one: consider a {} policy on `{}` (Suggestions)",
                s.computers.len(),
                s.scope,
                shown(&s.target)
            )
        }),
    };
    render(&ResultPage {
        frame: Frame::of(&viewer, format!("Request {id} approved")),
        id,
        approved: Some(view),
        rejected: None,
    })
}

/// What the reject form sends.
#[derive(Debug, Deserialize)]
pub struct RejectForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    reason: String,
}

/// `POST /approvals/requests/{id}/reject`
pub async fn reject(
    State(app): State<App>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(form): Form<RejectForm>,
) -> Page {
    let id = request_id(&id)?;
    viewer.check(&form.csrf)?;
    let me = viewer.id.clone();
    let reason = form.reason.clone();
    let rejected = app
        .governance(move |g| Ok(g.reject(&me, id, &reason)?))
        .await;
    match rejected {
        Ok(r) => render(&ResultPage {
            frame: Frame::of(&viewer, format!("Request {id} rejected")),
            id,
            approved: None,
            rejected: Some(shown(r.closure.as_ref().map_or("", |c| c.reason.as_str()))),
        }),
        Err(e) if !e.status().is_server_error() => {
            let dossier = dossier(&app, &viewer, id).await?;
            let status = e.status();
            let mut page = request_page(&viewer, &dossier, ApproveForm::default());
            page.problem = Some(shown(&e.to_string()));
            with_status(status, render(&page))
        }
        Err(e) => Err(e.into()),
    }
}

/// `GET /approvals/requests/{id}/file`: the attached copy, checked against the
/// request's SHA-256 before it is sent.
pub async fn file(State(app): State<App>, viewer: Viewer, Path(id): Path<String>) -> Page {
    let id = request_id(&id)?;
    let me = viewer.id.clone();
    let (bytes, expected) = app
        .governance(move |g| {
            let request = g.request(&me, id)?;
            let bytes = g.request_file(&me, id)?;
            Ok((bytes, request.filed.event.sha256))
        })
        .await?;
    let actual = {
        use sha2::Digest;
        portcullis_engine::model::Sha256(sha2::Sha256::digest(&bytes).into())
    };
    if actual != expected {
        return Err(WebError::Failed(ServerError::Conflict(format!(
            "the stored copy's SHA-256 is {actual}, not the request's {expected}; it is not sent"
        ))));
    }
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    let disposition = format!("attachment; filename=\"{expected}.bin\"");
    if let Ok(value) = HeaderValue::from_str(&disposition) {
        headers.insert(header::CONTENT_DISPOSITION, value);
    }
    if let Ok(value) = HeaderValue::from_str(&expected.to_string()) {
        headers.insert("x-content-sha256", value);
    }
    Ok(response)
}
