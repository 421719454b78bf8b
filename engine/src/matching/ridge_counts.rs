//! Ridge counts between neighbouring minutiae, carried in a vendor-defined extended data
//! block ([`RIDGE_COUNT_EXTENSION`]) that Daktilo's extractor writes
//! (`extract/ridge_count.rs`), and looked up by the global consolidation: where two mates
//! lie beside two other mates, the ridges between them must agree too.
//!
//! Block data: version (1), then one triple per count — the two minutiae's indices in the
//! template's order (from 0, lower first) and the count. A standard ISO/ANSI ridge-count
//! block is not used: the standards' samples leave it unclear whether indices count from 0
//! or 1, and another vendor's counts would not be taken the same way as ours.

use crate::template::Extension;

/// Type code of the ridge-count block (vendor-defined range, 0x0100 and above).
pub const RIDGE_COUNT_EXTENSION: u16 = 0xDA02;
/// Layout version written in the block's first byte.
const VERSION: u8 = 1;
/// Not counted (the table's empty entry).
const UNKNOWN: u8 = u8::MAX;

/// Encodes counts `(i, j, count)` as the block; `None` when there are none.
pub fn encode(counts: &[(u8, u8, u8)]) -> Option<Extension> {
    if counts.is_empty() {
        return None;
    }
    let mut data = Vec::with_capacity(1 + 3 * counts.len());
    data.push(VERSION);
    for &(i, j, c) in counts {
        data.extend([i, j, c]);
    }
    Some(Extension {
        kind: RIDGE_COUNT_EXTENSION,
        data,
    })
}

/// The counts of one template as a table over its `n` minutiae.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RidgeCounts {
    n: usize,
    table: Vec<u8>,
}

impl RidgeCounts {
    /// Reads the block of a template of `n` minutiae; `None` when there is none, or it
    /// is malformed (a wrong version or length, an index past `n`, a minutia counted to
    /// itself, a count of 255).
    pub fn from_extensions(extensions: &[Extension], n: usize) -> Option<Self> {
        let e = extensions
            .iter()
            .find(|e| e.kind == RIDGE_COUNT_EXTENSION)?;
        let (&version, rest) = e.data.split_first()?;
        if version != VERSION || rest.len() % 3 != 0 {
            return None;
        }
        let mut table = vec![UNKNOWN; n * n];
        for t in rest.chunks_exact(3) {
            let (i, j, c) = (usize::from(t[0]), usize::from(t[1]), t[2]);
            if i >= n || j >= n || i == j || c == UNKNOWN {
                return None;
            }
            table[i * n + j] = c;
            table[j * n + i] = c;
        }
        Some(Self { n, table })
    }

    /// The ridges counted between minutiae `i` and `j`, if they were.
    #[inline]
    pub fn get(&self, i: usize, j: usize) -> Option<u8> {
        if i >= self.n || j >= self.n {
            return None;
        }
        Some(self.table[i * self.n + j]).filter(|&c| c != UNKNOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_round_trip_through_their_block_both_ways_round() {
        let e = encode(&[(0, 3, 4), (1, 2, 0)]).unwrap();
        let t = RidgeCounts::from_extensions(&[e], 4).unwrap();
        assert_eq!((t.get(0, 3), t.get(3, 0)), (Some(4), Some(4)));
        assert_eq!(t.get(2, 1), Some(0));
        assert_eq!((t.get(0, 1), t.get(0, 9)), (None, None));
        assert_eq!(encode(&[]), None);
    }

    #[test]
    fn malformed_blocks_are_ignored() {
        let block = |data: Vec<u8>| {
            vec![Extension {
                kind: RIDGE_COUNT_EXTENSION,
                data,
            }]
        };
        for data in [
            vec![],
            vec![2, 0, 1, 3],
            vec![1, 0, 1],
            vec![1, 0, 4, 3],
            vec![1, 2, 2, 3],
            vec![1, 0, 1, 255],
        ] {
            assert_eq!(
                RidgeCounts::from_extensions(&block(data.clone()), 4),
                None,
                "{data:?}"
            );
        }
        assert_eq!(RidgeCounts::from_extensions(&[], 4), None);
    }
}
