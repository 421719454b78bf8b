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
    fn erf_matches_known_values() {
        assert!((erf(0.0)).abs() < 1e-6);
        assert!((erf(1.0) - 0.842_700_8).abs() < 1e-6);
        assert!((erf(-0.5) + 0.520_499_9).abs() < 1e-6);
    }
}
