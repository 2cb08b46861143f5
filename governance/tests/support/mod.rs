//! Shared helpers of the governance integration tests: the example bundle, events,
//! and a state in a temporary directory with a first Super Admin.
#![allow(dead_code)]

use std::path::Path;

use portcullis_engine::model::{Sha256, Timestamp};
use portcullis_engine::{Bundle, Event};
use portcullis_governance::{
    AccessRequestKind, AdminRecord, Error, FileRequest, Governance, Grant, Grantable, Permission,
    RequestRecord, Settings, SqliteStore,
};

/// The first administrator, Super Admin on `northwind` (the only top-level
/// organization of the example bundle).
pub const ROOT: &str = "root";

/// The example bundle (organizations northwind → lakeside, harbor, summit →
/// summit-lab).
pub fn example_bundle() -> Bundle {
    portcullis_engine::parse(include_str!("../../../examples/bundle.json"))
        .unwrap_or_else(|e| panic!("examples/bundle.json does not compile: {e}"))
}

/// The content of a test file, distinct for each `(salt, n)`.
pub fn content(salt: u64, n: u64) -> Vec<u8> {
    format!("portcullis test file {salt} {n}\n").into_bytes()
}

/// The SHA-256 of `bytes`.
pub fn sha256_of(bytes: &[u8]) -> Sha256 {
    use sha2::Digest;
    Sha256(sha2::Sha256::digest(bytes).into())
}

/// An execution on `computer` of an unknown, unsigned file (denied by the default
/// deny in every organization of the example bundle), at `time`.
pub fn unknown_file(computer: &str, hash: Sha256, elevation: bool, time: Timestamp) -> Event {
    let windows = computer.starts_with("lakeside") || computer.starts_with("harbor");
    let path = if windows {
        format!(
            "C:\\Users\\alice\\Downloads\\tool-{}.exe",
            &hash.to_string()[56..]
        )
    } else {
        format!("/home/alice/bin/tool-{}", &hash.to_string()[56..])
    };
    let mut event: Event = serde_json::from_value(serde_json::json!({
        "computer": computer,
        "user": "alice",
        "path": path,
        "sha256": hash.to_string(),
        "elevation": elevation,
        "time": "2026-01-01T00:00:00Z",
    }))
    .unwrap();
    event.time = time;
    event
}

/// A fresh state in `dir`: the example bundle, `root` as Super Admin on `northwind`,
/// and guardrails that let wider approvals through with a justification (so that
/// permissions, not guardrails, decide every case).
pub fn init_state(dir: &Path) -> Governance<SqliteStore> {
    let mut gov = Governance::init_dir(dir, example_bundle(), admin(ROOT, "northwind")).unwrap();
    gov.set_settings(
        ROOT,
        "northwind",
        Settings {
            new_software_computer_first: false,
            ..Settings::default()
        },
    )
    .unwrap();
    gov
}

/// An administrator record.
pub fn admin(id: &str, organization: &str) -> AdminRecord {
    AdminRecord {
        id: id.to_owned(),
        name: format!("Administrator {id}"),
        organization: organization.to_owned(),
        email: None,
        phone: None,
    }
}

/// A grant of a permission.
pub fn permission(admin: &str, organization: &str, permission: Permission) -> Grant {
    Grant {
        admin: admin.to_owned(),
        organization: organization.to_owned(),
        what: Grantable::Permission(permission),
    }
}

/// A grant of a role.
pub fn role(admin: &str, organization: &str, role: &str) -> Grant {
    Grant {
        admin: admin.to_owned(),
        organization: organization.to_owned(),
        what: Grantable::Role(role.to_owned()),
    }
}

/// Adds an administrator (by `root`) and grants them `held`.
pub fn add_admin(
    gov: &mut Governance<SqliteStore>,
    id: &str,
    home: &str,
    held: &[(&str, Permission)],
) {
    gov.put_admin(ROOT, admin(id, home)).unwrap();
    for &(org, p) in held {
        gov.grant(ROOT, permission(id, org, p)).unwrap();
    }
}

/// Files a request of `kind` for an unknown file with content `bytes` on
/// `computer`, attaching a copy of the file when `attach`.
pub fn file(
    gov: &mut Governance<SqliteStore>,
    kind: AccessRequestKind,
    computer: &str,
    bytes: &[u8],
    attach: bool,
) -> Result<RequestRecord, Error> {
    let event = unknown_file(
        computer,
        sha256_of(bytes),
        kind == AccessRequestKind::Elevation,
        gov.now(),
    );
    gov.file_request(FileRequest {
        kind,
        event,
        message: "I need this for work".to_owned(),
        email: None,
        attachment: attach.then(|| bytes.to_vec()),
    })
}
