#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The request → approval → decision workflow, end to end on a real SQLite state.

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use portcullis_engine::model::{FileRule, MaintenanceMode, Timestamp};
use portcullis_engine::{Bundle, Event, Outcome};
use portcullis_governance::{
    AccessRequestKind, AdminRecord, ApproveOptions, AuditQuery, Error, ErrorKind, FileRequest,
    Governance, Grant, Grantable, Matching, Permission, RequestState, ScopeKind, Settings,
};

/// acme (default deny allows requests) with two groups; `deny-tools` blocks a folder
/// and allows requests; `beta` is a sibling organization.
const BUNDLE: &str = r#"{
  "format": "portcullis.bundle/v1",
  "organizations": [
    {"id": "msp", "name": "MSP"},
    {"id": "acme", "name": "Acme", "parent": "msp"},
    {"id": "beta", "name": "Beta", "parent": "msp"}
  ],
  "groups": [
    {"id": "office", "organization": "acme", "name": "Office"},
    {"id": "lab", "organization": "acme", "name": "Lab"},
    {"id": "beta-ws", "organization": "beta", "name": "Beta workstations"}
  ],
  "computers": [
    {"id": "pc-1", "group": "office", "name": "PC-1", "os": "windows"},
    {"id": "pc-2", "group": "office", "name": "PC-2", "os": "windows"},
    {"id": "pc-3", "group": "office", "name": "PC-3", "os": "windows"},
    {"id": "lab-1", "group": "lab", "name": "LAB-1", "os": "windows"},
    {"id": "beta-1", "group": "beta-ws", "name": "BETA-1", "os": "windows"}
  ],
  "applications": [
    {"id": "tools-folder", "organization": "acme", "name": "Tools folder",
     "rules": [{"path": "C:\\Tools\\*"}]},
    {"id": "approved-utilities", "organization": "acme", "name": "Approved utilities",
     "rules": [{"path": "C:\\Utilities\\vetted.exe"}]}
  ],
  "policies": [
    {"id": "deny-tools", "scope": {"organization": "acme"}, "position": 10,
     "applications": ["tools-folder"], "action": "deny",
     "on_deny": {"notify_user": true, "allow_request": true}},
    {"id": "permit-utilities", "scope": {"organization": "acme"}, "position": 20,
     "applications": ["approved-utilities"], "action": "permit"}
  ]
}"#;

const T0: i64 = 1_795_000_000; // 2026-11-18

struct Fixture {
    gov: Governance,
    clock: Arc<AtomicI64>,
    _dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let clock = Arc::new(AtomicI64::new(T0));
    let bundle: Bundle = portcullis_engine::parse(BUNDLE).unwrap();
    let store = support::new_store(dir.path());
    let tick = clock.clone();
    let mut gov = Governance::init(
        store,
        bundle,
        admin("root", "msp"),
        Box::new(move || Timestamp::from_unix(tick.load(Ordering::SeqCst))),
    )
    .unwrap();
    // ann approves in acme at computer and group scope; eve only at computer scope.
    for (id, perms) in [
        ("ann", vec![Permission::ApproveGroup]),
        ("eve", vec![Permission::ApproveComputer]),
    ] {
        gov.put_admin("root", admin(id, "acme")).unwrap();
        for p in perms {
            gov.grant("root", grant(id, "acme", p)).unwrap();
        }
    }
    Fixture {
        gov,
        clock,
        _dir: dir,
    }
}

fn admin(id: &str, org: &str) -> AdminRecord {
    AdminRecord {
        id: id.into(),
        name: id.to_uppercase(),
        organization: org.into(),
        email: Some(format!("{id}@example.com")),
        phone: None,
    }
}

fn grant(admin: &str, org: &str, p: Permission) -> Grant {
    Grant {
        admin: admin.into(),
        organization: org.into(),
        what: Grantable::Permission(p),
    }
}

fn hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn event(computer: &str, path: &str, content: &[u8], time: i64) -> Event {
    Event::from_json(
        &serde_json::json!({
            "computer": computer, "user": "ACME\\amy", "path": path,
            "sha256": hex(content), "time": Timestamp::from_unix(time).to_string(),
        })
        .to_string(),
    )
    .unwrap()
}

const TOOL: &[u8] = b"MZ portable tool v1";

fn file(gov: &mut Governance, computer: &str, path: &str) -> i64 {
    gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event(computer, path, TOOL, T0),
        message: "needed for the audit".into(),
        email: Some("amy@acme.example".into()),
        attachment: Some(TOOL.to_vec()),
    })
    .unwrap()
    .id
}

fn decide(gov: &Governance, computer: &str, path: &str, time: i64) -> Outcome {
    gov.engine()
        .unwrap()
        .snapshot()
        .decide(&event(computer, path, TOOL, time))
        .decision
}

const DOWNLOADS: &str = "C:\\Users\\amy\\Downloads\\tool.exe";

#[test]
fn approvals_one_after_another_keep_each_other_and_match_what_is_stored() {
    let mut f = fixture();
    // Each approval deploys its organization as a change made from what the state
    // keeps of it: every earlier approval must be in it.
    let computers = ["pc-1", "pc-2", "pc-1", "pc-2"];
    let paths = [DOWNLOADS, DOWNLOADS, "C:\\Temp\\a.exe", "C:\\Temp\\b.exe"];
    for (computer, path) in computers.iter().zip(paths) {
        let id = f
            .gov
            .file_request(FileRequest {
                kind: AccessRequestKind::Application,
                event: event(computer, path, path.as_bytes(), T0),
                message: "one more".into(),
                email: None,
                attachment: None,
            })
            .unwrap()
            .id;
        f.gov
            .approve(
                "ann",
                id,
                ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
            )
            .unwrap();
        for (c, p) in computers.iter().zip(paths).take_while(|(_, p)| *p != path) {
            let earlier = event(c, p, p.as_bytes(), T0);
            let decided = f.gov.engine().unwrap().decide(&earlier).decision;
            assert_eq!(decided, Outcome::Allow, "{c} {p} after approving {path}");
        }
    }
    // The positions the approvals took are all different, and the bundle kept in
    // memory is the one the store reads back.
    let positions: std::collections::BTreeSet<i64> = f
        .gov
        .bundle()
        .policies
        .iter()
        .filter(|p| p.id.starts_with("approval-"))
        .map(|p| p.position)
        .collect();
    assert_eq!(positions.len(), 4);
    let stored = f.gov.bundle_at(f.gov.version()).unwrap().unwrap();
    assert_eq!(&stored, f.gov.bundle());
}

#[test]
fn a_computer_approval_allows_that_computer_only() {
    let mut f = fixture();
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0), Outcome::Deny);
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    let approved = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap();
    assert_eq!(approved.request.state, RequestState::Approved);
    assert_eq!(approved.proof.decision, Outcome::Allow);
    assert_eq!(approved.proof.policy.as_deref(), Some("approval-1"));
    // Only acme, the organization that changed, was compiled again.
    assert_eq!(approved.recompiled, 1);
    assert_eq!(f.gov.version(), 2);
    // The next decision allows it there, and still denies it on another computer of
    // the same group.
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0 + 60), Outcome::Allow);
    assert_eq!(decide(&f.gov, "pc-2", DOWNLOADS, T0 + 60), Outcome::Deny);
    // And after reopening the state.
    let dir = f._dir.path().to_owned();
    drop(f.gov);
    let reopened = support::open_dir(&dir).unwrap();
    assert_eq!(reopened.version(), 2);
    assert_eq!(
        decide(&reopened, "pc-1", DOWNLOADS, T0 + 60),
        Outcome::Allow
    );
    assert_eq!(decide(&reopened, "pc-2", DOWNLOADS, T0 + 60), Outcome::Deny);
}

#[test]
fn a_group_approval_covers_the_group_after_the_software_was_seen() {
    let mut f = fixture();
    let first = file(&mut f.gov, "pc-1", DOWNLOADS);
    // Never seen before: computer scope first.
    let mut group = ApproveOptions::new(ScopeKind::Group, Matching::Hash);
    group.justification = Some("the whole office uses it".into());
    let refused = f.gov.approve("ann", first, group.clone()).unwrap_err();
    assert!(matches!(refused, Error::Guardrail { .. }), "{refused}");
    assert!(refused.to_string().contains("computer scope first"));
    f.gov
        .approve(
            "ann",
            first,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap();

    let second = file(&mut f.gov, "pc-2", DOWNLOADS);
    // Seen now, but a wider approval needs a justification.
    let bare = ApproveOptions::new(ScopeKind::Group, Matching::Hash);
    let refused = f.gov.approve("ann", second, bare).unwrap_err();
    assert!(refused.to_string().contains("justification"), "{refused}");
    // eve may approve only single computers.
    let refused = f.gov.approve("eve", second, group.clone()).unwrap_err();
    assert!(matches!(refused, Error::Refused(_)), "{refused}");
    assert!(refused.to_string().contains("Approve for Group"));

    f.gov.approve("ann", second, group).unwrap();
    for pc in ["pc-1", "pc-2", "pc-3"] {
        assert_eq!(
            decide(&f.gov, pc, DOWNLOADS, T0 + 60),
            Outcome::Allow,
            "{pc}"
        );
    }
    assert_eq!(decide(&f.gov, "lab-1", DOWNLOADS, T0 + 60), Outcome::Deny);
    assert_eq!(decide(&f.gov, "beta-1", DOWNLOADS, T0 + 60), Outcome::Deny);
}

#[test]
fn an_expiring_approval_stops_allowing_after_expiry() {
    let mut f = fixture();
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    let mut options = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    options.expires = Some(Timestamp::from_unix(T0 + 3600));
    f.gov.approve("eve", id, options).unwrap();
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0 + 3599), Outcome::Allow);
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0 + 3600), Outcome::Deny);
    // An expiry in the past is refused.
    let other = file(&mut f.gov, "pc-2", DOWNLOADS);
    let mut past = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    past.expires = Some(Timestamp::from_unix(T0 - 1));
    assert!(matches!(
        f.gov.approve("eve", other, past),
        Err(Error::InvalidInput { .. })
    ));
}

#[test]
fn a_shadowed_approval_is_reported_and_not_recorded() {
    let mut f = fixture();
    let tools = "C:\\Tools\\scanner.exe";
    let id = file(&mut f.gov, "pc-1", tools);
    let before = f.gov.version();
    let error = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap_err();
    assert!(
        matches!(&error, Error::Shadowed { blocker, .. } if blocker == "policy `deny-tools`"),
        "{error}"
    );
    // Nothing deployed, nothing recorded.
    assert_eq!(f.gov.version(), before);
    assert_eq!(f.gov.engine().unwrap().generation(), 1);
    assert_eq!(
        f.gov.request("eve", id).unwrap().state,
        RequestState::Pending
    );
    assert_eq!(decide(&f.gov, "pc-1", tools, T0), Outcome::Deny);
    // With a position before the deny, it takes effect; choosing a position needs
    // Edit Application Control Policies.
    let mut early = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    early.position = Some(5);
    let refused = f.gov.approve("eve", id, early).unwrap_err();
    assert!(
        refused
            .to_string()
            .contains("Edit Application Control Policies"),
        "{refused}"
    );
    f.gov
        .grant("root", grant("eve", "acme", Permission::EditPolicies))
        .unwrap();
    let mut early = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    early.position = Some(5);
    f.gov.approve("eve", id, early).unwrap();
    assert_eq!(decide(&f.gov, "pc-1", tools, T0), Outcome::Allow);
}

#[test]
fn matching_by_path_and_into_an_existing_application() {
    let mut f = fixture();
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    // Adding to an existing application needs Allow Application Merge (with Edit
    // Applications).
    let mut merge = ApproveOptions::new(ScopeKind::Computer, Matching::Path);
    merge.application = Some("approved-utilities".into());
    let refused = f.gov.approve("eve", id, merge.clone()).unwrap_err();
    assert!(
        refused.to_string().contains("Allow Application Merge"),
        "{refused}"
    );
    f.gov
        .grant(
            "root",
            grant("eve", "acme", Permission::AllowApplicationMerge),
        )
        .unwrap();
    f.gov
        .grant("root", grant("eve", "acme", Permission::EditApplications))
        .unwrap();
    let approved = f.gov.approve("eve", id, merge).unwrap();
    let approval = approved.request.closure.unwrap().approval.unwrap();
    assert_eq!(approval.application, "approved-utilities");
    assert!(!approval.new_application);
    let app = f
        .gov
        .bundle()
        .applications
        .iter()
        .find(|a| a.id == "approved-utilities")
        .unwrap();
    assert!(app.rules.iter().any(|r| r.path() == Some(DOWNLOADS)));
    // Matched by path: another file at the same path on pc-1 is allowed too.
    let other = gov_event("pc-1", DOWNLOADS, b"other bytes");
    assert_eq!(
        f.gov.engine().unwrap().decide(&other).decision,
        Outcome::Allow
    );
}

fn gov_event(computer: &str, path: &str, content: &[u8]) -> Event {
    event(computer, path, content, T0)
}

#[test]
fn certificate_matching_needs_a_valid_signature_and_custom_rules_compile() {
    let mut f = fixture();
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    let error = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Certificate),
        )
        .unwrap_err();
    assert!(error.to_string().contains("no valid signature"), "{error}");
    let bad = FileRule::default().with_path("relative\\path.exe");
    // A custom rule needs Edit Application Control Applications besides the approval.
    let error = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Custom(bad.clone())),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Refused(_)), "{error}");
    f.gov
        .grant("root", grant("eve", "acme", Permission::EditApplications))
        .unwrap();
    let error = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Custom(bad)),
        )
        .unwrap_err();
    assert!(matches!(error, Error::Compile(_)), "{error}");
    assert_eq!(f.gov.version(), 1);
    let custom = FileRule::default().with_path("C:\\Users\\*\\Downloads\\tool.exe");
    f.gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Custom(custom)),
        )
        .unwrap();
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0), Outcome::Allow);
}

#[test]
fn rejecting_needs_a_reason_and_a_decided_request_stays_decided() {
    let mut f = fixture();
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    assert!(matches!(
        f.gov.reject("eve", id, "  "),
        Err(Error::InvalidInput { .. })
    ));
    let rejected = f.gov.reject("eve", id, "not licensed").unwrap();
    assert_eq!(rejected.state, RequestState::Rejected);
    assert_eq!(rejected.closure.as_ref().unwrap().reason, "not licensed");
    assert_eq!(rejected.closure.as_ref().unwrap().by, "eve");
    let again = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap_err();
    assert!(
        matches!(
            again,
            Error::AlreadyClosed {
                state: "rejected",
                ..
            }
        ),
        "{again}"
    );
    assert_eq!(f.gov.version(), 1);
    assert!(matches!(
        f.gov.reject("eve", id, "twice"),
        Err(Error::AlreadyClosed { .. })
    ));
}

#[test]
fn requests_not_handled_in_time_expire() {
    let mut f = fixture();
    let settings = Settings {
        request_ttl_seconds: 3600,
        ..Settings::default()
    };
    f.gov.set_settings("root", "acme", settings).unwrap();
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    f.clock.store(T0 + 3599, Ordering::SeqCst);
    assert_eq!(
        f.gov.requests("eve", None).unwrap()[0].state,
        RequestState::Pending
    );
    f.clock.store(T0 + 3600, Ordering::SeqCst);
    let list = f.gov.requests("eve", None).unwrap();
    assert_eq!(list[0].state, RequestState::Expired);
    assert_eq!(list[0].closure.as_ref().unwrap().by, "system");
    let late = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap_err();
    assert!(
        matches!(
            late,
            Error::AlreadyClosed {
                state: "expired",
                ..
            }
        ),
        "{late}"
    );
}

#[test]
fn repeated_computer_approvals_suggest_a_wider_policy() {
    let mut f = fixture();
    let settings = Settings {
        suggest_after: 2,
        ..Settings::default()
    };
    f.gov.set_settings("root", "acme", settings).unwrap();
    let first = file(&mut f.gov, "pc-1", DOWNLOADS);
    let approved = f
        .gov
        .approve(
            "eve",
            first,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap();
    assert!(approved.suggestion.is_none());
    let second = file(&mut f.gov, "pc-2", DOWNLOADS);
    let approved = f
        .gov
        .approve(
            "eve",
            second,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap();
    let suggestion = approved.suggestion.unwrap();
    assert_eq!(suggestion.computers, ["pc-1", "pc-2"]);
    assert_eq!(suggestion.scope, ScopeKind::Group);
    assert_eq!(suggestion.target, "office");
    assert_eq!(f.gov.suggestions("ann").unwrap(), [suggestion]);
}

#[test]
fn requests_only_where_the_deny_allows_them_and_files_stored_once() {
    let mut f = fixture();
    // Allowed executions have nothing to request.
    let allowed = f.gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event("pc-1", "C:\\Utilities\\vetted.exe", TOOL, T0),
        message: "please".into(),
        email: None,
        attachment: None,
    });
    assert!(matches!(allowed, Err(Error::InvalidInput { reason: m, .. }) if m.contains("allowed")));
    // The attached file must be the blocked one.
    let wrong = f.gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event("pc-1", DOWNLOADS, TOOL, T0),
        message: "please".into(),
        email: None,
        attachment: Some(b"something else".to_vec()),
    });
    assert!(matches!(wrong, Err(Error::InvalidInput { reason: m, .. }) if m.contains("SHA-256")));
    // A bad email address.
    let bad = f.gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event("pc-1", DOWNLOADS, TOOL, T0),
        message: "please".into(),
        email: Some("amy at acme".into()),
        attachment: None,
    });
    assert!(matches!(bad, Err(Error::InvalidInput { .. })));
    // An unknown computer.
    let unknown = f.gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event("pc-404", DOWNLOADS, TOOL, T0),
        message: "please".into(),
        email: None,
        attachment: None,
    });
    assert!(matches!(
        unknown,
        Err(Error::NotFound {
            kind: "computer",
            ..
        })
    ));
    assert!(f.gov.requests("root", None).unwrap().is_empty());

    file(&mut f.gov, "pc-1", DOWNLOADS);
    file(&mut f.gov, "pc-2", DOWNLOADS);
    // The same request again while one is pending.
    let twice = f.gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event("pc-1", DOWNLOADS, TOOL, T0),
        message: "again".into(),
        email: None,
        attachment: None,
    });
    assert!(matches!(twice, Err(Error::AlreadyPending { .. })));
    assert_eq!(f.gov.read("root", |tx| tx.file_count()).unwrap(), 1);
    assert_eq!(f.gov.request_file("eve", 2).unwrap(), TOOL);
}

#[test]
fn filings_sharing_one_transaction_each_have_their_own_outcome() {
    let mut f = fixture();
    f.gov.put_admin("root", admin("zed", "acme")).unwrap();
    let request = |computer: &str, content: &[u8]| FileRequest {
        kind: AccessRequestKind::Application,
        event: event(computer, DOWNLOADS, content, T0),
        message: "batch".into(),
        email: None,
        attachment: Some(content.to_vec()),
    };
    let outcomes = f.gov.file_requests(vec![
        (None, request("pc-1", TOOL)),
        // The same again in the same transaction: pending already.
        (None, request("pc-1", TOOL)),
        (None, request("pc-404", TOOL)),
        // An administrator who may not open requests there.
        (Some("zed".into()), request("pc-2", TOOL)),
        (Some("root".into()), request("pc-2", TOOL)),
    ]);
    assert_eq!(outcomes.len(), 5);
    let first = outcomes[0].as_ref().unwrap();
    assert!(
        matches!(&outcomes[1], Err(Error::AlreadyPending { id, .. }) if *id == first.id),
        "{:?}",
        outcomes[1]
    );
    assert!(matches!(
        &outcomes[2],
        Err(Error::NotFound {
            kind: "computer",
            ..
        })
    ));
    assert_eq!(
        outcomes[3].as_ref().unwrap_err().kind(),
        ErrorKind::Forbidden
    );
    let last = outcomes[4].as_ref().unwrap();
    assert_eq!(last.filed.computer, "pc-2");
    // Exactly the two were filed, each audited, the file's copy stored once.
    let pending = f.gov.requests("root", None).unwrap();
    assert_eq!(
        pending.iter().map(|r| r.id).collect::<Vec<_>>(),
        [first.id, last.id]
    );
    let query = AuditQuery {
        kind: Some("request".into()),
        ..AuditQuery::default()
    };
    assert_eq!(f.gov.search_audit("root", &query).unwrap().len(), 2);
    assert_eq!(f.gov.read("root", |tx| tx.file_count()).unwrap(), 1);
    assert!(f.gov.verify_audit().unwrap().is_ok());
}

#[test]
fn the_queue_pages_newest_first_through_what_the_administrator_may_see() {
    let mut f = fixture();
    // Interleaved: acme's computers and beta's, which ann may not see.
    let mut acme = Vec::new();
    for (n, computer) in [
        "pc-1", "beta-1", "pc-2", "beta-1", "pc-3", "beta-1", "lab-1",
    ]
    .iter()
    .enumerate()
    {
        let content = format!("tool {n}");
        let filed = f
            .gov
            .file_request(FileRequest {
                kind: AccessRequestKind::Application,
                event: event(computer, DOWNLOADS, content.as_bytes(), T0),
                message: "page".into(),
                email: None,
                attachment: None,
            })
            .unwrap();
        if !computer.starts_with("beta") {
            acme.push(filed.id);
        }
    }
    acme.reverse();
    let page = |gov: &mut Governance, before: Option<i64>| -> Vec<i64> {
        gov.requests_page("ann", None, before, 2)
            .unwrap()
            .iter()
            .map(|r| r.id)
            .collect()
    };
    let first = page(&mut f.gov, None);
    assert_eq!(first, acme[..2]);
    let second = page(&mut f.gov, first.last().copied());
    assert_eq!(second, acme[2..4]);
    assert!(page(&mut f.gov, second.last().copied()).is_empty());
    // The whole queue, a page at a time, is the queue.
    let all = f.gov.requests_page("root", None, None, 100).unwrap();
    assert_eq!(all.len(), 7);
    assert!(all.windows(2).all(|w| w[0].id > w[1].id));
    // Someone who may see no queue anywhere is told so, as for the whole queue.
    f.gov.put_admin("root", admin("zed", "acme")).unwrap();
    let refused = f.gov.requests_page("zed", None, None, 10).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Forbidden, "{refused}");
}

#[test]
fn elevation_requests_need_an_elevation_administrator() {
    let mut f = fixture();
    let mut run = event("pc-1", "C:\\Utilities\\vetted.exe", TOOL, T0);
    run.elevation = true;
    let decision = f.gov.engine().unwrap().decide(&run);
    assert_eq!(decision.decision, Outcome::Allow);
    assert!(!decision.elevated);
    let id = f
        .gov
        .file_request(FileRequest {
            kind: AccessRequestKind::Elevation,
            event: run.clone(),
            message: "needs admin rights to update".into(),
            email: None,
            attachment: None,
        })
        .unwrap()
        .id;
    let options = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    let refused = f.gov.approve("eve", id, options.clone()).unwrap_err();
    assert!(
        refused.to_string().contains("Elevation Administrator"),
        "{refused}"
    );
    f.gov
        .grant(
            "root",
            grant("eve", "acme", Permission::ElevationAdministrator),
        )
        .unwrap();
    // The approval lands after `permit-utilities` (which permits without elevation), so
    // it must come first to take effect.
    let shadowed = f.gov.approve("eve", id, options.clone()).unwrap_err();
    assert!(
        matches!(&shadowed, Error::Shadowed { outcome, .. } if outcome == "allow without elevation"),
        "{shadowed}"
    );
    f.gov
        .grant("root", grant("eve", "acme", Permission::EditPolicies))
        .unwrap();
    let mut first = options;
    first.position = Some(15);
    let approved = f.gov.approve("eve", id, first).unwrap();
    assert!(approved.proof.elevated);
    assert!(f.gov.engine().unwrap().decide(&run).elevated);
}

#[test]
fn maintenance_modes_are_permission_checked_and_end() {
    let mut f = fixture();
    let until = Timestamp::from_unix(T0 + 86_400);
    let refused = f
        .gov
        .set_maintenance("eve", "pc-1", Some((MaintenanceMode::Installation, until)))
        .unwrap_err();
    assert!(refused.to_string().contains("Edit Computers"), "{refused}");
    f.gov
        .grant("root", grant("eve", "acme", Permission::EditComputers))
        .unwrap();
    f.gov
        .set_maintenance("eve", "pc-1", Some((MaintenanceMode::Installation, until)))
        .unwrap();
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0 + 10), Outcome::Allow);
    // Explicit denies still block.
    assert_eq!(
        decide(&f.gov, "pc-1", "C:\\Tools\\x.exe", T0 + 10),
        Outcome::Deny
    );
    f.gov.set_maintenance("eve", "pc-1", None).unwrap();
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0 + 10), Outcome::Deny);
    assert!(matches!(
        f.gov.set_maintenance("eve", "pc-1", None),
        Err(Error::Unchanged { .. })
    ));
    assert!(matches!(
        f.gov.set_maintenance("eve", "pc-404", None),
        Err(Error::NotFound { .. })
    ));
}

#[test]
fn unknown_ids_and_foreign_scopes_change_nothing() {
    let mut f = fixture();
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    let options = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    assert!(matches!(
        f.gov.approve("eve", 999, options.clone()),
        Err(Error::NotFound {
            kind: "request",
            ..
        })
    ));
    assert!(matches!(
        f.gov.approve("nobody", id, options.clone()),
        Err(Error::NotFound {
            kind: "administrator",
            ..
        })
    ));
    let mut foreign = ApproveOptions::new(ScopeKind::Group, Matching::Hash);
    foreign.target = Some("lab".into());
    foreign.justification = Some("x".into());
    let error = f.gov.approve("ann", id, foreign).unwrap_err();
    assert!(
        error.to_string().contains("does not contain `pc-1`"),
        "{error}"
    );
    let mut other_computer = options;
    other_computer.target = Some("pc-2".into());
    assert!(matches!(
        f.gov.approve("eve", id, other_computer),
        Err(Error::InvalidInput { .. })
    ));
    assert_eq!(f.gov.version(), 1);
    assert_eq!(
        f.gov.request("eve", id).unwrap().state,
        RequestState::Pending
    );
    // The audit chain holds everything that happened, and nothing that did not.
    assert!(f.gov.verify_audit().unwrap().is_ok());
}

#[test]
fn deploy_and_rollback_are_checked_and_versioned() {
    let mut f = fixture();
    let mut bundle = f.gov.bundle().clone();
    bundle.policies.retain(|p| p.id != "deny-tools");
    let refused = f
        .gov
        .deploy("eve", bundle.clone(), "drop deny")
        .unwrap_err();
    // Removing a policy needs Edit Application Control Policies on its organization.
    assert!(
        refused
            .to_string()
            .contains("Edit Application Control Policies"),
        "{refused}"
    );
    // With it, publishing still needs Edit or View Organizations.
    f.gov
        .grant("root", grant("eve", "acme", Permission::EditPolicies))
        .unwrap();
    let refused = f
        .gov
        .deploy("eve", bundle.clone(), "drop deny")
        .unwrap_err();
    assert!(
        refused.to_string().contains("Edit Organizations"),
        "{refused}"
    );
    assert_eq!(f.gov.deploy("root", bundle, "drop deny").unwrap(), 2);
    assert_eq!(
        decide(&f.gov, "pc-1", "C:\\Tools\\x.exe", T0),
        Outcome::Deny
    );
    let tools = event("pc-1", "C:\\Tools\\x.exe", TOOL, T0);
    assert!(f.gov.engine().unwrap().decide(&tools).default_deny);
    assert_eq!(f.gov.rollback("root", None).unwrap(), 3);
    assert_eq!(
        f.gov.engine().unwrap().decide(&tools).policy.as_deref(),
        Some("deny-tools")
    );
    let history = f.gov.deploys(10).unwrap();
    assert_eq!(history[0].note.reason, "rollback to version 1");
}

#[test]
fn approvals_never_jump_ahead_of_an_ancestors_policies() {
    let mut f = fixture();
    // The MSP denies a known-bad hash everywhere, at position 50.
    let mut bundle = f.gov.bundle().clone();
    let known_bad: Bundle = portcullis_engine::parse(&format!(
        r#"{{"format": "portcullis.bundle/v1",
            "applications": [{{"id": "known-bad", "organization": "msp", "name": "Known bad",
                              "rules": [{{"sha256": "{}"}}]}}],
            "policies": [{{"id": "deny-known-bad", "scope": {{"global": "msp"}}, "position": 50,
                          "applications": ["known-bad"], "action": "deny",
                          "on_deny": {{"notify_user": true, "allow_request": true}}}}]}}"#,
        hex(TOOL)
    ))
    .unwrap();
    bundle.applications.extend(known_bad.applications);
    bundle.policies.extend(known_bad.policies);
    f.gov.deploy("root", bundle, "known bad").unwrap();
    let id = file(&mut f.gov, "pc-1", DOWNLOADS);
    f.gov
        .grant("root", grant("eve", "acme", Permission::EditPolicies))
        .unwrap();
    // Placed before the MSP's deny: refused, whoever approves.
    let mut early = ApproveOptions::new(ScopeKind::Computer, Matching::Hash);
    early.position = Some(40);
    let error = f.gov.approve("eve", id, early).unwrap_err();
    assert!(
        error.to_string().contains("before an ancestor's policies"),
        "{error}"
    );
    // The default position comes after it, so the deny still decides and is reported.
    let error = f
        .gov
        .approve(
            "eve",
            id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap_err();
    assert!(
        matches!(&error, Error::Shadowed { blocker, .. } if blocker == "policy `deny-known-bad`"),
        "{error}"
    );
    assert_eq!(decide(&f.gov, "pc-1", DOWNLOADS, T0), Outcome::Deny);
}

#[test]
fn a_grant_needs_the_permission_on_every_organization_it_covers() {
    let mut f = fixture();
    // `pat` is Super Admin - Parent Only on msp: everything on msp, nothing below it.
    f.gov.put_admin("root", admin("pat", "msp")).unwrap();
    f.gov
        .grant(
            "root",
            grant("pat", "msp", Permission::SuperAdminParentOnly),
        )
        .unwrap();
    f.gov.put_admin("root", admin("sam", "msp")).unwrap();
    // A grant on msp would cover acme and beta, where pat holds nothing.
    let refused = f
        .gov
        .grant("pat", grant("sam", "msp", Permission::ViewReports))
        .unwrap_err();
    assert!(matches!(refused, Error::Refused(_)), "{refused}");
    assert!(f.gov.grants("sam").unwrap().is_empty());
}

#[test]
fn approval_choices_and_audit_queries_read_from_json() {
    let options: ApproveOptions = serde_json::from_value(serde_json::json!({
        "scope": "group", "matching": "certificate-path", "justification": "team tool",
    }))
    .unwrap();
    assert_eq!(options.scope, ScopeKind::Group);
    assert_eq!(options.matching, Matching::CertificatePath);
    assert!(!options.elevate && options.target.is_none());
    let custom: Matching =
        serde_json::from_value(serde_json::json!({"custom": {"path": "C:\\Tools\\*.exe"}}))
            .unwrap();
    assert_eq!(custom.as_str(), "custom");
    assert!(
        serde_json::from_value::<ApproveOptions>(serde_json::json!({"scope": "group"})).is_err()
    );
    let query: portcullis_governance::AuditQuery =
        serde_json::from_value(serde_json::json!({"organization": "acme", "kind": "deny"}))
            .unwrap();
    assert_eq!(query.organization.as_deref(), Some("acme"));
    assert!(query.log.is_none() && query.since.is_none());
    let typo = serde_json::json!({"organisation": "acme"});
    assert!(serde_json::from_value::<portcullis_governance::AuditQuery>(typo).is_err());
}
