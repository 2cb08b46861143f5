use crate::path::env::{expand, lookup, VARIABLES};
use crate::path::{normalize, Family, PatternError};

#[test]
fn table() {
    let cases = [
        ("%ProgramFiles%", r"C:\Program Files"),
        ("%ProgramFiles(x86)%", r"C:\Program Files (x86)"),
        ("%ProgramW6432%", r"C:\Program Files"),
        ("%CommonProgramFiles%", r"C:\Program Files\Common Files"),
        (
            "%CommonProgramFiles(x86)%",
            r"C:\Program Files (x86)\Common Files",
        ),
        ("%SystemRoot%", r"C:\Windows"),
        ("%windir%", r"C:\Windows"),
        ("%SystemDrive%", "C:"),
        ("%ProgramData%", r"C:\ProgramData"),
        ("%ALLUSERSPROFILE%", r"C:\ProgramData"),
        ("%PUBLIC%", r"C:\Users\Public"),
        ("%USERPROFILE%", r"C:\Users\*"),
        ("%HOMEDRIVE%", "C:"),
        ("%HOMEPATH%", r"\Users\*"),
        ("%APPDATA%", r"C:\Users\*\AppData\Roaming"),
        ("%LOCALAPPDATA%", r"C:\Users\*\AppData\Local"),
        ("%TEMP%", r"C:\Users\*\AppData\Local\Temp"),
        ("%TMP%", r"C:\Users\*\AppData\Local\Temp"),
        ("%SystemDirectory%", r"C:\Windows\System32"),
    ];
    assert_eq!(cases.len(), VARIABLES.len());
    for (token, value) in cases {
        assert_eq!(expand(token).unwrap(), value, "{token}");
    }
}

#[test]
fn every_value_is_absolute_or_meant_to_be_joined() {
    for (name, value) in VARIABLES {
        let joined = match *name {
            "SystemDrive" | "HOMEDRIVE" => format!(r"{value}\"),
            "HOMEPATH" => format!("C:{value}"),
            _ => (*value).to_string(),
        };
        assert!(
            normalize(Family::Windows, &joined.replace('*', "u")).is_ok(),
            "{name}"
        );
    }
}

#[test]
fn names_are_case_insensitive() {
    assert_eq!(lookup("programfiles(X86)"), Some(r"C:\Program Files (x86)"));
    assert_eq!(lookup("WINDIR"), Some(r"C:\Windows"));
    assert_eq!(lookup("windir"), lookup("WinDir"));
    assert_eq!(lookup("nope"), None);
}

#[test]
fn expansion_in_context() {
    assert_eq!(expand(r"C:\plain").unwrap(), r"C:\plain");
    assert_eq!(
        expand(r"%HOMEDRIVE%%HOMEPATH%\x.exe").unwrap(),
        r"C:\Users\*\x.exe"
    );
    assert_eq!(
        expand(r"%SystemRoot%\%SystemDrive%").unwrap(),
        r"C:\Windows\C:"
    );
}

#[test]
fn errors_name_the_token() {
    let cases = [
        (
            r"%FOO%\x",
            PatternError::UnknownVariable("%FOO%".into()),
            "unknown variable `%FOO%`",
        ),
        (
            "%%",
            PatternError::UnknownVariable("%%".into()),
            "unknown variable `%%`",
        ),
        (
            r"C:\%SystemRoot",
            PatternError::UnclosedVariable("%SystemRoot".into()),
            "unclosed variable `%SystemRoot`: the closing `%` is missing",
        ),
        (
            r"%windir%\100%",
            PatternError::UnclosedVariable("%".into()),
            "unclosed variable `%`: the closing `%` is missing",
        ),
    ];
    for (source, error, message) in cases {
        let got = expand(source).unwrap_err();
        assert_eq!(got, error, "{source}");
        assert_eq!(got.to_string(), message);
    }
}
