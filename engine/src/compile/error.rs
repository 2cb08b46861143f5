//! Errors a rule author reads: each names the entry, where it is, and what is wrong.

use std::fmt;

use super::span;

/// The kind of bundle entry an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum EntryKind {
    /// The bundle as a whole (its format, or its syntax).
    Bundle,
    /// An organization.
    Organization,
    /// A computer group.
    Group,
    /// A computer.
    Computer,
    /// An application.
    Application,
    /// A policy.
    Policy,
}

impl EntryKind {
    fn noun(self) -> &'static str {
        match self {
            EntryKind::Bundle => "bundle",
            EntryKind::Organization => "organization",
            EntryKind::Group => "group",
            EntryKind::Computer => "computer",
            EntryKind::Application => "application",
            EntryKind::Policy => "policy",
        }
    }
}

/// What class of mistake an error is, for callers that want to match on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not valid JSON, or a value has the wrong shape.
    Syntax,
    /// The bundle names a format this version does not read.
    Format,
    /// Two entries of one kind share an id, or two policies of one organization share a
    /// position.
    Duplicate,
    /// An id refers to an entry that does not exist, or that may not be used there.
    Reference,
    /// Organizations' parents form a cycle.
    Cycle,
    /// A value is invalid: a pattern, a time window, a recipient, a missing condition.
    Invalid,
    /// A limit on the size of the bundle was exceeded.
    Limit,
}

/// One problem in a bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CompileError {
    /// What class of mistake.
    pub kind: ErrorKind,
    /// The entry's kind.
    pub entry: EntryKind,
    /// The entry's id, when it has one.
    pub id: Option<String>,
    /// Where in the document, e.g. `policies[3].applications[0]`.
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// 1-based line and column in the text, for bundles read from text.
    pub location: Option<(usize, usize)>,
}

impl CompileError {
    pub(crate) fn new(
        kind: ErrorKind,
        entry: EntryKind,
        id: Option<&str>,
        path: String,
        message: String,
    ) -> Self {
        CompileError {
            kind,
            entry,
            id: id.map(str::to_owned),
            path,
            message,
            location: None,
        }
    }
}

impl fmt::Display for CompileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((line, column)) = self.location {
            write!(f, "{line}:{column}: ")?;
        }
        if !self.path.is_empty() {
            write!(f, "{}", self.path)?;
        }
        if let Some(id) = &self.id {
            write!(f, " ({} `{id}`)", self.entry.noun())?;
        }
        if !self.path.is_empty() || self.id.is_some() {
            write!(f, ": ")?;
        }
        write!(f, "{}", self.message)
    }
}

impl std::error::Error for CompileError {}

/// How many errors of one bundle get a line and column.
pub const LOCATED_ERRORS: usize = 100;

/// Every problem found in a bundle; compiling reports them all, not just the first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CompileErrors {
    errors: Vec<CompileError>,
}

impl CompileErrors {
    pub(crate) fn new(errors: Vec<CompileError>) -> Self {
        CompileErrors { errors }
    }

    pub(crate) fn one(error: CompileError) -> Self {
        CompileErrors {
            errors: vec![error],
        }
    }

    /// The errors, in document order of discovery.
    pub fn errors(&self) -> &[CompileError] {
        &self.errors
    }

    /// Takes paths into entries appended after `before` entries of each list
    /// (organizations, groups, computers, applications, policies) back to paths into
    /// the appended entries alone.
    pub(crate) fn shifted(mut self, before: [usize; 5]) -> Self {
        const LISTS: [&str; 5] = [
            "organizations",
            "groups",
            "computers",
            "applications",
            "policies",
        ];
        for error in &mut self.errors {
            for (list, before) in LISTS.into_iter().zip(before) {
                let Some(rest) = error.path.strip_prefix(list) else {
                    continue;
                };
                let Some(rest) = rest.strip_prefix('[') else {
                    continue;
                };
                let Some((number, tail)) = rest.split_once(']') else {
                    continue;
                };
                if let Ok(n) = number.parse::<usize>() {
                    if n >= before {
                        error.path = format!("{list}[{}]{tail}", n - before);
                    }
                }
            }
        }
        self
    }

    /// Fills in line and column from the text the bundle was read from.
    ///
    /// Each lookup scans the text, so only the first [`LOCATED_ERRORS`] errors are
    /// located: a hostile bundle with a million errors costs a million-fold less.
    pub(crate) fn locate(mut self, text: &str) -> Self {
        for error in self.errors.iter_mut().take(LOCATED_ERRORS) {
            if error.location.is_none() {
                let path = span::parse_path(&error.path);
                error.location = span::locate(text, &path).map(|l| (l.line, l.column));
            }
        }
        self
    }
}

impl fmt::Display for CompileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, error) in self.errors.iter().enumerate() {
            if n > 0 {
                writeln!(f)?;
            }
            write!(f, "{error}")?;
        }
        Ok(())
    }
}

impl std::error::Error for CompileErrors {}

impl IntoIterator for CompileErrors {
    type Item = CompileError;
    type IntoIter = std::vec::IntoIter<CompileError>;

    fn into_iter(self) -> Self::IntoIter {
        self.errors.into_iter()
    }
}
