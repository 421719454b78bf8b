//! Ridge frequency: the local ridge period per block, from the grey levels sampled across
//! the ridges in an oriented window (the "x-signature" of Hong, Wan and Jain, 1998), with
//! implausible estimates replaced by a smoothed value from their neighbours.

use super::orientation::OrientationField;
use super::params::*;
use super::plane::{Plane, blur};
use super::segmentation::Blocks;

/// The ridge period (pixels per ridge) per block.
pub fn estimate(image: &Plane, blocks: &Blocks, field: &OrientationField) -> Plane {
    let (bw, bh) = (blocks.bw, blocks.bh);
    let mut period = Plane::filled(bw, bh, 0.0);
    let mut weight = Plane::filled(bw, bh, 0.0);
    let mut signature = [0.0f32; FREQUENCY_WINDOW];
    for by in 0..bh {
        for bx in 0..bw {
            let i = by * bw + bx;
            if !blocks.foreground[i] {
                continue;
            }
            let theta = field.angle(bx, by);
            let (along_x, along_y) = (theta.cos(), theta.sin());
            let (across_x, across_y) = (-along_y, along_x);
            let (cx, cy) = (
                (bx * BLOCK) as f32 + BLOCK as f32 / 2.0,
                (by * BLOCK) as f32 + BLOCK as f32 / 2.0,
            );
            for (k, s) in signature.iter_mut().enumerate() {
                let t = k as f32 - FREQUENCY_WINDOW as f32 / 2.0;
                let mut acc = 0.0;
                let mut j = -(FREQUENCY_WIDTH as f32) / 2.0;
                while j < FREQUENCY_WIDTH as f32 / 2.0 {
                    acc += image.sample(
                        cx + t * across_x + j * along_x,
                        cy + t * across_y + j * along_y,
                    );
                    j += 2.0;
                }
                *s = acc;
            }
            if let Some(p) = period_of(&signature) {
                period.data[i] = p;
                weight.data[i] = field.coherence.data[i].max(0.05);
            }
        }
    }
    // Weighted smoothing: valid estimates spread into their neighbours and replace the
    // invalid ones; the median stands in where nothing is near.
    let mut valid: Vec<f32> = period.data.iter().copied().filter(|&p| p > 0.0).collect();
    valid.sort_by(f32::total_cmp);
    let median = valid.get(valid.len() / 2).copied().unwrap_or(9.0);
    let mut weighted = period.clone();
    for (v, w) in weighted.data.iter_mut().zip(&weight.data) {
        *v *= w;
    }
    let (num, den) = (
        blur(&weighted, FREQUENCY_SIGMA_BLOCKS),
        blur(&weight, FREQUENCY_SIGMA_BLOCKS),
    );
    for i in 0..bw * bh {
        period.data[i] = if den.data[i] > 1e-3 {
            num.data[i] / den.data[i]
        } else {
            median
        };
    }
    period
}

/// The mean distance between the maxima of a signature, if it is a plausible period.
fn period_of(signature: &[f32]) -> Option<f32> {
    let n = signature.len();
    // Light smoothing against pixel noise.
    let mut s = [0.0f32; FREQUENCY_WINDOW];
    for i in 0..n {
        let a = signature[i.saturating_sub(1)];
        let c = signature[(i + 1).min(n - 1)];
        s[i] = 0.25 * a + 0.5 * signature[i] + 0.25 * c;
    }
    let (min, max) = s[..n]
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if max - min < 1e-3 {
        return None;
    }
    let mut peaks = Vec::with_capacity(8);
    for i in 1..n - 1 {
        if s[i] > s[i - 1] && s[i] >= s[i + 1] && s[i] > min + 0.3 * (max - min) {
            peaks.push(i as f32);
        }
    }
    if peaks.len() < 2 {
        return None;
    }
    let p = (peaks[peaks.len() - 1] - peaks[0]) / (peaks.len() - 1) as f32;
    (PERIOD_RANGE.0..=PERIOD_RANGE.1).contains(&p).then_some(p)
}
