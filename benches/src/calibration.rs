//! Fitting the score calibration: raw similarities of impostor comparisons mapped to
//! −10·log10(FMR).
//!
//! The empirical false match rate gives knots down to FMR = 1e-3 (where a few dozen
//! impostor scores still lie above the threshold); beyond, the impostor tail is taken to be
//! exponential — log FMR linear in the raw score, as it is in the fitted range — and one
//! last knot at raw = 1 extends the least-squares line through the knots from FMR = 1e-1
//! to 1e-3.

/// Knots (raw, calibrated score), raw and score strictly increasing, starting at (0, 0).
pub fn fit(impostor_raw: &[f64]) -> Vec<(f64, f64)> {
    let mut v: Vec<f64> = impostor_raw
        .iter()
        .copied()
        .filter(|r| r.is_finite())
        .collect();
    v.sort_by(|a, b| b.total_cmp(a));
    let n = v.len();
    let mut knots = vec![(0.0, 0.0)];
    if n == 0 {
        knots.push((1.0, 100.0));
        return knots;
    }
    // FMR = 10^(-k/4), k = 0..=12: every quarter decade from 1 to 1e-3.
    let mut tail = Vec::new();
    for k in 0..=12 {
        let score = 2.5 * f64::from(k);
        let fmr = 10f64.powf(-score / 10.0);
        let count = ((fmr * n as f64).ceil() as usize).clamp(1, n);
        let raw = v[count - 1];
        if raw > knots.last().map_or(0.0, |k| k.0) && score > knots.last().map_or(0.0, |k| k.1) {
            knots.push((raw, score));
        }
        if k >= 4 {
            tail.push((raw, score));
        }
    }
    // Least squares through the tail knots: score = a + b * raw.
    let m = tail.len() as f64;
    let (sx, sy) = tail
        .iter()
        .fold((0.0, 0.0), |(sx, sy), (x, y)| (sx + x, sy + y));
    let (mx, my) = (sx / m, sy / m);
    let (sxy, sxx) = tail.iter().fold((0.0, 0.0), |(a, b), (x, y)| {
        (a + (x - mx) * (y - my), b + (x - mx) * (x - mx))
    });
    let slope = if sxx > 0.0 { sxy / sxx } else { 0.0 };
    let (last_raw, last_score) = *knots.last().expect("at least the origin");
    if slope > 0.0 && last_raw < 1.0 {
        knots.push((1.0, last_score + slope * (1.0 - last_raw)));
    }
    knots
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exponential_tail_is_recovered() {
        // FMR(r) = exp(-r / 0.01): score = 10 log10(e) r / 0.01 = 434.3 r.
        let n = 100_000;
        let raw: Vec<f64> = (0..n)
            .map(|i| -0.01 * ((i as f64 + 0.5) / n as f64).ln())
            .collect();
        let knots = fit(&raw);
        assert_eq!(knots[0], (0.0, 0.0));
        for w in knots.windows(2) {
            assert!(w[1].0 > w[0].0 && w[1].1 > w[0].1, "{knots:?}");
        }
        for &(r, s) in &knots[1..] {
            assert!((s - 434.3 * r).abs() < 1.0, "knot ({r}, {s})");
        }
    }
}
