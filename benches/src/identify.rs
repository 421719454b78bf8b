//! The identification harness: FVC fingers enrolled among synthetic ones, searched with
//! their other impressions.

use std::time::Instant;

use daktilo_engine::search::Candidate;
use daktilo_engine::template::FingerPosition;

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

/// The finger positions the FVC sets stand for when the harness makes subjects of several
/// fingers (`identify --subject-fingers K`): set k's prints are finger `SUBJECT_POSITIONS[k]`
/// of a subject, so subject 101 holds DB1_B's finger 101 as its right index, DB2_B's finger
/// 101 as its left index, and so on. The four sets were taken from different people, so
/// such a subject is chimeric; its fingers are as independent as a person's are assumed to
/// be by the score fusion. The order is the one the register captures in (indexes first).
pub const SUBJECT_POSITIONS: [FingerPosition; 4] = [
    FingerPosition::RightIndex,
    FingerPosition::LeftIndex,
    FingerPosition::RightThumb,
    FingerPosition::LeftThumb,
];

/// How many times each impression of a finger is used in the multi-finger searches: each
/// time beside other impressions of the subject's other fingers.
pub const ROTATIONS: usize = 4;

/// The impressions of a subject's multi-finger searches: one list per search, holding for
/// each of the `sets` fingers the impression it is searched with. Rotation 0 takes the same
/// impression of every finger; rotation r takes impression `i + r·k` (cyclically) of finger
/// k, so that each impression of each finger is searched [`ROTATIONS`] times, each time
/// beside other impressions (all different while `impressions` holds more than
/// [`ROTATIONS`] − 1 entries).
pub fn impression_sets(impressions: &[u32], sets: usize) -> Vec<Vec<u32>> {
    let m = impressions.len();
    (0..ROTATIONS)
        .flat_map(|r| {
            (0..m).map(move |i| (0..sets).map(|k| impressions[(i + r * k) % m]).collect())
        })
        .collect()
}

/// One finger of a fused search's candidates, as a search with that finger alone would
/// rank them: (subject, that finger's score), best first, ties to the lower subject.
/// Exact when the search returned every candidate (no `max_results` cut): each probe
/// finger's stages run on their own, and fusion only combines their results.
pub fn finger_alone(candidates: &[Candidate], finger: FingerPosition) -> Vec<(u64, f32)> {
    let mut alone: Vec<(u64, f32)> = candidates
        .iter()
        .filter_map(|c| {
            c.fingers
                .iter()
                .find(|f| f.finger == finger && f.score > 0.0)
                .map(|f| (c.subject, f.score))
        })
        .collect();
    alone.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    alone
}

/// What one kind of ranking (the fused searches, or one finger alone) gave over a run:
/// whether each mated search had its mate at rank 1 and the mate's score, and each
/// non-mated search's best score; rank-1 and FNIR at an FPIR are read from them.
#[derive(Debug, Clone, Default)]
pub struct Outcomes {
    /// Per mated search, in order: the mate at rank 1.
    pub hits: Vec<bool>,
    mates: Vec<Option<f32>>,
    tops: Vec<Option<f32>>,
}

impl Outcomes {
    /// A mated search's ranking, (subject, score) best first, whose mate is `subject`.
    pub fn mated(&mut self, ranked: impl IntoIterator<Item = (u64, f32)>, subject: u64) {
        let mut ranked = ranked.into_iter().peekable();
        self.hits
            .push(ranked.peek().is_some_and(|c| c.0 == subject));
        self.mates
            .push(ranked.find(|c| c.0 == subject).map(|c| c.1));
    }

    /// A non-mated search's ranking, best first.
    pub fn nonmated(&mut self, ranked: impl IntoIterator<Item = (u64, f32)>) {
        self.tops.push(ranked.into_iter().next().map(|c| c.1));
    }

    /// The share of mated searches with the mate at rank 1.
    pub fn rank1(&self) -> f64 {
        self.hits.iter().filter(|&&h| h).count() as f64 / self.hits.len().max(1) as f64
    }

    /// FNIR at a target FPIR ([`fnir_at_fpir`]).
    pub fn fnir(&self, fpir: f64) -> f64 {
        fnir_at_fpir(&self.mates, &self.tops, fpir).0
    }
}

/// Re-ranking sizes the funnel report tries (those up to its depth).
pub const FUNNEL_RERANKS: [usize; 7] = [1000, 2000, 4000, 10_000, 20_000, 50_000, 100_000];

/// Shortlist sizes the funnel report tries.
pub const FUNNEL_SHORTLISTS: [usize; 4] = [100, 200, 500, 1000];

/// Where one mated probe's mate stood in stage 1.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct MateInFunnel {
    /// The probe (set, finger and impression).
    pub probe: String,
    /// The mate's subject.
    pub subject: u64,
    /// Its rank by scan score, from 1; `None` beyond the funnel's depth.
    pub scan_rank: Option<usize>,
    /// Its scan score (0 beyond the depth).
    pub scan: f32,
    /// Its re-ranking score (0 beyond the depth).
    pub geometry: f32,
    /// For each re-ranking size of [`FUNNEL_RERANKS`] within the depth: its rank by the
    /// re-ranking score among the scan's best that many (`None`: not among them).
    pub geometry_ranks: Vec<(usize, Option<usize>)>,
    /// Whether the two-stage search returned it first.
    pub found: bool,
}

impl MateInFunnel {
    /// Reads the mate's place off a scan's best, best first ([`search::stage1_funnel`]);
    /// the subject's best-placed template stands for it.
    ///
    /// [`search::stage1_funnel`]: daktilo_engine::search::stage1_funnel
    pub fn of(
        list: &[daktilo_engine::search::FunnelEntry],
        probe: String,
        subject: u64,
        rerank: usize,
        found: bool,
    ) -> Self {
        let at = list.iter().position(|e| e.subject == subject);
        let (scan, geometry) = at.map_or((0.0, 0.0), |i| (list[i].scan, list[i].geometry));
        let mut sizes: Vec<usize> = FUNNEL_RERANKS
            .iter()
            .copied()
            .chain([rerank])
            .filter(|&r| r <= list.len())
            .collect();
        sizes.sort_unstable();
        sizes.dedup();
        let geometry_ranks = sizes
            .into_iter()
            .map(|r| {
                let rank = at.filter(|&i| i < r).map(|i| {
                    // Ties to the better scan rank (the search breaks them by gallery
                    // position; equal re-ranking scores are rare).
                    1 + list[..r]
                        .iter()
                        .enumerate()
                        .filter(|&(j, e)| {
                            e.geometry > geometry || (e.geometry == geometry && j < i)
                        })
                        .count()
                });
                (r, rank)
            })
            .collect();
        Self {
            probe,
            subject,
            scan_rank: at.map(|i| i + 1),
            scan,
            geometry,
            geometry_ranks,
            found,
        }
    }

    /// Its rank by the re-ranking score among the scan's best `rerank`, where known.
    fn geometry_rank(&self, rerank: usize) -> Option<usize> {
        self.geometry_ranks
            .iter()
            .find(|&&(r, _)| r == rerank)
            .and_then(|&(_, g)| g)
    }

    /// Whether a search re-ranking the scan's best `rerank` and keeping `shortlist` (and
    /// the scan's own best `shortlist / 4`, as the search does) passes it to stage 2.
    pub fn reaches_stage2(&self, rerank: usize, shortlist: usize) -> bool {
        self.scan_rank.is_some_and(|s| s <= shortlist / 4)
            || self.geometry_rank(rerank).is_some_and(|g| g <= shortlist)
            || (rerank <= shortlist && self.scan_rank.is_some_and(|s| s <= shortlist))
    }
}

/// Where the mates of an identification run stood in stage 1.
#[derive(Debug, Clone, serde::Serialize)]
pub struct FunnelReport {
    /// The scan's best this many were followed.
    pub depth: usize,
    /// The run's re-ranking size.
    pub rerank: usize,
    /// The run's shortlist size.
    pub shortlist: usize,
    /// Each mated probe's mate.
    pub mates: Vec<MateInFunnel>,
    /// Mates missed at rank 1, by the stage that lost them: the scan (not among its best
    /// `rerank` nor `shortlist / 4`), the re-ranking (among the scan's best, not passed
    /// on) and the matcher (passed to stage 2 and still not first).
    pub lost_in_scan: usize,
    /// See `lost_in_scan`.
    pub lost_in_reranking: usize,
    /// See `lost_in_scan`.
    pub lost_in_matcher: usize,
    /// (re-ranking size, shortlist size, mates passed to stage 2) for the sizes tried.
    pub reaching_stage2: Vec<(usize, usize, usize)>,
}

impl FunnelReport {
    /// Sums up the mates of a run.
    pub fn new(depth: usize, rerank: usize, shortlist: usize, mates: Vec<MateInFunnel>) -> Self {
        let missed = || mates.iter().filter(|m| !m.found);
        let reached = |m: &MateInFunnel| m.reaches_stage2(rerank, shortlist);
        let lost_in_matcher = missed().filter(|m| reached(m)).count();
        let lost_in_scan = missed()
            .filter(|m| !reached(m) && m.scan_rank.is_none_or(|s| s > rerank.max(shortlist)))
            .count();
        let lost_in_reranking = missed().count() - lost_in_matcher - lost_in_scan;
        let reranks: Vec<usize> = mates
            .first()
            .map(|m| m.geometry_ranks.iter().map(|&(r, _)| r).collect())
            .unwrap_or_default();
        let reaching_stage2 = reranks
            .iter()
            .flat_map(|&r| FUNNEL_SHORTLISTS.iter().map(move |&s| (r, s)))
            .filter(|&(r, s)| r > s)
            .map(|(r, s)| {
                (
                    r,
                    s,
                    mates.iter().filter(|m| m.reaches_stage2(r, s)).count(),
                )
            })
            .collect();
        Self {
            depth,
            rerank,
            shortlist,
            mates,
            lost_in_scan,
            lost_in_reranking,
            lost_in_matcher,
            reaching_stage2,
        }
    }
}

impl std::fmt::Display for FunnelReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.mates.len();
        let within = |k: usize| {
            self.mates
                .iter()
                .filter(|m| m.scan_rank.is_some_and(|s| s <= k))
                .count()
        };
        writeln!(
            f,
            "funnel (the scan's best {} of each mated probe followed):",
            self.depth
        )?;
        let cuts: Vec<String> = [100, 1000, 4000, 10_000, 100_000]
            .into_iter()
            .filter(|&k| k < self.depth)
            .chain([self.depth])
            .map(|k| format!("{} in its best {k}", within(k)))
            .collect();
        writeln!(f, "  mates by scan rank, of {n}: {}", cuts.join(", "))?;
        writeln!(
            f,
            "  missed at rank 1: {} lost in the scan, {} in the re-ranking, {} by the matcher",
            self.lost_in_scan, self.lost_in_reranking, self.lost_in_matcher
        )?;
        for m in self.mates.iter().filter(|m| !m.found) {
            let rank = |r: Option<usize>| r.map_or_else(|| "-".to_string(), |r| r.to_string());
            writeln!(
                f,
                "    {} (mate {}): scan rank {} (score {:.4}), re-ranked {} among the scan's best {} (score {:.4})",
                m.probe,
                m.subject,
                m.scan_rank
                    .map_or_else(|| format!(">{}", self.depth), |r| r.to_string()),
                m.scan,
                rank(m.geometry_rank(self.rerank)),
                self.rerank,
                m.geometry
            )?;
        }
        writeln!(
            f,
            "  mates passed to stage 2 (re-ranked, shortlist: mates):"
        )?;
        let mut line = Vec::new();
        let mut current = None;
        for &(r, s, k) in &self.reaching_stage2 {
            if current.is_some_and(|c| c != r) {
                writeln!(f, "    {}", line.join(", "))?;
                line.clear();
            }
            current = Some(r);
            line.push(format!("{r}, {s}: {k}"));
        }
        if !line.is_empty() {
            writeln!(f, "    {}", line.join(", "))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_impression_is_searched_in_every_rotation_beside_other_impressions() {
        let impressions: Vec<u32> = (2..=8).collect();
        let sets = impression_sets(&impressions, 4);
        assert_eq!(sets.len(), ROTATIONS * impressions.len());
        // Rotation 0 searches one impression of every finger.
        for (i, s) in sets[..impressions.len()].iter().enumerate() {
            assert_eq!(s, &vec![impressions[i]; 4]);
        }
        // No search twice, and every finger's impressions used ROTATIONS times each.
        let distinct: std::collections::BTreeSet<&Vec<u32>> = sets.iter().collect();
        assert_eq!(distinct.len(), sets.len());
        for k in 0..4 {
            for &i in &impressions {
                assert_eq!(sets.iter().filter(|s| s[k] == i).count(), ROTATIONS);
            }
        }
        // Eight impressions (the non-mated searches) too.
        let eight: Vec<u32> = (1..=8).collect();
        let sets = impression_sets(&eight, 4);
        let distinct: std::collections::BTreeSet<&Vec<u32>> = sets.iter().collect();
        assert_eq!(distinct.len(), ROTATIONS * 8);
    }

    #[test]
    fn one_finger_of_a_fused_search_ranks_by_its_own_score() {
        use daktilo_engine::search::FingerScore;
        let score = |finger, score| FingerScore {
            finger,
            template_id: 0,
            score,
        };
        let (ri, li) = (FingerPosition::RightIndex, FingerPosition::LeftIndex);
        let candidates = vec![
            Candidate {
                subject: 7,
                score: 90.0,
                fingers: vec![score(ri, 10.0), score(li, 80.0)],
            },
            Candidate {
                subject: 5,
                score: 40.0,
                fingers: vec![score(ri, 30.0)],
            },
            Candidate {
                subject: 3,
                score: 30.0,
                fingers: vec![score(ri, 30.0), score(li, 0.0)],
            },
        ];
        assert_eq!(
            finger_alone(&candidates, ri),
            vec![(3, 30.0), (5, 30.0), (7, 10.0)]
        );
        // A finger scored 0 is no candidate of that finger.
        assert_eq!(finger_alone(&candidates, li), vec![(7, 80.0)]);
        assert!(finger_alone(&candidates, FingerPosition::RightThumb).is_empty());
    }

    #[test]
    fn outcomes_read_rank1_and_fnir_from_the_rankings() {
        let mut o = Outcomes::default();
        o.mated([(4, 50.0), (9, 20.0)], 4);
        o.mated([(7, 60.0), (9, 25.0)], 9);
        o.mated([], 9);
        for top in [30.0, 10.0, 5.0, 1.0] {
            o.nonmated([(1, top), (2, 0.5)]);
        }
        o.nonmated([]);
        assert_eq!(o.hits, [true, false, false]);
        assert!((o.rank1() - 1.0 / 3.0).abs() < 1e-12);
        // FPIR 0: above 30, only the first mate; FPIR 0.2 (one of five): above 10.
        assert!((o.fnir(0.0) - 2.0 / 3.0).abs() < 1e-12);
        assert!((o.fnir(0.2) - 1.0 / 3.0).abs() < 1e-12);
    }

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
    fn the_funnel_says_which_stage_lost_each_mate() {
        use daktilo_engine::search::FunnelEntry;
        // The scan's best 2,000 (scan scores falling); subject k + 1 at place k. Its
        // re-ranking puts subject 1500 first, and subject 3 last.
        let list: Vec<FunnelEntry> = (0..2000u64)
            .map(|k| FunnelEntry {
                subject: k + 1,
                id: k,
                scan: 1.0 - k as f32 / 4000.0,
                geometry: match k + 1 {
                    1500 => 2.0,
                    3 => 0.0,
                    _ => 1.0 - k as f32 / 4000.0,
                },
            })
            .collect();
        let mate = |subject, found| MateInFunnel::of(&list, "p".into(), subject, 1000, found);
        // Subject 1500: 1500th in the scan, beyond a re-ranking of 1,000; first among
        // the best 2,000 re-ranked.
        let m = mate(1500, false);
        assert_eq!(m.scan_rank, Some(1500));
        assert_eq!(m.geometry_ranks, vec![(1000, None), (2000, Some(1))]);
        assert!(!m.reaches_stage2(1000, 200) && m.reaches_stage2(2000, 100));
        // Subject 3: last after the re-ranking, but among the scan's own best 50.
        let m = mate(3, false);
        assert_eq!(
            m.geometry_ranks,
            vec![(1000, Some(1000)), (2000, Some(2000))]
        );
        assert!(m.reaches_stage2(1000, 200) && !m.reaches_stage2(1000, 8));
        // Subject 600: 600th in the scan; re-ranked, 599th (subject 3 falls behind it),
        // and 600th again when subject 1500 is among those re-ranked.
        let m = mate(600, false);
        assert_eq!(m.geometry_ranks, vec![(1000, Some(599)), (2000, Some(600))]);
        assert!(m.reaches_stage2(1000, 600) && !m.reaches_stage2(1000, 500));
        // Not among the scan's best at all.
        let m = mate(5000, false);
        assert_eq!(m.scan_rank, None);
        assert_eq!(m.geometry_ranks, vec![(1000, None), (2000, None)]);
        let report = FunnelReport::new(
            2000,
            1000,
            200,
            vec![
                mate(1, true),
                mate(3, false),
                mate(600, false),
                mate(1500, false),
                mate(5000, false),
            ],
        );
        // 3 reached stage 2 and was not first (the matcher); 600 was among the scan's
        // best 1,000 and not kept (the re-ranking); 1500 and 5000 were beyond them.
        assert_eq!(
            (
                report.lost_in_scan,
                report.lost_in_reranking,
                report.lost_in_matcher
            ),
            (2, 1, 1)
        );
        assert!(report.reaching_stage2.contains(&(2000, 1000, 4)));
        assert!(report.reaching_stage2.contains(&(1000, 200, 2)));
        let text = report.to_string();
        assert!(text.contains("2 lost in the scan, 1 in the re-ranking, 1 by the matcher"));
        assert!(text.contains("p (mate 5000): scan rank >2000"));
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
