//! Small geometric helpers: angle differences, the convex hull, erf.

use std::f32::consts::{PI, TAU};

/// The difference `a - b` of two angles, wrapped into `[-π, π)`.
pub fn angle_diff(a: f32, b: f32) -> f32 {
    let d = a - b;
    d - TAU * ((d + PI) / TAU).floor()
}

/// The convex hull of points (counter-clockwise, no repeated points), Andrew's monotone
/// chain.
pub fn convex_hull(points: &[(f32, f32)]) -> Vec<(f32, f32)> {
    let mut p: Vec<(f32, f32)> = points.to_vec();
    p.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    p.dedup();
    if p.len() < 3 {
        return p;
    }
    let cross = |o: (f32, f32), a: (f32, f32), b: (f32, f32)| {
        (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0)
    };
    let mut hull: Vec<(f32, f32)> = Vec::with_capacity(2 * p.len());
    for pass in 0..2 {
        let start = hull.len();
        let points: Box<dyn Iterator<Item = &(f32, f32)>> = if pass == 0 {
            Box::new(p.iter())
        } else {
            Box::new(p.iter().rev())
        };
        for &q in points {
            while hull.len() >= start + 2
                && cross(hull[hull.len() - 2], hull[hull.len() - 1], q) <= 0.0
            {
                hull.pop();
            }
            hull.push(q);
        }
        hull.pop();
    }
    hull
}

/// Whether `q` lies inside the convex polygon `hull` (counter-clockwise) or within
/// `margin` of it.
pub fn near_hull(hull: &[(f32, f32)], q: (f32, f32), margin: f32) -> bool {
    match hull.len() {
        0 => false,
        1 => dist2(hull[0], q) <= margin * margin,
        _ => {
            let n = hull.len();
            let inside = n >= 3
                && (0..n).all(|i| {
                    let (a, b) = (hull[i], hull[(i + 1) % n]);
                    (b.0 - a.0) * (q.1 - a.1) - (b.1 - a.1) * (q.0 - a.0) >= 0.0
                });
            inside
                || (0..n).any(|i| segment_dist2(hull[i], hull[(i + 1) % n], q) <= margin * margin)
        }
    }
}

/// A convex hull prepared for many [`near_hull`] questions with one margin: its edges
/// worked out once (no index arithmetic per question), points far outside turned away by
/// the line of one edge before any distance to a segment is worked out, and (with
/// [`Hull::around`]) only the edges that can matter near one place asked. The answers are
/// [`near_hull`]'s exactly (tested), because every test it makes on the way is either the
/// same arithmetic or one that can only turn away a point `near_hull` turns away too.
#[derive(Debug, Clone, Default)]
pub struct Hull {
    /// The vertices, when there are fewer than three (no polygon: `near_hull` answers).
    few: Option<Vec<(f32, f32)>>,
    margin: f32,
    /// Per edge `a → b` (of the whole hull, or of those kept by [`Hull::around`]): `a`,
    /// `b`, `b − a`, and `(margin + SLACK) · |b − a|`.
    ax: Vec<f32>,
    ay: Vec<f32>,
    bx: Vec<f32>,
    by: Vec<f32>,
    dx: Vec<f32>,
    dy: Vec<f32>,
    reject: Vec<f32>,
}

/// How much farther than the margin (px) a point must lie beyond an edge's line for the
/// quick tests to act on it: far more than the rounding of the cross product, which is
/// below 0.01 px for coordinates up to 10⁴ px, and of the hull's own convexity.
const SLACK: f32 = 1.0;

impl Hull {
    /// The hull of `vertices` (as [`convex_hull`] returns them) for questions with `margin`.
    pub fn new(vertices: Vec<(f32, f32)>, margin: f32) -> Self {
        let n = vertices.len();
        let mut hull = Self {
            margin,
            ..Self::default()
        };
        if n < 3 {
            hull.few = Some(vertices);
            return hull;
        }
        for i in 0..n {
            let (a, b) = (vertices[i], vertices[(i + 1) % n]);
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            hull.push(a, b, dx, dy, (margin + SLACK) * (dx * dx + dy * dy).sqrt());
        }
        hull
    }

    fn push(&mut self, a: (f32, f32), b: (f32, f32), dx: f32, dy: f32, reject: f32) {
        self.ax.push(a.0);
        self.ay.push(a.1);
        self.bx.push(b.0);
        self.by.push(b.1);
        self.dx.push(dx);
        self.dy.push(dy);
        self.reject.push(reject);
    }

    /// The cross product of edge `i` with `q` as `near_hull` works it out: `|b − a|`
    /// times the distance of `q` from the edge's line, positive on the inner side.
    #[inline(always)]
    fn cross(&self, i: usize, q: (f32, f32)) -> f32 {
        self.dx[i] * (q.1 - self.ay[i]) - self.dy[i] * (q.0 - self.ax[i])
    }

    /// How deep `q` lies inside the hull: a distance (px) within which every point is
    /// inside it, up to rounding well below [`SLACK`]; 0 or less outside or on it, and 0
    /// for a hull of fewer than three vertices.
    pub fn depth(&self, q: (f32, f32)) -> f32 {
        if self.few.is_some() {
            return 0.0;
        }
        let mut depth = f32::INFINITY;
        for i in 0..self.ax.len() {
            depth = depth.min(self.cross(i, q) * (self.margin + SLACK) / self.reject[i]);
        }
        depth
    }

    /// The distance from a point at `depth` ([`Hull::depth`]) within which every point is
    /// near the hull ([`Hull::near`] is true): the margin beyond the disc of that radius,
    /// less [`SLACK`] for rounding (and never less than the margin, which a point of the
    /// hull itself has).
    pub fn surely_near_within(&self, depth: f32) -> f32 {
        self.margin + (depth - SLACK).max(0.0)
    }

    /// This hull for questions about points within `radius` of `centre` only, into `out`:
    /// without the edges whose line lies farther than `radius` + margin + [`SLACK`] inside
    /// from `centre`. Such an edge's line has every such point well on its inner side and
    /// out of the margin, so it changes none of [`Hull::near`]'s tests.
    pub fn around(&self, centre: (f32, f32), radius: f32, out: &mut Hull) {
        out.few.clone_from(&self.few);
        out.margin = self.margin;
        for v in [
            &mut out.ax,
            &mut out.ay,
            &mut out.bx,
            &mut out.by,
            &mut out.dx,
            &mut out.dy,
            &mut out.reject,
        ] {
            v.clear();
        }
        let keep = (radius + self.margin + SLACK) / (self.margin + SLACK);
        for i in 0..self.ax.len() {
            if self.cross(i, centre) <= keep * self.reject[i] {
                out.push(
                    (self.ax[i], self.ay[i]),
                    (self.bx[i], self.by[i]),
                    self.dx[i],
                    self.dy[i],
                    self.reject[i],
                );
            }
        }
    }

    /// `near_hull(vertices, q, margin)` (for a hull made by [`Hull::around`], where `q` is
    /// within its radius of its centre).
    pub fn near(&self, q: (f32, f32)) -> bool {
        if let Some(vertices) = &self.few {
            return near_hull(vertices, q, self.margin);
        }
        let n = self.ax.len();
        // Every edge's cross product, without stopping early so that the loop vectorises.
        let (ax, ay, dx, dy) = (&self.ax[..n], &self.ay[..n], &self.dx[..n], &self.dy[..n]);
        let reject = &self.reject[..n];
        let (mut inside, mut far) = (true, false);
        for i in 0..n {
            let cross = dx[i] * (q.1 - ay[i]) - dy[i] * (q.0 - ax[i]);
            inside &= cross >= 0.0;
            // More than margin + SLACK beyond the edge's line, so beyond the hull.
            far |= cross < -reject[i];
        }
        if inside {
            return true;
        }
        if far {
            return false;
        }
        // Outside, but perhaps within the margin: the exact test of `near_hull`, whose
        // answer is whether any edge is near. The edge whose line `q` lies farthest beyond
        // is most often the nearest, so it is asked first (more instructions than asking
        // the edges in order, but less time: prepare 237–261 µs against 256–311 µs for the
        // FVC2002 templates in the eighteenth session, alternate runs).
        let m2 = self.margin * self.margin;
        let edge =
            |i: usize| segment_dist2((self.ax[i], self.ay[i]), (self.bx[i], self.by[i]), q) <= m2;
        let mut farthest = (0, f32::INFINITY);
        for i in 0..n {
            let beyond = self.cross(i, q) / self.reject[i];
            if beyond < farthest.1 {
                farthest = (i, beyond);
            }
        }
        edge(farthest.0) || (0..n).any(edge)
    }
}

fn dist2(a: (f32, f32), b: (f32, f32)) -> f32 {
    (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)
}

fn segment_dist2(a: (f32, f32), b: (f32, f32), q: (f32, f32)) -> f32 {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let len2 = dx * dx + dy * dy;
    let t = if len2 > 0.0 {
        (((q.0 - a.0) * dx + (q.1 - a.1) * dy) / len2).clamp(0.0, 1.0)
    } else {
        0.0
    };
    dist2((a.0 + t * dx, a.1 + t * dy), q)
}

/// The error function (Abramowitz and Stegun 7.1.26, absolute error below 1.5e-7).
pub fn erf(x: f32) -> f32 {
    let sign = if x < 0.0 { -1.0 } else { 1.0 };
    let x = f64::from(x.abs());
    let t = 1.0 / (1.0 + 0.327_591_1 * x);
    let y = 1.0
        - (((((1.061_405_429 * t - 1.453_152_027) * t) + 1.421_413_741) * t - 0.284_496_736) * t
            + 0.254_829_592)
            * t
            * (-x * x).exp();
    sign * y as f32
}

/// Pseudo-random numbers in `[0, 1)` from `seed` (Marsaglia's xorshift64, the top 24
/// bits), for the matcher's tests.
#[cfg(test)]
pub(super) fn uniforms(seed: u64) -> impl FnMut() -> f32 {
    let mut state = seed;
    move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 40) as f32 / (1u64 << 24) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn angle_differences_wrap_into_minus_pi_to_pi() {
        assert!((angle_diff(0.1, TAU - 0.1) - 0.2).abs() < 1e-5);
        assert!((angle_diff(TAU - 0.1, 0.1) + 0.2).abs() < 1e-5);
        assert!((angle_diff(PI, 0.0) + PI).abs() < 1e-5);
    }

    #[test]
    fn hull_of_a_square_with_an_inner_point_is_the_square() {
        let pts = [
            (0.0, 0.0),
            (10.0, 0.0),
            (10.0, 10.0),
            (0.0, 10.0),
            (5.0, 5.0),
        ];
        let hull = convex_hull(&pts);
        assert_eq!(hull.len(), 4);
        assert!(near_hull(&hull, (5.0, 5.0), 0.0));
        assert!(near_hull(&hull, (12.0, 5.0), 3.0));
        assert!(!near_hull(&hull, (14.0, 5.0), 3.0));
    }

    #[test]
    fn a_prepared_hull_answers_as_near_hull_does() {
        let mut next = uniforms(0x9e37_79b9_7f4a_7c15);
        let (mut near, mut asked, mut close_calls, mut deep) = (0, 0, 0, 0);
        let (mut kept, mut edges) = (0, 0);
        for trial in 0..400 {
            let n = 1 + trial % 40;
            let (side, origin) = (50.0 + 3000.0 * next(), 4000.0 * next());
            let points: Vec<(f32, f32)> = (0..n)
                .map(|_| (origin + side * next(), origin + side * next()))
                .collect();
            let vertices = convex_hull(&points);
            let margin = [0.0, 3.0, 50.0][trial % 3];
            let hull = Hull::new(vertices.clone(), margin);
            for _ in 0..200 {
                let q = (
                    origin - side / 2.0 + 2.0 * side * next(),
                    origin - side / 2.0 + 2.0 * side * next(),
                );
                let expected = near_hull(&vertices, q, margin);
                assert_eq!(hull.near(q), expected, "trial {trial}, q {q:?}");
                near += usize::from(expected);
                asked += 1;
            }
            // The hull around a point, for points within a radius of it.
            let (centre, radius) = (points[trial % n], side * next() / 2.0);
            let mut local = Hull::default();
            hull.around(centre, radius, &mut local);
            kept += local.ax.len();
            edges += hull.ax.len();
            for _ in 0..100 {
                let (angle, r) = (TAU * next(), radius * next().sqrt());
                let q = (centre.0 + r * angle.cos(), centre.1 + r * angle.sin());
                assert_eq!(
                    local.near(q),
                    near_hull(&vertices, q, margin),
                    "trial {trial}"
                );
            }
            // Points at about the margin's distance from a vertex, where rounding decides.
            for &v in vertices.iter().take(8) {
                let angle = TAU * next();
                let r = margin + (next() - 0.5) * 1e-3;
                let q = (v.0 + r * angle.cos(), v.1 + r * angle.sin());
                assert_eq!(hull.near(q), near_hull(&vertices, q, margin));
                close_calls += 1;
            }
            // Every point within `surely_near_within` of a point of the hull is near it
            // (within the margin of the point itself, by the rule it widens, which
            // rounding may break right at the margin: not asked).
            for &centre in &points {
                let sure = hull.surely_near_within(hull.depth(centre));
                assert!(sure >= margin);
                if sure == margin {
                    continue;
                }
                for _ in 0..8 {
                    let (angle, r) = (TAU * next(), margin + (sure - margin) * next());
                    let p = (centre.0 + r * angle.cos(), centre.1 + r * angle.sin());
                    assert!(near_hull(&vertices, p, margin), "trial {trial}, p {p:?}");
                }
                let p = (centre.0 + sure, centre.1);
                assert!(near_hull(&vertices, p, margin), "trial {trial}, p {p:?}");
                deep += usize::from(sure > margin + 10.0);
            }
        }
        // Both answers were asked for often, and many points lie deep in their hulls.
        assert!(deep > 1000, "{deep}");
        assert!(
            near > asked / 10 && near < asked * 9 / 10,
            "{near} of {asked}"
        );
        assert!(close_calls > 1000);
        // Hulls around a point kept some edges and left others out.
        assert!(
            kept > edges / 10 && kept < edges * 9 / 10,
            "{kept} of {edges}"
        );
    }

    #[test]
    fn erf_matches_known_values() {
        assert!((erf(0.0)).abs() < 1e-6);
        assert!((erf(1.0) - 0.842_700_8).abs() < 1e-6);
        assert!((erf(-0.5) + 0.520_499_9).abs() < 1e-6);
    }
}
