//! [`Flow::descriptor`] eight samples at a time, for x86-64 processors with AVX2.
//!
//! The portable descriptor looks up each of its 76 samples one after the other (a
//! division, a floor, four corners each checked against the box, a square root and two
//! divisions, two roundings), about a quarter of a template's preparation. Here every step
//! is done for eight samples at once, with the same IEEE operations in the same order
//! (no fused multiply-add; a corner outside the box adds +0, which leaves a sum unchanged
//! since no sum is −0; half-way values rounded away from zero as `f32::round` does), so
//! the descriptors are the same bit for bit (tested against the portable one).

#![allow(unsafe_code)]

use std::arch::x86_64::*;
use std::sync::OnceLock;

use super::{DESCRIPTOR_SAMPLES, Descriptor, Flow, UNIT, ring_points};

/// Samples per vector.
const LANES: usize = 8;
/// The samples padded to whole vectors.
const PADDED: usize = DESCRIPTOR_SAMPLES.div_ceil(LANES) * LANES;

/// Whether this processor runs this descriptor (checked once).
pub(super) fn available() -> bool {
    static AVAILABLE: OnceLock<bool> = OnceLock::new();
    *AVAILABLE.get_or_init(|| is_x86_feature_detected!("avx2"))
}

/// The ring points of [`ring_points`] as three arrays (radius, cos, sin), padded with
/// zeros; and the lanes that hold a sample.
#[repr(align(32))]
struct Rings {
    radius: [f32; PADDED],
    cos: [f32; PADDED],
    sin: [f32; PADDED],
    used: [i32; PADDED],
}

fn rings() -> &'static Rings {
    static RINGS: OnceLock<Rings> = OnceLock::new();
    RINGS.get_or_init(|| {
        let mut r = Rings {
            radius: [0.0; PADDED],
            cos: [0.0; PADDED],
            sin: [0.0; PADDED],
            used: [0; PADDED],
        };
        for (k, &(radius, c, s)) in ring_points().iter().enumerate() {
            (r.radius[k], r.cos[k], r.sin[k], r.used[k]) = (radius, c, s, -1);
        }
        r
    })
}

/// [`Flow::descriptor`]'s value, eight samples at a time.
///
/// # Safety
/// The processor must have AVX2 ([`available`]).
#[target_feature(enable = "avx2")]
pub(super) unsafe fn descriptor(flow: &Flow, x: f32, y: f32, theta: f32) -> Descriptor {
    let mut d = Descriptor::EMPTY;
    let (s2, c2) = (-2.0 * theta).sin_cos();
    let (st, ct) = theta.sin_cos();
    let rings = rings();
    let (vs2, vc2, vst, vct) = (
        _mm256_set1_ps(s2),
        _mm256_set1_ps(c2),
        _mm256_set1_ps(st),
        _mm256_set1_ps(ct),
    );
    let block = _mm256_set1_ps(flow.block);
    let (x0, y0) = (
        _mm256_set1_ps(flow.x0 as f32),
        _mm256_set1_ps(flow.y0 as f32),
    );
    let (bwf, bhf) = (
        _mm256_set1_ps(flow.bw as f32),
        _mm256_set1_ps(flow.bh as f32),
    );
    // The box holds at most 255 × 255 blocks, so indices fit an i32 (and 3 × one too).
    let (bw, bh) = (
        _mm256_set1_epi32(flow.bw as i32),
        _mm256_set1_epi32(flow.bh as i32),
    );
    let zero = _mm256_setzero_ps();
    let one = _mm256_set1_ps(1.0);
    let half = _mm256_set1_ps(0.5);
    let sign = _mm256_set1_ps(-0.0);
    let unit = _mm256_set1_ps(UNIT);
    let cells = flow.cells.as_ptr().cast::<f32>();
    let three = _mm256_set1_epi32(3);
    let minus_one = _mm256_set1_epi32(-1);
    for v in 0..PADDED / LANES {
        let k = v * LANES;
        // SAFETY: `Rings` is aligned to 32 bytes and its arrays hold whole vectors.
        let (radius, rc, rs, used) = unsafe {
            (
                _mm256_load_ps(rings.radius.as_ptr().add(k)),
                _mm256_load_ps(rings.cos.as_ptr().add(k)),
                _mm256_load_ps(rings.sin.as_ptr().add(k)),
                _mm256_load_si256(rings.used.as_ptr().add(k).cast()),
            )
        };
        // The sample's offset, turned with the minutia.
        let ox = _mm256_mul_ps(
            radius,
            _mm256_sub_ps(_mm256_mul_ps(vct, rc), _mm256_mul_ps(vst, rs)),
        );
        let oy = _mm256_mul_ps(
            radius,
            _mm256_add_ps(_mm256_mul_ps(vst, rc), _mm256_mul_ps(vct, rs)),
        );
        let (px, py) = (
            _mm256_add_ps(_mm256_set1_ps(x), ox),
            _mm256_add_ps(_mm256_set1_ps(y), oy),
        );
        // `Flow::locate`: in blocks from the box's corner; inside when both are at least 0
        // and below the box's size (for such values the truncation is below it exactly
        // when the value is).
        let fx = _mm256_sub_ps(_mm256_div_ps(px, block), x0);
        let fy = _mm256_sub_ps(_mm256_div_ps(_mm256_xor_ps(py, sign), block), y0);
        let inside = _mm256_and_ps(
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_GE_OQ>(fx, zero),
                _mm256_cmp_ps::<_CMP_GE_OQ>(fy, zero),
            ),
            _mm256_and_ps(
                _mm256_cmp_ps::<_CMP_LT_OQ>(fx, bwf),
                _mm256_cmp_ps::<_CMP_LT_OQ>(fy, bhf),
            ),
        );
        let inside = _mm256_and_ps(inside, _mm256_castsi256_ps(used));
        // Lanes outside hold any index; their gathers read nothing.
        let at = _mm256_add_epi32(
            _mm256_mullo_epi32(_mm256_cvttps_epi32(_mm256_and_ps(fy, inside)), bw),
            _mm256_cvttps_epi32(_mm256_and_ps(fx, inside)),
        );
        let third = _mm256_add_epi32(_mm256_mullo_epi32(at, three), _mm256_set1_epi32(2));
        // SAFETY: the lanes inside the box index one of its blocks (3 values each).
        let weight = unsafe { gather(cells, third, inside) };
        let on_print = _mm256_and_ps(inside, _mm256_cmp_ps::<_CMP_NEQ_OQ>(weight, zero));
        // `Flow::at`: bilinear between the centres of the four blocks about the sample.
        let (gx, gy) = (_mm256_sub_ps(fx, half), _mm256_sub_ps(fy, half));
        let (fx0, fy0) = (_mm256_floor_ps(gx), _mm256_floor_ps(gy));
        let (tx, ty) = (_mm256_sub_ps(gx, fx0), _mm256_sub_ps(gy, fy0));
        let (ux, uy) = (_mm256_sub_ps(one, tx), _mm256_sub_ps(one, ty));
        // Whole numbers of at least −1 where on the print; any number elsewhere.
        let (cx, cy) = (
            _mm256_cvttps_epi32(_mm256_and_ps(fx0, on_print)),
            _mm256_cvttps_epi32(_mm256_and_ps(fy0, on_print)),
        );
        let mut c = zero;
        let mut s = zero;
        for (dx, dy, w) in [
            (0, 0, _mm256_mul_ps(ux, uy)),
            (1, 0, _mm256_mul_ps(tx, uy)),
            (0, 1, _mm256_mul_ps(ux, ty)),
            (1, 1, _mm256_mul_ps(tx, ty)),
        ] {
            let (ccx, ccy) = (
                _mm256_add_epi32(cx, _mm256_set1_epi32(dx)),
                _mm256_add_epi32(cy, _mm256_set1_epi32(dy)),
            );
            let in_box = _mm256_and_si256(
                _mm256_and_si256(
                    _mm256_cmpgt_epi32(ccx, minus_one),
                    _mm256_cmpgt_epi32(ccy, minus_one),
                ),
                _mm256_and_si256(_mm256_cmpgt_epi32(bw, ccx), _mm256_cmpgt_epi32(bh, ccy)),
            );
            let take = _mm256_and_ps(on_print, _mm256_castsi256_ps(in_box));
            let first =
                _mm256_mullo_epi32(_mm256_add_epi32(_mm256_mullo_epi32(ccy, bw), ccx), three);
            // SAFETY: the lanes taken index a block of the box (3 values each).
            let (cc, cs, cw) = unsafe {
                (
                    gather(cells, first, take),
                    gather(cells, _mm256_add_epi32(first, _mm256_set1_epi32(1)), take),
                    gather(cells, _mm256_add_epi32(first, _mm256_set1_epi32(2)), take),
                )
            };
            let ww = _mm256_mul_ps(w, cw);
            c = _mm256_add_ps(c, _mm256_and_ps(_mm256_mul_ps(ww, cc), take));
            s = _mm256_add_ps(s, _mm256_and_ps(_mm256_mul_ps(ww, cs), take));
        }
        let n = _mm256_sqrt_ps(_mm256_add_ps(_mm256_mul_ps(c, c), _mm256_mul_ps(s, s)));
        let ok = _mm256_and_ps(
            on_print,
            _mm256_cmp_ps::<_CMP_GT_OQ>(n, _mm256_set1_ps(1e-6)),
        );
        let (c, s) = (_mm256_div_ps(c, n), _mm256_div_ps(s, n));
        // The doubled angle turned by −2θ, quantised.
        let a = _mm256_mul_ps(
            _mm256_sub_ps(_mm256_mul_ps(c, vc2), _mm256_mul_ps(s, vs2)),
            unit,
        );
        let b = _mm256_mul_ps(
            _mm256_add_ps(_mm256_mul_ps(c, vs2), _mm256_mul_ps(s, vc2)),
            unit,
        );
        let (a, b) = (
            _mm256_cvttps_epi32(_mm256_and_ps(round_away(a, one, half, sign), ok)),
            _mm256_cvttps_epi32(_mm256_and_ps(round_away(b, one, half, sign), ok)),
        );
        let mut qa = [0i32; LANES];
        let mut qb = [0i32; LANES];
        // SAFETY: each array holds one vector.
        unsafe {
            _mm256_storeu_si256(qa.as_mut_ptr().cast(), a);
            _mm256_storeu_si256(qb.as_mut_ptr().cast(), b);
        }
        let taken = _mm256_movemask_ps(ok) as u32;
        d.inside |= u128::from(taken) << k;
        for lane in 0..LANES.min(DESCRIPTOR_SAMPLES - k) {
            // As `f32 as i8` does: values beyond the range would saturate (none lies
            // beyond ±127).
            d.vectors[2 * (k + lane)] = qa[lane].clamp(-128, 127) as i8;
            d.vectors[2 * (k + lane) + 1] = qb[lane].clamp(-128, 127) as i8;
        }
    }
    d
}

/// The `f32` at `cells + index` for the lanes of `mask`, 0 in the others (which read
/// nothing).
///
/// # Safety
/// In every lane of `mask`, `cells + index` must be a value of `Flow::cells`.
#[target_feature(enable = "avx2")]
#[inline]
unsafe fn gather(cells: *const f32, index: __m256i, mask: __m256) -> __m256 {
    // SAFETY: as the caller promises.
    unsafe { _mm256_mask_i32gather_ps::<4>(_mm256_setzero_ps(), cells, index, mask) }
}

/// `f32::round` of each lane: to the nearest whole number, half-way values away from 0
/// (exact: the truncation and the difference to it are exact in `f32`).
#[target_feature(enable = "avx2")]
#[inline]
fn round_away(v: __m256, one: __m256, half: __m256, sign: __m256) -> __m256 {
    let t = _mm256_round_ps::<{ _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC }>(v);
    let away = _mm256_cmp_ps::<_CMP_GE_OQ>(_mm256_andnot_ps(sign, _mm256_sub_ps(v, t)), half);
    let step = _mm256_or_ps(_mm256_and_ps(v, sign), one);
    _mm256_add_ps(t, _mm256_and_ps(away, step))
}
