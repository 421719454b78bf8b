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

#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::{
    CODE_WORDS, CODES, COUNT_AT, DIRECTIONS_AT, FEATURE_BYTES, ProbeFeature, RANKED_SLOTS,
    high_nibbles, low_nibbles, mean_of_ranks, usable_code, wanted_feature,
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
pub(crate) fn try_scan_block(
    probe: &ProbeFeature,
    features: &[u8],
    wanted: &[bool],
    out: &mut Vec<f32>,
) -> bool {
    if !available() {
        return false;
    }
    let n = features.len() / FEATURE_BYTES;
    let at = wanted_feature(features, wanted);
    // SAFETY: the processor has every feature `scan` is compiled for.
    unsafe { scan(probe, n, at, out) };
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
    unsafe { scan(probe, features.len(), |i| Some(features[i]), out) };
    true
}

/// Scores `n` features (`feature(i)`; none: score 0) into `out`.
#[target_feature(enable = "avx2,popcnt")]
fn scan<'a>(
    probe: &ProbeFeature,
    n: usize,
    feature: impl Fn(usize) -> Option<&'a [u8]>,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(n, 0.0);
    for (i, o) in out.iter_mut().enumerate() {
        if let Some(f) = feature(i) {
            *o = score(probe, f);
        }
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

/// [`super::score`] of one gallery feature.
#[target_feature(enable = "avx2,popcnt")]
#[inline]
fn score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    let gallery = &gallery[..FEATURE_BYTES];
    let stored = usize::from(gallery[COUNT_AT]).min(CODES);
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
        let start = usize::from(start);
        // Each gallery word as its two nibble halves (as the probe's words are stored).
        let g: [[__m256i; 2]; CODE_WORDS] = std::array::from_fn(|w| {
            [
                _mm256_set1_epi64x(low_nibbles(words[w]) as i64),
                _mm256_set1_epi64x(high_nibbles(words[w]) as i64),
            ]
        });
        for b in 0..usize::from(len).div_ceil(8) {
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
            let inside = _mm256_cmpgt_epi32(_mm256_set1_epi32(i32::from(len) - 8 * b as i32), lane);
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
    mean_of_ranks(probe, &best.0)
}
