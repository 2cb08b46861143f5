//! The bodies of the fuzz targets: each takes the fuzzer's bytes and panics only when a
//! property of the engine is broken.
//!
//! The targets in `fuzz/fuzz_targets/` are one call each into this file, and
//! `engine/tests/fuzz_regressions.rs` includes it (`#[path]`) to run every saved crash and
//! every seed through the same bodies on the stable toolchain, so a crash found once
//! stays a test forever.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

pub use portcullis_testkit::generate;

use std::io::Cursor;

use portcullis_engine::identity::{self, TrustRoots};
use portcullis_engine::path::{normalize, Family, Pattern, PatternSetBuilder, SetScratch};
use portcullis_engine::{reference, Bundle, DecisionRecord, Event, Snapshot};
use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::{Config, RngAlgorithm, TestRng, TestRunner};

/// A target's body: the fuzzer's bytes in, a panic when a property breaks.
pub type Body = fn(&[u8]);

/// The targets, by name: the names of the directories under `fuzz/corpus/` and
/// `fuzz/regressions/`, and of the binaries in `fuzz/fuzz_targets/`.
pub const TARGETS: [(&str, Body); 8] = [
    ("bundle_compile", bundle_compile),
    ("event_parse", event_parse),
    ("path_normalize", path_normalize),
    ("pattern_match", pattern_match),
    ("pe_authenticode", pe_authenticode),
    ("certificate_parse", certificate_parse),
    ("eval_differential", eval_differential),
    ("plugin_verdict", plugin_verdict),
];

/// The one input `crash_canary` crashes on (`scripts/fuzz` writes the same bytes).
pub const CANARY_INPUT: &[u8] = b"portcullis crash canary";

/// Not a property: a target that panics on [`CANARY_INPUT`] and on nothing else.
/// `scripts/fuzz` runs it on that input to check that a crash is reported and saved
/// as a regression file, and `engine/tests/fuzz_regressions.rs` checks that a saved crash
/// fails the regression run. It is not in [`TARGETS`].
pub fn crash_canary(data: &[u8]) {
    if data == CANARY_INPUT {
        panic!("crash_canary: the canary input");
    }
}

/// Paths every compiled bundle is asked about, in both families' spellings.
const PATHS: [&str; 6] = [
    r"C:\Windows\System32\notepad.exe",
    r"C:\Program Files\Google\Chrome\Application\chrome.exe",
    r"C:\Users\amy\AppData\Local\Temp\x.exe",
    "/usr/bin/python3",
    "/opt/tools/run",
    r"\\?\C:\tools\a.exe.",
];

fn event(computer: &str, path: &str, signed: bool) -> Option<Event> {
    let signature = if signed {
        serde_json::json!({"status": "valid", "signers": [
            {"subject": "CN=Google LLC, O=Google LLC, C=US", "issuer": "CN=Some CA, C=US"}]})
    } else {
        serde_json::json!({"status": "unsigned"})
    };
    let value = serde_json::json!({
        "computer": computer,
        "user": "LAKESIDE\\amy",
        "path": path,
        "sha256": "1b4f0e9851971998e732078544c96b36c3d01cedf7caa332359d6f1d83567014",
        "signature": signature,
        "parent": r"C:\Windows\explorer.exe",
        "created_by": r"C:\Windows\explorer.exe",
        "time": "2026-11-22T09:00:00Z",
    });
    Event::from_json(&value.to_string()).ok()
}

/// The indexed decision with its generation cleared, as the reference reports it.
fn indexed(snapshot: &Snapshot, event: &Event) -> DecisionRecord {
    let mut record = snapshot.decide(event).to_record();
    record.generation = 0;
    record
}

/// Parsing and compiling arbitrary bytes never panics; a snapshot that compiles
/// answers events on each of its computers (and an unknown one) as the reference
/// evaluator does.
pub fn bundle_compile(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(snapshot) = Snapshot::compile_json(text) else {
        return;
    };
    let bundle = snapshot.bundle();
    let mut computers: Vec<&str> = bundle
        .computers
        .iter()
        .take(4)
        .map(|c| c.id.as_str())
        .collect();
    computers.push("no-such-computer");
    for computer in computers {
        for (n, path) in PATHS.iter().enumerate() {
            if let Some(event) = event(computer, path, n % 2 == 0) {
                let got = indexed(&snapshot, &event);
                let want = reference::decide(&bundle, &event);
                assert_eq!(got, want, "indexed and reference disagree on {event:?}");
            }
        }
    }
}

/// Decoding a plugin's answer never panics: arbitrary JSON read as an approval verdict
/// or a rule verdict (as the Rego host reads a policy's output) is either refused or
/// a verdict that `validate` judges without panicking, that reads back from its own
/// JSON unchanged, and that `combine` keeps against an abstain.
pub fn plugin_verdict(data: &[u8]) {
    use portcullis_engine::plugin::{combine, RuleVerdict, Verdict};
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(verdict) = serde_json::from_str::<Verdict>(text) {
        let _ = verdict.validate();
        let json = serde_json::to_string(&verdict).unwrap();
        assert_eq!(
            serde_json::from_str::<Verdict>(&json).unwrap(),
            verdict,
            "{json}"
        );
        assert_eq!(combine([&Verdict::Abstain, &verdict]), verdict);
    }
    if let Ok(verdict) = serde_json::from_str::<RuleVerdict>(text) {
        let _ = verdict.validate();
        let json = serde_json::to_string(&verdict).unwrap();
        assert_eq!(
            serde_json::from_str::<RuleVerdict>(&json).unwrap(),
            verdict,
            "{json}"
        );
    }
}

/// Reading an event from arbitrary bytes never panics, and an event read back from
/// its own JSON is the same event.
pub fn event_parse(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(event) = Event::from_json(text) {
        let json = serde_json::to_string(&event).unwrap();
        let again = Event::from_json(&json).unwrap_or_else(|e| {
            panic!("an event does not read back from its own JSON `{json}`: {e}")
        });
        assert_eq!(event, again);
    }
}

/// Whether `raw` starts with a prefix that turns Win32 trimming off (`\\?\`, `\??\`).
fn verbatim(raw: &str) -> bool {
    raw.starts_with(r"\\?\") || raw.starts_with(r"\??\")
}

/// Where the last separator of a normalized path is, when a component follows the
/// root there (so `.` and doubled separators can be put in without touching the root).
fn last_inner_separator(family: Family, normalized: &str) -> Option<usize> {
    let sep = family.separator();
    let at = normalized.trim_end_matches(sep).rfind(sep)?;
    let root_end = match family {
        Family::Posix => 0,
        Family::Windows if normalized.starts_with(r"\\") => {
            // `\\host\share` is the root; the separator must come after the share.
            let share = normalized[2..].find('\\')? + 2;
            normalized[share + 1..].find('\\')? + share + 1
        }
        Family::Windows => 2,
    };
    (at >= root_end && at > 0).then_some(at)
}

/// A name that ends in exactly one dot: only a `\\?\` path produces one, and read
/// again it loses the dot (documented in `path`).
fn has_single_dot_name(normalized: &str) -> bool {
    normalized
        .split('\\')
        .any(|name| name.ends_with('.') && !name.ends_with(".."))
}

fn check_normalized(family: Family, raw: &str, n: &str) {
    let sep = family.separator();
    assert!(!n.contains('\0'), "NUL survived in {n:?} from {raw:?}");
    assert!(
        !n.split(sep).any(|c| c == ".."),
        "`..` survived in {n:?} from {raw:?}"
    );
    assert!(
        !n.split(sep).skip(1).any(|c| c == "."),
        "`.` survived in {n:?} from {raw:?}"
    );
    match family {
        Family::Posix => assert!(n.starts_with('/'), "{n:?} from {raw:?} is not rooted"),
        Family::Windows => {
            let b = n.as_bytes();
            let drive = b.len() >= 3 && b[1] == b':' && b[2] == b'\\';
            assert!(
                drive || n.starts_with(r"\\"),
                "{n:?} from {raw:?} is not rooted at a drive or a share"
            );
            assert!(!n.contains('/'), "{n:?} from {raw:?} keeps a `/`");
        }
    }
}

fn same(family: Family, raw: &str, variant: &str, want: &str, what: &str) {
    match normalize(family, variant) {
        Ok(got) => assert_eq!(
            got, want,
            "{what}: {variant:?} and {raw:?} differ ({family:?})"
        ),
        Err(e) => panic!("{what}: {variant:?} fails ({e}) but {raw:?} gives {want:?} ({family:?})"),
    }
}

/// Normalized paths are rooted, keep no `.`, `..` or NUL, normalize to themselves, and
/// equivalent spellings normalize alike.
pub fn path_normalize(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    for family in [Family::Windows, Family::Posix] {
        let Ok(n) = normalize(family, raw) else {
            continue;
        };
        check_normalized(family, raw, &n);
        let sep = family.separator();
        let exception = family == Family::Windows && has_single_dot_name(&n);
        if !exception {
            same(family, raw, &n, &n, "normalizing twice");
            if let Some(at) = last_inner_separator(family, &n) {
                let dotted = format!("{}{sep}.{}", &n[..at], &n[at..]);
                same(family, raw, &dotted, &n, "a `.` component");
                let doubled = format!("{}{sep}{}", &n[..at], &n[at..]);
                same(family, raw, &doubled, &n, "a doubled separator");
            }
        }
        if family == Family::Windows {
            let backslashes = raw.replace('/', "\\");
            if !verbatim(&backslashes) && !verbatim(raw) {
                same(family, raw, &backslashes, &n, "`/` read as `\\`");
                same(family, raw, &raw.replace('\\', "/"), &n, "`\\` read as `/`");
            }
            same(family, raw, &raw.to_ascii_uppercase(), &n, "upper case");
            same(family, raw, &raw.to_ascii_lowercase(), &n, "lower case");
        }
    }
}

/// The glob semantics written down plainly: `*` any run of characters, separators
/// included, `?` exactly one character, everything else itself. Dynamic programming
/// over characters, so it is slow but obviously right.
pub fn naive_glob(glob: &str, text: &str) -> bool {
    let g: Vec<char> = glob.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // row[j]: whether g[..i] matches t[..j].
    let mut row = vec![false; t.len() + 1];
    row[0] = true;
    for &gc in &g {
        let mut next = vec![false; t.len() + 1];
        if gc == '*' {
            next[0] = row[0];
        }
        for j in 1..=t.len() {
            next[j] = match gc {
                '*' => row[j] || next[j - 1],
                '?' => row[j - 1],
                c => row[j - 1] && t[j - 1] == c,
            };
        }
        row = next;
    }
    row[t.len()]
}

/// Characters the pattern and path of `pattern_match` are spelled with, so that globs
/// and paths meet often.
const ALPHABET: &[u8; 16] = b"ab.*?\\/:cC A%xy~";

fn spell(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| char::from(ALPHABET[usize::from(b & 15)]))
        .collect()
}

/// Compiled globs, alone and in a set, match a normalized path exactly when the naive
/// matcher says so.
///
/// Input: one family byte, then parts separated by `0xff`: the path first, the
/// patterns after it. A part starting with `0xfe` is taken as UTF-8 text as is; any
/// other part is spelled in a small alphabet of path characters and wildcards.
pub fn pattern_match(data: &[u8]) {
    let Some((&first, rest)) = data.split_first() else {
        return;
    };
    let family = if first & 1 == 0 {
        Family::Windows
    } else {
        Family::Posix
    };
    let mut parts = rest
        .split(|&b| b == 0xff)
        .map(|part| match part.split_first() {
            Some((0xfe, text)) => String::from_utf8_lossy(text).into_owned(),
            _ => {
                let mut s = spell(part);
                if family == Family::Posix {
                    s = s.replace('\\', "/");
                }
                s
            }
        });
    let Some(raw_path) = parts.next() else {
        return;
    };
    let Ok(path) = normalize(family, &raw_path) else {
        return;
    };
    let mut builder = PatternSetBuilder::new();
    let mut want = Vec::new();
    for (value, source) in parts.take(16).enumerate() {
        let Ok(pattern) = Pattern::compile(family, &source) else {
            continue;
        };
        let value = value as u32;
        let matched = pattern.is_match(&path);
        if !pattern.is_regex() {
            let naive = naive_glob(pattern.normalized(), &path);
            assert_eq!(
                matched,
                naive,
                "glob {source:?} (normalized {:?}) on {path:?}: compiled {matched}, naive {naive}",
                pattern.normalized()
            );
        }
        if matched {
            want.push(value);
        }
        builder.add(pattern, value);
    }
    let set = builder.build();
    let mut hits = Vec::new();
    set.matches(&path, &mut SetScratch::default(), &mut hits);
    hits.sort_unstable();
    hits.dedup();
    assert_eq!(
        hits, want,
        "the set and the patterns one by one disagree on {path:?}"
    );
}

/// Inspecting arbitrary bytes as a file (PE headers, certificate table, Authenticode
/// signatures, hashes) never panics.
pub fn pe_authenticode(data: &[u8]) {
    let _ = identity::inspect_reader(&mut Cursor::new(data), &TrustRoots::none());
}

/// Parsing arbitrary bytes as certificates (DER or PEM, one or many) never panics, and
/// what is parsed can be printed and serialized.
pub fn certificate_parse(data: &[u8]) {
    if let Ok(certificates) = identity::parse_certificates(data) {
        for certificate in &certificates {
            let _ = format!("{certificate:?}");
        }
    }
    if let Ok(certificate) = identity::Certificate::from_der(data) {
        let _ = format!("{certificate:?}");
    }
}

/// A proptest runner whose random source is seeded from `data`, so that the fuzzer's
/// bytes choose what the shared generators of `portcullis_testkit::generate` produce.
pub fn seeded_runner(data: &[u8]) -> TestRunner {
    let mut seed = [0u8; 32];
    for (n, b) in data.iter().enumerate() {
        seed[n % 32] ^= b.rotate_left((n / 32) as u32 % 8);
    }
    let rng = TestRng::from_seed(RngAlgorithm::ChaCha, &seed);
    TestRunner::new_with_rng(Config::default(), rng)
}

/// Makes the fuzzing thread the only thread of rayon's global pool, so the engine's
/// parallel compile (`into_par_iter` over organizations) runs inline on it: the same
/// code, without handing work to other threads and waiting for it, and without idle
/// workers spinning. That halves the CPU time of an `eval_differential` execution.
/// Call it once, from the thread that runs the inputs (a fuzz target's `init`); it does
/// nothing when the global pool exists already.
pub fn single_threaded_rayon() {
    let _ = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .use_current_thread()
        .build_global();
}

/// The indexed evaluator and the reference evaluator agree on bundles and events drawn
/// by the test generators from the fuzzer's bytes.
///
/// The first [`BUNDLE_SEED_BYTES`] bytes seed the bundle; every further 8 bytes (up to
/// [`MAX_EVENTS`]) seed one event on it. A bundle is generated and compiled once per
/// seed and kept (up to [`CACHED_BUNDLES`] at a time), so the inputs the fuzzer derives
/// by changing event bytes cost only their decisions: compiling was most of an
/// execution's time.
pub fn eval_differential(data: &[u8]) {
    let (head, rest) = data.split_at(data.len().min(BUNDLE_SEED_BYTES));
    let Some(compiled) = compiled_bundle(head) else {
        return;
    };
    let (bundle, snapshot) = &*compiled;
    let seeds = rest.chunks(8).take(MAX_EVENTS).map(|chunk| {
        let mut bytes = [0u8; 8];
        for (to, from) in bytes.iter_mut().zip(chunk) {
            *to = *from;
        }
        u64::from_le_bytes(bytes)
    });
    let mut seeds: Vec<u64> = seeds.collect();
    if seeds.is_empty() {
        seeds.push(0);
    }
    for seed in seeds {
        let event = generate::build_event(bundle, seed);
        compare(bundle, snapshot, &event);
    }
}

/// How many leading bytes of an `eval_differential` input seed its bundle.
pub const BUNDLE_SEED_BYTES: usize = 1;
/// How many events one `eval_differential` input decides at most (an input too short
/// for one decides the event of seed 0).
pub const MAX_EVENTS: usize = 2;
/// How many compiled bundles `eval_differential` keeps; past that the cache starts over.
pub const CACHED_BUNDLES: usize = 512;

type Compiled = std::rc::Rc<(Bundle, Snapshot)>;

thread_local! {
    static COMPILED: std::cell::RefCell<std::collections::HashMap<Vec<u8>, Compiled>> =
        std::cell::RefCell::default();
}

/// The generated bundle of `seed` and its snapshot, compiled on first use.
fn compiled_bundle(seed: &[u8]) -> Option<Compiled> {
    if let Some(hit) = COMPILED.with(|cache| cache.borrow().get(seed).cloned()) {
        return Some(hit);
    }
    let mut runner = seeded_runner(seed);
    let bundle = generate::bundle().new_tree(&mut runner).ok()?.current();
    let snapshot = compile_generated(&bundle);
    let compiled: Compiled = std::rc::Rc::new((bundle, snapshot));
    COMPILED.with(|cache| {
        let mut cache = cache.borrow_mut();
        if cache.len() >= CACHED_BUNDLES {
            cache.clear();
        }
        cache.insert(seed.to_vec(), compiled.clone());
    });
    Some(compiled)
}

/// Compiles a generated bundle, which must compile: the generators make only valid
/// ones.
fn compile_generated(bundle: &Bundle) -> Snapshot {
    Snapshot::compile(bundle).unwrap_or_else(|e| {
        panic!(
            "a generated bundle does not compile: {e}\n{}",
            serde_json::to_string_pretty(bundle).unwrap()
        )
    })
}

/// The indexed and the reference evaluator decide `event` alike.
fn compare(bundle: &Bundle, snapshot: &Snapshot, event: &Event) {
    let got = indexed(snapshot, event);
    let want = reference::decide(bundle, event);
    assert_eq!(
        got,
        want,
        "indexed and reference disagree\nbundle: {}\nevent: {}",
        serde_json::to_string(bundle).unwrap(),
        serde_json::to_string(event).unwrap()
    );
}
