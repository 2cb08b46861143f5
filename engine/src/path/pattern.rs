//! Compiled path patterns: globs and `regex:` regular expressions.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

use regex_automata::nfa::thompson::WhichCaptures;
use regex_automata::util::syntax;
use regex_automata::{meta, Input, MatchKind, PatternSet as RegexHits};
use regex_syntax::hir::literal::{ExtractKind, Extractor};
use regex_syntax::hir::Look;
use rustc_hash::FxHashMap;

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

/// Upper bound on the compiled size of the regular expressions of one
/// [`PatternSet`](crate::path::PatternSet) compiled together; beyond it they are
/// matched one by one.
pub(crate) const REGEX_SET_SIZE_LIMIT: usize = 16 * REGEX_SIZE_LIMIT;

/// The lazy DFA's cache capacity, per search cache, as the `regex` crate sets it.
const REGEX_CACHE_CAPACITY: usize = 2 << 20;

/// How many search caches one [`PatternScratch`] keeps; past it, one is dropped for
/// each new one, so a thread that cycles through more regular expressions than this
/// allocates again, but memory stays bounded. The cache of a small expression takes
/// 3 to 8 KiB once used; a large one's lazy DFA grows to at most
/// [`REGEX_CACHE_CAPACITY`] in each direction.
pub(crate) const SCRATCH_CACHES: usize = 4096;

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
    Regex(CompiledRegex),
}

/// Source of [`CompiledRegex::id`]: never reused, so a cache is never handed to another
/// expression than the one that created it.
static NEXT_REGEX_ID: AtomicU64 = AtomicU64::new(0);

/// A `regex_automata` regular expression, searched only with caches passed in (never
/// with its internal pool, which locks for every thread but the first), and the
/// identity under which a [`PatternScratch`] keeps its cache. Clones share the compiled
/// program, so they share the identity too.
#[derive(Debug, Clone)]
pub(crate) struct CompiledRegex {
    id: u64,
    regex: meta::Regex,
}

impl CompiledRegex {
    /// One expression of `family`, for [`Pattern::is_match`]: leftmost-first, with
    /// only the implicit group (no search here reports capture groups).
    fn build(family: Family, body: &str) -> Result<CompiledRegex, PatternError> {
        let config = meta::Config::new()
            .nfa_size_limit(Some(REGEX_SIZE_LIMIT))
            .which_captures(WhichCaptures::Implicit);
        regex_builder(family, config)
            .build(body)
            .map(Self::new)
            .map_err(|e| PatternError::InvalidRegex(regex_explanation(&e)))
    }

    /// Many expressions of `family` in one, every one of which is reported when it
    /// matches (`MatchKind::All`); pattern `i` of the result is `bodies[i]`. `None`
    /// when they do not compile together within `size_limit`.
    pub(crate) fn build_many(
        family: Family,
        bodies: &[&str],
        size_limit: usize,
    ) -> Option<CompiledRegex> {
        let config = meta::Config::new()
            .nfa_size_limit(Some(size_limit))
            .match_kind(MatchKind::All)
            .which_captures(WhichCaptures::None);
        regex_builder(family, config)
            .build_many(bodies)
            .ok()
            .map(Self::new)
    }

    fn new(regex: meta::Regex) -> Self {
        CompiledRegex {
            id: NEXT_REGEX_ID.fetch_add(1, Ordering::Relaxed),
            regex,
        }
    }

    /// Whether the expression matches anywhere in `haystack`, with the cache `scratch`
    /// keeps for it.
    fn is_match_with(&self, haystack: &str, scratch: &mut PatternScratch) -> bool {
        self.search(haystack, &mut scratch.cache(self).cache)
    }

    /// Whether the expression matches anywhere in `haystack`, with `cache`, which must
    /// come from this expression.
    fn search(&self, haystack: &str, cache: &mut meta::Cache) -> bool {
        self.regex
            .search_half_with(cache, &Input::new(haystack).earliest(true))
            .is_some()
    }

    /// The patterns of a multi-pattern expression that match anywhere in `haystack`.
    pub(crate) fn which_match<'s>(
        &self,
        haystack: &str,
        scratch: &'s mut PatternScratch,
    ) -> &'s RegexHits {
        let cache = scratch.cache(self);
        // Clearing visits every pattern: skip it after a search that found none.
        if !cache.hits.is_empty() {
            cache.hits.clear();
        }
        self.regex.which_overlapping_matches_with(
            &mut cache.cache,
            &Input::new(haystack),
            &mut cache.hits,
        );
        &cache.hits
    }
}

/// The search state of one [`CompiledRegex`].
#[derive(Debug, Clone)]
struct RegexCache {
    cache: meta::Cache,
    /// Sized for the expression's patterns; only multi-pattern searches fill it.
    hits: RegexHits,
}

/// Reusable search caches for `regex:` patterns, for [`Pattern::is_match_with`].
///
/// Each regular expression searches with a cache of its own, which this keeps by the
/// expression's identity, created on first use; keep one per thread, and matching the
/// same expressions again neither locks nor allocates. It holds at most a bounded
/// number of caches (dropping one for each new expression past that), so a thread that
/// cycles through more regular expressions than that allocates again.
/// `PatternScratch::default()` works with any pattern.
#[derive(Debug, Clone, Default)]
pub struct PatternScratch {
    caches: FxHashMap<u64, RegexCache>,
}

impl PatternScratch {
    fn cache(&mut self, regex: &CompiledRegex) -> &mut RegexCache {
        if self.caches.len() >= SCRATCH_CACHES && !self.caches.contains_key(&regex.id) {
            if let Some(&old) = self.caches.keys().next() {
                self.caches.remove(&old);
            }
        }
        self.caches.entry(regex.id).or_insert_with(|| RegexCache {
            cache: regex.regex.create_cache(),
            hits: RegexHits::new(regex.regex.pattern_len()),
        })
    }

    /// How many caches this holds.
    #[cfg(test)]
    pub(crate) fn cached(&self) -> usize {
        self.caches.len()
    }
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
        let regex = CompiledRegex::build(family, body)?;
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
    /// A glob never allocates, and runs in time proportional to the product of the
    /// pattern and path lengths at worst. A regular expression creates a search cache
    /// for this one call: on a hot path, use [`is_match_with`](Self::is_match_with).
    pub fn is_match(&self, normalized_path: &str) -> bool {
        self.is_match_with(normalized_path, &mut PatternScratch::default())
    }

    /// Like [`is_match`](Self::is_match), but a regular expression searches with the
    /// cache that `scratch` keeps for it: no lock, and no allocation once the cache
    /// has grown.
    pub fn is_match_with(&self, normalized_path: &str, scratch: &mut PatternScratch) -> bool {
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
            Matcher::Regex(regex) => regex.is_match_with(normalized_path, scratch),
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

    /// For a regular expression that every match of starts at the beginning of the path
    /// (`^`), the literal texts one of which every match begins with, as they are in a
    /// normalized path (folded, for Windows). `None` for a glob, and when there is
    /// nothing such to tell: no `^`, a match that may begin with any character, or a
    /// Windows text outside ASCII.
    ///
    /// The expression is read case-sensitively, as written, and a Windows text is then
    /// folded: a Windows expression ignores case, but it searches a folded path, where
    /// a text it matches at the start is the folded form of one the reading gives.
    pub(crate) fn anchored_literals(&self) -> Option<Vec<Vec<u8>>> {
        if !self.is_regex() {
            return None;
        }
        let hir = regex_syntax::ParserBuilder::new()
            .nest_limit(REGEX_NEST_LIMIT)
            .build()
            .parse(&self.normalized)
            .ok()?;
        if !hir.properties().look_set_prefix().contains(Look::Start) {
            return None;
        }
        let seq = Extractor::new().kind(ExtractKind::Prefix).extract(&hir);
        seq.literals()?
            .iter()
            .map(|literal| {
                let bytes = literal.as_bytes();
                match self.family {
                    _ if bytes.is_empty() => None,
                    Family::Windows if !bytes.is_ascii() => None,
                    Family::Windows => Some(bytes.to_ascii_lowercase()),
                    Family::Posix => Some(bytes.to_vec()),
                }
            })
            .collect()
    }

    /// Whether some normalized path of the pattern's family could match it. False only
    /// for a regular expression whose every match starts with a text no such path
    /// starts with: a normalized Windows path starts with a drive or `\\` and has no
    /// `/`, a POSIX one starts with `/`.
    pub(crate) fn can_match_family(&self) -> bool {
        let Some(starts) = self.anchored_literals() else {
            return true;
        };
        starts.iter().any(|start| {
            let slash = start.first() == Some(&b'/');
            match self.family {
                Family::Windows => !slash,
                Family::Posix => slash,
            }
        })
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
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

fn regex_builder(family: Family, config: meta::Config) -> meta::Builder {
    let mut builder = meta::Builder::new();
    builder
        .configure(config.hybrid_cache_capacity(REGEX_CACHE_CAPACITY))
        .syntax(
            syntax::Config::new()
                .case_insensitive(family == Family::Windows)
                .nest_limit(REGEX_NEST_LIMIT),
        );
    builder
}

/// Worded as the `regex` crate words its errors.
fn regex_explanation(e: &meta::BuildError) -> String {
    if let Some(limit) = e.size_limit() {
        format!("it is too large once compiled (the limit is {limit} bytes)")
    } else if let Some(why) = e.syntax_error() {
        why.to_string()
    } else {
        e.to_string()
    }
}

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
