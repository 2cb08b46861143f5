//! Tests of the generated fleets: determinism and sizes, what each kind of event
//! hits, agreement with the reference evaluator, the kinds of pattern, mixes, edits.

use super::*;
use crate::{Outcome, Snapshot};

#[test]
fn small_fleet_compiles_and_is_deterministic() {
    let fleet = Fleet::preset(Preset::Small, 42);
    let again = Fleet::preset(Preset::Small, 42);
    assert_eq!(fleet.bundle, again.bundle);
    let size = Preset::Small.size();
    assert_eq!(fleet.bundle.organizations.len(), size.organizations);
    assert_eq!(fleet.bundle.computers.len(), size.computers);
    assert_eq!(fleet.bundle.groups.len(), size.groups);
    assert_eq!(fleet.bundle.policies.len(), size.policies);
    let rules: usize = fleet
        .bundle
        .applications
        .iter()
        .map(|a| a.rules.len())
        .sum();
    assert_eq!(rules, size.rules());
    let snapshot = Snapshot::compile(&fleet.bundle).unwrap();
    assert_eq!(snapshot.stats().rules, size.rules());
    let other = Fleet::preset(Preset::Small, 43);
    assert_ne!(fleet.bundle, other.bundle);
}

#[test]
fn events_hit_what_their_kind_says() {
    let fleet = Fleet::preset(Preset::Small, 7);
    let snapshot = Snapshot::compile(&fleet.bundle).unwrap();
    for kind in EventKind::ALL {
        let events = fleet.events(&EventMix::only(kind), 200, 1);
        let decided = events
            .iter()
            .filter(|e| snapshot.decide(e).policy.is_some())
            .count();
        let default_denied = events
            .iter()
            .filter(|e| {
                let d = snapshot.decide(e);
                d.default_deny && d.decision == Outcome::Deny
            })
            .count();
        match kind {
            // Every organization has rules of every kind, so hits always find a
            // rule; a policy decides unless none applies (a validity window, a
            // user list) or maintenance mode allows.
            EventKind::Miss => assert!(default_denied >= 190, "{kind:?}: {default_denied}"),
            _ => assert!(
                decided >= 150,
                "{kind:?}: {decided} of 200 decided by a policy"
            ),
        }
    }
    assert!(events_agree_with_reference(&fleet));
}

fn events_agree_with_reference(fleet: &Fleet) -> bool {
    let snapshot = Snapshot::compile(&fleet.bundle).unwrap();
    fleet.events(&EventMix::MIXED, 100, 3).iter().all(|e| {
        let mut indexed = snapshot.decide(e).to_record();
        // The reference evaluator has no snapshot, so no generation.
        indexed.generation = 0;
        let reference = crate::reference::decide(&fleet.bundle, e);
        assert_eq!(indexed, reference, "{e:?}");
        indexed == reference
    })
}

#[test]
fn every_kind_of_pattern_occurs_in_every_preset() {
    let fleet = Fleet::preset(Preset::Small, 5);
    let patterns: Vec<&str> = fleet
        .bundle
        .applications
        .iter()
        .flat_map(|a| &a.rules)
        .filter_map(FileRule::path)
        .collect();
    assert_eq!(patterns.len(), Preset::Small.size().path_patterns);
    let count = |kind: &dyn Fn(&str) -> bool| patterns.iter().filter(|p| kind(p)).count();
    let regex = count(&|p| p.starts_with("regex:"));
    let variable = count(&|p| p.starts_with('%'));
    let suffix = count(&|p| p.starts_with('*'));
    let globs = count(&|p| !p.starts_with("regex:") && p.contains('*'));
    let literal = count(&|p| !p.starts_with("regex:") && !p.contains('*') && !p.starts_with('%'));
    // One in ten of each family is a `regex:`, one in five of the Windows ones a
    // `%ProgramFiles%` literal.
    assert_eq!(regex, patterns.len() / 10, "{patterns:?}");
    assert_eq!(variable, patterns.len() / 10, "{patterns:?}");
    assert!(suffix > 0 && globs > suffix && literal > 0, "{patterns:?}");
    // Path hits find the regular expressions and the variables too.
    let snapshot = Snapshot::compile(&fleet.bundle).unwrap();
    let hits = fleet.events(&EventMix::only(EventKind::PathHit), 400, 2);
    let by_kind = |kind: &dyn Fn(&str) -> bool| {
        hits.iter()
            .filter(|e| {
                let decision = snapshot.decide(e);
                let Some(app) = decision.application else {
                    return false;
                };
                fleet
                    .bundle
                    .applications
                    .iter()
                    .filter(|a| a.id == app)
                    .flat_map(|a| &a.rules)
                    .filter_map(FileRule::path)
                    .any(kind)
            })
            .count()
    };
    assert!(by_kind(&|p| p.starts_with("regex:")) > 0);
    assert!(by_kind(&|p| p.starts_with('%')) > 0);
}

#[test]
fn dense_pattern_fleet_compiles() {
    let fleet = Fleet::generate(FleetSize::patterns_in_one_organization(2_000), 4);
    let snapshot = Snapshot::compile(&fleet.bundle).unwrap();
    assert_eq!(snapshot.stats().rules, 3_010);
    let hits = fleet.events(&EventMix::only(EventKind::PathHit), 100, 1);
    let decided = hits.iter().filter(|e| snapshot.decide(e).policy.is_some());
    assert!(decided.count() >= 75);
}

#[test]
fn mix_parses() {
    let mix = EventMix::parse("hash=3, miss=1").unwrap();
    assert_eq!(mix.hash, 3);
    assert_eq!(mix.miss, 1);
    assert_eq!(mix.certificate, 0);
    assert!(EventMix::parse("hash=x").is_err());
    assert!(EventMix::parse("bogus=1").is_err());
    assert!(EventMix::parse("hash=0").is_err());
}

#[test]
fn one_organization_edit_recompiles_one_partition() {
    let fleet = Fleet::preset(Preset::Small, 9);
    let engine = crate::Engine::new(&fleet.bundle).unwrap();
    let mut bundle = fleet.bundle.clone();
    assert!(edit_organization(
        &mut bundle,
        fleet.sample_organization(),
        1
    ));
    let deployed = engine.deploy(&bundle).unwrap();
    assert_eq!(deployed.stats.recompiled, 1);
}
