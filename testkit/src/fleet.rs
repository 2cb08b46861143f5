//! Shared setup of the fleet benches: a generated fleet of the medium preset (100
//! organizations, 10,000 computers, 100,000 hash rules) keeps setup under a second; the
//! `portcullis bench` command measures the large one.

use std::hint::black_box;

use criterion::Criterion;
use portcullis_engine::fleet::{EventKind, EventMix, Fleet, Preset};
use portcullis_engine::{Event, Scratch, Snapshot};

/// Events per kind; benches cycle through them so that no single event is measured.
pub const EVENTS: usize = 1024;

/// The medium preset's fleet, seed 1.
pub fn fleet() -> Fleet {
    Fleet::preset(Preset::Medium, 1)
}

/// [`EVENTS`] events of `kind` on `fleet`, seed 1.
pub fn events(fleet: &Fleet, kind: EventKind) -> Vec<Event> {
    fleet.events(&EventMix::only(kind), EVENTS, 1)
}

/// `fleet`'s bundle compiled; panics when it does not compile.
pub fn snapshot(fleet: &Fleet) -> Snapshot {
    Snapshot::compile(&fleet.bundle).unwrap()
}

/// Times one decision at a time on `fleet`, cycling through events of `kind`, as the
/// criterion function `name`.
pub fn bench_decisions(c: &mut Criterion, name: &str, fleet: &Fleet, kind: EventKind) {
    let snapshot = snapshot(fleet);
    let events = fleet.events(&EventMix::only(kind), EVENTS, 1);
    let mut scratch = Scratch::default();
    let mut i = 0;
    c.bench_function(name, |b| {
        b.iter(|| {
            i = (i + 1) % events.len();
            black_box(
                snapshot
                    .decide_with(black_box(&events[i]), &mut scratch)
                    .decision,
            )
        })
    });
}
