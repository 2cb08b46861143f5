//! Many patterns matched at once, bucketed by [`Strategy`] as globset does.

use aho_corasick::{AhoCorasick, MatchKind};
use rustc_hash::FxHashMap;

use crate::path::pattern::{CompiledRegex, REGEX_SET_SIZE_LIMIT};
use crate::path::{
    fold_clean_byte, fold_clean_windows_word, Family, Pattern, PatternScratch, Strategy,
};

/// Collects patterns and their values, then builds a [`PatternSet`].
#[derive(Debug, Clone, Default)]
pub struct PatternSetBuilder {
    entries: Vec<(Pattern, u32)>,
}

impl PatternSetBuilder {
    /// An empty builder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a compiled pattern that reports `value` when it matches.
    pub fn add(&mut self, pattern: Pattern, value: u32) -> &mut Self {
        self.entries.push((pattern, value));
        self
    }

    /// Indexes the patterns. Cannot fail: every pattern was validated when compiled.
    pub fn build(self) -> PatternSet {
        PatternSet::new(self.entries, REGEX_SET_SIZE_LIMIT)
    }

    /// Builds with another limit on the compiled size of a family's regular expressions
    /// together.
    #[cfg(test)]
    pub(crate) fn build_with_regex_limit(self, limit: usize) -> PatternSet {
        PatternSet::new(self.entries, limit)
    }
}

/// Reusable working memory for [`PatternSet::matches`].
///
/// `SetScratch::default()` works with any set and grows on first use; keep one per
/// thread to make matching allocation-free. It keeps the search caches of the regular
/// expressions of every set it has been used with (up to a bound, see
/// [`PatternScratch`]), so a thread that alternates between the same sets neither
/// locks nor allocates.
#[derive(Debug, Clone, Default)]
pub struct SetScratch {
    /// Per pattern, the last call that already verified it; saves clearing between calls.
    seen: Vec<u32>,
    generation: u32,
    regexes: PatternScratch,
}

impl SetScratch {
    fn next_generation(&mut self, len: usize) -> u32 {
        if self.seen.len() < len {
            self.seen.resize(len, 0);
        }
        if self.generation == u32::MAX {
            self.seen.fill(0);
            self.generation = 0;
        }
        self.generation += 1;
        self.generation
    }

    #[cfg(test)]
    pub(crate) fn force_generation(&mut self, generation: u32) {
        self.generation = generation;
    }

    /// The regular expression caches.
    #[cfg(test)]
    pub(crate) fn regexes(&self) -> &PatternScratch {
        &self.regexes
    }

    /// Whether `id` is seen for the first time in this generation.
    fn first_visit(&mut self, id: usize, generation: u32) -> bool {
        match self.seen.get_mut(id) {
            Some(stamp) if *stamp == generation => false,
            Some(stamp) => {
                *stamp = generation;
                true
            }
            // Unreachable once sized; verifying again is merely slower.
            None => true,
        }
    }
}

/// A byte trie of literal prefixes (or of reversed suffixes) while it is built: one node
/// per byte, each with its own lists. [`Trie::flatten`] turns it into a [`FlatTrie`].
#[derive(Debug, Clone, Default)]
struct Trie {
    nodes: Vec<TrieNode>,
}

#[derive(Debug, Clone, Default)]
struct TrieNode {
    /// Sorted by byte for binary search.
    edges: Vec<(u8, usize)>,
    /// Patterns whose key ends at this node.
    ends: Vec<usize>,
}

impl Trie {
    fn insert(&mut self, key: impl Iterator<Item = u8>, id: usize) {
        if self.nodes.is_empty() {
            self.nodes.push(TrieNode::default());
        }
        let mut node = 0;
        for byte in key {
            let next_free = self.nodes.len();
            let Some(current) = self.nodes.get_mut(node) else {
                return;
            };
            node = match current.edges.binary_search_by_key(&byte, |&(b, _)| b) {
                Ok(i) => current.edges.get(i).map_or(0, |&(_, child)| child),
                Err(i) => {
                    current.edges.insert(i, (byte, next_free));
                    self.nodes.push(TrieNode::default());
                    next_free
                }
            };
        }
        if let Some(end) = self.nodes.get_mut(node) {
            end.ends.push(id);
        }
    }

    /// The same trie in a few flat arrays, with every run of nodes that have one child
    /// and end no pattern merged into its parent's label.
    fn flatten(&self) -> FlatTrie {
        let mut flat = FlatTrie::default();
        if self.nodes.is_empty() {
            return flat;
        }
        flat.nodes.push(FlatNode::default());
        // (node of this trie, the flat node it becomes)
        let mut work = vec![(0usize, 0usize)];
        while let Some((mut node, at)) = work.pop() {
            let label_start = flat.labels.len() as u32;
            while let Some(TrieNode { edges, ends }) = self.nodes.get(node) {
                match edges.as_slice() {
                    [(byte, child)] if ends.is_empty() => {
                        flat.labels.push(*byte);
                        node = *child;
                    }
                    _ => break,
                }
            }
            let Some(TrieNode { edges, ends }) = self.nodes.get(node) else {
                continue;
            };
            let ends_start = flat.ends.len() as u32;
            flat.ends.extend_from_slice(ends);
            let edges_start = flat.edge_bytes.len() as u32;
            for &(byte, child) in edges {
                let child_at = flat.nodes.len();
                flat.nodes.push(FlatNode::default());
                flat.edge_bytes.push(byte);
                flat.children.push(child_at as u32);
                work.push((child, child_at));
            }
            if let Some(slot) = flat.nodes.get_mut(at) {
                *slot = FlatNode {
                    label: [label_start, flat.labels.len() as u32],
                    ends: [ends_start, flat.ends.len() as u32],
                    edges: [edges_start, flat.edge_bytes.len() as u32],
                };
            }
        }
        flat
    }
}

/// A byte trie of literal prefixes (or of reversed suffixes), walked along a path, in
/// flat arrays: a walk touches a few contiguous arrays, not one allocation per node,
/// and a run of bytes without a branch is one label compared byte after byte.
#[derive(Debug, Clone, Default)]
struct FlatTrie {
    /// Node 0 is the root.
    nodes: Vec<FlatNode>,
    labels: Vec<u8>,
    ends: Vec<usize>,
    /// Per edge, sorted by byte within a node: the byte and the child node.
    edge_bytes: Vec<u8>,
    children: Vec<u32>,
}

/// Ranges (start, end) into the arrays of a [`FlatTrie`].
#[derive(Debug, Clone, Copy, Default)]
struct FlatNode {
    /// The bytes that follow the edge into this node (for the root, from the start).
    label: [u32; 2],
    /// Patterns whose key ends after the label.
    ends: [u32; 2],
    edges: [u32; 2],
}

fn range<T>(items: &[T], [start, end]: [u32; 2]) -> &[T] {
    items.get(start as usize..end as usize).unwrap_or_default()
}

impl FlatTrie {
    /// Calls `found` with every pattern whose key is a prefix of `key`.
    fn walk(&self, mut key: impl Iterator<Item = u8>, mut found: impl FnMut(usize)) {
        let mut node = 0;
        loop {
            let Some(current) = self.nodes.get(node) else {
                return;
            };
            for &expected in range(&self.labels, current.label) {
                if key.next() != Some(expected) {
                    return;
                }
            }
            range(&self.ends, current.ends)
                .iter()
                .copied()
                .for_each(&mut found);
            let Some(byte) = key.next() else {
                return;
            };
            let Ok(i) = range(&self.edge_bytes, current.edges).binary_search(&byte) else {
                return;
            };
            let [start, _] = current.edges;
            node = match self.children.get(start as usize + i) {
                Some(&child) => child as usize,
                None => return,
            };
        }
    }
}

/// How the bytes of a clean path map to those of its normalized form, one by one
/// ([`fold_clean_byte`]) or eight at a time.
trait CleanFold: Copy {
    fn byte(self, b: u8) -> u8;
    fn word(self, w: u64) -> u64;
}

#[derive(Clone, Copy)]
struct WindowsFold;

impl CleanFold for WindowsFold {
    #[inline(always)]
    fn byte(self, b: u8) -> u8 {
        fold_clean_byte(Family::Windows, b)
    }
    #[inline(always)]
    fn word(self, w: u64) -> u64 {
        fold_clean_windows_word(w)
    }
}

#[derive(Clone, Copy)]
struct PosixFold;

impl CleanFold for PosixFold {
    #[inline(always)]
    fn byte(self, b: u8) -> u8 {
        b
    }
    #[inline(always)]
    fn word(self, w: u64) -> u64 {
        w
    }
}

/// Whether `window` mapped by `fold`, read from its end when `reversed`, differs from
/// `label`, which has the same length: eight bytes at a time, stopping at the first
/// eight that differ, then the rest one by one.
#[inline(always)]
fn differs(window: &[u8], label: &[u8], reversed: bool, fold: impl CleanFold) -> bool {
    let word = |chunk: &[u8]| <[u8; 8]>::try_from(chunk).map_or(0, u64::from_le_bytes);
    let mut labels = label.chunks_exact(8);
    if reversed {
        let mut windows = window.rchunks_exact(8);
        for (w, l) in windows.by_ref().zip(labels.by_ref()) {
            if fold.word(word(w)).swap_bytes() != word(l) {
                return true;
            }
        }
        let rest = windows.remainder().iter().rev();
        rest.zip(labels.remainder())
            .any(|(&b, &expected)| fold.byte(b) != expected)
    } else {
        let mut windows = window.chunks_exact(8);
        for (w, l) in windows.by_ref().zip(labels.by_ref()) {
            if fold.word(word(w)) != word(l) {
                return true;
            }
        }
        let rest = windows.remainder().iter();
        rest.zip(labels.remainder())
            .any(|(&b, &expected)| fold.byte(b) != expected)
    }
}

impl FlatTrie {
    /// Whether some key is a prefix of `key` mapped by `fold` (a suffix, read from the
    /// end, when `reversed`): [`walk`](Self::walk)'s question when any one answer will
    /// do, with each label compared eight bytes at a time.
    fn any_key_of(&self, key: &[u8], reversed: bool, fold: impl CleanFold) -> bool {
        let n = key.len();
        let mut node = 0;
        // Bytes of `key` matched so far.
        let mut done = 0;
        loop {
            let Some(current) = self.nodes.get(node) else {
                return false;
            };
            let label = range(&self.labels, current.label);
            let end = done + label.len();
            let window = if reversed {
                n.checked_sub(end)
                    .and_then(|start| key.get(start..n - done))
            } else {
                key.get(done..end)
            };
            match window {
                Some(window) if !differs(window, label, reversed, fold) => {}
                _ => return false,
            }
            let [ends_start, ends_end] = current.ends;
            if ends_start < ends_end {
                return true;
            }
            let next = if reversed {
                n.checked_sub(end + 1).and_then(|i| key.get(i))
            } else {
                key.get(end)
            };
            let Some(&byte) = next else {
                return false;
            };
            let edges = range(&self.edge_bytes, current.edges);
            let Ok(i) = edges.binary_search(&fold.byte(byte)) else {
                return false;
            };
            let [start, _] = current.edges;
            node = match self.children.get(start as usize + i) {
                Some(&child) => child as usize,
                None => return false,
            };
            done = end + 1;
        }
    }
}

/// A quick "no" in front of [`FlatTrie::any_key_of`], from one word of the path hashed
/// into a bit set.
///
/// Every key is at least `min` bytes long, so a key fits a path only where the path's
/// bytes at one fixed place equal the key's: for prefixes, the last `len` (at most
/// eight) of the first `min` bytes; for suffixes, the first `len` of the last `min`.
/// Each key's bytes at that place set one bit; a path whose bytes there hash to a clear
/// bit fits no key. The place ends where the keys tend to differ most: prefixes share
/// their start (`c:\program files\`) and suffixes their end (`.exe`).
#[derive(Debug, Clone, Default)]
struct KeyFilter {
    min: usize,
    len: usize,
    /// `64 - log2(bits)`: the hash's top bits pick the bit.
    shift: u32,
    /// Empty when there are no keys, and then no path fits.
    bits: Box<[u64]>,
}

impl KeyFilter {
    /// Bits per key: a path no key fits passes by mistake about once in sixteen.
    const BITS_PER_KEY: usize = 16;
    const MAX_BITS: usize = 1 << 16;

    /// The filter for `keys` (as they read forward, folded as the trie holds them),
    /// prefixes or suffixes.
    fn new<K: AsRef<[u8]>>(keys: &[K], suffixes: bool) -> Self {
        let Some(min) = keys.iter().map(|k| k.as_ref().len()).min() else {
            return KeyFilter::default();
        };
        let bits = (keys.len() * Self::BITS_PER_KEY)
            .next_power_of_two()
            .clamp(64, Self::MAX_BITS);
        let mut filter = KeyFilter {
            min,
            len: min.min(8),
            shift: 64 - bits.trailing_zeros(),
            bits: vec![0; bits / 64].into_boxed_slice(),
        };
        for key in keys {
            if let Some(bit) = filter.bit(key.as_ref(), suffixes, PosixFold) {
                if let Some(word) = filter.bits.get_mut(bit / 64) {
                    *word |= 1 << (bit % 64);
                }
            }
        }
        filter
    }

    /// Whether some key may fit `path` mapped by `fold`: false only when none does.
    #[inline(always)]
    fn may_fit(&self, path: &[u8], suffixes: bool, fold: impl CleanFold) -> bool {
        if self.len == 0 {
            // No key at all (no bits), or an empty key, which fits every path.
            return !self.bits.is_empty();
        }
        let Some(bit) = self.bit(path, suffixes, fold) else {
            return false;
        };
        self.bits
            .get(bit / 64)
            .is_some_and(|word| word & (1 << (bit % 64)) != 0)
    }

    /// The bit for the window of `bytes` mapped by `fold`; `None` when `bytes` is
    /// shorter than every key.
    #[inline(always)]
    fn bit(&self, bytes: &[u8], suffixes: bool, fold: impl CleanFold) -> Option<usize> {
        let start = if suffixes {
            bytes.len().checked_sub(self.min)?
        } else {
            self.min.checked_sub(self.len)?
        };
        let window = bytes.get(start..start + self.len)?;
        let word = match <[u8; 8]>::try_from(window) {
            Ok(word) => fold.word(u64::from_le_bytes(word)),
            Err(_) => {
                let mut word = [0u8; 8];
                for (slot, &b) in word.iter_mut().zip(window) {
                    *slot = fold.byte(b);
                }
                u64::from_le_bytes(word)
            }
        };
        Some((word.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> self.shift) as usize)
    }
}

#[derive(Debug, Clone)]
struct InnerIndex {
    automaton: AhoCorasick,
    /// Per automaton pattern (a distinct literal), the patterns containing it.
    owners: Vec<Vec<usize>>,
}

/// The `regex:` patterns of one family compiled into one expression, which reports
/// exactly those that match in one search.
#[derive(Debug, Clone)]
struct RegexGroup {
    regex: CompiledRegex,
    /// Per pattern of `regex`, the pattern of the set.
    ids: Vec<usize>,
}

/// Patterns of one [`Family`](crate::path::Family), matched together against a
/// normalized path.
///
/// Exact paths are found by one hash lookup, literal prefixes and suffixes by walking a
/// trie along the path, inner literals by one Aho-Corasick scan, and the regular
/// expressions of each family by one search of them all compiled together, which names
/// the ones that match; only the candidates found that way and the patterns without any
/// literal text are checked one by one.
#[derive(Debug, Clone)]
pub struct PatternSet {
    patterns: Vec<Pattern>,
    values: Vec<u32>,
    literals: FxHashMap<Box<str>, Vec<usize>>,
    prefixes: FlatTrie,
    suffixes: FlatTrie,
    inner: Option<InnerIndex>,
    any: Vec<usize>,
    /// The regular expressions of a family, when it has several and they compile
    /// together within [`REGEX_SET_SIZE_LIMIT`].
    regex_groups: Vec<RegexGroup>,
    /// The other regular expressions, checked one by one.
    regexes: Vec<usize>,
    gate: Gate,
}

/// What a clean path (one [`surely_normalizes`](crate::path::surely_normalizes) vouches
/// for) must show for any pattern of the set to match it, checked on the path as the
/// event gives it, before it is normalized: see [`PatternSet::may_match_clean`].
#[derive(Debug, Clone, Default)]
struct Gate {
    /// Every pattern's text that a match must start with: a literal glob's whole path,
    /// a glob's literal prefix, or one of the literal starts of a regular expression
    /// anchored with `^`. The literal suffixes of the other globs are in
    /// [`PatternSet::suffixes`].
    heads: FlatTrie,
    /// The quick "no" in front of a walk of `heads`.
    head_filter: KeyFilter,
    /// The quick "no" in front of a walk of [`PatternSet::suffixes`].
    tail_filter: KeyFilter,
    /// The family all the patterns are of; `None` when there are none, or both.
    family: Option<Family>,
    /// Some pattern has no such text (an inner literal, none at all, a regular
    /// expression not anchored), or the patterns are of both families: every path may
    /// match.
    open: bool,
}

impl Default for PatternSet {
    fn default() -> Self {
        PatternSetBuilder::new().build()
    }
}

impl PatternSet {
    fn new(entries: Vec<(Pattern, u32)>, regex_limit: usize) -> Self {
        let (patterns, values): (Vec<Pattern>, Vec<u32>) = entries.into_iter().unzip();
        let mut literals: FxHashMap<Box<str>, Vec<usize>> = FxHashMap::default();
        let mut prefixes = Trie::default();
        let mut suffixes = Trie::default();
        let mut inner_literals: FxHashMap<&str, usize> = FxHashMap::default();
        let mut inner_owners: Vec<Vec<usize>> = Vec::new();
        let mut inner_keys: Vec<&str> = Vec::new();
        let mut any = Vec::new();
        let mut regexes = Vec::new();
        let mut heads = Trie::default();
        let mut head_keys: Vec<Vec<u8>> = Vec::new();
        let mut tail_keys: Vec<&str> = Vec::new();
        let mut open = false;

        for (id, pattern) in patterns.iter().enumerate() {
            match pattern.strategy() {
                Strategy::Literal(text) => {
                    heads.insert(text.bytes(), id);
                    head_keys.push(text.as_bytes().to_vec());
                    literals.entry(text.into()).or_default().push(id);
                }
                Strategy::Prefix(text) => {
                    heads.insert(text.bytes(), id);
                    head_keys.push(text.as_bytes().to_vec());
                    prefixes.insert(text.bytes(), id);
                }
                Strategy::Suffix(text) => {
                    suffixes.insert(text.bytes().rev(), id);
                    tail_keys.push(text);
                }
                Strategy::Inner(text) => {
                    open = true;
                    let slot = *inner_literals.entry(text).or_insert_with(|| {
                        inner_keys.push(text);
                        inner_owners.push(Vec::new());
                        inner_owners.len() - 1
                    });
                    if let Some(owners) = inner_owners.get_mut(slot) {
                        owners.push(id);
                    }
                }
                Strategy::Any => {
                    open = true;
                    any.push(id);
                }
                Strategy::Regex => {
                    match pattern.anchored_literals() {
                        Some(starts) => {
                            for start in starts {
                                heads.insert(start.iter().copied(), id);
                                head_keys.push(start);
                            }
                        }
                        None => open = true,
                    }
                    regexes.push(id);
                }
            }
        }
        let family = patterns.first().map(Pattern::family);
        let family = family.filter(|&f| patterns.iter().all(|p| p.family() == f));
        let gate = Gate {
            heads: heads.flatten(),
            head_filter: KeyFilter::new(&head_keys, false),
            tail_filter: KeyFilter::new(&tail_keys, true),
            family,
            open: open || (family.is_none() && !patterns.is_empty()),
        };

        let inner = if inner_keys.is_empty() {
            None
        } else {
            match AhoCorasick::builder()
                .match_kind(MatchKind::Standard)
                .build(&inner_keys)
            {
                Ok(automaton) => Some(InnerIndex {
                    automaton,
                    owners: inner_owners,
                }),
                // Too many literals for the automaton: checking each pattern stays correct.
                Err(_) => {
                    any.extend(inner_owners.into_iter().flatten());
                    None
                }
            }
        };

        let (regex_groups, regexes) = group_regexes(&patterns, regexes, regex_limit);

        PatternSet {
            patterns,
            values,
            literals,
            prefixes: prefixes.flatten(),
            suffixes: suffixes.flatten(),
            inner,
            any,
            regex_groups,
            regexes,
            gate,
        }
    }

    /// Whether some pattern may match `raw`, a path of `family` that
    /// [`surely_normalizes`](crate::path::surely_normalizes) vouches for, as the event
    /// gives it: false means that [`matches`](Self::matches) finds nothing in its
    /// normalized form, which therefore need not be built.
    ///
    /// Such a path normalizes to its bytes folded one by one ([`fold_clean_byte`]), so
    /// the literal starts and ends of the patterns are looked for along the folded
    /// bytes; a pattern without either makes the answer true for every path.
    pub(crate) fn may_match_clean(&self, family: Family, raw: &str) -> bool {
        if self.patterns.is_empty() {
            return false;
        }
        if self.gate.open || self.gate.family != Some(family) {
            return true;
        }
        // One copy of the walks per family, so that a label is compared without a
        // branch on the family for each byte.
        match family {
            Family::Windows => self.gate_walks(raw, WindowsFold),
            Family::Posix => self.gate_walks(raw, PosixFold),
        }
    }

    /// For `raw`, a clean path of the set's family, what the gate's filter and its walk
    /// each say: for the literal starts, then for the literal ends.
    #[cfg(test)]
    pub(crate) fn gate_parts(&self, raw: &str) -> [[bool; 2]; 2] {
        match self.gate.family {
            Some(Family::Windows) => self.gate_parts_folded(raw.as_bytes(), WindowsFold),
            _ => self.gate_parts_folded(raw.as_bytes(), PosixFold),
        }
    }

    #[cfg(test)]
    fn gate_parts_folded(&self, bytes: &[u8], fold: impl CleanFold) -> [[bool; 2]; 2] {
        let gate = &self.gate;
        [
            [
                gate.head_filter.may_fit(bytes, false, fold),
                gate.heads.any_key_of(bytes, false, fold),
            ],
            [
                gate.tail_filter.may_fit(bytes, true, fold),
                self.suffixes.any_key_of(bytes, true, fold),
            ],
        ]
    }

    fn gate_walks(&self, raw: &str, fold: impl CleanFold) -> bool {
        let bytes = raw.as_bytes();
        let gate = &self.gate;
        (gate.head_filter.may_fit(bytes, false, fold) && gate.heads.any_key_of(bytes, false, fold))
            || (gate.tail_filter.may_fit(bytes, true, fold)
                && self.suffixes.any_key_of(bytes, true, fold))
    }

    /// The number of patterns in the set.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether the set has no patterns.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns in the order they were added, with their values.
    pub fn iter(&self) -> impl Iterator<Item = (&Pattern, u32)> + '_ {
        self.patterns.iter().zip(self.values.iter().copied())
    }

    /// Appends to `out` the value of every pattern matching `normalized_path`, each
    /// pattern at most once, in no particular order.
    ///
    /// `normalized_path` must come from [`normalize_into`](crate::path::normalize_into).
    /// Lock-free, and allocation-free once `scratch` and `out` have grown.
    pub fn matches(&self, normalized_path: &str, scratch: &mut SetScratch, out: &mut Vec<u32>) {
        let path = normalized_path;
        if self.patterns.is_empty() {
            return;
        }
        if let Some(ids) = self.literals.get(path) {
            out.extend(ids.iter().filter_map(|&id| self.values.get(id)));
        }
        self.prefixes
            .walk(path.bytes(), |id| self.verify(id, path, out));
        self.suffixes
            .walk(path.bytes().rev(), |id| self.verify(id, path, out));
        if let Some(inner) = &self.inner {
            let generation = scratch.next_generation(self.patterns.len());
            match inner.automaton.try_find_overlapping_iter(path) {
                Ok(found) => {
                    for hit in found {
                        let owners = inner.owners.get(hit.pattern().as_usize());
                        for &id in owners.into_iter().flatten() {
                            if scratch.first_visit(id, generation) {
                                self.verify(id, path, out);
                            }
                        }
                    }
                }
                // The automaton is built for overlapping search, so this does not
                // happen; checking every owner keeps the answer right if it did.
                Err(_) => {
                    for &id in inner.owners.iter().flatten() {
                        self.verify(id, path, out);
                    }
                }
            }
        }
        for &id in &self.any {
            self.verify(id, path, out);
        }
        for group in &self.regex_groups {
            let hits = group.regex.which_match(path, &mut scratch.regexes);
            // Iterating visits every pattern: skip it when none matches.
            if hits.is_empty() {
                continue;
            }
            for hit in hits.iter() {
                if let Some(value) = group
                    .ids
                    .get(hit.as_usize())
                    .and_then(|&id| self.values.get(id))
                {
                    out.push(*value);
                }
            }
        }
        for &id in &self.regexes {
            if let (Some(pattern), Some(&value)) = (self.patterns.get(id), self.values.get(id)) {
                if pattern.is_match_with(path, &mut scratch.regexes) {
                    out.push(value);
                }
            }
        }
    }

    /// How many regular expressions are checked one by one rather than together.
    #[cfg(test)]
    pub(crate) fn regexes_alone(&self) -> usize {
        self.regexes.len()
    }

    /// Checks a glob.
    fn verify(&self, id: usize, path: &str, out: &mut Vec<u32>) {
        if let (Some(pattern), Some(&value)) = (self.patterns.get(id), self.values.get(id)) {
            if pattern.is_match(path) {
                out.push(value);
            }
        }
    }
}

/// Compiles the regular expressions `ids` of each family together; returns the groups,
/// and the expressions left to check one by one: a family's only one, or all of a
/// family's when they are too large together.
fn group_regexes(
    patterns: &[Pattern],
    ids: Vec<usize>,
    size_limit: usize,
) -> (Vec<RegexGroup>, Vec<usize>) {
    let mut groups = Vec::new();
    let mut single = Vec::new();
    for family in [Family::Windows, Family::Posix] {
        let (ids, bodies): (Vec<usize>, Vec<&str>) = ids
            .iter()
            .filter_map(|&id| {
                let pattern = patterns.get(id)?;
                (pattern.family() == family).then(|| (id, pattern.normalized()))
            })
            .unzip();
        if ids.len() < 2 {
            single.extend(ids);
            continue;
        }
        match CompiledRegex::build_many(family, &bodies, size_limit) {
            Some(regex) => groups.push(RegexGroup { regex, ids }),
            None => single.extend(ids),
        }
    }
    (groups, single)
}
