use crate::path::{fold_char, normalize, normalize_into, Family, PathError};

const CMD: &str = r"c:\windows\system32\cmd.exe";

#[test]
fn windows_spellings_of_one_file() {
    let spellings = [
        r"C:\Windows\System32\cmd.exe",
        r"c:\windows\system32\cmd.exe",
        r"C:\WINDOWS\SYSTEM32\CMD.EXE",
        r"C:/WINDOWS//system32/./../System32/cmd.exe",
        r"C:/Windows/System32/cmd.exe",
        r"C:\Windows\\\System32\\cmd.exe",
        r"C:\Windows\System32\cmd.exe\",
        // Win32 takes every dot and space off the end of the last name ...
        r"C:\Windows\System32\cmd.exe.",
        r"C:\Windows\System32\cmd.exe. . .",
        r"C:\Windows\System32\cmd.exe   ",
        r"C:\Windows\System32\cmd.exe...",
        r"C:\Windows\System32\cmd.exe\. . ",
        r"C:\Windows\System32\cmd.exe\...",
        // ... after `.` and `..` are resolved ...
        r"C:\Windows\System32\cmd.exe \.",
        r"C:\Windows\System32\cmd.exe. \x\..",
        // ... and one dot off any name a separator follows.
        r"C:\Windows.\System32\cmd.exe",
        r"C:\Windows.\System32.\cmd.exe.",
        r"C:\Windows\System32\cmd.exe.\",
        r"C:\Windows\System32 \..\System32\cmd.exe",
        r"C:\Temp\..\Windows\System32\cmd.exe",
        r"C:\Windows\System32\drivers\etc\..\..\cmd.exe",
        r"\\?\C:\Windows\System32\cmd.exe",
        r"\\?\c:/windows/./system32/../system32/cmd.exe",
        r"\\.\C:\Windows\System32\cmd.exe",
        r"\\.\C:\Windows.\System32\cmd.exe. ",
        r"\??\C:\Windows\System32\cmd.exe",
        // Only `\\?\` written exactly so is verbatim; other spellings are normalized.
        r"//?/C:/Windows/System32/cmd.exe",
        r"//?/C:/Windows/System32/cmd.exe.",
        r"/\?\c:\windows\system32\cmd.exe ",
        r"\\?/C:\Windows.\System32\cmd.exe",
    ];
    for raw in spellings {
        assert_eq!(normalize(Family::Windows, raw).as_deref(), Ok(CMD), "{raw}");
    }
}

/// Spellings that once normalized to a protected file, and name another file.
#[test]
fn windows_lookalikes_stay_distinct() {
    const EVIL: &str = r"c:\windows\evil.exe";
    let cases = [
        // A folder `Windows ` or `Windows.` is another folder than `Windows`.
        (r"\\?\C:\Windows \evil.exe", r"c:\windows \evil.exe"),
        (r"C:\Windows \evil.exe", r"c:\windows \evil.exe"),
        (r"C:\Windows  \evil.exe", r"c:\windows  \evil.exe"),
        (r"C:\Windows .\evil.exe", r"c:\windows \evil.exe"),
        (r"C:\Windows. \evil.exe", r"c:\windows. \evil.exe"),
        (r"C:\Windows..\evil.exe", r"c:\windows..\evil.exe"),
        (r"\\?\C:\Windows.\evil.exe", r"c:\windows.\evil.exe"),
        (r"\??\C:\Windows.\evil.exe", r"c:\windows.\evil.exe"),
        (r"\\?\UNC\h\s\Windows.\x", r"\\h\s\windows.\x"),
        // Three or more dots are a name, and so is a name ending in a space.
        (r"C:\Windows\...\evil.exe", r"c:\windows\...\evil.exe"),
        (r"C:\Windows\....\evil.exe", r"c:\windows\....\evil.exe"),
        (r"C:\Windows\. .\evil.exe", r"c:\windows\. \evil.exe"),
        (r"C:\Windows\.. \evil.exe", r"c:\windows\.. \evil.exe"),
        (
            r"C:\Windows\System32 \cmd.exe",
            r"c:\windows\system32 \cmd.exe",
        ),
        // `\\?\` and `\??\` trim nothing, so these are files named `cmd.exe.` and so on.
        (
            r"\\?\C:\Windows\System32\cmd.exe.",
            r"c:\windows\system32\cmd.exe.\",
        ),
        (
            r"\\?\C:\Windows\System32\cmd.exe ",
            r"c:\windows\system32\cmd.exe \",
        ),
        (
            r"\??\C:\Windows\System32\cmd.exe...",
            r"c:\windows\system32\cmd.exe...\",
        ),
        (
            r"\\?\c:/windows/./system32/../system32/cmd.exe.",
            r"c:\windows\system32\cmd.exe.\",
        ),
        // The folder `cmd.exe ` (a trailing separator keeps the space).
        (
            r"C:\Windows\System32\cmd.exe \",
            r"c:\windows\system32\cmd.exe \",
        ),
    ];
    for (raw, expected) in cases {
        let got = normalize(Family::Windows, raw);
        assert_eq!(got.as_deref(), Ok(expected), "{raw}");
        assert_ne!(got.as_deref(), Ok(CMD), "{raw}");
        assert_ne!(got.as_deref(), Ok(EVIL), "{raw}");
        // Every one of them is stable under normalizing again, except the names
        // ending in exactly one dot, which only `\\?\` can reach.
        let single_dot = expected
            .split('\\')
            .any(|name| name.len() > 1 && name.ends_with('.') && !name.ends_with(".."));
        if !single_dot {
            assert_eq!(
                normalize(Family::Windows, expected).as_deref(),
                Ok(expected)
            );
        }
    }
}

#[test]
fn windows_table() {
    let cases: &[(&str, Result<&str, PathError>)] = &[
        // roots
        (r"C:\", Ok(r"c:\")),
        (r"C:/", Ok(r"c:\")),
        (r"c:\\", Ok(r"c:\")),
        (r"C:\.", Ok(r"c:\")),
        (r"C:\x\..", Ok(r"c:\")),
        (r"C:\...", Ok(r"c:\")),
        (r"z:\Z", Ok(r"z:\z")),
        (r"\\server\share", Ok(r"\\server\share")),
        (r"\\Server\Share\", Ok(r"\\server\share")),
        (r"\\server\share\.", Ok(r"\\server\share")),
        (r"//server/share/x", Ok(r"\\server\share\x")),
        (r"\\\server\\share\x", Ok(r"\\server\share\x")),
        (r"\\server.\share \x", Ok(r"\\server\share\x")),
        (r"\\?\UNC\Server\Share\X.exe", Ok(r"\\server\share\x.exe")),
        (r"\\?\unc\h\s", Ok(r"\\h\s")),
        (r"\\.\UNC\h\s\a\..\b", Ok(r"\\h\s\b")),
        (r"\??\UNC\h\s\x", Ok(r"\\h\s\x")),
        // components
        (r"C:\a\b\..\..\c", Ok(r"c:\c")),
        (r"C:\Program Files (x86)\x", Ok(r"c:\program files (x86)\x")),
        (r"C:\ leading\x", Ok(r"c:\ leading\x")),
        (r"C:\a.b.c\x.tar.gz", Ok(r"c:\a.b.c\x.tar.gz")),
        (r"C:\a\.. \b", Ok(r"c:\a\.. \b")),
        (r"C:\unc\x", Ok(r"c:\unc\x")),
        // trailing dots and spaces (Win32)
        (r"C:\a.\b", Ok(r"c:\a\b")),
        (r"C:\a..\b", Ok(r"c:\a..\b")),
        (r"C:\a \b", Ok(r"c:\a \b")),
        (r"C:\a .\b", Ok(r"c:\a \b")),
        (r"C:\...\b", Ok(r"c:\...\b")),
        (r"C:\ \b", Ok(r"c:\ \b")),
        (r"C:\a.", Ok(r"c:\a")),
        (r"C:\a. .", Ok(r"c:\a")),
        (r"C:\a ", Ok(r"c:\a")),
        (r"C:\ ", Ok(r"c:\")),
        (r"C:\a.\", Ok(r"c:\a")),
        (r"C:\a..\", Ok(r"c:\a..\")),
        (r"C:\a \", Ok(r"c:\a \")),
        (r"C:\ \", Ok(r"c:\ \")),
        (r"C:\a \...", Ok(r"c:\a \")),
        (r"C:\a \. ", Ok(r"c:\a \")),
        (r"C:\a \x\..", Ok(r"c:\a")),
        (r"C:\a \.", Ok(r"c:\a")),
        (r"C:\a \x\..\", Ok(r"c:\a \")),
        (r"C:\a \.\", Ok(r"c:\a \")),
        (r"\\h\s\a.\b. ", Ok(r"\\h\s\a\b")),
        (r"\\h\s\a \...", Ok(r"\\h\s\a \")),
        (r"\\.\C:\a.\b ", Ok(r"c:\a\b")),
        // RtlGetFullPathName_U on Windows Vista and later, as Wine's tests record it
        (r"c:/test  ....   ..   ", Ok(r"c:\test")),
        (r"c:/test/  ....   ..   ", Ok(r"c:\test")),
        (r"c:/test/.. ", Ok(r"c:\test")),
        (r"c:/test./file", Ok(r"c:\test\file")),
        (r"c:/test.. /file", Ok(r"c:\test.. \file")),
        (r"c:/test../file", Ok(r"c:\test..\file")),
        // `\\?\` and `\??\` trim nothing, but still resolve `.` and `..`
        (r"\\?\C:\a.\b..\c ", Ok(r"c:\a.\b..\c \")),
        (r"\\?\C:\a\.\b\..\c.", Ok(r"c:\a\c.\")),
        (r"\\?\C:\a\c.\", Ok(r"c:\a\c.\")),
        (r"\\?\C:\...", Ok(r"c:\...\")),
        (r"\\?\C:\ ", Ok(r"c:\ \")),
        (r"\??\C:\a \b", Ok(r"c:\a \b")),
        // host and share lose trailing dots and spaces in every form
        (r"\\?\UNC\h.\s \x.", Ok(r"\\h\s\x.\")),
        // case folding
        (r"C:\ΣΊΣΥΦΟΣ\ς", Ok(r"c:\σίσυφοσ\σ")),
        ("C:\\\u{17f}\\\u{212a}", Ok(r"c:\s\k")),
        (r"C:\Straße\İ", Ok(r"c:\straße\İ")),
        (r"C:\ÉCOLE", Ok(r"c:\école")),
        // errors
        ("", Err(PathError::Empty)),
        ("C:\\a\0b", Err(PathError::Nul)),
        (r"C:\..", Err(PathError::AboveRoot)),
        (r"C:\a\..\..", Err(PathError::AboveRoot)),
        (r"\\?\C:\..\x", Err(PathError::AboveRoot)),
        (r"\\h\s\..", Err(PathError::AboveRoot)),
        (r"foo\bar", Err(PathError::NotAbsolute)),
        (r"\foo", Err(PathError::NotAbsolute)),
        ("/foo", Err(PathError::NotAbsolute)),
        ("C:foo", Err(PathError::NotAbsolute)),
        ("C:", Err(PathError::NotAbsolute)),
        (r"1:\x", Err(PathError::NotAbsolute)),
        (r"é:\x", Err(PathError::NotAbsolute)),
        (r"*\x", Err(PathError::NotAbsolute)),
        (r"\\server", Err(PathError::NotAbsolute)),
        (r"\\server\", Err(PathError::NotAbsolute)),
        (r"\\..\share", Err(PathError::NotAbsolute)),
        (r"\\?\UNC\?\s", Err(PathError::NotAbsolute)),
        (r"\\?\UNC\.\s\x", Err(PathError::NotAbsolute)),
        (r"\\?\UNC\h\..\x", Err(PathError::NotAbsolute)),
        (r"\\?\C:\a\..\..", Err(PathError::AboveRoot)),
        (r"\\?\UNC", Err(PathError::NotAbsolute)),
        (r"\\?\Volume{0}\a", Err(PathError::NotAbsolute)),
        (r"\\.\PhysicalDrive0", Err(PathError::NotAbsolute)),
        (r"\\?\C:", Err(PathError::NotAbsolute)),
    ];
    for (raw, expected) in cases {
        let got = normalize(Family::Windows, raw);
        assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{raw:?}");
    }
}

#[test]
fn posix_table() {
    let cases: &[(&str, Result<&str, PathError>)] = &[
        ("/usr/bin/ls", Ok("/usr/bin/ls")),
        ("//usr//bin/./ls", Ok("/usr/bin/ls")),
        ("/usr/bin/../bin/ls/", Ok("/usr/bin/ls")),
        ("/usr/lib/../../usr/bin/ls", Ok("/usr/bin/ls")),
        ("/", Ok("/")),
        ("//", Ok("/")),
        ("/.", Ok("/")),
        ("/a/..", Ok("/")),
        ("/Usr/Bin", Ok("/Usr/Bin")),
        (r"/a\b", Ok(r"/a\b")),
        (r"/a\..\b", Ok(r"/a\..\b")),
        ("/a/b./c ", Ok("/a/b./c ")),
        ("/a/.../b", Ok("/a/.../b")),
        ("/a/%HOME%", Ok("/a/%HOME%")),
        ("/ΣΣ/ς", Ok("/ΣΣ/ς")),
        ("", Err(PathError::Empty)),
        ("/a\0", Err(PathError::Nul)),
        ("/..", Err(PathError::AboveRoot)),
        ("/a/../..", Err(PathError::AboveRoot)),
        ("usr/bin", Err(PathError::NotAbsolute)),
        (".", Err(PathError::NotAbsolute)),
        (r"C:\x", Err(PathError::NotAbsolute)),
        (r"\usr", Err(PathError::NotAbsolute)),
    ];
    for (raw, expected) in cases {
        let got = normalize(Family::Posix, raw);
        assert_eq!(got.as_deref().map_err(|e| *e), *expected, "{raw:?}");
    }
}

#[test]
fn normalize_into_clears_the_buffer() {
    let mut out = String::from("stale");
    normalize_into(Family::Posix, "/a", &mut out).unwrap();
    assert_eq!(out, "/a");
    let mut out = String::from("stale");
    assert_eq!(
        normalize_into(Family::Windows, r"C:\a\..\..", &mut out),
        Err(PathError::AboveRoot)
    );
    assert_eq!(
        out, "",
        "a failed normalization must not leave a partial path"
    );
}

#[test]
fn normalize_into_reuses_the_buffer() {
    let mut out = String::with_capacity(256);
    let before = out.as_ptr();
    for raw in [r"C:\Windows\System32\cmd.exe", r"\\?\UNC\h\s\x", r"C:\ÄÖ\ſ"] {
        normalize_into(Family::Windows, raw, &mut out).unwrap();
    }
    assert_eq!(out.as_ptr(), before);
}

#[test]
fn fold_examples() {
    let cases = [
        ('A', 'a'),
        ('a', 'a'),
        ('\\', '\\'),
        ('Σ', 'σ'),
        ('ς', 'σ'),
        ('σ', 'σ'),
        ('\u{17f}', 's'),
        ('\u{212a}', 'k'),
        ('ß', 'ß'),
        ('\u{1e9e}', 'ß'),
        ('İ', 'İ'),
        ('É', 'é'),
        ('Ⅻ', 'ⅻ'),
    ];
    for (c, folded) in cases {
        assert_eq!(fold_char(c), folded, "{c:?}");
    }
}

#[test]
fn fold_is_idempotent_for_every_char() {
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        let once = fold_char(c);
        assert_eq!(fold_char(once), once, "{c:?} U+{:04X}", u32::from(c));
    }
}

#[test]
fn fold_ignores_single_char_case_changes() {
    for c in (0..=u32::from(char::MAX)).filter_map(char::from_u32) {
        for changed in [
            c.to_uppercase().collect::<Vec<_>>(),
            c.to_lowercase().collect(),
        ] {
            if let [single] = changed[..] {
                assert_eq!(
                    fold_char(single),
                    fold_char(c),
                    "{c:?} U+{:04X}",
                    u32::from(c)
                );
            }
        }
    }
}

#[test]
fn error_messages_follow_house_style() {
    for e in [
        PathError::Empty,
        PathError::Nul,
        PathError::AboveRoot,
        PathError::NotAbsolute,
    ] {
        let msg = e.to_string();
        assert!(!msg.ends_with('.'), "{msg}");
        assert!(!msg.starts_with(|c: char| c.is_uppercase()), "{msg}");
    }
}

#[test]
fn windows_data_streams() {
    // The unnamed stream is the file itself.
    for raw in [
        r"C:\Tools\evil.exe::$DATA",
        r"c:\tools\EVIL.EXE::$data",
        r"\\?\C:\Tools\evil.exe::$DATA",
    ] {
        assert_eq!(
            normalize(Family::Windows, raw).as_deref(),
            Ok(r"c:\tools\evil.exe"),
            "{raw}"
        );
    }
    // A named stream is other content: it cannot be normalized, so it permits nothing.
    for raw in [
        r"C:\Windows\Tasks:evil.exe",
        r"C:\Tools\evil.exe:hidden:$DATA",
        r"C:\Tools\evil.exe::$DATA::$DATA",
        r"\\host\share\x:y",
    ] {
        assert_eq!(
            normalize(Family::Windows, raw),
            Err(PathError::Stream),
            "{raw}"
        );
    }
    // POSIX names may contain colons.
    assert_eq!(
        normalize(Family::Posix, "/tmp/a:b").as_deref(),
        Ok("/tmp/a:b")
    );
    assert_eq!(
        crate::path::Pattern::compile(Family::Windows, r"C:\Tools\*:*").err(),
        Some(crate::path::PatternError::Stream)
    );
}
