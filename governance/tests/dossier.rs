#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What an approver reads before deciding (a request's dossier, the preview of an
//! approval) and acting on a suggestion, on a real SQLite state: each one checked at
//! the authorization point, and the reads writing nothing.

use portcullis_engine::model::Timestamp;
use portcullis_engine::{Bundle, Event, Outcome};
use portcullis_governance::{
    AccessRequestKind, AdminRecord, ApproveOptions, ErrorKind, FileRequest, Governance, Grant,
    Grantable, Matching, Permission, ScopeKind, Settings, SqliteStore,
};

/// acme and beta under msp; `deny-tools` blocks `C:\Tools\*` in acme and allows
/// requests.
const BUNDLE: &str = r#"{
  "format": "portcullis.bundle/v1",
  "organizations": [
    {"id": "msp", "name": "MSP"},
    {"id": "acme", "name": "Acme", "parent": "msp"},
    {"id": "beta", "name": "Beta", "parent": "msp"}
  ],
  "groups": [
    {"id": "office", "organization": "acme", "name": "Office"},
    {"id": "beta-ws", "organization": "beta", "name": "Beta workstations"}
  ],
  "computers": [
    {"id": "pc-1", "group": "office", "name": "PC-1", "os": "windows"},
    {"id": "pc-2", "group": "office", "name": "PC-2", "os": "windows"},
    {"id": "pc-3", "group": "office", "name": "PC-3", "os": "windows"},
    {"id": "beta-1", "group": "beta-ws", "name": "BETA-1", "os": "windows"}
  ],
  "applications": [
    {"id": "tools-folder", "organization": "acme", "name": "Tools folder",
     "rules": [{"path": "C:\\Tools\\*"}]}
  ],
  "policies": [
    {"id": "deny-tools", "scope": {"organization": "acme"}, "position": 10,
     "applications": ["tools-folder"], "action": "deny",
     "on_deny": {"notify_user": true, "allow_request": true}}
  ]
}"#;

const T0: i64 = 1_795_000_000;
const SHA: &str = "7e57000000000000000000000000000000000000000000000000000000000001";

fn state(dir: &std::path::Path) -> Governance<SqliteStore> {
    let bundle: Bundle = portcullis_engine::parse(BUNDLE).unwrap();
    let store = SqliteStore::open(&dir.join("state.db")).unwrap();
    let mut gov = Governance::init(
        store,
        bundle,
        admin("root", "msp"),
        Box::new(|| Timestamp::from_unix(T0)),
    )
    .unwrap();
    // ann approves at group scope in acme, eve at computer scope, vic only views.
    for (id, p) in [
        ("ann", Permission::ApproveGroup),
        ("eve", Permission::ApproveComputer),
        ("vic", Permission::ViewApprovals),
    ] {
        gov.put_admin("root", admin(id, "acme")).unwrap();
        gov.grant(
            "root",
            Grant {
                admin: id.into(),
                organization: "acme".into(),
                what: Grantable::Permission(p),
            },
        )
        .unwrap();
    }
    gov
}

fn admin(id: &str, org: &str) -> AdminRecord {
    AdminRecord {
        id: id.into(),
        name: id.to_uppercase(),
        organization: org.into(),
        email: None,
        phone: None,
    }
}

fn event(computer: &str, path: &str) -> Event {
    Event::from_json(
        &serde_json::json!({
            "computer": computer, "user": "ACME\\amy", "path": path, "sha256": SHA,
            "time": Timestamp::from_unix(T0).to_string(),
        })
        .to_string(),
    )
    .unwrap()
}

fn file(gov: &mut Governance<SqliteStore>, computer: &str, path: &str) -> i64 {
    gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event(computer, path),
        message: "needed".into(),
        email: None,
        attachment: None,
    })
    .unwrap()
    .id
}

const DOWNLOADS: &str = "C:\\Users\\amy\\Downloads\\tool.exe";

#[test]
fn the_dossier_offers_each_approver_their_own_choices_and_view_approvals_none() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let id = file(&mut gov, "pc-1", DOWNLOADS);
    let scopes = |gov: &mut Governance<SqliteStore>, who: &str| {
        let dossier = gov.request_dossier(who, id).unwrap();
        dossier.choices.unwrap().scopes
    };
    assert_eq!(
        scopes(&mut gov, "eve"),
        [(ScopeKind::Computer, vec!["pc-1".to_owned()])]
    );
    assert_eq!(
        scopes(&mut gov, "ann"),
        [
            (ScopeKind::Computer, vec!["pc-1".to_owned()]),
            (ScopeKind::Group, vec!["office".to_owned()])
        ]
    );
    let root = scopes(&mut gov, "root");
    assert!(root.contains(&(
        ScopeKind::Organization,
        vec!["acme".to_owned(), "msp".to_owned()]
    )));
    let dossier = gov.request_dossier("root", id).unwrap();
    let choices = dossier.choices.unwrap();
    assert!(choices.matches.contains(&"custom") && !choices.matches.contains(&"certificate"));
    assert_eq!(choices.guardrails.len(), 2, "{:?}", choices.guardrails);
    assert_eq!(dossier.prevalence.requests, 1);
    assert_eq!(dossier.explanation.decision.decision, Outcome::Deny);
    // View Approvals lists the request but cannot open it; another tenant neither.
    let refused = gov.request_dossier("vic", id).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused}");
    let request = gov.request("eve", id).unwrap();
    assert!(!gov.may_open("vic", &request).unwrap());
    assert!(gov.may_open("eve", &request).unwrap());
}

#[test]
fn a_preview_says_what_the_approval_would_do_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let open = file(&mut gov, "pc-1", DOWNLOADS);
    let version = gov.version();
    let generation = gov.engine().unwrap().generation();
    let computer = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    let preview = gov.preview_approval("eve", open, &computer).unwrap();
    assert_eq!(preview.computers, ["pc-1"]);
    assert!(preview.new_application);
    assert_eq!(
        preview.outcome.unwrap().policy.as_deref(),
        Some(preview.policy.id.as_str())
    );
    // A guardrail and a permission refuse a preview as they refuse the approval.
    let group = ApproveOptions::new(ScopeKind::Group, Matching::Hash);
    assert_eq!(
        gov.preview_approval("ann", open, &group)
            .unwrap_err()
            .kind(),
        ErrorKind::Rejected
    );
    assert_eq!(
        gov.preview_approval("eve", open, &group)
            .unwrap_err()
            .kind(),
        ErrorKind::Forbidden
    );
    // An earlier deny would still decide: said, not raised.
    let shadowed = file(&mut gov, "pc-2", "C:\\Tools\\tool.exe");
    let preview = gov.preview_approval("eve", shadowed, &computer).unwrap();
    assert!(preview.outcome.unwrap_err().contains("deny-tools"));
    // Nothing was written: the same version, the same snapshot (the one the preview
    // decided on was not swapped in), the requests still pending.
    assert_eq!(gov.version(), version);
    assert_eq!(gov.engine().unwrap().generation(), generation);
    assert!(gov.approve("eve", open, computer).is_ok());
}

#[test]
fn a_suggestion_is_applied_once_with_the_permission_its_scope_needs() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let settings = Settings {
        suggest_after: 2,
        ..Settings::default()
    };
    gov.set_settings("root", "acme", settings).unwrap();
    for pc in ["pc-1", "pc-2"] {
        let id = file(&mut gov, pc, DOWNLOADS);
        gov.approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap();
    }
    let sha = SHA.parse().unwrap();
    let refused = gov
        .apply_suggestion("eve", "acme", sha, Some("desk"))
        .unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused}");
    let unjustified = gov.apply_suggestion("ann", "acme", sha, None).unwrap_err();
    assert_eq!(unjustified.kind(), ErrorKind::Rejected, "{unjustified}");
    let policy = gov
        .apply_suggestion("ann", "acme", sha, Some("the whole office"))
        .unwrap();
    assert!(gov.bundle().policies.iter().any(|p| p.id == policy));
    let decided = gov
        .engine()
        .unwrap()
        .snapshot()
        .decide(&event("pc-3", DOWNLOADS))
        .to_record();
    assert_eq!(decided.policy.as_deref(), Some(policy.as_str()));
    assert!(gov.suggestions("ann").unwrap().is_empty(), "applied once");
    assert_eq!(
        gov.apply_suggestion("ann", "acme", sha, Some("again"))
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn an_administrator_looks_after_the_computers_of_their_organizations_only() {
    let dir = tempfile::tempdir().unwrap();
    let gov = state(dir.path());
    let ids = |who: &str| -> Vec<String> {
        gov.computers_as(who)
            .unwrap()
            .into_iter()
            .map(|c| c.id)
            .collect()
    };
    assert_eq!(ids("eve"), ["pc-1", "pc-2", "pc-3"]);
    assert_eq!(ids("root").len(), 4);
    assert_eq!(
        gov.computer_as("vic", "beta-1").unwrap_err().kind(),
        ErrorKind::Forbidden
    );
}
