//! The stage-1 scan written with AVX-512 intrinsics, for the x86-64 processors that have
//! AVX-512 F, BW, VL, DQ and VPOPCNTDQ. It computes [`super::score`]'s value exactly (the
//! dispatch tests compare the two on every build) but meets each gallery code with 16 probe
//! codes instead of all 20: those its direction sector needs ([`super::SectorLanes`];
//! each probe code in the same lane in every sector, so that the running maxima stay in
//! two registers), or, for a probe whose codes do not fit the sectors, with all 20 probe
//! codes (16 lanes of one vector and 4 of a quarter vector).
//! Written out rather than left to the compiler's vectoriser, which split the 24-lane loop
//! into pieces of 1, 2, 4 and 8 lanes whenever a constant changed.

#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::{
    CODE_BYTES, CODE_WORDS, CODES, DIRECTIONS_AT, FEATURE_BYTES, PROBE_CODES, PROBE_LANES,
    ProbeFeature, SECTORS, SectorLanes, TOP, code_count, prefetch_ahead, wanted_feature,
};

/// Whether this processor runs the AVX-512 scan (checked once).
pub(crate) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| {
        is_x86_feature_detected!("avx512f")
            && is_x86_feature_detected!("avx512bw")
            && is_x86_feature_detected!("avx512vl")
            && is_x86_feature_detected!("avx512dq")
            && is_x86_feature_detected!("avx512vpopcntdq")
            && is_x86_feature_detected!("popcnt")
    })
}

/// Scores the features of a contiguous block that `wanted` marks (all when it is empty;
/// the others get 0), as `search::scan_block` does, when the processor has the
/// instructions (else does nothing and says so): in sectors where the probe's codes fit
/// them, else all 20 probe codes' lanes against every gallery code.
///
/// A feature whose score cannot reach `bar` (its best per-code value, which no mean of 8
/// exceeds, is below it) may get that value instead of its score: the best 8 are not
/// worked out for features that cannot make the shortlist.
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
    let lanes = probe.sectors.as_ref();
    let n = features.len() / FEATURE_BYTES;
    let at = wanted_feature(features, wanted);
    // SAFETY: the processor has every feature `scan` is compiled for.
    unsafe { scan(probe, lanes, n, at, bar, out) };
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
    let lanes = probe.sectors.as_ref();
    // SAFETY: as in `try_scan_block`.
    unsafe {
        scan(
            probe,
            lanes,
            features.len(),
            |i| Some(features[i]),
            f32::NEG_INFINITY,
            out,
        )
    };
    true
}

/// Templates whose best 8 are taken together, one per vector lane.
const BATCH: usize = 16;
/// Features the scan asks the memory for ahead of the one it scores.
const PREFETCH_AHEAD: usize = 8;

/// Scores `n` features (`feature(i)`; none: score 0) into `out`, those that cannot reach
/// `bar` perhaps with a value below it (see [`try_scan_block`]). Each feature's per-code
/// values are set aside, and every 16 features the best 8 of each are found at once, one
/// feature per lane: the insertion of `insert_top`, whose chain of dependent minima and
/// maxima would otherwise stall every feature.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt")]
fn scan<'a>(
    probe: &ProbeFeature,
    lanes: Option<&SectorLanes>,
    n: usize,
    feature: impl Fn(usize) -> Option<&'a [u8]>,
    bar: f32,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(n, 0.0);
    let mut values = [[0.0f32; 2 * BATCH]; BATCH];
    let mut pending = [0usize; BATCH];
    let mut count = 0;
    for i in 0..n {
        prefetch_ahead(&feature, i, PREFETCH_AHEAD, n);
        let Some(f) = feature(i) else { continue };
        // The same branch for every feature of a probe: predicted.
        let (low, high) = match lanes {
            Some(lanes) => code_values(probe, lanes, f),
            None => code_values_all_lanes(probe, f),
        };
        // Every feature's values go into the next free row, but only those that can reach
        // the bar keep it (the next feature overwrites the others'), so there is no
        // branch on the value, which comes in no order: in a 1M search the branch cost
        // more than the means it saved. The others keep `most`.
        let most = _mm512_reduce_max_ps(_mm512_max_ps(low, high));
        out[i] = most;
        // SAFETY: each row holds 32 f32; the two unaligned stores write 16 each.
        unsafe {
            _mm512_storeu_ps(values[count].as_mut_ptr(), low);
            _mm512_storeu_ps(values[count].as_mut_ptr().add(16), high);
        }
        pending[count] = i;
        count += usize::from(most >= bar);
        if count == BATCH {
            write_means(probe.count, &values, &pending, out);
            count = 0;
        }
    }
    write_means(probe.count, &values, &pending[..count], out);
}

/// The means of the best 8 of the first `pending.len()` rows of `values`, written where
/// `pending` says.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt")]
fn write_means(
    codes: usize,
    values: &[[f32; 2 * BATCH]; BATCH],
    pending: &[usize],
    out: &mut [f32],
) {
    if pending.is_empty() {
        return;
    }
    let means = best_means(codes, values);
    for (&i, &mean) in pending.iter().zip(&means) {
        out[i] = mean;
    }
}

/// For each row of `values` (one feature's values of its first `codes` probe codes), the
/// mean of its 8 best: `insert_top` and `mean_of` with one row per lane, the same
/// operations in the same order, so the same results.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt")]
fn best_means(codes: usize, values: &[[f32; 2 * BATCH]; BATCH]) -> [f32; BATCH] {
    let rows = _mm512_setr_epi32(
        0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448, 480,
    );
    let sum = lanewise_top_sum!(
        codes.min(PROBE_CODES),
        _mm512_setzero_ps(),
        // SAFETY: lane t reads values[t][k], inside the array (k < 32).
        |k: usize| unsafe { _mm512_i32gather_ps::<4>(rows, values.as_ptr().cast::<f32>().add(k)) },
        _mm512_max_ps,
        _mm512_min_ps,
        _mm512_add_ps
    );
    let mut means = [0.0f32; BATCH];
    // SAFETY: `means` holds 16 f32.
    unsafe {
        _mm512_storeu_ps(
            means.as_mut_ptr(),
            _mm512_div_ps(sum, _mm512_set1_ps(TOP as f32)),
        )
    };
    means
}

/// One gallery feature's per-probe-code values (the best similarity of each probe code,
/// times its `1 / √|a|`): codes 0–15, then 16–19 (the other lanes 0).
///
/// The loop over the gallery codes reads them without index checks
/// ([`gallery_code`]) and without a branch on codes with too few set bits, and each
/// lane's maximum takes a value through a mask of its own per direction
/// (`SectorLanes::to`), one instruction each: about 45 instructions per code, down from
/// about 70.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt")]
#[inline]
fn code_values(probe: &ProbeFeature, lanes: &SectorLanes, gallery: &[u8]) -> (__m512, __m512) {
    let gallery = &gallery[..FEATURE_BYTES];
    let stored = code_count(gallery);
    // Each lane's running maximum: the first code it holds in `first`, the second (in
    // sectors that need it) in `second`.
    let mut first = _mm512_setzero_ps();
    let mut second = _mm512_setzero_ps();
    // Lanes 0–7 hold the same codes in every sector: their words stay in registers.
    // SAFETY: each word's lanes are 16 u64 aligned to 64 bytes (`SectorWords`); each
    // aligned load reads the first 8.
    let fixed: [__m512i; CODE_WORDS] =
        std::array::from_fn(|w| unsafe { _mm512_load_si512(lanes.words[0].0[w].as_ptr().cast()) });
    for slot in 0..stored {
        // SAFETY: `gallery` is FEATURE_BYTES long and slot < CODES. Codes with fewer than
        // `MIN_ONES` set bits are compared like the others but count 0 (their `1 / √|b|`
        // in the table): no branch, no second loop.
        let (code, gd, ones) = unsafe { gallery_code(gallery, slot) };
        let sector_words = &lanes.words[gd / (256 / SECTORS)].0;
        let mut low = _mm512_setzero_si512();
        let mut high = _mm512_setzero_si512();
        let g = broadcast_words(code);
        for ((lane, &a), &g) in sector_words.iter().zip(&fixed).zip(&g) {
            // SAFETY: `lane` holds 16 u64 aligned to 64 bytes (`SectorWords`); the aligned
            // load reads lanes 8–15.
            let b = unsafe { _mm512_load_si512(lane.as_ptr().add(8).cast()) };
            low = _mm512_add_epi64(low, _mm512_popcnt_epi64(_mm512_and_si512(a, g)));
            high = _mm512_add_epi64(high, _mm512_popcnt_epi64(_mm512_and_si512(b, g)));
        }
        // Bit counts up to 256 convert to f32 exactly; the product is the portable
        // version's `common as f32 * ib`, rounded the same.
        let common = _mm512_cvtepu32_ps(_mm512_permutex2var_epi32(
            low,
            _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
            high,
        ));
        // `ones` ≤ 256 (four 64-bit words).
        let ib = _mm512_set1_ps(probe.inverse_root_of[ones as usize]);
        let similarity = _mm512_mul_ps(common, ib);
        // No value is NaN or negative, so the instruction's maximum is `larger`'s; lanes
        // outside the window, or holding the other maximum's code, are left as they are.
        let [to_first, to_second] = lanes.to[gd];
        first = _mm512_mask_max_ps(first, to_first, first, similarity);
        second = _mm512_mask_max_ps(second, to_second, second, similarity);
    }
    // Back from lanes to probe codes: each code's lane of `first` or `second`.
    let [(mask_low, index_low), (mask_high, index_high)] = &lanes.gather;
    // SAFETY: 16 u32 each.
    let (il, ih) = unsafe {
        (
            _mm512_loadu_si512(index_low.as_ptr().cast()),
            _mm512_loadu_si512(index_high.as_ptr().cast()),
        )
    };
    let low = _mm512_maskz_permutex2var_ps(*mask_low, first, il, second);
    let high = _mm512_maskz_permutex2var_ps(*mask_high, first, ih, second);
    with_inverse_roots(probe, low, high)
}

/// Code `slot` of a gallery feature (its 32 bytes), its direction and its count of set
/// bits, read without index checks: with them (and the bounds the compiler re-derived from
/// them) the sector scan's loop took some 70 instructions per code, more than its vector
/// work. The count is two 128-bit counts, which become scalar `POPCNT`s (four 64-bit ones
/// the compiler turns into a vector count and shuffles, on the busy port).
///
/// # Safety
/// `gallery` holds at least `FEATURE_BYTES` bytes and `slot < CODES`, so that both reads
/// lie inside it.
#[inline(always)]
unsafe fn gallery_code(gallery: &[u8], slot: usize) -> (&[u8; CODE_BYTES], usize, u32) {
    debug_assert!(gallery.len() >= FEATURE_BYTES && slot < CODES);
    let at = gallery.as_ptr();
    // SAFETY: by the caller's promise, bytes slot·32 .. slot·32 + 32 and DIRECTIONS_AT +
    // slot lie inside `gallery` (CODES·32 = DIRECTIONS_AT, DIRECTIONS_AT + CODES ≤
    // FEATURE_BYTES); the code's bytes are read as an array of bytes, which has no
    // alignment.
    let (code, direction) = unsafe {
        (
            &*at.add(slot * CODE_BYTES).cast::<[u8; CODE_BYTES]>(),
            usize::from(*at.add(DIRECTIONS_AT + slot)),
        )
    };
    let half = |from: usize| {
        let mut b = [0u8; 16];
        b.copy_from_slice(&code[from..from + 16]);
        u128::from_le_bytes(b).count_ones()
    };
    (code, direction, half(0) + half(16))
}

/// Codes 0–15 and 16–31's best similarities times their `1 / √|a|`.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt")]
#[inline]
fn with_inverse_roots(probe: &ProbeFeature, low: __m512, high: __m512) -> (__m512, __m512) {
    // SAFETY: `inverse_roots` holds 32 f32 (codes past the count 0).
    let (rl, rh) = unsafe {
        (
            _mm512_loadu_ps(probe.inverse_roots.as_ptr()),
            _mm512_loadu_ps(probe.inverse_roots.as_ptr().add(16)),
        )
    };
    (_mm512_mul_ps(low, rl), _mm512_mul_ps(high, rh))
}

/// [`code_values`] for a probe whose codes do not fit the sectors: each gallery code meets
/// the lanes of all 20 probe codes (lane k: probe code k), and each lane keeps its running
/// maximum in a register. Codes 16–19 take four lanes of a 256-bit vector rather than
/// eight of a 512-bit one: lanes 20–23 would only count 0, and Zen 4 carries a 512-bit
/// instruction out as two 256-bit halves, so there the narrower vector's AND, count and
/// sum take half the work (measured there: such a probe scanned 65,536 features in 0.85
/// of the time; docs/search.md).
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt")]
#[inline]
fn code_values_all_lanes(probe: &ProbeFeature, gallery: &[u8]) -> (__m512, __m512) {
    let gallery = &gallery[..FEATURE_BYTES];
    let stored = code_count(gallery);
    const _: () = assert!(PROBE_CODES <= 20 && PROBE_LANES >= 20);
    let lanes = &probe.lane_words.0;
    let mut low_best = _mm512_setzero_ps();
    let mut high_best = _mm_setzero_ps();
    for slot in 0..stored {
        // SAFETY: as in `code_values`, whose codes with too few set bits count 0 here too.
        let (code, gd, ones) = unsafe { gallery_code(gallery, slot) };
        let mut counts = [_mm512_setzero_si512(); 2];
        // Codes 16–19, four lanes: half a vector (the lanes past the probe's 20 codes
        // would only ever count 0).
        let mut last = _mm256_setzero_si256();
        let g = broadcast_words(code);
        for (w, &g) in g.iter().enumerate() {
            for (group, count) in counts.iter_mut().enumerate() {
                // SAFETY: lanes 8·group .. 8·group + 8 of the 24, aligned to 64 bytes
                // (`LaneWords`).
                let a = unsafe { _mm512_load_si512(lanes[w][8 * group..].as_ptr().cast()) };
                *count = _mm512_add_epi64(*count, _mm512_popcnt_epi64(_mm512_and_si512(a, g)));
            }
            // SAFETY: lanes 16–19 of the 24, aligned to 32 bytes (`LaneWords`).
            let a = unsafe { _mm256_load_si256(lanes[w][16..].as_ptr().cast()) };
            let g = _mm512_castsi512_si256(g);
            last = _mm256_add_epi64(last, _mm256_popcnt_epi64(_mm256_and_si256(a, g)));
        }
        // Exact conversions of counts up to 256, as in `code_values`.
        let low = _mm512_cvtepu32_ps(_mm512_permutex2var_epi32(
            counts[0],
            _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30),
            counts[1],
        ));
        let high = _mm_cvtepi32_ps(_mm256_cvtepi64_epi32(last));
        let window = probe.window_lanes[gd];
        let ib = probe.inverse_root_of[ones as usize];
        low_best = _mm512_max_ps(
            low_best,
            _mm512_maskz_mul_ps(window as __mmask16, low, _mm512_set1_ps(ib)),
        );
        high_best = _mm_max_ps(
            high_best,
            _mm_maskz_mul_ps((window >> 16) as __mmask8, high, _mm_set1_ps(ib)),
        );
    }
    // Lanes 20–31 zero, not undefined: the scan takes the maximum over every lane.
    with_inverse_roots(probe, low_best, _mm512_zextps128_ps512(high_best))
}

/// Each word of a gallery code in every 64-bit lane of a vector, broadcast from memory.
/// On Intel cores a broadcast from a general register, like the shuffles that split a
/// vector into words, takes the one port that also runs `VPOPCNTQ`, this scan's
/// bottleneck; a broadcast from memory takes only a load port. Written as instructions of
/// their own because the compiler merges these loads with the scalar count's (of the
/// same words) and broadcasts the registers; one block with fixed offsets, so that no
/// address is computed per word.
#[target_feature(enable = "avx512f,avx512bw,avx512vl,avx512dq,avx512vpopcntdq,popcnt")]
#[inline]
fn broadcast_words(code: &[u8; CODE_BYTES]) -> [__m512i; CODE_WORDS] {
    const _: () = assert!(CODE_WORDS == 4 && CODE_BYTES == 32);
    let (g0, g1, g2, g3): (__m512i, __m512i, __m512i, __m512i);
    // SAFETY: reads the 32 bytes of `code` (four unaligned 8-byte loads at offsets 0, 8,
    // 16, 24) and writes only the four outputs; the processor has AVX-512 F (this
    // function's target).
    unsafe {
        std::arch::asm!(
            "vpbroadcastq {g0}, qword ptr [{at}]",
            "vpbroadcastq {g1}, qword ptr [{at} + 8]",
            "vpbroadcastq {g2}, qword ptr [{at} + 16]",
            "vpbroadcastq {g3}, qword ptr [{at} + 24]",
            at = in(reg) code.as_ptr(),
            g0 = out(zmm_reg) g0,
            g1 = out(zmm_reg) g1,
            g2 = out(zmm_reg) g2,
            g3 = out(zmm_reg) g3,
            options(pure, readonly, nostack, preserves_flags)
        )
    };
    [g0, g1, g2, g3]
}
