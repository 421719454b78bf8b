//! The orientation field: the local ridge direction (modulo 180°) per block, with its
//! reliability (coherence), from averaged squared gradients — Kass and Witkin's
//! doubled-angle averaging as used by Hong, Wan and Jain (1998) — of the image smoothed
//! a little first, so that the gradients are those of a Gaussian-smoothed image rather
//! than of single pixels.

use super::params::*;
use super::plane::{Plane, blur};
use super::segmentation::Blocks;

/// Ridge orientation per block.
#[derive(Debug, Clone)]
pub struct OrientationField {
    /// cos 2θ per block, θ the ridge direction in image coordinates (y down).
    pub cos2: Plane,
    /// sin 2θ per block.
    pub sin2: Plane,
    /// Coherence in [0, 1] per block: 1 for perfectly parallel ridges.
    pub coherence: Plane,
}

impl OrientationField {
    /// The ridge direction θ in [0, π) of block (bx, by), image coordinates (y down).
    pub fn angle(&self, bx: usize, by: usize) -> f32 {
        let i = by * self.cos2.width + bx;
        let t = 0.5 * self.sin2.data[i].atan2(self.cos2.data[i]);
        if t < 0.0 { t + std::f32::consts::PI } else { t }
    }

    /// The ridge direction at a pixel position, interpolated between block centres.
    pub fn angle_at(&self, x: f32, y: f32) -> f32 {
        let (bx, by) = (x / BLOCK as f32 - 0.5, y / BLOCK as f32 - 0.5);
        let t = 0.5 * self.sin2.sample(bx, by).atan2(self.cos2.sample(bx, by));
        if t < 0.0 { t + std::f32::consts::PI } else { t }
    }
}

/// Computes the orientation field of a normalised image.
///
/// Dispatched at run time to an AVX2 + FMA or NEON build (the same values: no fused
/// multiply-adds, exact roundings; the FVC2002 templates are byte-identical).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn estimate(image: &Plane, blocks: &Blocks) -> OrientationField {
    let image = &blur(image, ORIENTATION_PRESMOOTH_PX);
    let (bw, bh) = (blocks.bw, blocks.bh);
    let [gxx, gxy, gyy] = gradient_sums(image, bw, bh);
    // Doubled-angle vectors: (gx² − gy², 2 gx gy), and the gradient energy.
    let mut a = Plane::filled(bw, bh, 0.0);
    let mut b = Plane::filled(bw, bh, 0.0);
    let mut e = Plane::filled(bw, bh, 0.0);
    for i in 0..bw * bh {
        a.data[i] = gxx.data[i] - gyy.data[i];
        b.data[i] = 2.0 * gxy.data[i];
        e.data[i] = gxx.data[i] + gyy.data[i];
    }
    let fine = doubled_angles(&a, &b, &e, ORIENTATION_SIGMA_BLOCKS);
    let coarse = doubled_angles(&a, &b, &e, ORIENTATION_COARSE_SIGMA_BLOCKS);
    // Where the fine field is unreliable (noise, scars, dry patches), lean on the coarse
    // one; near cores and deltas, where both are unreliable, the fine one keeps its shape.
    let (mut cos2, mut sin2, mut coherence) = (fine.0, fine.1, fine.2);
    for i in 0..bw * bh {
        let t = ((ORIENTATION_RELIABLE - coherence.data[i]) / ORIENTATION_RELIABLE).clamp(0.0, 1.0);
        if t > 0.0 && coarse.2.data[i] > coherence.data[i] {
            let c = (1.0 - t) * cos2.data[i] + t * coarse.0.data[i];
            let s = (1.0 - t) * sin2.data[i] + t * coarse.1.data[i];
            let n = (c * c + s * s).sqrt().max(1e-6);
            cos2.data[i] = c / n;
            sin2.data[i] = s / n;
            coherence.data[i] = (1.0 - t) * coherence.data[i] + t * coarse.2.data[i];
        }
    }
    OrientationField {
        cos2,
        sin2,
        coherence,
    }
}

/// Per block, the sums of gx², gx·gy and gy² over its pixels (Sobel gradients; the outer
/// rows and columns of the image have none), each sum in pixel order, row by row.
#[inline(always)]
fn gradient_sums(image: &Plane, bw: usize, bh: usize) -> [Plane; 3] {
    let (w, h) = (image.width, image.height);
    let mut gxx = Plane::filled(bw, bh, 0.0);
    let mut gxy = Plane::filled(bw, bh, 0.0);
    let mut gyy = Plane::filled(bw, bh, 0.0);
    // Each row's Sobel products first (vectorised), then each block's sums in pixel order,
    // row by row: the same sums as adding pixel by pixel, without every pixel waiting on
    // the previous one's addition to the same block.
    let inner = w.saturating_sub(2);
    let (mut xx, mut xy, mut yy) = (
        vec![0.0f32; inner],
        vec![0.0f32; inner],
        vec![0.0f32; inner],
    );
    let rows = if inner == 0 { 0 } else { h.saturating_sub(1) };
    for y in 1..rows {
        let (up, row, down) = (
            &image.data[(y - 1) * w..y * w],
            &image.data[y * w..(y + 1) * w],
            &image.data[(y + 1) * w..(y + 2) * w],
        );
        // Column x + 1 of the image is index x here.
        let ((ul, uc, ur), (rl, _, rr), (dl, dc, dr)) = (
            shifted(up, inner),
            shifted(row, inner),
            shifted(down, inner),
        );
        for x in 0..inner {
            // Sobel.
            let gx = (ur[x] + 2.0 * rr[x] + dr[x]) - (ul[x] + 2.0 * rl[x] + dl[x]);
            let gy = (dl[x] + 2.0 * dc[x] + dr[x]) - (ul[x] + 2.0 * uc[x] + ur[x]);
            xx[x] = gx * gx;
            xy[x] = gx * gy;
            yy[x] = gy * gy;
        }
        let by = y / BLOCK;
        for bx in 0..bw {
            // The image columns of block bx that have a gradient, as indices here.
            let (from, to) = ((bx * BLOCK).max(1) - 1, ((bx + 1) * BLOCK).min(w - 1) - 1);
            if from >= to {
                continue;
            }
            let b = by * bw + bx;
            if let (Ok(pxx), Ok(pxy), Ok(pyy)) = (
                <&[f32; BLOCK]>::try_from(&xx[from..to]),
                <&[f32; BLOCK]>::try_from(&xy[from..to]),
                <&[f32; BLOCK]>::try_from(&yy[from..to]),
            ) {
                // A whole row of the block: the three sums side by side, so that their
                // chains of dependent additions advance together (one after another, each
                // sum waited on its own additions).
                let (mut a, mut c, mut d) = (gxx.data[b], gxy.data[b], gyy.data[b]);
                for j in 0..BLOCK {
                    a += pxx[j];
                    c += pxy[j];
                    d += pyy[j];
                }
                (gxx.data[b], gxy.data[b], gyy.data[b]) = (a, c, d);
                continue;
            }
            for (sum, products) in [(&mut gxx, &xx), (&mut gxy, &xy), (&mut gyy, &yy)] {
                let mut s = sum.data[b];
                for &p in &products[from..to] {
                    s += p;
                }
                sum.data[b] = s;
            }
        }
    }
    [gxx, gxy, gyy]
}

/// A row's `len` pixels from its first, second and third: each pixel's left neighbour,
/// itself and its right neighbour, for the pixels 1 ..= len.
fn shifted(row: &[f32], len: usize) -> (&[f32], &[f32], &[f32]) {
    (&row[..len], &row[1..=len], &row[2..len + 2])
}

/// Smoothed doubled-angle field: (cos 2θ, sin 2θ, coherence) of the ridges.
fn doubled_angles(a: &Plane, b: &Plane, e: &Plane, sigma: f32) -> (Plane, Plane, Plane) {
    let (a, b, e) = (blur(a, sigma), blur(b, sigma), blur(e, sigma));
    let (bw, bh) = (a.width, a.height);
    let mut cos2 = Plane::filled(bw, bh, 1.0);
    let mut sin2 = Plane::filled(bw, bh, 0.0);
    let mut coherence = Plane::filled(bw, bh, 0.0);
    for i in 0..bw * bh {
        let norm = (a.data[i] * a.data[i] + b.data[i] * b.data[i]).sqrt();
        if norm > 0.0 {
            // The gradient's doubled angle, turned by 180° (ridges run across gradients).
            cos2.data[i] = -a.data[i] / norm;
            sin2.data[i] = -b.data[i] / norm;
        }
        coherence.data[i] = if e.data[i] > 0.0 {
            (norm / e.data[i]).min(1.0)
        } else {
            0.0
        };
    }
    (cos2, sin2, coherence)
}

#[cfg(test)]
mod tests {
    use super::super::plane::xorshift32;
    use super::*;

    /// The sums pixel by pixel, each into its block as it comes: what `gradient_sums`
    /// must equal exactly.
    fn reference_sums(image: &Plane, bw: usize, bh: usize) -> [Plane; 3] {
        let (w, h) = (image.width, image.height);
        let mut sums = [0; 3].map(|_| Plane::filled(bw, bh, 0.0));
        let at = |x: usize, y: usize| image.data[y * w + x];
        for y in 1..h.saturating_sub(1) {
            for x in 1..w.saturating_sub(1) {
                let gx = (at(x + 1, y - 1) + 2.0 * at(x + 1, y) + at(x + 1, y + 1))
                    - (at(x - 1, y - 1) + 2.0 * at(x - 1, y) + at(x - 1, y + 1));
                let gy = (at(x - 1, y + 1) + 2.0 * at(x, y + 1) + at(x + 1, y + 1))
                    - (at(x - 1, y - 1) + 2.0 * at(x, y - 1) + at(x + 1, y - 1));
                let b = (y / BLOCK) * bw + x / BLOCK;
                sums[0].data[b] += gx * gx;
                sums[1].data[b] += gx * gy;
                sums[2].data[b] += gy * gy;
            }
        }
        sums
    }

    #[test]
    fn the_gradient_sums_row_by_row_are_the_pixel_by_pixel_ones() {
        let mut seed = 0x0dd_ba11_u32;
        for (w, h) in [(64, 48), (61, 45), (9, 10), (2, 5), (3, 3), (17, 1)] {
            let image = Plane {
                width: w,
                height: h,
                data: (0..w * h)
                    .map(|_| (xorshift32(&mut seed) % 2000) as f32 / 100.0 - 10.0)
                    .collect(),
            };
            let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
            let bits = |p: &[Plane; 3]| {
                p.each_ref()
                    .map(|p| p.data.iter().map(|v| v.to_bits()).collect::<Vec<_>>())
            };
            assert_eq!(
                bits(&gradient_sums(&image, bw, bh)),
                bits(&reference_sums(&image, bw, bh)),
                "{w} x {h}"
            );
        }
    }
}
