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
    let (w, h) = (image.width, image.height);
    let (bw, bh) = (blocks.bw, blocks.bh);
    let mut gxx = Plane::filled(bw, bh, 0.0);
    let mut gxy = Plane::filled(bw, bh, 0.0);
    let mut gyy = Plane::filled(bw, bh, 0.0);
    for y in 1..h.saturating_sub(1) {
        let (up, row, down) = (
            &image.data[(y - 1) * w..y * w],
            &image.data[y * w..(y + 1) * w],
            &image.data[(y + 1) * w..(y + 2) * w],
        );
        let by = y / BLOCK;
        for x in 1..w - 1 {
            // Sobel.
            let gx = (up[x + 1] + 2.0 * row[x + 1] + down[x + 1])
                - (up[x - 1] + 2.0 * row[x - 1] + down[x - 1]);
            let gy =
                (down[x - 1] + 2.0 * down[x] + down[x + 1]) - (up[x - 1] + 2.0 * up[x] + up[x + 1]);
            let b = by * bw + x / BLOCK;
            gxx.data[b] += gx * gx;
            gxy.data[b] += gx * gy;
            gyy.data[b] += gy * gy;
        }
    }
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
