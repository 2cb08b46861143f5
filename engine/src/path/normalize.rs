//! Lexical normalization of execution paths, shared with glob patterns.

use std::fmt;

use crate::path::Family;

/// Why a path cannot be normalized.
///
/// A path that fails here never matches a pattern; callers report the error in the
/// decision instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PathError {
    /// The path is the empty string.
    Empty,
    /// The path contains a NUL character, which no file system accepts in a name.
    Nul,
    /// A `..` component would climb above the root (`C:\..`, `/..`, `\\host\share\..`).
    AboveRoot,
    /// The path is not absolute (`foo\bar`, `\foo`, `C:foo`, `usr/bin`).
    NotAbsolute,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the path is empty",
            Self::Nul => "the path contains a NUL character",
            Self::AboveRoot => "`..` goes above the root of the path",
            Self::NotAbsolute => "not an absolute path",
        })
    }
}

impl std::error::Error for PathError {}

/// Folds one character for case-insensitive comparison of Windows paths.
///
/// Approximates Unicode simple case folding with the standard library's case
/// mappings: a character whose uppercase is a single character that lowercases to a
/// single character folds to that lowercase (`'ς'` → `'σ'`, `'ſ'` → `'s'`, the Kelvin
/// sign → `'k'`); otherwise a single-character lowercase is used; otherwise the
/// character is kept (`'ß'` and `'İ'` stay as they are).
#[inline]
pub fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut upper = c.to_uppercase();
    if let (Some(u), None) = (upper.next(), upper.next()) {
        let mut lower = u.to_lowercase();
        if let (Some(l), None) = (lower.next(), lower.next()) {
            return l;
        }
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// Normalizes an absolute path of `family` into `out`.
///
/// `out` is cleared first and left empty on error. Nothing is allocated beyond growing
/// `out`, so a reused buffer makes this allocation-free; it runs once per program start.
pub fn normalize_into(family: Family, raw: &str, out: &mut String) -> Result<(), PathError> {
    match normalize_with(family, raw, Mode::Path, out) {
        Ok(()) => Ok(()),
        Err(NormalizeError::Path(e)) => Err(e),
        // The wildcard rules only run in glob mode; answering "not absolute" keeps this
        // total without a panic should that ever change.
        Err(NormalizeError::WildcardParent | NormalizeError::WildcardTrailing) => {
            Err(PathError::NotAbsolute)
        }
    }
}

/// Normalizes an absolute path of `family` into a new string.
///
/// Convenience wrapper around [`normalize_into`] for code off the hot path.
pub fn normalize(family: Family, raw: &str) -> Result<String, PathError> {
    let mut out = String::with_capacity(raw.len());
    normalize_into(family, raw, &mut out)?;
    Ok(out)
}

/// Whether the input is an execution path or a glob.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Path,
    /// Globs may be relative when they start with a wildcard, and `..` must not pop a
    /// component with a wildcard, since what it matched is unknown.
    Glob,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NormalizeError {
    Path(PathError),
    WildcardParent,
    WildcardTrailing,
}

impl From<PathError> for NormalizeError {
    fn from(e: PathError) -> Self {
        Self::Path(e)
    }
}

const WILDCARDS: [char; 2] = ['*', '?'];
const WIN_SEPARATORS: [char; 2] = ['\\', '/'];
const WIN_TRIMMED: [char; 2] = ['.', ' '];

pub(crate) fn normalize_with(
    family: Family,
    raw: &str,
    mode: Mode,
    out: &mut String,
) -> Result<(), NormalizeError> {
    out.clear();
    let result = match family {
        Family::Windows => windows(raw, mode, out),
        Family::Posix => posix(raw, mode, out),
    };
    if result.is_err() {
        // A half-built path must never be mistaken for a normalized one.
        out.clear();
    }
    result
}

fn check_raw(raw: &str) -> Result<(), PathError> {
    if raw.is_empty() {
        Err(PathError::Empty)
    } else if raw.as_bytes().contains(&0) {
        Err(PathError::Nul)
    } else {
        Ok(())
    }
}

/// Appends components after a root, resolving `..` lexically.
struct Components<'o> {
    out: &'o mut String,
    root_len: usize,
    separator: char,
    mode: Mode,
}

impl Components<'_> {
    fn begin(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with(self.separator) {
            self.out.push(self.separator);
        }
    }

    fn push(&mut self, component: &str) {
        self.begin();
        self.out.push_str(component);
    }

    fn push_folded(&mut self, component: &str) {
        self.begin();
        push_folded(self.out, component);
    }

    fn pop(&mut self) -> Result<(), NormalizeError> {
        if self.out.len() <= self.root_len {
            return Err(PathError::AboveRoot.into());
        }
        let tail = self.out.get(self.root_len..).unwrap_or_default();
        let cut = tail
            .rfind(self.separator)
            .map_or(self.root_len, |i| self.root_len + i);
        if self.mode == Mode::Glob
            && self
                .out
                .get(cut..)
                .is_some_and(|popped| popped.contains(WILDCARDS))
        {
            return Err(NormalizeError::WildcardParent);
        }
        self.out.truncate(cut);
        Ok(())
    }

    /// A relative glob can only ever match if it starts with a wildcard, because
    /// every normalized path starts with its root.
    fn finish_relative(&self) -> Result<(), NormalizeError> {
        if self.root_len == 0 && !self.out.starts_with(WILDCARDS) {
            return Err(PathError::NotAbsolute.into());
        }
        Ok(())
    }
}

fn push_folded(out: &mut String, s: &str) {
    if s.is_ascii() {
        let start = out.len();
        out.push_str(s);
        if let Some(tail) = out.get_mut(start..) {
            tail.make_ascii_lowercase();
        }
    } else {
        out.extend(s.chars().map(fold_char));
    }
}

fn is_win_sep(b: u8) -> bool {
    b == b'\\' || b == b'/'
}

/// Strips `\\?\`, `\\.\` and `\??\` (either separator), returning the rest and whether
/// it continued with `UNC`, in which case the rest starts at the separator before the
/// host.
fn strip_device_prefix(raw: &str) -> (&str, bool) {
    let b = raw.as_bytes();
    let is_prefix = match (b.first(), b.get(1), b.get(2), b.get(3)) {
        (Some(&s0), Some(&c1), Some(&c2), Some(&s3)) => {
            is_win_sep(s0)
                && is_win_sep(s3)
                && ((is_win_sep(c1) && (c2 == b'?' || c2 == b'.')) || (c1 == b'?' && c2 == b'?'))
        }
        _ => false,
    };
    if !is_prefix {
        return (raw, false);
    }
    let rest = raw.get(4..).unwrap_or_default();
    let unc = rest.get(..3).is_some_and(|s| s.eq_ignore_ascii_case("unc"))
        && rest.as_bytes().get(3).is_none_or(|&b| is_win_sep(b));
    if unc {
        (rest.get(3..).unwrap_or_default(), true)
    } else {
        (rest, false)
    }
}

fn windows(raw: &str, mode: Mode, out: &mut String) -> Result<(), NormalizeError> {
    check_raw(raw)?;
    out.reserve(raw.len());
    let (rest, forced_unc) = strip_device_prefix(raw);
    let bytes = rest.as_bytes();
    let leading = bytes.iter().take_while(|&&b| is_win_sep(b)).count();
    let mut parts = rest.split(WIN_SEPARATORS);

    if forced_unc || leading >= 2 {
        out.push_str("\\\\");
        for i in 0..2 {
            let name = parts.by_ref().find(|p| !p.is_empty()).unwrap_or_default();
            let trimmed = name.trim_end_matches(WIN_TRIMMED);
            // `?` as a host would read back as a `\\?\` prefix and break idempotence;
            // it is not a legal host name anyway.
            if trimmed.is_empty() || trimmed == "?" {
                return Err(PathError::NotAbsolute.into());
            }
            if mode == Mode::Glob && trimmed.len() != name.len() && trimmed.contains(WILDCARDS) {
                return Err(NormalizeError::WildcardTrailing);
            }
            if i == 1 {
                out.push('\\');
            }
            push_folded(out, trimmed);
        }
    } else if leading == 1 {
        return Err(PathError::NotAbsolute.into());
    } else {
        match (bytes.first(), bytes.get(1), bytes.get(2)) {
            (Some(&d), Some(b':'), Some(&s)) if d.is_ascii_alphabetic() && is_win_sep(s) => {
                out.push(char::from(d.to_ascii_lowercase()));
                out.push_str(":\\");
                parts = rest.get(3..).unwrap_or_default().split(WIN_SEPARATORS);
            }
            (Some(&d), Some(b':'), _) if d.is_ascii_alphabetic() => {
                return Err(PathError::NotAbsolute.into());
            }
            _ if mode == Mode::Path => return Err(PathError::NotAbsolute.into()),
            // A glob relative to nothing: validated once its components are known.
            _ => {}
        }
    }

    let mut comps = Components {
        root_len: out.len(),
        out,
        separator: '\\',
        mode,
    };
    for part in parts {
        match part {
            "" | "." => {}
            ".." => comps.pop()?,
            _ => {
                let trimmed = part.trim_end_matches(WIN_TRIMMED);
                if trimmed.is_empty() {
                    continue;
                }
                if mode == Mode::Glob && trimmed.len() != part.len() && trimmed.contains(WILDCARDS)
                {
                    return Err(NormalizeError::WildcardTrailing);
                }
                comps.push_folded(trimmed);
            }
        }
    }
    comps.finish_relative()
}

fn posix(raw: &str, mode: Mode, out: &mut String) -> Result<(), NormalizeError> {
    check_raw(raw)?;
    out.reserve(raw.len());
    if raw.starts_with('/') {
        out.push('/');
    } else if mode == Mode::Path {
        return Err(PathError::NotAbsolute.into());
    }
    let mut comps = Components {
        root_len: out.len(),
        out,
        separator: '/',
        mode,
    };
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => comps.pop()?,
            _ => comps.push(part),
        }
    }
    comps.finish_relative()
}
