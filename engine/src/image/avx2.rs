//! The resampling's interpolation along a source row, eight target columns at a time, for
//! x86-64 processors with AVX2.
//!
//! The portable loop fetches each target column's two source pixels one by one (a gather
//! the compiler cannot vectorise): most of the resampling's time once its last pass was
//! vectorised. The columns' source positions are the same for every row, so they are
//! worked out once per image as groups of eight columns: where a group's pixels lie
//! within 16 bytes of its first one, one unaligned 16-byte load and two byte shuffles
//! fetch the group's left and right pixels. The interpolation is the portable one, the
//! same IEEE operations in the same order (no fused multiply-add), so the same values
//! (tested against it). Groups that reach past a row's last 16 bytes, or spread over more
//! than 16 bytes (shrinking by more than half), and the last columns, go column by column.

#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

/// Target columns per vector.
const LANES: usize = 8;
/// Bytes one load brings.
const SPAN: usize = 16;

/// Whether this processor runs this interpolation (checked once).
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2"))
}

/// Eight consecutive target columns whose source pixels one 16-byte load reaches.
#[derive(Clone, Copy)]
struct Group {
    /// The first target column of the group.
    column: usize,
    /// The source column the load starts at.
    from: usize,
    /// Byte shuffles picking each column's left and right source pixel out of the load
    /// (its offset from `from`; the upper eight bytes unused).
    left: [u8; SPAN],
    right: [u8; SPAN],
    /// Each column's fraction.
    fx: [f32; LANES],
}

/// How a row of `w` source pixels maps onto the target columns `columns` (left source
/// column, right source column, fraction), grouped for [`Columns::along`].
pub(super) struct Columns<'a> {
    columns: &'a [(usize, usize, f32)],
    groups: Vec<Group>,
    /// The first columns of the groups of eight that go column by column.
    by_column: Vec<usize>,
}

impl<'a> Columns<'a> {
    /// Groups the target columns of rows `w` source pixels wide.
    pub(super) fn new(columns: &'a [(usize, usize, f32)], w: usize) -> Self {
        let (mut groups, mut by_column) = (Vec::new(), Vec::new());
        for (g, group) in columns.chunks_exact(LANES).enumerate() {
            let from = group[0].0;
            let fits = from + SPAN <= w
                && group.iter().all(|&(x0, x1, _)| {
                    x0 >= from && x0 - from < SPAN && x1 >= from && x1 - from < SPAN
                });
            if !fits {
                by_column.push(g * LANES);
                continue;
            }
            // Lanes 8–15 of the shuffles are never used; 0x80 makes them zero.
            let (mut left, mut right) = ([0x80u8; SPAN], [0x80u8; SPAN]);
            for (l, &(x0, x1, _)) in group.iter().enumerate() {
                left[l] = (x0 - from) as u8;
                right[l] = (x1 - from) as u8;
            }
            groups.push(Group {
                column: g * LANES,
                from,
                left,
                right,
                fx: std::array::from_fn(|l| group[l].2),
            });
        }
        Self {
            columns,
            groups,
            by_column,
        }
    }

    /// Source row `row` interpolated along x into `into` (one value per target column),
    /// as the portable loop does it.
    pub(super) fn along(&self, row: &[u8], into: &mut [f32]) {
        assert!(available() && into.len() == self.columns.len());
        // SAFETY: the processor has AVX2 (checked above).
        unsafe { self.along_avx2(row, into) }
    }

    #[target_feature(enable = "avx2")]
    fn along_avx2(&self, row: &[u8], into: &mut [f32]) {
        let one = _mm256_set1_ps(1.0);
        for group in &self.groups {
            let at = group.column;
            let bytes = &row[group.from..group.from + SPAN];
            // SAFETY: `bytes` and the shuffles hold 16 bytes, `fx` eight f32 and
            // `into[at..at + 8]` eight f32 (`at + 8` ≤ the number of columns, which is
            // `into`'s length); all unaligned loads and stores.
            unsafe {
                let bytes = _mm_loadu_si128(bytes.as_ptr().cast());
                let pixels = |shuffle: &[u8; SPAN]| {
                    let picked = _mm_shuffle_epi8(bytes, _mm_loadu_si128(shuffle.as_ptr().cast()));
                    _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(picked))
                };
                let fx = _mm256_loadu_ps(group.fx.as_ptr());
                let value = _mm256_add_ps(
                    _mm256_mul_ps(pixels(&group.left), _mm256_sub_ps(one, fx)),
                    _mm256_mul_ps(pixels(&group.right), fx),
                );
                _mm256_storeu_ps(into[at..at + LANES].as_mut_ptr(), value);
            }
        }
        // The groups that did not fit, and the columns after the last whole group.
        for &at in &self.by_column {
            super::along_portable(
                row,
                &self.columns[at..at + LANES],
                &mut into[at..at + LANES],
            );
        }
        let tail = self.columns.len() / LANES * LANES;
        super::along_portable(row, &self.columns[tail..], &mut into[tail..]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grouped_columns_interpolate_as_the_portable_loop_does() {
        if !available() {
            eprintln!("skipped: this processor has no AVX2");
            return;
        }
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || crate::extract::plane::xorshift32(&mut seed);
        // (source width, scale, how many of the groups at least go eight at a time)
        for (w, scale, share) in [
            (296, 500.0 / 569.0, 0.9),
            (333, 500.0 / 333.0, 0.9),
            (300, 0.51, 0.8),
            (300, 0.45, 0.0),
            (17, 1.0 / 0.9, 0.0),
        ] {
            let nw = ((w as f32 * scale).round() as usize).max(1);
            let columns: Vec<_> = (0..nw)
                .map(|x| super::super::source_position(x, w, scale))
                .collect();
            let grouped = Columns::new(&columns, w);
            let groups = nw / LANES;
            assert!(
                grouped.groups.len() as f32 >= share * groups as f32,
                "{w} at {scale}: {} of {groups} groups",
                grouped.groups.len()
            );
            for _ in 0..20 {
                let row: Vec<u8> = (0..w).map(|_| next() as u8).collect();
                let (mut fast, mut plain) = (vec![0.0f32; nw], vec![0.0f32; nw]);
                grouped.along(&row, &mut fast);
                super::super::along_portable(&row, &columns, &mut plain);
                let differ = fast
                    .iter()
                    .zip(&plain)
                    .filter(|(a, b)| a.to_bits() != b.to_bits())
                    .count();
                assert_eq!(differ, 0, "{w} at {scale}");
            }
        }
    }
}
