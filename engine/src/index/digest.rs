//! A map from SHA-256 digests (file hashes, certificate thumbprints) to rule ids: one
//! sorted array of entries, and in front of it an open-addressed array of slots that
//! finds an entry in one cache line.
//!
//! A hash map keeps free slots (up to half of them after `shrink_to_fit`, since its
//! capacity is a power of two) and a control byte per slot. Here every entry is 36
//! bytes, the digest and its rule id side by side, in digest order. Each entry also
//! has a slot of 8 bytes (the digest's first 32 bits and the entry's place), in an
//! array half again as long as the entries, at or after its *home*: the digest's place
//! in the array scaled from its first 64 bits. Digests are uniformly distributed, and
//! slots are laid in digest order, so a digest's slot is its home or a few slots on,
//! and a look-up reads one line of slots and, when the first 32 bits match, the entry:
//! a digest the table does not hold (the usual case for all but one organization of a
//! decision) costs one line. Keys that are not uniform (an administrator may write any
//! 64 hex digits) only make a run of slots longer, and a run longer than a few slots
//! is left for a bisection of the entries, so the worst case is logarithmic. Several
//! rules may share a digest: their entries, and slots, are adjacent.

use crate::model::Sha256;

/// A slot with no entry. No entry has this one's place (`u32::MAX`), as a table holds
/// fewer than 2^32 entries.
const EMPTY: u64 = u64::MAX;

#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct DigestTable {
    /// `(digest, rule id)`, sorted, with repeats for digests shared by several rules.
    /// A rule id sits beside its key, so that a hit reads one cache line, not two.
    entries: Box<[(Sha256, u32)]>,
    /// For each entry in order, `first 32 bits << 32 | place in entries`, at its home
    /// or after it; [`EMPTY`] elsewhere. A few slots may follow the `homes` first ones.
    slots: Box<[u64]>,
    /// How many slots homes spread over.
    homes: u32,
}

impl DigestTable {
    /// Builds the table from `(digest, rule id)` pairs in any order.
    pub(crate) fn new(mut entries: Vec<(Sha256, u32)>) -> DigestTable {
        entries.sort_unstable();
        DigestTable::from_sorted(entries)
    }

    /// Builds the table from `(digest, rule id)` pairs in any order, and says where
    /// each pair went: `positions[i]` is the place in the table of `pairs[i]`, for
    /// [`DigestTable::entry`].
    pub(crate) fn with_positions(pairs: Vec<(Sha256, u32)>) -> (DigestTable, Vec<u32>) {
        let mut tagged: Vec<(Sha256, u32, u32)> = (0u32..)
            .zip(pairs)
            .map(|(i, (key, id))| (key, id, i))
            .collect();
        tagged.sort_unstable();
        let mut positions = vec![0; tagged.len()];
        let mut entries = Vec::with_capacity(tagged.len());
        for (at, &(key, id, i)) in (0u32..).zip(&tagged) {
            entries.push((key, id));
            if let Some(position) = positions.get_mut(i as usize) {
                *position = at;
            }
        }
        (DigestTable::from_sorted(entries), positions)
    }

    /// The entry at `position`: its digest and rule id.
    pub(crate) fn entry(&self, position: u32) -> Option<&(Sha256, u32)> {
        self.entries.get(position as usize)
    }

    fn from_sorted(entries: Vec<(Sha256, u32)>) -> DigestTable {
        if entries.is_empty() {
            return DigestTable::default();
        }
        // Rule ids are `u32` and so are places: a partition never holds 2^32 rules.
        let homes = (2 * entries.len()).min(u32::MAX as usize);
        let mut slots = vec![EMPTY; homes];
        let mut next = 0usize;
        for (place, (key, _)) in (0u64..).zip(&entries) {
            let word = leading(key);
            let at = home(word, homes as u32).max(next);
            let slot = ((word >> 32) << 32) | place;
            match slots.get_mut(at) {
                Some(free) => *free = slot,
                None => slots.push(slot),
            }
            next = at + 1;
        }
        DigestTable {
            entries: entries.into_boxed_slice(),
            slots: slots.into_boxed_slice(),
            homes: homes as u32,
        }
    }

    /// Appends to `out` the rule ids filed under `key`, in ascending order.
    #[inline(always)]
    pub(crate) fn get_into(&self, key: &Sha256, out: &mut Vec<u32>) {
        let before = out.len();
        let word = leading(key);
        let high = word >> 32;
        let start = home(word, self.homes);
        let run = self.slots.get(start..).unwrap_or_default();
        let walk = run.get(..LINEAR).unwrap_or(run);
        for &slot in walk {
            // Slots before the key's are earlier digests pushed past their homes.
            if slot >> 32 < high {
                continue;
            }
            if slot >> 32 > high || slot == EMPTY {
                return;
            }
            if let Some((candidate, value)) = self.entries.get((slot & 0xffff_ffff) as usize) {
                if candidate == key {
                    out.push(*value);
                }
            }
        }
        if run.len() <= LINEAR {
            return;
        }
        // A long run (digests that are not uniform): bisect the entries instead, and
        // forget what the slots found.
        out.truncate(before);
        let first = self.entries.partition_point(|(k, _)| k < key);
        for (candidate, value) in self.entries.iter().skip(first) {
            if candidate != key {
                break;
            }
            out.push(*value);
        }
    }
}

/// The most slots a look-up walks before it bisects the entries.
const LINEAR: usize = 16;

/// The digest's first eight bytes as a big-endian number: the order of these is the
/// order of digests, as far as they go.
#[inline]
fn leading(key: &Sha256) -> u64 {
    u64::from_be_bytes(key.0.first_chunk::<8>().copied().unwrap_or_default())
}

/// Where a digest whose first eight bytes are `word` is at home among `homes` slots:
/// `word / 2^64` of the way, so that homes keep the digests' order.
#[inline]
fn home(word: u64, homes: u32) -> usize {
    ((u128::from(word) * u128::from(homes)) >> 64) as usize
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use proptest::prelude::*;

    use super::DigestTable;
    use crate::model::Sha256;

    /// The plain answer: every id filed under the key, ascending.
    fn reference(entries: &[(Sha256, u32)], key: &Sha256) -> Vec<u32> {
        let mut map: BTreeMap<Sha256, Vec<u32>> = BTreeMap::new();
        for (k, v) in entries {
            map.entry(*k).or_default().push(*v);
        }
        let mut ids = map.remove(key).unwrap_or_default();
        ids.sort_unstable();
        ids
    }

    fn lookup(table: &DigestTable, key: &Sha256) -> Vec<u32> {
        let mut out = Vec::new();
        table.get_into(key, &mut out);
        out
    }

    /// Digests from a few leading bytes, so that keys share prefixes, collide and
    /// crowd one directory slot, as hand-written digests like `00…01` do.
    fn digest() -> impl Strategy<Value = Sha256> {
        (
            prop_oneof![Just(0u8), Just(0xff), any::<u8>()],
            any::<u8>(),
            0u8..4,
        )
            .prop_map(|(a, b, c)| {
                let mut d = [0u8; 32];
                d[0] = a;
                d[1] = b;
                d[31] = c;
                Sha256(d)
            })
    }

    proptest! {
        #[test]
        fn finds_exactly_what_a_sorted_map_finds(
            entries in proptest::collection::vec((digest(), 0u32..1 << 31), 0..300),
            probes in proptest::collection::vec(digest(), 1..20),
        ) {
            let table = DigestTable::new(entries.clone());
            for key in entries.iter().map(|(k, _)| k).chain(&probes) {
                prop_assert_eq!(lookup(&table, key), reference(&entries, key));
            }
        }
    }

    proptest! {
        #[test]
        fn positions_say_where_each_pair_went(
            pairs in proptest::collection::vec((digest(), 0u32..8), 0..100),
        ) {
            let (table, positions) = DigestTable::with_positions(pairs.clone());
            prop_assert_eq!(positions.len(), pairs.len());
            let mut seen = positions.clone();
            seen.sort_unstable();
            seen.dedup();
            prop_assert_eq!(seen.len(), pairs.len());
            for (pair, &at) in pairs.iter().zip(&positions) {
                prop_assert_eq!(table.entry(at), Some(pair));
            }
            for key in pairs.iter().map(|(k, _)| k) {
                prop_assert_eq!(lookup(&table, key), reference(&pairs, key));
            }
        }
    }

    #[test]
    fn edges_of_the_key_space_and_an_empty_table() {
        let low = Sha256([0; 32]);
        let high = Sha256([0xff; 32]);
        let mut mid = [0x80; 32];
        mid[31] = 1;
        let entries = vec![(high, 3), (low, 1), (Sha256(mid), 2), (low, 0)];
        let table = DigestTable::new(entries);
        assert_eq!(lookup(&table, &low), [0, 1]);
        assert_eq!(lookup(&table, &high), [3]);
        assert_eq!(lookup(&table, &Sha256(mid)), [2]);
        assert_eq!(lookup(&table, &Sha256([0x80; 32])), Vec::<u32>::new());
        assert!(lookup(&DigestTable::new(Vec::new()), &low).is_empty());
    }
}
