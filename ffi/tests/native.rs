//! The library as C, C++ and Go see it: the C example agent (linked with the static
//! library), the C++ RAII wrappers (linked with the shared one) and the Go package
//! (cgo) are built with the system's compilers and run, and every SPEC case is decided
//! by a C program (`tests/c/spec_runner.c`) and compared with the Rust decision.
//!
//! The libraries are the ones cargo built for this test run, found beside the test
//! binary's directory (`target/<profile>/`).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]
#![expect(unsafe_code, reason = "decisions' ids are read as C reads them")]

mod support;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use portcullis_engine::{Event, Snapshot};
use portcullis_ffi::{PortcullisDecision, PortcullisStr};
use serde_json::Value;

fn crate_dir() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Where cargo put `libportcullis_ffi.{a,so}` for this build: beside the test binary
/// in `target/<profile>/deps/` (a workspace build leaves them there), or in
/// `target/<profile>/` (where `cargo build -p portcullis-ffi` copies them).
fn library_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    // target/<profile>/deps/native-<hash>
    let deps = exe
        .parent()
        .expect("the test binary lies in target/<profile>/deps");
    let has_both = |dir: &Path| {
        ["libportcullis_ffi.a", "libportcullis_ffi.so"]
            .iter()
            .all(|name| dir.join(name).is_file())
    };
    let found = [Some(deps), deps.parent()]
        .into_iter()
        .flatten()
        .find(|dir| has_both(dir))
        .map(Path::to_path_buf);
    found.unwrap_or_else(|| {
        panic!(
            "libportcullis_ffi.a and .so are in neither {} nor its parent: build with `cargo test -p portcullis-ffi`",
            deps.display()
        )
    })
}

fn out_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("portcullis-ffi-native");
    std::fs::create_dir_all(&dir).expect("a scratch directory");
    dir
}

fn run(command: &mut Command) -> String {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    assert!(
        output.status.success(),
        "{command:?} failed ({}):\n{stdout}\n{}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    stdout
}

fn bundle() -> PathBuf {
    crate_dir().join("../examples/bundle.json")
}

/// What rustc says a static library of this crate needs on Linux.
const STATIC_LIBS: [&str; 5] = ["-lgcc_s", "-lutil", "-lrt", "-lpthread", "-lm"];

#[test]
fn the_c_example_agent_builds_against_the_static_library_and_decides() {
    let lib = library_dir();
    let exe = out_dir().join("agent");
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()));
    cc.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("examples/agent.c"))
        .arg(lib.join("libportcullis_ffi.a"))
        .args(STATIC_LIBS)
        .args(["-ldl", "-Wl,-z,noexecstack", "-o"])
        .arg(&exe);
    run(&mut cc);
    let output = run(Command::new(&exe).arg(bundle()).arg(bundle()));
    let lines: Vec<&str> = output.lines().collect();
    let expected = [
        "chrome: allow policy=permit-chrome application=google-chrome generation=1",
        "powershell: deny policy=deny-powershell application=powershell can-request generation=1",
        "labelprint: deny default-deny can-request generation=1",
        "labelprint (json): deny default-deny can-request generation=1",
    ];
    assert_eq!(lines.get(..4), Some(&expected[..]), "{output}");
    assert!(lines[4].starts_with("explanation: "), "{output}");
    assert_eq!(
        lines[5],
        "bad event (invalid event): invalid event: `sha256`: invalid type: integer `42`, \
         expected a SHA-256 digest as 64 hexadecimal digits at line 2 column 13"
    );
    assert_eq!(
        lines[6],
        "error (invalid bundle) at 2:55: 2:55: organizations[0].parent (organization `a`): \
         unknown parent organization `nowhere`"
    );
    assert_eq!(
        lines[7],
        "error (no history): there is no earlier snapshot to roll back to"
    );
    assert_eq!(lines[8], "generation: 1");
    let bytes = std::fs::read(bundle()).unwrap();
    let sha = portcullis_engine::identity::sha256_bytes(&bytes).to_string();
    assert!(
        lines[9].starts_with("inspect: {\"path\":") && lines[9].contains(&sha),
        "{output}"
    );
}

#[test]
fn the_cpp_wrappers_free_their_handles_and_throw_with_locations() {
    let lib = library_dir();
    let exe = out_dir().join("raii");
    let mut cxx = Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".to_owned()));
    cxx.args([
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-pthread",
        "-I",
    ])
    .arg(crate_dir().join("include"))
    .arg(crate_dir().join("tests/cpp/raii.cpp"))
    .arg(format!("-L{}", lib.display()))
    .arg(format!("-Wl,-rpath,{}", lib.display()))
    .args(["-lportcullis_ffi", "-o"])
    .arg(&exe);
    run(&mut cxx);
    let output = run(Command::new(&exe).arg(bundle()));
    assert!(output.contains(" passed, 0 failed"), "{output}");
}

#[test]
fn the_go_package_passes_its_tests() {
    if Command::new("go").arg("version").output().is_err() {
        eprintln!("go is not installed (apt-get install golang-go): Go package test skipped");
        return;
    }
    let lib = library_dir();
    let cache = out_dir().join("go-cache");
    let output = run(Command::new("go")
        .args(["test", "-count=1", "./..."])
        .current_dir(crate_dir().join("go"))
        .env(
            "CGO_LDFLAGS",
            format!("-L{} -Wl,-rpath,{}", lib.display(), lib.display()),
        )
        .env("GOCACHE", &cache)
        .env("GOPATH", out_dir().join("go-path"))
        .env("GOFLAGS", "-mod=mod")
        .env("GOPROXY", "off")
        .env("GOTOOLCHAIN", "local"));
    assert!(output.contains("ok"), "{output}");
}

fn hex(bytes: &[u8]) -> String {
    if bytes.is_empty() {
        // An empty string, not an absent one ("-").
        return "=".to_owned();
    }
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn field(text: Option<&str>) -> String {
    text.map_or_else(|| "-".to_owned(), |t| hex(t.as_bytes()))
}

/// A decision as the C runner prints it.
fn line(d: &PortcullisDecision) -> String {
    let id = |s: PortcullisStr| {
        if s.ptr.is_null() {
            return "-".to_owned();
        }
        // SAFETY: the id points into the live snapshot that made the decision.
        let bytes = unsafe { std::slice::from_raw_parts(s.ptr.cast::<u8>(), s.len) };
        String::from_utf8_lossy(bytes).into_owned()
    };
    format!(
        "{} {} {} {} {} {} {} {}",
        if d.outcome == portcullis_ffi::PortcullisOutcome::Allow {
            "allow"
        } else {
            "deny"
        },
        d.flags,
        d.mode as i32,
        d.request_kind as i32,
        id(d.policy),
        id(d.application),
        d.notify_count,
        d.generation
    )
}

#[test]
fn every_spec_case_decides_in_c_as_in_rust() {
    let lib = library_dir();
    let exe = out_dir().join("spec_runner");
    let mut cc = Command::new(std::env::var("CC").unwrap_or_else(|_| "cc".to_owned()));
    cc.args(["-std=c99", "-Wall", "-Wextra", "-Werror", "-I"])
        .arg(crate_dir().join("include"))
        .arg(crate_dir().join("tests/c/spec_runner.c"))
        .arg(lib.join("libportcullis_ffi.a"))
        .args(STATIC_LIBS)
        .args(["-ldl", "-Wl,-z,noexecstack", "-o"])
        .arg(&exe);
    run(&mut cc);
    let dir = crate_dir().join("../engine/tests/cases");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    let mut decided = 0;
    for path in files {
        let spec: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let Some(cases) = spec.get("cases").and_then(Value::as_array) else {
            continue;
        };
        let bundle = serde_json::to_string(&spec["bundle"]).unwrap();
        let snapshot = Snapshot::compile_json(&bundle).unwrap();
        let mut input = hex(bundle.as_bytes()) + "\n";
        let mut want = Vec::new();
        for case in cases {
            let event = support::CEvent::new(
                Event::from_json(&serde_json::to_string(&case["event"]).unwrap()).unwrap(),
            );
            let c = event.c();
            let e = &event.event;
            let fields = [
                hex(e.computer.as_bytes()),
                hex(e.user.as_bytes()),
                hex(e.path.as_bytes()),
                hex(e.sha256.as_bytes()),
                hex(e.time.unix().to_string().as_bytes()),
                field(e.parent.as_deref()),
                field(e.created_by.as_deref()),
                hex(if e.elevation { b"1" } else { b"0" }),
                hex(c.signature_status.to_string().as_bytes()),
                field(event.subject.as_deref()),
                field(event.issuer.as_deref()),
                if c.has_signer_thumbprint {
                    hex(&c.signer_thumbprint)
                } else {
                    "-".to_owned()
                },
            ];
            input += &fields.join(" ");
            input += "\n";
            want.push(line(&PortcullisDecision::of(&snapshot.decide(e))));
        }
        let file = out_dir().join("spec_input.txt");
        std::fs::write(&file, input).unwrap();
        let output = run(Command::new(&exe).arg(&file));
        let got: Vec<&str> = output.lines().collect();
        assert_eq!(got, want, "{}", path.display());
        decided += want.len();
    }
    assert!(decided > 50, "only {decided} cases decided in C");
}
