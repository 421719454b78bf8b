//! Contextual enhancement: each block is filtered with the Gabor kernel tuned to its ridge
//! orientation and period (Hong, Wan and Jain, "Fingerprint image enhancement: algorithm
//! and performance evaluation", IEEE TPAMI 20(8), 1998). The kernels form a fixed bank
//! built once; filtering runs a block (eight rows of eight pixels) at a time over a padded
//! copy of the image.

use std::sync::OnceLock;

use super::orientation::OrientationField;
use super::params::*;
use super::plane::{Plane, scratch};
use super::segmentation::Blocks;

const SIDE: usize = 2 * GABOR_RADIUS + 1;
/// Taps per stored kernel row: the row's 15 and a zero, so that it splits into two halves
/// of eight.
const ROW: usize = 16;
const HALF: usize = ROW / 2;
const _: () = assert!(SIDE < ROW && HALF == BLOCK);
/// Pixels of a padded row that one block's filtering reads from its left edge.
const REACH: usize = ROW - 1 + BLOCK;

/// A kernel, row by row, each row padded with a zero tap.
type Kernel = [[f32; ROW]; SIDE];

struct Bank {
    kernels: Vec<Kernel>,
}

fn period_of_index(k: usize) -> f32 {
    let (lo, hi, n) = GABOR_PERIODS;
    lo + (hi - lo) * k as f32 / (n - 1) as f32
}

fn bank() -> &'static Bank {
    static BANK: OnceLock<Bank> = OnceLock::new();
    BANK.get_or_init(|| {
        let mut kernels = Vec::with_capacity(GABOR_ORIENTATIONS * GABOR_PERIODS.2);
        for o in 0..GABOR_ORIENTATIONS {
            let theta = o as f32 * std::f32::consts::PI / GABOR_ORIENTATIONS as f32;
            let (c, s) = (theta.cos(), theta.sin());
            for p in 0..GABOR_PERIODS.2 {
                let period = period_of_index(p);
                let (sa, sx) = (GABOR_SIGMA_ALONG * period, GABOR_SIGMA_ACROSS * period);
                let mut k = [[0.0f32; SIDE]; SIDE];
                let mut sum = 0.0;
                for (dy, row) in k.iter_mut().enumerate() {
                    for (dx, v) in row.iter_mut().enumerate() {
                        let (x, y) = (
                            dx as f32 - GABOR_RADIUS as f32,
                            dy as f32 - GABOR_RADIUS as f32,
                        );
                        let along = x * c + y * s;
                        let across = -x * s + y * c;
                        *v = (-(along * along) / (2.0 * sa * sa)
                            - (across * across) / (2.0 * sx * sx))
                            .exp()
                            * (std::f32::consts::TAU * across / period).cos();
                        sum += *v;
                    }
                }
                // Zero mean, so that flat areas give 0; unit energy.
                let mean = sum / (SIDE * SIDE) as f32;
                let mut energy = 0.0;
                for v in k.iter_mut().flatten() {
                    *v -= mean;
                    energy += *v * *v;
                }
                let norm = energy.sqrt().max(1e-6);
                let mut padded = [[0.0f32; ROW]; SIDE];
                for (to, from) in padded.iter_mut().zip(&k) {
                    for (t, f) in to.iter_mut().zip(from) {
                        *t = f / norm;
                    }
                }
                kernels.push(padded);
            }
        }
        Bank { kernels }
    })
}

fn kernel_index(theta: f32, period: f32) -> usize {
    let o = (theta / std::f32::consts::PI * GABOR_ORIENTATIONS as f32).round() as usize
        % GABOR_ORIENTATIONS;
    let (lo, hi, n) = GABOR_PERIODS;
    let p = (((period - lo) / (hi - lo)) * (n - 1) as f32)
        .round()
        .clamp(0.0, (n - 1) as f32) as usize;
    o * n + p
}

/// Filters the foreground blocks of a normalised image; background stays 0. Compiled for
/// AVX2 + FMA, NEON and the baseline, and dispatched at run time; on processors with
/// AVX-512 each block is filtered by `avx512::filter_block`. Every build computes the same
/// values: each output is the sum defined by [`filter_block`], in fused multiply-adds.
#[allow(unsafe_code)]
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn enhance(image: &Plane, blocks: &Blocks, field: &OrientationField, period: &Plane) -> Plane {
    let bank = bank();
    let (w, h) = (image.width, image.height);
    let r = GABOR_RADIUS;
    // Room for a block's reach past the last block's left edge, below and to the right.
    let pw = w + 2 * r + REACH;
    let ph = h + 2 * r + BLOCK;
    // Padded copy (zeros outside: the image is zero-mean after normalisation).
    let mut padded = scratch::take(pw * ph, 0.0);
    for y in 0..h {
        padded[(y + r) * pw + r..(y + r) * pw + r + w]
            .copy_from_slice(&image.data[y * w..(y + 1) * w]);
    }
    #[cfg(target_arch = "x86_64")]
    let wide = avx512::available();
    let mut out = Plane::filled(w, h, 0.0);
    for by in 0..blocks.bh {
        for bx in 0..blocks.bw {
            let b = by * blocks.bw + bx;
            if !blocks.foreground[b] {
                continue;
            }
            let k = &bank.kernels[kernel_index(field.angle(bx, by), period.data[b])];
            let (x0, y0) = (bx * BLOCK, by * BLOCK);
            #[cfg(target_arch = "x86_64")]
            let acc = if wide {
                // SAFETY: the processor has AVX-512 F and DQ and FMA (checked above).
                unsafe { avx512::filter_block(&padded, pw, x0, y0, k) }
            } else {
                filter_block(&padded, pw, x0, y0, k)
            };
            #[cfg(not(target_arch = "x86_64"))]
            let acc = filter_block(&padded, pw, x0, y0, k);
            for (yy, row) in acc.iter().enumerate() {
                let y = y0 + yy;
                if y >= h {
                    break;
                }
                for (xx, v) in row.iter().enumerate() {
                    let x = x0 + xx;
                    if x < w {
                        out.data[y * w + x] = *v;
                    }
                }
            }
        }
    }
    scratch::give_back(padded);
    out
}

/// Output rows filtered side by side: two accumulators each (the kernel rows' left and
/// right halves), so eight independent sums are in flight.
const GROUP: usize = 4;

/// The block's 8 × 8 outputs from (x0, y0), with the kernel centred on each. This defines
/// the arithmetic every build follows: an output is the sum of two partial sums, one over
/// each kernel row's left eight taps and one over its right eight (the last of them 0),
/// each accumulated kernel row by kernel row, left to right, in fused multiply-adds from
/// 0. Two sums halve the chain of dependent additions and let a 16-lane vector hold both
/// halves of eight outputs (`avx512::filter_block`).
#[inline(always)]
fn filter_block(
    padded: &[f32],
    pw: usize,
    x0: usize,
    y0: usize,
    k: &Kernel,
) -> [[f32; BLOCK]; BLOCK] {
    let mut out = [[0.0f32; BLOCK]; BLOCK];
    for (g, rows_out) in out.chunks_exact_mut(GROUP).enumerate() {
        let mut left = [[0.0f32; BLOCK]; GROUP];
        let mut right = [[0.0f32; BLOCK]; GROUP];
        for (dy, taps) in k.iter().enumerate() {
            // The padded rows this kernel row meets for the group's output rows.
            let rows: [&[f32; REACH]; GROUP] = std::array::from_fn(|yy| {
                let base = (y0 + g * GROUP + yy + dy) * pw + x0;
                padded[base..base + REACH]
                    .try_into()
                    .expect("the padding covers the block's reach")
            });
            for dx in 0..HALF {
                let (a, b) = (taps[dx], taps[dx + HALF]);
                for ((l, r), src) in left.iter_mut().zip(right.iter_mut()).zip(&rows) {
                    for i in 0..BLOCK {
                        l[i] = a.mul_add(src[dx + i], l[i]);
                        r[i] = b.mul_add(src[dx + HALF + i], r[i]);
                    }
                }
            }
        }
        for ((o, l), r) in rows_out.iter_mut().zip(&left).zip(&right) {
            for i in 0..BLOCK {
                o[i] = l[i] + r[i];
            }
        }
    }
    out
}

/// [`filter_block`] with AVX-512: the left and right halves' sums of a row of eight
/// outputs are the two halves of one 16-lane vector, so that one load of 16 pixels and one
/// fused multiply-add by the pair (tap dx, tap dx + 8) advance both.
#[cfg(target_arch = "x86_64")]
#[allow(unsafe_code)]
mod avx512 {
    use std::arch::x86_64::*;
    use std::sync::OnceLock;

    use super::{BLOCK, HALF, Kernel, REACH, SIDE};

    /// Whether this processor runs this filter (checked once).
    pub(super) fn available() -> bool {
        static AVAILABLE: OnceLock<bool> = OnceLock::new();
        *AVAILABLE.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("fma")
        })
    }

    /// The same values as [`super::filter_block`].
    ///
    /// # Safety
    /// The processor must have AVX-512 F and DQ and FMA ([`available`]).
    #[target_feature(enable = "avx512f,avx512dq,fma")]
    pub(super) unsafe fn filter_block(
        padded: &[f32],
        pw: usize,
        x0: usize,
        y0: usize,
        k: &Kernel,
    ) -> [[f32; BLOCK]; BLOCK] {
        // Every read below lies in the rows y0 .. y0 + BLOCK + SIDE - 1, at x0 .. x0 + REACH.
        let last = (y0 + BLOCK + SIDE - 2) * pw + x0 + REACH;
        assert!(last <= padded.len(), "the padding covers the block's reach");
        let mut acc = [_mm512_setzero_ps(); BLOCK];
        for (dy, taps) in k.iter().enumerate() {
            // SAFETY: a kernel row holds ROW = 16 f32.
            let row = unsafe { _mm512_loadu_ps(taps.as_ptr()) };
            // Pair dx: tap dx in lanes 0-7, tap dx + 8 in lanes 8-15.
            let pairs: [__m512; HALF] = std::array::from_fn(|dx| {
                let (a, b) = (dx as i32, (dx + HALF) as i32);
                _mm512_permutexvar_ps(
                    _mm512_setr_epi32(a, a, a, a, a, a, a, a, b, b, b, b, b, b, b, b),
                    row,
                )
            });
            for (dx, pair) in pairs.iter().enumerate() {
                for (yy, a) in acc.iter_mut().enumerate() {
                    // SAFETY: pixels x0 + dx .. x0 + dx + 16 of padded row y0 + yy + dy,
                    // inside `padded` (dx + 16 <= REACH, checked above).
                    let src = unsafe {
                        _mm512_loadu_ps(padded.as_ptr().add((y0 + yy + dy) * pw + x0 + dx))
                    };
                    *a = _mm512_fmadd_ps(*pair, src, *a);
                }
            }
        }
        let mut out = [[0.0f32; BLOCK]; BLOCK];
        for (o, a) in out.iter_mut().zip(&acc) {
            let sum = _mm256_add_ps(_mm512_castps512_ps256(*a), _mm512_extractf32x8_ps::<1>(*a));
            // SAFETY: a row of `out` holds BLOCK = 8 f32.
            unsafe { _mm256_storeu_ps(o.as_mut_ptr(), sum) };
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::plane::xorshift32;
    use super::*;

    /// One output, tap by tap, as `filter_block` defines it.
    fn filtered_pixel(padded: &[f32], pw: usize, x: usize, y: usize, k: &Kernel) -> f32 {
        let (mut left, mut right) = (0.0f32, 0.0f32);
        for (dy, taps) in k.iter().enumerate() {
            let row = &padded[(y + dy) * pw + x..];
            for dx in 0..HALF {
                left = taps[dx].mul_add(row[dx], left);
            }
            for dx in HALF..ROW {
                right = taps[dx].mul_add(row[dx], right);
            }
        }
        left + right
    }

    #[test]
    fn every_block_filter_gives_the_pixel_by_pixel_sums() {
        let mut seed = 0x0e11_a5ed_u32;
        let mut next = move || xorshift32(&mut seed) as f32 / u32::MAX as f32 - 0.5;
        let (pw, ph) = (3 * BLOCK + SIDE + ROW, 3 * BLOCK + SIDE);
        let padded: Vec<f32> = (0..pw * ph).map(|_| 200.0 * next()).collect();
        for (n, kernel) in bank().kernels.iter().enumerate() {
            assert_eq!(kernel.map(|row| row[ROW - 1]), [0.0; SIDE], "kernel {n}");
            let (x0, y0) = ((n % 3) * BLOCK, (n / 3 % 3) * BLOCK);
            let expected: [[u32; BLOCK]; BLOCK] = std::array::from_fn(|yy| {
                std::array::from_fn(|xx| {
                    filtered_pixel(&padded, pw, x0 + xx, y0 + yy, kernel).to_bits()
                })
            });
            let bits = |b: [[f32; BLOCK]; BLOCK]| b.map(|row| row.map(f32::to_bits));
            let portable = filter_block(&padded, pw, x0, y0, kernel);
            assert_eq!(bits(portable), expected, "kernel {n}");
            #[cfg(target_arch = "x86_64")]
            if avx512::available() {
                // SAFETY: the processor has what the filter is compiled for.
                #[allow(unsafe_code)]
                let wide = unsafe { avx512::filter_block(&padded, pw, x0, y0, kernel) };
                assert_eq!(bits(wide), expected, "kernel {n}, AVX-512");
            }
        }
    }
}
