//! False-minutia removal: what thinning a noisy print leaves behind — minutiae at the
//! border of the print, spurs, short islands, broken ridges, bridges and holes, clusters.

use super::minutiae::{Candidate, TraceEnd};
use super::params::*;
use crate::template::MinutiaKind;

fn dist2(a: &Candidate, b: &Candidate) -> f32 {
    let (dx, dy) = (a.x as f32 - b.x as f32, a.y as f32 - b.y as f32);
    dx * dx + dy * dy
}

fn angle_between(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(std::f32::consts::TAU);
    d.min(std::f32::consts::TAU - d)
}

/// Marks candidates as removed. `near_background(x, y, r)` says whether background lies
/// within `r` pixels of (x, y).
pub fn apply(c: &mut [Candidate], w: usize, near_background: impl Fn(usize, usize, f32) -> bool) {
    let index_of = |pixel: usize, c: &[Candidate]| c.iter().position(|m| m.y * w + m.x == pixel);
    // Border.
    for m in c.iter_mut() {
        if near_background(m.x, m.y, BORDER_MARGIN) {
            m.removed = true;
        }
    }
    // Spurs and islands: an ending whose ridge runs into a bifurcation or another ending
    // within a short distance.
    let mut doomed = Vec::new();
    for (i, m) in c.iter().enumerate() {
        if m.kind != MinutiaKind::Ending {
            continue;
        }
        match m.ends.first() {
            Some(&TraceEnd::Minutia { pixel, steps }) => {
                if let Some(j) = index_of(pixel, c) {
                    let limit = if c[j].kind == MinutiaKind::Ending {
                        ISLAND_LENGTH
                    } else {
                        SPUR_LENGTH
                    };
                    if steps <= limit {
                        doomed.extend([i, j]);
                    }
                }
            }
            Some(&TraceEnd::Dead { steps }) if steps <= ISLAND_LENGTH => doomed.push(i),
            _ => {}
        }
    }
    // Breaks: two endings close together, facing each other along the gap.
    for i in 0..c.len() {
        for j in i + 1..c.len() {
            let (a, b) = (&c[i], &c[j]);
            let d2 = dist2(a, b);
            if a.kind == MinutiaKind::Ending
                && b.kind == MinutiaKind::Ending
                && d2 <= BREAK_DISTANCE * BREAK_DISTANCE
            {
                let facing = angle_between(a.angle, b.angle + std::f32::consts::PI)
                    < std::f32::consts::FRAC_PI_4;
                let gap = (b.y as f32 - a.y as f32).atan2(b.x as f32 - a.x as f32);
                if facing && angle_between(gap, a.angle) < std::f32::consts::FRAC_PI_3 {
                    doomed.extend([i, j]);
                }
            }
            if a.kind == MinutiaKind::Bifurcation
                && b.kind == MinutiaKind::Bifurcation
                && d2 <= BRIDGE_DISTANCE * BRIDGE_DISTANCE
            {
                doomed.extend([i, j]);
            }
        }
    }
    for i in doomed {
        c[i].removed = true;
    }
    // Clusters, among what is left.
    let alive: Vec<usize> = (0..c.len()).filter(|&i| !c[i].removed).collect();
    let crowded: Vec<usize> = alive
        .iter()
        .copied()
        .filter(|&i| {
            alive
                .iter()
                .filter(|&&j| j != i && dist2(&c[i], &c[j]) <= CLUSTER_DISTANCE * CLUSTER_DISTANCE)
                .count()
                > 2
        })
        .collect();
    for i in crowded {
        c[i].removed = true;
    }
}
