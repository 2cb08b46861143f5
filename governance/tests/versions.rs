#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! Bundle versions are stored as changes, with a whole bundle now and then (when the
//! changes since the last would pass a quarter of its size): an approval stores a few
//! hundred bytes, and every version reads back as it was, across
//! whole bundles, after reopening, and for a rollback.

mod support;

use portcullis_engine::model::{MaintenanceMode, Timestamp};
use portcullis_governance::{AccessRequestKind, ApproveOptions, Matching, ScopeKind};
use support::{content, file, init_state, ROOT};

#[test]
fn versions_are_stored_as_changes_and_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = init_state(dir.path());
    let mut seen = vec![(gov.version(), gov.bundle().clone())];

    let request = file(
        &mut gov,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &content(60, 1),
        false,
    )
    .unwrap();
    gov.approve(
        ROOT,
        request.id,
        ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
    )
    .unwrap();
    seen.push((gov.version(), gov.bundle().clone()));
    let stored = support::sql_rows(
        dir.path(),
        &format!(
            "SELECT length(bundle), length(change) FROM bundles WHERE version = {}",
            gov.version()
        ),
    );
    let (whole, change): (usize, usize) = (
        stored[0][0].as_deref().unwrap().parse().unwrap(),
        stored[0][1].as_deref().unwrap().parse().unwrap(),
    );
    assert_eq!(whole, 0, "an approval is stored as a change");
    assert!(change < 2_000, "an approval's change is {change} bytes");

    // Past the next whole bundle: maintenance modes set and ended, one version each.
    let until = Timestamp::from_unix(gov.now().unix() + 3_600);
    for n in 0..71 {
        let mode = (n % 2 == 0).then_some((MaintenanceMode::Learning, until));
        gov.set_maintenance(ROOT, "lakeside-fd-01", mode).unwrap();
        seen.push((gov.version(), gov.bundle().clone()));
    }
    // A whole bundle again once the changes since the last one would pass a quarter
    // of its size, and never later.
    let chain = support::sql_rows(
        dir.path(),
        "SELECT COUNT(*), SUM(CASE WHEN b.change IS NULL THEN 1 ELSE 0 END),
                SUM(CASE WHEN c.changes > c.whole / 4 THEN 1 ELSE 0 END)
         FROM bundles b JOIN bundle_chain c ON c.version = b.version",
    );
    let count = |i: usize| -> usize { chain[0][i].as_deref().unwrap().parse().unwrap() };
    assert_eq!(
        count(0),
        seen.len(),
        "every version has its place in the chain"
    );
    assert!(count(1) >= 2, "init, and whole bundles later: {chain:?}");
    assert!(count(1) < seen.len() / 2, "mostly changes: {chain:?}");
    assert_eq!(count(2), 0, "no chain past a quarter of its whole bundle");

    drop(gov);
    let gov = support::open_dir(dir.path()).unwrap();
    assert_eq!(gov.bundle(), &seen.last().unwrap().1);
    for (version, bundle) in &seen {
        assert_eq!(
            gov.bundle_at(*version).unwrap().as_ref(),
            Some(bundle),
            "version {version}"
        );
    }
    assert_eq!(gov.bundle_at(seen.last().unwrap().0 + 1).unwrap(), None);
    // A rollback to the approval's version restores it as a new version.
    let mut gov = gov;
    let approved_at = seen[1].0;
    let version = gov.rollback(ROOT, Some(approved_at)).unwrap();
    assert_eq!(gov.bundle(), &seen[1].1);
    drop(gov);
    let gov = support::open_dir(dir.path()).unwrap();
    assert_eq!(gov.version(), version);
    assert_eq!(gov.bundle(), &seen[1].1);
}

#[test]
fn another_handle_follows_approvals_entry_by_entry_and_anything_else_whole() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = init_state(dir.path());
    let mut b = support::open_dir(dir.path()).unwrap();
    // B has compiled its engine: following must deploy what changed to it.
    let mut events = Vec::new();
    for n in 0..3 {
        let bytes = content(70, n);
        let computer = ["lakeside-fd-01", "lakeside-fd-02", "lakeside-fd-01"][n as usize];
        let request = file(
            &mut a,
            AccessRequestKind::Application,
            computer,
            &bytes,
            false,
        )
        .unwrap();
        let event = support::unknown_file(computer, support::sha256_of(&bytes), false, b.now());
        assert_eq!(
            b.engine().unwrap().decide(&event).decision,
            portcullis_engine::Outcome::Deny
        );
        a.approve(
            ROOT,
            request.id,
            ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
        )
        .unwrap();
        events.push(event);
    }
    assert!(b.follow().unwrap());
    assert_eq!(b.version(), a.version());
    assert_eq!(b.bundle(), a.bundle());
    for event in &events {
        assert_eq!(
            b.engine().unwrap().decide(event).decision,
            portcullis_engine::Outcome::Allow
        );
    }
    assert!(!b.follow().unwrap(), "nothing new");
    // A maintenance mode changes a computer: B reads the bundle whole, and still
    // serves what A serves.
    let until = Timestamp::from_unix(a.now().unix() + 3_600);
    a.set_maintenance(
        ROOT,
        "lakeside-fd-01",
        Some((MaintenanceMode::Learning, until)),
    )
    .unwrap();
    assert!(b.follow().unwrap());
    assert_eq!(b.bundle(), a.bundle());
    let unknown =
        support::unknown_file("lakeside-fd-01", support::sha256_of(b"new"), false, b.now());
    assert_eq!(
        b.engine().unwrap().decide(&unknown).mode,
        a.engine().unwrap().decide(&unknown).mode
    );
}
