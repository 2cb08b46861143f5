//! The library as an agent or a tool uses it: only the public API.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use portcullis_engine::model::{Application, FileRule, Organization, Policy, Scope};
use portcullis_engine::{
    Action, Bundle, BundleChange, DeployError, Engine, ErrorKind, Event, Outcome, RollbackError,
    Snapshot, TraceStatus,
};

const EXAMPLE: &str = include_str!("../../examples/bundle.json");

fn event(json: &str) -> Event {
    Event::from_json(json).unwrap()
}

fn chrome_event() -> Event {
    event(
        r#"{"computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
            "path": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
            "sha256": "1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014",
            "signature": {"status": "valid", "signers": [{"subject": "CN=Google LLC, O=Google LLC, C=US"}]},
            "time": "2026-11-22T09:00:00Z"}"#,
    )
}

fn unknown_exe_event(computer: &str) -> Event {
    event(&format!(
        r#"{{"computer": "{computer}", "user": "someone", "path": "C:\\Users\\someone\\x.exe",
            "sha256": "d2a84f4b8b650937ec8f73cd8be2c74add5a911ba64df27458ed8229da804a26",
            "time": "2026-11-22T09:00:00Z"}}"#
    ))
}

fn example() -> Bundle {
    portcullis_engine::parse(EXAMPLE).unwrap()
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Engine>();
    check::<Snapshot>();
    check::<Bundle>();
    check::<Event>();
    check::<portcullis_engine::Decision<'static>>();
    check::<portcullis_engine::DecisionRecord>();
    check::<portcullis_engine::Explanation>();
    check::<portcullis_engine::CompileErrors>();
}

#[test]
fn decides_the_example() {
    let engine = Engine::from_json(EXAMPLE).unwrap();
    let snapshot = engine.snapshot();
    let decision = snapshot.decide(&chrome_event());
    assert_eq!(decision.decision, Outcome::Allow);
    assert_eq!(decision.policy, Some("permit-chrome"));
    assert_eq!(decision.application, Some("google-chrome"));
    assert_eq!(decision.generation, 1);

    let denied = snapshot.decide(&unknown_exe_event("lakeside-fd-01"));
    assert_eq!(denied.decision, Outcome::Deny);
    assert!(denied.default_deny && denied.can_request);
    assert_eq!(
        denied
            .notify
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["it@lakeside.example", "SMS:+15555550100"]
    );
}

/// The example bundle with an application of the unknown executable (lakeside's
/// "converter") and a policy `id` permitting it at `scope`.
fn with_converter(id: &str, scope: Scope) -> Bundle {
    let mut bundle = example();
    bundle.applications.push(Application {
        id: "converter".into(),
        organization: "lakeside".into(),
        name: "Video converter".into(),
        rules: vec![FileRule {
            sha256: Some(
                "d2a84f4b8b650937ec8f73cd8be2c74add5a911ba64df27458ed8229da804a26"
                    .parse()
                    .unwrap(),
            ),
            ..FileRule::default()
        }],
    });
    bundle.policies.push(Policy {
        id: id.into(),
        scope,
        position: 200_000,
        applications: vec!["converter".into()],
        action: Action::Permit,
        elevate: false,
        users: None,
        not_before: None,
        expires: None,
        enabled: true,
        on_deny: None,
    });
    bundle
}

#[test]
fn a_deploy_confined_to_one_organization_recompiles_only_it() {
    let engine = Engine::from_json(EXAMPLE).unwrap();
    let organizations = example().organizations.len();
    let bundle = with_converter(
        "approve-converter",
        Scope::Computer("lakeside-fd-01".into()),
    );
    let deployed = engine.deploy(&bundle).unwrap();
    assert_eq!(deployed.generation, 2);
    assert_eq!(deployed.stats.recompiled, 1);
    assert_eq!(deployed.stats.reused, organizations - 1);

    let snapshot = engine.snapshot();
    let allowed = snapshot.decide(&unknown_exe_event("lakeside-fd-01"));
    assert_eq!(allowed.decision, Outcome::Allow);
    assert_eq!(allowed.policy, Some("approve-converter"));
    assert_eq!(allowed.generation, 2);
    // Only the approved computer.
    assert_eq!(
        snapshot.decide(&unknown_exe_event("lakeside-fd-02")).policy,
        None
    );
    // Organizations that were carried over still decide.
    assert_eq!(
        snapshot.decide(&chrome_event()).policy,
        Some("permit-chrome")
    );
}

/// A decision without its generation, to compare engines deployed differently.
fn answer(snapshot: &Snapshot, event: &Event) -> portcullis_engine::DecisionRecord {
    portcullis_engine::DecisionRecord {
        generation: 0,
        ..snapshot.decide(event).to_record()
    }
}

#[test]
fn a_computer_whose_group_system_or_maintenance_changes_is_decided_by_the_new_one() {
    let first = example();
    // An application of the unknown executable, permitted to the servers' group.
    let bundle = with_converter("servers-convert", Scope::Group("lakeside-srv".into()));
    let by_deploy = Engine::new(&bundle).unwrap();
    let by_change = Engine::new(&bundle).unwrap();
    let mut steps = Vec::new();
    // Each step changes one computer's record and nothing else of it.
    let mut next = bundle.clone();
    let at = next
        .computers
        .iter()
        .position(|c| c.id == "lakeside-fd-01")
        .unwrap();
    next.computers[at].group = "lakeside-srv".into();
    steps.push(next.clone());
    next.computers[at].maintenance = Some(portcullis_engine::model::Maintenance {
        mode: portcullis_engine::model::MaintenanceMode::Learning,
        until: "2030-01-01T00:00:00Z".parse().unwrap(),
    });
    steps.push(next.clone());
    next.computers[at].os = portcullis_engine::model::Os::Linux;
    steps.push(next.clone());
    next.computers[at].maintenance = None;
    next.computers[at].group = "lakeside-ws".into();
    steps.push(next.clone());
    steps.push(first);
    let events = [
        unknown_exe_event("lakeside-fd-01"),
        unknown_exe_event("lakeside-fd-02"),
        unknown_exe_event("lakeside-dc-01"),
        chrome_event(),
    ];
    let mut before = bundle;
    for (step, after) in steps.iter().enumerate() {
        by_deploy.deploy(after).unwrap();
        by_change
            .deploy_change(&BundleChange::between(&before, after))
            .unwrap();
        let fresh = Engine::new(after).unwrap().snapshot();
        for event in &events {
            let want = answer(&fresh, event);
            assert_eq!(answer(&by_deploy.snapshot(), event), want, "step {step}");
            assert_eq!(answer(&by_change.snapshot(), event), want, "step {step}");
        }
        before = after.clone();
    }
    // The first step moved the computer into the servers' group: the steps decide
    // differently.
    let moved = answer(&Engine::new(&steps[0]).unwrap().snapshot(), &events[0]);
    assert_eq!(moved.policy.as_deref(), Some("servers-convert"));
}

#[test]
fn a_failed_deploy_changes_nothing() {
    let engine = Engine::from_json(EXAMPLE).unwrap();
    let before = engine.decide(&chrome_event());
    let mut bundle = example();
    bundle.policies[0]
        .applications
        .push("no-such-application".into());
    bundle.organizations.push(Organization {
        id: "loop".into(),
        name: "Loop".into(),
        parent: Some("loop".into()),
        default_deny: None,
    });
    let errors = engine.deploy(&bundle).unwrap_err();
    assert!(errors
        .errors()
        .iter()
        .any(|e| e.kind == ErrorKind::Reference));
    assert!(errors.errors().iter().any(|e| e.kind == ErrorKind::Cycle));
    assert_eq!(engine.generation(), 1);
    assert_eq!(engine.decide(&chrome_event()), before);
}

#[test]
fn a_gate_sees_the_new_snapshot_and_can_cancel_the_swap() {
    let engine = Engine::from_json(EXAMPLE).unwrap();
    let mut bundle = example();
    bundle.policies.retain(|p| p.id != "permit-chrome");
    let refused = engine.deploy_gated(&bundle, |next| {
        assert_eq!(next.decide(&chrome_event()).decision, Outcome::Deny);
        Err("still denied")
    });
    assert!(matches!(refused, Err(DeployError::Gate("still denied"))));
    // The error is a standard error with a message a program can show.
    let error: Box<dyn std::error::Error> = Box::new(refused.unwrap_err());
    assert_eq!(
        error.to_string(),
        "the new snapshot was refused: still denied"
    );
    assert_eq!(engine.generation(), 1);
    assert_eq!(engine.decide(&chrome_event()).decision, Outcome::Allow);
    assert_eq!(engine.rollback(), Err(RollbackError::NoHistory));

    let deployed = engine
        .deploy_gated(&bundle, |_| Ok::<(), &str>(()))
        .unwrap();
    assert_eq!(deployed.generation, 2);
    assert_eq!(engine.decide(&chrome_event()).decision, Outcome::Deny);
}

#[test]
fn rollback_restores_the_previous_snapshot_under_a_new_generation() {
    let engine = Engine::from_json(EXAMPLE).unwrap();
    assert_eq!(engine.rollback(), Err(RollbackError::NoHistory));
    let mut bundle = example();
    bundle.policies.retain(|p| p.id != "permit-chrome");
    engine.deploy(&bundle).unwrap();
    assert_eq!(engine.decide(&chrome_event()).decision, Outcome::Deny);
    assert_eq!(engine.rollback(), Ok(3));
    let decision = engine.decide(&chrome_event());
    assert_eq!(decision.policy.as_deref(), Some("permit-chrome"));
    assert_eq!(decision.generation, 3);
    assert_eq!(engine.rollback(), Err(RollbackError::NoHistory));
}

#[test]
fn a_held_snapshot_is_not_torn_by_a_deploy() {
    let engine = Engine::from_json(EXAMPLE).unwrap();
    let held = engine.snapshot();
    let mut bundle = example();
    bundle.policies.retain(|p| p.id != "permit-chrome");
    engine.deploy(&bundle).unwrap();
    let old = held.decide(&chrome_event());
    assert_eq!((old.generation, old.policy), (1, Some("permit-chrome")));
    let current = engine.snapshot();
    let new = current.decide(&chrome_event());
    assert_eq!((new.generation, new.policy), (2, None));
}

#[test]
fn compile_errors_name_the_entry_and_its_line() {
    let text = EXAMPLE.replace(
        r#""applications": ["google-chrome"]"#,
        r#""applications": ["chrome"]"#,
    );
    let errors = Snapshot::compile_json(&text).unwrap_err();
    let error = &errors.errors()[0];
    assert_eq!(error.id.as_deref(), Some("permit-chrome"));
    assert_eq!(error.path, "policies[2].applications[0]");
    let (line, column) = error.location.unwrap();
    let expected_line = text
        .lines()
        .position(|l| l.contains(r#"["chrome"]"#))
        .unwrap()
        + 1;
    assert_eq!(line, expected_line);
    assert!(column > 1);
    assert!(
        error.to_string().contains("unknown application `chrome`"),
        "{error}"
    );
}

#[test]
fn syntax_errors_give_line_and_column() {
    let errors = Snapshot::compile_json(
        "{\"format\": \"portcullis.bundle/v1\",\n \"policies\": [{\"id\": 5}]}",
    )
    .unwrap_err();
    let error = &errors.errors()[0];
    assert_eq!(error.kind, ErrorKind::Syntax);
    assert_eq!(error.path, "policies[0].id");
    assert_eq!(error.location.map(|l| l.0), Some(2));
}

#[test]
fn bad_events_are_rejected_with_the_field() {
    let error = Event::from_json(
        r#"{"computer": "c", "user": "u", "path": "C:\\x.exe", "sha256": "abc", "time": "2026-11-22T09:00:00Z"}"#,
    )
    .unwrap_err();
    assert!(error.message.contains("sha256"), "{error}");
    assert!(error.message.contains("64 hexadecimal digits"), "{error}");
    assert_eq!(error.line, Some(1));
}

#[test]
fn explanations_list_the_policies_before_the_decider() {
    let snapshot = Snapshot::compile_json(EXAMPLE).unwrap();
    let explanation = snapshot.explain(&chrome_event());
    assert_eq!(
        explanation.decision.policy.as_deref(),
        Some("permit-chrome")
    );
    let statuses: Vec<(&str, TraceStatus)> = explanation
        .policies
        .iter()
        .map(|t| (t.policy.as_str(), t.status))
        .collect();
    let decided = statuses
        .iter()
        .position(|(_, s)| *s == TraceStatus::Decided)
        .unwrap();
    assert_eq!(statuses[decided].0, "permit-chrome");
    for trace in &explanation.policies[..decided] {
        assert!(
            matches!(trace.status, TraceStatus::NoMatch | TraceStatus::Skipped),
            "{trace:?}"
        );
        assert!(!trace.reasons.is_empty(), "{trace:?}");
    }
    let positions: Vec<i64> = explanation.policies.iter().map(|t| t.position).collect();
    assert!(positions.windows(2).all(|w| w[0] <= w[1]), "{positions:?}");
    // A policy of another organization never shows up.
    assert!(explanation
        .policies
        .iter()
        .all(|t| t.policy != "permit-office"));
}

#[test]
fn the_bundle_round_trips_through_a_snapshot() {
    let snapshot = Snapshot::compile_json(EXAMPLE).unwrap();
    let exported = snapshot.bundle();
    let again = Snapshot::compile(&exported).unwrap();
    assert_eq!(
        again.decide(&chrome_event()).to_record(),
        snapshot.decide(&chrome_event()).to_record()
    );
    assert_eq!(exported.policies.len(), example().policies.len());
}

/// The README's "library in 20 lines", verbatim apart from the wrapper.
#[test]
fn readme_example() -> Result<(), Box<dyn std::error::Error>> {
    std::env::set_current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))?;
    let engine = Engine::from_json(&std::fs::read_to_string("examples/bundle.json")?)?;
    let event = Event::from_json(
        r#"{"computer": "lakeside-fd-01", "user": "LAKESIDE\\amy",
    "path": "C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
    "sha256": "1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014",
    "signature": {"status": "valid", "signers": [{"subject": "CN=Google LLC, O=Google LLC"}]},
    "time": "2026-11-22T09:00:00Z"}"#,
    )?;

    let snapshot = engine.snapshot();
    let decision = snapshot.decide(&event);
    assert_eq!(decision.decision, Outcome::Allow);
    assert_eq!(decision.policy, Some("permit-chrome"));

    let mut bundle = snapshot.bundle();
    bundle.policies.retain(|p| p.id != "permit-chrome");
    let deployed = engine.deploy(&bundle)?;
    assert_eq!(deployed.stats.recompiled, 1);
    assert_eq!(engine.snapshot().decide(&event).decision, Outcome::Deny);
    assert_eq!(engine.rollback()?, 3);
    Ok(())
}

#[test]
fn the_organization_tree_is_bounded_in_depth() {
    let mut bundle = Bundle::new();
    for level in 0..40 {
        bundle.organizations.push(Organization {
            id: format!("org-{level}"),
            name: format!("Level {level}"),
            parent: (level > 0).then(|| format!("org-{}", level - 1)),
            default_deny: None,
        });
    }
    let errors = Snapshot::compile(&bundle).unwrap_err();
    assert!(errors.errors().iter().all(|e| e.kind == ErrorKind::Limit));
    assert_eq!(errors.errors()[0].id.as_deref(), Some("org-32"));
    assert!(
        errors.errors()[0].message.contains("more than 32 levels"),
        "{errors}"
    );
    bundle.organizations.truncate(32);
    Snapshot::compile(&bundle).unwrap();
}

#[test]
fn a_change_is_checked_against_the_rest_of_the_tenancy() {
    let engine = Engine::new(&example()).unwrap();
    let lakeside = |edit: &dyn Fn(&mut Bundle)| {
        let mut bundle = example();
        edit(&mut bundle);
        BundleChange::organizations(&bundle, &["lakeside"])
    };
    let first_error = |change: &BundleChange| {
        let errors = engine.deploy_change(change).unwrap_err();
        let e = &errors.errors()[0];
        (e.path.clone(), e.message.clone())
    };

    // A group id that Harbor already holds.
    let change = lakeside(&|b| b.groups[0].id = "harbor-ws".to_owned());
    assert_eq!(
        first_error(&change),
        (
            "groups[0].id".to_owned(),
            "another group already has the id `harbor-ws`".to_owned()
        )
    );
    // An unknown parent.
    let change = lakeside(&|b| b.organizations[1].parent = Some("nowhere".to_owned()));
    assert_eq!(
        first_error(&change),
        (
            "organizations[0].parent".to_owned(),
            "unknown parent organization `nowhere`".to_owned()
        )
    );
    // A policy targeting another customer's application.
    let harbor_app = example()
        .applications
        .iter()
        .find(|a| a.organization == "harbor")
        .unwrap()
        .id
        .clone();
    let change = lakeside(&|b| {
        let p = b
            .policies
            .iter_mut()
            .find(|p| p.scope.target() == "lakeside")
            .unwrap();
        p.applications = vec![harbor_app.clone()];
    });
    let (path, message) = first_error(&change);
    assert!(
        path.starts_with("policies[") && path.ends_with("].applications[0]"),
        "{path}"
    );
    assert!(
        message.contains("belongs to organization `harbor`, which is neither `lakeside`"),
        "{message}"
    );
    // None of them changed anything; a good change deploys and recompiles only Lakeside.
    assert_eq!(engine.generation(), 1);
    let change = lakeside(&|b| b.organizations[1].name = "Lakeside".to_owned());
    let deployed = engine.deploy_change(&change).unwrap();
    assert_eq!((deployed.generation, deployed.stats.recompiled), (2, 1));
    assert_eq!(engine.current().bundle().organizations[1].name, "Lakeside");
}

/// A bundle whose application `mixed` has rules with only a hash (which the index
/// keeps in its hash map alone) around one with a hash and a path.
const MIXED_RULES: &str = r#"{"format": "portcullis.bundle/v1",
  "organizations": [{"id": "acme", "name": "Acme"}],
  "groups": [{"id": "ws", "organization": "acme", "name": "Workstations"}],
  "computers": [{"id": "pc-1", "group": "ws", "name": "PC-1", "os": "windows"}],
  "applications": [
    {"id": "mixed", "organization": "acme", "name": "Mixed", "rules": [
      {"sha256": "1111111111111111111111111111111111111111111111111111111111111111"},
      {"sha256": "2222222222222222222222222222222222222222222222222222222222222222", "path": "C:\\Apps\\*"},
      {"sha256": "3333333333333333333333333333333333333333333333333333333333333333"}]},
    {"id": "other", "organization": "acme", "name": "Other", "rules": [
      {"sha256": "4444444444444444444444444444444444444444444444444444444444444444"}]}],
  "policies": [
    {"id": "permit-mixed", "scope": {"organization": "acme"}, "position": 10, "applications": ["mixed"], "action": "permit"},
    {"id": "permit-other", "scope": {"organization": "acme"}, "position": 20, "applications": ["other"], "action": "permit"}]}"#;

fn mixed_event(digit: char, path: &str) -> Event {
    let hash: String = std::iter::repeat_n(digit, 64).collect();
    event(&format!(
        r#"{{"computer": "pc-1", "user": "ann", "path": {path:?}, "sha256": "{hash}",
            "time": "2026-11-22T10:00:00Z"}}"#
    ))
}

#[test]
fn hash_only_rules_count_match_and_explain_like_the_others() {
    let snapshot = Snapshot::compile_json(MIXED_RULES).unwrap();
    assert_eq!(snapshot.stats().rules, 4);
    for (digit, path, policy) in [
        ('1', "C:\\Other\\x.exe", Some("permit-mixed")),
        ('2', "C:\\Apps\\x.exe", Some("permit-mixed")),
        ('2', "C:\\Other\\x.exe", None),
        ('3', "C:\\Other\\x.exe", Some("permit-mixed")),
        ('4', "C:\\Other\\x.exe", Some("permit-other")),
        ('5', "C:\\Other\\x.exe", None),
    ] {
        let e = mixed_event(digit, path);
        assert_eq!(snapshot.decide(&e).policy, policy, "{digit} {path}");
        assert_eq!(snapshot.explain(&e).decision.policy.as_deref(), policy);
    }
    // Every rule of `mixed` is explained, in rule order, whether or not it has more
    // than a hash.
    let explanation = snapshot.explain(&mixed_event('4', "C:\\Other\\x.exe"));
    let trace = &explanation.policies[0];
    assert_eq!(trace.policy, "permit-mixed");
    assert_eq!(trace.status, TraceStatus::NoMatch);
    let rules: Vec<&str> = trace
        .reasons
        .iter()
        .map(|r| r.split(':').next().unwrap())
        .collect();
    assert_eq!(
        rules,
        [
            "application `mixed` rule 0",
            "application `mixed` rule 1",
            "application `mixed` rule 1",
            "application `mixed` rule 2"
        ],
        "{:?}",
        trace.reasons
    );
    assert!(
        trace.reasons[0].contains("not `1111"),
        "{:?}",
        trace.reasons
    );
    assert!(
        trace.reasons[3].contains("not `3333"),
        "{:?}",
        trace.reasons
    );
    let matched = snapshot.explain(&mixed_event('3', "C:\\Other\\x.exe"));
    assert_eq!(matched.policies[0].status, TraceStatus::Decided);
}

/// A rule of the generated applications: a bare hash rule (most rules of a fleet),
/// a hash with a path, or a path alone. Digests come from a small pool, so that an
/// application may hold the same bare rule twice.
fn generated_rule() -> impl proptest::strategy::Strategy<Value = FileRule> {
    use proptest::prelude::*;
    let digest = (0u8..6).prop_map(|d| portcullis_engine::model::Sha256([d; 32]));
    prop_oneof![
        4 => digest.clone().prop_map(FileRule::hash),
        1 => digest.prop_map(|d| FileRule::hash(d).with_path("C:\\Apps\\*")),
        1 => Just(FileRule::default().with_path("C:\\Tools\\*.exe")),
    ]
}

proptest::proptest! {
    #![proptest_config(proptest::test_runner::Config::with_cases(200))]

    /// A snapshot keeps a bare hash rule in its digest table alone: the bundle it gives
    /// back still has every rule in place, an unchanged bundle recompiles nothing, and
    /// moving or changing one rule recompiles its organization.
    #[test]
    fn bare_hash_rules_come_back_in_place(
        apps in proptest::collection::vec(proptest::collection::vec(generated_rule(), 1..8), 1..4),
        edit in proptest::prelude::any::<(usize, usize, usize, u8)>(),
    ) {
        let mut bundle: Bundle = serde_json::from_str(MIXED_RULES).unwrap();
        bundle.applications.truncate(1);
        let template = bundle.applications.pop().unwrap();
        for (n, rules) in apps.into_iter().enumerate() {
            bundle.applications.push(Application {
                id: format!("app-{n}"),
                rules,
                ..template.clone()
            });
        }
        bundle.policies.truncate(1);
        bundle.policies[0].applications = vec!["app-0".to_owned()];
        let engine = Engine::new(&bundle).unwrap();
        proptest::prop_assert_eq!(&engine.current().bundle(), &bundle);
        proptest::prop_assert_eq!(engine.deploy(&bundle).unwrap().stats.recompiled, 0);

        // One edit: two rules of an application swapped, one rule left out, or one
        // rule's digest changed.
        let (app, a, b, kind) = edit;
        let count = bundle.applications.len();
        let app = &mut bundle.applications[app % count];
        let (a, b) = (a % app.rules.len(), b % app.rules.len());
        if kind % 3 == 0 && app.rules[a] != app.rules[b] {
            app.rules.swap(a, b);
        } else if kind % 3 == 1 && app.rules.len() > 1 {
            app.rules.remove(a);
        } else {
            app.rules[a].sha256 = Some(portcullis_engine::model::Sha256([6 + kind % 8; 32]));
        }
        proptest::prop_assert_eq!(engine.deploy(&bundle).unwrap().stats.recompiled, 1);
        proptest::prop_assert_eq!(&engine.current().bundle(), &bundle);
    }
}
