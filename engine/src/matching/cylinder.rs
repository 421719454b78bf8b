//! Minutia cylinders, the local structure the matcher compares: for each minutia, a
//! bit-vector of which cells of a cylinder around it (16 × 16 spatial cells, 6 angular
//! sections, aligned with the minutia's direction) hold neighbouring minutiae with matching
//! relative directions. After Cappelli, Ferrara and Maltoni, "Minutia Cylinder-Code"
//! (IEEE TPAMI 32(12), 2010), bit-based variant.
//!
//! Cylinders are fixed-size arrays of `u64` words so that comparing two is a handful of
//! AND, XOR and popcount instructions with no allocation.

// Fixed-size index loops over cells and words are kept as written: they are the shape the
// compiler vectorises.
#![allow(clippy::needless_range_loop)]

use std::f32::consts::PI;
use std::sync::OnceLock;

use super::geometry::{angle_diff, convex_hull, erf, near_hull};
use super::params::*;

/// `u64` words per angular section (16 × 16 cells).
pub const WORDS: usize = NS * NS / 64;

/// A minutia in matching coordinates: pixels at 500 ppi with `y` pointing up, direction
/// counter-clockwise in radians.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// x, px.
    pub x: f32,
    /// y, px, upwards.
    pub y: f32,
    /// Direction, rad, in `[0, 2π)`.
    pub theta: f32,
}

/// One cylinder.
#[derive(Debug, Clone, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct Cylinder {
    /// One bit per cell, section by section.
    pub bits: [[u64; WORDS]; ND],
    /// Which spatial cells are valid (inside the radius and near the print).
    pub valid: [u64; WORDS],
}

/// Spatial cells whose centre lies within the radius (the same for every cylinder).
pub fn disc_cells() -> u32 {
    static CELLS: OnceLock<u32> = OnceLock::new();
    *CELLS.get_or_init(|| {
        let mut n = 0;
        for i in 0..NS {
            for j in 0..NS {
                let (u, v) = cell_offset(i, j);
                if u * u + v * v <= RADIUS * RADIUS {
                    n += 1;
                }
            }
        }
        n
    })
}

fn cell_offset(i: usize, j: usize) -> (f32, f32) {
    let half = (NS as f32 - 1.0) / 2.0;
    ((i as f32 - half) * CELL, (j as f32 - half) * CELL)
}

/// The directional contribution of a neighbour whose direction differs by `d` from the
/// minutia's, to each angular section: the area of a Gaussian over the section.
fn directional(d: f32) -> [f32; ND] {
    let mut out = [0.0; ND];
    let scale = 1.0 / (SIGMA_D * std::f32::consts::SQRT_2);
    for (k, o) in out.iter_mut().enumerate() {
        let centre = -PI + (k as f32 + 0.5) * SECTION;
        let delta = angle_diff(centre, d);
        *o = 0.5 * (erf((delta + SECTION / 2.0) * scale) - erf((delta - SECTION / 2.0) * scale));
    }
    out
}

/// Builds the cylinder of every minutia; `None` where a cylinder has too few valid cells
/// or too few neighbours to be trusted (typically at the border of the print).
pub fn build(points: &[Point]) -> Vec<Option<Cylinder>> {
    let hull = convex_hull(&points.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>());
    let reach = 3.0 * SIGMA_S;
    let gauss_norm = 1.0 / (SIGMA_S * (2.0 * PI).sqrt());
    let min_valid = (MIN_VALID_CELLS * disc_cells() as f32).ceil() as u32;
    let mut neighbours: Vec<(f32, f32, [f32; ND])> = Vec::new();
    points
        .iter()
        .enumerate()
        .map(|(index, m)| {
            neighbours.clear();
            let limit = (RADIUS + reach).powi(2);
            for (t, n) in points.iter().enumerate() {
                if t != index && (n.x - m.x).powi(2) + (n.y - m.y).powi(2) <= limit {
                    neighbours.push((n.x, n.y, directional(angle_diff(n.theta, m.theta))));
                }
            }
            if neighbours.len() < MIN_NEIGHBOURS {
                return None;
            }
            let (sin, cos) = m.theta.sin_cos();
            let mut cylinder = Cylinder {
                bits: [[0; WORDS]; ND],
                valid: [0; WORDS],
            };
            let mut valid_cells = 0;
            for i in 0..NS {
                for j in 0..NS {
                    let (u, v) = cell_offset(i, j);
                    if u * u + v * v > RADIUS * RADIUS {
                        continue;
                    }
                    let p = (m.x + u * cos - v * sin, m.y + u * sin + v * cos);
                    // The minutia is in the hull, so a cell within the margin of it is
                    // near the hull: only farther cells need the polygon test.
                    if u * u + v * v > HULL_MARGIN * HULL_MARGIN
                        && !near_hull(&hull, p, HULL_MARGIN)
                    {
                        continue;
                    }
                    let cell = i * NS + j;
                    let (word, bit) = (cell / 64, cell % 64);
                    cylinder.valid[word] |= 1 << bit;
                    valid_cells += 1;
                    let mut sums = [0.0f32; ND];
                    for &(nx, ny, ref contribution) in &neighbours {
                        let d2 = (nx - p.0).powi(2) + (ny - p.1).powi(2);
                        if d2 > reach * reach {
                            continue;
                        }
                        let spatial = gauss_norm * (-d2 / (2.0 * SIGMA_S * SIGMA_S)).exp();
                        for k in 0..ND {
                            sums[k] += spatial * contribution[k];
                        }
                    }
                    for k in 0..ND {
                        if sums[k] > MU_PSI {
                            cylinder.bits[k][word] |= 1 << bit;
                        }
                    }
                }
            }
            (valid_cells >= min_valid).then_some(cylinder)
        })
        .collect()
}

fn sqrt_table() -> &'static [f32] {
    static TABLE: OnceLock<Vec<f32>> = OnceLock::new();
    TABLE.get_or_init(|| (0..=NS * NS * ND).map(|n| (n as f32).sqrt()).collect())
}

/// Similarity of two cylinders in `[0, 1]`, over the cells valid in both; 0 when fewer
/// than `min_common` cells are. Always inlined, so that it is compiled with the caller's
/// instruction set (see `local_similarities`).
#[inline(always)]
pub fn similarity(a: &Cylinder, b: &Cylinder, min_common: u32) -> f32 {
    let mut mask = [0u64; WORDS];
    let mut common = 0;
    for w in 0..WORDS {
        mask[w] = a.valid[w] & b.valid[w];
        common += mask[w].count_ones();
    }
    if common < min_common {
        return 0.0;
    }
    let (mut na, mut nb, mut nx) = (0u32, 0u32, 0u32);
    for k in 0..ND {
        for w in 0..WORDS {
            let x = a.bits[k][w] & mask[w];
            let y = b.bits[k][w] & mask[w];
            na += x.count_ones();
            nb += y.count_ones();
            nx += (x ^ y).count_ones();
        }
    }
    let sqrt = sqrt_table();
    let denominator = sqrt[na as usize] + sqrt[nb as usize];
    if denominator == 0.0 {
        return 0.0;
    }
    1.0 - sqrt[nx as usize] / denominator
}
