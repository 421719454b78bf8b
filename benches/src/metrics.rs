//! Verification error rates from genuine and impostor scores, as FVC defines them.
//!
//! FMR(t) is the share of impostor scores at or above `t`, FNMR(t) the share of genuine
//! scores below it. The EER follows Maio et al., "FVC2000: Fingerprint Verification
//! Competition" (IEEE TPAMI 24(3), 2002): where the two curves cross between thresholds, the
//! EER is the middle of the interval they leave.

use serde::Serialize;

/// Error rates of one set of comparisons (all rates are fractions, not percentages).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ErrorRates {
    /// Equal error rate.
    pub eer: f64,
    /// Lowest FNMR with FMR <= 1%.
    pub fmr100: f64,
    /// Lowest FNMR with FMR <= 0.1%.
    pub fmr1000: f64,
    /// Lowest FNMR with FMR = 0.
    pub zerofmr: f64,
    /// Number of genuine comparisons.
    pub genuine: usize,
    /// Number of impostor comparisons.
    pub impostor: usize,
}

/// One point of a DET curve: (FMR, FNMR) at a threshold.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DetPoint {
    /// Threshold.
    pub threshold: f64,
    /// False match rate at the threshold.
    pub fmr: f64,
    /// False non-match rate at the threshold.
    pub fnmr: f64,
}

/// FMR and FNMR at every distinct score, thresholds increasing, ending above all scores.
pub fn det_curve(genuine: &[f64], impostor: &[f64]) -> Vec<DetPoint> {
    let mut g: Vec<f64> = genuine.iter().copied().filter(|s| !s.is_nan()).collect();
    let mut i: Vec<f64> = impostor.iter().copied().filter(|s| !s.is_nan()).collect();
    g.sort_by(f64::total_cmp);
    i.sort_by(f64::total_cmp);
    let mut thresholds: Vec<f64> = g.iter().chain(&i).copied().collect();
    thresholds.sort_by(f64::total_cmp);
    thresholds.dedup();
    let top = thresholds.last().copied().unwrap_or(0.0);
    thresholds.push(if top.is_finite() {
        top + 1.0
    } else {
        f64::INFINITY
    });
    let (ng, ni) = (g.len().max(1) as f64, i.len().max(1) as f64);
    thresholds
        .into_iter()
        .map(|t| {
            let below_g = g.partition_point(|&s| s < t);
            let below_i = i.partition_point(|&s| s < t);
            DetPoint {
                threshold: t,
                fmr: (i.len() - below_i) as f64 / ni,
                fnmr: below_g as f64 / ng,
            }
        })
        .collect()
}

/// The FVC error rates.
pub fn error_rates(genuine: &[f64], impostor: &[f64]) -> ErrorRates {
    let curve = det_curve(genuine, impostor);
    let lowest_fnmr = |max_fmr: f64| {
        curve
            .iter()
            .filter(|p| p.fmr <= max_fmr)
            .map(|p| p.fnmr)
            .fold(1.0, f64::min)
    };
    ErrorRates {
        eer: eer(&curve),
        fmr100: lowest_fnmr(0.01),
        fmr1000: lowest_fnmr(0.001),
        zerofmr: lowest_fnmr(0.0),
        genuine: genuine.len(),
        impostor: impostor.len(),
    }
}

fn eer(curve: &[DetPoint]) -> f64 {
    // FMR falls and FNMR rises with the threshold. t1: the last point with FNMR <= FMR;
    // t2: the first with FNMR >= FMR.
    let t1 = curve.iter().rev().find(|p| p.fnmr <= p.fmr);
    let t2 = curve.iter().find(|p| p.fnmr >= p.fmr);
    match (t1, t2) {
        (Some(a), Some(b)) => {
            let (low, high) = if a.fnmr + a.fmr <= b.fmr + b.fnmr {
                (a.fnmr, a.fmr)
            } else {
                (b.fmr, b.fnmr)
            };
            (low + high) / 2.0
        }
        (Some(a), None) => (a.fnmr + a.fmr) / 2.0,
        (None, Some(b)) => (b.fnmr + b.fmr) / 2.0,
        (None, None) => 0.5,
    }
}

/// The 95 % Wilson score interval of a proportion `k / n` (E. B. Wilson, "Probable
/// inference, the law of succession, and statistical inference", JASA 22(158), 1927), as
/// fractions: how far a rate measured on `n` comparisons may lie from the true one. With
/// the 140 genuine pairs of five fingers, 2 and 3 errors (1.43 and 2.14 %) have intervals
/// that overlap almost entirely. `(0, 1)` for `n = 0`.
pub fn wilson_interval(k: usize, n: usize) -> (f64, f64) {
    if n == 0 {
        return (0.0, 1.0);
    }
    let z = 1.959_963_984_540_054f64;
    let (k, n) = (k.min(n) as f64, n as f64);
    let p = k / n;
    let shrink = 1.0 + z * z / n;
    let centre = (p + z * z / (2.0 * n)) / shrink;
    let half = z / shrink * (p * (1.0 - p) / n + z * z / (4.0 * n * n)).sqrt();
    // At k = 0 and k = n the bounds are exactly 0 and 1 (rounding would leave crumbs).
    let low = if k == 0.0 {
        0.0
    } else {
        (centre - half).max(0.0)
    };
    let high = if k == n {
        1.0
    } else {
        (centre + half).min(1.0)
    };
    (low, high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn separated_scores_have_no_errors() {
        let r = error_rates(&[10.0, 11.0, 12.0], &[1.0, 2.0]);
        assert_eq!(
            (r.eer, r.fmr100, r.fmr1000, r.zerofmr),
            (0.0, 0.0, 0.0, 0.0)
        );
        assert_eq!((r.genuine, r.impostor), (3, 2));
    }

    #[test]
    fn one_genuine_below_all_impostors_costs_its_share() {
        // 4 genuine, one of them (0.5) below both impostors (1, 2).
        let r = error_rates(&[0.5, 10.0, 11.0, 12.0], &[1.0, 2.0]);
        assert_eq!(r.zerofmr, 0.25);
        assert_eq!(r.fmr100, 0.25);
        assert!(r.eer > 0.0 && r.eer <= 0.25, "{}", r.eer);
    }

    #[test]
    fn wilson_intervals_match_the_formula_and_stay_in_range() {
        // 3 of 140: 0.73-6.11 % (worked out by hand from Wilson's formula).
        let (low, high) = wilson_interval(3, 140);
        assert!(
            (low - 0.0073).abs() < 5e-5 && (high - 0.0611).abs() < 5e-5,
            "{low} {high}"
        );
        // None of 280: from 0, up to 1.35 %.
        let (low, high) = wilson_interval(0, 280);
        assert_eq!(low, 0.0);
        assert!((high - 0.0135).abs() < 5e-5, "{high}");
        // All of them: up to 1; nothing measured: anything.
        assert_eq!(wilson_interval(10, 10).1, 1.0);
        assert_eq!(wilson_interval(0, 0), (0.0, 1.0));
    }

    #[test]
    fn identical_distributions_give_an_eer_of_a_half() {
        let s: Vec<f64> = (0..100).map(f64::from).collect();
        let r = error_rates(&s, &s);
        assert!((r.eer - 0.5).abs() < 0.02, "{}", r.eer);
        assert_eq!(r.zerofmr, 1.0);
    }
}
