//! Environment-style tokens in Windows patterns (`%ProgramFiles%`, `%APPDATA%` …).
//!
//! Patterns are compiled centrally, away from the computers they run on, so tokens
//! expand to the *standard* locations of a default installation, with `*` in place of
//! the user name. A machine with relocated folders needs patterns that say so.

use std::borrow::Cow;

use crate::path::PatternError;

/// Every known variable and its standard location, names as Windows spells them.
///
/// Names are matched case-insensitively.
pub const VARIABLES: &[(&str, &str)] = &[
    ("ProgramFiles", r"C:\Program Files"),
    ("ProgramFiles(x86)", r"C:\Program Files (x86)"),
    ("ProgramW6432", r"C:\Program Files"),
    ("CommonProgramFiles", r"C:\Program Files\Common Files"),
    (
        "CommonProgramFiles(x86)",
        r"C:\Program Files (x86)\Common Files",
    ),
    ("SystemRoot", r"C:\Windows"),
    ("windir", r"C:\Windows"),
    ("SystemDrive", "C:"),
    ("SystemDirectory", r"C:\Windows\System32"),
    ("ProgramData", r"C:\ProgramData"),
    ("ALLUSERSPROFILE", r"C:\ProgramData"),
    ("PUBLIC", r"C:\Users\Public"),
    ("USERPROFILE", r"C:\Users\*"),
    ("HOMEDRIVE", "C:"),
    ("HOMEPATH", r"\Users\*"),
    ("APPDATA", r"C:\Users\*\AppData\Roaming"),
    ("LOCALAPPDATA", r"C:\Users\*\AppData\Local"),
    ("TEMP", r"C:\Users\*\AppData\Local\Temp"),
    ("TMP", r"C:\Users\*\AppData\Local\Temp"),
];

/// The standard location of the variable `name` (written without the `%` signs).
pub fn lookup(name: &str) -> Option<&'static str> {
    VARIABLES
        .iter()
        .find(|(known, _)| known.eq_ignore_ascii_case(name))
        .map(|&(_, value)| value)
}

/// Replaces every `%NAME%` token of a Windows pattern with its standard location.
///
/// Returns the source unchanged (borrowed) when it has no `%`. A token naming no known
/// variable, including `%%`, and a `%` that is never closed are errors: a literal `%`
/// in a file name can be matched with `?` or a `regex:` pattern instead.
pub fn expand(source: &str) -> Result<Cow<'_, str>, PatternError> {
    if !source.contains('%') {
        return Ok(Cow::Borrowed(source));
    }
    let mut out = String::with_capacity(source.len() + 32);
    let mut rest = source;
    while let Some((before, after)) = rest.split_once('%') {
        out.push_str(before);
        let Some((name, tail)) = after.split_once('%') else {
            return Err(PatternError::UnclosedVariable(format!("%{after}")));
        };
        let value =
            lookup(name).ok_or_else(|| PatternError::UnknownVariable(format!("%{name}%")))?;
        out.push_str(value);
        rest = tail;
    }
    out.push_str(rest);
    Ok(Cow::Owned(out))
}
