//! Properties: equivalent spellings agree, normalization is idempotent and stays under
//! its root, the glob matcher agrees with naive matchers, and the set agrees with
//! checking every pattern.

use proptest::prelude::*;
use proptest::sample::select;

use crate::path::pattern::glob_match;
use crate::path::{
    fold_char, normalize, Family, Pattern, PatternSetBuilder, SetScratch, Strategy as Index,
};

/// A file name that is already canonical on both families: no `.`/`..`, no trailing
/// dot or space, no separators.
fn name() -> impl Strategy<Value = String> {
    "[a-zA-Zé ΣσςÉ0-9._-]{0,3}[a-zA-ZéΣσςÉ0-9_-]"
}

fn windows_case(s: &str, mode: u8) -> String {
    s.chars()
        .map(|c| {
            let changed: Vec<char> = match mode {
                1 => c.to_uppercase().collect(),
                2 => c.to_lowercase().collect(),
                _ => vec![c],
            };
            match changed[..] {
                [single] => single,
                _ => c,
            }
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Respelling {
    separator: &'static str,
    dots_before: usize,
    detour: Option<String>,
    case: u8,
    trailing: String,
}

fn respelling(windows: bool) -> impl Strategy<Value = Respelling> {
    let separators: Vec<&'static str> = if windows {
        vec!["\\", "/", "\\\\", "/\\", "//"]
    } else {
        vec!["/", "//", "///"]
    };
    (
        select(separators),
        0usize..3,
        proptest::option::of(name()),
        0u8..3,
        if windows { "[. ]{0,3}" } else { "" },
    )
        .prop_map(
            |(separator, dots_before, detour, case, trailing)| Respelling {
                separator,
                dots_before,
                detour,
                case,
                trailing: trailing.to_string(),
            },
        )
}

/// How a Windows name is read, which decides which trailing dots and spaces an
/// equivalent spelling may add.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reading {
    /// Not Windows: nothing may be added.
    Posix,
    /// `\\?\` or `\??\`: nothing is trimmed, so nothing may be added.
    Verbatim,
    /// Win32: one dot after a name a separator follows, anything after the last name.
    Win32,
}

/// Spells `components` with the detours of each [`Respelling`]; `last_trimmed` says
/// whether the last name is followed by nothing (so Win32 trims all its trailing dots
/// and spaces) rather than by a separator.
fn respell(components: &[(String, Respelling)], reading: Reading, last_trimmed: bool) -> String {
    let mut out = String::new();
    for (i, (component, how)) in components.iter().enumerate() {
        let sep = how.separator;
        for _ in 0..how.dots_before {
            out.push_str(sep);
            out.push('.');
        }
        if let Some(detour) = &how.detour {
            out.push_str(sep);
            out.push_str(detour);
            out.push_str(sep);
            out.push_str("..");
        }
        out.push_str(sep);
        if reading == Reading::Posix {
            out.push_str(component);
            continue;
        }
        out.push_str(&windows_case(component, how.case));
        let last = i + 1 == components.len();
        match reading {
            Reading::Win32 if last && last_trimmed => out.push_str(&how.trailing),
            // Win32 removes a single dot from a name a separator follows; a name from
            // `name()` never ends in one already.
            Reading::Win32 if !how.trailing.is_empty() => out.push('.'),
            _ => {}
        }
    }
    out
}

fn fold(s: &str) -> String {
    s.chars().map(fold_char).collect()
}

#[derive(Debug, Clone)]
enum WinRoot {
    Drive(char),
    Unc(String, String),
}

fn win_root() -> impl Strategy<Value = WinRoot> {
    prop_oneof![
        proptest::char::range('a', 'z').prop_flat_map(|c| {
            prop_oneof![Just(c), Just(c.to_ascii_uppercase())].prop_map(WinRoot::Drive)
        }),
        (name(), name())
            .prop_filter("`?` is not a host", |(h, _)| h != "?")
            .prop_map(|(h, s)| WinRoot::Unc(h, s)),
    ]
}

/// Whether Windows reads a path verbatim, trimming no name.
fn is_verbatim(raw: &str) -> bool {
    raw.starts_with(r"\\?\") || raw.starts_with(r"\??\")
}

/// Whether a Windows name ends in exactly one dot (`a.`, ` .`, but not `a..` or `...`),
/// the only ending Win32 normalization removes from a name a separator follows.
fn ends_in_single_dot(name: &str) -> bool {
    name.len() >= 2 && name.ends_with('.') && !name.ends_with("..")
}

/// Whether a normalized Windows path has a name that Win32 normalization would change
/// if the path were normalized again: only paths read verbatim have one.
fn has_single_dot_name(path: &str) -> bool {
    path.split('\\').any(ends_in_single_dot)
}

/// Checks what every normalized path promises, whatever the input was. `verbatim` says
/// whether the input started with `\\?\` or `\??\`, which trim nothing.
fn assert_canonical(family: Family, path: &str, verbatim: bool) {
    if family == Family::Windows && has_single_dot_name(path) {
        assert!(
            verbatim,
            "only `\\\\?\\` keeps a name ending in one dot: {path}"
        );
        assert_ne!(
            normalize(family, path).as_deref(),
            Ok(path),
            "Win32 reads a single dot as no dot"
        );
    } else {
        assert_eq!(
            normalize(family, path).as_deref(),
            Ok(path),
            "not idempotent"
        );
    }
    let (root_end, sep) = match family {
        Family::Windows => {
            assert!(!path.contains('/'), "{path}");
            if let Some(rest) = path.strip_prefix("\\\\") {
                let mut parts = rest.split('\\');
                let host = parts.next().unwrap();
                let share = parts.next().unwrap();
                assert!(!host.is_empty() && !share.is_empty(), "{path}");
                for name in [host, share] {
                    assert!(!name.ends_with(['.', ' ']), "{path}");
                    assert_ne!(name, "?", "{path}");
                }
                (2 + host.len() + 1 + share.len(), '\\')
            } else {
                let bytes = path.as_bytes();
                assert!(
                    bytes[0].is_ascii_lowercase() && &path[1..3] == ":\\",
                    "{path}"
                );
                (3, '\\')
            }
        }
        Family::Posix => {
            assert!(path.starts_with('/'), "{path}");
            (1, '/')
        }
    };
    let rest = &path[root_end..];
    if rest.is_empty() {
        return;
    }
    let rest = rest.strip_prefix(sep).unwrap_or(rest);
    // Only a Windows name ending in a dot or a space is followed by a separator.
    let (rest, ends_in_separator) = match rest.strip_suffix(sep) {
        Some(rest) => (rest, true),
        None => (rest, false),
    };
    assert!(family == Family::Windows || !ends_in_separator, "{path}");
    let last = rest.rsplit(sep).next().unwrap();
    for component in rest.split(sep) {
        assert!(!component.is_empty(), "empty component in {path}");
        assert!(component != "." && component != "..", "{path}");
        if family == Family::Windows {
            assert_eq!(fold(component), component, "{path}");
        }
    }
    if family == Family::Windows {
        assert_eq!(last.ends_with(['.', ' ']), ends_in_separator, "{path}");
    }
}

/// Naive backtracking glob matcher over characters: exponential, but the inputs are
/// tiny and it is obviously right.
fn naive_glob(glob: &[char], text: &[char]) -> bool {
    match glob.split_first() {
        None => text.is_empty(),
        Some(('*', rest)) => (0..=text.len()).any(|i| naive_glob(rest, &text[i..])),
        Some(('?', rest)) => !text.is_empty() && naive_glob(rest, &text[1..]),
        Some((c, rest)) => text.first() == Some(c) && naive_glob(rest, &text[1..]),
    }
}

fn regex_glob(glob: &str) -> regex::Regex {
    let mut re = String::from("^(?s:");
    for c in glob.chars() {
        match c {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            other => re.push_str(&regex::escape(&other.to_string())),
        }
    }
    re.push_str(")$");
    regex::Regex::new(&re).unwrap()
}

proptest! {
    #[test]
    fn windows_equivalent_spellings(
        root in win_root(),
        components in proptest::collection::vec((name(), respelling(true)), 0..5),
        prefix in select(vec!["", r"\\?\", r"\\.\", r"\??\", "//?/"]),
        trailing_separator in any::<bool>(),
    ) {
        let (mut raw, mut expected) = match &root {
            WinRoot::Drive(d) => (format!("{prefix}{d}:\\"), format!("{}:\\", d.to_ascii_lowercase())),
            WinRoot::Unc(h, s) => {
                let unc = if prefix.is_empty() { r"\\".to_string() } else { format!(r"{prefix}UNC\") };
                (format!("{unc}{}\\{s}", windows_case(h, 1)), format!(r"\\{}\{}", fold(h), fold(s)))
            }
        };
        let reading = if is_verbatim(prefix) { Reading::Verbatim } else { Reading::Win32 };
        raw.push_str(&respell(&components, reading, !trailing_separator));
        if trailing_separator {
            raw.push('/');
        }
        for (component, _) in &components {
            if !expected.ends_with('\\') {
                expected.push('\\');
            }
            expected.push_str(&fold(component));
        }
        prop_assert_eq!(normalize(Family::Windows, &raw), Ok(expected.clone()), "{}", raw);
        assert_canonical(Family::Windows, &expected, false);
    }

    /// Trailing dots and spaces are removed exactly where Windows removes them, so a
    /// name Windows keeps apart (`Windows `, `Windows..`, `Windows.` after `\\?\`) is
    /// kept apart here.
    #[test]
    fn windows_name_endings(
        root in win_root(),
        components in proptest::collection::vec((name(), "[. ]{0,3}"), 1..5),
        prefix in select(vec!["", r"\\?\", r"\\.\", r"\??\", "//?/"]),
        trailing_separator in any::<bool>(),
    ) {
        let verbatim = is_verbatim(prefix);
        let (mut raw, mut expected) = match &root {
            WinRoot::Drive(d) => (format!("{prefix}{d}:"), format!("{}:\\", d.to_ascii_lowercase())),
            WinRoot::Unc(h, s) => {
                let unc = if prefix.is_empty() { r"\\".to_string() } else { format!(r"{prefix}UNC\") };
                (format!("{unc}{h}\\{s}"), format!(r"\\{}\{}", fold(h), fold(s)))
            }
        };
        let mut last = String::new();
        for (i, (name, ending)) in components.iter().enumerate() {
            raw.push('\\');
            raw.push_str(name);
            raw.push_str(ending);
            let followed = i + 1 < components.len() || trailing_separator;
            let kept = if verbatim {
                ending.as_str()
            } else if !followed {
                ""
            } else if ending.ends_with('.') && !ending.ends_with("..") {
                &ending[..ending.len() - 1]
            } else {
                ending.as_str()
            };
            if !expected.ends_with('\\') {
                expected.push('\\');
            }
            last = format!("{}{kept}", fold(name));
            expected.push_str(&last);
        }
        if trailing_separator {
            raw.push('\\');
        }
        if last.ends_with(['.', ' ']) {
            expected.push('\\');
        }
        prop_assert_eq!(normalize(Family::Windows, &raw), Ok(expected.clone()), "{}", raw);
        assert_canonical(Family::Windows, &expected, verbatim);
    }

    #[test]
    fn posix_equivalent_spellings(
        components in proptest::collection::vec((name(), respelling(false)), 0..5),
        trailing_separator in any::<bool>(),
    ) {
        let mut raw = respell(&components, Reading::Posix, false);
        if raw.is_empty() || trailing_separator {
            raw.push('/');
        }
        let expected = if components.is_empty() {
            "/".to_string()
        } else {
            components.iter().map(|(c, _)| format!("/{c}")).collect()
        };
        prop_assert_eq!(normalize(Family::Posix, &raw), Ok(expected.clone()), "{}", raw);
        assert_canonical(Family::Posix, &expected, false);
    }

    #[test]
    fn windows_any_input_normalizes_canonically(
        raw in r"(\\\\\?\\|\\\\\.\\|\\\?\?\\|//|C:/|c:\\)?[aA. \\/:?*Céςσ%]{0,16}",
    ) {
        if let Ok(path) = normalize(Family::Windows, &raw) {
            assert_canonical(Family::Windows, &path, is_verbatim(&raw));
            // Never escapes the drive it started on.
            if let Some(drive) = raw.strip_prefix(['c', 'C']) {
                if drive.starts_with(":\\") || drive.starts_with(":/") {
                    prop_assert!(path.starts_with("c:\\"));
                }
            }
        }
        if let Ok(pattern) = Pattern::compile(Family::Windows, &raw) {
            let again = Pattern::compile(Family::Windows, pattern.normalized()).unwrap();
            prop_assert_eq!(again.normalized(), pattern.normalized());
        }
    }

    #[test]
    fn posix_any_input_normalizes_canonically(raw in r"[a./\\?*%é]{0,16}") {
        if let Ok(path) = normalize(Family::Posix, &raw) {
            assert_canonical(Family::Posix, &path, false);
        }
        if let Ok(pattern) = Pattern::compile(Family::Posix, &raw) {
            let again = Pattern::compile(Family::Posix, pattern.normalized()).unwrap();
            prop_assert_eq!(again.normalized(), pattern.normalized());
        }
    }

    #[test]
    fn glob_matcher_agrees_with_naive_matchers(
        glob in r"[ab\\/é*?]{0,8}",
        text in r"[ab\\/é*?😀]{0,10}",
    ) {
        let g: Vec<char> = glob.chars().collect();
        let t: Vec<char> = text.chars().collect();
        let expected = naive_glob(&g, &t);
        prop_assert_eq!(glob_match(&glob, &text), expected, "{} on {}", glob, text);
        prop_assert_eq!(regex_glob(&glob).is_match(&text), expected, "{} on {}", glob, text);
    }

    #[test]
    fn compiled_globs_agree_with_naive_matcher(
        glob in r"/[ab/*?]{0,8}",
        text in r"/[ab/]{0,10}",
    ) {
        let Ok(pattern) = Pattern::compile(Family::Posix, &glob) else { return Ok(()); };
        let Ok(path) = normalize(Family::Posix, &text) else { return Ok(()); };
        let g: Vec<char> = pattern.normalized().chars().collect();
        let t: Vec<char> = path.chars().collect();
        prop_assert_eq!(pattern.is_match(&path), naive_glob(&g, &t));
    }

    #[test]
    fn windows_set_agrees_with_every_pattern(
        sources in proptest::collection::vec(
            prop_oneof![
                4 => proptest::collection::vec(
                    select(vec![r"c:\", r"C:\A", "*", "?", "a", "b", r"\", r"ab\", ".exe", r"\\h\s\", "é", "É"]),
                    1..5,
                ).prop_map(|parts| parts.concat()),
                1 => select(vec![
                    r"regex:^c:", "regex:a", r"regex:b\.exe$", r"regex:\\\\a", "regex:(?-i)A", "regex:é",
                    r"regex:^C:\\A", r"regex:^c:\\(a|B)", r"regex:^(?-i)C:", r"regex:^c:\\é",
                ])
                    .prop_map(str::to_string),
            ],
            0..12,
        ),
        paths in proptest::collection::vec(r"(c:\\|C:/|\\\\h\\s\\)[abAB/é\\]{0,6}(\.exe|\.EXE)?", 1..6),
    ) {
        check_set(Family::Windows, &sources, &paths)?;
    }

    #[test]
    fn posix_set_agrees_with_every_pattern(
        sources in proptest::collection::vec(
            prop_oneof![
                4 => proptest::collection::vec(select(vec!["/", "/a", "*", "?", "a", "b", "ab/", ".so"]), 1..5)
                    .prop_map(|parts| parts.concat()),
                1 => select(vec!["regex:^/a", "regex:b", r"regex:\.so$", "regex:a.*b", "regex:^/(a|b)/", "regex:^/a?b"])
                    .prop_map(str::to_string),
            ],
            0..12,
        ),
        paths in proptest::collection::vec(r"/[ab/]{0,6}(\.so)?", 1..6),
    ) {
        check_set(Family::Posix, &sources, &paths)?;
    }
}

proptest! {
    #[test]
    fn regex_group_reports_exactly_the_matching_regexes(
        sources in proptest::collection::vec(
            select(vec![
                "regex:^/a", "regex:b", r"regex:\.so$", "regex:a.*b", "regex:^/$", "regex:(a|b)/a",
                "regex:[ab]{3}", "regex:^/b/", "regex:a$", r"regex:\bb", "regex:x", "regex:/",
            ]).prop_map(str::to_string),
            0..24,
        ),
        paths in proptest::collection::vec(r"/[ab/]{0,8}(\.so)?", 1..8),
    ) {
        check_set(Family::Posix, &sources, &paths)?;
    }

    #[test]
    fn windows_regex_group_reports_exactly_the_matching_regexes(
        sources in proptest::collection::vec(
            select(vec![
                r"regex:^c:", "regex:A", r"regex:b\.exe$", r"regex:\\\\a", "regex:(?-i)A", "regex:é",
                "regex:É", r"regex:^\\\\h", "regex:(?i)B", r"regex:a\\", "*a*",
            ]).prop_map(str::to_string),
            0..24,
        ),
        paths in proptest::collection::vec(r"(c:\\|\\\\h\\s\\)[abéÉ\\]{0,6}(\.exe)?", 1..6),
    ) {
        check_set(Family::Windows, &sources, &paths)?;
    }
}

proptest! {
    /// The filters in front of the gate's walks never turn away a path a walk accepts,
    /// with keys long enough for every width of window and sharing starts and ends.
    #[test]
    fn gate_filters_never_turn_away_what_a_walk_accepts(
        windows in any::<bool>(),
        sources in proptest::collection::vec(
            proptest::collection::vec(
                select(vec!["/", "/opt/", "/opt/vendor", "*", "a", "B", "1", "23", "-setup", ".exe", "/bin/"]),
                1..7,
            ).prop_map(|parts| parts.concat()),
            0..10,
        ),
        paths in proptest::collection::vec(
            proptest::collection::vec(
                select(vec!["/opt/", "/opt/vendor", "a", "b", "B", "1", "23", "-setup", ".exe", "/bin/", "/x"]),
                1..8,
            ).prop_map(|parts| parts.concat()),
            1..8,
        ),
    ) {
        let family = if windows { Family::Windows } else { Family::Posix };
        let respell = |s: &str| if windows { format!("C:{}", s.replace('/', "\\")) } else { s.to_owned() };
        let mut builder = PatternSetBuilder::new();
        for (value, source) in (0u32..).zip(&sources) {
            let source = if source.starts_with('*') { source.clone() } else { respell(source) };
            if let Ok(pattern) = Pattern::compile(family, &source) {
                builder.add(pattern, value);
            }
        }
        let set = builder.build();
        for raw in paths {
            let raw = if windows { format!("C:{raw}") } else { raw };
            if !crate::path::surely_normalizes(family, &raw) {
                continue;
            }
            for [filter, walk] in set.gate_parts(&raw) {
                prop_assert!(filter || !walk, "{} in {:?}", raw, sources);
            }
        }
    }
}

fn check_set(family: Family, sources: &[String], paths: &[String]) -> Result<(), TestCaseError> {
    check_set_with_limit(family, sources, paths, None)?;
    // The regular expressions one by one, as when they are too large together.
    check_set_with_limit(family, sources, paths, Some(1))
}

fn check_set_with_limit(
    family: Family,
    sources: &[String],
    paths: &[String],
    regex_limit: Option<usize>,
) -> Result<(), TestCaseError> {
    let patterns: Vec<Pattern> = sources
        .iter()
        .filter_map(|s| Pattern::compile(family, s).ok())
        .collect();
    let mut builder = PatternSetBuilder::new();
    for (value, pattern) in (0u32..).zip(&patterns) {
        builder.add(pattern.clone(), value);
    }
    let set = match regex_limit {
        Some(limit) => builder.build_with_regex_limit(limit),
        None => builder.build(),
    };
    prop_assert_eq!(set.len(), patterns.len());
    let mut scratch = SetScratch::default();
    let mut out = Vec::new();
    for raw in paths {
        let Ok(path) = normalize(family, raw) else {
            continue;
        };
        let expected: Vec<u32> = (0u32..)
            .zip(&patterns)
            .filter(|(_, p)| p.is_match(&path))
            .map(|(v, _)| v)
            .collect();
        // A clean path the set's gate turns away has no match.
        if crate::path::surely_normalizes(family, raw) && !set.may_match_clean(family, raw) {
            prop_assert_eq!(&expected, &Vec::<u32>::new(), "{} in {:?}", raw, sources);
        }
        // Twice, so the reused scratch is exercised.
        for _ in 0..2 {
            out.clear();
            set.matches(&path, &mut scratch, &mut out);
            out.sort_unstable();
            prop_assert_eq!(&out, &expected, "{} in {:?}", path, sources);
        }
        for pattern in &patterns {
            // The index key must be present in every path the pattern matches.
            if pattern.is_match(&path) {
                let ok = match pattern.strategy() {
                    Index::Literal(l) => path == l,
                    Index::Prefix(p) => path.starts_with(p),
                    Index::Suffix(s) => path.ends_with(s),
                    Index::Inner(i) => path.contains(i),
                    Index::Any | Index::Regex => true,
                };
                prop_assert!(ok, "{} {:?}", path, pattern.strategy());
            }
        }
    }
    Ok(())
}

/// Paths built from the characters the fast path looks at, roots first.
fn tricky_path() -> impl Strategy<Value = String> {
    let pieces = select(vec![
        "a", "B", "x.exe", ".", "..", " ", "\\", "/", ":", "é", "\0", "*", "::$DATA", "C:",
        "\\\\?\\", "UNC",
    ]);
    (
        select(vec!["C:\\", "c:/", "/", "", "\\\\h\\s\\", "C:"]),
        proptest::collection::vec(pieces, 0..8),
    )
        .prop_map(|(root, pieces)| format!("{root}{}", pieces.concat()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]
    #[test]
    fn fast_path_agrees_with_the_full_rules(raw in tricky_path()) {
        use crate::path::normalize::{normalize_full, normalize_with, Mode};
        for family in [Family::Windows, Family::Posix] {
            let (mut fast, mut full) = (String::new(), String::new());
            let a = normalize_with(family, &raw, Mode::Path, &mut fast);
            let b = normalize_full(family, &raw, Mode::Path, &mut full);
            prop_assert_eq!(a, b, "{:?} {:?}", family, raw);
            prop_assert_eq!(&fast, &full, "{:?} {:?}", family, raw);
            // A path the cheap check vouches for normalizes, to its bytes folded one by
            // one.
            if crate::path::surely_normalizes(family, &raw) {
                prop_assert!(b.is_ok(), "{:?} {:?}", family, raw);
                let mut clean = String::new();
                crate::path::normalize_clean(family, &raw, &mut clean);
                prop_assert_eq!(&clean, &full, "{:?} {:?}", family, raw);
            }
        }
    }
}

proptest! {
    /// The block-wise pair check of `surely_normalizes` says what a byte-by-byte loop
    /// over every pair says, at every length around the block size.
    #[test]
    fn pair_check_in_blocks_is_the_byte_by_byte_one(
        bytes in proptest::collection::vec(select(b"\\/.: aZ\x00\x80".to_vec()), 0..70),
        bad in select(b"\\/.: aZ\x00\x80".to_vec()),
    ) {
        // One bad pair at most: a byte equal to `bad` right after a separator.
        let pair = |before: u8, now: u8| (before == b'\\' || before == b'/') && now == bad;
        let naive = bytes.windows(2).any(|w| pair(w[0], w[1]));
        prop_assert_eq!(crate::path::normalize::any_pair(&bytes, pair), naive, "{:?}", bytes);
    }
}

proptest! {
    /// Eight ASCII bytes folded at once are the eight folded one by one.
    #[test]
    fn word_fold_is_the_byte_fold(bytes in proptest::array::uniform8(0u8..0x80)) {
        use crate::path::{fold_clean_byte, fold_clean_windows_word};
        let folded = fold_clean_windows_word(u64::from_le_bytes(bytes)).to_le_bytes();
        let expected = bytes.map(|b| fold_clean_byte(Family::Windows, b));
        prop_assert_eq!(folded, expected, "{:?}", bytes);
    }
}

#[test]
fn word_fold_around_the_edges() {
    use crate::path::{fold_clean_byte, fold_clean_windows_word};
    // Every ASCII byte in every lane, the neighbours of the letters and `/` included.
    for b in 0u8..0x80 {
        for lane in 0..8 {
            let mut bytes = *b"/AZaz@[\\";
            if let Some(slot) = bytes.get_mut(lane) {
                *slot = b;
            }
            let folded = fold_clean_windows_word(u64::from_le_bytes(bytes)).to_le_bytes();
            assert_eq!(
                folded,
                bytes.map(|b| fold_clean_byte(Family::Windows, b)),
                "{bytes:?}"
            );
        }
    }
}
