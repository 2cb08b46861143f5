use crate::path::pattern::SCRATCH_CACHES;
use crate::path::{
    normalize, Family, Pattern, PatternScratch, PatternSet, PatternSetBuilder, SetScratch,
};

fn build(family: Family, sources: &[&str]) -> PatternSet {
    let mut builder = PatternSetBuilder::new();
    for (value, source) in (0u32..).zip(sources) {
        builder.add(Pattern::compile(family, source).unwrap(), value);
    }
    builder.build()
}

fn hits(set: &PatternSet, family: Family, raw: &str, scratch: &mut SetScratch) -> Vec<u32> {
    let path = normalize(family, raw).unwrap();
    let mut out = Vec::new();
    set.matches(&path, scratch, &mut out);
    out.sort_unstable();
    out
}

#[test]
fn every_bucket_reports() {
    let sources = [
        r"C:\Windows\System32\cmd.exe", // 0 literal
        r"c:\windows\system32\CMD.EXE", // 1 same literal again
        r"%SystemRoot%\System32\*",     // 2 prefix
        r"*\cmd.exe",                   // 3 suffix
        r"*\system32\*",                // 4 inner
        r"*",                           // 5 any
        r"regex:\\SYSTEM32\\",          // 6 regex
        r"regex:^d:",                   // 7 regex
        r"%ProgramFiles%\*",            // 8 prefix, no match
        r"*\notepad.exe",               // 9 suffix, no match
        r"*\sys*32\*",                  // 10 inner, literal `\sys` and `32\`
    ];
    let set = build(Family::Windows, &sources);
    assert_eq!(set.len(), sources.len());
    assert!(!set.is_empty());
    let mut scratch = SetScratch::default();
    assert_eq!(
        hits(
            &set,
            Family::Windows,
            r"C:\WINDOWS\System32\cmd.exe",
            &mut scratch
        ),
        [0, 1, 2, 3, 4, 5, 6, 10]
    );
    assert_eq!(
        hits(
            &set,
            Family::Windows,
            r"D:\system32\system32\x",
            &mut scratch
        ),
        [4, 5, 6, 7, 10]
    );
    assert_eq!(hits(&set, Family::Windows, r"E:\x", &mut scratch), [5]);
}

#[test]
fn empty_set_and_shared_scratch() {
    let empty = PatternSetBuilder::new().build();
    assert!(empty.is_empty());
    let mut scratch = SetScratch::default();
    assert_eq!(
        hits(&empty, Family::Posix, "/x", &mut scratch),
        Vec::<u32>::new()
    );
    // One scratch serves sets of any size, in any order.
    let small = build(Family::Posix, &["*/x*"]);
    let large = build(
        Family::Posix,
        &["/a", "*/b*", "*/x*", "*x", "/x*", "regex:x$"],
    );
    for _ in 0..3 {
        assert_eq!(hits(&small, Family::Posix, "/x/x/x", &mut scratch), [0]);
        assert_eq!(
            hits(&large, Family::Posix, "/x/x/x", &mut scratch),
            [2, 3, 4, 5]
        );
    }
}

#[test]
fn matching_appends() {
    let set = build(Family::Posix, &["/a"]);
    let mut out = vec![99];
    set.matches("/a", &mut SetScratch::default(), &mut out);
    assert_eq!(out, [99, 0]);
}

#[test]
fn regexes_of_both_families_in_one_set() {
    let mut builder = PatternSetBuilder::new();
    builder
        .add(Pattern::compile(Family::Windows, "regex:ABC").unwrap(), 0)
        .add(Pattern::compile(Family::Posix, "regex:ABC").unwrap(), 1)
        .add(Pattern::compile(Family::Posix, "regex:abc").unwrap(), 2);
    let set = builder.build();
    let mut out = Vec::new();
    set.matches("/abc", &mut SetScratch::default(), &mut out);
    out.sort_unstable();
    assert_eq!(out, [0, 2]);
    assert_eq!(set.iter().map(|(_, v)| v).collect::<Vec<_>>(), [0, 1, 2]);
}

#[test]
fn scratch_generation_wraps() {
    let set = build(Family::Posix, &["*/b*", "*a*"]);
    let mut scratch = SetScratch::default();
    let mut out = Vec::new();
    set.matches("/b/b/ab", &mut scratch, &mut out);
    scratch.force_generation(u32::MAX - 1);
    for _ in 0..4 {
        out.clear();
        set.matches("/b/b/ab", &mut scratch, &mut out);
        out.sort_unstable();
        assert_eq!(out, [0, 1]);
    }
}

const WINDOWS_REGEXES: [&str; 8] = [
    r"regex:^c:\\windows\\",       // 0
    r"regex:\\system32\\",         // 1
    r"regex:\.EXE$",               // 2
    r"regex:^d:",                  // 3
    r"regex:(?-i)CMD",             // 4: case-sensitive, never in a folded path
    r"regex:cmd|powershell",       // 5
    r"regex:^c:\\(windows|tools)", // 6
    r"regex:\.dll$",               // 7
];

#[test]
fn regex_group_reports_exactly_the_matching_regexes() {
    for limit in [usize::MAX, 1] {
        let mut builder = PatternSetBuilder::new();
        for (value, source) in (0u32..).zip(WINDOWS_REGEXES) {
            builder.add(Pattern::compile(Family::Windows, source).unwrap(), value);
        }
        builder.add(Pattern::compile(Family::Windows, "*").unwrap(), 100);
        let set = builder.build_with_regex_limit(limit);
        // Compiled together, or one by one when too large together.
        let alone = if limit == 1 { WINDOWS_REGEXES.len() } else { 0 };
        assert_eq!(set.regexes_alone(), alone);
        let mut scratch = SetScratch::default();
        for _ in 0..2 {
            assert_eq!(
                hits(
                    &set,
                    Family::Windows,
                    r"C:\Windows\System32\cmd.exe",
                    &mut scratch
                ),
                [0, 1, 2, 5, 6, 100]
            );
            assert_eq!(
                hits(&set, Family::Windows, r"D:\x\PowerShell.dll", &mut scratch),
                [3, 5, 7, 100]
            );
            assert_eq!(hits(&set, Family::Windows, r"E:\x", &mut scratch), [100]);
        }
    }
}

#[test]
fn a_family_with_one_regex_checks_it_alone() {
    let mut builder = PatternSetBuilder::new();
    builder
        .add(Pattern::compile(Family::Windows, "regex:a").unwrap(), 0)
        .add(Pattern::compile(Family::Posix, "regex:a").unwrap(), 1)
        .add(Pattern::compile(Family::Posix, "regex:b").unwrap(), 2);
    let set = builder.build();
    assert_eq!(set.regexes_alone(), 1);
    let mut scratch = SetScratch::default();
    assert_eq!(hits(&set, Family::Posix, "/a", &mut scratch), [0, 1]);
}

#[test]
fn one_scratch_keeps_a_cache_per_regex_set() {
    let sets: Vec<PatternSet> = (0..4)
        .map(|i| {
            let own = format!("regex:^/{i}/");
            build(Family::Posix, &["regex:x$", "regex:^/y", own.as_str()])
        })
        .collect();
    let mut scratch = SetScratch::default();
    for round in 0..3 {
        for (i, set) in sets.iter().enumerate() {
            let path = format!("/{i}/x");
            assert_eq!(hits(set, Family::Posix, &path, &mut scratch), [0, 2]);
            assert_eq!(hits(set, Family::Posix, "/y/x", &mut scratch), [0, 1]);
        }
        // One cache per set, created on first use and then reused.
        assert_eq!(scratch.regexes().cached(), sets.len(), "round {round}");
    }
    // A clone shares the compiled expression, and so its cache.
    let clone = sets.first().unwrap().clone();
    assert_eq!(hits(&clone, Family::Posix, "/0/x", &mut scratch), [0, 2]);
    assert_eq!(scratch.regexes().cached(), sets.len());
    // The same patterns built again are another expression, with a cache of its own.
    let again = build(Family::Posix, &["regex:x$", "regex:^/y", "regex:^/0/"]);
    assert_eq!(hits(&again, Family::Posix, "/0/x", &mut scratch), [0, 2]);
    assert_eq!(scratch.regexes().cached(), sets.len() + 1);
}

#[test]
fn pattern_scratch_is_bounded() {
    let patterns: Vec<Pattern> = (0..SCRATCH_CACHES + 20)
        .map(|i| Pattern::compile(Family::Posix, &format!("regex:^/{i}$")).unwrap())
        .collect();
    let mut scratch = PatternScratch::default();
    for _ in 0..2 {
        for (i, pattern) in patterns.iter().enumerate() {
            assert!(pattern.is_match_with(&format!("/{i}"), &mut scratch));
            assert!(!pattern.is_match_with("/x", &mut scratch));
            assert!(scratch.cached() <= SCRATCH_CACHES);
        }
    }
    assert_eq!(scratch.cached(), SCRATCH_CACHES);
}

#[test]
fn gate_turns_away_only_paths_no_pattern_can_match() {
    use crate::path::surely_normalizes;
    let windows = Family::Windows;
    let set = build(
        windows,
        &[
            r"C:\Program Files\Vendor\*",          // 0 prefix
            r"*\setup.exe",                        // 1 suffix
            r"C:\Tools\tool.exe",                  // 2 literal
            r"regex:^C:\\Apps\\[0-9]+\\svc\.exe$", // 3 anchored regex
            r"regex:^d:\\(Data|Logs)\\",           // 4 anchored regex, two starts
        ],
    );
    let mut scratch = SetScratch::default();
    for (raw, hit) in [
        (r"c:/program files/VENDOR/bin/a.exe", 0),
        (r"D:\x\SETUP.EXE", 1),
        (r"C:\TOOLS\Tool.exe", 2),
        (r"c:/apps/12/SVC.exe", 3),
        (r"D:\LOGS\today.txt", 4),
    ] {
        assert!(surely_normalizes(windows, raw), "{raw}");
        assert!(set.may_match_clean(windows, raw), "{raw}");
        assert_eq!(hits(&set, windows, raw, &mut scratch), [hit], "{raw}");
    }
    for raw in [
        r"C:\Users\bob\Downloads\x.exe",
        r"C:\Program Files\Vendors\x.exe",
        r"C:\Tools\tool.ex",
        r"D:\Temp\Logs\x",
    ] {
        assert!(surely_normalizes(windows, raw), "{raw}");
        assert!(!set.may_match_clean(windows, raw), "{raw}");
        assert!(hits(&set, windows, raw, &mut scratch).is_empty(), "{raw}");
    }
    // A pattern with no literal start or end lets every path through.
    for open in [r"regex:svc", r"*tool*", "*", r"regex:(?m)^c:"] {
        let set = build(windows, &[r"C:\Tools\tool.exe", open]);
        assert!(set.may_match_clean(windows, r"C:\Users\x.exe"), "{open}");
    }
    // POSIX paths keep their case.
    let posix = Family::Posix;
    let set = build(posix, &["/opt/v/*", "regex:^/srv/(a|b)/run$"]);
    assert!(!set.may_match_clean(posix, "/opt/V/x"));
    assert!(!set.may_match_clean(posix, "/srv/c/run"));
    assert!(set.may_match_clean(posix, "/srv/b/run"));
    assert!(set.may_match_clean(posix, "/opt/v/x"));
    // Nothing to match: nothing gets through.
    assert!(!build(posix, &[]).may_match_clean(posix, "/opt/v/x"));
}

#[test]
fn gate_filters_turn_away_most_paths_before_any_walk() {
    // Patterns as a fleet has them: long shared starts and ends, vendors in between.
    let windows = Family::Windows;
    let mut sources = Vec::new();
    for v in 0..40 {
        sources.push(format!(r"C:\Program Files\Vendor{v}\*"));
        sources.push(format!(r"*\Vendor{v}-setup.exe"));
        sources.push(format!(r"%ProgramFiles%\Vendor{v}\updater.exe"));
    }
    let sources: Vec<&str> = sources.iter().map(String::as_str).collect();
    let set = build(windows, &sources);
    let mut turned_away = [0; 2];
    for n in 0..500 {
        let raw = format!(r"C:\Program Files\Apps\App{n}\bin\app{n}.exe");
        for (side, [filter, walk]) in set.gate_parts(&raw).into_iter().enumerate() {
            assert!(!walk, "{raw}");
            if !filter {
                turned_away[side] += 1;
            }
        }
    }
    // One in sixteen passes by mistake, give or take.
    assert!(turned_away.iter().all(|&n| n >= 400), "{turned_away:?}");
    for raw in [
        r"C:\Program Files\Vendor7\bin\x.exe",
        r"c:/program files/vendor39/updater.exe",
        r"D:\Downloads\VENDOR12-SETUP.EXE",
    ] {
        assert!(set.may_match_clean(windows, raw), "{raw}");
    }
}
