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

use super::geometry::{Hull, angle_diff, convex_hull, erf};
#[cfg(test)]
use super::geometry::{near_hull, uniforms};
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

/// [`directional`] of a direction difference, from a table: template directions are
/// binary angles (1/256 turn), so their differences take 256 values; other differences
/// are computed.
fn directional_of(d: f32) -> [f32; ND] {
    static TABLE: OnceLock<Vec<[f32; ND]>> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        (0..256)
            .map(|k| directional(angle_diff(k as f32 * (2.0 * PI / 256.0), 0.0)))
            .collect()
    });
    let units = d * (256.0 / (2.0 * PI));
    let nearest = units.round();
    if (units - nearest).abs() < 1e-3 {
        table[(nearest as i32).rem_euclid(256) as usize]
    } else {
        directional(d)
    }
}

/// Cells of a row a neighbour's contribution is added to at once: more than the columns
/// within its reach.
const LANES: usize = 8;
const _: () = assert!(LANES as f32 > 2.0 * 3.0 * SIGMA_S / CELL + 1.0 && LANES <= NS);

/// Builds the cylinder of every minutia; `None` where a cylinder has too few valid cells
/// or too few neighbours to be trusted (typically at the border of the print).
///
/// Each neighbour is added only to the cells within reach of it (a few dozen of the ~200),
/// found from its position in the cylinder's frame, where the spatial Gaussian is the
/// product of one factor per row and one per column. The sums are those of the plain loop
/// over every cell and every neighbour up to rounding; a test checks that the bits agree.
///
/// Compiled for AVX2 + FMA and NEON as well as the baseline, chosen at run time: the
/// baseline x86-64 build calls the library for every `floor` and `ceil` of a cell's reach,
/// where SSE4.1 has one instruction, and its row loops vectorise wider. Rust does not fuse
/// multiply-adds on its own and those roundings are exact, so every build gives the same
/// cylinders (the harness's 12,640 FVC2002 scores are byte-identical).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn build(points: &[Point]) -> Vec<Option<Cylinder>> {
    let hull = Hull::new(
        convex_hull(&points.iter().map(|p| (p.x, p.y)).collect::<Vec<_>>()),
        HULL_MARGIN,
    );
    let reach = 3.0 * SIGMA_S;
    let gauss_norm = 1.0 / (SIGMA_S * (2.0 * PI).sqrt());
    let min_valid = (MIN_VALID_CELLS * disc_cells() as f32).ceil() as u32;
    let half = (NS as f32 - 1.0) / 2.0;
    let mut neighbours: Vec<(f32, f32, [f32; ND])> = Vec::new();
    // Per cell: whether it is valid; per section and cell, the sum (0 where not valid),
    // section by section so that the cells' bits are found many at a time.
    let mut local_hull = Hull::default();
    let mut valid = [false; NS * NS];
    let mut sums = [[0.0f32; NS * NS]; ND];
    let inv_two_var = 1.0 / (2.0 * SIGMA_S * SIGMA_S);
    let mut along_u = [(0usize, 0.0f32, 0.0f32); NS];
    let mut along_v = [(0usize, 0.0f32, 0.0f32); NS];
    points
        .iter()
        .enumerate()
        .map(|(index, m)| {
            neighbours.clear();
            let limit = (RADIUS + reach).powi(2);
            for (t, n) in points.iter().enumerate() {
                if t != index && (n.x - m.x).powi(2) + (n.y - m.y).powi(2) <= limit {
                    neighbours.push((n.x, n.y, directional_of(angle_diff(n.theta, m.theta))));
                }
            }
            if neighbours.len() < MIN_NEIGHBOURS {
                return None;
            }
            let (sin, cos) = m.theta.sin_cos();
            // Cells this close to the minutia are near the hull without asking it; the
            // others ask only the edges that can matter within the cylinder's radius
            // (and a little more for the rounding of the cells' positions).
            let sure = hull.surely_near_within(hull.depth((m.x, m.y)));
            hull.around((m.x, m.y), RADIUS + 1.0, &mut local_hull);
            let mut cylinder = Cylinder {
                bits: [[0; WORDS]; ND],
                valid: [0; WORDS],
            };
            let mut valid_cells = 0;
            for i in 0..NS {
                for j in 0..NS {
                    let cell = i * NS + j;
                    valid[cell] = false;
                    let (u, v) = cell_offset(i, j);
                    if u * u + v * v > RADIUS * RADIUS {
                        continue;
                    }
                    let p = (m.x + u * cos - v * sin, m.y + u * sin + v * cos);
                    // The minutia is in the hull, so a cell within the margin of it is
                    // near the hull, and so is one within the margin of the disc of the
                    // minutia's depth: only farther cells need the polygon test.
                    if u * u + v * v > sure * sure && !local_hull.near(p) {
                        continue;
                    }
                    valid[cell] = true;
                    let (word, bit) = (cell / 64, cell % 64);
                    cylinder.valid[word] |= 1 << bit;
                    valid_cells += 1;
                }
            }
            if valid_cells < min_valid {
                return None;
            }
            sums = [[0.0; NS * NS]; ND];
            for &(nx, ny, ref contribution) in &neighbours {
                // The neighbour in the cylinder's frame (cell offsets rotate with it).
                let (dx, dy) = (nx - m.x, ny - m.y);
                let (du, dv) = (dx * cos + dy * sin, -dx * sin + dy * cos);
                // The Gaussian is separable in the cylinder's frame: one exponential per
                // row and per column of cells within reach instead of one per cell.
                let axis = |c: f32, out: &mut [(usize, f32, f32); NS]| {
                    let lo = ((c - reach) / CELL + half).floor().max(0.0) as usize;
                    let hi = (((c + reach) / CELL + half).ceil().max(0.0) as usize + 1).min(NS);
                    let mut n = 0;
                    for i in lo..hi {
                        let a = c - (i as f32 - half) * CELL;
                        if a.abs() <= reach {
                            out[n] = (i, a * a, (-a * a * inv_two_var).exp());
                            n += 1;
                        }
                    }
                    n
                };
                let nu = axis(du, &mut along_u);
                let nv = axis(dv, &mut along_v);
                if nu == 0 || nv == 0 {
                    continue;
                }
                // The columns within reach (at most 7) as the lanes of a row from `base`;
                // lanes out of reach add 0 to their cell's sums, which changes none.
                let base = along_v[0].0.min(NS - LANES);
                let mut column_factor = [0.0f32; LANES];
                let mut column_b2 = [f32::INFINITY; LANES];
                for &(j, b2, gb) in &along_v[..nv] {
                    column_factor[j - base] = gb;
                    column_b2[j - base] = b2;
                }
                for &(i, a2, ga) in &along_u[..nu] {
                    let row = i * NS + base;
                    let row_factor = gauss_norm * ga;
                    let Ok::<&[bool; LANES], _>(valid_row) = valid[row..row + LANES].try_into()
                    else {
                        unreachable!("base + LANES ≤ NS")
                    };
                    let mut spatial = [0.0f32; LANES];
                    for l in 0..LANES {
                        let within = valid_row[l] & (a2 + column_b2[l] <= reach * reach);
                        spatial[l] = if within {
                            row_factor * column_factor[l]
                        } else {
                            0.0
                        };
                    }
                    for (sums, &c) in sums.iter_mut().zip(contribution) {
                        let Ok::<&mut [f32; LANES], _>(cells) =
                            (&mut sums[row..row + LANES]).try_into()
                        else {
                            unreachable!("base + LANES ≤ NS")
                        };
                        for l in 0..LANES {
                            cells[l] += spatial[l] * c;
                        }
                    }
                }
            }
            // Cells that are not valid kept their sum of 0, so they set no bit.
            for (bits, sums) in cylinder.bits.iter_mut().zip(&sums) {
                for (word, cells) in bits.iter_mut().zip(sums.chunks_exact(64)) {
                    *word = cells
                        .iter()
                        .enumerate()
                        .fold(0, |w, (bit, &s)| w | (u64::from(s > MU_PSI) << bit));
                }
            }
            Some(cylinder)
        })
        .collect()
}

/// The square roots of the bit counts a cylinder can have, which [`similarity`] reads
/// (taken once per comparison and passed in, not fetched per pair of cylinders).
pub type Roots = [f32; NS * NS * ND + 1];

/// [`Roots`], computed once.
pub fn roots() -> &'static Roots {
    static TABLE: OnceLock<Roots> = OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|n| (n as f32).sqrt()))
}

/// Similarity of two cylinders in `[0, 1]`, over the cells valid in both; 0 when fewer
/// than `min_common` cells are; `sqrt` is [`roots`]. Always inlined, so that it is compiled
/// with the caller's instruction set (see `local_similarities`).
#[inline(always)]
pub fn similarity(a: &Cylinder, b: &Cylinder, min_common: u32, sqrt: &Roots) -> f32 {
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
    let denominator = sqrt[na as usize] + sqrt[nb as usize];
    if denominator == 0.0 {
        return 0.0;
    }
    1.0 - sqrt[nx as usize] / denominator
}

#[cfg(test)]
mod reference_tests {
    use super::*;

    /// The plain loop over every cell and every neighbour, as first written: the reference
    /// [`build`] must equal.
    ///
    /// Builds the cylinder of every minutia; `None` where a cylinder has too few valid cells
    /// or too few neighbours to be trusted (typically at the border of the print).
    fn build_reference(points: &[Point]) -> Vec<Option<Cylinder>> {
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

    #[test]
    fn fast_build_equals_the_plain_loop() {
        // Random minutia sets of many sizes and densities, including border cases.
        let mut next = uniforms(0x2545_f491_4f6c_dd1d);
        let (mut differing_bits, mut total_bits) = (0u32, 0u32);
        for trial in 0..300 {
            let n = 2 + trial % 80;
            let side = 150.0 + 400.0 * next();
            // Half the trials with binary-angle directions, as templates have (the table
            // path), half with any direction.
            let binary = trial % 2 == 0;
            let points: Vec<Point> = (0..n)
                .map(|_| Point {
                    x: side * next(),
                    y: side * next(),
                    theta: if binary {
                        (next() * 256.0).floor() * (2.0 * PI / 256.0)
                    } else {
                        2.0 * PI * next() * 0.999_99
                    },
                })
                .collect();
            let (fast, plain) = (build(&points), build_reference(&points));
            assert_eq!(fast.len(), plain.len());
            for (a, b) in fast.iter().zip(&plain) {
                match (a, b) {
                    (Some(a), Some(b)) => {
                        assert_eq!(a.valid, b.valid, "trial {trial}");
                        let flips: u32 = a
                            .bits
                            .iter()
                            .flatten()
                            .zip(b.bits.iter().flatten())
                            .map(|(x, y)| (x ^ y).count_ones())
                            .sum();
                        differing_bits += flips;
                        total_bits += (NS * NS * ND) as u32;
                    }
                    (None, None) => {}
                    _ => panic!("trial {trial}: one cylinder kept, the other not"),
                }
            }
        }
        // Rounding may flip a bit whose sum lies within a few ulps of the threshold.
        assert!(
            differing_bits * 1_000_000 <= total_bits,
            "{differing_bits} of {total_bits} bits differ"
        );
    }
}
