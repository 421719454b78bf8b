//! The stage-1 scan for x86-64 processors with AVX2 but without the AVX-512 scan's vector
//! bit count. It computes [`super::score`]'s value exactly (tested against it) the way
//! [`super::score_by_direction`] does — each gallery code meets only the probe codes within
//! the direction window, a run of consecutive direction ranks — but eight ranks per vector
//! operation: bits counted four at a time with a 16-entry table (`VPSHUFB`), the probe's
//! words stored as their low and high nibbles apart and the gallery's split once per code
//! (so that no mask or shift is needed per count: 30 → 27 ms for the bench's scan of
//! 65,536), the counts of a code's four words added per byte, then summed per 64-bit lane
//! (`VPSADBW`).
//! Each gallery code meets its run rounded up to eight ranks, those past the run masked
//! off. (Rounding every code's run up to the probe's longest, so that the loop's length is
//! fixed per probe and its branch always predicted, was slower: 38–47 ms against 30–37 ms
//! for the bench's scan of 65,536.)
//! As in the AVX-512 scan, a feature whose best per-code value is below the caller's bar
//! is not finished, the best 8 of the others are found eight features at a time (one per
//! lane), and the features eight ahead are fetched: the bench's scan of 65,536 26.0 →
//! 21.8 ms, stage 1 of a search of 100,000 templates 22.0 → 19.0 ms (medians of three
//! alternating runs each).

#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::{
    CODE_WORDS, DIRECTIONS_AT, FEATURE_BYTES, PROBE_CODES, ProbeFeature, RANKED_SLOTS, TOP,
    code_count, high_nibbles, low_nibbles, prefetch_ahead, usable_code, wanted_feature,
};

/// Whether this processor runs the AVX2 scan (checked once).
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE
        .get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("popcnt"))
}

/// Scores the features of a contiguous block that `wanted` marks (all when it is empty;
/// the others get 0), as `search::scan_block` does, when the processor has AVX2 (else
/// does nothing and says so).
///
/// A feature whose score cannot reach `bar` (its best per-code value, which no mean of 8
/// exceeds, is below it) may get that value instead of its score, as in the AVX-512 scan.
pub(crate) fn try_scan_block(
    probe: &ProbeFeature,
    features: &[u8],
    wanted: &[bool],
    bar: f32,
    out: &mut Vec<f32>,
) -> bool {
    if !available() {
        return false;
    }
    let n = features.len() / FEATURE_BYTES;
    let at = wanted_feature(features, wanted);
    // SAFETY: the processor has every feature `scan` is compiled for.
    unsafe { scan(probe, n, at, bar, out) };
    true
}

/// Scores separately stored features, when [`try_scan_block`] would.
pub(crate) fn try_scan_separate(
    probe: &ProbeFeature,
    features: &[&[u8]],
    out: &mut Vec<f32>,
) -> bool {
    if !available() {
        return false;
    }
    // SAFETY: as in `try_scan_block`.
    unsafe {
        scan(
            probe,
            features.len(),
            |i| Some(features[i]),
            f32::NEG_INFINITY,
            out,
        )
    };
    true
}

/// Features whose best 8 are taken together, one per vector lane.
const BATCH: usize = 8;
/// Features the scan asks the memory for ahead of the one it scores.
const PREFETCH_AHEAD: usize = 8;
/// Per-code values of one feature: the probe's codes (at most 20), padded to whole vectors.
const VALUES: usize = 24;
const _: () = assert!(VALUES >= PROBE_CODES && VALUES.is_multiple_of(8));
const _: () = assert!(RANKED_SLOTS >= PROBE_CODES + VALUES);

/// Scores `n` features (`feature(i)`; none: score 0) into `out`, those that cannot reach
/// `bar` perhaps with a value below it (see [`try_scan_block`]). As in the AVX-512 scan,
/// each feature's per-code values are set aside and every 8 features the best 8 of each
/// are found at once, one feature per lane; and the features a few ahead are fetched.
#[target_feature(enable = "avx2,popcnt")]
fn scan<'a>(
    probe: &ProbeFeature,
    n: usize,
    feature: impl Fn(usize) -> Option<&'a [u8]>,
    bar: f32,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(n, 0.0);
    // Each cyclic rank's probe factor `1 / √|a|` for ranks below the count (each probe
    // code once), 0 past it, so that a rank's value is `larger(best[r], best[r + count])`
    // times it, as in `mean_of_ranks`.
    let count = probe.count;
    let mut factors = Values([0.0; VALUES]);
    for (r, f) in factors.0.iter_mut().enumerate().take(count) {
        *f = probe.inverse_roots[usize::from(probe.ranked.code[r])];
    }
    let mut rows = [Values([0.0; VALUES]); BATCH];
    let mut pending = [0usize; BATCH];
    let mut filled = 0;
    for i in 0..n {
        prefetch_ahead(&feature, i, PREFETCH_AHEAD, n);
        let Some(f) = feature(i) else { continue };
        let best = rank_bests(probe, f);
        let most = rank_values(&best, count, &factors, &mut rows[filled]);
        // As in the AVX-512 scan: no branch on the value; a row that cannot reach the bar
        // is overwritten by the next feature's, and its feature keeps `most`.
        out[i] = most;
        pending[filled] = i;
        filled += usize::from(most >= bar);
        if filled == BATCH {
            write_means(&rows, &pending, out);
            filled = 0;
        }
    }
    write_means(&rows, &pending[..filled], out);
}

/// One feature's values per rank, 32 bytes aligned.
#[derive(Clone, Copy)]
#[repr(align(32))]
struct Values([f32; VALUES]);

/// The values of ranks `0..VALUES` (`larger(best[r], best[r + count])` times the rank's
/// probe factor; 0 past the count) into `row`, and the largest of them.
#[target_feature(enable = "avx2,popcnt")]
#[inline]
fn rank_values(best: &Ranks, count: usize, factors: &Values, row: &mut Values) -> f32 {
    let mut most = _mm256_setzero_ps();
    for v in 0..VALUES / 8 {
        // SAFETY: `count + VALUES ≤ RANKED_SLOTS` (asserted above); `Values` is aligned
        // to 32 bytes, so the aligned loads and the store read and write whole vectors.
        unsafe {
            let a = _mm256_loadu_ps(best.0.as_ptr().add(8 * v));
            let b = _mm256_loadu_ps(best.0.as_ptr().add(count + 8 * v));
            // No value is NaN, so the instruction's maximum is `larger`'s.
            let value = _mm256_mul_ps(
                _mm256_max_ps(a, b),
                _mm256_load_ps(factors.0.as_ptr().add(8 * v)),
            );
            _mm256_store_ps(row.0.as_mut_ptr().add(8 * v), value);
            most = _mm256_max_ps(most, value);
        }
    }
    // The largest of the eight lanes.
    let m = _mm_max_ps(
        _mm256_castps256_ps128(most),
        _mm256_extractf128_ps::<1>(most),
    );
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_max_ss(m, _mm_shuffle_ps::<0b01>(m, m));
    _mm_cvtss_f32(m)
}

/// The means of the best 8 of the first `pending.len()` rows, written where `pending` says:
/// `insert_top` and `mean_of` with one row per lane. The best 8 of a row are the same
/// values in the same places whatever order they are inserted in, so the means are
/// `mean_of_ranks`'s.
#[target_feature(enable = "avx2,popcnt")]
fn write_means(rows: &[Values; BATCH], pending: &[usize], out: &mut [f32]) {
    if pending.is_empty() {
        return;
    }
    let stride = _mm256_setr_epi32(
        0,
        VALUES as i32,
        2 * VALUES as i32,
        3 * VALUES as i32,
        4 * VALUES as i32,
        5 * VALUES as i32,
        6 * VALUES as i32,
        7 * VALUES as i32,
    );
    let sum = lanewise_top_sum!(
        PROBE_CODES,
        _mm256_setzero_ps(),
        // SAFETY: lane t reads rows[t].0[k], inside the array (k < VALUES).
        |k: usize| unsafe { _mm256_i32gather_ps::<4>(rows.as_ptr().cast::<f32>().add(k), stride) },
        _mm256_max_ps,
        _mm256_min_ps,
        _mm256_add_ps
    );
    let mut means = [0.0f32; BATCH];
    // SAFETY: `means` holds 8 f32.
    unsafe {
        _mm256_storeu_ps(
            means.as_mut_ptr(),
            _mm256_div_ps(sum, _mm256_set1_ps(TOP as f32)),
        )
    };
    for (&i, &mean) in pending.iter().zip(&means) {
        out[i] = mean;
    }
}

/// Bits set in each byte of `x`, whose bytes are nibbles (0–15): a table of 16 counts.
#[target_feature(enable = "avx2,popcnt")]
#[inline]
fn nibble_counts(x: __m256i) -> __m256i {
    let table = _mm256_setr_epi8(
        0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3, 3, 4, 0, 1, 1, 2, 1, 2, 2, 3, 1, 2, 2, 3, 2, 3,
        3, 4,
    );
    _mm256_shuffle_epi8(table, x)
}

/// Best similarities, one per cyclic rank (and the ranks a block may read past them).
#[repr(align(32))]
struct Ranks([f32; RANKED_SLOTS]);

/// Each cyclic rank's best similarity to one gallery feature's codes (before the probe
/// factor), as [`super::score_by_direction`] finds them.
#[target_feature(enable = "avx2,popcnt")]
#[inline]
fn rank_bests(probe: &ProbeFeature, gallery: &[u8]) -> Ranks {
    let gallery = &gallery[..FEATURE_BYTES];
    let stored = code_count(gallery);
    let ranked = &probe.ranked;
    let mut best = Ranks([0.0; RANKED_SLOTS]);
    let zero = _mm256_setzero_si256();
    let lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    for j in 0..stored {
        let Some((words, ones)) = usable_code(gallery, j) else {
            continue;
        };
        let ib = _mm256_set1_ps(probe.inverse_root_of[ones as usize]);
        let (start, len) = ranked.runs[usize::from(gallery[DIRECTIONS_AT + j])];
        let (start, len) = (usize::from(start), usize::from(len));
        // Each gallery word as its two nibble halves (as the probe's words are stored).
        let g: [[__m256i; 2]; CODE_WORDS] = std::array::from_fn(|w| {
            [
                _mm256_set1_epi64x(low_nibbles(words[w]) as i64),
                _mm256_set1_epi64x(high_nibbles(words[w]) as i64),
            ]
        });
        for b in 0..len.div_ceil(8) {
            let at = start + 8 * b;
            // Ranks at, at + 2, at + 4, at + 6 and at + 1, at + 3, at + 5, at + 7: the bits
            // of each byte of the AND counted nibble by nibble from a table, the four
            // words' counts added (at most 32 per byte).
            let mut even = zero;
            let mut odd = zero;
            for (quads, gw) in ranked.strided.iter().zip(&g) {
                for half in 0..2 {
                    // SAFETY: `at + 1 < RANKED_SLOTS` (start < 20, at most three blocks);
                    // `Quad` is 32 bytes aligned to 32.
                    let (e, o) = unsafe {
                        (
                            _mm256_load_si256(quads[at][half].0.as_ptr().cast()),
                            _mm256_load_si256(quads[at + 1][half].0.as_ptr().cast()),
                        )
                    };
                    even = _mm256_add_epi8(even, nibble_counts(_mm256_and_si256(e, gw[half])));
                    odd = _mm256_add_epi8(odd, nibble_counts(_mm256_and_si256(o, gw[half])));
                }
            }
            // Per 64-bit lane sums (at most 256), then the odd ranks' moved into the upper
            // 32 bits: eight 32-bit counts in rank order.
            let counts = _mm256_or_si256(
                _mm256_sad_epu8(even, zero),
                _mm256_slli_epi64::<32>(_mm256_sad_epu8(odd, zero)),
            );
            // Ranks past the code's run give 0, which no maximum takes (all values ≥ 0).
            let inside = _mm256_cmpgt_epi32(_mm256_set1_epi32(len as i32 - 8 * b as i32), lane);
            let similarity = _mm256_and_ps(
                _mm256_mul_ps(_mm256_cvtepi32_ps(counts), ib),
                _mm256_castsi256_ps(inside),
            );
            // SAFETY: `at + 8 ≤ RANKED_SLOTS`, as above.
            unsafe {
                let slot = best.0.as_mut_ptr().add(at);
                _mm256_storeu_ps(slot, _mm256_max_ps(_mm256_loadu_ps(slot), similarity));
            }
        }
    }
    best
}
