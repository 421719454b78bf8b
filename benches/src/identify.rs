//! The identification harness: FVC fingers enrolled among synthetic ones, searched with
//! their other impressions.

use std::time::Instant;

/// Resident memory of this process, bytes (Linux; 0 elsewhere).
pub fn resident_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/statm")
        .ok()
        .and_then(|s| {
            s.split_whitespace()
                .nth(1)
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|pages| pages * 4096)
        .unwrap_or(0)
}

/// Measures this machine's memory read bandwidth with all rayon threads reading a buffer
/// much larger than the caches; the best of three runs, bytes per second.
pub fn read_bandwidth() -> f64 {
    use rayon::prelude::*;
    let words = 1usize << 27; // 1 GiB
    let buffer: Vec<u64> = (0..words as u64)
        .into_par_iter()
        .map(|i| i.wrapping_mul(0x9e37_79b9))
        .collect();
    let mut best = 0.0f64;
    for _ in 0..3 {
        let started = Instant::now();
        let sum: u64 = buffer
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &b| a ^ b))
            .reduce(|| 0, |a, b| a ^ b);
        let seconds = started.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        best = best.max((words * 8) as f64 / seconds);
    }
    best
}

/// A percentile of samples (nearest rank), or 0 for none.
pub fn percentile(samples: &[f64], p: f64) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * s.len() as f64).ceil().max(1.0) as usize;
    s[rank.min(s.len()) - 1]
}

/// FNIR at a target FPIR: the threshold is the lowest score that no more than `fpir` of
/// the non-mated searches reach with their best candidate; FNIR is the share of mated
/// searches whose mate is not returned at or above it. Returns (FNIR, threshold).
pub fn fnir_at_fpir(
    mated_mate_scores: &[Option<f32>],
    nonmated_top: &[Option<f32>],
    fpir: f64,
) -> (f64, f32) {
    let mut tops: Vec<f32> = nonmated_top
        .iter()
        .map(|s| s.unwrap_or(f32::NEG_INFINITY))
        .collect();
    tops.sort_by(|a, b| b.total_cmp(a));
    let allowed = (fpir * tops.len() as f64).floor() as usize;
    // Above the (allowed+1)-th highest non-mated score.
    let threshold = tops
        .get(allowed)
        .map(|&t| {
            if t.is_finite() {
                t + 1e-3
            } else {
                f32::NEG_INFINITY
            }
        })
        .unwrap_or(f32::NEG_INFINITY);
    let misses = mated_mate_scores
        .iter()
        .filter(|s| s.is_none_or(|v| v < threshold))
        .count();
    (
        misses as f64 / mated_mate_scores.len().max(1) as f64,
        threshold,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnir_counts_mates_below_the_fpir_threshold() {
        let nonmated = [Some(10.0), Some(20.0), Some(30.0), None];
        let mated = [Some(25.0), Some(35.0), None, Some(31.0)];
        // FPIR 25 %: one non-mated search may pass: threshold just above 20.
        let (fnir, t) = fnir_at_fpir(&mated, &nonmated, 0.25);
        assert!((t - 20.001).abs() < 1e-3);
        assert_eq!(fnir, 0.25);
        // FPIR 0: above 30.
        let (fnir, _) = fnir_at_fpir(&mated, &nonmated, 0.0);
        assert_eq!(fnir, 0.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 99.0), 4.0);
    }
}
