//! Every saved fuzz crash (`fuzz/regressions/<target>/`) and every seed of the fuzz
//! corpora (`fuzz/corpus/<target>/`) runs through the fuzz targets' own bodies
//! (`fuzz/src/lib.rs`) on the stable toolchain, so a crash found once stays a test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[path = "../../fuzz/src/lib.rs"]
#[allow(dead_code, missing_docs)]
mod bodies;

use std::path::{Path, PathBuf};

use portcullis_testkit::pe::{self, Kind};

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

/// Runs every file under `root/<target>/` through its target's body; returns the files
/// a body panicked on, and the number of files run.
fn failures(
    root: &Path,
    targets: &[(&str, bodies::Body)],
    require_some: bool,
) -> (Vec<String>, usize) {
    let mut failed = Vec::new();
    let mut total = 0;
    for (target, body) in targets {
        let inputs = files(&root.join(target));
        assert!(
            !require_some || !inputs.is_empty(),
            "no seeds in {}",
            root.join(target).display()
        );
        for input in &inputs {
            let data = std::fs::read(input).unwrap();
            if std::panic::catch_unwind(|| body(&data)).is_err() {
                failed.push(format!("{target} fails on {}", input.display()));
            }
        }
        total += inputs.len();
    }
    (failed, total)
}

/// Runs `fuzz/<kind>/`; returns the number of files run.
fn run(kind: &str, require_some: bool) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz")
        .join(kind);
    // A directory that names no target would be skipped without a word.
    for entry in std::fs::read_dir(&root).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(
                bodies::TARGETS.iter().any(|(t, _)| *t == name),
                "{} is not the directory of a fuzz target",
                path.display()
            );
        }
    }
    let (failed, total) = failures(&root, &bodies::TARGETS, require_some);
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    eprintln!("fuzz/{kind}: {total} inputs passed");
    total
}

/// The regression cases committed under `fuzz/regressions/`: a run over fewer (an empty
/// or misplaced folder) fails instead of passing on nothing.
const SAVED_REGRESSIONS: usize = 10;

/// A saved crash that still crashes fails the run: the regression directory layout
/// `scripts/fuzz` writes (`<target>/crash-<sha1>`), with the canary target's crashing
/// input and an input it passes.
#[test]
fn a_saved_crash_that_still_crashes_fails() {
    let root = tempfile::tempdir().unwrap();
    let dir = root.path().join("crash_canary");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("crash-canary"), bodies::CANARY_INPUT).unwrap();
    std::fs::write(dir.join("crash-passes"), b"portcullis").unwrap();
    let targets: [(&str, bodies::Body); 1] = [("crash_canary", bodies::crash_canary)];
    let (failed, total) = failures(root.path(), &targets, true);
    assert_eq!(total, 2);
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0].ends_with("crash-canary"), "{failed:?}");
}

#[test]
fn saved_crashes_stay_fixed() {
    let total = run("regressions", false);
    assert!(
        total >= SAVED_REGRESSIONS,
        "fuzz/regressions holds {total} case files, fewer than the {SAVED_REGRESSIONS} committed"
    );
}

#[test]
fn seed_corpora_pass() {
    run("corpus", true);
}

#[test]
fn every_target_has_a_binary() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/fuzz_targets");
    for target in bodies::TARGETS
        .iter()
        .map(|(t, _)| *t)
        .chain(["crash_canary"])
    {
        let source = std::fs::read_to_string(dir.join(format!("{target}.rs"))).unwrap();
        assert!(
            source.contains(&format!("portcullis_fuzz::{target}(data)")),
            "fuzz/fuzz_targets/{target}.rs does not call its body"
        );
    }
}

#[test]
fn the_naive_glob_matcher_is_right_on_known_cases() {
    let cases = [
        ("a*b", "ab", true),
        ("a*b", "a\\x\\b", true),
        ("a?b", "ab", false),
        ("a?b", "axb", true),
        ("*", "", true),
        ("?", "", false),
        ("*.exe", "c:\\x.exe", true),
        ("c:\\*\\x", "c:\\x", false),
        ("ab", "abc", false),
    ];
    for (glob, text, want) in cases {
        assert_eq!(bodies::naive_glob(glob, text), want, "{glob} on {text}");
    }
}

/// Writes the unsigned PE seeds of `pe_authenticode` (`fuzz/corpus/pe_authenticode/`);
/// docs/ROBUSTNESS.md shows how the signed seed is made from one of them.
#[test]
#[ignore = "writes seed files; run by hand when the PE builder changes"]
fn write_pe_seeds() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/pe_authenticode");
    std::fs::create_dir_all(&dir).unwrap();
    for (name, kind, overlay) in [
        ("pe32.exe", Kind::Pe32, 0),
        ("pe32plus.exe", Kind::Pe32Plus, 5),
        ("efi.efi", Kind::Efi, 0),
    ] {
        let (bytes, _) = pe::build(kind, overlay);
        std::fs::write(dir.join(name), bytes).unwrap();
    }
}
