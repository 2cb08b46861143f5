#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! What only the shared store does, on a real PostgreSQL server: a second handle on
//! the same database hears of a new bundle version (`LISTEN/NOTIFY`) and follows it,
//! and two handles writing at once keep one audit chain.

mod support;

use std::time::Duration;

use portcullis_engine::Outcome;
use portcullis_governance::{
    AccessRequestKind, ApproveOptions, Governance, Matching, PostgresStore, ScopeKind,
};
use portcullis_testkit::postgres::TestPostgres;
use support::{admin, content, example_bundle, file, sha256_of, unknown_file, ROOT};

#[test]
fn a_second_node_hears_of_a_new_version_and_follows_it() {
    let url = TestPostgres::shared().database("follow").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    let mut a =
        Governance::init_postgres(&url, &key, example_bundle(), admin(ROOT, "northwind")).unwrap();
    let mut b = Governance::open_postgres(&url, &key).unwrap();
    let mut listener = PostgresStore::listen(&url).unwrap();
    assert_eq!(listener.wait(Duration::from_millis(50)).unwrap(), None);

    let bytes = content(40, 1);
    let request = file(
        &mut a,
        AccessRequestKind::Application,
        "lakeside-fd-01",
        &bytes,
        false,
    )
    .unwrap();
    a.approve(
        ROOT,
        request.id,
        ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
    )
    .unwrap();
    assert_eq!(a.version(), 2);
    // The commit announced version 2.
    assert_eq!(listener.wait(Duration::from_secs(10)).unwrap(), Some(2));
    // B still serves version 1 until it follows; then it decides as A does.
    let event = unknown_file("lakeside-fd-01", sha256_of(&bytes), false, b.now());
    assert_eq!(b.version(), 1);
    assert_eq!(b.decide(&event).unwrap().decision, Outcome::Deny);
    assert!(b.follow().unwrap());
    assert_eq!(b.version(), 2);
    assert_eq!(b.decide(&event).unwrap().decision, Outcome::Allow);
    assert!(!b.follow().unwrap(), "nothing new");
}

#[test]
fn two_handles_writing_at_once_keep_one_audit_chain() {
    let url = TestPostgres::shared().database("writers").unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("audit.key");
    drop(
        Governance::init_postgres(&url, &key, example_bundle(), admin(ROOT, "northwind")).unwrap(),
    );
    std::thread::scope(|s| {
        for salt in 0..4 {
            let (url, key) = (&url, &key);
            s.spawn(move || {
                let mut gov = Governance::open_postgres(url, key).unwrap();
                for n in 0..10 {
                    file(
                        &mut gov,
                        AccessRequestKind::Application,
                        "lakeside-fd-01",
                        &content(50 + salt, n),
                        false,
                    )
                    .unwrap();
                }
            });
        }
    });
    let gov = Governance::open_postgres(&url, &key).unwrap();
    let requests = gov.read(ROOT, |tx| tx.requests(None)).unwrap();
    assert_eq!(requests.len(), 40);
    assert!(gov.verify_audit().unwrap().is_ok());
}
