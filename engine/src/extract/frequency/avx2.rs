//! A block's signature (its [`FREQUENCY_WINDOW`] bins) eight bins at a time, for x86-64
//! processors with AVX2.
//!
//! The portable [`super::bin`] vectorises the positions and weights of one bin's eight
//! samples but fetches their 32 corner pixels one by one, each index converted from a
//! float with the checks `as usize` needs: about a quarter of an image's extraction. Here a
//! vector lane is a bin: for each of the eight samples along the ridge, the eight bins'
//! positions, floors, fractions and weights are one vector each, their corners come as
//! eight-byte pairs (left and right) taken apart by shuffles, and each lane adds its samples in order from 0, as `bin` does — the same IEEE
//! operations in the same order, no fused multiply-add, so the same bit for bit (tested
//! against `bin`). Eight bins any of whose samples falls outside the plane's interior go
//! to `bin`, whose clamped path they need.

#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::super::params::{FREQUENCY_WIDTH, FREQUENCY_WINDOW};
use super::super::plane::Plane;
use super::{ALONG, signature_bin};

/// Bins per vector.
const LANES: usize = 8;
const _: () = assert!(FREQUENCY_WINDOW.is_multiple_of(LANES));

/// Whether this processor runs this signature (checked once).
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2"))
}

/// The signature of the block centred at (cx, cy) with the ridge along (along_x,
/// along_y): what [`signature_bin`] gives bin by bin, the same values.
///
/// # Safety
/// The processor must have AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn signature(
    image: &Plane,
    (cx, cy): (f32, f32),
    (along_x, along_y): (f32, f32),
) -> [f32; FREQUENCY_WINDOW] {
    let (across_x, across_y) = (-along_y, along_x);
    let mut out = [0.0f32; FREQUENCY_WINDOW];
    // The corners are found by i32 indices: a plane too large for them (none the extractor
    // makes: its images are at most 4000 × 4000 before resampling) goes bin by bin.
    let indexable =
        image.data.len() == image.width * image.height && i32::try_from(image.data.len()).is_ok();
    let (w, h) = (
        _mm256_set1_ps(image.width as f32),
        _mm256_set1_ps(image.height as f32),
    );
    let (ax, ay) = (_mm256_set1_ps(along_x), _mm256_set1_ps(along_y));
    let (zero, one) = (_mm256_setzero_ps(), _mm256_set1_ps(1.0));
    for (group, chunk) in out.chunks_exact_mut(LANES).enumerate() {
        // The bins' offsets across the ridge, `k - FREQUENCY_WINDOW / 2`, as `estimate`
        // works them out.
        let t: [f32; LANES] =
            std::array::from_fn(|l| (group * LANES + l) as f32 - FREQUENCY_WINDOW as f32 / 2.0);
        // SAFETY: `t` holds 8 f32.
        let t = unsafe { _mm256_loadu_ps(t.as_ptr()) };
        let x = _mm256_add_ps(
            _mm256_set1_ps(cx),
            _mm256_mul_ps(t, _mm256_set1_ps(across_x)),
        );
        let y = _mm256_add_ps(
            _mm256_set1_ps(cy),
            _mm256_mul_ps(t, _mm256_set1_ps(across_y)),
        );
        let position = |m: usize| {
            let j = _mm256_set1_ps((2 * m) as f32 - FREQUENCY_WIDTH as f32 / 2.0);
            (
                _mm256_add_ps(x, _mm256_mul_ps(j, ax)),
                _mm256_add_ps(y, _mm256_mul_ps(j, ay)),
            )
        };
        // `bin`'s test of every sample, lane by lane (false for NaN, as there), made on
        // the first and last: a sample's position is x + j·along with j rising, and
        // rounded products and sums are monotone in j, so the floors of the others lie
        // between theirs.
        let mut inside = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
        for m in [0, ALONG - 1] {
            let (px, py) = position(m);
            let (x0, y0) = (_mm256_floor_ps(px), _mm256_floor_ps(py));
            inside = _mm256_and_ps(inside, _mm256_cmp_ps::<_CMP_GE_OQ>(x0, zero));
            inside = _mm256_and_ps(inside, _mm256_cmp_ps::<_CMP_GE_OQ>(y0, zero));
            inside = _mm256_and_ps(
                inside,
                _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_add_ps(x0, one), w),
            );
            inside = _mm256_and_ps(
                inside,
                _mm256_cmp_ps::<_CMP_LT_OQ>(_mm256_add_ps(y0, one), h),
            );
        }
        let sums = if !indexable {
            None
        } else if _mm256_movemask_ps(inside) == 0xff {
            inside_sums(image, position)
        } else {
            clamped_sums(image, position)
        };
        if let Some(acc) = sums {
            // SAFETY: `chunk` holds 8 f32.
            unsafe { _mm256_storeu_ps(chunk.as_mut_ptr(), acc) };
            continue;
        }
        for (l, v) in chunk.iter_mut().enumerate() {
            *v = signature_bin(image, (cx, cy), (along_x, along_y), group * LANES + l);
        }
    }
    out
}

/// The eight bins whose samples lie at `position(m)`, m = 0 .. ALONG, all inside the
/// plane: each lane the in-order sum of its samples. Every index is checked against the
/// plane's length before it is read (which the test above already ensures): none, if one
/// would not fit (the caller then goes bin by bin).
#[target_feature(enable = "avx2")]
#[inline]
fn inside_sums(image: &Plane, position: impl Fn(usize) -> (__m256, __m256)) -> Option<__m256> {
    let width = _mm256_set1_epi32(image.width as i32);
    // The largest index whose neighbour to the right one row below is in the plane; the
    // caller has checked that the length fits an i32.
    let last = _mm256_set1_epi32((image.data.len() as i32) - image.width as i32 - 2);
    let base = image.data.as_ptr();
    // First every sample's index and fractions, then the corners and the sums: each
    // sample's chain from its position to its corners' loads is long (a conversion, a
    // multiplication of integers, the index through memory, the loads), and with both in
    // one loop the processor held too few samples at once to overlap their chains.
    let mut at = [[0i32; LANES]; ALONG];
    let mut fractions = [(_mm256_setzero_ps(), _mm256_setzero_ps()); ALONG];
    let mut outside = _mm256_setzero_si256();
    for (m, (at, fractions)) in at.iter_mut().zip(&mut fractions).enumerate() {
        let (px, py) = position(m);
        let (x0, y0) = (_mm256_floor_ps(px), _mm256_floor_ps(py));
        *fractions = (_mm256_sub_ps(px, x0), _mm256_sub_ps(py, y0));
        // Inside: 0 ≤ x0 < width − 1 and 0 ≤ y0 < height − 1, whole numbers, so the
        // conversions are exact and the index and its three neighbours lie in the plane.
        let i = _mm256_add_epi32(
            _mm256_mullo_epi32(_mm256_cvttps_epi32(y0), width),
            _mm256_cvttps_epi32(x0),
        );
        outside = _mm256_or_si256(
            outside,
            _mm256_or_si256(
                _mm256_cmpgt_epi32(_mm256_setzero_si256(), i),
                _mm256_cmpgt_epi32(i, last),
            ),
        );
        // SAFETY: `at` holds 8 i32.
        unsafe { _mm256_storeu_si256(at.as_mut_ptr().cast(), i) };
    }
    if _mm256_testz_si256(outside, outside) == 0 {
        return None;
    }
    let mut acc = _mm256_setzero_ps();
    for (at, &(fx, fy)) in at.iter().zip(&fractions) {
        // Each lane's left and right corner as one 8-byte load; two lanes to a 128-bit
        // half, then the lefts and the rights taken apart. Loads and shuffles rather than
        // gathers, which are slow on some cores (on an Ice Lake here, one gather of eight
        // took about as long as sixteen of these loads).
        let corners = |offset: usize| {
            // SAFETY: every lane's index is in 0 ..= len − width − 2 (checked above), so
            // the two floats at it, and at it plus the width, are inside `image.data`.
            // (Read as unaligned integers: the pairs lie on any 4-byte boundary.)
            let pair = |lane: usize| unsafe {
                base.add(at[lane] as usize + offset)
                    .cast::<i64>()
                    .read_unaligned()
            };
            let two = |l: usize| _mm_castsi128_ps(_mm_set_epi64x(pair(l + 1), pair(l)));
            let (first, second) = (
                _mm256_set_m128(two(4), two(0)),
                _mm256_set_m128(two(6), two(2)),
            );
            (
                _mm256_shuffle_ps::<0b10_00_10_00>(first, second),
                _mm256_shuffle_ps::<0b11_01_11_01>(first, second),
            )
        };
        let ((tl, tr), (bl, br)) = (corners(0), corners(image.width));
        acc = _mm256_add_ps(acc, bilinear([tl, tr, bl, br], (fx, fy)));
    }
    Some(acc)
}

/// The eight bins whose samples lie at `position(m)`, m = 0 .. ALONG, some of them
/// outside the plane's interior: each sample bilinear between its four corners, each
/// corner's column and row clamped to the plane ([`Plane::sample`]'s clamped path, whose
/// arithmetic is also its inside path's, so every lane gets `bin`'s value whether or not
/// its own samples are all inside), each lane the in-order sum of its samples. The blocks
/// near the image's edges, which went bin by bin (about a tenth of the signature's time).
/// None (the caller then goes bin by bin) for a sample more than 2^20 pixels away, or
/// not a number.
#[target_feature(enable = "avx2")]
#[inline]
fn clamped_sums(image: &Plane, position: impl Fn(usize) -> (__m256, __m256)) -> Option<__m256> {
    let (width, height) = (image.width as i32, image.height as i32);
    let (zero, last_column, last_row) = (
        _mm256_setzero_si256(),
        _mm256_set1_epi32(width - 1),
        _mm256_set1_epi32(height - 1),
    );
    let stride = _mm256_set1_epi32(width);
    let (far, near_far) = (
        _mm256_set1_ps((1 << 20) as f32),
        _mm256_set1_ps(-((1 << 20) as f32)),
    );
    let ones = _mm256_set1_epi32(1);
    // Per sample: the indices of its four corners (top left, top right, bottom left,
    // bottom right), and its fractions.
    let mut at = [[[0i32; LANES]; 4]; ALONG];
    let mut fractions = [(_mm256_setzero_ps(), _mm256_setzero_ps()); ALONG];
    let mut near = _mm256_castsi256_ps(_mm256_set1_epi32(-1));
    for (m, (at, fractions)) in at.iter_mut().zip(&mut fractions).enumerate() {
        let (px, py) = position(m);
        let (x0, y0) = (_mm256_floor_ps(px), _mm256_floor_ps(py));
        *fractions = (_mm256_sub_ps(px, x0), _mm256_sub_ps(py, y0));
        // |x0|, |y0| < 2^20 (false for NaN), so the conversions are exact.
        for v in [x0, y0] {
            near = _mm256_and_ps(near, _mm256_cmp_ps::<_CMP_LT_OQ>(v, far));
            near = _mm256_and_ps(near, _mm256_cmp_ps::<_CMP_GT_OQ>(v, near_far));
        }
        let (ix, iy) = (_mm256_cvttps_epi32(x0), _mm256_cvttps_epi32(y0));
        let column = |v: __m256i| _mm256_min_epi32(_mm256_max_epi32(v, zero), last_column);
        let row = |v: __m256i| {
            _mm256_mullo_epi32(
                _mm256_min_epi32(_mm256_max_epi32(v, zero), last_row),
                stride,
            )
        };
        let (left, right) = (column(ix), column(_mm256_add_epi32(ix, ones)));
        let (top, below) = (row(iy), row(_mm256_add_epi32(iy, ones)));
        for (corner, (r, c)) in
            at.iter_mut()
                .zip([(top, left), (top, right), (below, left), (below, right)])
        {
            // SAFETY: `corner` holds 8 i32.
            unsafe { _mm256_storeu_si256(corner.as_mut_ptr().cast(), _mm256_add_epi32(r, c)) };
        }
    }
    if _mm256_movemask_ps(near) != 0xff {
        return None;
    }
    let mut acc = _mm256_setzero_ps();
    for (at, &(fx, fy)) in at.iter().zip(&fractions) {
        // Clamped, every index lies in the plane; read with the usual checks.
        let corner = |k: usize| {
            let v: [f32; LANES] = std::array::from_fn(|l| image.data[at[k][l] as usize]);
            // SAFETY: `v` holds 8 f32.
            unsafe { _mm256_loadu_ps(v.as_ptr()) }
        };
        acc = _mm256_add_ps(acc, bilinear(std::array::from_fn(corner), (fx, fy)));
    }
    Some(acc)
}

/// A sample between its corners (top left, top right, bottom left, bottom right) at
/// fractions (fx, fy), lane by lane in `Plane::sample`'s arithmetic: along the rows, then
/// between them, each as two products and a sum (no fused multiply-add).
#[target_feature(enable = "avx2")]
#[inline]
fn bilinear([tl, tr, bl, br]: [__m256; 4], (fx, fy): (__m256, __m256)) -> __m256 {
    let one = _mm256_set1_ps(1.0);
    let (gx, gy) = (_mm256_sub_ps(one, fx), _mm256_sub_ps(one, fy));
    let a = _mm256_add_ps(_mm256_mul_ps(tl, gx), _mm256_mul_ps(tr, fx));
    let b = _mm256_add_ps(_mm256_mul_ps(bl, gx), _mm256_mul_ps(br, fx));
    _mm256_add_ps(_mm256_mul_ps(a, gy), _mm256_mul_ps(b, fy))
}

#[cfg(test)]
mod tests {
    use super::super::super::plane::xorshift32;
    use super::*;

    #[test]
    fn the_vector_signature_is_the_bin_by_bin_one() {
        if !available() {
            eprintln!("skipped: this processor has no AVX2");
            return;
        }
        let mut seed = 0x9e37_79b9_u32;
        let mut next = move || xorshift32(&mut seed) as f32 / u32::MAX as f32;
        let image = super::super::random_plane(97, 83, -100.0, &mut next);
        let (mut inside, mut edge) = (0, 0);
        // Centres well inside, across the edges and outside; every direction, and every
        // 5th on whole or half pixels, where floors and fractions are exact.
        for n in 0..20_000 {
            let (mut cx, mut cy) = (next() * 150.0 - 25.0, next() * 130.0 - 25.0);
            if n % 5 == 0 {
                (cx, cy) = ((cx * 2.0).round() / 2.0, (cy * 2.0).round() / 2.0);
            }
            let theta = next() * std::f32::consts::TAU;
            let (along_x, along_y) = (theta.cos(), theta.sin());
            let expected: [f32; FREQUENCY_WINDOW] =
                std::array::from_fn(|k| signature_bin(&image, (cx, cy), (along_x, along_y), k));
            // SAFETY: the processor has AVX2 (checked above).
            let got = unsafe { signature(&image, (cx, cy), (along_x, along_y)) };
            let bits = |s: &[f32]| s.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
            assert_eq!(bits(&got), bits(&expected), "at ({cx}, {cy}), {theta}");
            if (20.0..77.0).contains(&cx) && (20.0..63.0).contains(&cy) {
                inside += 1;
            } else {
                edge += 1;
            }
        }
        assert!(
            inside > 2_000 && edge > 2_000,
            "{inside} inside, {edge} at the edge"
        );
    }
}
