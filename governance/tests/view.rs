//! A computer's view decides every event of that computer as the whole bundle does,
//! and holds nothing of other computers, groups or organizations outside its lineage.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use portcullis_engine::{Engine, Limits};
use portcullis_governance::computer_view;

fn root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn each_computers_view_decides_its_events_as_the_whole_bundle_does() {
    let text = std::fs::read_to_string(root().join("examples/bundle.json")).unwrap();
    let bundle = portcullis_engine::parse(&text).unwrap();
    let whole = Engine::new(&bundle).unwrap();
    let events: Vec<_> = std::fs::read_to_string(root().join("examples/events.jsonl"))
        .unwrap()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| Limits::default().parse_event(l).unwrap())
        .collect();
    let mut compared = 0;
    for computer in &bundle.computers {
        let view = computer_view(&bundle, &computer.id).unwrap();
        assert_eq!(view.computers.len(), 1);
        assert_eq!(view.groups.len(), 1);
        let own_group = &view.groups[0];
        assert!(view.policies.iter().all(|p| match &p.scope {
            portcullis_engine::model::Scope::Computer(c) => *c == computer.id,
            portcullis_engine::model::Scope::Group(g) => *g == own_group.id,
            _ => true,
        }));
        let engine = Engine::new(&view).unwrap();
        for event in events.iter().filter(|e| e.computer == computer.id) {
            assert_eq!(engine.decide(event), whole.decide(event), "{event:?}");
            compared += 1;
        }
        // Its own event, whatever the example stream holds.
        let mut own = events[0].clone();
        own.computer = computer.id.clone();
        assert_eq!(engine.decide(&own), whole.decide(&own));
    }
    assert!(compared >= 5, "only {compared} events compared");
    let lakeside = computer_view(&bundle, "lakeside-fd-01").unwrap();
    let orgs: Vec<&str> = lakeside
        .organizations
        .iter()
        .map(|o| o.id.as_str())
        .collect();
    assert_eq!(orgs, ["northwind", "lakeside"]);
    assert!(computer_view(&bundle, "nowhere").is_none());
}
