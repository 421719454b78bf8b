//! Global consolidation: do the local matches add up to one placement of the print?
//!
//! LSS-R (Cappelli et al. 2010) rewards pairs of minutiae whose local geometry agrees, but
//! never places one print on the other. Here each of the best pairs in turn anchors a rigid
//! placement (the anchor minutiae on each other, their directions aligned); under it,
//! minutiae mate when they land close in position and direction, one to one. The best
//! placement's agreement is `m² / (n_a · n_b)`: `m` mated minutiae over the minutiae of each
//! print that lie in the common area (those near any minutia of the other print), as in the
//! overlap-normalised scores of Jain, Hong and Bolle (1997) — a small overlap that mates
//! fully is not penalised for the minutiae outside it; at least
//! [`COMMON_AREA_FLOOR`] minutiae are assumed so that a tiny overlap proves little.

use super::PreparedTemplate;
use super::params::{
    COMMON_AREA_FLOOR, COMMON_AREA_REACH, MATE_DIRECTION_UNITS, MATE_DISTANCE,
    MATE_DISTANCE_PER_PX, OWN_MATE_DIRECTION_UNITS, OWN_MATE_DISTANCE,
};

/// How close a placed probe minutia must land to a candidate minutia to mate with it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Mating {
    /// Distance, px...
    pub distance: f32,
    /// ...plus this share of the probe minutia's distance from the anchor...
    pub per_px: f32,
    /// ...and at most this difference of direction (1/256 turns).
    pub direction: u8,
}

impl Mating {
    /// For templates of any extractor.
    pub const ANY: Self = Self {
        distance: MATE_DISTANCE,
        per_px: MATE_DISTANCE_PER_PX,
        direction: MATE_DIRECTION_UNITS,
    };
    /// When both templates carry Daktilo's ridge flow, so both are our extractor's.
    pub const OWN: Self = Self {
        distance: OWN_MATE_DISTANCE,
        per_px: MATE_DISTANCE_PER_PX,
        direction: OWN_MATE_DIRECTION_UNITS,
    };
}

/// Where padding points lie: beyond reach of any real minutia.
pub(super) const FAR: f32 = 1.0e6;

/// Buffers reused across comparisons.
#[derive(Debug, Default)]
pub(super) struct Scratch {
    placed: Vec<(f32, f32, u8, f32)>,
    near_a: Vec<bool>,
    near_b: Vec<bool>,
    used_b: Vec<bool>,
    /// Squared distances from one placed probe minutia to every candidate minutia.
    d2: Vec<f32>,
    /// For each probe minutia, the candidate minutia it mated under some placement tried
    /// so far in this comparison (`u8::MAX`: none).
    mated_to: Vec<u8>,
    /// The mates (probe, candidate minutia) of the placement [`mate`] last looked at, and
    /// of the best one so far.
    pairs: Vec<(u8, u8)>,
    best_pairs: Vec<(u8, u8)>,
    /// The best placement's minutiae in the common area, probe's and candidate's.
    best_common: (u16, u16),
}

impl Scratch {
    /// The best placement's mated minutiae and its minutiae in the common area (probe's,
    /// candidate's), as [`agreement`] last found them.
    pub(super) fn best_counts(&self) -> (u16, (u16, u16)) {
        (self.best_pairs.len() as u16, self.best_common)
    }

    /// Over the pairs of the best placement's mates whose ridge counts both prints carry,
    /// how many differ by 0, 1, 2, and 3 or more ridges; `None` unless both carry them.
    pub(super) fn ridge_differences(
        &self,
        a: &PreparedTemplate,
        b: &PreparedTemplate,
    ) -> Option<[u16; 4]> {
        let (ra, rb) = (a.ridge_counts.as_ref()?, b.ridge_counts.as_ref()?);
        let mut out = [0u16; 4];
        for (k, &(i1, j1)) in self.best_pairs.iter().enumerate() {
            for &(i2, j2) in &self.best_pairs[k + 1..] {
                let ca = ra.get(usize::from(i1), usize::from(i2));
                let cb = rb.get(usize::from(j1), usize::from(j2));
                if let (Some(ca), Some(cb)) = (ca, cb) {
                    out[usize::from(ca.abs_diff(cb).min(3))] += 1;
                }
            }
        }
        Some(out)
    }
}

/// The best agreement in `[0, 1]` over the placements anchored at `anchors` (pairs of
/// minutia indices, probe then candidate), and the anchor of that placement.
#[inline(always)]
pub(super) fn agreement(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    anchors: impl Iterator<Item = (u8, u8)>,
    mating: Mating,
    s: &mut Scratch,
) -> (f32, Option<(usize, usize)>) {
    let mut best_mated = 0usize;
    let mut best = 0.0f32;
    let mut best_anchor = None;
    s.best_pairs.clear();
    s.best_common = (0, 0);
    s.mated_to.clear();
    s.mated_to.resize(a.points.len(), u8::MAX);
    for (ia, ib) in anchors {
        // An anchor that an earlier placement already mated gives about the same placement.
        if s.mated_to[usize::from(ia)] == ib {
            continue;
        }
        let (ia, ib) = (usize::from(ia), usize::from(ib));
        place(a, b, ia, ib, mating, s);
        let mated = mate(b, mating, s);
        if mated > best_mated {
            best_mated = mated;
            s.best_common = (count_of(&s.near_a), count_of(&s.near_b));
            best = normalise(mated, s.best_common);
            best_anchor = Some((ia, ib));
            std::mem::swap(&mut s.pairs, &mut s.best_pairs);
        }
    }
    (best, best_anchor)
}

/// Places every probe minutia on the candidate's frame: `anchor_a` onto `anchor_b`, turned
/// by the difference of their directions. Keeps (x, y, direction, mating tolerance²).
#[inline(always)]
fn place(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    anchor_a: usize,
    anchor_b: usize,
    mating: Mating,
    s: &mut Scratch,
) {
    let (pa, pb) = (&a.points[anchor_a], &b.points[anchor_b]);
    let turn = b.directions[anchor_b].wrapping_sub(a.directions[anchor_a]);
    let (sin, cos) = (f32::from(turn) * (std::f32::consts::TAU / 256.0)).sin_cos();
    s.placed.clear();
    for (i, p) in a.points.iter().enumerate() {
        let (dx, dy) = (p.x - pa.x, p.y - pa.y);
        let tolerance = mating.distance + mating.per_px * a.distance(anchor_a, i);
        s.placed.push((
            cos * dx - sin * dy + pb.x,
            sin * dx + cos * dy + pb.y,
            a.directions[i].wrapping_add(turn),
            tolerance * tolerance,
        ));
    }
}

/// Mates placed probe minutiae with candidate minutiae, one to one (each probe minutia
/// takes the nearest free candidate minutia within its tolerance), and marks which
/// minutiae of either print lie in the common area.
#[inline(always)]
fn mate(b: &PreparedTemplate, mating: Mating, s: &mut Scratch) -> usize {
    let reach = COMMON_AREA_REACH * COMMON_AREA_REACH;
    s.near_a.clear();
    s.near_a.resize(s.placed.len(), false);
    s.near_b.clear();
    s.near_b.resize(b.points.len(), false);
    s.used_b.clear();
    s.used_b.resize(b.points.len(), false);
    let mut mated = 0;
    s.pairs.clear();
    s.d2.clear();
    s.d2.resize(b.xs.len(), 0.0);
    for (i, &(x, y, direction, tolerance)) in s.placed.iter().enumerate() {
        // A straight pass the compiler vectorises, then a scan of the few within reach.
        for ((d2, &qx), &qy) in s.d2.iter_mut().zip(&b.xs).zip(&b.ys) {
            let (ex, ey) = (qx - x, qy - y);
            *d2 = ex * ex + ey * ey;
        }
        let mut nearest: Option<(f32, usize)> = None;
        // Which candidate minutiae are within reach, 64 at a time as bit masks (another
        // pass the compiler vectorises); only those few are looked at one by one.
        for (chunk, d2s) in s.d2.chunks(64).enumerate() {
            let mut within = 0u64;
            for (k, &d2) in d2s.iter().enumerate() {
                within |= u64::from(d2 <= reach) << k;
            }
            while within != 0 {
                let j = chunk * 64 + within.trailing_zeros() as usize;
                within &= within - 1;
                let d2 = s.d2[j];
                s.near_a[i] = true;
                s.near_b[j] = true;
                if d2 <= tolerance
                    && !s.used_b[j]
                    && (b.directions[j].wrapping_sub(direction) as i8).unsigned_abs()
                        <= mating.direction
                    && nearest.is_none_or(|(best, _)| d2 < best)
                {
                    nearest = Some((d2, j));
                }
            }
        }
        if let Some((_, j)) = nearest {
            s.used_b[j] = true;
            s.mated_to[i] = j as u8;
            s.pairs.push((i as u8, j as u8));
            mated += 1;
        }
    }
    mated
}

/// A rigid placement of the probe on the candidate: probe point `from` lands on candidate
/// point `to`, and the probe turns by `turn` radians about it.
#[derive(Clone, Copy, Debug)]
pub(super) struct Placement {
    pub from: (f32, f32),
    pub to: (f32, f32),
    pub turn: f32,
}

/// The placement of the field check: [`fitted`], or with fewer than two mates the one
/// anchored at `anchor` (as [`place`] makes it), the anchor [`agreement`] returned.
pub(super) fn best_placement(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    s: &Scratch,
    (ia, ib): (usize, usize),
) -> Placement {
    fitted(a, b, s).unwrap_or_else(|| {
        let (p, q) = (&a.points[ia], &b.points[ib]);
        let turn = b.directions[ib].wrapping_sub(a.directions[ia]);
        Placement {
            from: (p.x, p.y),
            to: (q.x, q.y),
            turn: f32::from(turn) * (std::f32::consts::TAU / 256.0),
        }
    })
}

/// The rigid placement that best fits, by least squares, the mates of the best placement
/// [`agreement`] found; `None` with fewer than two mates.
fn fitted(a: &PreparedTemplate, b: &PreparedTemplate, s: &Scratch) -> Option<Placement> {
    let pairs = &s.best_pairs;
    if pairs.len() < 2 {
        return None;
    }
    let n = pairs.len() as f32;
    let (mut ax, mut ay, mut bx, mut by) = (0.0f32, 0.0f32, 0.0f32, 0.0f32);
    for &(i, j) in pairs {
        let (p, q) = (&a.points[usize::from(i)], &b.points[usize::from(j)]);
        (ax, ay, bx, by) = (ax + p.x, ay + p.y, bx + q.x, by + q.y);
    }
    let (ax, ay, bx, by) = (ax / n, ay / n, bx / n, by / n);
    let (mut dot, mut cross) = (0.0f32, 0.0f32);
    for &(i, j) in pairs {
        let (p, q) = (&a.points[usize::from(i)], &b.points[usize::from(j)]);
        let (px, py, qx, qy) = (p.x - ax, p.y - ay, q.x - bx, q.y - by);
        dot += px * qx + py * qy;
        cross += px * qy - py * qx;
    }
    Some(Placement {
        from: (ax, ay),
        to: (bx, by),
        turn: cross.atan2(dot),
    })
}

/// How many are set.
fn count_of(v: &[bool]) -> u16 {
    v.iter().filter(|&&x| x).count() as u16
}

/// `m² / (n_a · n_b)` for `m` mates and the counts of minutiae in the common area.
fn normalise(mated: usize, (near_a, near_b): (u16, u16)) -> f32 {
    let common = |n: u16| f32::from(n).max(COMMON_AREA_FLOOR);
    let m = mated as f32;
    (m * m / (common(near_a) * common(near_b))).min(1.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matching::prepare;
    use crate::template::{Minutia, MinutiaKind, Template};

    /// A 6 x 6 grid of minutiae 40 px apart; neighbours' directions differ by 50° or more,
    /// so no minutia can mate with its neighbour's image.
    fn grid() -> Vec<(f32, f32, f32)> {
        (0..6)
            .flat_map(|i| (0..6).map(move |j| (i, j)))
            .map(|(i, j)| {
                let (x, y) = (60.0 + 40.0 * i as f32, 60.0 + 40.0 * j as f32);
                (x, y, (50 * i + 110 * j) as f32)
            })
            .collect()
    }

    fn prepared(points: &[(f32, f32, f32)]) -> PreparedTemplate {
        let mut t = Template::new(400, 400);
        t.minutiae = points
            .iter()
            .map(|&(x, y, degrees)| Minutia {
                x: x.round() as u16,
                y: y.round() as u16,
                direction: Minutia::direction_from_degrees(degrees),
                kind: MinutiaKind::Ending,
                quality: 60,
            })
            .collect();
        prepare(&t).unwrap()
    }

    /// Turns points counter-clockwise on screen by `degrees` about (200, 200), then shifts.
    fn moved(points: &[(f32, f32, f32)], degrees: f32, shift: (f32, f32)) -> Vec<(f32, f32, f32)> {
        let (s, c) = degrees.to_radians().sin_cos();
        points
            .iter()
            .map(|&(x, y, d)| {
                let (dx, dy) = (x - 200.0, y - 200.0);
                (
                    200.0 + c * dx + s * dy + shift.0,
                    200.0 - s * dx + c * dy + shift.1,
                    d + degrees,
                )
            })
            .collect()
    }

    fn agreement_at(a: &[(f32, f32, f32)], b: &[(f32, f32, f32)], anchor: u8) -> f32 {
        let mut s = Scratch::default();
        agreement(
            &prepared(a),
            &prepared(b),
            std::iter::once((anchor, anchor)),
            Mating::ANY,
            &mut s,
        )
        .0
    }

    #[test]
    fn the_fitted_placement_is_the_move_that_made_the_copy() {
        let a = grid();
        let b = moved(&a, 20.0, (35.0, -20.0));
        let (pa, pb) = (prepared(&a), prepared(&b));
        let mut s = Scratch::default();
        let (g, anchor) = agreement(&pa, &pb, std::iter::once((7, 7)), Mating::ANY, &mut s);
        assert_eq!((g, anchor), (1.0, Some((7, 7))));
        let Placement { from, to, turn } = fitted(&pa, &pb, &s).unwrap();
        // `moved` turns clockwise in image coordinates: counter-clockwise with y up.
        assert!((turn - 20f32.to_radians()).abs() < 0.01, "turn {turn}");
        // The fit maps every probe minutia onto its copy.
        let (sin, cos) = turn.sin_cos();
        for (p, q) in pa.points.iter().zip(&pb.points) {
            let (dx, dy) = (p.x - from.0, p.y - from.1);
            let (x, y) = (cos * dx - sin * dy + to.0, sin * dx + cos * dy + to.1);
            assert!(
                (x - q.x).hypot(y - q.y) < 1.0,
                "({x}, {y}) for ({}, {})",
                q.x,
                q.y
            );
        }
        // A probe of one minutia: at most one mate, no fit.
        let mut s = Scratch::default();
        let empty = prepared(&a[..1]);
        let _ = agreement(&empty, &pb, std::iter::once((0, 0)), Mating::ANY, &mut s);
        assert!(fitted(&empty, &pb, &s).is_none());
    }

    #[test]
    fn our_own_minutiae_must_land_closer_to_mate() {
        // Every minutia but the anchor (the first, at (60, 60)) changed by `change`; the
        // agreement under each tolerance, anchored there.
        let a = grid();
        let agreements = |change: &dyn Fn((f32, f32, f32)) -> (f32, f32, f32)| {
            let b: Vec<_> = a
                .iter()
                .enumerate()
                .map(|(k, &m)| if k == 0 { m } else { change(m) })
                .collect();
            let (pa, pb) = (prepared(&a), prepared(&b));
            [Mating::ANY, Mating::OWN].map(|mating| {
                let mut s = Scratch::default();
                agreement(&pa, &pb, std::iter::once((0, 0)), mating, &mut s).0
            })
        };
        // Moved sideways by 10.5 px plus 5 % of the distance from the anchor: within the
        // tolerance for any extractor's templates (12 px plus 5 %), beyond the one for our
        // own (9 px plus 5 %).
        let [any, own] =
            agreements(&|(x, y, d)| (x + 10.5 + 0.05 * (x - 60.0).hypot(y - 60.0), y, d));
        assert_eq!(any, 1.0);
        assert!(own < 0.1, "{own}");
        // Turned by 25°: within 28°, not within 22.5°.
        let [any, own] = agreements(&|(x, y, d)| (x, y, d + 25.0));
        assert_eq!(any, 1.0);
        assert!(own < 0.1, "{own}");
    }

    #[test]
    fn a_rigidly_moved_copy_agrees_fully() {
        let a = grid();
        assert_eq!(agreement_at(&a, &a, 0), 1.0);
        let b = moved(&a, 20.0, (35.0, -20.0));
        assert_eq!(agreement_at(&a, &b, 7), 1.0);
    }

    #[test]
    fn local_matches_that_do_not_add_up_to_one_placement_count_for_little() {
        // Half of the minutiae moved 30 px (beyond the mating tolerance, within the common
        // area's reach): 18 mates among 36 and 36 minutiae in the common area.
        let a = grid();
        let mut b = a.clone();
        for p in b.iter_mut().skip(18) {
            p.0 += 30.0;
        }
        let g = agreement_at(&a, &b, 0);
        assert!((g - 0.25).abs() < 1e-6, "agreement {g}");
    }

    #[test]
    fn a_small_overlap_that_mates_fully_is_not_punished_for_the_rest() {
        // The candidate shows only a 4 x 4 corner of the probe's grid: 16 of 36 minutiae,
        // and the probe's others are out of the common area's reach.
        let a = grid();
        let b: Vec<_> = a
            .iter()
            .copied()
            .filter(|p| p.0 <= 180.0 && p.1 <= 180.0)
            .collect();
        assert_eq!(b.len(), 16);
        assert_eq!(agreement_at(&a, &b, 0), 1.0);
        // A few mates alone prove little: the common area counts at least 12 minutiae.
        let g = agreement_at(&a, &b[..2], 0);
        assert!((g - 4.0 / 144.0).abs() < 1e-6, "agreement {g}");
    }

    #[test]
    fn another_print_does_not_agree() {
        // Other directions everywhere: the placement the anchor implies turns the grid by
        // 45° about it; besides the anchor, only chance coincidences mate (3 of 23 here).
        let a = grid();
        let b: Vec<_> = a
            .iter()
            .map(|&(x, y, d)| (x, y, (d * 7.0 + 45.0) % 360.0))
            .collect();
        let g = agreement_at(&a, &b, 0);
        assert!(g < 0.05, "agreement {g}");
    }
}
