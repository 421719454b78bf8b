//! Calibrated scores: a raw similarity in `[0, 1]` mapped to about −10·log10(FMR), so that
//! a score of 40 means a false match rate of 1 in 10,000 on the data the table was fitted
//! on. See `docs/matching.md` for the fit.

/// A calibrated score: about −10·log10 of the false match rate at which this score would
/// be the threshold. Never NaN; 0 for no similarity.
pub type Score = f32;

/// (raw similarity, calibrated score) knots, increasing in both; linear in between and
/// extrapolated linearly beyond the last knot. Scores up to 30 (FMR 1e-3) are measured;
/// above, they extend the exponential impostor tail seen between FMR 1e-1 and 1e-3.
// Fitted by `daktilo-bench calibrate --source image` on 11520 impostor comparisons (every cross-finger pair) of DB1_B, DB2_B, DB3_B, DB4_B, minutiae and ridge flow.
const KNOTS_FLOW: &[(f32, f32)] = &[
    (0.000000, 0.00),
    (0.000680, 2.50),
    (0.001865, 5.00),
    (0.002644, 7.50),
    (0.003361, 10.00),
    (0.004080, 12.50),
    (0.004904, 15.00),
    (0.005708, 17.50),
    (0.006611, 20.00),
    (0.007523, 22.50),
    (0.008439, 25.00),
    (0.010119, 27.50),
    (0.011689, 30.00),
    (1.000000, 2433.36),
];
// Fitted by `daktilo-bench calibrate --source image` on 11520 impostor comparisons (every cross-finger pair) of DB1_B, DB2_B, DB3_B, DB4_B, minutiae alone.
const KNOTS_MINUTIAE: &[(f32, f32)] = &[
    (0.000000, 0.00),
    (0.005263, 2.50),
    (0.006447, 5.00),
    (0.007476, 7.50),
    (0.008408, 10.00),
    (0.009444, 12.50),
    (0.010585, 15.00),
    (0.011711, 17.50),
    (0.013376, 20.00),
    (0.014911, 22.50),
    (0.016893, 25.00),
    (0.018586, 27.50),
    (0.019777, 30.00),
    (1.000000, 1672.94),
];

/// Maps a raw similarity to a calibrated score: with the table for comparisons of minutiae
/// alone, or for those that compared the ridge flow too (`flow`), whose raw similarities
/// run lower.
pub fn calibrate(raw: f32, flow: bool) -> Score {
    if !raw.is_finite() || raw <= 0.0 {
        return 0.0;
    }
    let knots = if flow { KNOTS_FLOW } else { KNOTS_MINUTIAE };
    let raw = raw.min(1.0);
    let i = knots
        .partition_point(|k| k.0 < raw)
        .clamp(1, knots.len() - 1);
    let ((x0, y0), (x1, y1)) = (knots[i - 1], knots[i]);
    y0 + (y1 - y0) * (raw - x0) / (x1 - x0)
}

/// The score threshold that gives about the wanted false match rate (e.g. `1e-4` -> 40).
/// `fmr` at or below 0 (or NaN) gives an infinite threshold: nothing matches.
pub fn threshold_for_fmr(fmr: f64) -> Score {
    if fmr.is_nan() || fmr <= 0.0 {
        return f32::INFINITY;
    }
    (-10.0 * fmr.min(1.0).log10()) as f32
}

/// The false match rate a score stands for (the inverse of [`threshold_for_fmr`]).
pub fn fmr_for_score(score: Score) -> f64 {
    10f64.powf(-f64::from(score.max(0.0)) / 10.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_is_increasing_and_defined_everywhere() {
        for flow in [false, true] {
            let mut last = -1.0;
            for i in 0..=1000 {
                let s = calibrate(i as f32 / 1000.0, flow);
                assert!(s.is_finite() && s >= last, "raw {i}/1000: {s} after {last}");
                last = s;
            }
            assert_eq!(calibrate(0.0, flow), 0.0);
            assert_eq!(calibrate(f32::NAN, flow), 0.0);
            assert_eq!(calibrate(-1.0, flow), 0.0);
            assert_eq!(calibrate(2.0, flow), calibrate(1.0, flow));
        }
    }

    #[test]
    fn thresholds_are_minus_ten_log10_fmr() {
        assert!((threshold_for_fmr(1e-4) - 40.0).abs() < 1e-4);
        assert!((threshold_for_fmr(0.01) - 20.0).abs() < 1e-4);
        assert_eq!(threshold_for_fmr(0.0), f32::INFINITY);
        assert!((fmr_for_score(30.0) - 1e-3).abs() < 1e-9);
    }
}
