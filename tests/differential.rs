//! Differential tests: on random but valid bundles and events (see
//! `support/generate.rs`), the indexed snapshot, its explanation and the reference
//! evaluator (SPEC §4 read literally) must give the same decision; and an engine that
//! deployed a change confined to one organization (reusing the other partitions) must
//! answer as a fresh compile of the new bundle does.
//!
//! Cases: 2,000 by default for the evaluator comparison (16 events each) and for the
//! deploy test; `PROPTEST_CASES` overrides both. A failure prints the (shrunk) bundle
//! and event as JSON, ready to become a case file in `tests/cases`.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "support/generate.rs"]
mod generate;

use std::cell::RefCell;
use std::time::Instant;

use portcullis_engine::{reference, Bundle, DecisionRecord, Engine, Event, Outcome, Snapshot};
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
