//! Calibrated scores: a raw similarity in `[0, 1]` mapped to about −10·log10(FMR), so that
//! a score of 40 means a false match rate of 1 in 10,000 on the data the table was fitted
//! on. See `docs/matching.md` for the fit.

// The tables, written by `daktilo-bench calibrate --out`.
include!("calibration_tables.rs");

/// A calibrated score: about −10·log10 of the false match rate at which this score would
/// be the threshold. Never NaN; 0 for no similarity.
pub type Score = f32;

/// One calibration table: (raw similarity, calibrated score) knots, increasing in both,
/// for comparisons whose smaller template holds `minutiae` minutiae; linear between knots
/// and extrapolated linearly beyond the last. Scores up to 30 (FMR 1e-3) are measured;
/// above, they extend the exponential impostor tail seen between FMR 1e-1 and 1e-3.
#[derive(Debug, Clone, Copy)]
struct Table {
    /// Minutiae of the smaller of the two templates the table was fitted for.
    minutiae: u16,
    /// The knots, from (0, 0).
    knots: &'static [(f32, f32)],
}

/// Maps a raw similarity to a calibrated score: with the tables for comparisons of minutiae
/// alone, or for those that compared the ridge flow too (`flow`), whose raw similarities
/// run lower; `smaller` is the number of minutiae of the smaller template. A small
/// template fits somewhere on many large ones, so the same raw similarity is much more
/// common among impostors when one side is small (docs/matching.md, "By the size of the
/// smaller template"):
/// each kind has a table per size of the smaller template, fitted on impostor pairs with
/// one side cut down to that size, and the score is interpolated between the two tables
/// whose sizes bracket `smaller` (below the first, the first; above the last, the last).
pub fn calibrate(raw: f32, flow: bool, smaller: usize) -> Score {
    if !raw.is_finite() || raw <= 0.0 {
        return 0.0;
    }
    let tables = if flow { TABLES_FLOW } else { TABLES_MINUTIAE };
    let raw = raw.min(1.0);
    let i = tables.partition_point(|t| usize::from(t.minutiae) < smaller);
    let Some(above) = tables.get(i) else {
        return on(tables[tables.len() - 1].knots, raw);
    };
    if i == 0 || usize::from(above.minutiae) == smaller {
        return on(above.knots, raw);
    }
    let below = tables[i - 1];
    let t =
        (smaller - usize::from(below.minutiae)) as f32 / f32::from(above.minutiae - below.minutiae);
    let (a, b) = (on(below.knots, raw), on(above.knots, raw));
    a + (b - a) * t
}

/// The piecewise-linear map of one table.
fn on(knots: &[(f32, f32)], raw: f32) -> Score {
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
            for smaller in [0, 1, 3, 4, 5, 11, 12, 13, 25, 26, 40, 255, usize::MAX] {
                let mut last = -1.0;
                for i in 0..=1000 {
                    let s = calibrate(i as f32 / 1000.0, flow, smaller);
                    assert!(
                        s.is_finite() && s >= last,
                        "{smaller} minutiae, raw {i}/1000: {s} after {last}"
                    );
                    last = s;
                }
                assert_eq!(calibrate(0.0, flow, smaller), 0.0);
                assert_eq!(calibrate(f32::NAN, flow, smaller), 0.0);
                assert_eq!(calibrate(-1.0, flow, smaller), 0.0);
                assert_eq!(calibrate(2.0, flow, smaller), calibrate(1.0, flow, smaller));
            }
        }
    }

    #[test]
    fn tables_run_from_small_to_large_templates_and_sizes_between_them_interpolate() {
        for tables in [TABLES_FLOW, TABLES_MINUTIAE] {
            assert!(tables.len() >= 2);
            for w in tables.windows(2) {
                assert!(w[0].minutiae < w[1].minutiae);
            }
            for t in tables {
                assert_eq!(t.knots[0], (0.0, 0.0));
                for w in t.knots.windows(2) {
                    assert!(w[1].0 > w[0].0 && w[1].1 > w[0].1, "{t:?}");
                }
            }
        }
        let flow = true;
        let (a, b) = (TABLES_FLOW[0], TABLES_FLOW[1]);
        let raw = 0.01;
        let (sa, sb) = (on(a.knots, raw), on(b.knots, raw));
        assert_eq!(calibrate(raw, flow, usize::from(a.minutiae)), sa);
        assert_eq!(calibrate(raw, flow, 0), sa);
        assert_eq!(calibrate(raw, flow, usize::from(b.minutiae)), sb);
        let mid = usize::from(a.minutiae + b.minutiae) / 2;
        let t = (mid - usize::from(a.minutiae)) as f32 / f32::from(b.minutiae - a.minutiae);
        assert!((calibrate(raw, flow, mid) - (sa + (sb - sa) * t)).abs() < 1e-4);
        let last = TABLES_FLOW[TABLES_FLOW.len() - 1];
        assert_eq!(calibrate(raw, flow, 1000), on(last.knots, raw));
    }

    #[test]
    fn thresholds_are_minus_ten_log10_fmr() {
        assert!((threshold_for_fmr(1e-4) - 40.0).abs() < 1e-4);
        assert!((threshold_for_fmr(0.01) - 20.0).abs() < 1e-4);
        assert_eq!(threshold_for_fmr(0.0), f32::INFINITY);
        assert!((fmr_for_score(30.0) - 1e-3).abs() < 1e-9);
    }
}
