//! Compiled path patterns: globs and `regex:` regular expressions.

use std::fmt;

use regex::{Regex, RegexBuilder};

use crate::path::env;
use crate::path::normalize::{normalize_with, Mode, NormalizeError};
use crate::path::{Family, PathError};

/// The prefix that marks a pattern as a regular expression.
pub const REGEX_PREFIX: &str = "regex:";

/// Upper bound on the compiled size of one regular expression, so a hostile policy
/// cannot make compilation or matching exhaust memory.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

/// Upper bound on the nesting depth of one regular expression.
const REGEX_NEST_LIMIT: u32 = 64;

/// Why a pattern cannot be compiled.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PatternError {
    /// The pattern (or the regular expression after `regex:`) is empty.
    Empty,
    /// The pattern contains a NUL character.
    Nul,
    /// A `..` component climbs above the root of the pattern.
    AboveRoot,
    /// The glob is neither absolute nor starts with a wildcard, so it can never match.
    NotAbsolute,
    /// A `..` would remove a component containing a wildcard, which cannot be resolved
    /// without knowing what the wildcard matched.
    WildcardParent,
    /// A component with a wildcard ends with dots or spaces that Windows removes: one
    /// dot at the end of a name a separator follows (`C:\Tools\*.\x`), or any dots
    /// and spaces at the end of the last name (`C:\Tools\*.`). The glob would silently
    /// widen, `*.` to `*`.
    WildcardTrailing,
    /// A `%NAME%` token names no known variable; holds the token as written.
    UnknownVariable(String),
    /// A `%` is never closed; holds the text from that `%` on.
    UnclosedVariable(String),
    /// The regular expression is invalid or too large; holds the explanation.
    InvalidRegex(String),
    /// A Windows glob names an alternate data stream, which no normalized path does.
    Stream,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("the pattern is empty"),
            Self::Nul => f.write_str("the pattern contains a NUL character"),
            Self::AboveRoot => f.write_str("`..` goes above the root of the pattern"),
            Self::NotAbsolute => {
                f.write_str("the pattern is not an absolute path and does not start with a wildcard")
            }
            Self::WildcardParent => f.write_str("`..` cannot follow a wildcard component"),
            Self::WildcardTrailing => f.write_str(
                "a component with a wildcard cannot end with a dot or a space that windows removes from the name",
            ),
            Self::UnknownVariable(token) => write!(f, "unknown variable `{token}`"),
            Self::UnclosedVariable(token) => {
                write!(f, "unclosed variable `{token}`: the closing `%` is missing")
            }
            Self::InvalidRegex(why) => write!(f, "invalid regular expression: {why}"),
            Self::Stream => f.write_str(
                "a `:` after the drive names an alternate data stream, which paths are never matched on",
            ),
        }
    }
}

impl std::error::Error for PatternError {}

impl From<NormalizeError> for PatternError {
    fn from(e: NormalizeError) -> Self {
        match e {
            NormalizeError::Path(PathError::Empty) => Self::Empty,
            NormalizeError::Path(PathError::Nul) => Self::Nul,
            NormalizeError::Path(PathError::AboveRoot) => Self::AboveRoot,
            NormalizeError::Path(PathError::Stream) => Self::Stream,
            NormalizeError::Path(_) => Self::NotAbsolute,
            NormalizeError::WildcardParent => Self::WildcardParent,
            NormalizeError::WildcardTrailing => Self::WildcardTrailing,
        }
    }
}

/// How a pattern can be indexed in a [`PatternSet`](crate::path::PatternSet).
///
/// The strings are parts of [`Pattern::normalized`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strategy<'a> {
    /// A glob without wildcards: it matches exactly this path.
    Literal(&'a str),
    /// Every match starts with this literal text (the text before the first wildcard).
    Prefix(&'a str),
    /// No literal prefix, but every match ends with this text (after the last wildcard).
    Suffix(&'a str),
    /// Neither, but every match contains this text: the longest literal run.
    Inner(&'a str),
    /// A glob with no literal text at all, such as `*`.
    Any,
    /// A regular expression.
    Regex,
}

#[derive(Debug, Clone)]
enum Matcher {
    /// `prefix_len` bytes of literal text, then a middle, then literal text from
    /// `suffix_start`; for a literal glob both equal its length.
    Glob {
        prefix_len: usize,
        suffix_start: usize,
    },
    Regex(Regex),
}

/// A compiled path pattern of one [`Family`].
///
/// A glob's `*` matches any run of characters, separators included, and `?` exactly
/// one character; a pattern starting with `regex:` is a regular expression searched in
/// the normalized path. See the [module documentation](crate::path).
#[derive(Debug, Clone)]
pub struct Pattern {
    family: Family,
    source: Box<str>,
    normalized: Box<str>,
    matcher: Matcher,
}

impl Pattern {
    /// Compiles `source` for paths of `family`.
    pub fn compile(family: Family, source: &str) -> Result<Pattern, PatternError> {
        if let Some(body) = source.strip_prefix(REGEX_PREFIX) {
            return Self::compile_regex(family, source, body);
        }
        if source.is_empty() {
            return Err(PatternError::Empty);
        }
        // Checked before expansion so the message names the real problem.
        if source.as_bytes().contains(&0) {
            return Err(PatternError::Nul);
        }
        let expanded = match family {
            Family::Windows => env::expand(source)?,
            Family::Posix => std::borrow::Cow::Borrowed(source),
        };
        let mut normalized = String::with_capacity(expanded.len());
        normalize_with(family, &expanded, Mode::Glob, &mut normalized)?;
        let normalized = collapse_stars(&normalized);
        let (prefix_len, suffix_start) = literal_ends(&normalized);
        Ok(Pattern {
            family,
            source: source.into(),
            normalized: normalized.into(),
            matcher: Matcher::Glob {
                prefix_len,
                suffix_start,
            },
        })
    }

    fn compile_regex(family: Family, source: &str, body: &str) -> Result<Pattern, PatternError> {
        // An empty expression matches every path: far more likely a mistake than intent,
        // and `regex:.*` still says it explicitly.
        if body.is_empty() {
            return Err(PatternError::Empty);
        }
        let regex = regex_builder(family, body)
            .build()
            .map_err(|e| PatternError::InvalidRegex(regex_explanation(&e)))?;
        Ok(Pattern {
            family,
            source: source.into(),
            normalized: body.into(),
            matcher: Matcher::Regex(regex),
        })
    }

    /// Whether the pattern matches `normalized_path`, which must come from
    /// [`normalize_into`](crate::path::normalize_into) with this pattern's family.
    ///
    /// Never allocates; globs run in time proportional to the product of the pattern
    /// and path lengths at worst.
    pub fn is_match(&self, normalized_path: &str) -> bool {
        match &self.matcher {
            Matcher::Glob {
                prefix_len,
                suffix_start,
            } => glob_match_split(
                &self.normalized,
                *prefix_len,
                *suffix_start,
                normalized_path,
            ),
            Matcher::Regex(regex) => regex.is_match(normalized_path),
        }
    }

    /// The pattern as written.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The normalized glob, or the regular expression without `regex:`.
    pub fn normalized(&self) -> &str {
        &self.normalized
    }

    /// The family of paths this pattern was compiled for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// Whether this is a `regex:` pattern.
    pub fn is_regex(&self) -> bool {
        matches!(self.matcher, Matcher::Regex(_))
    }

    /// How the pattern can be indexed.
    pub fn strategy(&self) -> Strategy<'_> {
        let Matcher::Glob {
            prefix_len,
            suffix_start,
        } = self.matcher
        else {
            return Strategy::Regex;
        };
        let g: &str = &self.normalized;
        if prefix_len == g.len() {
            return Strategy::Literal(g);
        }
        // Falling back to `Any` is always correct, merely slower.
        if prefix_len > 0 {
            return g.get(..prefix_len).map_or(Strategy::Any, Strategy::Prefix);
        }
        if suffix_start < g.len() {
            return g
                .get(suffix_start..)
                .map_or(Strategy::Any, Strategy::Suffix);
        }
        g.split(is_wildcard)
            .max_by_key(|run| run.len())
            .filter(|run| !run.is_empty())
            .map_or(Strategy::Any, Strategy::Inner)
    }

    /// The regular expression with its case sensitivity written inline, so one set can
    /// hold expressions of both families.
    pub(crate) fn regex_set_source(&self) -> Option<String> {
        match (&self.matcher, self.family) {
            (Matcher::Regex(_), Family::Windows) => Some(format!("(?i){}", self.normalized)),
            (Matcher::Regex(_), Family::Posix) => Some(self.normalized.to_string()),
            (Matcher::Glob { .. }, _) => None,
        }
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn regex_builder(family: Family, body: &str) -> RegexBuilder {
    let mut builder = RegexBuilder::new(body);
    builder
        .case_insensitive(family == Family::Windows)
        .size_limit(REGEX_SIZE_LIMIT)
        .nest_limit(REGEX_NEST_LIMIT);
    builder
}

fn regex_explanation(e: &regex::Error) -> String {
    match e {
        regex::Error::Syntax(why) => why.clone(),
        regex::Error::CompiledTooBig(limit) => {
            format!("it is too large once compiled (the limit is {limit} bytes)")
        }
        other => other.to_string(),
    }
}

pub(crate) const REGEX_SET_SIZE_LIMIT: usize = 16 * REGEX_SIZE_LIMIT;

fn is_wildcard(c: char) -> bool {
    c == '*' || c == '?'
}

/// `**` matches exactly what `*` does; one star keeps the matcher's backtracking short.
fn collapse_stars(glob: &str) -> String {
    let mut out = String::with_capacity(glob.len());
    let mut prev_star = false;
    for c in glob.chars() {
        if c == '*' && prev_star {
            continue;
        }
        prev_star = c == '*';
        out.push(c);
    }
    out
}

/// The length of the literal prefix and the start of the literal suffix of a glob;
/// both are the glob's length when it has no wildcard.
fn literal_ends(glob: &str) -> (usize, usize) {
    match (glob.find(is_wildcard), glob.rfind(is_wildcard)) {
        (Some(first), Some(last)) => (first, last + 1),
        _ => (glob.len(), glob.len()),
    }
}

/// Matches a glob against text, both as stored (no normalization happens here).
#[cfg(test)]
pub(crate) fn glob_match(glob: &str, text: &str) -> bool {
    let (prefix_len, suffix_start) = literal_ends(glob);
    glob_match_split(glob, prefix_len, suffix_start, text)
}

fn glob_match_split(glob: &str, prefix_len: usize, suffix_start: usize, text: &str) -> bool {
    if prefix_len == glob.len() {
        return glob == text;
    }
    let (Some(prefix), Some(middle), Some(suffix)) = (
        glob.get(..prefix_len),
        glob.get(prefix_len..suffix_start),
        glob.get(suffix_start..),
    ) else {
        return false;
    };
    // The literal ends are anchored, so only the text between them is left to the
    // general matcher; they cannot overlap because the middle matches at least nothing.
    if text.len() < prefix.len() + suffix.len()
        || !text.starts_with(prefix)
        || !text.ends_with(suffix)
    {
        return false;
    }
    let rest = text
        .as_bytes()
        .get(prefix.len()..text.len() - suffix.len())
        .unwrap_or_default();
    wildcard_match(middle.as_bytes(), rest)
}

/// The length of the UTF-8 sequence that starts with `lead`.
#[inline]
fn utf8_len(lead: u8) -> usize {
    match lead {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

/// The classic iterative wildcard matcher: on a mismatch, only the most recent `*` is
/// retried one character further, which bounds the work by the product of the lengths
/// instead of growing exponentially with the number of stars.
///
/// Both inputs are valid UTF-8 cut at character boundaries, so `?` and the star's
/// retries move by whole characters, and a literal byte only ever meets the byte at the
/// same offset of the same character.
fn wildcard_match(glob: &[u8], text: &[u8]) -> bool {
    let (mut g, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while let Some(&tb) = text.get(t) {
        match glob.get(g) {
            Some(b'*') => {
                star = Some((g, t));
                g += 1;
                continue;
            }
            Some(b'?') => {
                g += 1;
                t += utf8_len(tb);
                continue;
            }
            Some(&gb) if gb == tb => {
                g += 1;
                t += 1;
                continue;
            }
            _ => {}
        }
        let Some((star_g, star_t)) = star else {
            return false;
        };
        let retry = star_t + text.get(star_t).map_or(1, |&b| utf8_len(b));
        star = Some((star_g, retry));
        g = star_g + 1;
        t = retry;
    }
    glob.get(g..).unwrap_or_default().iter().all(|&b| b == b'*')
}
