//! Ridge counts: how many ridges cross the straight line between two minutiae, counted on
//! the binary ridge image (before thinning) for each minutia's nearest neighbours. Where
//! two prints' minutiae mate, the ridges between the mates must agree as well: minutiae
//! that land on each other by chance, in a band of parallel ridges, usually have a
//! different number of ridges between them.

use super::params::{RIDGE_COUNT_END_SKIP, RIDGE_COUNT_NEIGHBOURS, RIDGE_COUNT_REACH};

/// The ridges crossed between `a` and `b` (500-ppi pixels), not counting those the two
/// minutiae lie on: the runs of ridge pixels along the line, sampled every pixel, each at
/// least two samples long (a ridge only grazed is not crossed), less a run that reaches
/// within [`RIDGE_COUNT_END_SKIP`] px of either end (the minutia's own ridge, however
/// obliquely the line leaves it). `None` when the line leaves the print (`inside`).
pub fn count(
    ridges: &[u8],
    w: usize,
    h: usize,
    inside: impl Fn(usize, usize) -> bool,
    a: (f32, f32),
    b: (f32, f32),
) -> Option<u8> {
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let length = dx.hypot(dy);
    let steps = length.floor() as usize;
    // One pixel along the line per step (coincident points: no step at all).
    let (ux, uy) = (dx / length.max(1.0), dy / length.max(1.0));
    let (mut runs, mut run_start) = (0u32, None::<f32>);
    let mut close = |from: f32, to: f32| {
        if to - from >= 1.0 && from > RIDGE_COUNT_END_SKIP && to < length - RIDGE_COUNT_END_SKIP {
            runs += 1;
        }
    };
    let mut last = 0.0;
    for k in 0..=steps {
        let t = k as f32;
        let (x, y) = ((a.0 + ux * t).round(), (a.1 + uy * t).round());
        if x < 0.0 || y < 0.0 || x >= w as f32 || y >= h as f32 {
            return None;
        }
        let (x, y) = (x as usize, y as usize);
        if !inside(x, y) {
            return None;
        }
        match (ridges[y * w + x] != 0, run_start) {
            (true, None) => run_start = Some(t),
            (false, Some(from)) => {
                close(from, last);
                run_start = None;
            }
            _ => {}
        }
        last = t;
    }
    if let Some(from) = run_start {
        close(from, last);
    }
    u8::try_from(runs).ok()
}

/// Ridge counts from every minutia (500-ppi position) to its
/// [`RIDGE_COUNT_NEIGHBOURS`] nearest within [`RIDGE_COUNT_REACH`] px, each unordered
/// pair once (lower index first), where the line stays on the print.
///
/// Dispatched at run time to an AVX2 + FMA or NEON build (the same values: no fused
/// multiply-adds, exact roundings; the FVC2002 templates are byte-identical).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn neighbour_counts(
    ridges: &[u8],
    w: usize,
    h: usize,
    inside: impl Fn(usize, usize) -> bool + Copy,
    points: &[(f32, f32)],
) -> Vec<(u8, u8, u8)> {
    let n = points.len().min(usize::from(u8::MAX));
    let mut wanted = vec![false; n * n];
    let mut near: Vec<(f32, usize)> = Vec::with_capacity(n);
    for i in 0..n {
        near.clear();
        for j in 0..n {
            let d = (points[j].0 - points[i].0).hypot(points[j].1 - points[i].1);
            if j != i && d <= RIDGE_COUNT_REACH {
                near.push((d, j));
            }
        }
        near.sort_unstable_by(|x, y| x.0.total_cmp(&y.0));
        for &(_, j) in near.iter().take(RIDGE_COUNT_NEIGHBOURS) {
            wanted[i.min(j) * n + i.max(j)] = true;
        }
    }
    let mut out = Vec::new();
    for i in 0..n {
        for j in i + 1..n {
            if wanted[i * n + j]
                && let Some(c) = count(ridges, w, h, inside, points[i], points[j])
            {
                out.push((i as u8, j as u8, c));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Horizontal ridges 4 px thick every 10 px (rows 10k..10k + 3), on a 100 x 100 image.
    fn stripes() -> Vec<u8> {
        let (w, h) = (100, 100);
        (0..w * h).map(|i| u8::from((i / w) % 10 < 4)).collect()
    }

    #[test]
    fn counts_the_ridges_crossed_between_but_not_those_at_the_ends() {
        let g = stripes();
        let all = |_: usize, _: usize| true;
        // From the ridge at rows 20-23 to the one at rows 60-63: 30, 40 and 50 between.
        assert_eq!(
            count(&g, 100, 100, all, (50.0, 21.0), (50.0, 61.0)),
            Some(3)
        );
        // Slanted: the same three.
        assert_eq!(
            count(&g, 100, 100, all, (30.0, 21.0), (60.0, 61.0)),
            Some(3)
        );
        // Along one ridge: none crossed.
        assert_eq!(
            count(&g, 100, 100, all, (10.0, 31.0), (90.0, 31.0)),
            Some(0)
        );
        // Leaving the print: unknown.
        let left_half = |x: usize, _: usize| x < 50;
        assert_eq!(
            count(&g, 100, 100, left_half, (30.0, 21.0), (70.0, 61.0)),
            None
        );
    }

    #[test]
    fn each_minutia_is_counted_to_its_nearest_neighbours_once() {
        let g = stripes();
        let all = |_: usize, _: usize| true;
        let points = [(50.0, 21.0), (50.0, 61.0), (20.0, 21.0), (95.0, 95.0)];
        let counts = neighbour_counts(&g, 100, 100, all, &points);
        assert!(counts.contains(&(0, 1, 3)), "{counts:?}");
        assert!(counts.contains(&(0, 2, 0)), "{counts:?}");
        assert!(counts.iter().all(|&(i, j, _)| i < j));
        let mut pairs: Vec<_> = counts.iter().map(|&(i, j, _)| (i, j)).collect();
        pairs.dedup();
        assert_eq!(pairs.len(), counts.len());
    }
}
