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
    /// A Windows path names an alternate data stream (`C:\x.exe:hidden`), which is
    /// other content than the file the path names without it.
    Stream,
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Empty => "the path is empty",
            Self::Nul => "the path contains a NUL character",
            Self::AboveRoot => "`..` goes above the root of the path",
            Self::NotAbsolute => "not an absolute path",
            Self::Stream => "the path names an alternate data stream (`:` after the drive)",
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
    // Most paths an agent reports are already clean: one pass checks that and copies
    // (folded, for Windows). Anything unusual takes the full rules below.
    if mode == Mode::Path && fast_path(family, raw, out) {
        return Ok(());
    }
    normalize_full(family, raw, mode, out)
}

/// The full normalization rules, without the fast path.
pub(crate) fn normalize_full(
    family: Family,
    raw: &str,
    mode: Mode,
    out: &mut String,
) -> Result<(), NormalizeError> {
    out.clear();
    let result = match family {
        Family::Windows => {
            windows(strip_default_stream(raw), mode, out).and_then(|()| no_stream(out))
        }
        Family::Posix => posix(raw, mode, out),
    };
    if result.is_err() {
        // A half-built path must never be mistaken for a normalized one.
        out.clear();
    }
    result
}

/// Normalizes a clean path in one pass, and returns false (leaving `out` partly written)
/// for anything the full rules might change.
///
/// Windows: ASCII, a drive root (`C:\`), then non-empty names separated by one
/// separator, none ending in a dot or a space, no `:` after the drive and no NUL. The
/// full rules fold such a path and turn `/` into `\`, nothing else. POSIX: `/`, then
/// non-empty names other than `.` and `..`, no NUL; the full rules keep it as it is.
fn fast_path(family: Family, raw: &str, out: &mut String) -> bool {
    let bytes = raw.as_bytes();
    // The common case, checked without branching per byte: the path is copied as a
    // whole (folded, for Windows).
    if surely_normalizes(family, raw) {
        normalize_clean(family, raw, out);
        return true;
    }
    match family {
        Family::Windows => {
            let (Some(&drive), Some(b':'), Some(&sep)) =
                (bytes.first(), bytes.get(1), bytes.get(2))
            else {
                return false;
            };
            if !drive.is_ascii_alphabetic() || !is_win_sep(sep) {
                return false;
            }
            let clean_name = |name: &[u8]| !matches!(name.last(), None | Some(b'.' | b' '));
            out.reserve(bytes.len());
            out.push(char::from(drive));
            out.push_str(":\\");
            let mut start = 3;
            for (i, &b) in bytes.iter().enumerate().skip(3) {
                if b >= 0x80 || b == 0 || b == b':' {
                    return false;
                }
                if is_win_sep(b) {
                    match raw.get(start..i) {
                        Some(name) if clean_name(name.as_bytes()) => out.push_str(name),
                        _ => return false,
                    }
                    out.push('\\');
                    start = i + 1;
                }
            }
            match raw.get(start..) {
                Some(name) if clean_name(name.as_bytes()) => out.push_str(name),
                _ => return false,
            }
            out.make_ascii_lowercase();
            true
        }
        Family::Posix => {
            let Some(names) = raw.strip_prefix('/') else {
                return false;
            };
            // Every name non-empty, and neither `.` nor `..`: no `//`, `/./`, `/../`,
            // nor such an ending.
            let mut name_len = 0usize;
            let mut dots = 0usize;
            for &b in names.as_bytes() {
                if b == 0 {
                    return false;
                }
                if b == b'/' {
                    if name_len == dots && dots <= 2 {
                        return false;
                    }
                    name_len = 0;
                    dots = 0;
                } else {
                    name_len += 1;
                    dots += usize::from(b == b'.');
                }
            }
            if name_len == dots && dots <= 2 {
                return false;
            }
            out.push_str(raw);
            true
        }
    }
}

/// Whether `raw` is a path the one-pass fast path accepts, checked without building
/// anything: then [`normalize_into`] succeeds on it. False says nothing: the path may
/// still normalize (or not); only [`normalize_into`] tells.
///
/// Windows: ASCII, a drive root (`C:\`), then non-empty names separated by one
/// separator, none ending in a dot or a space, no `:` after the drive and no NUL.
/// POSIX: `/`, then non-empty names not starting with a dot, no NUL. The bytes are
/// checked in blocks, without branching ([`any_pair`]).
pub(crate) fn surely_normalizes(family: Family, raw: &str) -> bool {
    let bytes = raw.as_bytes();
    match family {
        Family::Windows => {
            let (Some(&drive), Some(b':'), Some(&sep), Some(tail), Some(&last)) = (
                bytes.first(),
                bytes.get(1),
                bytes.get(2),
                bytes.get(2..),
                bytes.last(),
            ) else {
                return false;
            };
            if !drive.is_ascii_alphabetic()
                || !is_win_sep(sep)
                || bytes.len() < 4
                || matches!(last, b'\\' | b'/' | b'.' | b' ')
            {
                return false;
            }
            // Each byte after the root with the one before it: no byte outside ASCII,
            // no NUL or `:`, and no separator after a separator, a dot or a space.
            !any_pair(tail, |before, b| {
                let separator = (b == b'\\') | (b == b'/');
                let stop =
                    (before == b'\\') | (before == b'/') | (before == b'.') | (before == b' ');
                (b >= 0x80) | (b == 0) | (b == b':') | (separator & stop)
            })
        }
        Family::Posix => {
            let (Some(b'/'), Some(&last)) = (bytes.first(), bytes.last()) else {
                return false;
            };
            if bytes.len() < 2 || last == b'/' {
                return false;
            }
            // No NUL, and no name that is empty or starts with a dot (which takes in
            // `.` and `..`, and hidden files too: those take the exact rules).
            !any_pair(bytes, |before, b| {
                (b == 0) | ((before == b'/') & ((b == b'/') | (b == b'.')))
            })
        }
    }
}

/// A byte of a path [`surely_normalizes`] vouches for, as it is in the normalized path:
/// on Windows an ASCII letter folded and `/` written as `\`, on POSIX the byte itself.
/// A clean path normalizes to its bytes mapped one by one, nothing added or removed.
#[inline(always)]
pub(crate) fn fold_clean_byte(family: Family, b: u8) -> u8 {
    match family {
        Family::Windows if b == b'/' => b'\\',
        Family::Windows => b.to_ascii_lowercase(),
        Family::Posix => b,
    }
}

/// Eight bytes of a clean Windows path (ASCII, so every byte below `0x80`) mapped as
/// [`fold_clean_byte`] maps each: the letters folded and `/` written as `\`, with no
/// branch and no carry from one byte into the next.
#[inline(always)]
pub(crate) fn fold_clean_windows_word(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = ONES << 7;
    // The high bit of a byte is set by the addition when the byte is at least `A`, and
    // by the second when it is above `Z`.
    let from_a = x + ONES * u64::from(0x80 - b'A');
    let above_z = x + ONES * u64::from(0x80 - b'Z' - 1);
    let upper = from_a & !above_z & HIGH;
    // The high bit set in each byte of `x ^ '/'` that is not zero.
    let t = x ^ (ONES * u64::from(b'/'));
    let not_slash = (((t & !HIGH) + !HIGH) | t) & HIGH;
    let slash = !not_slash & HIGH;
    (x | (upper >> 2)) ^ ((slash >> 7) * u64::from(b'/' ^ b'\\'))
}

/// Normalizes a path [`surely_normalizes`] vouched for: its bytes mapped by
/// [`fold_clean_byte`], without checking it again.
pub(crate) fn normalize_clean(family: Family, raw: &str, out: &mut String) {
    out.clear();
    if family == Family::Posix || !raw.as_bytes().contains(&b'/') {
        out.push_str(raw);
        if family == Family::Windows {
            out.make_ascii_lowercase();
        }
        return;
    }
    // A clean Windows path is ASCII, and so is every byte folded; the buffer is reused.
    let mut bytes = std::mem::take(out).into_bytes();
    bytes.extend(raw.bytes().map(|b| fold_clean_byte(family, b)));
    *out = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
}

/// Whether `bad` holds for some byte of `bytes` with the byte before it.
///
/// Sixteen pairs at a time, each block checked whole and without branching, so that the
/// compiler compares a block in a few vector instructions: the whole blocks from the
/// start, then the last sixteen pairs, which overlap them rather than ending in a loop
/// of single bytes. Only a path of sixteen bytes or fewer takes the plain loop. Paths
/// are short, and a byte-by-byte loop cost most of the check.
#[inline(always)]
pub(crate) fn any_pair(bytes: &[u8], bad: impl Fn(u8, u8) -> bool) -> bool {
    const BLOCK: usize = 16;
    let block = |before: &[u8; BLOCK], now: &[u8; BLOCK]| -> bool {
        let mut found = false;
        for (&before, &now) in before.iter().zip(now) {
            found |= bad(before, now);
        }
        found
    };
    // Pair `i` is `before[i]` with `now[i]`.
    let before = bytes
        .get(..bytes.len().saturating_sub(1))
        .unwrap_or_default();
    let now = bytes.get(1..).unwrap_or_default();
    let (Some(last_before), Some(last_now)) =
        (before.last_chunk::<BLOCK>(), now.last_chunk::<BLOCK>())
    else {
        let mut found = false;
        for (&before, &now) in before.iter().zip(now) {
            found |= bad(before, now);
        }
        return found;
    };
    // Whole blocks from the start, then the last sixteen pairs, which overlap the last
    // whole block (or are it).
    let (blocks_before, _) = before.as_chunks::<BLOCK>();
    let (blocks_now, _) = now.as_chunks::<BLOCK>();
    let mut found = block(last_before, last_now);
    for (before, now) in blocks_before.iter().zip(blocks_now) {
        found |= block(before, now);
    }
    found
}

/// The unnamed data stream of a file is the file itself: `C:\x.exe::$DATA` is
/// `C:\x.exe`, so the suffix goes before anything else.
fn strip_default_stream(raw: &str) -> &str {
    const DEFAULT_STREAM: &str = "::$data";
    let cut = raw.len().saturating_sub(DEFAULT_STREAM.len());
    match (raw.get(cut..), raw.get(..cut)) {
        (Some(tail), Some(head))
            if tail.eq_ignore_ascii_case(DEFAULT_STREAM) && !head.is_empty() =>
        {
            head
        }
        _ => raw,
    }
}

/// After the drive's own `:` (`c:`), a colon can only start a stream name: a named
/// stream is other content than the file, so such a path matches no permit.
fn no_stream(out: &str) -> Result<(), NormalizeError> {
    match out.get(2..) {
        Some(rest) if rest.contains(':') => Err(NormalizeError::Path(PathError::Stream)),
        _ => Ok(()),
    }
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

    /// The start of the last name, or `None` when only the root is left.
    fn last_start(&self) -> Option<usize> {
        if self.out.len() <= self.root_len {
            return None;
        }
        let tail = self.out.get(self.root_len..).unwrap_or_default();
        Some(
            tail.rfind(self.separator)
                .map_or(self.root_len, |i| self.root_len + i + 1),
        )
    }

    /// Removes the trailing dots and spaces of the last name, and the name itself if
    /// nothing is left of it; the name before it keeps its own.
    fn trim_last(&mut self) -> Result<(), NormalizeError> {
        let Some(start) = self.last_start() else {
            return Ok(());
        };
        let name = self.out.get(start..).unwrap_or_default();
        let kept = name.trim_end_matches(WIN_TRIMMED).len();
        if kept == name.len() {
            return Ok(());
        }
        if self.mode == Mode::Glob && name.contains(WILDCARDS) {
            return Err(NormalizeError::WildcardTrailing);
        }
        if kept == 0 {
            // Drop the separator before the name too, unless it ends the root.
            let cut = if start > self.root_len {
                start - 1
            } else {
                start
            };
            self.out.truncate(cut);
        } else {
            self.out.truncate(start + kept);
        }
        Ok(())
    }

    /// Ends the path with a separator when its last name ends in a dot or a space.
    ///
    /// Windows only keeps such a name where a separator follows it (`C:\Windows \` is
    /// the folder `Windows `, `C:\Windows ` is `Windows`), so the separator keeps the
    /// normalized path naming the same folder when it is normalized again.
    fn mark_trailing_name(&mut self) {
        if self.last_start().is_some() && self.out.ends_with(WIN_TRIMMED) {
            self.out.push(self.separator);
        }
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

/// A device prefix taken off the front of a Windows path.
struct DevicePrefix<'r> {
    /// The path after the prefix; after `UNC` it starts at the separator before the
    /// host.
    rest: &'r str,
    /// The prefix continued with `UNC`.
    unc: bool,
    /// The prefix was exactly `\\?\` or `\??\`, with backslashes: Windows hands such a
    /// path to the file system as it is, without trimming any name.
    verbatim: bool,
}

/// Strips `\\?\`, `\\.\` and `\??\` (either separator) and a `UNC` after them.
fn strip_device_prefix(raw: &str) -> DevicePrefix<'_> {
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
        return DevicePrefix {
            rest: raw,
            unc: false,
            verbatim: false,
        };
    }
    // Only the canonical spellings skip Win32 normalization; `//?/` and `\\?/` are
    // normalized like `\\.\`.
    let verbatim = raw.starts_with(r"\\?\") || raw.starts_with(r"\??\");
    let rest = raw.get(4..).unwrap_or_default();
    let unc = rest.get(..3).is_some_and(|s| s.eq_ignore_ascii_case("unc"))
        && rest.as_bytes().get(3).is_none_or(|&b| is_win_sep(b));
    DevicePrefix {
        rest: if unc {
            rest.get(3..).unwrap_or_default()
        } else {
            rest
        },
        unc,
        verbatim,
    }
}

/// Whether a name ends in exactly one dot, such as `cmd.exe.` or `a .`, but not `a..`
/// or `...`. Win32 normalization removes that dot from every name followed by a
/// separator.
fn ends_in_single_period(name: &str) -> bool {
    let b = name.as_bytes();
    match b {
        [.., before, b'.'] => *before != b'.',
        // A lone `.` is the current directory, never a name.
        _ => false,
    }
}

fn windows(raw: &str, mode: Mode, out: &mut String) -> Result<(), NormalizeError> {
    check_raw(raw)?;
    // One more byte for the separator that may follow the last name.
    out.reserve(raw.len() + 1);
    let prefix = strip_device_prefix(raw);
    let rest = prefix.rest;
    // Globs are always read as Win32 paths (see the module documentation).
    let verbatim = prefix.verbatim && mode == Mode::Path;
    let bytes = rest.as_bytes();
    let leading = bytes.iter().take_while(|&&b| is_win_sep(b)).count();
    let mut parts = rest.split(WIN_SEPARATORS);

    if prefix.unc || leading >= 2 {
        out.push_str("\\\\");
        for i in 0..2 {
            let name = parts.by_ref().find(|p| !p.is_empty()).unwrap_or_default();
            // Host and share lose trailing dots and spaces in every form: they are
            // resolved by the network, not by the file system's name rules.
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
    let mut parts = parts.peekable();
    while let Some(part) = parts.next() {
        match part {
            "" | "." => {}
            ".." => comps.pop()?,
            _ => {
                // Split leaves an empty last part after a final separator, so a part
                // is followed by a separator exactly when another part comes.
                let followed = parts.peek().is_some();
                let name = match part.strip_suffix('.') {
                    Some(name) if !verbatim && followed && ends_in_single_period(part) => name,
                    _ => part,
                };
                if mode == Mode::Glob && name.len() != part.len() && name.contains(WILDCARDS) {
                    return Err(NormalizeError::WildcardTrailing);
                }
                comps.push_folded(name);
            }
        }
    }
    // Win32 takes every trailing dot and space off the last name unless the path ends
    // in a separator; this runs after `.` and `..` are resolved, so in `C:\a \x\..` it
    // is `a ` that loses its space.
    if !verbatim && !rest.ends_with(WIN_SEPARATORS) {
        comps.trim_last()?;
    }
    comps.mark_trailing_name();
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
