//! One compiled file rule and how it is checked against an event.

use crate::model::{CertificateCondition, Sha256, Signer};
use crate::path::{Family, PathError, Pattern, PatternScratch};

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

/// The parts of an event that rules look at, normalized once per decision.
#[derive(Debug)]
pub(crate) struct EventView<'e> {
    pub(crate) family: Family,
    pub(crate) sha256: Sha256,
    /// The leaf signer, only when the signature is valid.
    pub(crate) leaf: Option<&'e Signer>,
    pub(crate) path: Result<&'e str, PathError>,
    pub(crate) parent: Option<Result<&'e str, PathError>>,
    pub(crate) created_by: Option<Result<&'e str, PathError>>,
}

impl<'e> EventView<'e> {
    /// The normalized value of a field: `None` when the event does not carry it.
    pub(crate) fn field(&self, field: PathField) -> Option<Result<&'e str, PathError>> {
        match field {
            PathField::Path => Some(self.path),
            PathField::Process => self.parent,
            PathField::CreatedBy => self.created_by,
        }
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
    pub(crate) fn check(&self, event: &EventView<'_>, scratch: &mut PatternScratch) -> Match {
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
                        let pattern = pattern.get(event.family);
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
    pub(crate) fn reasons(&self, event: &EventView<'_>) -> Vec<String> {
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
                let pattern = pattern.get(event.family);
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
