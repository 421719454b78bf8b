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
/// Columns of taps in the left one of each output's two partial sums (the other seven in
/// the right one).
const HALF: usize = 8;
/// Pixels of a padded row that one block's filtering reads from its left edge.
const REACH: usize = SIDE - 1 + BLOCK;

/// A kernel, row by row.
type Kernel = [[f32; SIDE]; SIDE];

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
                for v in k.iter_mut().flatten() {
                    *v /= norm;
                }
                kernels.push(k);
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
/// AVX2 + FMA, NEON and the baseline, and dispatched at run time. Every build computes the
/// same values: each output is the sum defined by `filter_block`, in fused multiply-adds
/// (correctly rounded wherever they run: an instruction on the dispatched builds, the C
/// library's `fmaf` on a baseline x86-64 build, which is slow but has the same results).
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
    let mut out = Plane::filled(w, h, 0.0);
    for by in 0..blocks.bh {
        for bx in 0..blocks.bw {
            let b = by * blocks.bw + bx;
            if !blocks.foreground[b] {
                continue;
            }
            let k = &bank.kernels[kernel_index(field.angle(bx, by), period.data[b])];
            let (x0, y0) = (bx * BLOCK, by * BLOCK);
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

/// Kernel rows whose taps one pass over the block holds: five taps, the block's eight
/// rows of sums and a row of pixels fit the 16 vector registers of AVX2.
const CHUNK: usize = 5;
const _: () = assert!(SIDE.is_multiple_of(CHUNK));
/// Padded rows a block's filtering reads.
const SPAN: usize = BLOCK + SIDE - 1;

/// The block's 8 × 8 outputs from (x0, y0), with the kernel centred on each. This defines
/// the arithmetic every build follows: an output is the sum of two partial sums, one over
/// the kernel's left eight columns of taps and one over its right seven, each accumulated
/// in fused multiply-adds from 0, kernel rows five at a time (0–4, 5–9, 10–14), within them
/// column by column, and within a column row by row. In that order a column's five taps
/// stay in registers while the block's rows go past them: each row of eight pixels loaded
/// serves up to five multiply-adds, each into another output row's sum, where filtering one
/// kernel row at a time loads a row of pixels and a tap for every one or two multiply-adds,
/// and waits on the loads. (A variant for AVX-512 held both halves of a row of eight
/// outputs in one 16-lane vector, one load and one multiply-add per tap pair: no faster on
/// an Ice Lake Xeon, whose loads of 16 pixels mostly straddle two cache lines, so it was
/// not kept.)
#[inline(always)]
fn filter_block(
    padded: &[f32],
    pw: usize,
    x0: usize,
    y0: usize,
    k: &Kernel,
) -> [[f32; BLOCK]; BLOCK] {
    let rows: [&[f32; REACH]; SPAN] = std::array::from_fn(|p| {
        let base = (y0 + p) * pw + x0;
        padded[base..base + REACH]
            .try_into()
            .expect("the padding covers the block's reach")
    });
    let left = filter_columns(&rows, k, 0..HALF);
    let right = filter_columns(&rows, k, HALF..SIDE);
    let mut out = [[0.0f32; BLOCK]; BLOCK];
    for ((o, l), r) in out.iter_mut().zip(&left).zip(&right) {
        for i in 0..BLOCK {
            o[i] = l[i] + r[i];
        }
    }
    out
}

/// One of [`filter_block`]'s partial sums for each output: the taps of `columns`, in its
/// order.
#[inline(always)]
fn filter_columns(
    rows: &[&[f32; REACH]; SPAN],
    k: &Kernel,
    columns: std::ops::Range<usize>,
) -> [[f32; BLOCK]; BLOCK] {
    let mut acc = [[0.0f32; BLOCK]; BLOCK];
    for c in (0..SIDE).step_by(CHUNK) {
        for dx in columns.clone() {
            let taps: [f32; CHUNK] = std::array::from_fn(|j| k[c + j][dx]);
            // Padded row c + p meets tap row c + j in output row p − j: each row of
            // pixels is loaded once for the (up to) five sums it goes into, and each sum
            // still takes its taps in the order of j. Written out row by row so that
            // every index is a constant and the sums stay in registers.
            let row = |p: usize| -> &[f32; BLOCK] {
                rows[c + p][dx..dx + BLOCK]
                    .try_into()
                    .expect("eight pixels")
            };
            macro_rules! pixel_rows {
                ($($p:literal)*) => {
                    const { assert!([$($p),*].len() == BLOCK + CHUNK - 1) };
                    $(pixel_row::<$p>(&mut acc, &taps, row($p));)*
                };
            }
            pixel_rows!(0 1 2 3 4 5 6 7 8 9 10 11);
        }
    }
    acc
}

/// The multiply-adds of padded row `P` of a chunk: into output row P − j with tap j.
#[inline(always)]
fn pixel_row<const P: usize>(
    acc: &mut [[f32; BLOCK]; BLOCK],
    taps: &[f32; CHUNK],
    src: &[f32; BLOCK],
) {
    const { assert!(P < BLOCK + CHUNK - 1) };
    for (j, &t) in taps.iter().enumerate() {
        if P >= j && P - j < BLOCK {
            let sums = &mut acc[P - j];
            for i in 0..BLOCK {
                sums[i] = t.mul_add(src[i], sums[i]);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::plane::{rings, xorshift32};
    use super::*;

    /// One output, tap by tap, as `filter_block` defines it.
    fn filtered_pixel(padded: &[f32], pw: usize, x: usize, y: usize, k: &Kernel) -> f32 {
        let half = |columns: std::ops::Range<usize>| {
            let mut sum = 0.0f32;
            for c in (0..SIDE).step_by(CHUNK) {
                for dx in columns.clone() {
                    for dy in c..c + CHUNK {
                        sum = k[dy][dx].mul_add(padded[(y + dy) * pw + x + dx], sum);
                    }
                }
            }
            sum
        };
        half(0..HALF) + half(HALF..SIDE)
    }

    #[test]
    fn the_dispatched_enhancement_gives_the_pixel_by_pixel_sums() {
        // Curved ridges with noise, through the pipeline's steps before enhancement; the
        // build `enhance` dispatches to (AVX2 + FMA here) against `filtered_pixel`.
        let (w, h) = (203, 157);
        let img = rings(
            (w, h),
            (-20.0, 170.0),
            8.7,
            (100.0, 70.0),
            |_| 1.0,
            (50, 0x3c6e_f372),
        );
        let blocks = crate::extract::segmentation::segment(&img);
        let plane = crate::extract::normalise(&img, &blocks);
        let field = crate::extract::orientation::estimate(&plane, &blocks);
        let period = crate::extract::frequency::estimate(&plane, &blocks, &field).period;
        let enhanced = enhance(&plane, &blocks, &field, &period);
        let r = GABOR_RADIUS;
        let pw = w + 2 * r + REACH;
        let mut padded = vec![0.0f32; pw * (h + 2 * r + BLOCK)];
        for y in 0..h {
            padded[(y + r) * pw + r..][..w].copy_from_slice(&plane.data[y * w..][..w]);
        }
        let mut filtered = 0;
        for y in 0..h {
            for x in 0..w {
                let (bx, by) = (x / BLOCK, y / BLOCK);
                let b = by * blocks.bw + bx;
                let expected = if blocks.foreground[b] {
                    filtered += 1;
                    let k = &bank().kernels[kernel_index(field.angle(bx, by), period.data[b])];
                    filtered_pixel(&padded, pw, x, y, k)
                } else {
                    0.0
                };
                assert_eq!(
                    enhanced.data[y * w + x].to_bits(),
                    expected.to_bits(),
                    "at ({x}, {y})"
                );
            }
        }
        assert!(filtered > w * h / 3, "{filtered} pixels filtered");
    }

    #[test]
    fn every_block_filter_gives_the_pixel_by_pixel_sums() {
        let mut seed = 0x0e11_a5ed_u32;
        let mut next = move || xorshift32(&mut seed) as f32 / u32::MAX as f32 - 0.5;
        let (pw, ph) = (3 * BLOCK + SIDE + REACH, 3 * BLOCK + SIDE);
        let padded: Vec<f32> = (0..pw * ph).map(|_| 200.0 * next()).collect();
        for (n, kernel) in bank().kernels.iter().enumerate() {
            let (x0, y0) = ((n % 3) * BLOCK, (n / 3 % 3) * BLOCK);
            let expected: [[u32; BLOCK]; BLOCK] = std::array::from_fn(|yy| {
                std::array::from_fn(|xx| {
                    filtered_pixel(&padded, pw, x0 + xx, y0 + yy, kernel).to_bits()
                })
            });
            let bits = |b: [[f32; BLOCK]; BLOCK]| b.map(|row| row.map(f32::to_bits));
            let portable = filter_block(&padded, pw, x0, y0, kernel);
            assert_eq!(bits(portable), expected, "kernel {n}");
        }
    }
}
