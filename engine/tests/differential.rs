//! Differential tests: on random but valid bundles and events (see
//! `portcullis_testkit::generate`), the indexed snapshot, its explanation and the reference
//! evaluator (SPEC §4 read literally) must give the same decision; and an engine that
//! deployed a change confined to one organization (reusing the other partitions) must
//! answer as a fresh compile of the new bundle does.
//!
//! A [`BundleChange`] — valid, structural (removing or moving an organization) or bad
//! (an id another organization holds, an unknown parent, an application the policy
//! cannot see) — must give what a full deploy of the bundle it makes gives: the same
//! decisions, or the same errors.
//!
//! Cases: 2,000 by default for the evaluator comparison (16 events each) and for the
//! deploy test; `PROPTEST_CASES` overrides both. A failure prints the (shrunk) bundle
//! and event as JSON, ready to become a case file in `engine/tests/cases`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::time::Instant;

use portcullis_testkit::generate;

use portcullis_engine::model::{
    Application, Computer, ComputerGroup, FileRule, Organization, Os, Policy, Scope,
};
use portcullis_engine::{
    reference, Action, Bundle, BundleChange, CompileErrors, DecisionRecord, Engine, Event, Outcome,
    Snapshot,
};
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::json;

const EVENTS_PER_BUNDLE: usize = 16;

/// `PROPTEST_CASES` when set, else `default`; no failure files are written (a failure
/// prints its case instead).
fn config(default: u32) -> Config {
    let mut config = Config {
        failure_persistence: None,
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = default;
    }
    config
}

/// A failing case in the shape of a `tests/cases` file (expecting `want`), with both
/// answers.
fn report(
    what: &str,
    bundle: &Bundle,
    event: &Event,
    got: &DecisionRecord,
    want: &DecisionRecord,
) -> String {
    let case = json!({
        "about": format!("differential test: {what}"),
        "bundle": bundle,
        "cases": [{"name": "differential", "event": event, "expect": want}],
    });
    format!(
        "{what}\n  got:  {}\n  want: {}\ncase file:\n{}",
        serde_json::to_string(got).unwrap(),
        serde_json::to_string(want).unwrap(),
        serde_json::to_string_pretty(&case).unwrap()
    )
}

/// What the decisions looked like, to show the generator reaches every branch.
#[derive(Debug, Default)]
struct Coverage {
    bundles: usize,
    decisions: usize,
    permit: usize,
    deny_policy: usize,
    default_deny: usize,
    maintenance: usize,
    elevated: usize,
    can_request: usize,
    path_problem: usize,
    unknown_computer: usize,
    policies: usize,
    rules: usize,
}

impl Coverage {
    fn count(&mut self, decision: &DecisionRecord) {
        self.decisions += 1;
        match (&decision.policy, decision.decision) {
            (Some(_), Outcome::Allow) => self.permit += 1,
            (Some(_), Outcome::Deny) => self.deny_policy += 1,
            (None, _) => self.default_deny += 1,
        }
        self.maintenance += usize::from(decision.mode.is_some());
        self.elevated += usize::from(decision.elevated);
        self.can_request += usize::from(decision.can_request);
        self.path_problem += usize::from(
            decision
                .problems
                .iter()
                .any(|p| p.contains("cannot be normalized")),
        );
        self.unknown_computer += usize::from(
            decision
                .problems
                .iter()
                .any(|p| p.contains("not in the bundle")),
        );
    }

    fn percent(&self, n: usize) -> f64 {
        100.0 * n as f64 / self.decisions.max(1) as f64
    }
}

fn compile(bundle: &Bundle) -> Result<Snapshot, TestCaseError> {
    Snapshot::compile(bundle).map_err(|errors| {
        TestCaseError::fail(format!(
            "generator bug: a generated bundle does not compile:\n{errors}\n{}",
            serde_json::to_string_pretty(bundle).unwrap()
        ))
    })
}

/// Indexed decision (generation 0), reference decision, explanation: all equal.
fn check_event(
    snapshot: &Snapshot,
    bundle: &Bundle,
    event: &Event,
) -> Result<DecisionRecord, TestCaseError> {
    let decided = snapshot.decide(event).to_record();
    let mut indexed = decided.clone();
    indexed.generation = 0;
    let oracle = reference::decide(bundle, event);
    if indexed != oracle {
        return Err(TestCaseError::fail(report(
            "the indexed evaluator (got) and the reference evaluator (want) disagree",
            bundle,
            event,
            &indexed,
            &oracle,
        )));
    }
    let explained = snapshot.explain(event);
    if explained.decision != decided {
        let mut explained = explained.decision;
        explained.generation = 0;
        return Err(TestCaseError::fail(report(
            "`explain` (got) gives another decision than `decide` and the reference (want)",
            bundle,
            event,
            &explained,
            &oracle,
        )));
    }
    Ok(oracle)
}

#[test]
fn indexed_and_reference_evaluators_agree() {
    let config = config(2_000);
    let cases = config.cases;
    let started = Instant::now();
    let coverage = RefCell::new(Coverage::default());
    let mut runner = TestRunner::new(config);
    let result = runner.run(&generate::case(EVENTS_PER_BUNDLE), |case| {
        let snapshot = compile(&case.bundle)?;
        let mut decisions = Vec::with_capacity(case.events.len());
        for event in &case.events {
            decisions.push(check_event(&snapshot, &case.bundle, event)?);
        }
        let mut coverage = coverage.borrow_mut();
        coverage.bundles += 1;
        coverage.policies += case.bundle.policies.len();
        coverage.rules += case
            .bundle
            .applications
            .iter()
            .map(|a| a.rules.len())
            .sum::<usize>();
        for decision in &decisions {
            coverage.count(decision);
        }
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let c = coverage.into_inner();
    eprintln!(
        "{cases} cases: {} bundles ({} policies, {} rules), {} decisions in {:.1?}: \
         permit {:.1}%, deny policy {:.1}%, default deny {:.1}%, maintenance {:.1}%, \
         elevated {:.1}%, may request {:.1}%, unnormalizable path {:.1}%, unknown computer {:.1}%",
        c.bundles,
        c.policies,
        c.rules,
        c.decisions,
        started.elapsed(),
        c.percent(c.permit),
        c.percent(c.deny_policy),
        c.percent(c.default_deny),
        c.percent(c.maintenance),
        c.percent(c.elevated),
        c.percent(c.can_request),
        c.percent(c.path_problem),
        c.percent(c.unknown_computer),
    );
    // The generator must make policies decide often, or the comparison proves little.
    if c.decisions >= 1_000 {
        for (what, n, at_least) in [
            ("permits", c.permit, 5.0),
            ("explicit denies", c.deny_policy, 5.0),
            ("default denies", c.default_deny, 10.0),
            ("maintenance-mode allows", c.maintenance, 1.0),
            ("elevated permits", c.elevated, 0.5),
            ("unnormalizable paths", c.path_problem, 1.0),
        ] {
            assert!(
                c.percent(n) >= at_least,
                "the generator is too tame: only {:.2}% {what} (want {at_least}%)",
                c.percent(n)
            );
        }
    }
}

/// Decisions of `snapshot` on `events`, with the generation set to 0.
fn decisions(snapshot: &Snapshot, events: &[Event]) -> Vec<DecisionRecord> {
    events
        .iter()
        .map(|event| {
            let mut record = snapshot.decide(event).to_record();
            record.generation = 0;
            record
        })
        .collect()
}

fn same_decisions(
    what: &str,
    bundle: &Bundle,
    events: &[Event],
    got: &[DecisionRecord],
    want: &[DecisionRecord],
) -> Result<(), TestCaseError> {
    for ((event, got), want) in events.iter().zip(got).zip(want) {
        if got != want {
            return Err(TestCaseError::fail(report(what, bundle, event, got, want)));
        }
    }
    Ok(())
}

#[test]
fn deploying_a_change_to_one_organization_answers_as_a_fresh_compile() {
    let config = config(2_000);
    let cases = config.cases;
    let started = Instant::now();
    let reused = RefCell::new((0usize, 0usize));
    let mut runner = TestRunner::new(config);
    let result = runner.run(&generate::change(EVENTS_PER_BUNDLE), |change| {
        let engine = Engine::new(&change.before).map_err(|errors| {
            TestCaseError::fail(format!("generator bug: `before` does not compile:\n{errors}"))
        })?;
        let before = compile(&change.before)?;
        let after = compile(&change.after)?;
        let want_before = decisions(&before, &change.events);
        let want_after = decisions(&after, &change.events);

        let deployed = engine.deploy(&change.after).map_err(|errors| {
            TestCaseError::fail(format!("generator bug: `after` does not compile:\n{errors}"))
        })?;
        let orgs = change.after.organizations.len();
        if deployed.stats.recompiled > 1 || deployed.stats.recompiled + deployed.stats.reused != orgs {
            return Err(TestCaseError::fail(format!(
                "a change to `{}` recompiled {} organizations and reused {} of {orgs}",
                change.organization, deployed.stats.recompiled, deployed.stats.reused
            )));
        }
        {
            let mut reused = reused.borrow_mut();
            reused.0 += deployed.stats.reused;
            reused.1 += orgs;
        }
        if engine.generation() != deployed.generation {
            return Err(TestCaseError::fail("the deploy's generation is not current".to_owned()));
        }
        let snapshot = engine.snapshot();
        let got = decisions(&snapshot, &change.events);
        same_decisions(
            "after a deploy, the engine (got) answers otherwise than a fresh compile (want)",
            &change.after,
            &change.events,
            &got,
            &want_after,
        )?;
        for event in &change.events {
            if snapshot.decide(event).generation != deployed.generation {
                return Err(TestCaseError::fail("a decision carries another generation".to_owned()));
            }
        }
        drop(snapshot);

        // Back to the first bundle, then forward again from the restored snapshot.
        engine
            .rollback()
            .map_err(|e| TestCaseError::fail(format!("rollback failed: {e}")))?;
        let got = decisions(&engine.snapshot(), &change.events);
        same_decisions(
            "after a rollback, the engine (got) answers otherwise than a fresh compile of the first bundle (want)",
            &change.before,
            &change.events,
            &got,
            &want_before,
        )?;
        engine.deploy(&change.after).map_err(|errors| {
            TestCaseError::fail(format!("redeploying `after` failed:\n{errors}"))
        })?;
        let got = decisions(&engine.snapshot(), &change.events);
        same_decisions(
            "after rollback and redeploy, the engine (got) answers otherwise than a fresh compile (want)",
            &change.after,
            &change.events,
            &got,
            &want_after,
        )
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let (reused, orgs) = reused.into_inner();
    eprintln!(
        "{cases} cases in {:.1?}: {reused} of {orgs} organization partitions reused on deploy",
        started.elapsed()
    );
}

/// Variations on a change, each a different way to break it or to reach past the
/// changed organization; 0 keeps it as it is.
const VARIANTS: usize = 12;

/// `change` varied by `variant` (see the match), using entries of `bundle` (the bundle
/// the engine serves) for the ids of other organizations.
fn vary(change: &mut BundleChange, bundle: &Bundle, organization: &str, variant: usize, seed: u64) {
    let d = &mut generate::Dice::new(seed);
    let others: Vec<&Organization> = bundle
        .organizations
        .iter()
        .filter(|o| o.id != organization)
        .collect();
    let e = &mut change.entries;
    let Some(org) = e.organizations.iter().position(|o| o.id == organization) else {
        return;
    };
    match variant {
        // A group whose id another organization's group holds.
        1 => {
            if let Some(g) = bundle
                .groups
                .iter()
                .find(|g| g.organization != organization)
            {
                e.groups.push(ComputerGroup {
                    id: g.id.clone(),
                    organization: organization.to_owned(),
                    name: "twin".to_owned(),
                });
            }
        }
        // An unknown parent.
        2 => e.organizations[org].parent = Some("nowhere".to_owned()),
        // A policy targeting an application of an organization that is not an ancestor.
        3 => {
            if let Some(app) = bundle
                .applications
                .iter()
                .find(|a| a.organization != organization)
            {
                e.policies.push(Policy {
                    id: "reach".to_owned(),
                    scope: Scope::Organization(organization.to_owned()),
                    position: 1_000,
                    applications: vec![app.id.clone()],
                    action: Action::Permit,
                    elevate: false,
                    users: None,
                    not_before: None,
                    expires: None,
                    enabled: true,
                    on_deny: None,
                });
            }
        }
        // An application taken away (others may still target it).
        4 => {
            if let Some(a) = e
                .applications
                .iter()
                .position(|a| a.organization == organization)
            {
                let id = e.applications.remove(a).id;
                e.policies.retain(|p| !p.applications.contains(&id));
            }
        }
        // A new child organization with a group, a computer, an application and a
        // policy on it.
        5 => {
            let child = format!("{organization}-child");
            e.organizations.push(Organization {
                id: child.clone(),
                name: "Child".to_owned(),
                parent: Some(organization.to_owned()),
                default_deny: None,
            });
            e.groups.push(ComputerGroup {
                id: format!("{child}-g"),
                organization: child.clone(),
                name: "G".to_owned(),
            });
            e.computers.push(Computer {
                id: format!("{child}-pc"),
                group: format!("{child}-g"),
                name: "PC".to_owned(),
                os: Os::Windows,
                maintenance: None,
            });
            e.applications.push(Application {
                id: format!("{child}-app"),
                organization: child.clone(),
                name: "App".to_owned(),
                rules: vec![generate::rule(d.bits())],
            });
            let mut targets = vec![format!("{child}-app")];
            if let Some(a) = e
                .applications
                .iter()
                .find(|a| a.organization == organization)
            {
                targets.push(a.id.clone());
            }
            e.policies.push(Policy {
                id: format!("{child}-p"),
                scope: Scope::Global(child.clone()),
                position: 1,
                applications: targets,
                action: Action::Permit,
                elevate: false,
                users: None,
                not_before: None,
                expires: None,
                enabled: true,
                on_deny: None,
            });
        }
        // Moved under another organization (which may make a cycle).
        6 if !others.is_empty() => {
            e.organizations[org].parent = Some(d.pick(&others).id.clone());
        }
        // Another organization removed.
        7 if !others.is_empty() => {
            change.removed.push(d.pick(&others).id.clone());
        }
        // A policy id another organization's policy holds.
        8 => {
            let theirs = bundle
                .policies
                .iter()
                .find(|p| !e.policies.iter().any(|q| q.id == p.id));
            if let (Some(theirs), Some(ours)) = (theirs, e.policies.first_mut()) {
                ours.id = theirs.id.clone();
            }
        }
        // A computer id another organization's computer holds, in one of our groups.
        9 => {
            let ours = e.groups.iter().find(|g| g.organization == organization);
            let theirs = bundle
                .computers
                .iter()
                .find(|c| !e.computers.iter().any(|k| k.id == c.id));
            if let (Some(ours), Some(theirs)) = (ours, theirs) {
                e.computers.push(Computer {
                    group: ours.id.clone(),
                    ..theirs.clone()
                });
            }
        }
        // A computer moved into another of our groups, or out of the organization.
        10 => {
            if let Some(c) = e.computers.pop() {
                e.computers.insert(0, c);
            }
        }
        // An application rule that does not compile.
        11 => {
            if let Some(a) = e
                .applications
                .iter_mut()
                .find(|a| a.organization == organization)
            {
                a.rules.push(FileRule::default());
            }
        }
        _ => {}
    }
}

/// Errors as comparable values, paths into entries after `rest` entries of each list
/// taken back to the change.
fn error_list(errors: &CompileErrors, rest: Option<[usize; 5]>) -> Vec<String> {
    const LISTS: [&str; 5] = [
        "organizations",
        "groups",
        "computers",
        "applications",
        "policies",
    ];
    errors
        .errors()
        .iter()
        .map(|e| {
            let mut path = e.path.clone();
            if let Some(rest) = rest {
                for (list, before) in LISTS.into_iter().zip(rest) {
                    let Some(tail) = path.strip_prefix(&format!("{list}[")) else {
                        continue;
                    };
                    let (n, tail) = tail.split_once(']').unwrap();
                    let n: usize = n.parse().unwrap();
                    if n >= before {
                        path = format!("{list}[{}]{tail}", n - before);
                    }
                    break;
                }
            }
            format!(
                "{:?} {:?} {:?} {path}: {}",
                e.kind, e.entry, e.id, e.message
            )
        })
        .collect()
}

#[test]
fn a_bundle_change_answers_and_fails_as_a_full_deploy_of_the_bundle_it_makes() {
    let config = config(1_000);
    let cases = config.cases;
    let started = Instant::now();
    let tally = RefCell::new([0usize; 3]);
    let mut runner = TestRunner::new(config);
    let strategy = (
        generate::change(EVENTS_PER_BUNDLE),
        0..VARIANTS,
        proptest::prelude::any::<u64>(),
    );
    let result = runner.run(&strategy, |(change, variant, seed)| {
        let by_change = Engine::new(&change.before).unwrap();
        let by_bundle = Engine::new(&change.before).unwrap();
        let serving = by_change.current().bundle();
        let mut delta = BundleChange::between(&change.before, &change.after);
        vary(&mut delta, &serving, &change.organization, variant, seed);
        let whole = delta.apply(&serving);
        let rest = [
            whole.organizations.len() - delta.entries.organizations.len(),
            whole.groups.len() - delta.entries.groups.len(),
            whole.computers.len() - delta.entries.computers.len(),
            whole.applications.len() - delta.entries.applications.len(),
            whole.policies.len() - delta.entries.policies.len(),
        ];
        let want_before = decisions(&by_bundle.snapshot(), &change.events);
        let got = by_change.deploy_change(&delta);
        let want = by_bundle.deploy(&whole);
        let context = || {
            format!(
                "variant {variant}\nchange:\n{}\nremoved: {:?}\nbefore:\n{}",
                serde_json::to_string_pretty(&delta.entries).unwrap(),
                delta.removed,
                serde_json::to_string_pretty(&change.before).unwrap()
            )
        };
        match (got, want) {
            (Ok(got), Ok(_)) => {
                tally.borrow_mut()[0] += 1;
                if by_change.generation() != got.generation {
                    return Err(TestCaseError::fail("the change's generation is not current"));
                }
                // Changes that leave the tree and the applications alone compile only
                // the organizations they hold.
                let local = !matches!(variant, 2 | 4 | 6 | 7);
                if local && got.stats.recompiled != delta.entries.organizations.len() {
                    return Err(TestCaseError::fail(format!(
                        "a change of {} organizations recompiled {}\n{}",
                        delta.entries.organizations.len(),
                        got.stats.recompiled,
                        context()
                    )));
                }
                same_decisions(
                    &format!("after a change, the engine (got) answers otherwise than after a full deploy (want)\n{}", context()),
                    &whole,
                    &change.events,
                    &decisions(&by_change.snapshot(), &change.events),
                    &decisions(&by_bundle.snapshot(), &change.events),
                )?;
                // And back: the change from the new bundle to the first one.
                let back = BundleChange::between(&by_change.current().bundle(), &change.before);
                by_change.deploy_change(&back).map_err(|errors| {
                    TestCaseError::fail(format!("changing back failed:\n{errors}\n{}", context()))
                })?;
                same_decisions(
                    "after changing back, the engine (got) answers otherwise than the first bundle (want)",
                    &change.before,
                    &change.events,
                    &decisions(&by_change.snapshot(), &change.events),
                    &want_before,
                )?;
                // History: two rollbacks lead to the first snapshot.
                by_change.rollback().unwrap();
                by_change.rollback().unwrap();
                same_decisions(
                    "after rolling both changes back, the engine (got) answers otherwise than the first bundle (want)",
                    &change.before,
                    &change.events,
                    &decisions(&by_change.snapshot(), &change.events),
                    &want_before,
                )?;
                // A change after a rollback is checked against the restored snapshot.
                by_change.deploy_change(&delta).map_err(|errors| {
                    TestCaseError::fail(format!("the change failed after a rollback:\n{errors}\n{}", context()))
                })?;
                same_decisions(
                    "after a rollback and the change again, the engine (got) answers otherwise than after a full deploy (want)",
                    &whole,
                    &change.events,
                    &decisions(&by_change.snapshot(), &change.events),
                    &decisions(&by_bundle.snapshot(), &change.events),
                )?;
            }
            (Err(got), Err(want)) => {
                tally.borrow_mut()[1] += 1;
                let (got, want) = (error_list(&got, None), error_list(&want, Some(rest)));
                if got != want {
                    return Err(TestCaseError::fail(format!(
                        "the change's errors differ from the full deploy's\n  got:  {got:#?}\n  want: {want:#?}\n{}",
                        context()
                    )));
                }
                if by_change.generation() != 1 {
                    return Err(TestCaseError::fail("a failed change moved the generation"));
                }
                same_decisions(
                    "after a failed change, the engine (got) answers otherwise than before (want)",
                    &change.before,
                    &change.events,
                    &decisions(&by_change.snapshot(), &change.events),
                    &want_before,
                )?;
            }
            (got, want) => {
                return Err(TestCaseError::fail(format!(
                    "the change gave {:?} but the full deploy gave {:?}\n{}",
                    got.map(|d| d.generation).map_err(|e| e.to_string()),
                    want.map(|d| d.generation).map_err(|e| e.to_string()),
                    context()
                )));
            }
        }
        tally.borrow_mut()[2] += usize::from(variant != 0);
        Ok(())
    });
    if let Err(error) = result {
        panic!("{error}");
    }
    let [ok, failed, varied] = tally.into_inner();
    eprintln!(
        "{cases} cases in {:.1?}: {ok} deployed, {failed} refused alike, {varied} varied",
        started.elapsed()
    );
    assert!(
        ok > 0 && failed > 0,
        "both outcomes must occur: {ok} deployed, {failed} refused"
    );
}
