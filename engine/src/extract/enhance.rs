//! Contextual enhancement: each block is filtered with the Gabor kernel tuned to its ridge
//! orientation and period (Hong, Wan and Jain, "Fingerprint image enhancement: algorithm
//! and performance evaluation", IEEE TPAMI 20(8), 1998). The kernels form a fixed bank
//! built once; filtering runs a block (eight rows of eight pixels) at a time over a padded
//! copy of the image.

use std::sync::OnceLock;

use super::orientation::OrientationField;
use super::params::*;
use super::plane::Plane;
use super::segmentation::Blocks;

const SIDE: usize = 2 * GABOR_RADIUS + 1;

struct Bank {
    kernels: Vec<[[f32; SIDE]; SIDE]>,
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
                k.iter_mut().flatten().for_each(|v| *v /= norm);
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
/// AVX2 + FMA, NEON and the baseline, and dispatched at run time.
#[allow(unsafe_code)]
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn enhance(image: &Plane, blocks: &Blocks, field: &OrientationField, period: &Plane) -> Plane {
    let bank = bank();
    let (w, h) = (image.width, image.height);
    let r = GABOR_RADIUS;
    let pw = w + 2 * r + BLOCK;
    let ph = h + 2 * r + BLOCK;
    // Padded copy (zeros outside: the image is zero-mean after normalisation).
    let mut padded = vec![0.0f32; pw * ph];
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
    out
}

/// The block's 8 × 8 outputs from (x0, y0), with the kernel centred on each. Each output
/// adds its taps row by row, left to right, as a filter of one output would; the block's
/// eight rows are worked on side by side, so that eight independent sums are in flight
/// (one row alone waits on its previous addition at every tap).
#[inline(always)]
fn filter_block(
    padded: &[f32],
    pw: usize,
    x0: usize,
    y0: usize,
    k: &[[f32; SIDE]; SIDE],
) -> [[f32; BLOCK]; BLOCK] {
    let mut acc = [[0.0f32; BLOCK]; BLOCK];
    for (dy, taps) in k.iter().enumerate() {
        // The padded rows y0 + dy .. y0 + dy + 8, from x0, that this kernel row meets.
        let rows: [&[f32; SIDE - 1 + BLOCK]; BLOCK] = std::array::from_fn(|yy| {
            let base = (y0 + yy + dy) * pw + x0;
            padded[base..base + SIDE - 1 + BLOCK]
                .try_into()
                .expect("the padding covers the block's reach")
        });
        for (dx, &kv) in taps.iter().enumerate() {
            for (a, src) in acc.iter_mut().zip(&rows) {
                for i in 0..BLOCK {
                    a[i] += kv * src[dx + i];
                }
            }
        }
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::super::plane::xorshift32;
    use super::*;

    /// One output row at a time, each output's taps in the same order: what
    /// `filter_block` computed before it worked on eight rows at once.
    fn filter_row(
        padded: &[f32],
        pw: usize,
        x0: usize,
        y: usize,
        k: &[[f32; SIDE]; SIDE],
    ) -> [f32; BLOCK] {
        let mut acc = [0.0f32; BLOCK];
        for (dy, row) in k.iter().enumerate() {
            for (dx, &kv) in row.iter().enumerate() {
                for (i, a) in acc.iter_mut().enumerate() {
                    *a += kv * padded[(y + dy) * pw + x0 + dx + i];
                }
            }
        }
        acc
    }

    #[test]
    fn a_block_filtered_eight_rows_at_once_is_filtered_row_by_row() {
        let mut seed = 0x0e11_a5ed_u32;
        let mut next = move || xorshift32(&mut seed) as f32 / u32::MAX as f32 - 0.5;
        let (pw, ph) = (3 * BLOCK + SIDE, 3 * BLOCK + SIDE);
        let padded: Vec<f32> = (0..pw * ph).map(|_| 200.0 * next()).collect();
        for (n, kernel) in bank().kernels.iter().enumerate().step_by(7) {
            let (x0, y0) = ((n % 3) * BLOCK, (n / 3 % 3) * BLOCK);
            let block = filter_block(&padded, pw, x0, y0, kernel);
            for (yy, row) in block.iter().enumerate() {
                let expected = filter_row(&padded, pw, x0, y0 + yy, kernel);
                let bits = |r: &[f32; BLOCK]| r.map(f32::to_bits);
                assert_eq!(bits(row), bits(&expected), "kernel {n}, row {yy}");
            }
        }
    }
}
