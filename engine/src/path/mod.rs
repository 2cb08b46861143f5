//! Path normalization and path patterns.
//!
//! Every program start is checked against policies, and many policies name files by
//! path. This module turns the path of an execution event into one canonical spelling
//! and matches it against compiled patterns, so that no other spelling of the same file
//! can slip past a rule.
//!
//! # Two families
//!
//! [`Family::Windows`] paths compare case-insensitively. The normalized form:
//!
//! - is folded with Unicode *simple* case folding ([`fold_char`]), so `CMD.EXE`,
//!   `cmd.exe` and `Cmd.Exe` are one path;
//! - uses `\` as its only separator (`/` is read as `\`), with runs of separators
//!   collapsed;
//! - drops `.` components and resolves `..` lexically (no file system access);
//! - drops the device prefixes `\\?\`, `\\.\` and `\??\` (`\\?\UNC\host\share\x`
//!   becomes `\\host\share\x`);
//! - removes trailing dots and spaces from every component, as Windows does when it
//!   opens a file (`cmd.exe.` is `cmd.exe`; a component left empty vanishes like `.`);
//! - is rooted at a drive (`c:\`, `c:\windows`) or a share (`\\host\share`,
//!   `\\host\share\x`), and has no trailing separator except in `c:\`.
//!
//! [`Family::Posix`] paths (linux and macOS) compare case-sensitively, use `/` only (a
//! `\` is an ordinary character), must start with `/`, and have `//` collapsed, `.`
//! dropped and `..` resolved lexically; only the root `/` ends with a separator.
//!
//! Empty paths, paths containing NUL, relative paths and a `..` above the root are
//! [`PathError`]s. [`normalize_into`] runs on every program start and allocates nothing
//! beyond growing the caller's buffer.
//!
//! # Patterns
//!
//! A [`Pattern`] is matched against a *normalized* path of its family:
//!
//! - `regex:` followed by a regular expression (syntax of the `regex` crate) is searched
//!   in the normalized path, unanchored, so authors write `^` and `$`; on Windows it is
//!   case-insensitive and must spell separators as `\\`.
//! - Anything else is a glob: `*` matches any run of characters *including separators*
//!   and `?` exactly one character. There is no escape: to match a literal `*`, `?` or
//!   (on Windows) `%`, use `?` or a `regex:` pattern.
//!
//! A glob is normalized with its family's path rules before it is compiled, so
//! `C:/WINDOWS//System32/` and `c:\windows\system32` are the same pattern. It need not be
//! absolute when it starts with a wildcard (`*\chrome.exe`, `*/bin/*`); any other
//! relative glob could never match and is rejected. A `..` that would remove a
//! component containing a wildcard is rejected, and so, on Windows, is a wildcard
//! component ending in dots or spaces (`C:\Tools\*.` would otherwise silently become
//! `C:\Tools\*`).
//!
//! On Windows, `%NAME%` tokens expand first to standard locations with `*` for the user
//! name (`%LOCALAPPDATA%\*.exe` is `c:\users\*\appdata\local\*.exe`); see [`env`].
//!
//! Globs match in time proportional to the product of the pattern and path lengths at
//! worst; regular expressions are bounded in compiled size and nesting depth.
//!
//! # Sets
//!
//! A [`PatternSet`], built with [`PatternSetBuilder`] like globset's, answers which of
//! many patterns match one path. Each pattern is filed by its [`Strategy`]: exact paths
//! in a hash map, literal prefixes and suffixes in tries, inner literals in an
//! Aho-Corasick automaton, and regular expressions behind one `RegexSet`; only the
//! candidates these find are verified. With a reused [`SetScratch`] and output vector,
//! matching allocates nothing.
//!
//! ```text
//! let mut path = String::new();
//! normalize_into(Family::Windows, r"\\?\C:\WINDOWS\system32\.\CMD.EXE ", &mut path)?;
//! assert_eq!(path, r"c:\windows\system32\cmd.exe");
//!
//! let mut builder = PatternSetBuilder::new();
//! builder.add(Pattern::compile(Family::Windows, r"%SystemRoot%\System32\*.exe")?, 1);
//! builder.add(Pattern::compile(Family::Windows, r"regex:\\temp\\")?, 2);
//! let set = builder.build();
//! let (mut scratch, mut hits) = (SetScratch::default(), Vec::new());
//! set.matches(&path, &mut scratch, &mut hits);
//! assert_eq!(hits, [1]);
//! ```

pub mod env;
mod normalize;
mod pattern;
mod set;

#[cfg(test)]
mod tests;

pub use normalize::{fold_char, normalize, normalize_into, PathError};
pub use pattern::{Pattern, PatternError, Strategy, REGEX_PREFIX};
pub use set::{PatternSet, PatternSetBuilder, SetScratch};

/// The rules a path is compared by, chosen by the operating system of the computer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Windows: case-insensitive, `\` and `/` separators, drive and UNC roots.
    Windows,
    /// Linux and macOS: case-sensitive, `/` separator, rooted at `/`.
    Posix,
}

impl Family {
    /// The separator of normalized paths of this family.
    pub fn separator(self) -> char {
        match self {
            Family::Windows => '\\',
            Family::Posix => '/',
        }
    }
}
