//! Proptest strategies for random but *valid* Portcullis bundles and execution events,
//! built to make the evaluators disagree if they can.
//!
//! - The *structure* — how many organizations, groups, computers, applications and
//!   policies, and which entity each one hangs off — is drawn by proptest (vectors and
//!   [`Index`]es), so it shrinks: entities disappear, references move to the first one.
//! - The *details* of each entity come from a per-entity `u64` seed through [`Dice`].
//!   Seed 0 always gives the plainest choice (first pool entry, no optional field, no
//!   odd spelling), so shrinking a seed towards 0 simplifies the entity.
//!
//! Everything is drawn from small pools — four file hashes, three thumbprints, a few
//! certificate names, a small vocabulary of directories and files, positions 0–5, times
//! a few seconds or hours around [`NOW`] — so that events hit rules, policies tie across
//! organizations and validity windows and maintenance ends are met to the second.
//! Positions are made unique within an organization, as the compiler demands; every
//! other compiler rule is respected by construction, and the tests assert that every
//! generated bundle compiles.

use std::collections::HashSet;
use std::fmt;

use portcullis_engine::model::{
    Action, Application, Bundle, CertificateCondition, Computer, ComputerGroup, DenyOptions,
    DistinguishedName, Event, FileRule, Maintenance, MaintenanceMode, Organization, Os, Policy,
    Recipient, RuleConditions, Scope, Sha256, Signature, SignatureStatus, Signer, Timestamp,
};
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::Index;

/// The fixed "now" everything is generated around: 2026-11-22T10:00:00Z.
pub const NOW: i64 = 1_795_341_600;

/// Offsets from [`NOW`] for event times, validity windows and maintenance ends; the
/// plain choice (0) first. ±1 s meets every `<` / `<=` boundary.
pub const OFFSETS: [i64; 9] = [0, -86_400, -3_600, -60, -1, 1, 60, 3_600, 86_400];

/// [`NOW`] plus `offset` seconds.
pub fn at(offset: i64) -> Timestamp {
    Timestamp::from_unix(NOW + offset)
}

// ---------------------------------------------------------------------------------------
// Dice: seeded choices, all zero for seed 0.
// ---------------------------------------------------------------------------------------

/// A small deterministic random source (SplitMix64). Seed 0 is special: every choice
/// is the first option and every `percent` is false.
#[derive(Debug, Clone)]
pub struct Dice {
    state: u64,
    plain: bool,
}

impl Dice {
    /// Dice for one entity.
    pub fn new(seed: u64) -> Dice {
        Dice {
            state: seed,
            plain: seed == 0,
        }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 for `n <= 1` and for plain dice).
    pub fn below(&mut self, n: usize) -> usize {
        if self.plain || n <= 1 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }

    /// True with probability `p` percent (never for plain dice).
    pub fn percent(&mut self, p: u64) -> bool {
        !self.plain && self.next() % 100 < p
    }

    /// One item of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// Random bits (0 for plain dice).
    pub fn bits(&mut self) -> u64 {
        if self.plain {
            0
        } else {
            self.next()
        }
    }

    /// Shuffles in place (no-op for plain dice).
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

// ---------------------------------------------------------------------------------------
// Pools.
// ---------------------------------------------------------------------------------------

/// File hashes rules and events share.
pub const HASHES: [u8; 4] = [0x11, 0x22, 0x33, 0x44];
/// Leaf certificate thumbprints rules and events share.
pub const THUMBPRINTS: [u8; 3] = [0xa1, 0xa2, 0xa3];

/// A hash whose 32 bytes are all `byte`.
pub fn hash(byte: u8) -> Sha256 {
    Sha256([byte; 32])
}

/// Users of policies and events (compared case-insensitively, Unicode included).
pub const USERS: [&str; 6] = [
    r"ACME\alice",
    r"ACME\bob",
    "carol",
    "root",
    r"ACME\Ünal",
    "Größe",
];

const RECIPIENTS: [&str; 3] = [
    "secops@example.com",
    "SMS:+15555550100",
    "Helpdesk@Example.ORG",
];

/// An attribute kind: its spellings (names, OIDs) and the values it takes.
type AttributePool = (&'static [&'static str], &'static [&'static str]);

const CN: &[&str] = &["CN", "cn", "commonName", "2.5.4.3", "OID.2.5.4.3"];
const O: &[&str] = &["O", "o", "organizationName", "2.5.4.10"];
const OU: &[&str] = &["OU", "ou", "organizationalUnitName"];
const C: &[&str] = &["C", "c", "countryName"];

/// Subject attributes; the common name first.
const SUBJECT: [AttributePool; 4] = [
    (
        CN,
        &[
            "Contoso Ltd",
            "Fabrikam, Inc.",
            "Müller & Söhne",
            "Σοφία Software",
        ],
    ),
    (O, &["Contoso Ltd", "Fabrikam", "Müller"]),
    (OU, &["Engineering", "Release"]),
    (C, &["US", "DE"]),
];

/// Issuer attributes.
const ISSUER: [AttributePool; 2] = [
    (CN, &["Contoso Root CA", "DigiCert SHA2 Code Signing CA"]),
    (O, &["DigiCert Inc", "Contoso Ltd"]),
];

/// Windows files everyone knows, as (root, components).
const WIN_CANONICAL: &[(&str, &[&str])] = &[
    ("C:", &["Windows", "System32", "cmd.exe"]),
    ("C:", &["Windows", "System32", "notepad.exe"]),
    ("C:", &["Windows", "notepad.exe"]),
    ("C:", &["Program Files", "Contoso", "tool.exe"]),
    ("C:", &["Program Files (x86)", "Contoso", "tool.exe"]),
    (
        "C:",
        &["Users", "alice", "AppData", "Local", "Temp", "setup.exe"],
    ),
    ("C:", &["Users", "Bob", "Downloads", "setup.exe"]),
    ("C:", &["Users", "Public", "tool.exe"]),
    ("C:", &["ProgramData", "Contoso", "agent.exe"]),
    ("C:", &["Tools", "tool.exe"]),
    ("D:", &["Tools", "cmd.exe"]),
    (r"\\fileserver\share", &["Tools", "setup.exe"]),
    ("C:", &["Größe", "Ärger.exe"]),
];
const WIN_ROOTS: &[&str] = &["C:", "D:", r"\\fileserver\share"];
const WIN_DIRS: &[&str] = &["Windows", "System32", "Tools", "Temp", "Contoso", "Größe"];
const WIN_FILES: &[&str] = &[
    "cmd.exe",
    "tool.exe",
    "setup.exe",
    "notepad.exe",
    "Ärger.exe",
];

/// POSIX files everyone knows, as components under `/`.
const POSIX_CANONICAL: &[&[&str]] = &[
    &["usr", "bin", "bash"],
    &["usr", "bin", "python3"],
    &["usr", "local", "bin", "tool"],
    &["opt", "contoso", "bin", "tool"],
    &["home", "alice", "Downloads", "setup"],
    &["tmp", "setup"],
    &[
        "Applications",
        "Contoso.app",
        "Contents",
        "MacOS",
        "Contoso",
    ],
    &["bin", "bash"],
    &["Tools", "tool.exe"],
];
const POSIX_DIRS: &[&str] = &["usr", "bin", "opt", "tmp", "Tools", "grüße"];
const POSIX_FILES: &[&str] = &["bash", "tool", "Tool", "setup", "tool.exe", "grüße.sh"];

/// Windows patterns with environment tokens; their expansions are among the files
/// above.
const ENV_PATTERNS: &[&str] = &[
    r"%SystemRoot%\System32\*.exe",
    r"%SystemRoot%\notepad.exe",
    r"%windir%\System32\cmd.exe",
    r"%SystemDirectory%\*",
    r"%ProgramFiles%\Contoso\*",
    r"%ProgramFiles(x86)%\Contoso\tool.exe",
    r"%LOCALAPPDATA%\Temp\*",
    r"%TEMP%\setup.exe",
    r"%USERPROFILE%\Downloads\*",
    r"%ProgramData%\Contoso\agent.exe",
    r"%SystemDrive%\Tools\*",
    r"%HOMEDRIVE%%HOMEPATH%\AppData\Local\Temp\*.exe",
    r"%PUBLIC%\*",
    r"%APPDATA%\..\Local\Temp\setup.exe",
];

/// Regular expressions that do not derive from one path.
const WIN_REGEXES: &[&str] = &[
    r"\\(tools|temp)\\[^\\]+\.exe$",
    r"^c:\\windows\\system32\\[a-z]+\.exe$",
    r"(?i)NOTEPAD\.EXE$",
    r"^\\\\fileserver\\share\\",
    r"^[cd]:\\tools\\",
    r"größe",
];
const POSIX_REGEXES: &[&str] = &[
    r"^/usr/(local/)?bin/[a-z0-9]+$",
    r"/tmp/",
    r"^/home/[^/]+/Downloads/",
    r"\.exe$",
    r"(?i)/TOOLS?/",
    r"grüße",
];

// ---------------------------------------------------------------------------------------
// Text helpers.
// ---------------------------------------------------------------------------------------

fn upper(c: char) -> char {
    let mut u = c.to_uppercase();
    match (u.next(), u.next()) {
        (Some(u), None) => u,
        _ => c,
    }
}

fn lower(c: char) -> char {
    let mut l = c.to_lowercase();
    match (l.next(), l.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// The same text in another case: as is, lower, upper, or mixed. Only one-character
/// case mappings are used, so the text stays "the same" for a case-insensitive reader.
fn recase(d: &mut Dice, text: &str) -> String {
    match d.below(4) {
        0 => text.to_owned(),
        1 => text.chars().map(lower).collect(),
        2 => text.chars().map(upper).collect(),
        _ => {
            let bits = d.bits();
            text.chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        upper(c)
                    } else {
                        lower(c)
                    }
                })
                .collect()
        }
    }
}

/// Escapes the characters the `regex` crate treats as meta characters.
fn regex_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if r"\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// Writes a distinguished name in one of the accepted styles and parses it.
fn dn(d: &mut Dice, attributes: &[(&[&str], &str)]) -> DistinguishedName {
    let style = d.below(5);
    let mut parts = Vec::with_capacity(attributes.len());
    for &(spellings, value) in attributes {
        let kind = *d.pick(spellings);
        let value = recase(d, value);
        let value = if style == 4 {
            // OpenSSL one-line form: only `/` separates.
            value
        } else if value.contains(',') || (value.contains('&') && d.percent(30)) {
            if d.percent(50) {
                format!("\"{value}\"")
            } else {
                value.replace(',', r"\,")
            }
        } else {
            value
        };
        parts.push(match style {
            2 => format!("{kind} = {value}"),
            _ => format!("{kind}={value}"),
        });
    }
    let text = match style {
        0 => parts.join(", "),
        1 => parts.join(";"),
        2 => format!("  {}  ", parts.join(" ,  ")),
        3 => parts.join(","),
        _ => format!("/{}", parts.join("/")),
    };
    DistinguishedName::parse(&text)
        .unwrap_or_else(|e| panic!("generator bug: distinguished name `{text}`: {e}"))
}

/// `count` distinct attributes of `pool` (the first always included when `first`), in
/// random order, each with a random value.
fn attributes(
    d: &mut Dice,
    pool: &[AttributePool],
    count: usize,
    first: bool,
) -> Vec<(&'static [&'static str], &'static str)> {
    let mut kinds: Vec<usize> = (0..pool.len()).collect();
    if first {
        d.shuffle(&mut kinds[1..]);
    } else {
        d.shuffle(&mut kinds);
    }
    kinds.truncate(count.clamp(1, pool.len()));
    d.shuffle(&mut kinds);
    kinds
        .into_iter()
        .map(|k| {
            let (spellings, values) = pool[k];
            (spellings, *d.pick(values))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------
// Paths and patterns.
// ---------------------------------------------------------------------------------------

/// A path family, as the generator sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fam {
    /// `C:\…`, `\\host\share\…`.
    Windows,
    /// `/…`.
    Posix,
}

impl Fam {
    fn of(os: Os) -> Fam {
        match os {
            Os::Windows => Fam::Windows,
            Os::Linux | Os::Macos => Fam::Posix,
        }
    }

    fn other(self) -> Fam {
        match self {
            Fam::Windows => Fam::Posix,
            Fam::Posix => Fam::Windows,
        }
    }
}

/// A path as a root (`C:`, `\\host\share`, empty for POSIX) and components, the last
/// being the file.
#[derive(Debug, Clone)]
struct Base {
    fam: Fam,
    root: &'static str,
    comps: Vec<String>,
}

impl Base {
    fn sep(&self) -> &'static str {
        match self.fam {
            Fam::Windows => "\\",
            Fam::Posix => "/",
        }
    }

    fn text(&self) -> String {
        let sep = self.sep();
        format!("{}{sep}{}", self.root, self.comps.join(sep))
    }

    fn file(&self) -> &str {
        self.comps.last().map_or("", String::as_str)
    }

    fn dirs(&self) -> &[String] {
        &self.comps[..self.comps.len() - 1]
    }
}

fn base(d: &mut Dice, fam: Fam) -> Base {
    let canonical = d.below(5) < 3;
    match (fam, canonical) {
        (Fam::Windows, true) => {
            let (root, comps) = *d.pick(WIN_CANONICAL);
            Base {
                fam,
                root,
                comps: comps.iter().map(|&c| c.to_owned()).collect(),
            }
        }
        (Fam::Windows, false) => {
            let root = *d.pick(WIN_ROOTS);
            let mut comps: Vec<String> = (0..d.below(4))
                .map(|_| (*d.pick(WIN_DIRS)).to_owned())
                .collect();
            comps.push((*d.pick(WIN_FILES)).to_owned());
            Base { fam, root, comps }
        }
        (Fam::Posix, true) => Base {
            fam,
            root: "",
            comps: d
                .pick(POSIX_CANONICAL)
                .iter()
                .map(|&c| c.to_owned())
                .collect(),
        },
        (Fam::Posix, false) => {
            let mut comps: Vec<String> = (0..d.below(4))
                .map(|_| (*d.pick(POSIX_DIRS)).to_owned())
                .collect();
            comps.push((*d.pick(POSIX_FILES)).to_owned());
            Base {
                fam,
                root: "",
                comps,
            }
        }
    }
}

/// Writes Windows components with random separators (`\`, `/`, mixed, doubled).
fn join_windows(d: &mut Dice, comps: &[String]) -> String {
    let mode = d.below(3);
    let bits = d.bits();
    let doubled = d.percent(20);
    let mut out = String::new();
    for (i, comp) in comps.iter().enumerate() {
        if i > 0 {
            let sep = match mode {
                0 => '\\',
                1 => '/',
                _ if bits >> (i % 64) & 1 == 1 => '/',
                _ => '\\',
            };
            out.push(sep);
            if doubled && bits >> ((i + 17) % 64) & 1 == 1 {
                out.push(sep);
            }
        }
        out.push_str(comp);
    }
    out
}

/// Writes a Windows root: `C:` in either case, `\\host\share` with either separator.
fn windows_root(d: &mut Dice, root: &str) -> String {
    match root.strip_prefix(r"\\") {
        Some(unc) => {
            let sep = if d.percent(30) { "/" } else { "\\" };
            format!("{sep}{sep}{}", recase(d, unc).replace('\\', sep))
        }
        None => recase(d, root),
    }
}

/// An execution path in one of the spellings that normalize to `base`.
fn spell_path(d: &mut Dice, base: &Base) -> String {
    let mut comps = base.comps.clone();
    if d.percent(15) {
        let i = d.below(comps.len());
        comps.insert(i, ".".to_owned());
    }
    if d.percent(15) {
        let i = d.below(comps.len());
        let dir = match base.fam {
            Fam::Windows => *d.pick(WIN_DIRS),
            Fam::Posix => *d.pick(POSIX_DIRS),
        };
        comps.insert(i, "..".to_owned());
        comps.insert(i, dir.to_owned());
    }
    match base.fam {
        Fam::Windows => {
            if d.percent(12) {
                let tail = *d.pick(&[".", " ", ". .", ".."]);
                if let Some(last) = comps.last_mut() {
                    last.push_str(tail);
                }
            }
            if d.percent(10) && comps.len() > 1 {
                // A folder name with a trailing dot (trimmed once) or space (kept).
                let i = d.below(comps.len() - 1);
                if comps[i] != "." && comps[i] != ".." {
                    let tail = *d.pick(&[".", " ", "..", ". "]);
                    comps[i].push_str(tail);
                }
            }
            let comps: Vec<String> = comps.iter().map(|c| recase(d, c)).collect();
            let rest = join_windows(d, &comps);
            let sep = if d.percent(20) { "/" } else { "\\" };
            if let Some(unc) = base.root.strip_prefix(r"\\") {
                if d.percent(15) {
                    let unc = recase(d, unc);
                    let prefix = *d.pick(&["UNC", "unc"]);
                    return format!(r"\\?\{prefix}\{unc}{sep}{rest}");
                }
            } else if d.percent(15) {
                let prefix = *d.pick(&[r"\\?\", r"\\.\", r"\??\", "//?/"]);
                let root = windows_root(d, base.root);
                return format!("{prefix}{root}{sep}{rest}");
            }
            let root = windows_root(d, base.root);
            format!("{root}{sep}{rest}")
        }
        Fam::Posix => {
            if d.percent(5) {
                // Another case is another file on POSIX systems.
                let i = d.below(comps.len());
                comps[i] = recase(d, &comps[i]);
            }
            let bits = d.bits();
            let doubled = d.percent(20);
            let mut out = String::new();
            for (i, comp) in comps.iter().enumerate() {
                out.push('/');
                if doubled && bits >> (i % 64) & 1 == 1 {
                    out.push('/');
                }
                out.push_str(comp);
            }
            if d.percent(5) {
                out.push('/');
            }
            out
        }
    }
}

/// A path that cannot be normalized (or belongs to the other family).
fn broken_path(d: &mut Dice, fam: Fam) -> String {
    let windows: &[&str] = &[
        "",
        r"C:\..\Windows\cmd.exe",
        r"c:/Windows/../../cmd.exe",
        r"Windows\System32\cmd.exe",
        r"\Windows\System32\cmd.exe",
        r"C:Tools\tool.exe",
        "C:\\Tools\\to\0ol.exe",
        r"\\fileserver\share\..\..\setup.exe",
        r"\\?\UNC\fileserver",
        "/usr/bin/bash",
    ];
    let posix: &[&str] = &[
        "",
        "/../usr/bin/bash",
        "/usr/../../bin/bash",
        "usr/bin/bash",
        "./bin/bash",
        "/tmp/se\0tup",
        r"C:\Tools\tool.exe",
    ];
    let pool = match fam {
        Fam::Windows => windows,
        Fam::Posix => posix,
    };
    (*d.pick(pool)).to_owned()
}

/// An event path for a computer of family `fam`: mostly a normal spelling of a known
/// file, sometimes the other family's, sometimes unnormalizable.
fn event_path(d: &mut Dice, fam: Fam) -> String {
    if d.percent(5) {
        return broken_path(d, fam);
    }
    let fam = if d.percent(4) { fam.other() } else { fam };
    let b = base(d, fam);
    spell_path(d, &b)
}

/// A glob written from root (or `None` for a glob starting with a wildcard) and
/// components, spelled at random.
fn spell_glob(d: &mut Dice, fam: Fam, root: Option<&'static str>, comps: &[String]) -> String {
    let mut comps = comps.to_vec();
    if d.percent(10) && !comps.is_empty() {
        let i = 1 + d.below(comps.len());
        if i < comps.len() {
            comps.insert(i, ".".to_owned());
        }
    }
    let text = match fam {
        Fam::Windows => {
            if d.percent(8) {
                // A trailing dot or space on a literal name: trimmed as Win32 does
                // (a folder keeps a space), or kept under a `\\?\` prefix.
                let i = d.below(comps.len());
                if !comps[i].contains(['*', '?']) && comps[i] != "." {
                    let tail = *d.pick(&[".", " ", ".."]);
                    comps[i].push_str(tail);
                }
            }
            let comps: Vec<String> = comps.iter().map(|c| recase(d, c)).collect();
            let rest = join_windows(d, &comps);
            match root {
                Some(root) if !root.starts_with('\\') && d.percent(5) => {
                    format!(r"\\?\{}\{}", windows_root(d, root), rest.replace('/', "\\"))
                }
                Some(root) => {
                    let root = windows_root(d, root);
                    let sep = if d.percent(20) { "/" } else { "\\" };
                    format!("{root}{sep}{rest}")
                }
                None => rest,
            }
        }
        Fam::Posix => {
            let doubled = d.percent(15);
            let sep = if doubled { "//" } else { "/" };
            match root {
                Some(_) => format!("{sep}{}", comps.join(sep)),
                None => comps.join(sep),
            }
        }
    };
    if d.percent(5) {
        text.replace('*', "**")
    } else {
        text
    }
}

/// A path pattern (for `path`, `process` or `created_by`).
fn pattern(d: &mut Dice) -> String {
    let fam = if d.below(5) < 3 {
        Fam::Windows
    } else {
        Fam::Posix
    };
    let b = base(d, fam);
    let root = Some(b.root);
    let star = || "*".to_owned();
    let file = b.file().to_owned();
    let dirs = b.dirs().to_vec();
    match d.below(11) {
        // Literal.
        0 => spell_glob(d, fam, root, &b.comps),
        // Prefix: `C:\Windows\*`.
        1 => {
            let k = d.below(b.comps.len());
            let mut comps = b.comps[..k].to_vec();
            comps.push(star());
            spell_glob(d, fam, root, &comps)
        }
        // Suffix: `*\cmd.exe`, `*.exe`, `*\System32\cmd.exe`.
        2 => match d.below(3) {
            0 => spell_glob(d, fam, None, &[star(), file]),
            1 => {
                let ext: String = match file.rfind('.') {
                    Some(i) => file[i..].to_owned(),
                    None => {
                        let chars: Vec<char> = file.chars().collect();
                        chars[chars.len().saturating_sub(2)..].iter().collect()
                    }
                };
                spell_glob(d, fam, None, &[format!("*{ext}")])
            }
            _ => {
                let mut comps = vec![star()];
                comps.extend(dirs.last().cloned());
                comps.push(file);
                spell_glob(d, fam, None, &comps)
            }
        },
        // A wildcard in the middle: `C:\*\System32\cmd.exe`.
        3 if !dirs.is_empty() => {
            let mut comps = b.comps.clone();
            let i = d.below(dirs.len());
            comps[i] = star();
            spell_glob(d, fam, root, &comps)
        }
        // `?` for one character of the file (or a directory).
        4 | 3 => {
            let mut comps = b.comps.clone();
            let i = if d.percent(70) || dirs.is_empty() {
                comps.len() - 1
            } else {
                d.below(dirs.len())
            };
            let chars: Vec<char> = comps[i].chars().collect();
            let at = d.below(chars.len());
            comps[i] = chars
                .iter()
                .enumerate()
                .map(|(j, &c)| if j == at { '?' } else { c })
                .collect();
            spell_glob(d, fam, root, &comps)
        }
        // A star in the file name: `C:\Windows\System32\*.exe`, `C:\Tools\t*`.
        5 => {
            let mut comps = b.comps.clone();
            let name = match file.rfind('.') {
                Some(i) if d.percent(60) => format!("*{}", &file[i..]),
                _ => format!("{}*", file.chars().next().unwrap_or('x')),
            };
            if let Some(last) = comps.last_mut() {
                *last = name;
            }
            spell_glob(d, fam, root, &comps)
        }
        // A regular expression.
        6 => {
            let (sep, fixed) = match fam {
                Fam::Windows => (r"\\", WIN_REGEXES),
                Fam::Posix => ("/", POSIX_REGEXES),
            };
            let form = d.below(5);
            let body = match form {
                0 => format!("^{}$", regex_escape(&b.text())),
                1 => format!("{sep}{}$", regex_escape(&file)),
                2 => {
                    let mut prefix = Base {
                        comps: b.comps[..1].to_vec(),
                        ..b.clone()
                    }
                    .text();
                    prefix.push_str(b.sep());
                    format!("^{}", regex_escape(&prefix))
                }
                3 => regex_escape(&dirs.first().cloned().unwrap_or(file)),
                _ => (*d.pick(fixed)).to_owned(),
            };
            let body = if fam == Fam::Windows && form < 4 {
                // Escaped paths only: other escapes and flags must keep their case.
                recase(d, &body.replace(r"\\", "\u{0}")).replace('\u{0}', r"\\")
            } else {
                body
            };
            format!("regex:{body}")
        }
        // Environment tokens (Windows), or a directory anywhere (POSIX).
        7 => match fam {
            Fam::Windows => {
                let text = *d.pick(ENV_PATTERNS);
                let text = recase(d, text);
                if d.percent(30) {
                    text.replace('\\', "/")
                } else {
                    text
                }
            }
            Fam::Posix => {
                let dir = dirs.last().cloned().unwrap_or_else(|| "bin".to_owned());
                spell_glob(d, fam, None, &[star(), dir, star()])
            }
        },
        // An inner literal: `*\Tools\*`, across families: `*/bin/*` is a Windows glob
        // too.
        8 => {
            let dir = dirs.first().cloned().unwrap_or_else(|| file.clone());
            let glob = spell_glob(d, fam, None, &[star(), dir, star()]);
            if d.percent(30) {
                glob.replace('/', "\\")
            } else {
                glob
            }
        }
        // Everything.
        9 if d.percent(20) => "*".to_owned(),
        // Literal again.
        _ => spell_glob(d, fam, root, &b.comps),
    }
}

// ---------------------------------------------------------------------------------------
// Bundle entities.
// ---------------------------------------------------------------------------------------

fn recipients(d: &mut Dice) -> Vec<Recipient> {
    let mut list: Vec<&str> = RECIPIENTS.to_vec();
    d.shuffle(&mut list);
    list.truncate(1 + d.below(2));
    list.iter()
        .map(|r| Recipient::parse(r).unwrap_or_else(|e| panic!("generator bug: `{r}`: {e}")))
        .collect()
}

/// End-user options of a deny, valid per the compiler: `allow_request` needs
/// `notify_user`, `notify` needs `allow_request`.
fn deny_options(d: &mut Dice) -> Option<DenyOptions> {
    let (notify_user, allow_request, notify) = match d.below(5) {
        0 => return None,
        1 => (false, false, Vec::new()),
        2 => (true, false, Vec::new()),
        3 => (true, true, Vec::new()),
        _ => (true, true, recipients(d)),
    };
    Some(DenyOptions {
        notify_user,
        allow_request,
        notify,
    })
}

fn certificate(d: &mut Dice) -> CertificateCondition {
    match d.below(4) {
        0 => CertificateCondition {
            thumbprint: Some(hash(*d.pick(&THUMBPRINTS))),
            subject: None,
            issuer: None,
        },
        form => {
            let count = 1 + d.below(2);
            let subject = attributes(d, &SUBJECT, count, false);
            let issuer = (form == 2).then(|| {
                let count = 1 + d.below(2);
                attributes(d, &ISSUER, count, false)
            });
            CertificateCondition {
                thumbprint: None,
                subject: Some(dn(d, &subject)),
                issuer: issuer.map(|i| dn(d, &i)),
            }
        }
    }
}

/// One file rule, mixing conditions.
pub fn rule(seed: u64) -> FileRule {
    let d = &mut Dice::new(seed);
    let (sha, cert, mut path, process, created_by) = match d.below(9) {
        0 => (true, false, false, false, false),
        1 => (false, true, false, false, false),
        2 | 3 => (false, false, true, false, false),
        4 => (true, false, true, false, false),
        5 => (false, true, true, false, false),
        6 => (false, false, d.percent(50), true, false),
        7 => (false, false, d.percent(50), false, true),
        _ => (
            d.percent(30),
            d.percent(30),
            d.percent(60),
            d.percent(30),
            d.percent(30),
        ),
    };
    if !(sha || cert || path || process || created_by) {
        path = true;
    }
    let sha256 = sha.then(|| hash(*d.pick(&HASHES)));
    let conditions = RuleConditions {
        certificate: cert.then(|| Box::new(certificate(d))),
        path: path.then(|| pattern(d).into()),
        process: process.then(|| pattern(d).into()),
        created_by: created_by.then(|| pattern(d).into()),
    };
    // As a bundle reads it: no box when there is nothing besides the hash.
    let conditions = (conditions != RuleConditions::default()).then(|| Box::new(conditions));
    FileRule { sha256, conditions }
}

/// The shape of a bundle; [`build_bundle`] turns it into a valid bundle.
#[derive(Debug, Clone)]
pub struct BundleSpec {
    /// Per organization: its parent among the earlier ones (`None`: a root), and a seed.
    pub orgs: Vec<(Option<Index>, u64)>,
    /// Per group: its organization.
    pub groups: Vec<Index>,
    /// Per computer: its group, and a seed (operating system, maintenance).
    pub computers: Vec<(Index, u64)>,
    /// Per application: its organization, and a seed per rule.
    pub apps: Vec<(Index, Vec<u64>)>,
    /// Per policy: its owning organization, and a seed.
    pub policies: Vec<(Index, u64)>,
}

/// Bundles of 1–6 organizations (1–4 levels), 1–6 groups, 1–8 computers, 1–10
/// applications and 0–16 policies.
pub fn bundle_spec() -> impl Strategy<Value = BundleSpec> {
    (
        vec(
            (
                proptest::option::weighted(0.85, any::<Index>()),
                any::<u64>(),
            ),
            1..=6,
        ),
        vec(any::<Index>(), 1..=6),
        vec((any::<Index>(), any::<u64>()), 1..=8),
        vec((any::<Index>(), vec(any::<u64>(), 1..=3)), 1..=10),
        vec((any::<Index>(), any::<u64>()), 0..=16),
    )
        .prop_map(|(orgs, groups, computers, apps, policies)| BundleSpec {
            orgs,
            groups,
            computers,
            apps,
            policies,
        })
}

/// Valid bundles.
pub fn bundle() -> impl Strategy<Value = Bundle> {
    bundle_spec().prop_map(|spec| build_bundle(&spec))
}

fn org_id(o: usize) -> String {
    format!("org-{o}")
}

/// The organization tree of a bundle, by index.
struct Tree {
    ids: Vec<String>,
    parent: Vec<Option<usize>>,
}

impl Tree {
    fn of(bundle: &Bundle) -> Tree {
        let ids: Vec<String> = bundle.organizations.iter().map(|o| o.id.clone()).collect();
        let parent = bundle
            .organizations
            .iter()
            .map(|o| {
                o.parent
                    .as_ref()
                    .and_then(|p| ids.iter().position(|id| id == p))
            })
            .collect();
        Tree { ids, parent }
    }

    fn index(&self, id: &str) -> Option<usize> {
        self.ids.iter().position(|o| o == id)
    }

    /// The organization and its ancestors.
    fn chain(&self, o: usize) -> Vec<usize> {
        let mut chain = vec![o];
        while let Some(p) = self.parent[*chain.last().unwrap_or(&o)] {
            if chain.contains(&p) {
                break;
            }
            chain.push(p);
        }
        chain
    }

    /// The organization owning a policy, by its scope.
    fn owner(&self, bundle: &Bundle, scope: &Scope) -> Option<usize> {
        let group_org = |g: &str| {
            bundle
                .groups
                .iter()
                .find(|x| x.id == g)
                .map(|x| x.organization.clone())
        };
        let org = match scope {
            Scope::Computer(c) => bundle
                .computers
                .iter()
                .find(|x| x.id == *c)
                .and_then(|x| group_org(&x.group))?,
            Scope::Group(g) => group_org(g)?,
            Scope::Organization(o) | Scope::Global(o) => o.clone(),
        };
        self.index(&org)
    }
}

/// Turns a spec into a bundle that compiles.
pub fn build_bundle(spec: &BundleSpec) -> Bundle {
    let mut bundle = Bundle::new();

    // Organizations: a forest of at most four levels.
    let mut parents: Vec<Option<usize>> = Vec::new();
    let mut depth: Vec<usize> = Vec::new();
    for (o, (parent, seed)) in spec.orgs.iter().enumerate() {
        let d = &mut Dice::new(*seed);
        let mut parent = if o == 0 {
            None
        } else {
            parent.as_ref().map(|p| p.index(o))
        };
        while let Some(p) = parent.filter(|&p| depth[p] >= 3) {
            parent = parents[p];
        }
        depth.push(parent.map_or(0, |p| depth[p] + 1));
        parents.push(parent);
        bundle.organizations.push(Organization {
            id: org_id(o),
            name: format!("Organization {o}"),
            parent: parent.map(org_id),
            default_deny: deny_options(d),
        });
    }
    let n_orgs = spec.orgs.len();

    for (g, org) in spec.groups.iter().enumerate() {
        bundle.groups.push(ComputerGroup {
            id: format!("group-{g}"),
            organization: org_id(org.index(n_orgs)),
            name: format!("Group {g}"),
        });
    }
    for (c, (group, seed)) in spec.computers.iter().enumerate() {
        let d = &mut Dice::new(*seed);
        let os = *d.pick(&[Os::Windows, Os::Linux, Os::Macos]);
        let maintenance = d.percent(35).then(|| Maintenance {
            mode: *d.pick(&[
                MaintenanceMode::Monitor,
                MaintenanceMode::Learning,
                MaintenanceMode::Installation,
            ]),
            until: at(*d.pick(&OFFSETS)),
        });
        bundle.computers.push(Computer {
            id: format!("pc-{c}"),
            group: format!("group-{}", group.index(spec.groups.len())),
            name: format!("PC-{c}"),
            os,
            maintenance,
        });
    }
    for (a, (org, rules)) in spec.apps.iter().enumerate() {
        bundle.applications.push(Application {
            id: format!("app-{a}"),
            organization: org_id(org.index(n_orgs)),
            name: format!("Application {a}"),
            rules: rules.iter().map(|&seed| rule(seed)).collect(),
        });
    }
    let policies = spec
        .policies
        .iter()
        .enumerate()
        .map(|(p, (owner, seed))| (format!("p-{p}"), owner.index(n_orgs), *seed, false))
        .collect::<Vec<_>>();
    add_policies(&mut bundle, &policies);
    bundle
}

/// Adds policies `(id, owning organization index, seed, owner forced)`, skipping those
/// whose owner sees no application; positions are made unique within each
/// organization. An owner not forced is often replaced by one that matters to a
/// computer.
fn add_policies(bundle: &mut Bundle, policies: &[(String, usize, u64, bool)]) {
    let tree = Tree::of(bundle);
    let mut taken: HashSet<(usize, i64)> = bundle
        .policies
        .iter()
        .filter_map(|p| Some((tree.owner(bundle, &p.scope)?, p.position)))
        .collect();
    for (id, o, seed, forced) in policies {
        let d = &mut Dice::new(*seed);
        // Mostly an organization some computer sees policies of: its own or an
        // ancestor.
        let o = match bundle.computers.len() {
            n if n > 0 && !forced && d.percent(70) => {
                let computer = &bundle.computers[d.below(n)];
                let org = bundle
                    .groups
                    .iter()
                    .find(|g| g.id == computer.group)
                    .and_then(|g| tree.index(&g.organization));
                match org {
                    Some(org) => *d.pick(&tree.chain(org)),
                    None => *o,
                }
            }
            _ => *o,
        };
        let org = &tree.ids[o];
        let chain = tree.chain(o);
        let visible: Vec<&str> = bundle
            .applications
            .iter()
            .filter(|a| {
                tree.index(&a.organization)
                    .is_some_and(|i| chain.contains(&i))
            })
            .map(|a| a.id.as_str())
            .collect();
        if visible.is_empty() {
            continue;
        }
        let groups: Vec<&str> = bundle
            .groups
            .iter()
            .filter(|g| g.organization == *org)
            .map(|g| g.id.as_str())
            .collect();
        let computers: Vec<&str> = bundle
            .computers
            .iter()
            .filter(|c| groups.contains(&c.group.as_str()))
            .map(|c| c.id.as_str())
            .collect();
        let scope = match d.below(4) {
            1 => Scope::Global(org.clone()),
            2 if !groups.is_empty() => Scope::Group((*d.pick(&groups)).to_owned()),
            3 if !computers.is_empty() => Scope::Computer((*d.pick(&computers)).to_owned()),
            _ => Scope::Organization(org.clone()),
        };
        let mut position = d.below(6) as i64;
        while !taken.insert((o, position)) {
            position += 1;
        }
        let count = 1 + d.below(3) * usize::from(d.percent(50));
        let mut applications: Vec<String> = Vec::with_capacity(count);
        for _ in 0..count {
            let app = (*d.pick(&visible)).to_owned();
            // A repeated target is valid but rare.
            if !applications.contains(&app) || d.percent(10) {
                applications.push(app);
            }
        }
        let action = if d.below(100) < 55 {
            Action::Permit
        } else {
            Action::Deny
        };
        let elevate = action == Action::Permit && d.percent(35);
        let users = d.percent(25).then(|| {
            let mut users: Vec<&str> = USERS.to_vec();
            d.shuffle(&mut users);
            users.truncate(1 + d.below(3));
            users.iter().map(|u| recase(d, u)).collect::<Vec<_>>()
        });
        let mut not_before = d.percent(15).then(|| *d.pick(&OFFSETS));
        let mut expires = d.percent(15).then(|| *d.pick(&OFFSETS));
        if let (Some(start), Some(end)) = (not_before, expires) {
            if start == end {
                expires = None;
            } else if start > end {
                (not_before, expires) = (Some(end), Some(start));
            }
        }
        let enabled = !d.percent(12);
        let on_deny = match action {
            Action::Deny => deny_options(d),
            Action::Permit => None,
        };
        bundle.policies.push(Policy {
            id: id.clone(),
            scope,
            position,
            applications,
            action,
            elevate,
            users,
            not_before: not_before.map(at),
            expires: expires.map(at),
            enabled,
            on_deny,
        });
    }
}

// ---------------------------------------------------------------------------------------
// Events.
// ---------------------------------------------------------------------------------------

fn signer(d: &mut Dice) -> Signer {
    let count = 1 + d.below(4);
    let subject = attributes(d, &SUBJECT, count, true);
    let issuer = !d.percent(25);
    Signer {
        subject: dn(d, &subject),
        issuer: issuer.then(|| {
            let count = 1 + d.below(2);
            let attrs = attributes(d, &ISSUER, count, true);
            dn(d, &attrs)
        }),
        thumbprint: (!d.percent(15)).then(|| {
            if d.percent(10) {
                hash(0xaf)
            } else {
                hash(*d.pick(&THUMBPRINTS))
            }
        }),
    }
}

/// An execution event on one of the bundle's computers (sometimes an unknown one).
pub fn build_event(bundle: &Bundle, seed: u64) -> Event {
    let d = &mut Dice::new(seed);
    let (computer, fam) = if bundle.computers.is_empty() || d.percent(4) {
        (
            "pc-unknown".to_owned(),
            *d.pick(&[Fam::Windows, Fam::Posix]),
        )
    } else {
        let c = d.pick(&bundle.computers);
        (c.id.clone(), Fam::of(c.os))
    };
    let user = *d.pick(&USERS);
    let user = recase(d, user);
    let mut path = event_path(d, fam);
    let mut sha256 = if d.percent(10) {
        hash(0xee)
    } else {
        hash(*d.pick(&HASHES))
    };
    let mut status = *d.pick(&[
        SignatureStatus::Unsigned,
        SignatureStatus::Valid,
        SignatureStatus::Valid,
        SignatureStatus::Invalid,
    ]);
    let mut signers: Vec<Signer> = if status != SignatureStatus::Unsigned || d.percent(10) {
        (0..1 + d.below(2)).map(|_| signer(d)).collect()
    } else {
        Vec::new()
    };
    let mut parent = d.percent(60).then(|| event_path(d, fam));
    let mut created_by = d.percent(40).then(|| event_path(d, fam));

    // Half the time, aim at a rule the computer can see: take its hash, a signer that
    // satisfies its certificate condition, and paths its patterns match.
    if let Some(rule) = d.percent(50).then(|| aim(d, bundle, &computer)).flatten() {
        if let Some(h) = rule.sha256 {
            sha256 = h;
        }
        if let Some(condition) = rule.certificate() {
            if !d.percent(10) {
                status = SignatureStatus::Valid;
            }
            let leaf = satisfying_signer(d, condition);
            signers.insert(0, leaf);
        }
        match_paths(d, &rule, fam, &mut path, &mut parent, &mut created_by);
        // Sometimes a second rule's paths too: the hash or signer names one
        // application and the paths another, so policies of both compete, and a path
        // rule's policy (often a deny) may come before the one the hash gives.
        if let Some(second) = d.percent(30).then(|| aim(d, bundle, &computer)).flatten() {
            match_paths(d, &second, fam, &mut path, &mut parent, &mut created_by);
            if d.percent(15) {
                // And one of them unreadable: a deny must still fail closed.
                match d.below(3) {
                    0 => path = broken_path(d, fam),
                    1 => parent = Some(broken_path(d, fam)),
                    _ => created_by = Some(broken_path(d, fam)),
                }
            }
        }
    }
    let elevation = d.percent(30);
    let time = at(*d.pick(&OFFSETS));
    Event {
        computer,
        user,
        path,
        sha256,
        signature: Signature { status, signers },
        size: None,
        authenticode_digest: None,
        parent,
        created_by,
        elevation,
        time,
    }
}

/// Makes the event's path, parent and creator ones the patterns of `rule` match,
/// where it has patterns (and they can be instantiated).
fn match_paths(
    d: &mut Dice,
    rule: &FileRule,
    fam: Fam,
    path: &mut String,
    parent: &mut Option<String>,
    created_by: &mut Option<String>,
) {
    if let Some(p) = rule.path().and_then(|p| instantiate(d, p, fam)) {
        *path = p;
    }
    if let Some(p) = rule.process() {
        *parent = instantiate(d, p, fam).or(parent.take());
    }
    if let Some(p) = rule.created_by() {
        *created_by = instantiate(d, p, fam).or(created_by.take());
    }
}

/// A rule of an application the computer can see (any application for an unknown
/// computer).
fn aim(d: &mut Dice, bundle: &Bundle, computer: &str) -> Option<FileRule> {
    let tree = Tree::of(bundle);
    let chain = bundle
        .computers
        .iter()
        .find(|c| c.id == computer)
        .and_then(|c| bundle.groups.iter().find(|g| g.id == c.group))
        .and_then(|g| tree.index(&g.organization))
        .map(|o| tree.chain(o));
    let apps: Vec<&Application> = bundle
        .applications
        .iter()
        .filter(|a| match (&chain, tree.index(&a.organization)) {
            (Some(chain), Some(o)) => chain.contains(&o),
            (None, _) => true,
            (Some(_), None) => false,
        })
        .collect();
    if apps.is_empty() {
        return None;
    }
    let app = *d.pick(&apps);
    if app.rules.is_empty() {
        return None;
    }
    Some(d.pick(&app.rules).clone())
}

/// A path a glob pattern matches, more or less: environment tokens expanded, each `*`
/// replaced by some text, each `?` by one character. `None` for a regular expression.
fn instantiate(d: &mut Dice, pattern: &str, fam: Fam) -> Option<String> {
    if pattern.starts_with("regex:") {
        return None;
    }
    let text = match fam {
        Fam::Windows => portcullis_engine::path::env::expand(pattern)
            .ok()?
            .into_owned(),
        Fam::Posix => pattern.to_owned(),
    };
    let mut out = String::with_capacity(text.len() + 16);
    for (i, c) in text.chars().enumerate() {
        match (c, fam) {
            ('*', Fam::Windows) if i == 0 => {
                out.push_str(d.pick::<&str>(&[r"C:\Tools", "D:", r"\\fileserver\share", r"C:\"]))
            }
            ('*', Fam::Posix) if i == 0 => {
                out.push_str(d.pick::<&str>(&["/opt", "", "/usr/local"]))
            }
            ('*', Fam::Windows) => {
                out.push_str(d.pick::<&str>(&["", "Tools", "a.b", r"x\y", "Ärger"]))
            }
            ('*', Fam::Posix) => {
                out.push_str(d.pick::<&str>(&["", "Tools", "a.b", "x/y", "grüße"]))
            }
            ('?', _) => out.push(*d.pick(&['x', 'E', 'ö', '.'])),
            (c, _) => out.push(c),
        }
    }
    Some(if fam == Fam::Windows && d.percent(50) {
        recase(d, &out)
    } else {
        out
    })
}

/// A valid leaf signer that satisfies `condition` (its attributes re-spelled, in
/// another order, with extra ones).
fn satisfying_signer(d: &mut Dice, condition: &CertificateCondition) -> Signer {
    let respell = |d: &mut Dice, name: &DistinguishedName, pool: &[AttributePool]| {
        let mut parts: Vec<(String, String)> = name
            .attributes()
            .map(|(kind, value, _)| (kind.name().to_owned(), value.to_owned()))
            .collect();
        if d.percent(60) {
            let (spellings, values) = *d.pick(pool);
            parts.push((
                (*d.pick(spellings)).to_owned(),
                (*d.pick(values)).to_owned(),
            ));
        }
        d.shuffle(&mut parts);
        let text = parts
            .iter()
            .map(|(kind, value)| {
                let value = recase(d, value);
                if value.contains(',') {
                    format!("{kind}=\"{value}\"")
                } else {
                    format!("{kind}={value}")
                }
            })
            .collect::<Vec<_>>()
            .join(", ");
        DistinguishedName::parse(&text)
            .unwrap_or_else(|e| panic!("generator bug: distinguished name `{text}`: {e}"))
    };
    let mut leaf = signer(d);
    if let Some(thumbprint) = condition.thumbprint {
        leaf.thumbprint = Some(thumbprint);
    }
    if let Some(subject) = &condition.subject {
        leaf.subject = respell(d, subject, &SUBJECT);
    }
    if let Some(issuer) = &condition.issuer {
        leaf.issuer = Some(respell(d, issuer, &ISSUER));
    }
    leaf
}

// ---------------------------------------------------------------------------------------
// Cases.
// ---------------------------------------------------------------------------------------

/// A bundle and events on it; `Debug` prints JSON so that a failing case can be saved.
#[derive(Clone)]
pub struct Case {
    /// A bundle that compiles.
    pub bundle: Bundle,
    /// Events on it.
    pub events: Vec<Event>,
}

fn json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|e| format!("<not serializable: {e}>"))
}

impl fmt::Debug for Case {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "bundle:\n{}\nevents:\n{}",
            json(&self.bundle),
            json(&self.events)
        )
    }
}

/// A bundle with `events` events on it.
pub fn case(events: usize) -> impl Strategy<Value = Case> {
    (bundle_spec(), vec(any::<u64>(), events)).prop_map(|(spec, seeds)| {
        let bundle = build_bundle(&spec);
        let events = seeds.iter().map(|&s| build_event(&bundle, s)).collect();
        Case { bundle, events }
    })
}

/// Two bundles that differ only in one organization's entries, and events on both.
#[derive(Clone)]
pub struct Change {
    /// The bundle deployed first.
    pub before: Bundle,
    /// The bundle deployed second.
    pub after: Bundle,
    /// The organization whose entries changed.
    pub organization: String,
    /// Events on both.
    pub events: Vec<Event>,
}

impl fmt::Debug for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "changed organization: {}\nbefore:\n{}\nafter:\n{}\nevents:\n{}",
            self.organization,
            json(&self.before),
            json(&self.after),
            json(&self.events)
        )
    }
}

/// A bundle, and a second one in which one organization's policies are replaced (and,
/// sometimes, its applications' rules and its default deny redrawn, ids kept).
pub fn change(events: usize) -> impl Strategy<Value = Change> {
    (
        bundle_spec(),
        any::<Index>(),
        vec(any::<u64>(), 0..=8),
        any::<u64>(),
        vec(any::<u64>(), events),
    )
        .prop_map(|(spec, org, policies, seed, seeds)| {
            let before = build_bundle(&spec);
            let tree = Tree::of(&before);
            let o = org.index(tree.ids.len());
            let organization = tree.ids[o].clone();
            let mut after = before.clone();
            after
                .policies
                .retain(|p| tree.owner(&before, &p.scope) != Some(o));
            let d = &mut Dice::new(seed);
            if d.percent(30) {
                for app in after
                    .applications
                    .iter_mut()
                    .filter(|a| a.organization == organization)
                {
                    let count = 1 + d.below(3);
                    app.rules = (0..count).map(|_| rule(d.bits())).collect();
                }
            }
            if d.percent(30) {
                after.organizations[o].default_deny = deny_options(d);
            }
            let new: Vec<(String, usize, u64, bool)> = policies
                .iter()
                .enumerate()
                .map(|(p, &s)| (format!("q-{p}"), o, s, true))
                .collect();
            add_policies(&mut after, &new);
            let events = seeds.iter().map(|&s| build_event(&after, s)).collect();
            Change {
                before,
                after,
                organization,
                events,
            }
        })
}
