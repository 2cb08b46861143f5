//! Indexes over one organization's file rules, one bucket per match kind.
//!
//! Every rule is filed under exactly one *anchor* — its most selective condition: the
//! SHA-256, else the certificate thumbprint, else one attribute of the certificate
//! subject, else a path pattern (path, then parent process, then creator). A decision
//! looks the event up in each bucket, collects the candidate rules, and verifies every
//! condition of each candidate. So the cost of a decision follows the number of rules
//! that could match, not the number of rules.

mod digest;
mod rule;

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hash};

use digest::DigestTable;

use rustc_hash::FxHasher;

use crate::model::{DistinguishedName, Sha256};
use crate::path::{Family, Pattern, PatternScratch, PatternSet, PatternSetBuilder, SetScratch};

pub(crate) use rule::{CompiledRule, EventView, FieldPattern, Match, PathField};

/// A map from a key to one or more rule ids, stored flat: most keys name one rule, so
/// the common entry is a single `u32` and no per-key vector is allocated.
///
/// In C order, the overflow first: in [`RuleIndex`] that puts the slots on the cache
/// line after the digest table's.
#[derive(Debug)]
#[repr(C)]
struct MultiMap<K> {
    overflow: Vec<Vec<u32>>,
    slots: HashMap<K, u32, BuildHasherDefault<FxHasher>>,
}

impl<K> Default for MultiMap<K> {
    fn default() -> Self {
        MultiMap {
            slots: HashMap::default(),
            overflow: Vec::new(),
        }
    }
}

/// Set on a slot that points into `overflow` rather than at a rule.
const OVERFLOW: u32 = 1 << 31;

/// Set on a candidate that is a *bare* hash rule (a SHA-256 and nothing else), which
/// is not kept as a [`CompiledRule`]: the rest is its application's local index. The
/// digest table's key comparison is the whole check of such a rule, so it needs
/// nothing more, and most rules of a large fleet are bare. A pattern set files a rule
/// of one glob and nothing else the same way, since it reports a glob only once it
/// matched.
const BARE: u32 = 1 << 30;

/// A candidate found by [`RuleIndex::map_candidates`] or
/// [`RuleIndex::path_candidates`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum Candidate<'a> {
    /// A bare hash rule of this application (local index): it matches.
    Bare(u32),
    /// A rule to verify.
    Rule(&'a CompiledRule),
}

/// A rule of an application, from [`RuleIndex::rules_of`].
#[derive(Debug, Clone, Copy)]
pub(crate) enum RuleOf<'a> {
    /// A rule the index keeps compiled: the application's next rule that is not bare.
    Compiled(&'a CompiledRule),
    /// A bare hash rule (its rule number and digest), kept in the digest table alone.
    Bare(u32, &'a Sha256),
}

impl RuleOf<'_> {
    /// Calls `f` with the rule as a decision checks it; `app` is its application.
    pub(crate) fn as_compiled<R>(self, app: u32, f: impl FnOnce(&CompiledRule) -> R) -> R {
        match self {
            RuleOf::Compiled(rule) => f(rule),
            RuleOf::Bare(rule_no, digest) => f(&CompiledRule::bare(app, rule_no, *digest)),
        }
    }
}

/// The iterator of [`RuleIndex::rules_of`]: merges the compiled rules, which carry their
/// rule numbers, with the bare ones, which fill the numbers in between.
#[derive(Debug, Clone)]
pub(crate) struct RulesOf<'a> {
    compiled: std::slice::Iter<'a, CompiledRule>,
    bare: std::slice::Iter<'a, u32>,
    table: &'a DigestTable,
    rule_no: u32,
}

impl<'a> Iterator for RulesOf<'a> {
    type Item = RuleOf<'a>;

    fn next(&mut self) -> Option<RuleOf<'a>> {
        let rule = match self.compiled.as_slice().first() {
            Some(rule) if rule.rule_no == self.rule_no => {
                self.compiled.next();
                RuleOf::Compiled(rule)
            }
            _ => {
                let at = self.bare.next()?;
                RuleOf::Bare(self.rule_no, &self.table.entry(*at)?.0)
            }
        };
        self.rule_no += 1;
        Some(rule)
    }
}

impl<K: Hash + Eq> MultiMap<K> {
    fn insert(&mut self, key: K, rule: u32) {
        match self.slots.get_mut(&key) {
            None => {
                self.slots.insert(key, rule);
            }
            Some(slot) if *slot & OVERFLOW != 0 => {
                if let Some(list) = self.overflow.get_mut((*slot & !OVERFLOW) as usize) {
                    list.push(rule);
                }
            }
            Some(slot) => {
                let at = self.overflow.len() as u32 | OVERFLOW;
                self.overflow.push(vec![*slot, rule]);
                *slot = at;
            }
        }
    }

    fn get_into(&self, key: &K, out: &mut Vec<u32>) {
        if let Some(&slot) = self.slots.get(key) {
            if slot & OVERFLOW == 0 {
                out.push(slot);
            } else if let Some(list) = self.overflow.get((slot & !OVERFLOW) as usize) {
                out.extend_from_slice(list);
            }
        }
    }

    fn shrink(&mut self) {
        self.slots.shrink_to_fit();
        self.overflow.shrink_to_fit();
    }
}

/// Patterns of one event field (path, parent or creator), compiled for both families.
#[derive(Debug)]
struct FieldIndex {
    /// Which field it indexes.
    field: PathField,
    windows: PatternSet,
    posix: PatternSet,
    /// Every rule with a condition on this field: the candidates when the event's value
    /// cannot be normalized, so that a deny can still fail closed.
    constrained: Vec<u32>,
}

impl FieldIndex {
    fn set(&self, family: Family) -> &PatternSet {
        match family {
            Family::Windows => &self.windows,
            Family::Posix => &self.posix,
        }
    }
}

/// All file rules of one organization, indexed.
///
/// In C order, so that what every decision reads (the rules' place and the digest
/// table) comes first, then what a signed event or a search of the path patterns
/// reads; [`Partition`](crate::compiled::Partition) puts its own fields of a decision
/// just before, and together they fill three cache lines.
#[derive(Debug)]
#[repr(C)]
pub(crate) struct RuleIndex {
    /// The rules that are not bare, grouped by application in application order.
    rules: Box<[CompiledRule]>,
    by_hash: DigestTable,
    by_subject: MultiMap<u64>,
    /// The pattern sets, apart: 3,888 bytes that only a search of the path patterns
    /// reads.
    fields: Box<[FieldIndex; 3]>,
    by_thumbprint: DigestTable,
    /// Where in `by_hash` each bare hash rule is, in application order, then rule order.
    /// The digest table is all that is kept of a bare rule: the organization's source
    /// does not keep it (see [`RuleIndex::rules_of`]).
    bare: Box<[u32]>,
    /// Where each application's rules start in `rules` and in `bare`, by local index;
    /// one more entry at the end.
    app_starts: Box<[[u32; 2]]>,
    /// The applications (local indices, ascending) with a rule filed under none of the
    /// maps: only a search of the path patterns can find it.
    path_apps: Box<[u32]>,
}

/// Where in a [`RuleIndex`] what every decision reads of it ends: the rules' place
/// and the digest table.
#[cfg(test)]
pub(crate) const DECISION_HEAD: usize =
    std::mem::offset_of!(RuleIndex, by_hash) + std::mem::size_of::<DigestTable>();

/// Builds a [`RuleIndex`]; rules are added already compiled, in application order,
/// then rule order.
#[derive(Default)]
pub(crate) struct RuleIndexBuilder {
    rules: Vec<CompiledRule>,
}

impl RuleIndexBuilder {
    pub(crate) fn add(&mut self, rule: CompiledRule) -> &mut Self {
        self.rules.push(rule);
        self
    }

    pub(crate) fn build(self) -> RuleIndex {
        let mut by_hash = Vec::new();
        let mut by_thumbprint = Vec::new();
        let mut by_subject = MultiMap::default();
        let mut sets: [[PatternSetBuilder; 2]; 3] = Default::default();
        let mut constrained: [Vec<u32>; 3] = Default::default();
        let mut path_apps = Vec::new();
        let mut bare = Vec::new();
        let mut rules = Vec::with_capacity(self.rules.len());
        let mut app_starts: Vec<[u32; 2]> = Vec::new();
        for rule in self.rules {
            while app_starts.len() <= rule.app as usize {
                app_starts.push([rules.len() as u32, bare.len() as u32]);
            }
            if let Some(hash) = rule.sha256.filter(|_| rule.is_bare() && rule.app < BARE) {
                bare.push(by_hash.len() as u32);
                by_hash.push((hash, BARE | rule.app));
                continue;
            }
            let id = rules.len() as u32;
            for field in PathField::ALL {
                if rule.pattern(field).is_some() {
                    if let Some(list) = constrained.get_mut(field as usize) {
                        list.push(id);
                    }
                }
            }
            if let Some(hash) = rule.sha256 {
                by_hash.push((hash, id));
            } else if let Some(thumbprint) = rule.certificate.as_ref().and_then(|c| c.thumbprint) {
                by_thumbprint.push((thumbprint, id));
            } else if let Some(key) = rule
                .certificate
                .as_ref()
                .and_then(|c| c.subject.as_ref())
                .and_then(subject_anchor)
            {
                by_subject.insert(key, id);
            } else {
                path_apps.push(rule.app);
                if let Some((field, pattern)) = PathField::ALL
                    .iter()
                    .find_map(|&f| rule.pattern(f).map(|p| (f, p)))
                {
                    // A rule of this one glob and nothing else is filed in the set
                    // by its application, as a bare hash rule is in the digest
                    // table: the set checks the glob before it reports it, so that
                    // check is the whole check of the rule. A regex stays a rule
                    // to verify.
                    let alone = rule.only_pattern(field) && rule.app < BARE;
                    let value = |p: &Pattern| {
                        if alone && !p.is_regex() {
                            BARE | rule.app
                        } else {
                            id
                        }
                    };
                    if let Some([windows, posix]) = sets.get_mut(field as usize) {
                        if let Some(pattern) = &pattern.windows {
                            windows.add(pattern.clone(), value(pattern));
                        }
                        if let Some(pattern) = &pattern.posix {
                            posix.add(pattern.clone(), value(pattern));
                        }
                    }
                }
            }
            rules.push(rule);
        }
        path_apps.sort_unstable();
        path_apps.dedup();
        by_subject.shrink();
        let mut fields = sets.map(|[windows, posix]| FieldIndex {
            field: PathField::Path,
            windows: windows.build(),
            posix: posix.build(),
            constrained: Vec::new(),
        });
        for ((index, list), field) in fields.iter_mut().zip(constrained).zip(PathField::ALL) {
            index.field = field;
            index.constrained = list;
        }
        app_starts.push([rules.len() as u32, bare.len() as u32]);
        let (by_hash, positions) = DigestTable::with_positions(by_hash);
        let bare = bare
            .iter()
            .map(|&i| positions.get(i as usize).copied().unwrap_or_default())
            .collect();
        RuleIndex {
            rules: rules.into_boxed_slice(),
            bare,
            app_starts: app_starts.into_boxed_slice(),
            by_hash,
            by_thumbprint: DigestTable::new(by_thumbprint),
            by_subject,
            fields: Box::new(fields),
            path_apps: path_apps.into_boxed_slice(),
        }
    }
}

/// The subject attribute a rule is filed under: the common name when there is one, as
/// it is the most selective, else the first attribute.
fn subject_anchor(subject: &DistinguishedName) -> Option<u64> {
    let mut first = None;
    for ((kind, _, _), key) in subject.attributes().zip(subject.attribute_keys()) {
        if *kind == crate::model::dn::AttributeType::CommonName {
            return Some(key);
        }
        first.get_or_insert(key);
    }
    first
}

/// Scratch space reused across decisions so that the decision path does not allocate.
#[derive(Debug, Default)]
pub(crate) struct IndexScratch {
    pub(crate) candidates: Vec<u32>,
    set: SetScratch,
    /// For [`CompiledRule::check`].
    pub(crate) patterns: PatternScratch,
}

impl RuleIndex {
    /// The candidate `id` of [`RuleIndex::map_candidates`] or
    /// [`RuleIndex::path_candidates`].
    #[inline]
    pub(crate) fn candidate(&self, id: u32) -> Option<Candidate<'_>> {
        if id & BARE != 0 {
            Some(Candidate::Bare(id & !BARE))
        } else {
            self.rules.get(id as usize).map(Candidate::Rule)
        }
    }

    /// The rules of application `app` (local index) that are not bare, in rule order.
    pub(crate) fn compiled_of(&self, app: u32) -> &[CompiledRule] {
        let [start, end] = self.app_range(app, 0);
        self.rules.get(start..end).unwrap_or_default()
    }

    /// Where application `app`'s rules are in `rules` (`which` 0) or `bare` (1).
    fn app_range(&self, app: u32, which: usize) -> [usize; 2] {
        let at = |a: usize| {
            self.app_starts
                .get(a)
                .or(self.app_starts.last())
                .and_then(|starts| starts.get(which))
                .map_or(0, |&n| n as usize)
        };
        [at(app as usize), at(app as usize + 1)]
    }

    /// Every rule of application `app` (local index) in rule order: the compiled ones,
    /// and the bare hash rules out of the digest table.
    pub(crate) fn rules_of(&self, app: u32) -> RulesOf<'_> {
        let [start, end] = self.app_range(app, 1);
        RulesOf {
            compiled: self.compiled_of(app).iter(),
            bare: self.bare.get(start..end).unwrap_or_default().iter(),
            table: &self.by_hash,
            rule_no: 0,
        }
    }

    /// How many rules, bare ones included.
    pub(crate) fn len(&self) -> usize {
        self.rules.len() + self.bare.len()
    }

    /// The applications (local indices, ascending) with a rule that only a search of
    /// the path patterns finds.
    pub(crate) fn path_apps(&self) -> &[u32] {
        &self.path_apps
    }

    /// Collects into `out` the ids of the rules filed under the event's hash or signer
    /// (duplicates possible), for [`RuleIndex::candidate`]; the caller verifies them.
    /// Needs no path.
    pub(crate) fn map_candidates(&self, event: &EventView<'_>, out: &mut Vec<u32>) {
        out.clear();
        self.by_hash.get_into(&event.sha256, out);
        if let Some(leaf) = event.leaf {
            if let Some(thumbprint) = &leaf.thumbprint {
                self.by_thumbprint.get_into(thumbprint, out);
            }
            if !self.by_subject.slots.is_empty() {
                for key in leaf.subject.attribute_keys() {
                    self.by_subject.get_into(&key, out);
                }
            }
        }
    }

    /// Collects into `scratch.candidates` the ids of the rules filed under path
    /// patterns that may match the event, and, for a path that cannot be normalized,
    /// of every rule with a condition on it (duplicates possible); the caller verifies
    /// them. Normalizes only the paths that some pattern looks at.
    pub(crate) fn path_candidates(&self, event: &mut EventView<'_>, scratch: &mut IndexScratch) {
        let out = &mut scratch.candidates;
        out.clear();
        let family = event.family;
        for index in self.fields.iter() {
            let field = &index.field;
            let set = index.set(family);
            if set.is_empty() {
                if !index.constrained.is_empty() && event.problem(*field).is_some() {
                    out.extend_from_slice(&index.constrained);
                }
                continue;
            }
            // A clean path that no pattern's literal start or end fits is left as it is.
            if let Some(raw) = event.clean(*field) {
                if !set.may_match_clean(family, raw) {
                    continue;
                }
            }
            match event.field(*field) {
                Some(Ok(path)) => set.matches(path, &mut scratch.set, out),
                Some(Err(_)) => out.extend_from_slice(&index.constrained),
                None => {}
            }
        }
    }
}
