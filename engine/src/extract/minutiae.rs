//! Minutiae detection on the skeleton: ridge endings where the crossing number is 1,
//! bifurcations where it is 3. Each candidate's ridge is traced a few pixels to give its
//! direction and to find what it runs into (for the false-minutia filters).

use super::orientation::OrientationField;
use super::params::*;
use super::thinning::{NEIGHBOURS, crossing_number, neighbourhood};
use crate::template::MinutiaKind;

/// What a trace from a minutia ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TraceEnd {
    /// It went the whole distance along a plain ridge.
    Free,
    /// It reached another candidate.
    Minutia {
        /// The candidate's pixel index.
        pixel: usize,
        /// Pixels walked.
        steps: usize,
    },
    /// The ridge stopped (a skeleton fragment).
    Dead {
        /// Pixels walked.
        steps: usize,
    },
}

/// A minutia candidate in 500-ppi image coordinates.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Column.
    pub x: usize,
    /// Row.
    pub y: usize,
    /// Ending or bifurcation.
    pub kind: MinutiaKind,
    /// Direction in image coordinates (radians from +x towards +y, i.e. clockwise on
    /// screen): from the ridge body out through the ending, or from the fork out along
    /// the stem.
    pub angle: f32,
    /// What the traces from it ran into (one for an ending, three for a bifurcation).
    pub ends: Vec<TraceEnd>,
    /// Set by the filters.
    pub removed: bool,
}

/// Follows the skeleton from `start` through `first` for up to `max` pixels, never
/// stepping onto `branches` (the first pixels of the start's branches) other than `first`.
fn trace(
    skel: &[u8],
    w: usize,
    start: usize,
    first: usize,
    max: usize,
    kind_at: &[u8],
    branches: &[usize],
) -> (usize, TraceEnd) {
    let (mut prev, mut cur) = (start, first);
    let mut visited = [start; 3];
    // At a junction the branches' first pixels touch one another: a trace that stepped
    // from its own first pixel onto another's would follow that branch out of the
    // junction, and two of a bifurcation's three traces would run along the same ridge.
    let other_branch = |j: usize| j != first && branches.contains(&j);
    for steps in 1..=max {
        if kind_at[cur] != 0 {
            return (cur, TraceEnd::Minutia { pixel: cur, steps });
        }
        let (x, y) = (cur % w, cur / w);
        // The next pixel: an unvisited neighbour, 4-connected ones first.
        let mut next = None;
        for pass in 0..2 {
            for (i, (dx, dy)) in NEIGHBOURS.iter().enumerate() {
                if (i % 2 == 0) != (pass == 0) {
                    continue;
                }
                let j = (y as isize + dy) as usize * w + (x as isize + dx) as usize;
                if skel[j] == 1 && j != prev && !visited.contains(&j) && !other_branch(j) {
                    next = Some(j);
                    break;
                }
            }
            if next.is_some() {
                break;
            }
        }
        let Some(n) = next else {
            return (cur, TraceEnd::Dead { steps });
        };
        visited = [visited[1], visited[2], prev];
        prev = cur;
        cur = n;
    }
    (cur, TraceEnd::Free)
}

/// One starting pixel per branch leaving (x, y): one per run of set neighbours around the
/// ring, 4-connected members preferred.
fn branches(skel: &[u8], w: usize, x: usize, y: usize) -> Vec<usize> {
    let n = neighbourhood(skel, w, x, y);
    let mut out = Vec::with_capacity(3);
    for i in 0..8 {
        // A run starts where the previous ring position is clear.
        if n >> i & 1 == 1 && n >> ((i + 7) % 8) & 1 == 0 {
            let mut pick = i;
            let mut k = i;
            while n >> k & 1 == 1 {
                if k % 2 == 0 {
                    pick = k;
                    break;
                }
                k = (k + 1) % 8;
                if k == i {
                    break;
                }
            }
            let (dx, dy) = NEIGHBOURS[pick];
            out.push((y as isize + dy) as usize * w + (x as isize + dx) as usize);
        }
    }
    out
}

fn angle_between(a: f32, b: f32) -> f32 {
    let d = (a - b).rem_euclid(std::f32::consts::TAU);
    d.min(std::f32::consts::TAU - d)
}

/// Finds the minutiae of a skeleton (1 = ridge), inside the foreground.
pub fn detect(
    skel: &[u8],
    w: usize,
    h: usize,
    field: &OrientationField,
    inside: impl Fn(usize, usize) -> bool,
) -> Vec<Candidate> {
    let mut kind_at = vec![0u8; w * h];
    let mut found = Vec::new();
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            if skel[i] != 1 || !inside(x, y) {
                continue;
            }
            let cn = crossing_number(neighbourhood(skel, w, x, y));
            let kind = match cn {
                1 => MinutiaKind::Ending,
                3 => MinutiaKind::Bifurcation,
                _ => continue,
            };
            kind_at[i] = cn as u8;
            found.push((x, y, kind));
        }
    }
    let mut out = Vec::with_capacity(found.len());
    for (x, y, kind) in found {
        let i = y * w + x;
        let starts = branches(skel, w, x, y);
        let mut vectors = Vec::with_capacity(3);
        let mut ends = Vec::with_capacity(3);
        for &s in &starts {
            let (end, how) = trace(skel, w, i, s, DIRECTION_TRACE, &kind_at, &starts);
            vectors.push(((end % w) as f32 - x as f32, (end / w) as f32 - y as f32));
            ends.push(how);
        }
        let traced = match (kind, vectors.len()) {
            (MinutiaKind::Ending, 1) => {
                let v = vectors[0];
                (-v.1).atan2(-v.0)
            }
            (MinutiaKind::Bifurcation, 3) => {
                let angles: Vec<f32> = vectors.iter().map(|v| v.1.atan2(v.0)).collect();
                // The forks are the two closest branches; the stem is the third.
                let pairs = [(0, 1, 2), (0, 2, 1), (1, 2, 0)];
                let &(_, _, stem) = pairs
                    .iter()
                    .min_by(|a, b| {
                        angle_between(angles[a.0], angles[a.1])
                            .total_cmp(&angle_between(angles[b.0], angles[b.1]))
                    })
                    .expect("three pairs");
                // Along the stem, away from the fork: a bifurcation that pressure turns into
                // an ending (or back) keeps its direction, as the ridge-ending / valley-
                // bifurcation duality of ISO/IEC 19794-2 intends.
                angles[stem]
            }
            _ => continue,
        };
        // The orientation field is smoother than a short trace: take its direction, turned
        // the way the trace points, where the two agree.
        let field_angle = field.angle_at(x as f32, y as f32);
        let candidates = [field_angle, field_angle + std::f32::consts::PI];
        let closest =
            if angle_between(candidates[0], traced) <= angle_between(candidates[1], traced) {
                candidates[0]
            } else {
                candidates[1]
            };
        let angle = if angle_between(closest, traced) < std::f32::consts::FRAC_PI_4 {
            closest
        } else {
            traced
        };
        out.push(Candidate {
            x,
            y,
            kind,
            angle: angle.rem_euclid(std::f32::consts::TAU),
            ends,
            removed: false,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::plane::Plane;

    /// A skeleton from rows of `#` (ridge) and `.`, with a one-pixel clear frame.
    fn skeleton(rows: &[&str]) -> (Vec<u8>, usize, usize) {
        let (w, h) = (rows[0].len() + 2, rows.len() + 2);
        let mut skel = vec![0u8; w * h];
        for (y, row) in rows.iter().enumerate() {
            for (x, c) in row.bytes().enumerate() {
                skel[(y + 1) * w + x + 1] = u8::from(c == b'#');
            }
        }
        (skel, w, h)
    }

    /// Ridges running up and down the image everywhere.
    fn vertical_flow(w: usize, h: usize) -> OrientationField {
        let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
        OrientationField {
            cos2: Plane::filled(bw, bh, -1.0),
            sin2: Plane::filled(bw, bh, 0.0),
            coherence: Plane::filled(bw, bh, 1.0),
        }
    }

    /// The bifurcations found, as (x, y, direction) in the framed skeleton.
    fn bifurcations(rows: &[&str]) -> Vec<(usize, usize, f32)> {
        let (skel, w, h) = skeleton(rows);
        detect(&skel, w, h, &vertical_flow(w, h), |_, _| true)
            .into_iter()
            .filter(|c| c.kind == MinutiaKind::Bifurcation)
            .map(|c| (c.x, c.y, c.angle))
            .collect()
    }

    #[test]
    fn a_bifurcation_points_along_its_stem_where_its_branches_touch() {
        // Stems coming down from the top, forks going on down: FVC2002 DB1_B 102_1 and
        // 102_2 skeletons. In the first, the fork on the right starts next to the stem's
        // first pixel; a trace that stepped onto it ran back up the stem, so two traces
        // pointed up and the stem was taken for a fork (the direction was a half turn
        // off on about a fifth of all bifurcations).
        let touching = [
            "...........#...........",
            "...........#...........",
            "...........#...........",
            "...........#...........",
            "...........#...........",
            "...........#...........",
            "...........#...........",
            "...........#...........",
            "...........#...........",
            "..........#............",
            ".........###...........",
            "........#..##..........",
            ".......#....#..........",
            ".......#....#..........",
            "......##.....#.........",
            "......#......#.........",
            "......#......#.........",
            "......#......#.........",
            ".....##......#.........",
            ".....#......#..........",
            ".....#......#..........",
        ];
        // The second: the left fork's first two pixels both touch the junction.
        let bent = [
            "..........#..........",
            "..........#..........",
            "..........#..........",
            "..........#..........",
            "..........#..........",
            "..........#..........",
            "..........#..........",
            "..........#..........",
            "..........#..........",
            ".........####........",
            ".........#...#.......",
            "........##...#.......",
            "........#.....#......",
            "........#.....#......",
            "........#.....#......",
            "........#.....#......",
            "........#.....#......",
            ".......#......#......",
            ".......#......#......",
            ".......#......#......",
        ];
        for (name, rows) in [("touching", &touching[..]), ("bent", &bent[..])] {
            let found = bifurcations(rows);
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            // From the fork out along the stem: up the image (y down), i.e. 3π/2.
            let up = 1.5 * std::f32::consts::PI;
            assert!(
                angle_between(found[0].2, up) < std::f32::consts::FRAC_PI_4,
                "{name}: direction {} rad",
                found[0].2
            );
        }
    }
}
