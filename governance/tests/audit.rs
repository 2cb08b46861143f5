#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
//! The audit: search with permission checks, tamper detection, and durability of
//! acknowledged entries across a SIGKILL.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use portcullis_engine::model::{Sha256, Timestamp};
use portcullis_engine::{Event, Outcome};
use portcullis_governance::{
    chain_hash, AccessRequestKind, AdminRecord, ApproveOptions, AuditBreak, AuditEntry, AuditLog,
    AuditQuery, FileRequest, Governance, Grant, Grantable, Matching, Permission, ScopeKind,
    Settings,
};

const EXAMPLE: &str = include_str!("../../examples/bundle.json");

fn init(dir: &Path) -> Governance {
    let bundle = portcullis_engine::parse(EXAMPLE).unwrap();
    support::init_dir(
        dir,
        bundle,
        AdminRecord {
            id: "root".into(),
            name: "Root".into(),
            organization: "northwind".into(),
            email: None,
            phone: None,
        },
    )
    .unwrap()
}

fn event(computer: &str, n: u32) -> Event {
    Event::from_json(
        &serde_json::json!({
            "computer": computer, "user": "LAKESIDE\\amy",
            "path": format!("C:\\Users\\amy\\Downloads\\tool-{n}.exe"),
            "sha256": format!("{n:064x}"), "time": "2026-11-22T10:00:00Z",
        })
        .to_string(),
    )
    .unwrap()
}

/// A state with a few dozen entries of every kind.
fn populated(dir: &Path) -> Governance {
    let mut gov = init(dir);
    for n in 1..=5 {
        gov.decide(&event("lakeside-fd-01", n)).unwrap();
        gov.decide(&event("harbor-pc-01", n)).unwrap();
    }
    let id = gov
        .file_request(FileRequest {
            kind: AccessRequestKind::Application,
            event: event("lakeside-fd-01", 1),
            message: "please".into(),
            email: None,
            attachment: None,
        })
        .unwrap()
        .id;
    gov.approve(
        "root",
        id,
        ApproveOptions::new(ScopeKind::Computer, Matching::Hash),
    )
    .unwrap();
    gov.decide(&event("lakeside-fd-01", 1)).unwrap();
    gov
}

#[test]
fn search_filters_and_checks_permissions() {
    let dir = tempfile::tempdir().unwrap();
    let mut gov = populated(dir.path());
    // Allows are audited only where the settings ask for it.
    let allows = AuditQuery {
        kind: Some("allow".into()),
        ..AuditQuery::default()
    };
    assert!(gov.search_audit("root", &allows).unwrap().is_empty());
    let settings = Settings {
        audit_allows: true,
        ..Settings::default()
    };
    gov.set_settings("root", "lakeside", settings).unwrap();
    assert_eq!(
        gov.decide(&event("lakeside-fd-01", 1)).unwrap().decision,
        Outcome::Allow
    );
    assert_eq!(gov.search_audit("root", &allows).unwrap().len(), 1);

    let by_computer = AuditQuery {
        computer: Some("harbor-pc-01".into()),
        ..AuditQuery::default()
    };
    let found = gov.search_audit("root", &by_computer).unwrap();
    assert_eq!(found.len(), 5);
    assert!(found.iter().all(|r| r.entry.kind == "deny"));
    let by_hash = AuditQuery {
        sha256: Some(format!("{:064x}", 1).parse::<Sha256>().unwrap()),
        organization: Some("lakeside".into()),
        ..AuditQuery::default()
    };
    let kinds: Vec<String> = gov
        .search_audit("root", &by_hash)
        .unwrap()
        .into_iter()
        .map(|r| r.entry.kind)
        .collect();
    assert_eq!(kinds, ["deny", "request", "approve", "allow"]);
    let by_user = AuditQuery {
        user: Some("lakeside\\AMY".into()),
        until: Some(Timestamp::from_unix(0)),
        ..AuditQuery::default()
    };
    assert!(gov.search_audit("root", &by_user).unwrap().is_empty());

    // View Unified Audit on lakeside sees lakeside only, and no system audit.
    gov.put_admin(
        "root",
        AdminRecord {
            id: "aud".into(),
            name: "Auditor".into(),
            organization: "lakeside".into(),
            email: None,
            phone: None,
        },
    )
    .unwrap();
    gov.grant(
        "root",
        Grant {
            admin: "aud".into(),
            organization: "lakeside".into(),
            what: Grantable::Permission(Permission::ViewUnifiedAudit),
        },
    )
    .unwrap();
    let seen = gov.search_audit("aud", &AuditQuery::default()).unwrap();
    assert!(!seen.is_empty());
    assert!(seen
        .iter()
        .all(|r| r.entry.organization.as_deref() == Some("lakeside")));
    let refused = gov.search_audit("aud", &by_computer.clone_with_org("harbor"));
    assert!(refused
        .unwrap_err()
        .to_string()
        .contains("View Unified Audit"));
    let system = AuditQuery {
        log: Some(AuditLog::System),
        ..AuditQuery::default()
    };
    let refused = gov.search_audit("aud", &system).unwrap_err();
    assert!(
        refused.to_string().contains("View System Audit"),
        "{refused}"
    );
    // Super Admin sees the system audit: the grant just made is in it.
    let grants = gov.search_audit("root", &system).unwrap();
    assert!(grants.iter().any(|r| r.entry.kind == "grant"));
}

trait WithOrg {
    fn clone_with_org(&self, org: &str) -> AuditQuery;
}

impl WithOrg for AuditQuery {
    fn clone_with_org(&self, org: &str) -> AuditQuery {
        let mut q = self.clone();
        q.organization = Some(org.into());
        q
    }
}

/// A copy of a state, tampered with by `change` on its database.
fn tampered(source: &Path, change: impl FnOnce(&Path)) -> PathBuf {
    let copy = support::copy_state(source).keep();
    change(&copy);
    copy
}

fn verify(dir: &Path) -> Result<usize, AuditBreak> {
    support::open_dir(dir).unwrap().verify_audit().unwrap()
}

#[test]
fn every_kind_of_tampering_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let gov = populated(dir.path());
    let total = gov.verify_audit().unwrap().unwrap();
    assert_eq!(
        total, 14,
        "init, 10 denies, a request, an approval and its policy edit"
    );
    drop(gov);
    let total = i64::try_from(total).unwrap();

    let edited = tampered(dir.path(), |db| {
        support::sql(
            db,
            "UPDATE audit SET detail = replace(detail, 'amy', 'bob') WHERE seq = 3",
        );
    });
    assert_eq!(verify(&edited), Err(AuditBreak::Edited { seq: 3 }));

    let actor = tampered(dir.path(), |db| {
        support::sql(db, "UPDATE audit SET time = time + 1 WHERE seq = 7");
    });
    assert_eq!(verify(&actor), Err(AuditBreak::Edited { seq: 7 }));

    let deleted = tampered(dir.path(), |db| {
        support::sql(db, "DELETE FROM audit WHERE seq = 5");
    });
    assert_eq!(
        verify(&deleted),
        Err(AuditBreak::Missing {
            expected: 5,
            found: 6
        })
    );

    let reordered = tampered(dir.path(), |db| {
        support::sql(
            db,
            "UPDATE audit SET seq = -1 WHERE seq = 4;
             UPDATE audit SET seq = 4 WHERE seq = 5;
             UPDATE audit SET seq = 5 WHERE seq = -1;",
        );
    });
    assert_eq!(verify(&reordered), Err(AuditBreak::Edited { seq: 4 }));

    let truncated = tampered(dir.path(), |db| {
        support::sql(db, "DELETE FROM audit WHERE seq > 10");
    });
    assert_eq!(
        verify(&truncated),
        Err(AuditBreak::Truncated {
            last: 10,
            head: total
        })
    );

    // Rewriting the chain from an edit onwards makes it consistent in itself, but it no
    // longer ends in the recorded head.
    let rewritten = tampered(dir.path(), |db| {
        support::sql(
            db,
            "UPDATE audit SET detail = replace(detail, 'amy', 'bob') WHERE seq = 3",
        );
        rechain(db);
    });
    assert_eq!(
        verify(&rewritten),
        Err(AuditBreak::Rewritten { seq: total })
    );

    // The untouched state still verifies.
    assert_eq!(verify(dir.path()), Ok(usize::try_from(total).unwrap()));
}

/// Recomputes every hash, as someone with write access to the database could.
fn rechain(db: &Path) {
    let rows = support::sql_rows(
        db,
        "SELECT seq, time, actor, organization, log, kind, detail FROM audit ORDER BY seq",
    );
    let mut previous = String::new();
    let mut updates = String::new();
    for row in rows {
        let text = |i: usize| row[i].clone().unwrap();
        let seq: i64 = text(0).parse().unwrap();
        let entry = AuditEntry {
            time: Timestamp::from_unix(text(1).parse().unwrap()),
            actor: text(2),
            organization: row[3].clone(),
            log: if text(4) == "system" {
                AuditLog::System
            } else {
                AuditLog::Unified
            },
            kind: text(5),
            detail: serde_json::from_str(&text(6)).unwrap(),
        };
        let hash = chain_hash(&previous, seq, &entry).unwrap();
        updates.push_str(&format!(
            "UPDATE audit SET hash = '{hash}' WHERE seq = {seq};\n"
        ));
        previous = hash;
    }
    support::sql(db, &updates);
}

const WORKER_DIR: &str = "PORTCULLIS_AUDIT_WORKER_DIR";

/// Run by `acknowledged_entries_survive_a_sigkill` in a child process: decides bursts
/// of events, hands them to the audit in batches, and acknowledges each batch after
/// `record_decisions` returned.
#[test]
#[ignore = "run by acknowledged_entries_survive_a_sigkill as a child process"]
fn audit_worker() {
    let Ok(dir) = std::env::var(WORKER_DIR) else {
        return;
    };
    let mut gov = support::open_dir(Path::new(&dir)).unwrap();
    let mut stdout = std::io::stdout();
    let mut total = 0usize;
    for round in 0u32.. {
        let batch: Vec<_> = (0..20)
            .map(|i| {
                let e = event("lakeside-fd-01", round * 20 + i + 1000);
                let d = gov.engine().unwrap().decide(&e);
                (e, d)
            })
            .collect();
        total += gov.record_decisions(&batch).unwrap();
        writeln!(stdout, "ACK {total}").unwrap();
        stdout.flush().unwrap();
    }
}

#[test]
fn acknowledged_entries_survive_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let before = {
        let gov = init(dir.path());
        gov.verify_audit().unwrap().unwrap()
    };
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "audit_worker",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(WORKER_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut acked = 0usize;
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while acked < 400 {
        let line = lines.next().expect("the worker stopped").unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            acked = n.parse().unwrap();
        }
    }
    child.kill().unwrap(); // SIGKILL, mid-burst
    child.wait().unwrap();

    let mut gov = support::open_dir(dir.path()).unwrap();
    let after = gov.verify_audit().unwrap().unwrap();
    assert!(after >= before + acked, "{after} < {before} + {acked}");
    let denies = AuditQuery {
        kind: Some("deny".into()),
        ..AuditQuery::default()
    };
    assert!(gov.search_audit("root", &denies).unwrap().len() >= acked);
    // The state goes on working.
    gov.decide(&event("lakeside-fd-01", 1)).unwrap();
    assert_eq!(gov.verify_audit().unwrap(), Ok(after + 1));
}
