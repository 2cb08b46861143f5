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
//! - removes trailing dots and spaces exactly where Windows does when it opens a file
//!   (see below);
//! - is rooted at a drive (`c:\`, `c:\windows`) or a share (`\\host\share`,
//!   `\\host\share\x`), and has no trailing separator except in `c:\` and after a last
//!   name that ends in a dot or a space (`c:\windows \`, the folder `Windows `).
//!
//! ## Trailing dots and spaces
//!
//! A Win32 path, one without a prefix or with `\\.\`, is trimmed as Win32 path
//! normalization does (Microsoft's "File path formats on Windows systems"):
//!
//! - a name followed by a separator loses one dot if it ends in exactly one:
//!   `C:\Windows.\cmd.exe` is `c:\windows\cmd.exe`, but `a..\`, `...\` and `a \` are
//!   kept as they are, so `C:\Windows \evil.exe` stays in the folder `Windows `;
//! - unless the path ends in a separator, the last name, once `.` and `..` are
//!   resolved, loses all its trailing dots and spaces (`cmd.exe. .` is `cmd.exe`, and
//!   `C:\a \x\..` is `c:\a`); a last name left empty vanishes (`C:\a \...` is the
//!   folder `a `).
//!
//! A path that starts exactly with `\\?\` or `\??\`, with backslashes, reaches the file
//! system without any trimming, so `\\?\C:\Windows\cmd.exe.` is the file `cmd.exe.`
//! (`c:\windows\cmd.exe.\`), not `cmd.exe`. Its prefix is still removed, its case
//! folded and its separators, `.` and `..` resolved. Every other spelling of a prefix
//! (`//?/`, `\\?/`) is normalized by Windows like `\\.\`, and here too. Host and share
//! names lose trailing dots and spaces in every form.
//!
//! An event path that reports a file's actual name must therefore carry `\\?\` (or
//! `\??\`) when the name may end in a dot or a space: without it the path is read as a
//! program would pass it to Windows, and trimmed.
//!
//! Normalizing a normalized path again gives the same path, with one exception: a
//! name ending in exactly one dot, which only a `\\?\` or `\??\` path can produce. No
//! Win32 spelling reaches such a name, so read again it loses its dot
//! (`c:\windows.\x` becomes `c:\windows\x`): compare normalized paths, and never
//! normalize one twice.
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
//! component containing a wildcard is rejected. On Windows a glob is always trimmed
//! like a Win32 path, even after `\\?\` (so it cannot name `cmd.exe.`; `cmd.exe*` or a
//! `regex:` pattern can), and a wildcard component that this trimming would change is
//! rejected (`C:\Tools\*.` would otherwise silently become `C:\Tools\*`), while one that
//! Windows keeps is allowed (`C:\Tools\a* \x`).
//!
//! On Windows, `%NAME%` tokens expand first to standard locations with `*` for the user
//! name (`%LOCALAPPDATA%\*.exe` is `c:\users\*\appdata\local\*.exe`); see [`env`](mod@crate::path::env).
//!
//! Globs match in time proportional to the product of the pattern and path lengths at
//! worst; regular expressions are bounded in compiled size and nesting depth.
//!
//! # Sets
//!
//! A [`PatternSet`], built with [`PatternSetBuilder`] like globset's, answers which of
//! many patterns match one path. Each pattern is filed by its [`Strategy`]: exact paths
//! in a hash map, literal prefixes and suffixes in tries, inner literals in an
//! Aho-Corasick automaton; only the candidates these find, and the globs without any
//! literal text, are verified one by one. The regular expressions of each family are
//! compiled into one multi-pattern `regex_automata` expression whose one search names
//! exactly those that match, so none is run again on its own. A family with a single
//! regular expression, or with more than fit together in 16 MiB compiled, has each
//! searched on its own.
//!
//! Before any of that, a set's gate looks at a clean path as the event gives it (one
//! the cheap check of the normalizer vouches for, which normalizes to its bytes folded
//! one by one): when no literal start of a pattern (an exact path, a glob's prefix, an
//! anchored regular expression's literal start) and no literal suffix fits it, nothing
//! in the set can match, and the path need not be normalized for the set.
//!
//! Regular expressions search with caches passed in, never through `regex_automata`'s
//! internal pool, which takes a lock (and may allocate a throwaway cache) on every
//! thread but the first to use an expression. A [`SetScratch`] keeps one cache per
//! expression it has searched, created on first use and found again by the
//! expression's identity, so one scratch serves any number of sets; a
//! [`PatternScratch`] does the same for [`Pattern::is_match_with`], while
//! [`Pattern::is_match`] creates a cache for the one call. Each scratch holds at most
//! 4096 caches and drops one for each new expression past that. With a scratch and
//! an output vector reused on one thread, matching takes no lock and, once the
//! caches have grown for the paths seen, allocates nothing.
//!
//! ```
//! # use portcullis_engine::path::{normalize_into, Family, Pattern};
//! # use portcullis_engine::path::{PatternSetBuilder, SetScratch};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let mut path = String::new();
//! normalize_into(Family::Windows, r"C:/WINDOWS\system32\.\CMD.EXE ", &mut path)?;
//! assert_eq!(path, r"c:\windows\system32\cmd.exe");
//! // `\\?\` trims nothing: this is the file `cmd.exe ` (with its space), not `cmd.exe`.
//! normalize_into(Family::Windows, r"\\?\C:\WINDOWS\system32\.\CMD.EXE ", &mut path)?;
//! assert_eq!(path, r"c:\windows\system32\cmd.exe \");
//! normalize_into(Family::Windows, r"\\?\C:\WINDOWS\system32\.\CMD.EXE", &mut path)?;
//! assert_eq!(path, r"c:\windows\system32\cmd.exe");
//!
//! let mut builder = PatternSetBuilder::new();
//! builder.add(Pattern::compile(Family::Windows, r"%SystemRoot%\System32\*.exe")?, 1);
//! builder.add(Pattern::compile(Family::Windows, r"regex:\\temp\\")?, 2);
//! let set = builder.build();
//! let (mut scratch, mut hits) = (SetScratch::default(), Vec::new());
//! set.matches(&path, &mut scratch, &mut hits);
//! assert_eq!(hits, [1]);
//! # Ok(())
//! # }
//! ```

pub mod env;
mod normalize;
mod pattern;
mod set;

#[cfg(test)]
mod tests;

pub use normalize::{fold_char, normalize, normalize_into, PathError};
pub(crate) use normalize::{
    fold_clean_byte, fold_clean_windows_word, normalize_clean, surely_normalizes,
};
pub use pattern::{Pattern, PatternError, PatternScratch, Strategy, REGEX_PREFIX};
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
