//! A map from SHA-256 digests (file hashes, certificate thumbprints) to rule ids, as one
//! sorted array with a directory of where each leading-bits prefix starts.
//!
//! A hash map keeps free slots (up to half of them after `shrink_to_fit`, since its
//! capacity is a power of two) and a control byte per slot. Here every entry is 36
//! bytes, the digest and its rule id side by side, and the directory about 2 bytes
//! more. Digests are uniformly distributed, so the directory spreads them over about
//! two entries per prefix, and a look-up reads one directory word and one or two
//! cache lines of entries. Keys that are not uniform (an administrator may write any
//! 64 hex digits) only make a range longer, and a range longer than a few entries is
//! bisected, so the worst case is logarithmic. Several rules may share a digest:
//! their entries are adjacent.

use crate::model::Sha256;

/// Entries per directory slot, on average, that the directory is sized for.
const PER_SLOT: usize = 2;

#[derive(Debug, Default)]
#[repr(C)]
pub(crate) struct DigestTable {
    /// `(digest, rule id)`, sorted, with repeats for digests shared by several rules.
    /// A rule id sits beside its key, so that a hit reads one cache line, not two.
    entries: Box<[(Sha256, u32)]>,
    /// `dir[p]..dir[p + 1]` are the entries whose first `64 - shift` bits are `p`.
    dir: Box<[u32]>,
    shift: u32,
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
        // Rule ids are `u32` and so are positions: a partition never holds 2^32 rules.
        let bits = (entries.len() / PER_SLOT)
            .max(1)
            .next_power_of_two()
            .trailing_zeros();
        let shift = 64 - bits;
        let slots = 1usize << bits;
        let mut dir = Vec::with_capacity(slots + 1);
        let mut at = 0usize;
        for slot in 0..slots {
            while entries
                .get(at)
                .is_some_and(|(key, _)| prefix(key, shift) < slot as u64)
            {
                at += 1;
            }
            dir.push(at as u32);
        }
        dir.push(entries.len() as u32);
        DigestTable {
            entries: entries.into_boxed_slice(),
            dir: dir.into_boxed_slice(),
            shift,
        }
    }

    /// Appends to `out` the rule ids filed under `key`, in ascending order.
    #[inline(always)]
    pub(crate) fn get_into(&self, key: &Sha256, out: &mut Vec<u32>) {
        let word = leading(key);
        let slot = word.checked_shr(self.shift).unwrap_or(0) as usize;
        let Some(&[lo, hi]) = self.dir.get(slot..slot + 2).and_then(|d| d.first_chunk()) else {
            return;
        };
        let Some(range) = self.entries.get(lo as usize..hi as usize) else {
            return;
        };
        // A range is about two entries; a long one (digests that are not uniform) is
        // bisected first.
        let start = if range.len() > LINEAR {
            range.partition_point(|(k, _)| k < key)
        } else {
            0
        };
        for (candidate, value) in range.iter().skip(start) {
            let candidate_word = leading(candidate);
            if candidate_word > word {
                break;
            }
            if candidate_word == word && candidate == key {
                out.push(*value);
            }
        }
    }
}

/// The longest range searched from its start rather than bisected.
const LINEAR: usize = 8;

/// The digest's first eight bytes as a big-endian number: the order of these is the
/// order of digests, as far as they go.
#[inline]
fn leading(key: &Sha256) -> u64 {
    u64::from_be_bytes(key.0.first_chunk::<8>().copied().unwrap_or_default())
}

/// The directory slot of `key`: its first `64 - shift` bits.
fn prefix(key: &Sha256, shift: u32) -> u64 {
    leading(key).checked_shr(shift).unwrap_or(0)
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
