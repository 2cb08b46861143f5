//! One compiled file rule and how it is checked against an event.

use crate::model::{CertificateCondition, Event, Sha256, Signer};
use crate::path::{
    normalize_clean, normalize_into, surely_normalizes, Family, PathError, Pattern, PatternScratch,
};

/// The three event fields that path patterns apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PathField {
    Path = 0,
    Process = 1,
    CreatedBy = 2,
}

impl PathField {
    pub(crate) const ALL: [PathField; 3] =
        [PathField::Path, PathField::Process, PathField::CreatedBy];

    /// The rule key, as written in a bundle.
    pub(crate) fn rule_key(self) -> &'static str {
        match self {
            PathField::Path => "path",
            PathField::Process => "process",
            PathField::CreatedBy => "created_by",
        }
    }
}

/// A pattern compiled for both path families, so one application serves Windows and
/// POSIX computers alike. A pattern that is not an absolute path in one family (say
/// `/usr/bin/*` for Windows) never matches there.
#[derive(Debug, Clone)]
pub(crate) struct FieldPattern {
    pub(crate) windows: Option<Pattern>,
    pub(crate) posix: Option<Pattern>,
}

impl FieldPattern {
    pub(crate) fn get(&self, family: Family) -> Option<&Pattern> {
        match family {
            Family::Windows => self.windows.as_ref(),
            Family::Posix => self.posix.as_ref(),
        }
    }
}

/// A rule ready to be checked: hashes as bytes, names parsed, patterns compiled.
#[derive(Debug)]
pub(crate) struct CompiledRule {
    /// Index of the owning application within its organization.
    pub(crate) app: u32,
    /// Index of the rule within its application, for explanations.
    pub(crate) rule_no: u32,
    pub(crate) sha256: Option<Sha256>,
    pub(crate) certificate: Option<Box<CertificateCondition>>,
    pub(crate) patterns: Option<Box<[Option<FieldPattern>; 3]>>,
}

impl CompiledRule {
    /// A rule with a SHA-256 and no other condition.
    pub(crate) fn bare(app: u32, rule_no: u32, sha256: Sha256) -> CompiledRule {
        CompiledRule {
            app,
            rule_no,
            sha256: Some(sha256),
            certificate: None,
            patterns: None,
        }
    }

    /// Whether the rule is a pattern on `field` and nothing else.
    pub(crate) fn only_pattern(&self, field: PathField) -> bool {
        self.sha256.is_none()
            && self.certificate.is_none()
            && self.patterns.as_deref().is_some_and(|patterns| {
                patterns
                    .iter()
                    .enumerate()
                    .all(|(f, p)| p.is_some() == (f == field as usize))
            })
    }

    /// Whether the rule is a SHA-256 and nothing else.
    pub(crate) fn is_bare(&self) -> bool {
        self.sha256.is_some() && self.certificate.is_none() && self.patterns.is_none()
    }
}

/// The result of checking a rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Match {
    /// A condition fails.
    No,
    /// No condition fails, but one is on a path that cannot be normalized: a deny
    /// counts it as a match (fail closed), a permit does not.
    Unknown,
    /// Every condition holds.
    Yes,
}

/// One of the event's paths, normalized when something first needs it.
#[derive(Debug)]
struct LazyPath<'e> {
    /// As the event gives it; `None` when the event does not carry it.
    raw: Option<&'e str>,
    /// The normalized path, once `state` is `Normalized`.
    out: &'e mut String,
    state: PathState,
}

#[derive(Debug, Clone, Copy)]
enum PathState {
    Pending,
    /// Not normalized yet, but [`surely_normalizes`] vouched for it.
    Clean,
    Normalized,
    Failed(PathError),
}

impl<'e> LazyPath<'e> {
    fn get(&mut self, family: Family) -> Option<Result<&str, PathError>> {
        let raw = self.raw?;
        match self.state {
            PathState::Pending => {
                self.state = match normalize_into(family, raw, self.out) {
                    Ok(()) => PathState::Normalized,
                    Err(error) => PathState::Failed(error),
                };
            }
            PathState::Clean => {
                normalize_clean(family, raw, self.out);
                self.state = PathState::Normalized;
            }
            PathState::Normalized | PathState::Failed(_) => {}
        }
        Some(match self.state {
            PathState::Failed(error) => Err(error),
            PathState::Pending | PathState::Clean | PathState::Normalized => Ok(self.out.as_str()),
        })
    }

    /// The path as the event gives it, when it is not normalized yet and
    /// [`surely_normalizes`] vouches for it.
    fn clean(&mut self, family: Family) -> Option<&'e str> {
        let raw = self.raw?;
        match self.state {
            PathState::Clean => Some(raw),
            PathState::Pending if surely_normalizes(family, raw) => {
                self.state = PathState::Clean;
                Some(raw)
            }
            _ => None,
        }
    }

    fn problem(&mut self, family: Family) -> Option<PathError> {
        if self.clean(family).is_some() {
            return None;
        }
        self.get(family).and_then(Result::err)
    }
}

/// The parts of an event that rules look at. Each path is normalized the first time a
/// rule or a pattern set asks for it, at most once per decision.
#[derive(Debug)]
pub(crate) struct EventView<'e> {
    pub(crate) family: Family,
    pub(crate) sha256: Sha256,
    /// The leaf signer, only when the signature is valid.
    pub(crate) leaf: Option<&'e Signer>,
    /// Path, parent process, creator: in [`PathField`] order.
    paths: [LazyPath<'e>; 3],
}

impl<'e> EventView<'e> {
    /// The event as rules see it, with `buffers` (path, parent, creator) to normalize
    /// into. Nothing is normalized yet.
    pub(crate) fn new(family: Family, event: &'e Event, buffers: [&'e mut String; 3]) -> Self {
        let [path, parent, created_by] = buffers;
        let lazy = |raw: Option<&'e str>, out: &'e mut String| LazyPath {
            raw,
            out,
            state: PathState::Pending,
        };
        EventView {
            family,
            sha256: event.sha256,
            leaf: event.signature.valid_leaf(),
            paths: [
                lazy(Some(&event.path), path),
                lazy(event.parent.as_deref(), parent),
                lazy(event.created_by.as_deref(), created_by),
            ],
        }
    }

    /// The normalized value of a field, normalizing it now if no one did yet: `None`
    /// when the event does not carry it.
    pub(crate) fn field(&mut self, field: PathField) -> Option<Result<&str, PathError>> {
        let family = self.family;
        self.paths.get_mut(field as usize)?.get(family)
    }

    /// The field as the event gives it, when it is not normalized yet and a cheap check
    /// vouches that it normalizes to its bytes folded one by one
    /// ([`fold_clean_byte`](crate::path::fold_clean_byte)).
    pub(crate) fn clean(&mut self, field: PathField) -> Option<&'e str> {
        let family = self.family;
        self.paths.get_mut(field as usize)?.clean(family)
    }

    /// Why the field cannot be normalized, if it cannot: the same answer as
    /// [`EventView::field`], but a path nobody needed is only checked, not normalized,
    /// when it is plainly clean.
    pub(crate) fn problem(&mut self, field: PathField) -> Option<PathError> {
        let family = self.family;
        self.paths.get_mut(field as usize)?.problem(family)
    }
}

impl CompiledRule {
    pub(crate) fn pattern(&self, field: PathField) -> Option<&FieldPattern> {
        self.patterns
            .as_ref()
            .and_then(|p| p.get(field as usize))
            .and_then(Option::as_ref)
    }

    /// Checks every condition; regular expressions search with the caches of `scratch`.
    pub(crate) fn check(&self, event: &mut EventView<'_>, scratch: &mut PatternScratch) -> Match {
        let family = event.family;
        let mut result = Match::Yes;
        if let Some(hash) = &self.sha256 {
            if *hash != event.sha256 {
                return Match::No;
            }
        }
        if let Some(condition) = &self.certificate {
            if !certificate_matches(condition, event.leaf) {
                return Match::No;
            }
        }
        for field in PathField::ALL {
            if let Some(pattern) = self.pattern(field) {
                match event.field(field) {
                    None => return Match::No,
                    Some(Err(_)) => result = Match::Unknown,
                    Some(Ok(path)) => {
                        let pattern = pattern.get(family);
                        if !pattern.is_some_and(|p| p.is_match_with(path, scratch)) {
                            return Match::No;
                        }
                    }
                }
            }
        }
        result
    }

    /// Why the rule does not match, one reason per failing condition; empty when it
    /// matches.
    pub(crate) fn reasons(&self, event: &mut EventView<'_>) -> Vec<String> {
        let family = event.family;
        let mut out = Vec::new();
        if let Some(hash) = &self.sha256 {
            if *hash != event.sha256 {
                out.push(format!("sha256 is `{}`, not `{hash}`", event.sha256));
            }
        }
        if let Some(condition) = &self.certificate {
            if !certificate_matches(condition, event.leaf) {
                out.push(match event.leaf {
                    None => "certificate: the file has no valid signature".to_owned(),
                    Some(leaf) => {
                        format!("certificate: the signer `{}` does not match", leaf.subject)
                    }
                });
            }
        }
        for field in PathField::ALL {
            if let Some(pattern) = self.pattern(field) {
                let key = field.rule_key();
                let pattern = pattern.get(family);
                match (event.field(field), pattern) {
                    (None, _) => out.push(format!("{key}: the event does not say")),
                    (Some(Err(error)), _) => {
                        out.push(format!("{key}: cannot be normalized ({error})"))
                    }
                    (Some(Ok(_)), None) => {
                        out.push(format!("{key}: the pattern is not a path of this system"))
                    }
                    (Some(Ok(path)), Some(pattern)) if !pattern.is_match(path) => out.push(
                        format!("{key}: `{path}` does not match `{}`", pattern.normalized()),
                    ),
                    (Some(Ok(_)), Some(_)) => {}
                }
            }
        }
        out
    }
}

/// A certificate condition holds only for a valid signature's leaf certificate.
pub(crate) fn certificate_matches(condition: &CertificateCondition, leaf: Option<&Signer>) -> bool {
    let Some(leaf) = leaf else {
        return false;
    };
    if let Some(thumbprint) = &condition.thumbprint {
        if leaf.thumbprint.as_ref() != Some(thumbprint) {
            return false;
        }
    }
    if let Some(subject) = &condition.subject {
        if !leaf.subject.matches(subject) {
            return false;
        }
    }
    if let Some(issuer) = &condition.issuer {
        match &leaf.issuer {
            Some(actual) if actual.matches(issuer) => {}
            _ => return false,
        }
    }
    true
}
