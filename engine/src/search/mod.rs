//! 1:N search over a gallery, in two stages.
//!
//! Stage 1 scans the fixed-size feature of every live template ([`feature`], 1 KB of
//! cylinder codes; a large template's further rows too, each leading to it) — contiguous
//! in the memory-mapped segments — with AND, POPCNT and f32 maxima, in parallel over
//! blocks of entries (rayon), compiled for AVX2, AVX-512, NEON and
//! the baseline with runtime dispatch, plus a kernel written for AVX-512 that compares
//! each gallery code with the probe codes of its direction sector only
//! (`feature::avx512`); every build computes the same values, so the results are
//! identical. Its best are re-ranked geometrically; stage 2 runs the 1:1 matcher on
//! the best few hundred and returns calibrated scores, fused per subject over the probe's
//! fingers.

pub mod feature;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use rayon::prelude::*;

use crate::gallery::segment::Segment;
use crate::gallery::{MemEntry, Snapshot};
use crate::matching::{self, PreparedTemplate, Score};
use crate::template::native::NativeRecord;
use crate::template::{FingerPosition, Template};
use feature::{FEATURE_BYTES, ProbeFeature};

/// One finger of a search probe.
#[derive(Debug, Clone)]
pub struct ProbeFinger {
    /// Where the finger sits; `Unknown` searches every position.
    pub finger: FingerPosition,
    /// Its template.
    pub template: Template,
}

/// How to search.
#[derive(Debug, Clone)]
pub struct SearchOptions {
    /// At most this many candidates (subjects) are returned.
    pub max_results: usize,
    /// Only candidates whose fused score reaches this are returned.
    pub threshold: Option<Score>,
    /// Or: the threshold that gives about this false positive identification rate on
    /// this gallery (the stricter of the two applies when both are given).
    pub target_fpir: Option<f64>,
    /// The subjects the gallery holds, over which `target_fpir` is spread (a fused score
    /// is calibrated per subject). Where it is not given, the live templates stand for
    /// them: exact when every subject has one template, a safe over-estimate otherwise
    /// (ten times too strict for ten-print subjects). A search restricted to `subjects`
    /// spreads it over those.
    pub population: Option<usize>,
    /// Search only these subjects.
    pub subjects: Option<HashSet<u64>>,
    /// Leave these subjects out (the probe's own subject, when searching with it).
    pub exclude: HashSet<u64>,
    /// Use only these of the probe's fingers.
    pub fingers: Option<Vec<FingerPosition>>,
    /// Templates per probe finger that stage 1 passes to stage 2.
    pub shortlist: usize,
    /// Templates per probe finger that the scan passes to the geometric re-ranking
    /// ([`feature::consistent_score`]), which keeps `shortlist` of them for stage 2; at
    /// most `shortlist`: no re-ranking.
    pub rerank: usize,
    /// Or this share of the templates a probe finger is scanned against (those of its
    /// finger position, or all), where that is more: the scan's misses grow with the
    /// gallery, so a fixed re-ranking loses more mates in a larger one.
    pub rerank_share: f64,
    /// Skip stage 1: compare every template with the matcher (slow; for measuring what
    /// stage 1 costs in accuracy).
    pub exhaustive: bool,
}

impl Default for SearchOptions {
    fn default() -> Self {
        Self {
            max_results: 20,
            threshold: None,
            target_fpir: None,
            population: None,
            subjects: None,
            exclude: HashSet::new(),
            fingers: None,
            shortlist: 200,
            rerank: 4000,
            rerank_share: 0.01,
            exhaustive: false,
        }
    }
}

impl SearchOptions {
    /// Templates the scan passes to the re-ranking for a probe finger scanned against
    /// `scanned` templates: `rerank`, or `rerank_share` of them where that is more.
    pub fn rerank_for(&self, scanned: usize) -> usize {
        // `as` saturates, and a NaN share gives 0.
        let share = (self.rerank_share * scanned as f64).ceil() as usize;
        self.rerank.max(share)
    }
}

/// One finger's score within a candidate.
#[derive(Debug, Clone, PartialEq)]
pub struct FingerScore {
    /// The probe finger.
    pub finger: FingerPosition,
    /// The gallery template that scored best for it.
    pub template_id: u64,
    /// Its calibrated score.
    pub score: Score,
}

/// A candidate subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// The subject.
    pub subject: u64,
    /// The per-finger scores fused by [`fuse`]: calibrated like a single finger's.
    pub score: Score,
    /// The per-finger scores, in probe order.
    pub fingers: Vec<FingerScore>,
}

/// Why a search failed.
#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    /// A probe finger could not be prepared.
    #[error("probe finger {0:?}: {1}")]
    Probe(FingerPosition, matching::MatchError),
    /// No probe finger is left to search with.
    #[error("the probe has no finger to search with (after the finger selection)")]
    NoFinger,
}

/// Fuses the calibrated scores of independent fingers into one calibrated score.
///
/// The product of the fingers' false match rates is not itself a false match rate (with
/// ten fingers, impostors multiply many small chances); Fisher's method gives the chance
/// that `fingers` impostor comparisons reach a product this small:
/// `P = t * sum_{k<n} ln(1/t)^k / k!`, with `t` the product. Fingers that were not scored
/// count with FMR 1. One finger keeps its score.
pub fn fuse(scores: &[Score], fingers: usize) -> Score {
    let n = fingers.max(scores.len()).max(1);
    // ln(1/t) from the scores: score = -10 log10(fmr).
    let ln_inv_t: f64 = scores
        .iter()
        .map(|&s| f64::from(s.max(0.0)) * std::f64::consts::LN_10 / 10.0)
        .sum();
    // log of the sum, in a stable way: terms x^k / k!.
    let mut term = 1.0f64;
    let mut sum = 1.0f64;
    for k in 1..n {
        term *= ln_inv_t / k as f64;
        sum += term;
    }
    let ln_p = (-ln_inv_t + sum.ln()).min(0.0);
    (-10.0 * ln_p / std::f64::consts::LN_10) as Score
}

/// The gallery-side feature of a template (for [`crate::gallery::NewEntry::feature`]):
/// its stage-1 rows back to back ([`feature::gallery_rows`]; one row, or several for a
/// large template). A template that cannot be prepared gets one empty row, which matches
/// nothing.
pub fn gallery_feature(template: &Template) -> Vec<u8> {
    match matching::prepare(template) {
        Ok(p) => feature::gallery_rows(&p),
        Err(_) => vec![0; FEATURE_BYTES],
    }
}

/// The gallery-side feature of a stored (native) template, for rebuilding a gallery's
/// features ([`crate::gallery::Gallery::rebuild_features`]); a template that does not
/// decode gets one empty row, which matches nothing.
pub fn gallery_feature_of_stored(bytes: &[u8]) -> Vec<u8> {
    match stored_template(bytes) {
        Some(t) => gallery_feature(&t),
        None => vec![0; FEATURE_BYTES],
    }
}

/// The template a gallery entry stores (native format, one view); `None` where it does not
/// decode (checked when appended and protected by checksums, so not expected).
pub fn stored_template(bytes: &[u8]) -> Option<Template> {
    NativeRecord::parse(bytes)
        .ok()
        .and_then(|r| r.views().next().map(|v| v.to_template()))
}

/// A shortlisted entry: stage-1 score and where to find it.
#[derive(Debug, Clone, Copy)]
struct Hit {
    score: f32,
    /// The segment (`usize::MAX`: the memtable).
    segment: usize,
    /// The entry.
    index: usize,
    /// The row that scored: 0 its feature; `1 + j` a further row, `j` counted among the
    /// segment's further rows ([`Segment::extra_feature`]) or, in the memtable, among the
    /// entry's own.
    row: usize,
}

impl Hit {
    /// The template the hit leads to.
    fn template(&self) -> (usize, usize) {
        (self.segment, self.index)
    }
}

/// Keeps each template's best hit only (a large template has several rows, and more than
/// one may be among the best), best first.
fn one_per_template(hits: &mut Vec<Hit>) {
    hits.sort_by(best_first);
    let mut seen = HashSet::with_capacity(hits.len());
    hits.retain(|h| seen.insert(h.template()));
}

/// The feature row a hit scored with.
fn row_of<'a>(snapshot: &'a Snapshot, mem: &[&'a MemEntry], h: &Hit) -> &'a [u8] {
    if h.segment == usize::MAX {
        let e = mem[h.index];
        match h.row {
            0 => &e.feature,
            r => &e.extra[(r - 1) * FEATURE_BYTES..r * FEATURE_BYTES],
        }
    } else {
        let s = &snapshot.segments[h.segment];
        match h.row {
            0 => s.feature(h.index),
            r => s.extra_feature(r - 1),
        }
    }
}

/// Keeps the `k` best hits: highest score first, ties to the earlier entry, so that which
/// of several equal scores make the cut does not depend on how the parallel scan split
/// its work (the same search gives the same answer every time).
fn keep_best(hits: &mut Vec<Hit>, k: usize) {
    if k == 0 {
        hits.clear();
    } else if hits.len() > k {
        hits.select_nth_unstable_by(k - 1, best_first);
        hits.truncate(k);
    }
}

/// Hits one thread re-ranks in a row, fetching the features of those `RERANK_AHEAD`
/// places on from memory while it scores one.
const RERANK_CHUNK: usize = 64;
/// See `RERANK_CHUNK`.
const RERANK_AHEAD: usize = 2;

/// The geometric re-ranking: each hit's score becomes its feature's
/// [`feature::consistent_score`]. The scan's best lie scattered over the gallery, so each
/// feature is asked of memory ahead of its turn instead of waiting for its cache lines one
/// at a time.
fn rerank<'a>(
    hits: &mut [Hit],
    probe: &ProbeFeature,
    feature_of: impl Fn(&Hit) -> &'a [u8] + Sync,
) {
    hits.par_chunks_mut(RERANK_CHUNK).for_each(|chunk| {
        let features: Vec<&[u8]> = chunk.iter().map(&feature_of).collect();
        #[cfg(target_arch = "x86_64")]
        let ahead = |i: usize| features.get(i).copied();
        #[cfg(target_arch = "x86_64")]
        for i in 0..RERANK_AHEAD {
            feature::prefetch_ahead(&ahead, i, 0, features.len());
        }
        for (i, h) in chunk.iter_mut().enumerate() {
            #[cfg(target_arch = "x86_64")]
            feature::prefetch_ahead(&ahead, i, RERANK_AHEAD, features.len());
            h.score = rescore(probe, features[i]);
        }
    });
}

/// The order of hits: highest score first, ties to the earlier entry.
fn best_first(a: &Hit, b: &Hit) -> std::cmp::Ordering {
    b.score
        .total_cmp(&a.score)
        .then(a.segment.cmp(&b.segment))
        .then(a.index.cmp(&b.index))
        .then(a.row.cmp(&b.row))
}

/// Scores the features `wanted` marks (all when it is empty); the others get 0.
#[inline(always)]
fn scan_into(probe: &ProbeFeature, features: &[u8], wanted: &[bool], out: &mut Vec<f32>) {
    // An index loop, not an iterator chain: see `feature::score`.
    let n = features.len() / FEATURE_BYTES;
    out.clear();
    out.resize(n, 0.0);
    for i in 0..n {
        if wanted.is_empty() || wanted[i] {
            let f = &features[i * FEATURE_BYTES..(i + 1) * FEATURE_BYTES];
            // On x86-64 without the AVX-512 scan, each pair of codes costs scalar bit
            // counts: only the pairs within the direction window are worth counting (half
            // the time of every lane, measured). Elsewhere every lane, as vectors.
            #[cfg(target_arch = "x86_64")]
            {
                out[i] = feature::score_by_direction(probe, f);
            }
            #[cfg(not(target_arch = "x86_64"))]
            {
                out[i] = feature::score(probe, f);
            }
        }
    }
}

/// Stage-1 scores of a block of contiguous features, written into `out`. Dispatched at run
/// time (through the private `scan_block_where`); integer bit counts and IEEE-rounded f32
/// arithmetic in a fixed order make every version's results identical.
pub fn scan_block(probe: &ProbeFeature, features: &[u8], out: &mut Vec<f32>) {
    scan_block_where(probe, features, &[], f32::NEG_INFINITY, out)
}

/// [`scan_block`] for the entries `wanted` marks only (one flag per feature; empty: all):
/// the others, of another finger position, another subject or deleted, are not scored
/// (0). The scan costs hundreds of code comparisons per entry, so a ten-finger gallery
/// searched with a probe of known position is scanned about ten times faster this way.
/// The AVX-512 scan where the processor has its instructions, else the AVX2 one, else the
/// compiled versions of the portable one.
///
/// An entry whose score cannot reach `bar` may get a value below the bar instead (the
/// AVX-512 and AVX2 scans do not finish those; ranking the others is all the caller needs).
fn scan_block_where(
    probe: &ProbeFeature,
    features: &[u8],
    wanted: &[bool],
    bar: f32,
    out: &mut Vec<f32>,
) {
    #[cfg(target_arch = "x86_64")]
    if feature::avx512::try_scan_block(probe, features, wanted, bar, out)
        || feature::avx2::try_scan_block(probe, features, wanted, bar, out)
    {
        return;
    }
    // The portable scan scores every entry exactly; the bar only lets the x86-64 ones skip.
    let _ = bar;
    scan_block_portable(probe, features, wanted, out)
}

/// Stage-1 scores of separately stored features (the memtable's), dispatched as
/// [`scan_block_where`] is.
fn scan_separate(probe: &ProbeFeature, features: &[&[u8]], out: &mut Vec<f32>) {
    #[cfg(target_arch = "x86_64")]
    if feature::avx512::try_scan_separate(probe, features, out)
        || feature::avx2::try_scan_separate(probe, features, out)
    {
        return;
    }
    scan_separate_portable(probe, features, out)
}

/// Which stage-1 kernel this processor runs: "AVX-512 sectors" (AVX-512 with VPOPCNTQ;
/// probes whose codes do not fit the sectors take its all-lanes kernel), "AVX2 direction
/// runs", or "portable" (the compiler's builds for the other instruction sets).
pub fn scan_kernel() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if feature::avx512::available() {
            return "AVX-512 sectors";
        }
        if feature::avx2::available() {
            return "AVX2 direction runs";
        }
    }
    "portable"
}

/// The same scan without dispatch (the baseline build), for checking that dispatch
/// changes nothing.
pub fn scan_block_baseline(probe: &ProbeFeature, features: &[u8], out: &mut Vec<f32>) {
    scan_into(probe, features, &[], out)
}

/// [`scan_block`] through the AVX2 scan even on a processor that would run the AVX-512
/// one, for comparing the two kernels on one machine (the search bench); `false`, with
/// nothing written, where the processor lacks AVX2.
#[doc(hidden)]
#[cfg(target_arch = "x86_64")]
pub fn scan_block_avx2(probe: &ProbeFeature, features: &[u8], out: &mut Vec<f32>) -> bool {
    feature::avx2::try_scan_block(probe, features, &[], f32::NEG_INFINITY, out)
}

/// Compiles each function it wraps for the instruction sets the scans use, dispatched at
/// run time on the CPU found: one list of targets for every scan.
macro_rules! dispatched {
    ($($item:item)*) => {$(
        #[allow(unsafe_code)]
        #[multiversion::multiversion(targets(
            "x86_64+avx512f+avx512bw+avx512vl+avx512vpopcntdq+popcnt",
            "x86_64+avx512f+avx512bw+avx512vl+popcnt",
            "x86_64+avx2+popcnt",
            "x86_64+popcnt",
            "aarch64+neon"
        ))]
        $item
    )*};
}

dispatched! {
    /// [`scan_block_where`] without the AVX-512 scan.
    fn scan_block_portable(
        probe: &ProbeFeature,
        features: &[u8],
        wanted: &[bool],
        out: &mut Vec<f32>,
    ) {
        scan_into(probe, features, wanted, out)
    }

    /// [`feature::consistent_score`] of a shortlisted feature (the geometric re-ranking),
    /// dispatched at run time like the scan; identical results on every build.
    pub fn rescore(probe: &ProbeFeature, feature: &[u8]) -> f32 {
        feature::consistent_score(probe, feature)
    }

    /// [`scan_separate`] without the AVX-512 scan.
    fn scan_separate_portable(probe: &ProbeFeature, features: &[&[u8]], out: &mut Vec<f32>) {
        out.clear();
        out.resize(features.len(), 0.0);
        for i in 0..features.len() {
            out[i] = feature::score(probe, features[i]);
        }
    }
}

/// With re-ranking, the scan's best `shortlist / SCAN_KEEPS` go to the matcher as well.
const SCAN_KEEPS: usize = 4;

/// Entries scanned per parallel task.
const BLOCK: usize = 8192;

/// The best hits a worker has seen: every hit at least as good as the bar, the `k`-th best
/// so far (its own, or a higher one another worker reached: [`SharedBar`]). Hits are
/// appended while they reach that bar, and when twice `k` have gathered the `k` best are
/// kept and the bar rises to the `k`-th: most entries are turned away by one comparison,
/// instead of every block's hits being collected and sorted out.
struct Best {
    k: usize,
    hits: Vec<Hit>,
    bar: f32,
}

impl Best {
    fn new(k: usize) -> Self {
        Self {
            k,
            hits: Vec::with_capacity(2 * k + 1),
            bar: f32::NEG_INFINITY,
        }
    }

    /// Offers a hit. One equal to the bar is kept: ties are broken by position in
    /// [`keep_best`], not by arrival.
    #[inline]
    fn offer(&mut self, hit: Hit) {
        if hit.score >= self.bar {
            self.hits.push(hit);
            if self.hits.len() >= 2 * self.k.max(1) {
                self.prune();
            }
        }
    }

    fn prune(&mut self) {
        keep_best(&mut self.hits, self.k);
        if self.hits.len() == self.k {
            // Never below a bar taken from another worker ([`SharedBar`]).
            self.bar = self.bar.max(
                self.hits
                    .iter()
                    .map(|h| h.score)
                    .fold(f32::INFINITY, f32::min),
            );
        }
    }

    fn merge(mut self, other: Self) -> Self {
        for h in other.hits {
            self.offer(h);
        }
        self
    }

    fn into_hits(mut self) -> Vec<Hit> {
        self.prune();
        self.hits
    }
}

/// The highest bar any of the scan's workers has reached, for all of them: a worker's
/// `k`-th best is never above the whole scan's, so a hit below any worker's bar cannot be
/// among the best `k`, and every worker may turn it away. Without it each worker (then one
/// per piece rayon split the blocks into; now one per thread) started its own best `k`
/// from nothing: it kept its first `2k` hits, had the kernel work out the mean of every
/// feature it met until then, and pruned and merged them later: at a million templates,
/// the scan with the shared bar took about 0.94 of the time (docs/search.md). Held as the
/// score's bits mapped to an unsigned order, so that one atomic maximum raises it.
struct SharedBar(AtomicU32);

impl SharedBar {
    fn new() -> Self {
        Self(AtomicU32::new(Self::order(f32::NEG_INFINITY)))
    }

    /// `v`'s place in the order of f32 values as an unsigned integer (−0 just below +0;
    /// no score is NaN).
    fn order(v: f32) -> u32 {
        let bits = v.to_bits();
        if bits >> 31 == 1 {
            !bits
        } else {
            bits | 1 << 31
        }
    }

    /// The value at place `order` ([`Self::order`]'s inverse).
    fn value(order: u32) -> f32 {
        f32::from_bits(if order >> 31 == 1 {
            order & !(1 << 31)
        } else {
            !order
        })
    }

    fn get(&self) -> f32 {
        Self::value(self.0.load(Ordering::Relaxed))
    }

    fn raise(&self, bar: f32) {
        self.0.fetch_max(Self::order(bar), Ordering::Relaxed);
    }
}

/// Which segment entries a search considers (segment, index).
type Wanted<'a> = &'a (dyn Fn(&Segment, usize) -> bool + Sync);

/// Stage 1 over the segments: blocks of entries scanned in parallel, each worker keeping
/// the best `shortlist` among the entries `wanted` accepts (segment, index; none: every
/// entry, and no flags are built), merged. Further rows are scanned as blocks of their
/// own, each hit leading to its entry (so one template may hold several places).
fn segment_hits(
    snapshot: &Snapshot,
    probe: &ProbeFeature,
    shortlist: usize,
    wanted: Option<Wanted<'_>>,
) -> Vec<Hit> {
    // (segment, first row, further rows?)
    let blocks: Vec<(usize, usize, bool)> = snapshot
        .segments
        .iter()
        .enumerate()
        .flat_map(|(si, s)| {
            let main = (0..s.len())
                .step_by(BLOCK)
                .map(move |start| (si, start, false));
            let extra = (0..s.extra_len())
                .step_by(BLOCK)
                .map(move |start| (si, start, true));
            main.chain(extra)
        })
        .collect();
    let shared = SharedBar::new();
    // One worker per thread, each taking the next block until none is left, so that
    // there is one best `shortlist` per thread, not one per piece rayon splits the
    // blocks into (each had its buffer to allocate and fill, and its hits to merge).
    let next = AtomicUsize::new(0);
    let take = || blocks.get(next.fetch_add(1, Ordering::Relaxed));
    let workers = rayon::current_num_threads().clamp(1, blocks.len().max(1));
    (0..workers)
        .into_par_iter()
        .map(|_| {
            let mut best = Best::new(shortlist);
            let (mut scores, mut mask, mut owners) = (Vec::new(), Vec::new(), Vec::new());
            while let Some(&(si, start, extra)) = take() {
                best.bar = best.bar.max(shared.get());
                let s = &snapshot.segments[si];
                let (rows, features) = if extra {
                    (s.extra_len(), s.extra_features())
                } else {
                    (s.len(), s.features())
                };
                let end = (start + BLOCK).min(rows);
                owners.clear();
                if extra {
                    // Owners rise with the rows: one binary search, then steps.
                    let mut owner = s.extra_owner(start);
                    for j in start..end {
                        while s.extra_rows(owner).end <= j {
                            owner += 1;
                        }
                        owners.push(owner);
                    }
                }
                let entry = |i: usize| if extra { owners[i - start] } else { i };
                mask.clear();
                if let Some(wanted) = wanted {
                    mask.extend((start..end).map(|i| wanted(s, entry(i))));
                }
                scan_block_where(
                    probe,
                    &features[start * FEATURE_BYTES..end * FEATURE_BYTES],
                    &mask,
                    best.bar,
                    &mut scores,
                );
                for (i, &score) in scores.iter().enumerate() {
                    if mask.is_empty() || mask[i] {
                        best.offer(Hit {
                            score,
                            segment: si,
                            index: entry(start + i),
                            row: if extra { 1 + start + i } else { 0 },
                        });
                    }
                }
                shared.raise(best.bar);
            }
            best
        })
        // The workers' own lists merged into one of them (an empty identity would take
        // a copy of every one).
        .reduce_with(Best::merge)
        .unwrap_or_else(|| Best::new(shortlist))
        .into_hits()
}

/// Stage 1 alone over every segment entry (no filters, no stage 2): the best `shortlist`
/// stage-1 scores, best first. For measuring the scan's speed against the memory bandwidth.
pub fn stage1_scan(snapshot: &Snapshot, template: &Template, shortlist: usize) -> Vec<f32> {
    let probe = ProbeFeature::new(&feature::feature(template));
    let mut best: Vec<f32> = segment_hits(snapshot, &probe, shortlist, None)
        .into_iter()
        .map(|h| h.score)
        .collect();
    best.sort_by(|a, b| b.total_cmp(a));
    best
}

/// Templates whose stored search features were chosen by an older release's rule
/// ([`feature::is_current`]) among a sample of a gallery's: up to `per_segment` entries of
/// each segment, evenly spaced (its first among them), and every entry not yet in a
/// segment. Returns (sampled, stale). Such a gallery is searched correctly, but finds
/// fewer partial prints and plain prints of fingers enrolled rolled until `daktilod
/// --rebuild-features` is run; the sample reads one byte of a few features per segment,
/// so a start-up can afford it where reading a million features' pages could not.
pub fn stale_features(snapshot: &Snapshot, per_segment: usize) -> (usize, usize) {
    let (mut sampled, mut stale) = (0, 0);
    let mut count = |feature: &[u8]| {
        sampled += 1;
        stale += usize::from(!feature::is_current(feature));
    };
    for s in &snapshot.segments {
        let step = s.len().div_ceil(per_segment.max(1)).max(1);
        (0..s.len()).step_by(step).for_each(|i| count(s.feature(i)));
    }
    snapshot
        .memtable
        .iter()
        .flat_map(|c| c.iter())
        .for_each(|e| count(&e.feature));
    (sampled, stale)
}

/// One template among the scan's best, for following a probe through stage 1
/// ([`stage1_funnel`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FunnelEntry {
    /// The template's subject.
    pub subject: u64,
    /// The template's id.
    pub id: u64,
    /// Its scan score.
    pub scan: f32,
    /// Its geometric re-ranking score ([`feature::consistent_score`]).
    pub geometry: f32,
}

/// The scan's best `keep` segment templates for `template` (every position, no filters,
/// deleted ones too; the memtable is left out), in the order [`search`] keeps them, each
/// with its re-ranking score as well: where a mate stands after the scan and after the
/// re-ranking, for the identification harness's diagnostics. The scores are the ones
/// [`search`] computes (the probe's feature is built the same way).
pub fn stage1_funnel(
    snapshot: &Snapshot,
    template: &Template,
    keep: usize,
) -> Result<Vec<FunnelEntry>, matching::MatchError> {
    let prepared = matching::prepare(template)?;
    let probe = ProbeFeature::new(&feature::feature_of(&prepared));
    let mut hits = segment_hits(snapshot, &probe, keep, None);
    let mut geometry = hits.clone();
    rerank(&mut geometry, &probe, |h| row_of(snapshot, &[], h));
    // A template's best row by the scan, and its best by the re-ranking (as `search`
    // keeps them).
    let mut best_geometry: std::collections::HashMap<(usize, usize), f32> =
        std::collections::HashMap::new();
    for g in &geometry {
        let slot = best_geometry
            .entry(g.template())
            .or_insert(f32::NEG_INFINITY);
        *slot = slot.max(g.score);
    }
    one_per_template(&mut hits);
    Ok(hits
        .iter()
        .map(|h| {
            let s = &snapshot.segments[h.segment];
            FunnelEntry {
                subject: s.subject(h.index),
                id: s.id(h.index),
                scan: h.score,
                geometry: best_geometry[&h.template()],
            }
        })
        .collect())
}

/// Searches a gallery snapshot.
pub fn search(
    snapshot: &Snapshot,
    probe: &[ProbeFinger],
    options: &SearchOptions,
) -> Result<Vec<Candidate>, SearchError> {
    let fingers: Vec<&ProbeFinger> = probe
        .iter()
        .filter(|p| {
            options
                .fingers
                .as_ref()
                .is_none_or(|f| f.contains(&p.finger))
        })
        .collect();
    if fingers.is_empty() {
        return Err(SearchError::NoFinger);
    }
    // Memtable entries are searched like one more segment.
    let mem: Vec<_> = snapshot.memtable.iter().flat_map(|c| c.iter()).collect();
    // subject -> best score per probe finger
    let mut best: BTreeMap<u64, Vec<Option<(u64, Score)>>> = BTreeMap::new();
    for (k, pf) in fingers.iter().enumerate() {
        let prepared =
            matching::prepare(&pf.template).map_err(|e| SearchError::Probe(pf.finger, e))?;
        // Which tests apply; where none does, every entry is wanted. Empty sets are not
        // tested: hashing a key costs about as much as the rest of the test (it runs once
        // per gallery entry).
        let by_finger = pf.finger != FingerPosition::Unknown;
        let by_subject = options.subjects.as_ref();
        let excluding = !options.exclude.is_empty();
        let deleted = !snapshot.tombstones.is_empty();
        let filtered = by_finger || by_subject.is_some() || excluding || deleted;
        let wanted = |finger: u8, subject: u64, id: u64| {
            (!by_finger || finger == pf.finger.code())
                && by_subject.is_none_or(|s| s.contains(&subject))
                && (!excluding || !options.exclude.contains(&subject))
                && (!deleted || !snapshot.tombstones.contains(&id))
        };
        let hits: Vec<Hit> = if options.exhaustive {
            let mut all = Vec::new();
            for (si, s) in snapshot.segments.iter().enumerate() {
                all.extend(
                    (0..s.len())
                        .filter(|&i| wanted(s.finger(i), s.subject(i), s.id(i)))
                        .map(|index| Hit {
                            score: 0.0,
                            segment: si,
                            index,
                            row: 0,
                        }),
                );
            }
            all.extend(
                mem.iter()
                    .enumerate()
                    .filter(|(_, e)| wanted(e.finger, e.subject, e.id))
                    .map(|(index, _)| Hit {
                        score: 0.0,
                        segment: usize::MAX,
                        index,
                        row: 0,
                    }),
            );
            all
        } else {
            let pfeat = ProbeFeature::new(&feature::feature_of(&prepared));
            let in_segment = |s: &Segment, i: usize| wanted(s.finger(i), s.subject(i), s.id(i));
            let scanned = snapshot.count_of_finger(by_finger.then(|| pf.finger.code()));
            let scan_keep = options.rerank_for(scanned).max(options.shortlist);
            // Flags are built only where `wanted` may turn an entry away (where it cannot,
            // every entry is scanned as it lies: on one thread a 1M scan without filters
            // took 6 % longer than the bare kernel with the flags, 3 % without).
            let mut hits = segment_hits(
                snapshot,
                &pfeat,
                scan_keep,
                filtered.then_some(&in_segment as Wanted<'_>),
            );
            // The memtable (up to a flush's worth of entries) in parallel too.
            let mem_hits: Vec<Hit> = mem
                .par_chunks(BLOCK)
                .enumerate()
                .flat_map_iter(|(c, chunk)| {
                    // Only the entries wanted are scored (see `scan_block_where`); each of
                    // their rows.
                    let (places, features): (Vec<(usize, usize)>, Vec<&[u8]>) = chunk
                        .iter()
                        .enumerate()
                        .filter(|(_, e)| wanted(e.finger, e.subject, e.id))
                        .flat_map(|(i, e)| {
                            std::iter::once(((i, 0), e.feature.as_slice())).chain(
                                e.extra
                                    .chunks_exact(FEATURE_BYTES)
                                    .enumerate()
                                    .map(move |(r, f)| ((i, 1 + r), f)),
                            )
                        })
                        .unzip();
                    let mut scores = Vec::with_capacity(features.len());
                    scan_separate(&pfeat, &features, &mut scores);
                    places
                        .into_iter()
                        .zip(scores)
                        .map(move |((i, row), score)| Hit {
                            score,
                            segment: usize::MAX,
                            index: c * BLOCK + i,
                            row,
                        })
                        .collect::<Vec<_>>()
                })
                .collect();
            hits.extend(mem_hits);
            keep_best(&mut hits, scan_keep);
            if scan_keep > options.shortlist {
                // The scan's very best stay whatever the re-ranking says (geometry can
                // push down a mate whose few shared codes the scan ranked high).
                let mut kept = hits.clone();
                one_per_template(&mut kept);
                kept.truncate(options.shortlist / SCAN_KEEPS);
                // The geometric re-ranking of the scan's best.
                rerank(&mut hits, &pfeat, |h| row_of(snapshot, &mem, h));
                one_per_template(&mut hits);
                hits.truncate(options.shortlist);
                let chosen: HashSet<(usize, usize)> = hits.iter().map(Hit::template).collect();
                hits.extend(kept.into_iter().filter(|h| !chosen.contains(&h.template())));
            } else {
                one_per_template(&mut hits);
            }
            hits
        };
        // Stage 2: the matcher on the shortlist.
        let scored: Vec<(u64, u64, Score)> = hits
            .par_iter()
            .filter_map(|h| {
                let (id, subject, bytes) = if h.segment == usize::MAX {
                    let e = mem[h.index];
                    (e.id, e.subject, e.template.as_slice())
                } else {
                    let s = &snapshot.segments[h.segment];
                    (s.id(h.index), s.subject(h.index), s.template(h.index))
                };
                // Skip rather than fail the whole search if one still does not parse.
                let candidate: PreparedTemplate =
                    matching::prepare_candidate(&stored_template(bytes)?).ok()?;
                Some((subject, id, matching::compare(&prepared, &candidate)))
            })
            .collect();
        for (subject, id, score) in scored {
            let slot = &mut best
                .entry(subject)
                .or_insert_with(|| vec![None; fingers.len()])[k];
            if slot.is_none_or(|(_, s)| score > s) {
                *slot = Some((id, score));
            }
        }
    }
    // The subjects searched: those asked for, or the gallery's (`population`); where it
    // is not given, live templates stand for subjects (exact when each subject has one
    // template, a safe over-estimate otherwise).
    let subjects = match (&options.subjects, options.population) {
        (Some(asked), _) => asked.len(),
        (None, Some(population)) => population,
        (None, None) => snapshot.len(),
    }
    .max(1);
    let mut threshold = options.threshold.unwrap_or(f32::NEG_INFINITY);
    if let Some(fpir) = options.target_fpir {
        threshold = threshold.max(matching::threshold_for_fmr(fpir / subjects as f64));
    }
    let mut out: Vec<Candidate> = best
        .into_iter()
        .map(|(subject, per)| {
            let fingers_scored: Vec<FingerScore> = per
                .iter()
                .zip(&fingers)
                .filter_map(|(s, pf)| {
                    s.map(|(template_id, score)| FingerScore {
                        finger: pf.finger,
                        template_id,
                        score,
                    })
                })
                .collect();
            Candidate {
                subject,
                score: fuse(
                    &fingers_scored.iter().map(|f| f.score).collect::<Vec<_>>(),
                    fingers.len(),
                ),
                fingers: fingers_scored,
            }
        })
        // A score of 0 stands for FMR 1: no evidence at all.
        .filter(|c| c.score > 0.0 && c.score >= threshold)
        .collect();
    out.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.subject.cmp(&b.subject)));
    out.truncate(options.max_results);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shared_bar_orders_scores_as_floats_do_and_only_rises() {
        let rising = [
            f32::NEG_INFINITY,
            -1.0,
            -f32::MIN_POSITIVE,
            -0.0,
            0.0,
            f32::from_bits(1),
            1e-30,
            0.25,
            f32::from_bits(0.25f32.to_bits() + 1),
            1.0,
            f32::INFINITY,
        ];
        for pair in rising.windows(2) {
            assert!(
                SharedBar::order(pair[0]) < SharedBar::order(pair[1]),
                "{} and {}",
                pair[0],
                pair[1]
            );
        }
        for v in rising {
            assert_eq!(SharedBar::value(SharedBar::order(v)).to_bits(), v.to_bits());
        }
        let bar = SharedBar::new();
        assert_eq!(bar.get(), f32::NEG_INFINITY);
        bar.raise(0.3);
        bar.raise(0.1);
        assert_eq!(bar.get(), 0.3);
        bar.raise(0.7);
        assert_eq!(bar.get(), 0.7);
    }
}
