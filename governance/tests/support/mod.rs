//! Shared helpers of the governance integration tests: the example bundle, events,
//! and a state in a temporary directory with a first Super Admin.
#![allow(dead_code)]

// Only the notification tests use the loopback servers.
#[allow(unused_imports)]
pub use portcullis_testkit::servers;

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
pub fn init_state(dir: &Path) -> Governance {
    let mut gov = init_dir(dir, example_bundle(), admin(ROOT, "northwind")).unwrap();
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
pub fn add_admin(gov: &mut Governance, id: &str, home: &str, held: &[(&str, Permission)]) {
    gov.put_admin(ROOT, admin(id, home)).unwrap();
    for &(org, p) in held {
        gov.grant(ROOT, permission(id, org, p)).unwrap();
    }
}

/// Files a request of `kind` for an unknown file with content `bytes` on
/// `computer`, attaching a copy of the file when `attach`.
pub fn file(
    gov: &mut Governance,
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

// ---- The store the suite runs on -------------------------------------------------
//
// `PORTCULLIS_TEST_STORE=postgres` runs every test on a real PostgreSQL server (one per
// test process, started on first use; a database for each state), SQLite otherwise. A
// state is always a directory: it holds the audit key, and on PostgreSQL a file
// `postgres.url` that names the state's database, so that a child process opening the
// directory reaches the same database.

/// Whether this run uses PostgreSQL.
pub fn on_postgres() -> bool {
    std::env::var("PORTCULLIS_TEST_STORE").is_ok_and(|s| s == "postgres")
}

fn url_file(dir: &Path) -> std::path::PathBuf {
    dir.join("postgres.url")
}

/// Runs `sql` on the state in `dir` directly, outside the store: to make a state of an
/// older schema.
pub fn execute_raw(dir: &Path, sql: &str) {
    match std::fs::read_to_string(url_file(dir)) {
        Ok(url) if on_postgres() => {
            let mut client = postgres::Client::connect(url.trim(), postgres::NoTls).unwrap();
            client.batch_execute(sql).unwrap();
        }
        _ => rusqlite::Connection::open(Governance::database(dir))
            .unwrap()
            .execute_batch(sql)
            .unwrap(),
    }
}

/// A new, empty database on the test server; its URL.
fn new_database() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!(
        "state_{}_{}_{nanos}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    portcullis_testkit::postgres::TestPostgres::shared()
        .database(&name)
        .unwrap()
}

/// The store of a new state in `dir` (created).
pub fn new_store(dir: &Path) -> portcullis_governance::Database {
    std::fs::create_dir_all(dir).unwrap();
    if on_postgres() {
        let url = new_database();
        std::fs::write(url_file(dir), &url).unwrap();
        portcullis_governance::PostgresStore::open(&url, &dir.join("audit.key"))
            .unwrap()
            .into()
    } else {
        SqliteStore::open(&Governance::database(dir))
            .unwrap()
            .into()
    }
}

/// `Governance::init_dir` on the store of this run.
pub fn init_dir(dir: &Path, bundle: Bundle, first: AdminRecord) -> Result<Governance, Error> {
    if !on_postgres() {
        return Governance::init_dir(dir, bundle, first);
    }
    std::fs::create_dir_all(dir).unwrap();
    // Owner-only, as `init_dir` makes a state directory: it holds the audit key.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let url = new_database();
    std::fs::write(url_file(dir), &url).unwrap();
    Governance::init_postgres(&url, &dir.join("audit.key"), bundle, first)
}

/// `Governance::open_dir` on the store of this run.
pub fn open_dir(dir: &Path) -> Result<Governance, Error> {
    match std::fs::read_to_string(url_file(dir)) {
        Ok(url) if on_postgres() => Governance::open_postgres(url.trim(), &dir.join("audit.key")),
        _ => Governance::open_dir(dir),
    }
}

/// Runs `statements` on the state's database directly, as someone with access to the
/// database could (not through governance).
pub fn sql(dir: &Path, statements: &str) {
    match std::fs::read_to_string(url_file(dir)) {
        Ok(url) => {
            psql(url.trim(), statements);
        }
        Err(_) => rusqlite::Connection::open(Governance::database(dir))
            .unwrap()
            .execute_batch(statements)
            .unwrap(),
    }
}

/// Every row `query` selects from the state's database, each column as text.
pub fn sql_rows(dir: &Path, query: &str) -> Vec<Vec<Option<String>>> {
    match std::fs::read_to_string(url_file(dir)) {
        Ok(url) => psql(url.trim(), query)
            .split('\u{1e}')
            .filter(|row| !row.trim().is_empty())
            .map(|row| {
                row.trim_matches('\n')
                    .split('\u{1f}')
                    .map(|c| (c != "\u{1}NULL").then(|| c.to_owned()))
                    .collect()
            })
            .collect(),
        Err(_) => {
            use rusqlite::types::ValueRef;
            let db = rusqlite::Connection::open(Governance::database(dir)).unwrap();
            let mut stmt = db.prepare(query).unwrap();
            let width = stmt.column_count();
            let mut rows = stmt.query([]).unwrap();
            let mut out = Vec::new();
            while let Some(row) = rows.next().unwrap() {
                out.push(
                    (0..width)
                        .map(|i| match row.get_ref(i).unwrap() {
                            ValueRef::Null => None,
                            ValueRef::Integer(n) => Some(n.to_string()),
                            ValueRef::Real(f) => Some(f.to_string()),
                            ValueRef::Text(t) | ValueRef::Blob(t) => {
                                Some(String::from_utf8_lossy(t).into_owned())
                            }
                        })
                        .collect(),
                );
            }
            out
        }
    }
}

fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args(["-X", "-q", "-t", "-A", "-v", "ON_ERROR_STOP=1"])
        .args(["-F", "\u{1f}", "-R", "\u{1e}", "-P", "null=\u{1}NULL"])
        .args([url, "-c", sql])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "psql: {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The audit's signed head as stored (a file beside SQLite's database, a row in
/// PostgreSQL's), if there is one.
pub fn head(dir: &Path) -> Option<String> {
    if url_file(dir).exists() {
        sql_rows(dir, "SELECT head FROM audit_head WHERE id = 1")
            .pop()
            .and_then(|mut row| row.pop().flatten())
    } else {
        std::fs::read_to_string(dir.join("state.db.audit-head")).ok()
    }
}

/// Replaces the audit's stored head, or removes it (`None`).
pub fn set_head(dir: &Path, text: Option<&str>) {
    if url_file(dir).exists() {
        sql(dir, "DELETE FROM audit_head");
        if let Some(text) = text {
            let quoted = text.replace('\'', "''");
            sql(
                dir,
                &format!("INSERT INTO audit_head (id, head) VALUES (1, '{quoted}')"),
            );
        }
    } else {
        let path = dir.join("state.db.audit-head");
        match text {
            Some(text) => std::fs::write(path, text).unwrap(),
            None => std::fs::remove_file(path).unwrap(),
        }
    }
}

/// A copy of the state in `source` (its files, and its database), to tamper with.
pub fn copy_state(source: &Path) -> tempfile::TempDir {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(source).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
    }
    if let Ok(url) = std::fs::read_to_string(url_file(source)) {
        let url = url.trim();
        let (server, old) = url.rsplit_once('/').unwrap();
        let new = format!(
            "{old}_copy_{}",
            copy.path().file_name().unwrap().to_string_lossy()
        )
        .to_lowercase()
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
        psql(
            &format!("{server}/postgres"),
            &format!("CREATE DATABASE \"{new}\" TEMPLATE \"{old}\""),
        );
        std::fs::write(url_file(copy.path()), format!("{server}/{new}")).unwrap();
    }
    copy
}
