//! Resource limits on bundles: how large, how deep, how many, how long.
//!
//! A bundle is written by people and tools the engine does not control; a hostile or
//! broken one must be rejected quickly, with a message, instead of exhausting time or
//! memory at compile time or slowing every decision afterwards. [`Limits`] holds the
//! bounds. They are checked where a bundle enters the engine:
//!
//! - on the text, before it is parsed ([`Limits::check_text`]): its size, how deeply
//!   its JSON nests, and the length of each string as written, so that the parser never
//!   builds a huge or deep value;
//! - on the parsed bundle, before it is compiled ([`Limits::check_bundle`]): entries of
//!   each kind, rules per application, items in each list, the length of each id, name,
//!   user and pattern, and the compiled size and nesting of each `regex:` pattern.
//!
//! Every violation is a [`CompileError`] of kind [`ErrorKind::Limit`] that names the
//! limit, its value and the place (`applications[3].rules[0].path`, with line and
//! column for text). [`Snapshot::compile`](crate::Snapshot::compile),
//! [`Snapshot::compile_json`](crate::Snapshot::compile_json), [`Engine::new`](crate::Engine::new) and
//! [`Engine::from_json`](crate::Engine::from_json) apply [`Limits::default`];
//! [`Engine::builder`](crate::Engine::builder) takes others, and
//! an engine keeps its limits for every deploy.
//!
//! The defaults are far above what real tenancies use and far below what hurts: a
//! bundle at every default limit at once cannot be built (64 MiB of text caps it), and
//! one that reaches any single limit compiles in seconds.
//!
//! Regular expressions are searched by `regex-automata`, whose engines run in time
//! linear in the path, so patterns such as `(a*)*b` that make backtracking engines
//! explode are harmless; what a hostile expression can blow up is the compiled size
//! (`a{10000}{10000}`), which [`Limits::regex_size_limit`] bounds. Pattern compilation
//! keeps its own ceiling of 1 MiB per expression and 64 levels of nesting (see
//! [`path`](crate::path)); limits above those have no further effect.

use regex_automata::nfa::thompson;
use regex_syntax::ast::ErrorKind as AstErrorKind;

use crate::compile::{self, CompileError, CompileErrors, EntryKind, ErrorKind};
use crate::model::{
    Application, Bundle, Computer, ComputerGroup, Event, EventError, Organization, Policy,
};
use crate::path::REGEX_PREFIX;

/// Bounds on what a bundle may contain; see the [module documentation](self).
///
/// ```
/// use portcullis_engine::{Engine, Limits};
///
/// let limits = Limits { max_entries: 2, ..Limits::default() };
/// let text = r#"{"format": "portcullis.bundle/v1", "organizations": [
///     {"id": "a", "name": "A"}, {"id": "b", "name": "B"}, {"id": "c", "name": "C"}]}"#;
/// let error = Engine::builder().limits(limits).snapshot_json(text).unwrap_err();
/// assert_eq!(
///     error.to_string(),
///     "2:57: a list of more than 2 entries (`max_entries`)"
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Bytes of bundle text. Default 64 MiB.
    pub max_bundle_bytes: usize,
    /// How deeply arrays and objects nest in bundle text; a valid bundle needs 6.
    /// Default 32.
    pub max_json_depth: usize,
    /// Bytes of one string: in bundle text, as written between its quotes (escapes
    /// included); in a bundle, of each id, name, reference and user. Default 32 KiB,
    /// the longest path Windows accepts.
    pub max_string_bytes: usize,
    /// Entries of each kind: organizations, groups, computers, applications, policies.
    /// Default 1,000,000.
    pub max_entries: usize,
    /// File rules of one application. Default 100,000.
    pub max_rules_per_application: usize,
    /// Items of a list inside one entry: a policy's applications and users, an
    /// organization's notification recipients. Default 100,000.
    pub max_list_items: usize,
    /// Bytes of one `path`, `process` or `created_by` pattern, `regex:` included.
    /// Matching a glob costs up to the product of its length and the path's, on every
    /// decision that reaches it, so this bounds a decision's worst case. Default 2,048.
    pub max_pattern_bytes: usize,
    /// Compiled size in bytes of the Thompson NFA of one `regex:` pattern
    /// (`regex-automata`'s `nfa_size_limit`). Default 1 MiB.
    pub regex_size_limit: usize,
    /// How deeply groups and repetitions nest in one `regex:` pattern. Default 64.
    pub regex_nest_limit: u32,
    /// Bytes of one execution event's text. Its strings (computer, user, paths, each
    /// signer's attributes) are bounded by `max_string_bytes` and its signers by
    /// `max_list_items` too. Default 1 MiB.
    pub max_event_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bundle_bytes: 64 << 20,
            max_json_depth: 32,
            max_string_bytes: 32 << 10,
            max_entries: 1_000_000,
            max_rules_per_application: 100_000,
            max_list_items: 100_000,
            max_pattern_bytes: 2_048,
            regex_size_limit: 1 << 20,
            regex_nest_limit: 64,
            max_event_bytes: 1 << 20,
        }
    }
}

/// How many limit errors one check reports before it stops looking.
const MAX_ERRORS: usize = 100;

fn limit_error(entry: EntryKind, id: Option<&str>, path: String, message: String) -> CompileError {
    CompileError::new(ErrorKind::Limit, entry, id, path, message)
}

impl Limits {
    /// Reads an execution event from JSON text within these limits: its size before it
    /// is parsed, then [`Limits::check_event`].
    ///
    /// ```
    /// use portcullis_engine::Limits;
    ///
    /// let long = "a".repeat(40_000);
    /// let text = format!(r#"{{"computer": "pc", "user": "{long}", "path": "/bin/sh",
    ///     "sha256": "{}", "time": "2026-01-01T00:00:00Z"}}"#, "0".repeat(64));
    /// let error = Limits::default().parse_event(&text).unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "`user` is 40000 bytes; the limit is 32768 bytes (`max_string_bytes`)"
    /// );
    /// ```
    pub fn parse_event(&self, text: &str) -> Result<Event, EventError> {
        if text.len() > self.max_event_bytes {
            return Err(EventError::new(format!(
                "the event is {} bytes; the limit is {} bytes (`max_event_bytes`)",
                text.len(),
                self.max_event_bytes
            )));
        }
        let event = Event::from_json(text)?;
        self.check_event(&event)?;
        Ok(event)
    }

    /// Checks an event's strings against `max_string_bytes` and its signers against
    /// `max_list_items`; the error names the field. Every entry point that takes an
    /// event from outside (a file, a request, an agent) checks it before storing or
    /// copying it anywhere.
    pub fn check_event(&self, event: &Event) -> Result<(), EventError> {
        let long = |field: &str, value: &str| -> Result<(), EventError> {
            if value.len() > self.max_string_bytes {
                return Err(EventError::new(format!(
                    "`{field}` is {} bytes; the limit is {} bytes (`max_string_bytes`)",
                    value.len(),
                    self.max_string_bytes
                )));
            }
            Ok(())
        };
        long("computer", &event.computer)?;
        long("user", &event.user)?;
        long("path", &event.path)?;
        long("parent", event.parent.as_deref().unwrap_or_default())?;
        long(
            "created_by",
            event.created_by.as_deref().unwrap_or_default(),
        )?;
        let signers = &event.signature.signers;
        if signers.len() > self.max_list_items {
            return Err(EventError::new(format!(
                "`signature.signers` has {} entries; the limit is {} (`max_list_items`)",
                signers.len(),
                self.max_list_items
            )));
        }
        for (i, signer) in signers.iter().enumerate() {
            let names = std::iter::once(("subject", &signer.subject))
                .chain(signer.issuer.as_ref().map(|issuer| ("issuer", issuer)));
            for (which, name) in names {
                let bytes: usize = name.attributes().map(|(_, value, _)| value.len()).sum();
                if bytes > self.max_string_bytes {
                    return Err(EventError::new(format!(
                        "`signature.signers[{i}].{which}` is {bytes} bytes; the limit is {} bytes (`max_string_bytes`)",
                        self.max_string_bytes
                    )));
                }
            }
        }
        Ok(())
    }

    /// Checks bundle text before it is parsed: its size, its nesting, the length of
    /// its strings, the entries of its lists. Reports the first violation, with line
    /// and column.
    pub fn check_text(&self, text: &str) -> Result<(), CompileErrors> {
        if text.len() > self.max_bundle_bytes {
            return Err(CompileErrors::one(limit_error(
                EntryKind::Bundle,
                None,
                String::new(),
                format!(
                    "the bundle is {} bytes; the limit is {} bytes (`max_bundle_bytes`)",
                    text.len(),
                    self.max_bundle_bytes
                ),
            )));
        }
        let bytes = text.as_bytes();
        let mut depth = 0usize;
        let mut string_start: Option<usize> = None;
        let mut escaped = false;
        let (mut in_list, mut in_entry, mut entries) = (false, false, 0usize);
        for (at, &b) in bytes.iter().enumerate() {
            if let Some(start) = string_start {
                if escaped {
                    escaped = false;
                } else if b == b'\\' {
                    escaped = true;
                } else if b == b'"' {
                    string_start = None;
                    continue;
                }
                if at - start > self.max_string_bytes {
                    return Err(self.text_error(
                        text,
                        start,
                        format!(
                            "a string longer than {} bytes (`max_string_bytes`)",
                            self.max_string_bytes
                        ),
                    ));
                }
                continue;
            }
            // Entries of the bundle's lists (arrays at depth 2) are counted here, so
            // that a bundle with millions of them is turned away before the parser
            // builds them all.
            if depth == 2 && in_list && !in_entry && !b" \t\r\n,]".contains(&b) {
                in_entry = true;
                entries += 1;
                if entries > self.max_entries {
                    return Err(self.text_error(
                        text,
                        at,
                        format!(
                            "a list of more than {} entries (`max_entries`)",
                            self.max_entries
                        ),
                    ));
                }
            }
            match b {
                b',' if depth == 2 => in_entry = false,
                b'"' => string_start = Some(at),
                b'[' | b'{' => {
                    depth += 1;
                    if depth == 2 {
                        in_list = b == b'[';
                        in_entry = false;
                        entries = 0;
                    }
                    if depth > self.max_json_depth {
                        return Err(self.text_error(
                            text,
                            at,
                            format!(
                                "arrays and objects nest more than {} deep (`max_json_depth`)",
                                self.max_json_depth
                            ),
                        ));
                    }
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                _ => {}
            }
        }
        Ok(())
    }

    fn text_error(&self, text: &str, at: usize, message: String) -> CompileErrors {
        let before = text.as_bytes().get(..at).unwrap_or_default();
        let line = 1 + before.iter().filter(|&&b| b == b'\n').count();
        let line_start = before
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |n| n + 1);
        let column = 1 + text
            .get(line_start..at)
            .map_or(at - line_start, |s| s.chars().count());
        let mut error = limit_error(EntryKind::Bundle, None, String::new(), message);
        error.location = Some((line, column));
        CompileErrors::one(error)
    }

    /// Checks a parsed bundle before it is compiled. Reports up to 100 violations.
    pub fn check_bundle(&self, bundle: &Bundle) -> Result<(), CompileErrors> {
        let lists = compile::Lists::of(bundle);
        self.check_lists(
            lists,
            [
                bundle.organizations.len(),
                bundle.groups.len(),
                bundle.computers.len(),
                bundle.applications.len(),
                bundle.policies.len(),
            ],
        )
    }

    /// Checks the entries in `lists`; `totals` are the lengths of the bundle's five
    /// lists (organizations, groups, computers, applications, policies), which for a
    /// change include the entries of the organizations it leaves alone.
    pub(crate) fn check_lists(
        &self,
        bundle: compile::Lists<'_>,
        totals: [usize; 5],
    ) -> Result<(), CompileErrors> {
        // Walking a list past the limit would cost what the limit is there to avoid.
        self.check_totals(totals)?;
        let mut check = Check {
            limits: self,
            errors: Vec::new(),
        };
        check.string(
            EntryKind::Bundle,
            None,
            || "format".to_owned(),
            bundle.format,
        );
        check.organizations(bundle.organizations);
        check.groups(bundle.groups);
        check.computers(bundle.computers);
        check.applications(bundle.applications);
        check.policies(bundle.policies);
        check.finish()
    }

    /// Checks the number of entries of each kind; `totals` as in `check_lists`.
    fn check_totals(&self, totals: [usize; 5]) -> Result<(), CompileErrors> {
        let mut check = Check {
            limits: self,
            errors: Vec::new(),
        };
        let names = [
            ("organizations", "organizations"),
            ("groups", "groups"),
            ("computers", "computers"),
            ("applications", "applications"),
            ("policies", "policies"),
        ];
        for ((list, noun), len) in names.into_iter().zip(totals) {
            if len > self.max_entries {
                check.push(
                    EntryKind::Bundle,
                    None,
                    list.to_owned(),
                    format!(
                        "{len} {noun}; the limit is {} entries of each kind (`max_entries`)",
                        self.max_entries
                    ),
                );
            }
        }
        check.finish()
    }
}

/// One pass of [`Limits::check_bundle`].
struct Check<'a> {
    limits: &'a Limits,
    errors: Vec<CompileError>,
}

impl Check<'_> {
    fn finish(self) -> Result<(), CompileErrors> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(CompileErrors::new(self.errors))
        }
    }

    fn organizations(&mut self, organizations: &[Organization]) {
        for (n, o) in organizations.iter().enumerate() {
            let (entry, id) = (EntryKind::Organization, Some(o.id.as_str()));
            let at = |field: &str| format!("organizations[{n}].{field}");
            self.string(entry, id, || at("id"), &o.id);
            self.string(entry, id, || at("name"), &o.name);
            if let Some(parent) = &o.parent {
                self.string(entry, id, || at("parent"), parent);
            }
            if let Some(deny) = &o.default_deny {
                self.list(entry, id, || at("default_deny.notify"), deny.notify.len());
            }
        }
    }

    fn groups(&mut self, groups: &[ComputerGroup]) {
        for (n, g) in groups.iter().enumerate() {
            let (entry, id) = (EntryKind::Group, Some(g.id.as_str()));
            let at = |field: &str| format!("groups[{n}].{field}");
            self.string(entry, id, || at("id"), &g.id);
            self.string(entry, id, || at("organization"), &g.organization);
            self.string(entry, id, || at("name"), &g.name);
        }
    }

    fn computers(&mut self, computers: &[Computer]) {
        for (n, c) in computers.iter().enumerate() {
            let (entry, id) = (EntryKind::Computer, Some(c.id.as_str()));
            let at = |field: &str| format!("computers[{n}].{field}");
            self.string(entry, id, || at("id"), &c.id);
            self.string(entry, id, || at("group"), &c.group);
            self.string(entry, id, || at("name"), &c.name);
        }
    }

    fn applications(&mut self, applications: &[Application]) {
        let max_rules = self.limits.max_rules_per_application;
        for (n, a) in applications.iter().enumerate() {
            let (entry, id) = (EntryKind::Application, Some(a.id.as_str()));
            let at = |field: &str| format!("applications[{n}].{field}");
            self.string(entry, id, || at("id"), &a.id);
            self.string(entry, id, || at("organization"), &a.organization);
            self.string(entry, id, || at("name"), &a.name);
            if a.rules.len() > max_rules {
                self.push(
                    entry,
                    id,
                    at("rules"),
                    format!(
                        "{} rules; the limit is {max_rules} per application (`max_rules_per_application`)",
                        a.rules.len(),
                    ),
                );
                continue;
            }
            for (r, rule) in a.rules.iter().enumerate() {
                let patterns = [
                    ("path", rule.path()),
                    ("process", rule.process()),
                    ("created_by", rule.created_by()),
                ];
                for (field, pattern) in patterns {
                    if let Some(pattern) = pattern {
                        self.pattern(entry, id, || at(&format!("rules[{r}].{field}")), pattern);
                    }
                }
            }
        }
    }

    fn policies(&mut self, policies: &[Policy]) {
        for (n, p) in policies.iter().enumerate() {
            let (entry, id) = (EntryKind::Policy, Some(p.id.as_str()));
            let at = |field: &str| format!("policies[{n}].{field}");
            self.string(entry, id, || at("id"), &p.id);
            if self.list(entry, id, || at("applications"), p.applications.len()) {
                for (k, app) in p.applications.iter().enumerate() {
                    self.string(entry, id, || at(&format!("applications[{k}]")), app);
                }
            }
            if let Some(users) = &p.users {
                if self.list(entry, id, || at("users"), users.len()) {
                    for (k, user) in users.iter().enumerate() {
                        self.string(entry, id, || at(&format!("users[{k}]")), user);
                    }
                }
            }
            if let Some(deny) = &p.on_deny {
                self.list(entry, id, || at("on_deny.notify"), deny.notify.len());
            }
        }
    }

    fn push(&mut self, entry: EntryKind, id: Option<&str>, path: String, message: String) {
        if self.errors.len() < MAX_ERRORS {
            // An id over the limit is not repeated in every message about its entry.
            let id = id.filter(|id| id.len() <= self.limits.max_string_bytes);
            self.errors.push(limit_error(entry, id, path, message));
        }
    }

    fn string(
        &mut self,
        entry: EntryKind,
        id: Option<&str>,
        path: impl FnOnce() -> String,
        value: &str,
    ) {
        if value.len() > self.limits.max_string_bytes {
            self.push(
                entry,
                id,
                path(),
                format!(
                    "the text is {} bytes; the limit is {} bytes (`max_string_bytes`)",
                    value.len(),
                    self.limits.max_string_bytes
                ),
            );
        }
    }

    /// Whether a list of `len` items is within the limit.
    fn list(
        &mut self,
        entry: EntryKind,
        id: Option<&str>,
        path: impl FnOnce() -> String,
        len: usize,
    ) -> bool {
        if len <= self.limits.max_list_items {
            return true;
        }
        self.push(
            entry,
            id,
            path(),
            format!(
                "{len} items; the limit is {} (`max_list_items`)",
                self.limits.max_list_items
            ),
        );
        false
    }

    fn pattern(
        &mut self,
        entry: EntryKind,
        id: Option<&str>,
        path: impl FnOnce() -> String,
        pattern: &str,
    ) {
        let limits = self.limits;
        if pattern.len() > limits.max_pattern_bytes {
            self.push(
                entry,
                id,
                path(),
                format!(
                    "the pattern is {} bytes; the limit is {} bytes (`max_pattern_bytes`)",
                    pattern.len(),
                    limits.max_pattern_bytes
                ),
            );
            return;
        }
        let Some(body) = pattern.strip_prefix(REGEX_PREFIX) else {
            return;
        };
        if let Some(message) = regex_problem(limits, body) {
            self.push(entry, id, path(), message);
        }
    }
}

/// Why a regular expression is over the limits, if it is. Invalid expressions pass:
/// compiling the pattern reports them with the parser's explanation.
fn regex_problem(limits: &Limits, body: &str) -> Option<String> {
    // Case-insensitive, as on Windows: the larger of the two compiled forms.
    let hir = match regex_syntax::ParserBuilder::new()
        .nest_limit(limits.regex_nest_limit)
        .case_insensitive(true)
        .build()
        .parse(body)
    {
        Ok(hir) => hir,
        Err(regex_syntax::Error::Parse(e))
            if matches!(e.kind(), AstErrorKind::NestLimitExceeded(_)) =>
        {
            return Some(format!(
                "the regular expression nests groups and repetitions more than {} deep \
                 (`regex_nest_limit`)",
                limits.regex_nest_limit
            ));
        }
        Err(_) => return None,
    };
    let built = thompson::Compiler::new()
        .configure(
            thompson::Config::new()
                .nfa_size_limit(Some(limits.regex_size_limit))
                .which_captures(thompson::WhichCaptures::None),
        )
        .build_from_hir(&hir);
    match built {
        Err(e) if e.size_limit().is_some() => Some(format!(
            "the regular expression is too large once compiled; the limit is {} bytes \
             (`regex_size_limit`)",
            limits.regex_size_limit
        )),
        _ => None,
    }
}
