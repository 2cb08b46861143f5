use crate::path::{Family, Pattern, PatternError, Strategy};

fn win(source: &str) -> Pattern {
    Pattern::compile(Family::Windows, source).unwrap()
}

fn posix(source: &str) -> Pattern {
    Pattern::compile(Family::Posix, source).unwrap()
}

#[test]
fn normalized_forms_and_strategies() {
    let cases: &[(Family, &str, &str, Strategy<'_>)] = &[
        (
            Family::Windows,
            r"C:\Windows\System32\cmd.exe",
            r"c:\windows\system32\cmd.exe",
            Strategy::Literal(r"c:\windows\system32\cmd.exe"),
        ),
        (
            Family::Windows,
            r"\\?\C:/WINDOWS//System32/./CMD.EXE.",
            r"c:\windows\system32\cmd.exe",
            Strategy::Literal(r"c:\windows\system32\cmd.exe"),
        ),
        (
            Family::Windows,
            r"%ProgramFiles%\Foo\*.exe",
            r"c:\program files\foo\*.exe",
            Strategy::Prefix(r"c:\program files\foo\"),
        ),
        (
            Family::Windows,
            r"%USERPROFILE%\Downloads\*",
            r"c:\users\*\downloads\*",
            Strategy::Prefix(r"c:\users\"),
        ),
        (
            Family::Windows,
            r"%HOMEDRIVE%%HOMEPATH%\x.exe",
            r"c:\users\*\x.exe",
            Strategy::Prefix(r"c:\users\"),
        ),
        (
            Family::Windows,
            r"*\Chrome.exe",
            r"*\chrome.exe",
            Strategy::Suffix(r"\chrome.exe"),
        ),
        (
            Family::Windows,
            r"*/Google/Chrome/*/..\x\*",
            r"*\google\chrome\*\..\x\*",
            Strategy::Inner(r"\google\chrome\"),
        ),
        (
            Family::Windows,
            r"?:\Tools\*",
            r"?:\tools\*",
            Strategy::Inner(r":\tools\"),
        ),
        (
            Family::Windows,
            r"\\*\Share\*.exe",
            r"\\*\share\*.exe",
            Strategy::Prefix(r"\\"),
        ),
        // Globs are read as Win32 paths, even after `\\?\`.
        (
            Family::Windows,
            r"\\?\C:\Tools\x.exe.",
            r"c:\tools\x.exe",
            Strategy::Literal(r"c:\tools\x.exe"),
        ),
        (
            Family::Windows,
            r"C:\Tools.\*",
            r"c:\tools\*",
            Strategy::Prefix(r"c:\tools\"),
        ),
        // Windows keeps a space and two dots at the end of a folder's name.
        (
            Family::Windows,
            r"C:\Tools\a* \x",
            r"c:\tools\a* \x",
            Strategy::Prefix(r"c:\tools\a"),
        ),
        (
            Family::Windows,
            r"C:\Tools\*..\x",
            r"c:\tools\*..\x",
            Strategy::Prefix(r"c:\tools\"),
        ),
        (
            Family::Windows,
            r"%SystemRoot% \*",
            r"c:\windows \*",
            Strategy::Prefix(r"c:\windows \"),
        ),
        (
            Family::Windows,
            r"C:\Tools\* \",
            r"c:\tools\* \",
            Strategy::Prefix(r"c:\tools\"),
        ),
        (Family::Windows, "*", "*", Strategy::Any),
        (Family::Windows, "**", "*", Strategy::Any),
        (Family::Windows, "*?*", "*?*", Strategy::Any),
        (Family::Windows, r"*\*", r"*\*", Strategy::Inner(r"\")),
        (
            Family::Posix,
            "*/bin/*",
            "*/bin/*",
            Strategy::Inner("/bin/"),
        ),
        (
            Family::Posix,
            "/usr/**/bin/",
            "/usr/*/bin",
            Strategy::Prefix("/usr/"),
        ),
        (
            Family::Posix,
            "/opt/100%/%x%",
            "/opt/100%/%x%",
            Strategy::Literal("/opt/100%/%x%"),
        ),
        (
            Family::Posix,
            "/a/./b/../c",
            "/a/c",
            Strategy::Literal("/a/c"),
        ),
        (
            Family::Posix,
            "/A/*/../B",
            "/A/*/../B",
            Strategy::Prefix("/A/"),
        ),
        (Family::Posix, "regex:^/usr/", "^/usr/", Strategy::Regex),
    ];
    for (family, source, normalized, strategy) in cases {
        let pattern = Pattern::compile(*family, source);
        // `..` after a wildcard is an error, so the two cases above that contain one
        // must fail; everything else compiles to the listed form.
        if source.contains("*/..") {
            assert_eq!(
                pattern.unwrap_err(),
                PatternError::WildcardParent,
                "{source}"
            );
            continue;
        }
        let pattern = pattern.unwrap();
        assert_eq!(pattern.source(), *source);
        assert_eq!(pattern.normalized(), *normalized, "{source}");
        assert_eq!(pattern.strategy(), *strategy, "{source}");
        assert_eq!(pattern.family(), *family);
    }
}

#[test]
fn compile_errors() {
    let cases: &[(Family, &str, PatternError)] = &[
        (Family::Windows, "", PatternError::Empty),
        (Family::Posix, "", PatternError::Empty),
        (Family::Windows, "regex:", PatternError::Empty),
        (Family::Windows, "C:\\a\0", PatternError::Nul),
        (Family::Windows, "%a\0%", PatternError::Nul),
        (Family::Posix, "/a\0", PatternError::Nul),
        (Family::Windows, r"C:\..", PatternError::AboveRoot),
        (Family::Windows, r"*\..\..", PatternError::WildcardParent),
        (Family::Posix, "/a/../..", PatternError::AboveRoot),
        (
            Family::Windows,
            r"C:\Tools\*\..\x",
            PatternError::WildcardParent,
        ),
        (
            Family::Windows,
            r"C:\Tools\a?b\..",
            PatternError::WildcardParent,
        ),
        (Family::Posix, "/opt/*/../x", PatternError::WildcardParent),
        (Family::Posix, "*/..", PatternError::WildcardParent),
        (
            Family::Windows,
            r"C:\Tools\*.",
            PatternError::WildcardTrailing,
        ),
        (
            Family::Windows,
            r"C:\Tools\a*.\x",
            PatternError::WildcardTrailing,
        ),
        (
            Family::Windows,
            r"C:\Tools\* ",
            PatternError::WildcardTrailing,
        ),
        (
            Family::Windows,
            r"C:\Tools\*.exe. .",
            PatternError::WildcardTrailing,
        ),
        (
            Family::Windows,
            r"\\?\C:\Tools\*.",
            PatternError::WildcardTrailing,
        ),
        // `..` leaves `a* ` last, where Windows removes its space.
        (
            Family::Windows,
            r"C:\Tools\a* \x\..",
            PatternError::WildcardTrailing,
        ),
        (Family::Windows, r"foo\*", PatternError::NotAbsolute),
        (Family::Windows, r"\Windows\*", PatternError::NotAbsolute),
        (Family::Windows, r"C:*", PatternError::NotAbsolute),
        (Family::Windows, "cmd.exe", PatternError::NotAbsolute),
        (Family::Windows, "%HOMEPATH%", PatternError::NotAbsolute),
        (Family::Windows, "%SystemDrive%", PatternError::NotAbsolute),
        (Family::Posix, "bin/*", PatternError::NotAbsolute),
        (Family::Posix, ".", PatternError::NotAbsolute),
        (
            Family::Windows,
            r"%FOO%\x",
            PatternError::UnknownVariable("%FOO%".into()),
        ),
        (
            Family::Windows,
            r"C:\%TEMP",
            PatternError::UnclosedVariable("%TEMP".into()),
        ),
    ];
    for (family, source, error) in cases {
        assert_eq!(
            Pattern::compile(*family, source).unwrap_err(),
            *error,
            "{source:?}"
        );
    }
}

#[test]
fn regex_errors_explain() {
    let err = Pattern::compile(Family::Posix, "regex:(").unwrap_err();
    let PatternError::InvalidRegex(why) = &err else {
        panic!("{err:?}");
    };
    assert!(why.contains("unclosed group"), "{why}");
    assert!(err.to_string().starts_with("invalid regular expression: "));

    let huge = Pattern::compile(Family::Posix, r"regex:(\w{100}){100}").unwrap_err();
    assert!(huge.to_string().contains("too large"), "{huge}");

    let deep = format!("regex:{}a{}", "(".repeat(100), ")".repeat(100));
    let deep = Pattern::compile(Family::Posix, &deep).unwrap_err();
    assert!(matches!(deep, PatternError::InvalidRegex(_)), "{deep:?}");
}

#[test]
fn regex_matching() {
    let p = win(r"regex:^C:\\Windows\\.*\.EXE$");
    assert!(p.is_regex());
    assert!(p.is_match(r"c:\windows\system32\cmd.exe"));
    assert!(!p.is_match(r"c:\windows\system32\cmd.dll"));
    // Unanchored search unless the author anchors.
    let p = posix("regex:/bin/");
    assert!(p.is_match("/usr/bin/ls"));
    assert!(
        !p.is_match("/usr/BIN/ls"),
        "posix regexes are case-sensitive"
    );
    assert_eq!(p.normalized(), "/bin/");
    assert_eq!(p.source(), "regex:/bin/");
    // With a kept cache, the same answers, again and again.
    let mut scratch = crate::path::PatternScratch::default();
    let windows = win(r"regex:^C:\\Windows\\.*\.EXE$");
    for _ in 0..3 {
        assert!(p.is_match_with("/usr/bin/ls", &mut scratch));
        assert!(!p.is_match_with("/usr/BIN/ls", &mut scratch));
        assert!(windows.is_match_with(r"c:\windows\system32\cmd.exe", &mut scratch));
        assert!(!windows.is_match_with(r"c:\windows\system32\cmd.dll", &mut scratch));
        assert!(posix("/usr/*").is_match_with("/usr/bin/ls", &mut scratch));
    }
}

#[test]
fn glob_matching() {
    let cases: &[(Family, &str, &str, bool)] = &[
        (
            Family::Windows,
            r"C:\Windows\*\cmd.exe",
            r"c:\windows\system32\cmd.exe",
            true,
        ),
        (
            Family::Windows,
            r"C:\Windows\*\cmd.exe",
            r"c:\windows\a\b\cmd.exe",
            true,
        ),
        (
            Family::Windows,
            r"C:\Windows\*\cmd.exe",
            r"c:\windows\cmd.exe",
            false,
        ),
        (
            Family::Windows,
            r"C:\Windows\*",
            r"c:\windows\cmd.exe",
            true,
        ),
        (Family::Windows, r"C:\Windows\*", r"c:\windows", false),
        (
            Family::Windows,
            r"C:\Windows*",
            r"c:\windows.old\x.exe",
            true,
        ),
        (
            Family::Windows,
            r"%ProgramFiles%\*",
            r"c:\program files (x86)\x.exe",
            false,
        ),
        (
            Family::Windows,
            r"%ProgramFiles%*",
            r"c:\program files (x86)\x.exe",
            true,
        ),
        (Family::Windows, r"C:\?.exe", r"c:\é.exe", true),
        (Family::Windows, r"C:\?.exe", "c:\\\u{1f600}.exe", true),
        (Family::Windows, r"C:\?.exe", r"c:\ab.exe", false),
        (Family::Windows, r"C:\?.exe", r"c:\.exe", false),
        (Family::Windows, r"C:\a?b", r"c:\a\b", true),
        (Family::Windows, r"*\CHROME.EXE", r"d:\x\chrome.exe", true),
        (
            Family::Windows,
            r"*\chrome.exe",
            r"d:\x\notchrome.exe",
            false,
        ),
        (Family::Windows, r"C:\Σ*", r"c:\σ\x", true),
        // A folder `Windows ` is not the Windows folder; `...` inside it is in it.
        (
            Family::Windows,
            r"%SystemRoot%\*",
            r"c:\windows \evil.exe",
            false,
        ),
        (
            Family::Windows,
            r"%SystemRoot%\*",
            r"c:\windows.\evil.exe",
            false,
        ),
        (
            Family::Windows,
            r"%SystemRoot%\*",
            r"c:\windows\...\evil.exe",
            true,
        ),
        (
            Family::Windows,
            r"C:\Windows\System32\cmd.exe",
            r"c:\windows\system32\cmd.exe.\",
            false,
        ),
        (Family::Windows, r"*", r"\\h\s", true),
        (Family::Windows, r"\\*\*", r"\\h\s\x", true),
        (Family::Windows, "C:\\Ab\u{212a}", r"c:\abk", true),
        (Family::Posix, "/usr/*", "/usr/bin/ls", true),
        (Family::Posix, "/usr/*", "/USR/bin/ls", false),
        (Family::Posix, "*/bin/*", "/usr/local/bin/x", true),
        (Family::Posix, "*/bin/*", "/usr/local/sbin/x", false),
        (
            Family::Posix,
            "/a*a*a*a*a*b",
            &format!("/{}", "a".repeat(200)),
            false,
        ),
        (Family::Posix, "/*ab*ab", "/abab", true),
        (Family::Posix, "/*ab*ab", "/aba", false),
    ];
    for (family, source, path, expected) in cases {
        let pattern = Pattern::compile(*family, source).unwrap();
        assert_eq!(pattern.is_match(path), *expected, "{source} on {path}");
    }
}

#[test]
fn messages_follow_house_style() {
    let errors = [
        PatternError::Empty,
        PatternError::Nul,
        PatternError::AboveRoot,
        PatternError::NotAbsolute,
        PatternError::WildcardParent,
        PatternError::WildcardTrailing,
        PatternError::UnknownVariable("%X%".into()),
        PatternError::UnclosedVariable("%X".into()),
        PatternError::InvalidRegex("why".into()),
    ];
    for e in errors {
        let msg = e.to_string();
        assert!(!msg.ends_with('.'), "{msg}");
        assert!(!msg.starts_with(|c: char| c.is_uppercase()), "{msg}");
        assert!(!msg.contains("Pattern"), "{msg}");
    }
    assert_eq!(
        PatternError::WildcardParent.to_string(),
        "`..` cannot follow a wildcard component"
    );
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<Pattern>();
    check::<PatternError>();
    check::<crate::path::PathError>();
    check::<crate::path::PatternSet>();
    check::<crate::path::PatternSetBuilder>();
    check::<crate::path::SetScratch>();
    check::<crate::path::PatternScratch>();
    check::<crate::path::Family>();
}
