#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Approval plugins reviewing requests: how their verdicts combine and what each one
//! does to the request, the policies, the audit and the outbox. The plugins here are
//! plain implementations of the contract's trait; the Wasm and Rego hosts are tested
//! in `portcullis-plugins`.

mod support;

use std::sync::Mutex;

use portcullis_engine::plugin::{
    ApprovalInput, ApprovalOptions, ApprovalReviewer, Failure, FailureKind, Hook, MatchKind,
    PluginOutcome, Scope, Verdict,
};
use portcullis_engine::{Event, Outcome as Decided};
use portcullis_governance::{
    AccessRequestKind, AdminRecord, AuditQuery, Error, ErrorKind, FileRequest, Governance,
    OutboxState, PluginProvider, Plugins, RequestState, ReviewOutcome,
};

/// A plugin that always answers the same, and remembers what it was asked.
struct Fixed {
    name: &'static str,
    answer: Result<Verdict, FailureKind>,
    seen: Mutex<Vec<ApprovalInput>>,
}

impl Fixed {
    fn new(name: &'static str, answer: Result<Verdict, FailureKind>) -> Fixed {
        Fixed {
            name,
            answer,
            seen: Mutex::new(Vec::new()),
        }
    }
}

impl ApprovalReviewer for Fixed {
    fn name(&self) -> &str {
        self.name
    }

    fn review(&self, input: &ApprovalInput) -> PluginOutcome<Verdict> {
        self.seen.lock().unwrap().push(input.clone());
        PluginOutcome {
            result: self.answer.clone().map_err(|kind| Failure {
                kind,
                message: format!("{kind} in {}", self.name),
            }),
            logs: Vec::new(),
            dropped_logs: 0,
        }
    }
}

fn approve(scope: Scope) -> Verdict {
    Verdict::Approve {
        options: ApprovalOptions {
            scope,
            match_kind: MatchKind::Hash,
            elevate: false,
            expires: None,
            justification: "publisher on the tenant's list".into(),
        },
    }
}

fn state(dir: &std::path::Path) -> Governance {
    let mut gov = support::init_dir(
        dir,
        portcullis_engine::parse(include_str!("../../examples/bundle.json")).unwrap(),
        AdminRecord {
            id: "root".into(),
            name: "Root".into(),
            organization: "northwind".into(),
            email: Some("root@northwind.example".into()),
            phone: None,
        },
    )
    .unwrap();
    gov.put_admin(
        "root",
        AdminRecord {
            id: "ann".into(),
            name: "Ann".into(),
            organization: "lakeside".into(),
            email: Some("ann@lakeside.example".into()),
            phone: None,
        },
    )
    .unwrap();
    gov
}

fn event(computer: &str, n: u32) -> Event {
    Event::from_json(
        &serde_json::json!({
            "computer": computer, "user": "LAKESIDE\\amy",
            "path": format!("C:\\Tools\\tool-{n}.exe"), "sha256": format!("{n:064x}"),
            "time": "2026-11-22T10:00:00Z",
        })
        .to_string(),
    )
    .unwrap()
}

fn file(gov: &mut Governance, computer: &str, n: u32) -> i64 {
    gov.file_request(FileRequest {
        kind: AccessRequestKind::Application,
        event: event(computer, n),
        message: "please".into(),
        email: Some("amy@lakeside.example".into()),
        attachment: None,
    })
    .unwrap()
    .id
}

fn kinds(gov: &mut Governance) -> Vec<(String, String)> {
    gov.search_audit("root", &AuditQuery::default())
        .unwrap()
        .into_iter()
        .map(|r| (r.entry.kind, r.entry.actor))
        .collect()
}

#[test]
fn reject_wins_and_is_audited_under_the_plugins_name() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let id = file(&mut gov, "lakeside-fd-01", 1);
    let yes = Fixed::new("trusted-publisher", Ok(approve(Scope::Computer)));
    let no = Fixed::new(
        "known-bad",
        Ok(Verdict::Reject {
            reason: "listed as malware".into(),
        }),
    );
    let review = gov.review(id, &[&yes, &no]).unwrap();
    assert!(matches!(review.verdict, Verdict::Reject { .. }));
    let ReviewOutcome::Rejected { request } = review.outcome else {
        panic!("{:?}", review.outcome)
    };
    let closure = request.closure.unwrap();
    assert_eq!(closure.by, "plugin:known-bad");
    assert_eq!(closure.reason, "listed as malware");
    assert_eq!(gov.version(), 1);
    let audit = kinds(&mut gov);
    assert!(audit.contains(&("plugin-verdict".into(), "plugin:trusted-publisher".into())));
    assert!(audit.contains(&("reject".into(), "plugin:known-bad".into())));
    // The requester is told.
    let outbox = gov.outbox("root", Some(OutboxState::Pending)).unwrap();
    assert!(outbox
        .iter()
        .any(|o| o.notification.recipient == "amy@lakeside.example"
            && o.notification.reason == "rejected"));
}

#[test]
fn an_approval_goes_through_the_same_proof_and_guardrails() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let first = file(&mut gov, "lakeside-fd-01", 2);
    // Never seen in lakeside: a group-wide approval is held back for a person.
    let wide = Fixed::new("wide", Ok(approve(Scope::Group)));
    let review = gov.review(first, &[&wide]).unwrap();
    let ReviewOutcome::LeftForPeople {
        reason: Some(reason),
    } = &review.outcome
    else {
        panic!("{:?}", review.outcome)
    };
    assert!(reason.contains("computer scope first"), "{reason}");
    assert_eq!(
        gov.request("root", first).unwrap().state,
        RequestState::Pending
    );
    assert!(kinds(&mut gov).contains(&("plugin-approval-refused".into(), "plugin:wide".into())));

    // At computer scope it takes effect; a failing plugin beside it only abstains.
    let narrow = Fixed::new("narrow", Ok(approve(Scope::Computer)));
    let broken = Fixed::new("broken", Err(FailureKind::Trap));
    let review = gov.review(first, &[&broken, &narrow]).unwrap();
    let ReviewOutcome::Approved { request } = review.outcome else {
        panic!("{:?}", review.outcome)
    };
    assert_eq!(request.closure.unwrap().by, "plugin:narrow");
    assert_eq!(
        gov.engine()
            .unwrap()
            .decide(&event("lakeside-fd-01", 2))
            .decision,
        Decided::Allow
    );
    assert!(kinds(&mut gov).contains(&("plugin-failure".into(), "plugin:broken".into())));

    // The next request for the same software shows the plugin that approval.
    let second = file(&mut gov, "lakeside-dc-01", 2);
    let watcher = Fixed::new("watcher", Ok(Verdict::Abstain));
    gov.review(second, &[&watcher]).unwrap();
    let input = watcher.seen.lock().unwrap()[0].clone();
    let orgs: Vec<&str> = input
        .tenancy
        .organizations
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(orgs, ["northwind", "lakeside"]);
    assert_eq!(input.tenancy.group, "lakeside-srv");
    assert_eq!(input.prior_approvals.len(), 1);
    assert_eq!(input.prior_approvals[0].approved_by, "plugin:narrow");
    assert_eq!(input.prior_approvals[0].computer, "lakeside-fd-01");
    assert_eq!(input.request.execution.sha256, format!("{:064x}", 2));
}

#[test]
fn failures_never_approve_and_a_switched_off_plugin_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let off = Fixed::new("flaky", Err(FailureKind::Disabled));
    let slow = Fixed::new("slow", Err(FailureKind::Timeout));
    for n in 3..5 {
        let id = file(&mut gov, "lakeside-fd-01", n);
        let review = gov.review(id, &[&off, &slow]).unwrap();
        assert_eq!(review.verdict, Verdict::Abstain);
        assert!(matches!(
            review.outcome,
            ReviewOutcome::LeftForPeople { reason: None }
        ));
        assert_eq!(
            gov.request("root", id).unwrap().state,
            RequestState::Pending
        );
    }
    assert_eq!(gov.version(), 1);
    // Lakeside's administrators (ann, and root of the parent organization) are told
    // once, however many requests met the switched-off plugin.
    let told: Vec<String> = gov
        .outbox("root", None)
        .unwrap()
        .into_iter()
        .filter(|o| o.notification.reason == "plugin-disabled:flaky")
        .map(|o| o.notification.recipient)
        .collect();
    assert_eq!(told, ["ann@lakeside.example", "root@northwind.example"]);
}

#[test]
fn a_route_notifies_the_named_administrators_and_waits() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let id = file(&mut gov, "lakeside-fd-01", 5);
    let router = Fixed::new(
        "router",
        Ok(Verdict::Route {
            administrators: vec!["ann".into(), "secops@northwind.example".into()],
        }),
    );
    let approver = Fixed::new("approver", Ok(approve(Scope::Computer)));
    let review = gov.review(id, &[&approver, &router]).unwrap();
    assert!(matches!(review.outcome, ReviewOutcome::Routed { .. }));
    assert_eq!(
        gov.request("root", id).unwrap().state,
        RequestState::Pending
    );
    let routed: Vec<String> = gov
        .outbox("root", None)
        .unwrap()
        .into_iter()
        .filter(|o| o.notification.reason == "route")
        .map(|o| o.notification.recipient)
        .collect();
    assert_eq!(routed, ["ann@lakeside.example", "secops@northwind.example"]);
    // A decided request is not reviewed again.
    gov.reject("root", id, "no").unwrap();
    assert!(gov.review(id, &[&approver]).is_err());
}

/// A provider that loads nothing and keeps what it was asked about.
#[derive(Default)]
struct Recording {
    seen: Mutex<Vec<(Vec<String>, Vec<portcullis_governance::PluginAttachment>)>>,
    /// Claims to hold every plugin loaded already, so it needs no bytes.
    holding: bool,
}

impl PluginProvider for Recording {
    fn needs_content(
        &self,
        _hook: Hook,
        attached: &[portcullis_governance::PluginAttachment],
    ) -> Vec<bool> {
        vec![!self.holding; attached.len()]
    }

    fn plugins(
        &self,
        _hook: Hook,
        path: &[&str],
        attached: &[portcullis_governance::PluginAttachment],
    ) -> Result<Plugins, Error> {
        let path = path.iter().map(|o| (*o).to_owned()).collect();
        self.seen.lock().unwrap().push((path, attached.to_vec()));
        Ok(Plugins::default())
    }
}

#[test]
fn plugins_are_attached_per_organization_and_seen_below_it() {
    use portcullis_governance::PluginAttachment;
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    let plugin = |org: &str, name: &str| PluginAttachment {
        organization: org.into(),
        name: name.into(),
        hook: "approval-review".into(),
        file_name: format!("{name}.rego"),
        content: b"package portcullis".to_vec(),
        sha256: format!("{:064x}", 7).parse().unwrap(),
        config: [("publishers".to_owned(), "CN=Contoso".to_owned())].into(),
        vectors: vec![("v1.json".into(), "{}".into())],
        generation: 0,
    };
    // ann holds nothing: attaching needs Edit Integrations.
    let refused = gov
        .attach_plugin("ann", plugin("lakeside", "mine"))
        .unwrap_err();
    assert!(
        refused.to_string().contains("Edit Integrations"),
        "{refused}"
    );
    gov.attach_plugin("root", plugin("northwind", "known-bad"))
        .unwrap();
    gov.attach_plugin("root", plugin("lakeside", "trusted"))
        .unwrap();
    gov.attach_plugin("root", plugin("harbor", "other"))
        .unwrap();
    // Without a provider, attached plugins would silently not be consulted.
    let early = file(&mut gov, "lakeside-fd-01", 7);
    let error = gov.review_attached(early).unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unavailable, "{error}");
    assert!(matches!(error, Error::NotReady { .. }), "{error}");
    // A request of lakeside sees the plugins of its tenancy path, northwind's first.
    let provider = std::sync::Arc::new(Recording::default());
    let mut gov = gov.with_plugins(provider.clone());
    let id = file(&mut gov, "lakeside-fd-01", 6);
    assert!(gov.review_attached(id).unwrap().is_none());
    let (path, attached) = provider.seen.lock().unwrap()[0].clone();
    assert_eq!(path, ["northwind", "lakeside"]);
    let seen: Vec<String> = attached
        .iter()
        .map(|p| format!("{}/{}", p.organization, p.name))
        .collect();
    assert_eq!(seen, ["lakeside/trusted", "northwind/known-bad"]);
    let stored = attached.iter().find(|p| p.name == "trusted").unwrap();
    assert_eq!(stored.content, b"package portcullis");
    assert_eq!(stored.vectors, [("v1.json".to_owned(), "{}".to_owned())]);
    // So does a decision on one of its computers, for the rule plugins.
    let ruled = gov.decide_with_rules(&event("lakeside-dc-01", 8)).unwrap();
    assert_eq!(ruled.decision.decision, Decided::Deny);
    assert_eq!(provider.seen.lock().unwrap().len(), 2);
    // A provider that holds them loaded already is handed them without their bytes,
    // which are not read.
    let holding = std::sync::Arc::new(Recording {
        holding: true,
        ..Recording::default()
    });
    let mut gov = gov.with_plugins(holding.clone());
    let id = file(&mut gov, "lakeside-fd-01", 9);
    assert!(gov.review_attached(id).unwrap().is_none());
    let (_, attached) = holding.seen.lock().unwrap()[0].clone();
    assert_eq!(attached.len(), 2);
    assert!(
        attached.iter().all(|a| a.content.is_empty()),
        "{attached:?}"
    );
    let mut gov = gov.with_plugins(provider.clone());
    gov.detach_plugin("root", "lakeside", "trusted").unwrap();
    assert!(gov.detach_plugin("root", "lakeside", "trusted").is_err());
    assert_eq!(gov.all_plugins().unwrap().len(), 2);
    let system = AuditQuery {
        log: Some(portcullis_governance::AuditLog::System),
        kind: Some("plugin-attach".into()),
        ..AuditQuery::default()
    };
    assert_eq!(gov.search_audit("root", &system).unwrap().len(), 3);
    // Attaching one again, even unchanged, counts a new generation: the hosts load it
    // afresh, with its circuit breaker reset.
    let generation = |gov: &Governance| {
        gov.all_plugins()
            .unwrap()
            .into_iter()
            .find(|p| p.name == "known-bad")
            .unwrap()
            .generation
    };
    assert_eq!(generation(&gov), 1);
    gov.attach_plugin("root", plugin("northwind", "known-bad"))
        .unwrap();
    assert_eq!(generation(&gov), 2);
}

/// A rule plugin that always fails the same way.
struct FailingRule {
    name: &'static str,
    kind: FailureKind,
}

impl portcullis_engine::plugin::RulePlugin for FailingRule {
    fn name(&self) -> &str {
        self.name
    }

    fn check(
        &self,
        _execution: &portcullis_engine::plugin::Execution,
    ) -> PluginOutcome<portcullis_engine::plugin::RuleVerdict> {
        PluginOutcome::failed(self.kind, format!("{} in {}", self.kind, self.name))
    }
}

/// Hands out the two failing rule plugins, whatever is attached.
struct FailingRules;

impl PluginProvider for FailingRules {
    fn plugins(
        &self,
        hook: Hook,
        _path: &[&str],
        _attached: &[portcullis_governance::PluginAttachment],
    ) -> Result<Plugins, Error> {
        Ok(match hook {
            Hook::Rule => Plugins {
                rules: vec![
                    std::sync::Arc::new(FailingRule {
                        name: "rule-off",
                        kind: FailureKind::Disabled,
                    }),
                    std::sync::Arc::new(FailingRule {
                        name: "rule-slow",
                        kind: FailureKind::Timeout,
                    }),
                ],
                ..Plugins::default()
            },
            Hook::ApprovalReview => Plugins::default(),
        })
    }
}

#[test]
fn rule_plugin_failures_are_audited_and_a_switched_off_one_is_reported_once() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path()).with_plugins(std::sync::Arc::new(FailingRules));
    // The scanner tool is allowed on lakeside-fd-01, so the rule plugins are asked.
    let allowed = Event::from_json(
        &serde_json::json!({
            "computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
            "path": "C:\\Tools\\scanner.exe",
            "sha256": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
            "time": "2026-11-22T10:00:00Z",
        })
        .to_string(),
    )
    .unwrap();
    for _ in 0..2 {
        let ruled = gov.decide_with_rules(&allowed).unwrap();
        // Failures count as abstain: the allow stands.
        assert_eq!(ruled.decision.decision, Decided::Allow);
        assert_eq!(ruled.failures.len(), 2);
    }
    let failures: Vec<(String, String)> = kinds(&mut gov)
        .into_iter()
        .filter(|(kind, _)| kind == "plugin-failure")
        .collect();
    assert_eq!(failures.len(), 4, "{failures:?}");
    assert!(failures
        .iter()
        .any(|(_, actor)| actor == "plugin:rule-slow"));
    let told: Vec<(String, String)> = gov
        .outbox("root", None)
        .unwrap()
        .into_iter()
        .filter(|o| o.notification.reason == "plugin-disabled:rule-off")
        .map(|o| (o.notification.recipient, o.notification.subject))
        .collect();
    assert_eq!(
        told,
        [
            (
                "ann@lakeside.example".to_owned(),
                "Rule plugin rule-off was switched off".to_owned()
            ),
            (
                "root@northwind.example".to_owned(),
                "Rule plugin rule-off was switched off".to_owned()
            )
        ]
    );
}

#[test]
fn a_state_of_the_previous_schema_keeps_its_plugins_as_first_generations() {
    use portcullis_governance::PluginAttachment;
    let dir = tempfile::tempdir().unwrap();
    let mut gov = state(dir.path());
    gov.attach_plugin(
        "root",
        PluginAttachment {
            organization: "lakeside".into(),
            name: "known-bad".into(),
            hook: "approval-review".into(),
            file_name: "known-bad.rego".into(),
            content: b"package portcullis".to_vec(),
            sha256: support::sha256_of(b"package portcullis"),
            config: Default::default(),
            vectors: Vec::new(),
            generation: 0,
        },
    )
    .unwrap();
    drop(gov);
    // The schema before plugins counted their generations.
    support::execute_raw(
        dir.path(),
        "ALTER TABLE plugins DROP COLUMN generation;
         UPDATE meta SET value = '3' WHERE key = 'schema';",
    );
    let mut gov = support::open_dir(dir.path()).unwrap();
    let generation = |gov: &Governance| gov.all_plugins().unwrap()[0].generation;
    assert_eq!(generation(&gov), 1);
    // A listing leaves the bytes out; the plugin read alone has them.
    assert!(gov.all_plugins().unwrap()[0].content.is_empty());
    let whole = gov.attached_plugin("lakeside", "known-bad").unwrap();
    assert_eq!(whole.content, b"package portcullis");
    gov.attach_plugin("root", whole).unwrap();
    assert_eq!(generation(&gov), 2);
}
