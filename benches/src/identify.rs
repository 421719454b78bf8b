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

/// A buffer much larger than the caches (1 GiB) that all rayon threads read, to measure
/// this machine's memory read bandwidth: the physical limit of a scan.
///
/// On the shared machines this project runs on, the reading is not one number: it sits
/// at one level for a while and then at another (43–50 GB/s, then 66–80 GB/s seconds
/// later, docs/search.md), with whatever else the host runs. The harness therefore takes
/// a reading after every stage-1 scan and compares stage 1 with the best of them.
pub struct BandwidthGauge {
    buffer: Vec<u64>,
}

impl BandwidthGauge {
    /// Allocates and fills the buffer (every page touched, so that no reading counts page
    /// faults).
    pub fn new() -> Self {
        use rayon::prelude::*;
        let words = 1usize << 27; // 1 GiB
        let buffer = (0..words as u64)
            .into_par_iter()
            .map(|i| i.wrapping_mul(0x9e37_79b9))
            .collect();
        Self { buffer }
    }

    /// One pass over the buffer by all rayon threads: bytes per second.
    pub fn read(&self) -> f64 {
        use rayon::prelude::*;
        let started = Instant::now();
        let sum: u64 = self
            .buffer
            .par_chunks(1 << 16)
            .map(|c| c.iter().fold(0u64, |a, &b| a ^ b))
            .reduce(|| 0, |a, b| a ^ b);
        let seconds = started.elapsed().as_secs_f64();
        std::hint::black_box(sum);
        (self.buffer.len() * 8) as f64 / seconds
    }
}

impl Default for BandwidthGauge {
    fn default() -> Self {
        Self::new()
    }
}

/// Stage-1 scans set beside bandwidth readings taken between them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScanAgainstBandwidth {
    /// The best reading, bytes per second: the limit stage 1 is compared with.
    pub best: f64,
    /// The lowest and the median reading.
    pub lowest: f64,
    pub median: f64,
    /// Each scan's rate against the reading taken right after it, the median over scans:
    /// the comparison under the same conditions on the host.
    pub paired_fraction: f64,
}

/// Sets scans of `bytes` each (their `seconds`, in order) beside `readings` (bytes per
/// second): reading `k + 1` was taken right after scan `k` (reading 0 before the first
/// scan). `None` without readings.
pub fn scan_against_bandwidth(
    bytes: f64,
    seconds: &[f64],
    readings: &[f64],
) -> Option<ScanAgainstBandwidth> {
    let best = readings.iter().copied().fold(f64::NAN, f64::max);
    if !best.is_finite() || best <= 0.0 {
        return None;
    }
    let paired: Vec<f64> = seconds
        .iter()
        .zip(readings.iter().skip(1))
        .filter(|&(&seconds, &reading)| seconds > 0.0 && reading > 0.0)
        .map(|(&seconds, &reading)| bytes / seconds / reading)
        .collect();
    Some(ScanAgainstBandwidth {
        best,
        lowest: readings.iter().copied().fold(f64::INFINITY, f64::min),
        median: percentile(readings, 50.0),
        paired_fraction: percentile(&paired, 50.0),
    })
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

    #[test]
    fn scans_are_set_beside_the_best_reading_and_the_one_after_each() {
        // Two levels of bandwidth: 50 and 80 (bytes per second, scaled down).
        let readings = [50.0, 50.0, 80.0, 80.0];
        // Three scans of 30 bytes in 1 s: each at 30 per second.
        let scans = [1.0, 1.0, 1.0];
        let r = scan_against_bandwidth(30.0, &scans, &readings).unwrap();
        assert_eq!(r.best, 80.0);
        assert_eq!(r.lowest, 50.0);
        assert_eq!(r.median, 50.0);
        // Against the reading after each: 30/50, 30/80, 30/80; the median 30/80.
        assert_eq!(r.paired_fraction, 30.0 / 80.0);
        // A scan of no time is not set beside anything; no readings, no comparison.
        let r = scan_against_bandwidth(30.0, &[0.0, 1.0], &[50.0, 50.0, 60.0]).unwrap();
        assert_eq!(r.paired_fraction, 0.5);
        assert!(scan_against_bandwidth(30.0, &scans, &[]).is_none());
    }
}
