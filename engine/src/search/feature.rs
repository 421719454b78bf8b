//! The stage-1 search feature (version 4, 1,017 bytes): compact codes of 29 of the
//! template's minutia cylinders (the matcher's local structures) — its 20 most central,
//! then 9 spread over the rest of the print (`code_order`) — compared one against one as
//! the matcher does, but on 256 sampled cells instead of 1,536, with where their minutiae
//! lie.
//!
//! Each code holds 256 bits: cell and angular section pairs drawn once (fixed seed) from
//! the cells within 7.5 cells of the cylinder's centre; a bit is set where the cell is
//! valid and set in the cylinder. When the template carries its ridge flow (our own
//! extractor's templates), the code's last 64 bits are the flow around the minutia instead
//! (`flow_bits`: the ridge direction at 16 points 45 px from it, turned with it, each as
//! one of 4 bins), and the feature's flags say so. With the code go its minutia's direction
//! and position (relative to the minutiae's centroid, in 4-pixel steps). A probe's first 20
//! codes (its most central minutiae) are each compared with every gallery code whose
//! direction is within 63°: similarity `|a ∧ b| / √(|a| |b|)`, the cosine of the two bit
//! sets (the matcher's cylinder similarity, `1 − √|a ⊕ b| / (√|a| + √|b|)` of Cappelli,
//! Ferrara, Maltoni, "Minutia Cylinder-Code", IEEE TPAMI 32(12), 2010, ranked mates no
//! better and costs a square root and a division per pair of codes). The scan's [`score`]:
//! a probe code keeps its best; the score is the mean of the 8 best — the local similarity
//! sort of that paper without its relaxation. The scan's best are then re-ranked by
//! [`consistent_score`], which counts only the pairs that agree on one rigid placement of
//! the probe on the gallery print.
//!
//! A gallery template of more than [`ROWS_FROM`] minutiae (a rolled print) stores further
//! features — rows — about other centres of its print ([`gallery_rows`]), each holding the
//! codes nearest its centre, scanned like a template of its own, and all leading to it: a
//! plain print of a finger enrolled rolled meets the row about the part it caught.
//!
//! Version 1 hashed every cylinder into one 8,192-bit set (after the same authors' MCC
//! indexing, IEEE TPAMI 33(5), 2011) and counted shared bits: codes of different cylinders
//! collided, and the mate of one probe in seven ranked below the top 10 % of real
//! impostors. Version 2 compared codes one to one without positions (30 codes, 992
//! bytes); version 3 was version 4 without the ridge flow (1,016 bytes). docs/search.md
//! gives the figures. Each version's length differs from the others' (1,024, 992, 1,016,
//! 1,017 bytes), so a gallery of old features is refused on opening rather than searched
//! wrongly.
//!
//! A template without the flow (another vendor's) keeps cylinder cells in all 256 bits. A
//! probe of one kind against a gallery template of the other compares flow bits with
//! cells in the last word, which agree only by chance: such a pair is ranked on its other
//! 192 cells (mixed galleries were not measured).

use std::sync::OnceLock;

/// The vector kernels' [`insert_top`] with one feature per lane: the sum of each lane's
/// best `TOP` of the values `$gather(k)` for `k` in `0..$codes`, inserted the portable
/// way (each place takes the larger of what it holds and the smaller of the value and what
/// the place above held; places updated from the last, so "held" is the old), so that the
/// sums are `mean_of`'s before its division. `$max`, `$min` and `$add` are the vector
/// width's instructions and `$zero` its zero.
#[cfg(target_arch = "x86_64")]
macro_rules! lanewise_top_sum {
    ($codes:expr, $zero:expr, $gather:expr, $max:ident, $min:ident, $add:ident) => {{
        let mut top = [$zero; TOP];
        for k in 0..$codes {
            let v = $gather(k);
            for s in (1..TOP).rev() {
                top[s] = $max(top[s], $min(top[s - 1], v));
            }
            top[0] = $max(top[0], v);
        }
        let mut sum = $zero;
        for t in top {
            sum = $add(sum, t);
        }
        sum
    }};
}

/// Asks the memory for every cache line of the feature `ahead` places after `i`, if any:
/// the vector scans' prefetch (with the hardware prefetcher alone the AVX-512 scan waited
/// for memory a quarter of the time).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn prefetch_ahead<'a>(
    feature: &impl Fn(usize) -> Option<&'a [u8]>,
    i: usize,
    ahead: usize,
    n: usize,
) {
    use std::arch::x86_64::{_MM_HINT_T0, _mm_prefetch};
    if let Some(f) = (i + ahead < n).then(|| feature(i + ahead)).flatten() {
        for line in f.chunks(64) {
            // SAFETY: a prefetch is only a hint; it reads nothing the program sees.
            #[allow(unsafe_code)]
            unsafe {
                _mm_prefetch::<_MM_HINT_T0>(line.as_ptr().cast())
            };
        }
    }
}

#[cfg(target_arch = "x86_64")]
pub(crate) mod avx2;
#[cfg(target_arch = "x86_64")]
pub(crate) mod avx512;

use crate::matching::params::{ND, NS};
use crate::matching::{self, PreparedTemplate, flow};
use crate::template::Template;

/// Codes stored per template.
pub const CODES: usize = 29;
/// Bits per code.
const CODE_BITS: usize = 256;
const CODE_WORDS: usize = CODE_BITS / 64;
const CODE_BYTES: usize = CODE_BITS / 8;
/// Feature size in bytes: the codes, their directions, their positions, their count, the
/// flags.
pub const FEATURE_BYTES: usize = CODES * CODE_BYTES + CODES + 2 * CODES + 2;
const DIRECTIONS_AT: usize = CODES * CODE_BYTES;
const POSITIONS_AT: usize = DIRECTIONS_AT + CODES;
const COUNT_AT: usize = POSITIONS_AT + 2 * CODES;
const FLAGS_AT: usize = COUNT_AT + 1;
/// The flag set when the codes' last word holds ridge-flow bits ([`flow_bits`]).
const WITH_FLOW: u8 = 1;
/// The flag set when the codes beyond the probe's were chosen spread over the print
/// ([`code_order`], since the twenty-third session); without it they were the next most
/// central. Scoring reads the codes alike either way: the flag only tells which features
/// a rebuild would improve ([`is_current`]).
const SPREAD: u8 = 2;
/// The flag set on a gallery template's rows when they are chosen by [`gallery_rows`]
/// as it does since the thirty-fourth session: a large template has rows about several
/// centres, each holding the codes nearest its centre. Without it a gallery feature is
/// one row about the centroid whatever the template's size (before the thirty-third
/// session), or a large template's rows hold spread codes as a single row does (the
/// thirty-third session's rule, which set bit 2, value 4, instead); scoring reads the rows
/// alike either way ([`is_current`]).
const ROWS: u8 = 8;
/// The descriptor ring whose samples make a code's ridge-flow bits (the second, 45 px from
/// the minutia: 16 samples).
const FLOW_RING: usize = 1;
/// Bins of a sample's doubled angle (4: 45° of ridge direction each).
const FLOW_BINS: usize = 4;
/// Ridge-flow bits per code: the last of its four words (`feature_of` writes them as one
/// word).
const FLOW_BITS: usize = 64;
/// Positions are stored relative to the minutiae's centroid in steps of this many pixels
/// (500 ppi), as signed bytes.
const POSITION_STEP: f32 = 4.0;

/// Probe codes compared (the most central ones).
const PROBE_CODES: usize = 20;
/// Codes with fewer set bits say little (empty neighbourhoods look alike) and are skipped.
const MIN_ONES: u32 = 4;
/// Codes whose minutiae's directions differ by more than this (1/256 turns; 45 ≈ 63°) are
/// not compared.
const MAX_DIRECTION_UNITS: u8 = 45;
/// Probe codes whose best similarities make the score.
const TOP: usize = 8;
/// Sampled cells lie within this many cells of the cylinder's centre.
const CENTRAL_RADIUS: f32 = 7.5;

/// The next number of a SplitMix64 sequence.
fn split_mix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The (section, cell) pairs the code's bits read: fixed forever for this feature version.
fn samples() -> &'static [(usize, usize); CODE_BITS] {
    static S: OnceLock<[(usize, usize); CODE_BITS]> = OnceLock::new();
    S.get_or_init(|| {
        let half = (NS as f32 - 1.0) / 2.0;
        let cells: Vec<usize> = (0..NS * NS)
            .filter(|&c| {
                let (u, v) = ((c / NS) as f32 - half, (c % NS) as f32 - half);
                u * u + v * v <= CENTRAL_RADIUS * CENTRAL_RADIUS
            })
            .collect();
        let mut state = 7u64;
        let mut next = || split_mix(&mut state);
        let mut out = [(0usize, 0usize); CODE_BITS];
        for slot in out.iter_mut() {
            *slot = (
                (next() % ND as u64) as usize,
                cells[(next() % cells.len() as u64) as usize],
            );
        }
        out
    })
}

/// The feature of a prepared template, about its minutiae's centroid, its codes beyond
/// the 20 most central spread over the print: a probe's, and the one row of a gallery
/// template that has one ([`gallery_rows`]; a larger template's first row holds its
/// nearest codes instead).
pub fn feature_of(prepared: &PreparedTemplate) -> [u8; FEATURE_BYTES] {
    let minutiae: Vec<(f32, f32, u8)> = prepared.cylinder_minutiae().collect();
    feature_about(prepared, &minutiae, centroid(&minutiae), true)
}

/// The mean position of `minutiae` (the origin when there are none).
fn centroid(minutiae: &[(f32, f32, u8)]) -> (f32, f32) {
    let n = minutiae.len().max(1) as f32;
    (
        minutiae.iter().map(|m| m.0).sum::<f32>() / n,
        minutiae.iter().map(|m| m.1).sum::<f32>() / n,
    )
}

/// The feature of a prepared template about the point `(cx, cy)`: its codes chosen by
/// [`code_order`] about that point (`spread` or not), their positions stored relative to
/// it.
fn feature_about(
    prepared: &PreparedTemplate,
    minutiae: &[(f32, f32, u8)],
    (cx, cy): (f32, f32),
    spread: bool,
) -> [u8; FEATURE_BYTES] {
    let order = code_order(minutiae, cx, cy, spread);
    let cylinders = prepared.cylinder_codes();
    let descriptors = prepared.cylinder_descriptors();
    let mut out = [0u8; FEATURE_BYTES];
    for (slot, &k) in order.iter().enumerate() {
        let c = &cylinders[k];
        let mut code = [0u64; CODE_WORDS];
        let descriptor = descriptors.map(|d| &d[k]);
        let cylinder_bits = if descriptor.is_some() {
            CODE_BITS - FLOW_BITS
        } else {
            CODE_BITS
        };
        for (bit, &(section, cell)) in samples().iter().enumerate().take(cylinder_bits) {
            let (word, at) = (cell / 64, cell % 64);
            if (c.valid[word] >> at) & (c.bits[section][word] >> at) & 1 == 1 {
                code[bit / 64] |= 1 << (bit % 64);
            }
        }
        if let Some(d) = descriptor {
            code[CODE_WORDS - 1] = flow_bits(d);
        }
        for (w, word) in code.iter().enumerate() {
            let at = slot * CODE_BYTES + 8 * w;
            out[at..at + 8].copy_from_slice(&word.to_le_bytes());
        }
        out[DIRECTIONS_AT + slot] = minutiae[k].2;
        let q = |v: f32| ((v / POSITION_STEP).round().clamp(-127.0, 127.0) as i8) as u8;
        out[POSITIONS_AT + 2 * slot] = q(minutiae[k].0 - cx);
        out[POSITIONS_AT + 2 * slot + 1] = q(minutiae[k].1 - cy);
    }
    out[COUNT_AT] = order.len() as u8;
    out[FLAGS_AT] = SPREAD | if descriptors.is_some() { WITH_FLOW } else { 0 };
    out
}

/// The most stage-1 rows a gallery template gets ([`gallery_rows`]): as many as a gallery
/// entry may hold.
pub const MAX_ROWS: usize = crate::gallery::MAX_ROWS;
/// Templates with more minutiae than this get rows about more centres than their centroid.
/// FVC2002's plain prints hold up to 78 with our extractor (DB1_B–DB4_B); a rolled
/// print holds 150 to 255.
pub const ROWS_FROM: usize = 100;
/// About this many minutiae per row of a larger template: a plain print's worth.
const MINUTIAE_PER_ROW: usize = 40;

/// A gallery template's stage-1 rows, back to back: the feature about its centroid
/// ([`feature_of`]) and, for a template of more than [`ROWS_FROM`] minutiae (a rolled
/// print), features about other centres spread over the print (`row_centres`), up to
/// [`MAX_ROWS`] in all. Each row is scanned like a template of its own and all lead to
/// the one template: a probe that caught only part of a large print (a plain impression of
/// a finger enrolled rolled) meets the row about that part, where the codes about the
/// centroid alone cover a disc a fraction of the print wide (docs/search.md, "Plain
/// prints against rolled ones").
///
/// A template of one row stores its 20 most central codes and 9 spread over the rest of
/// it (`code_order`), to meet probes that caught another part of it. Where there are
/// several rows, which together cover the print, every row (the centroid's too) stores
/// the 29 codes nearest its centre instead: a plain probe meets a row whose codes all lie
/// in the part it caught, and the geometric re-ranking places it on them. With spread
/// codes in every row (the thirty-third session) the card's plain impressions came out of
/// the re-ranking lower than the scan had them (docs/search.md, "Rows of nearest
/// codes").
pub fn gallery_rows(prepared: &PreparedTemplate) -> Vec<u8> {
    let minutiae: Vec<(f32, f32, u8)> = prepared.cylinder_minutiae().collect();
    let centre = centroid(&minutiae);
    let further = row_centres(&minutiae, centre);
    let spread = further.is_empty();
    let mut out = Vec::with_capacity(FEATURE_BYTES * (1 + further.len()));
    for c in std::iter::once(centre).chain(further) {
        let mut row = feature_about(prepared, &minutiae, c, spread);
        row[FLAGS_AT] |= ROWS;
        out.extend_from_slice(&row);
    }
    out
}

/// The centres of a large template's rows beyond the first (about `centre`, the
/// centroid): one per [`MINUTIAE_PER_ROW`] minutiae, at most [`MAX_ROWS`] − 1, placed by
/// k-means on the minutiae's positions with the centroid as a fixed extra centre: seeded
/// farthest-point (each seed the minutia farthest from the centres so far, ties to the
/// earlier), then moved to the mean of the minutiae nearest them, [`ROW_ITERATIONS`]
/// times. Each ends at the middle of its share of the print, so the rows together cover
/// it; a centre left with no minutiae is dropped. None for a template of up to
/// [`ROWS_FROM`] minutiae.
fn row_centres(minutiae: &[(f32, f32, u8)], centre: (f32, f32)) -> Vec<(f32, f32)> {
    let n = minutiae.len();
    if n <= ROWS_FROM {
        return Vec::new();
    }
    let k = n.div_ceil(MINUTIAE_PER_ROW).min(MAX_ROWS - 1);
    let squared = |a: (f32, f32), m: &(f32, f32, u8)| (a.0 - m.0).powi(2) + (a.1 - m.1).powi(2);
    let mut nearest: Vec<f32> = minutiae.iter().map(|m| squared(centre, m)).collect();
    let mut centres: Vec<(f32, f32)> = Vec::with_capacity(k);
    for _ in 0..k {
        let mut far = 0;
        for (i, &d) in nearest.iter().enumerate() {
            if d > nearest[far] {
                far = i;
            }
        }
        let c = (minutiae[far].0, minutiae[far].1);
        centres.push(c);
        for (d, m) in nearest.iter_mut().zip(minutiae) {
            *d = d.min(squared(c, m));
        }
    }
    let mut counts = vec![0usize; k];
    for _ in 0..ROW_ITERATIONS {
        let mut sums = vec![(0.0f32, 0.0f32); k];
        counts.iter_mut().for_each(|c| *c = 0);
        for m in minutiae {
            // The fixed centre (index k) takes what lies nearest it.
            let mut best = (squared(centre, m), k);
            for (j, &c) in centres.iter().enumerate() {
                let d = squared(c, m);
                if d < best.0 {
                    best = (d, j);
                }
            }
            if best.1 < k {
                sums[best.1].0 += m.0;
                sums[best.1].1 += m.1;
                counts[best.1] += 1;
            }
        }
        for ((c, s), &count) in centres.iter_mut().zip(&sums).zip(&counts) {
            if count > 0 {
                *c = (s.0 / count as f32, s.1 / count as f32);
            }
        }
    }
    centres
        .into_iter()
        .zip(counts)
        .filter(|&(_, count)| count > 0)
        .map(|(c, _)| c)
        .collect()
}

/// The k-means iterations of [`row_centres`].
const ROW_ITERATIONS: usize = 8;

/// Which minutiae's cylinders a feature stores, in order (indices into `minutiae`, at most
/// [`CODES`]): the [`PROBE_CODES`] nearest the centroid `(cx, cy)` first (ties keep the
/// template's order), which a probe compares, then, one at a time, the one farthest from
/// those already chosen (ties to the more central), which only a gallery template offers;
/// or, not `spread` (the rows of a large template, [`gallery_rows`]), the next nearest.
///
/// The probe's codes are its most central: the part of a finger most likely to lie
/// under the sensor again. A gallery print's codes also have to meet probes that caught
/// another part of it (the tip only, or a finger placed low), and its most central 29
/// alone left those without a counterpart: until the twenty-third session every code was
/// chosen by centrality, and a tip-only impression whose enrolled print held 50 minutiae
/// ranked below 88 % of a 100,000-template gallery in the scan (docs/search.md).
fn code_order(minutiae: &[(f32, f32, u8)], cx: f32, cy: f32, spread: bool) -> Vec<usize> {
    let squared = |a: (f32, f32), b: (f32, f32)| (a.0 - b.0).powi(2) + (a.1 - b.1).powi(2);
    let mut order: Vec<(f32, usize)> = minutiae
        .iter()
        .enumerate()
        .map(|(k, m)| (squared((m.0, m.1), (cx, cy)), k))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    if !spread {
        return order.iter().take(CODES).map(|&(_, k)| k).collect();
    }
    let mut chosen: Vec<usize> = order.iter().take(PROBE_CODES).map(|&(_, k)| k).collect();
    let at = |k: usize| (minutiae[k].0, minutiae[k].1);
    // The rest, most central first, each with its distance to the nearest chosen one.
    let mut rest: Vec<(f32, usize)> = order
        .iter()
        .skip(PROBE_CODES)
        .map(|&(_, k)| {
            let nearest = chosen
                .iter()
                .map(|&c| squared(at(k), at(c)))
                .fold(f32::INFINITY, f32::min);
            (nearest, k)
        })
        .collect();
    while chosen.len() < CODES && !rest.is_empty() {
        let mut far = 0;
        for (i, r) in rest.iter().enumerate() {
            if r.0 > rest[far].0 {
                far = i;
            }
        }
        let (_, k) = rest.remove(far);
        chosen.push(k);
        for r in rest.iter_mut() {
            r.0 = r.0.min(squared(at(r.1), at(k)));
        }
    }
    chosen
}

/// A code's last word when its template carries the ridge flow: the descriptor's
/// [`FLOW_RING`] samples (`flow::Descriptor`: the ridge direction at points around the
/// minutia, turned with it), each as one bit among [`FLOW_BINS`] for its doubled angle, so
/// that a bit two codes share is a point where their ridges run alike (within 45° of
/// ridge direction, as the bins fall). Samples off the print set none.
fn flow_bits(d: &flow::Descriptor) -> u64 {
    let mut word = 0u64;
    for (j, sample) in flow::ring_samples(FLOW_RING).enumerate() {
        if let Some((c, s)) = d.sample(sample) {
            let turn =
                (f32::from(s).atan2(f32::from(c)) + std::f32::consts::PI) / std::f32::consts::TAU;
            let bin = ((turn * FLOW_BINS as f32) as usize).min(FLOW_BINS - 1);
            word |= 1 << (j * FLOW_BINS + bin);
        }
    }
    word
}

/// The number of codes a feature holds (its count byte, capped at [`CODES`]).
#[inline(always)]
pub fn code_count(feature: &[u8]) -> usize {
    usize::from(feature[COUNT_AT]).min(CODES)
}

/// Whether a gallery template's stored first row is what [`gallery_rows`] computes today:
/// of this length, and marked as chosen by it (its codes spread over the print, and a
/// large template's further rows present). A gallery whose features are not current is
/// searched correctly but finds fewer partial prints, and fewer plain prints of fingers
/// enrolled rolled, until its features are rebuilt (`daktilod --rebuild-features`).
pub fn is_current(feature: &[u8]) -> bool {
    feature.len() == FEATURE_BYTES && feature[FLAGS_AT] & ROWS != 0
}

/// Whether a feature's codes carry the ridge flow in their last word (its template is one
/// of our own extractor's).
pub fn has_flow(feature: &[u8; FEATURE_BYTES]) -> bool {
    feature[FLAGS_AT] & WITH_FLOW != 0
}

/// The feature of a template (no codes when it cannot be prepared: it then matches
/// nothing in stage 1).
pub fn feature(template: &Template) -> [u8; FEATURE_BYTES] {
    match matching::prepare(template) {
        Ok(p) => feature_of(&p),
        Err(_) => [0; FEATURE_BYTES],
    }
}

/// A probe feature unpacked for scanning.
#[derive(Debug, Clone)]
pub struct ProbeFeature {
    /// 1 / √(set bits) per code; 0 past the count, up to 32 (two vectors of the AVX-512
    /// scan).
    inverse_roots: [f32; 32],
    positions: [(f32, f32); PROBE_CODES],
    count: usize,
    /// The codes word by word, one code per lane (unused lanes 0), so that one gallery
    /// code meets all of them in vector lanes in [`score`].
    lane_words: LaneWords,
    /// Their minutiae's directions, lane by lane.
    lane_directions: [u8; PROBE_LANES],
    /// [`inverse_root`] of every possible count of set bits, so that the scan looks up
    /// each gallery code's instead of working it out (a square root and a division on the
    /// critical path of every code). 0 for counts below `MIN_ONES`: such codes are not
    /// compared, and a scan that does not branch on them gets similarities of 0.
    inverse_root_of: [f32; CODE_BITS + 1],
    /// For each gallery code direction, the lanes whose probe codes lie within
    /// `MAX_DIRECTION_UNITS` of it (bit k: lane k).
    window_lanes: [u32; 256],
    /// The same codes arranged for the AVX-512 scan (none when they do not fit it).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    sectors: Option<SectorLanes>,
    /// The same codes in order of direction, for [`score_by_direction`].
    ranked: Ranked,
}

/// A probe's codes sorted by direction and repeated once (cyclic rank `r` holds the code
/// of rank `r mod count`), so that the probe codes within `MAX_DIRECTION_UNITS` of any
/// gallery code direction are consecutive ranks: a run, looked up by that direction.
#[derive(Debug, Clone)]
struct Ranked {
    words: [[u64; CODE_WORDS]; 2 * PROBE_CODES],
    /// The probe code (its index among the probe's codes) of each cyclic rank.
    code: [u8; 2 * PROBE_CODES],
    /// Per gallery code direction: the first rank of its run and the run's length.
    runs: [(u8, u8); 256],
    /// For the AVX2 scan: word `w` of ranks `r`, `r + 2`, `r + 4` and `r + 6` together
    /// (ranks past the cyclic ones 0), so that two loads, from `r` and `r + 1`, hold
    /// eight consecutive ranks whose counts interleave back into rank order; each as its
    /// low nibbles and its high nibbles shifted down (`[0]` and `[1]`), the halves the
    /// scan's table counts.
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    strided: Box<[[[Quad; 2]; RANKED_SLOTS]; CODE_WORDS]>,
}

/// Ranks an AVX2 run reads at most: a start below 20 and three blocks of eight, plus the
/// stride of a block's odd half.
const RANKED_SLOTS: usize = 48;
const _: () = assert!(RANKED_SLOTS >= PROBE_CODES - 1 + 8 * PROBE_CODES.div_ceil(8));

/// The low nibble of each byte of `word`.
#[inline(always)]
fn low_nibbles(word: u64) -> u64 {
    word & 0x0f0f_0f0f_0f0f_0f0f
}

/// The high nibble of each byte of `word`, moved to the low one.
#[inline(always)]
fn high_nibbles(word: u64) -> u64 {
    (word >> 4) & 0x0f0f_0f0f_0f0f_0f0f
}

/// Four 64-bit words of one vector.
#[derive(Debug, Clone, Copy, Default)]
#[repr(align(32))]
struct Quad([u64; 4]);

impl Ranked {
    fn empty() -> Self {
        Self {
            words: [[0; CODE_WORDS]; 2 * PROBE_CODES],
            code: [0; 2 * PROBE_CODES],
            runs: [(0, 0); 256],
            strided: Box::new([[[Quad::default(); 2]; RANKED_SLOTS]; CODE_WORDS]),
        }
    }

    fn of(p: &ProbeFeature) -> Self {
        let n = p.count;
        let mut r = Self::empty();
        if n == 0 {
            return r;
        }
        let mut rank: Vec<usize> = (0..n).collect();
        rank.sort_by_key(|&k| (p.lane_directions[k], k));
        for j in 0..2 * n {
            let k = rank[j % n];
            r.code[j] = k as u8;
            r.words[j] = std::array::from_fn(|w| p.lane_words.0[w][k]);
        }
        for gd in 0..256usize {
            let inside = |j: usize| within_window(p.lane_directions[rank[j % n]], gd as u8);
            let len = (0..n).filter(|&j| inside(j)).count();
            // The window is an arc of directions, so the codes inside it are consecutive
            // ranks, cyclically: the run starts at the one whose predecessor is outside
            // (or anywhere, when all are inside).
            let start = if len == n {
                0
            } else {
                (0..n)
                    .find(|&j| inside(j) && !inside(j + n - 1))
                    .unwrap_or(0)
            };
            r.runs[gd] = (start as u8, len as u8);
        }
        for w in 0..CODE_WORDS {
            for at in 0..RANKED_SLOTS {
                let word = |i: usize| {
                    let j = at + 2 * i;
                    if j < 2 * n { r.words[j][w] } else { 0 }
                };
                r.strided[w][at] = [
                    Quad(std::array::from_fn(|i| low_nibbles(word(i)))),
                    Quad(std::array::from_fn(|i| high_nibbles(word(i)))),
                ];
            }
        }
        r
    }
}

/// Gallery code directions fall into this many sectors of 32 binary units (45°).
const SECTORS: usize = 8;
/// Probe code lanes compared with each gallery code in the AVX-512 scan: one vector of
/// 16 f32.
const SECTOR_LANES: usize = 16;

/// The probe codes arranged so that a gallery code needs only 16 of them instead of all
/// 24 lanes, each in a lane of its own across the sectors. A gallery code is compared
/// only with probe codes within 63° of it; those of one 45° sector of gallery directions
/// lie within a 171° arc of probe directions (3 or 4 of the 8 sectors need each probe
/// code). Every probe code keeps one lane in every sector that needs it, so that one
/// running maximum per lane serves all sectors (no maximum per sector, kept in memory,
/// and no fold of 8 sectors per feature). With more than 16 codes, two codes share a lane
/// when no sector needs both (nearly opposite directions); their maxima go to a second
/// register, chosen per sector by a mask. A probe for which no such sharing exists (a
/// sector needs more than 16 codes, or too few codes lie opposite each other) is scanned
/// with the lanes of all its codes (at most 20).
#[derive(Debug, Clone)]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX-512 scan only
struct SectorLanes {
    /// Each sector's 16 lanes, word by word, aligned so that each vector load reads one
    /// cache line: lane l holds the probe code of that lane which the sector needs (the
    /// first of the two that share it when it needs neither; 0 when the lane is free).
    /// Lanes 0–7 hold the same codes in every sector.
    words: [SectorWords; SECTORS],
    /// For each gallery code direction, which lanes of its sector hold a probe code
    /// within `MAX_DIRECTION_UNITS` of it (bit l: lane l), apart by the running maximum
    /// their values go to: the first, or (lanes holding the second of the two codes that
    /// share them) the second.
    to: [[u16; 2]; 256],
    /// For probe codes 0–15 and 16–31: which of them are held, and where, as indices into
    /// the two running maxima side by side (lane, plus 16 for the second).
    gather: [(u16, [u32; 16]); 2],
}

/// One sector's probe codes, word by word, 16 lanes each.
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // read by the AVX-512 scan only
struct SectorWords([[u64; SECTOR_LANES]; CODE_WORDS]);

/// Whether probe code direction `probe` and gallery code direction `gallery` lie close
/// enough for their codes to be compared.
#[inline(always)]
fn within_window(probe: u8, gallery: u8) -> bool {
    (probe.wrapping_sub(gallery) as i8).unsigned_abs() <= MAX_DIRECTION_UNITS
}

/// Pairs of the first `n` codes whose sets of sectors (`needs`, a bit per sector) are
/// disjoint, each code in at most one pair, until `pairs` are found (none if they cannot
/// be found this way): the code with the fewest partners left first, with its partner
/// that has the fewest.
fn disjoint_pairs(needs: &[u8], pairs: usize) -> Option<Vec<(usize, usize)>> {
    let n = needs.len();
    let mut taken = vec![false; n];
    let mut found = Vec::with_capacity(pairs);
    let partners = |k: usize, taken: &[bool]| -> usize {
        (0..n)
            .filter(|&j| j != k && !taken[j] && needs[j] & needs[k] == 0)
            .count()
    };
    while found.len() < pairs {
        let (_, a) = (0..n)
            .filter(|&k| !taken[k])
            .map(|k| (partners(k, &taken), k))
            .filter(|&(count, _)| count > 0)
            .min()?;
        taken[a] = true;
        let b = (0..n)
            .filter(|&j| !taken[j] && needs[j] & needs[a] == 0)
            .min_by_key(|&j| (partners(j, &taken), j))?;
        taken[b] = true;
        found.push((a, b));
    }
    Some(found)
}

impl SectorLanes {
    /// The arrangement of `p`'s codes, if one exists (see the type).
    fn of(p: &ProbeFeature) -> Option<Self> {
        let n = p.count;
        if n == 0 {
            return None;
        }
        let width = 256 / SECTORS;
        // The sectors whose gallery codes may be compared with each probe code.
        let needs: Vec<u8> = (0..n)
            .map(|k| {
                (0..SECTORS)
                    .filter(|&s| {
                        (s * width..(s + 1) * width)
                            .any(|gd| within_window(p.lane_directions[k], gd as u8))
                    })
                    .fold(0u8, |m, s| m | 1 << s)
            })
            .collect();
        // Lane by lane, the codes it holds: lanes 0–7 one code each (the same in every
        // sector, so that the scan keeps their words in registers), then the shared
        // lanes, then the other single codes.
        let pairs = disjoint_pairs(&needs, n.saturating_sub(SECTOR_LANES))?;
        let singles: Vec<usize> = (0..n)
            .filter(|&k| pairs.iter().all(|&(a, b)| k != a && k != b))
            .collect();
        let fixed = singles.len().min(SECTOR_LANES / 2);
        let mut lanes: Vec<(usize, Option<usize>)> =
            singles[..fixed].iter().map(|&k| (k, None)).collect();
        lanes.extend(pairs.iter().map(|&(a, b)| (a, Some(b))));
        lanes.extend(singles[fixed..].iter().map(|&k| (k, None)));
        debug_assert!(lanes.len() <= SECTOR_LANES);
        let mut s = Self {
            words: [SectorWords([[0; SECTOR_LANES]; CODE_WORDS]); SECTORS],
            to: [[0; 2]; 256],
            gather: [(0, [0; 16]); 2],
        };
        // The code lane `l` holds in `sector`, and whether it is the second of its lane.
        let held = |l: usize, sector: usize| -> (usize, bool) {
            match lanes[l] {
                (_, Some(b)) if (needs[b] >> sector) & 1 == 1 => (b, true),
                (a, _) => (a, false),
            }
        };
        for sector in 0..SECTORS {
            for l in 0..lanes.len() {
                let (k, _) = held(l, sector);
                for w in 0..CODE_WORDS {
                    s.words[sector].0[w][l] = p.lane_words.0[w][k];
                }
            }
        }
        let mut place = |k: usize, at: usize| {
            let (mask, index) = &mut s.gather[k / 16];
            *mask |= 1 << (k % 16);
            index[k % 16] = at as u32;
        };
        for (l, &(a, b)) in lanes.iter().enumerate() {
            place(a, l);
            if let Some(b) = b {
                place(b, l + SECTOR_LANES);
            }
        }
        for gd in 0..256usize {
            for l in 0..lanes.len() {
                let (k, is_second) = held(l, gd / width);
                if within_window(p.lane_directions[k], gd as u8) {
                    s.to[gd][usize::from(is_second)] |= 1 << l;
                }
            }
        }
        Some(s)
    }
}

/// Lanes the scan holds the probe codes in (at least `PROBE_CODES`; a multiple of 8).
const PROBE_LANES: usize = 24;

/// The probe's codes word by word, one code per lane, each word's lanes in whole cache
/// lines (three vectors of 8).
#[derive(Debug, Clone, Copy)]
#[repr(align(64))]
struct LaneWords([[u64; PROBE_LANES]; CODE_WORDS]);

#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

impl ProbeFeature {
    /// Whether the probe's codes fit the AVX-512 scan's sectors (16 lanes, each code in
    /// one lane of its own in every sector that needs it, two codes sharing a lane only
    /// where no sector needs both): such probes are scanned with 16 lanes per gallery code
    /// on processors with AVX-512, the others with the lanes of all their codes (at most 20).
    pub fn fits_sectors(&self) -> bool {
        self.sectors.is_some()
    }

    /// Unpacks a probe feature: its most central codes that hold enough set bits.
    pub fn new(bytes: &[u8; FEATURE_BYTES]) -> Self {
        let mut p = Self {
            inverse_roots: [0.0; 32],
            positions: [(0.0, 0.0); PROBE_CODES],
            count: 0,
            lane_words: LaneWords([[0; PROBE_LANES]; CODE_WORDS]),
            lane_directions: [0; PROBE_LANES],
            inverse_root_of: std::array::from_fn(|ones| {
                let ones = ones as u32;
                if ones < MIN_ONES {
                    0.0
                } else {
                    inverse_root(ones)
                }
            }),
            window_lanes: [0; 256],
            sectors: None,
            ranked: Ranked::empty(),
        };
        let stored = code_count(bytes);
        for slot in 0..stored {
            if p.count == PROBE_CODES {
                break;
            }
            let code: [u64; CODE_WORDS] =
                std::array::from_fn(|w| word_at(bytes, slot * CODE_BYTES + 8 * w));
            let ones: u32 = code.iter().map(|w| w.count_ones()).sum();
            if ones < MIN_ONES {
                continue;
            }
            p.inverse_roots[p.count] = inverse_root(ones);
            p.positions[p.count] = position(bytes, slot);
            for (w, &word) in code.iter().enumerate() {
                p.lane_words.0[w][p.count] = word;
            }
            p.lane_directions[p.count] = bytes[DIRECTIONS_AT + slot];
            p.count += 1;
        }
        for gd in 0..256usize {
            for k in 0..p.count {
                if within_window(p.lane_directions[k], gd as u8) {
                    p.window_lanes[gd] |= 1 << k;
                }
            }
        }
        p.ranked = Ranked::of(&p);
        p.sectors = SectorLanes::of(&p);
        p
    }
}

/// The stored position of code `slot`, px from the centroid.
#[inline(always)]
fn position(bytes: &[u8], slot: usize) -> (f32, f32) {
    (
        f32::from(bytes[POSITIONS_AT + 2 * slot] as i8) * POSITION_STEP,
        f32::from(bytes[POSITIONS_AT + 2 * slot + 1] as i8) * POSITION_STEP,
    )
}

/// Gallery codes are scanned in this many slots (the stored codes, padded), so that the
/// loops over them have a fixed length the compiler vectorises.
const SLOTS: usize = 32;
/// Lanes of the running maximum.
const LANES: usize = 8;

/// A gallery feature's codes laid out word by word in slots, so that one probe code meets
/// all of them in vector lanes.
struct GalleryCodes {
    stored: usize,
    words: [[u64; SLOTS]; CODE_WORDS],
    inverse_roots: [f32; SLOTS],
    usable: [bool; SLOTS],
    directions: [u8; SLOTS],
}

#[inline(always)]
fn unpack(gallery: &[u8]) -> GalleryCodes {
    let stored = code_count(gallery);
    let mut g = GalleryCodes {
        stored,
        words: [[0u64; SLOTS]; CODE_WORDS],
        inverse_roots: [0.0f32; SLOTS],
        usable: [false; SLOTS],
        directions: [0u8; SLOTS],
    };
    for j in 0..stored {
        let mut ones = 0;
        for w in 0..CODE_WORDS {
            let word = word_at(gallery, j * CODE_BYTES + 8 * w);
            g.words[w][j] = word;
            ones += word.count_ones();
        }
        g.usable[j] = ones >= MIN_ONES;
        g.inverse_roots[j] = inverse_root(ones);
        g.directions[j] = gallery[DIRECTIONS_AT + j];
    }
    g
}

/// `1 / √ones` (0 for no set bit), as every build computes it (an IEEE square root and
/// division).
#[inline(always)]
fn inverse_root(ones: u32) -> f32 {
    if ones == 0 {
        0.0
    } else {
        1.0 / (ones as f32).sqrt()
    }
}

/// The similarities of probe code `i` to every gallery slot: the cosine of the two codes,
/// `|a ∧ b| / √(|a| |b|)`; 0 where a code is unusable or the directions differ too much.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // fixed-length passes the compiler vectorises
fn similarities(probe: &ProbeFeature, i: usize, g: &GalleryCodes) -> [f32; SLOTS] {
    let a: [u64; CODE_WORDS] = std::array::from_fn(|w| probe.lane_words.0[w][i]);
    let (ia, pd) = (probe.inverse_roots[i], probe.lane_directions[i]);
    // Separate fixed-length passes, each of which the compiler turns into vector code:
    // common bits, the direction and usability mask, similarities. No square root or
    // division per pair: the gallery codes' 1 / √|b| are worked out once per template.
    let mut common = [0u32; SLOTS];
    for j in 0..SLOTS {
        common[j] = (a[0] & g.words[0][j]).count_ones()
            + (a[1] & g.words[1][j]).count_ones()
            + (a[2] & g.words[2][j]).count_ones()
            + (a[3] & g.words[3][j]).count_ones();
    }
    let mut allowed = [0.0f32; SLOTS];
    for j in 0..SLOTS {
        allowed[j] = f32::from(u8::from(g.usable[j] & within_window(pd, g.directions[j])));
    }
    // Cosines lie in [0, 1] (|a ∧ b| ≤ √(|a| |b|)), so multiplying by the 0/1 mask is the
    // selection.
    let mut similarity = [0.0f32; SLOTS];
    for j in 0..SLOTS {
        similarity[j] = common[j] as f32 * g.inverse_roots[j] * ia * allowed[j];
    }
    similarity
}

/// The larger of two values that are not NaN, written as a comparison and a selection
/// (what a vector max instruction does) rather than `f32::max`, whose NaN rule kept the
/// compiler from vectorising the maxima (a scalar compare, mask and move per slot).
#[inline(always)]
fn larger(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

/// The largest of a slot row (at least 0): the row's `LANES`-wide chunks folded together
/// lane by lane (vector maxima), then the lanes halved until one is left. The maximum of
/// values that are not NaN does not depend on the order it is taken in, so every build
/// gives the same result.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // fixed-length passes the compiler vectorises
fn row_max(values: &[f32; SLOTS]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    for c in 0..SLOTS / LANES {
        for l in 0..LANES {
            lanes[l] = larger(lanes[l], values[c * LANES + l]);
        }
    }
    let mut width = LANES / 2;
    while width > 0 {
        for l in 0..width {
            lanes[l] = larger(lanes[l], lanes[l + width]);
        }
        width /= 2;
    }
    lanes[0]
}

/// Inserts `value` into `top`, kept in descending order, when it beats the last.
#[inline(always)]
fn keep_top<T: Copy, const N: usize>(top: &mut [(f32, T); N], value: (f32, T)) {
    if value.0 > top[N - 1].0 {
        let mut k = N - 1;
        while k > 0 && top[k - 1].0 < value.0 {
            top[k] = top[k - 1];
            k -= 1;
        }
        top[k] = value;
    }
}

/// The smaller of two values that are not NaN (see [`larger`]).
#[inline(always)]
fn smaller(a: f32, b: f32) -> f32 {
    if b < a { b } else { a }
}

/// Inserts `value` into `top`, kept in descending order, without a branch: each place
/// takes the larger of what it holds and the smaller of the value and what the place
/// above held. The same values in the same places as [`keep_top`] (which branches on
/// every comparison, and mispredicts often when the values come in no order), so the
/// same mean.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // a fixed-length pass the compiler vectorises
fn insert_top(top: &mut [f32; TOP], value: f32) {
    let mut above = [f32::INFINITY; TOP];
    above[1..].copy_from_slice(&top[..TOP - 1]);
    for s in 0..TOP {
        top[s] = larger(top[s], smaller(above[s], value));
    }
}

/// The mean of the `TOP` best.
#[inline(always)]
fn mean_of(top: &[f32; TOP]) -> f32 {
    let mut sum = 0.0f32;
    for &v in top {
        sum += v;
    }
    sum / TOP as f32
}

/// Feature `i` of a contiguous block, when `wanted` marks it (or is empty): the kernels'
/// view of a block.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))] // used by the x86-64 kernels
fn wanted_feature<'a>(
    features: &'a [u8],
    wanted: &'a [bool],
) -> impl Fn(usize) -> Option<&'a [u8]> {
    move |i| {
        (wanted.is_empty() || wanted[i])
            .then(|| &features[i * FEATURE_BYTES..(i + 1) * FEATURE_BYTES])
    }
}

/// Code `slot` of a gallery feature and its count of set bits (at most `CODE_BITS`), when
/// it has enough of them to be compared.
#[inline(always)]
fn usable_code(gallery: &[u8], slot: usize) -> Option<([u64; CODE_WORDS], u32)> {
    let words: [u64; CODE_WORDS] =
        std::array::from_fn(|w| word_at(gallery, slot * CODE_BYTES + 8 * w));
    let ones: u32 = words.iter().map(|w| w.count_ones()).sum();
    (ones >= MIN_ONES).then_some((words, ones))
}

/// Stage-1 similarity in [0, 1] of a probe and a gallery feature. The same arithmetic in
/// the same order on every instruction set (integer bit counts, then f32 products, maxima
/// and a mean, which IEEE 754 rounds identically; the inverse roots come from one table),
/// so every build of the scan gives identical scores.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // fixed-length passes the compiler vectorises
pub fn score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    // Plain index loops with fixed bounds and helpers that are always inlined: everything
    // here must inline into the callers that are compiled for POPCNT / AVX-512 (a function
    // left out of line would be compiled for the baseline, with a software popcount).
    // Each gallery code in turn meets every probe code at once, one probe code per vector
    // lane, so that each probe code's best is a running maximum lane by lane — no
    // reduction across lanes per pair of codes.
    let gallery = &gallery[..FEATURE_BYTES];
    let stored = code_count(gallery);
    let mut best = [0.0f32; PROBE_LANES];
    for j in 0..stored {
        let Some((words, ones)) = usable_code(gallery, j) else {
            continue;
        };
        let ib = probe.inverse_root_of[ones as usize];
        let gd = gallery[DIRECTIONS_AT + j];
        let mut common = [0u64; PROBE_LANES];
        for k in 0..PROBE_LANES {
            common[k] = u64::from((probe.lane_words.0[0][k] & words[0]).count_ones())
                + u64::from((probe.lane_words.0[1][k] & words[1]).count_ones())
                + u64::from((probe.lane_words.0[2][k] & words[2]).count_ones())
                + u64::from((probe.lane_words.0[3][k] & words[3]).count_ones());
        }
        let window = probe.window_lanes[usize::from(gd)];
        for k in 0..PROBE_LANES {
            // A selection, not a multiplication by a 0/1 mask: the same values (the
            // products are finite and not negative), one vector operation fewer.
            let similarity = if (window >> k) & 1 == 1 {
                common[k] as f32 * ib
            } else {
                0.0
            };
            best[k] = larger(best[k], similarity);
        }
    }
    // The cosine's probe factor, after the maxima (multiplying by a positive number keeps
    // their order, so this equals the maximum of the full cosines).
    let mut top = [0.0f32; TOP];
    for k in 0..probe.count {
        insert_top(&mut top, best[k] * probe.inverse_roots[k]);
    }
    mean_of(&top)
}

/// [`score`] computed pair by pair over the probe codes within the direction window only
/// (on average 35 % of them: their run of `Ranked` ranks) instead of every lane: for
/// processors without a vector bit count, where each pair costs four scalar ones. The same
/// integer counts, products and maxima, so the same value.
#[inline(always)]
pub fn score_by_direction(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    let gallery = &gallery[..FEATURE_BYTES];
    let stored = code_count(gallery);
    let ranked = &probe.ranked;
    let mut best = [0.0f32; 2 * PROBE_CODES];
    for j in 0..stored {
        let Some((words, ones)) = usable_code(gallery, j) else {
            continue;
        };
        let ib = probe.inverse_root_of[ones as usize];
        let (start, len) = ranked.runs[usize::from(gallery[DIRECTIONS_AT + j])];
        let (start, len) = (usize::from(start), usize::from(len));
        for (a, b) in ranked.words[start..start + len]
            .iter()
            .zip(&mut best[start..start + len])
        {
            let common = (a[0] & words[0]).count_ones()
                + (a[1] & words[1]).count_ones()
                + (a[2] & words[2]).count_ones()
                + (a[3] & words[3]).count_ones();
            *b = larger(*b, common as f32 * ib);
        }
    }
    mean_of_ranks(probe, &best)
}

/// The score from the best similarity of each cyclic rank (`best[r]`, before the probe
/// factor): as in [`score`], the mean of the 8 best of each probe code's best times its
/// `1 / √|a|` — ranks `r` and `r + count` hold the same probe code.
#[inline(always)]
fn mean_of_ranks(probe: &ProbeFeature, best: &[f32]) -> f32 {
    let n = probe.count;
    let mut top = [0.0f32; TOP];
    for r in 0..n {
        let k = usize::from(probe.ranked.code[r]);
        insert_top(
            &mut top,
            larger(best[r], best[r + n]) * probe.inverse_roots[k],
        );
    }
    mean_of(&top)
}

/// Placements tried by [`consistent_score`]: its best pairs of codes.
const ANCHORS: usize = 8;
/// Under a placement, a probe code's minutia corresponds to a gallery code's when they lie
/// this close, px (positions are stored to 4 px)...
const PLACE_DISTANCE: f32 = 4.0;
/// ...plus this share of the probe minutia's distance from the anchor (skin stretches)...
const PLACE_DISTANCE_PER_PX: f32 = 0.06;
/// ...and their directions differ by at most this (1/256 turns; 20 ≈ 28°).
const PLACE_DIRECTION_UNITS: u8 = 20;

/// The stage-1 similarity with geometry, for re-ranking the scan's best: every probe code
/// is compared with every gallery code as in [`score`]; then each of the `ANCHORS` most
/// similar pairs in turn anchors a rigid placement of the probe's minutiae on the gallery
/// print (the pair's minutiae on each other, their directions aligned), under which a
/// probe code counts with its best similarity to a gallery code whose minutia it lands on.
/// The score is the best placement's mean of the `TOP` best — [`score`]'s, restricted to
/// pairs that agree on one placement, as the matcher's global consolidation does. Never
/// above [`score`]; several times its cost. Identical on every instruction set, as
/// [`score`] is.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // fixed-length passes the compiler vectorises
pub fn consistent_score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    let gallery = &gallery[..FEATURE_BYTES];
    let g = unpack(gallery);
    // Empty slots lie far from every placed minutia.
    let mut xs = [1.0e6f32; SLOTS];
    let mut ys = [1.0e6f32; SLOTS];
    for j in 0..g.stored {
        (xs[j], ys[j]) = position(gallery, j);
    }
    // The similarity of every pair, and the best pairs (similarity, (probe, gallery)) in
    // descending order.
    let mut similarity = [[0.0f32; SLOTS]; PROBE_CODES];
    let mut anchors = [(0.0f32, (0usize, 0usize)); ANCHORS];
    const _: () = assert!(SLOTS <= 32 && CODES < SLOTS);
    let stored = (1u32 << g.stored) - 1;
    for i in 0..probe.count {
        similarity[i] = similarities(probe, i, &g);
        // Only pairs above the last anchor's similarity can take its place, and it only
        // rises: those of the row are found side by side, then offered in order.
        let bar = anchors[ANCHORS - 1].0;
        let mut above = 0u32;
        for j in 0..SLOTS {
            above |= u32::from(similarity[i][j] > bar) << j;
        }
        let mut above = above & stored;
        while above != 0 {
            let j = above.trailing_zeros() as usize;
            keep_top(&mut anchors, (similarity[i][j], (i, j)));
            above &= above - 1;
        }
    }
    let mut best = 0.0f32;
    for &(s, (i0, j0)) in &anchors {
        if s <= 0.0 {
            break;
        }
        let turn = g.directions[j0].wrapping_sub(probe.lane_directions[i0]);
        let (sin, cos) = (f32::from(turn) * (std::f32::consts::TAU / 256.0)).sin_cos();
        let (ax, ay) = probe.positions[i0];
        let (bx, by) = (xs[j0], ys[j0]);
        // Most rows land nowhere (0), so here the branch of `keep_top` is well predicted
        // and cheaper than `insert_top`.
        let mut top = [(0.0f32, ()); TOP];
        for i in 0..probe.count {
            let (dx, dy) = (probe.positions[i].0 - ax, probe.positions[i].1 - ay);
            let (x, y) = (cos * dx - sin * dy + bx, sin * dx + cos * dy + by);
            let direction = probe.lane_directions[i].wrapping_add(turn);
            let reach = PLACE_DISTANCE + PLACE_DISTANCE_PER_PX * (dx * dx + dy * dy).sqrt();
            let reach2 = reach * reach;
            let mut landed = [0.0f32; SLOTS];
            let mut any = [false; SLOTS];
            for j in 0..SLOTS {
                let (ex, ey) = (xs[j] - x, ys[j] - y);
                let off = (direction.wrapping_sub(g.directions[j]) as i8).unsigned_abs();
                let lands = (ex * ex + ey * ey <= reach2) & (off <= PLACE_DIRECTION_UNITS);
                landed[j] = similarity[i][j] * f32::from(u8::from(lands));
                any[j] = landed[j] > 0.0;
            }
            // A row that lands nowhere has the maximum 0, which `keep_top` never takes
            // (its last place is at least 0): most rows, whose maximum is then not
            // worked out.
            if any.contains(&true) {
                keep_top(&mut top, (row_max(&landed), ()));
            }
        }
        best = best.max(mean_of(&top.map(|t| t.0)));
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_template_gets_rows_about_centres_spread_over_it_and_a_small_one_one_row() {
        let large = grid_print(30.0, true);
        assert_eq!(large.minutiae.len(), 121);
        let prepared = matching::prepare(&large).unwrap();
        let rows = gallery_rows(&prepared);
        // One per 40 minutiae beside the centroid's.
        assert_eq!(rows.len(), 5 * FEATURE_BYTES);
        assert!(rows.chunks(FEATURE_BYTES).all(is_current));
        // The first row is about the centroid, as the probe's feature is; its 20 most
        // central codes are the probe's, and the other 9 are the next nearest, not
        // spread: all its codes lie near the middle.
        let probe = feature_of(&prepared);
        let first = &rows[..FEATURE_BYTES];
        assert_eq!(
            first[..PROBE_CODES * CODE_BYTES],
            probe[..PROBE_CODES * CODE_BYTES]
        );
        let reach = |f: &[u8]| {
            (0..code_count(f))
                .map(|j| position(f, j))
                .map(|(x, y)| x.hypot(y))
                .fold(0.0f32, f32::max)
        };
        assert!(reach(first) < 90.0, "{}", reach(first));
        assert!(reach(&probe) > 130.0, "{}", reach(&probe));
        // The further centres lie inside the print, apart from each other and from the
        // centroid (the grid's middle, about (145, 145)).
        let minutiae: Vec<(f32, f32, u8)> = prepared.cylinder_minutiae().collect();
        let centre = centroid(&minutiae);
        let centres = row_centres(&minutiae, centre);
        assert_eq!(centres.len(), 4);
        let (lo, hi) = (
            minutiae
                .iter()
                .fold((f32::MAX, f32::MAX), |a, m| (a.0.min(m.0), a.1.min(m.1))),
            minutiae
                .iter()
                .fold((f32::MIN, f32::MIN), |a, m| (a.0.max(m.0), a.1.max(m.1))),
        );
        let all: Vec<(f32, f32)> = std::iter::once(centre).chain(centres).collect();
        for (i, a) in all.iter().enumerate() {
            assert!((lo.0..=hi.0).contains(&a.0) && (lo.1..=hi.1).contains(&a.1));
            for b in &all[i + 1..] {
                assert!((a.0 - b.0).hypot(a.1 - b.1) > 60.0, "{a:?} {b:?}");
            }
        }
        // Each row stores its codes about its own centre: the codes differ row to row.
        let codes = |r: &[u8]| r[..CODES * CODE_BYTES].to_vec();
        let distinct: std::collections::HashSet<Vec<u8>> =
            rows.chunks(FEATURE_BYTES).map(codes).collect();
        assert_eq!(distinct.len(), 5);
        // Up to ROWS_FROM minutiae: one row, the probe's feature with spread codes.
        let mut small = large.clone();
        small.minutiae.truncate(ROWS_FROM);
        let small = matching::prepare(&small).unwrap();
        let mut one = feature_of(&small);
        one[FLAGS_AT] |= ROWS;
        assert_eq!(gallery_rows(&small), one);
    }

    /// A print of minutiae on a 25-px grid (300 × 300 px at 500 ppi), every one pointing
    /// `degrees`, with (when `horizontal_flow`) a ridge-flow block in which every ridge
    /// runs across.
    fn grid_print(degrees: f32, horizontal_flow: bool) -> Template {
        use crate::template::{Minutia, MinutiaKind, Resolution};
        let mut t = Template::new(300, 300);
        t.resolution = Resolution::PPI_500;
        for y in (20..290).step_by(25) {
            for x in (20..290).step_by(25) {
                t.minutiae.push(Minutia {
                    x: x + (y / 25) % 3,
                    y,
                    direction: Minutia::direction_from_degrees(degrees),
                    kind: MinutiaKind::Ending,
                    quality: 60,
                });
            }
        }
        if horizontal_flow {
            let side = 300usize.div_ceil(flow::FLOW_BLOCK);
            let cells = vec![Some((0.0f32, 0.8f32)); side * side];
            t.extensions
                .extend(flow::encode(side, side, flow::FLOW_BLOCK, &cells));
        }
        t
    }

    #[test]
    fn codes_of_prints_with_ridge_flow_carry_it_in_their_last_word() {
        assert_eq!(
            flow::ring_samples(FLOW_RING).len() * FLOW_BINS,
            FLOW_BITS,
            "the ring's samples fill the last word"
        );
        // Ridges across, minutiae along them (0°) or 22.5° off: the doubled angle of the
        // ridges relative to the minutia is 0 (bin 2 of 4, from −180°) or −45° (bin 1) at
        // every sample on the print.
        for (degrees, bin) in [(0.0, 2), (22.5, 1)] {
            let with = feature(&grid_print(degrees, true));
            let without = feature(&grid_print(degrees, false));
            assert!(has_flow(&with) && !has_flow(&without));
            assert_eq!(code_count(&with), CODES);
            assert_eq!(code_count(&with), code_count(&without));
            let one_bin: u64 = (0..16).map(|j| 1u64 << (4 * j + bin)).sum();
            for slot in 0..CODES {
                let at = slot * CODE_BYTES;
                let last = word_at(&with, at + 8 * (CODE_WORDS - 1));
                if slot < PROBE_CODES {
                    // The central minutiae's 45-px ring lies on the print: all 16 samples.
                    assert_eq!(last, one_bin, "code {slot}: {last:#018x}");
                } else {
                    // The outer ones' may leave it: the samples on it, in the same bin.
                    assert!(
                        last != 0 && last & !one_bin == 0,
                        "code {slot}: {last:#018x}"
                    );
                }
                // The other words are the cylinder's sampled cells, as without the flow.
                for w in 0..CODE_WORDS - 1 {
                    assert_eq!(word_at(&with, at + 8 * w), word_at(&without, at + 8 * w));
                }
            }
            // Without the flow the last word is cylinder cells too.
            assert!(
                (0..CODES).any(|slot| {
                    word_at(&without, slot * CODE_BYTES + 8 * (CODE_WORDS - 1)) != 0
                })
            );
        }
    }

    #[test]
    fn gallery_codes_beyond_the_probes_reach_out_to_the_whole_print() {
        // 25 minutiae in a tight grid round the centre (10 px apart) and 8 far out: at
        // the corners and the middles of the edges of a 400-px square.
        let mut minutiae = Vec::new();
        for i in 0..25 {
            minutiae.push((
                200.0 + 10.0 * (i % 5) as f32,
                200.0 + 10.0 * (i / 5) as f32,
                0,
            ));
        }
        let far = [
            (0, 0),
            (200, 0),
            (400, 0),
            (0, 200),
            (400, 200),
            (0, 400),
            (200, 400),
            (400, 400),
        ];
        for (x, y) in far {
            minutiae.push((x as f32, y as f32, 0));
        }
        let (cx, cy) = (220.0, 220.0);
        let order = code_order(&minutiae, cx, cy, true);
        assert_eq!(order.len(), CODES);
        // A probe's codes: the 20 most central, as before.
        let mut by_centre: Vec<usize> = (0..minutiae.len()).collect();
        by_centre.sort_by(|&a, &b| {
            let d = |k: usize| (minutiae[k].0 - cx).powi(2) + (minutiae[k].1 - cy).powi(2);
            d(a).total_cmp(&d(b)).then(a.cmp(&b))
        });
        assert_eq!(order[..PROBE_CODES], by_centre[..PROBE_CODES]);
        // The gallery's others: all 8 far ones (the 9 next most central would hold only
        // the 4 nearest of them), then one more of the grid.
        let mut next: Vec<usize> = order[PROBE_CODES..PROBE_CODES + 8].to_vec();
        next.sort_unstable();
        assert_eq!(next, (25..33).collect::<Vec<_>>());
        assert!(order[PROBE_CODES + 8] < 25);
        // Not spread (a large template's rows): the 29 nearest, nearest first.
        assert_eq!(
            code_order(&minutiae, cx, cy, false),
            by_centre[..CODES].to_vec()
        );
        // A template with fewer minutiae than codes keeps them all, each once.
        let few = code_order(&minutiae[..12], cx, cy, true);
        let mut sorted = few.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..12).collect::<Vec<_>>());
    }

    /// Features with random codes (some too sparse to use), directions and counts.
    fn random_features(n: usize, seed: u64) -> Vec<[u8; FEATURE_BYTES]> {
        let mut state = seed;
        let mut next = move || split_mix(&mut state);
        (0..n)
            .map(|_| {
                let mut f = [0u8; FEATURE_BYTES];
                for b in f.iter_mut() {
                    *b = next() as u8;
                }
                for slot in 0..CODES {
                    // Sparse codes, like the cylinders': each bit set with chance 1/4,
                    // every fifth code nearly empty.
                    for w in 0..CODE_WORDS {
                        let mut word = next() & next();
                        if slot % 5 == 4 {
                            word &= next() & next() & next() & 1;
                        }
                        let at = slot * CODE_BYTES + 8 * w;
                        f[at..at + 8].copy_from_slice(&word.to_le_bytes());
                    }
                }
                f[COUNT_AT] = (next() % (CODES as u64 + 1)) as u8;
                f
            })
            .collect()
    }

    /// The scan's score written the plain way: every pair of usable codes, the cosine,
    /// each probe code's best, the mean of the 8 best.
    fn plain_score(probe: &[u8], gallery: &[u8]) -> f32 {
        let codes = |f: &[u8]| -> Vec<([u64; CODE_WORDS], u8, u32)> {
            (0..code_count(f))
                .map(|j| {
                    let c: [u64; CODE_WORDS] =
                        std::array::from_fn(|w| word_at(f, j * CODE_BYTES + 8 * w));
                    (
                        c,
                        f[DIRECTIONS_AT + j],
                        c.iter().map(|w| w.count_ones()).sum(),
                    )
                })
                .filter(|c| c.2 >= MIN_ONES)
                .collect()
        };
        let gallery = codes(gallery);
        let mut rows: Vec<f32> = codes(probe)
            .into_iter()
            .take(PROBE_CODES)
            .map(|(a, da, na)| {
                let best = gallery
                    .iter()
                    .filter(|(_, db, _)| {
                        (da.wrapping_sub(*db) as i8).unsigned_abs() <= MAX_DIRECTION_UNITS
                    })
                    .map(|(b, _, nb)| {
                        let common: u32 = (0..CODE_WORDS).map(|w| (a[w] & b[w]).count_ones()).sum();
                        common as f32 * inverse_root(*nb)
                    })
                    .fold(0.0f32, larger);
                best * inverse_root(na)
            })
            .collect();
        rows.sort_by(|a, b| b.total_cmp(a));
        rows.resize(rows.len().max(TOP), 0.0);
        rows[..TOP].iter().sum::<f32>() / TOP as f32
    }

    #[test]
    fn the_scan_gives_the_plain_computations_scores() {
        let features = random_features(60, 11);
        for p in &features[..12] {
            let probe = ProbeFeature::new(p);
            for g in &features {
                assert_eq!(score(&probe, g), plain_score(p, g));
            }
        }
    }

    /// [`consistent_score`] the plain way: every pair of codes with a similarity, sorted
    /// (ties in the order of the pairs) for the anchors; under each placement every probe
    /// code's best landed similarity, sorted for the best `TOP`.
    fn plain_consistent_score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
        let g = unpack(gallery);
        let place = |j: usize| position(gallery, j);
        let rows: Vec<[f32; SLOTS]> = (0..probe.count)
            .map(|i| similarities(probe, i, &g))
            .collect();
        let mut pairs: Vec<(f32, usize, usize)> = (0..probe.count)
            .flat_map(|i| (0..g.stored).map(move |j| (i, j)))
            .map(|(i, j)| (rows[i][j], i, j))
            .filter(|p| p.0 > 0.0)
            .collect();
        pairs.sort_by(|a, b| b.0.total_cmp(&a.0));
        pairs.truncate(ANCHORS);
        let placement = |&(_, i0, j0): &(f32, usize, usize)| {
            let turn = g.directions[j0].wrapping_sub(probe.lane_directions[i0]);
            let (sin, cos) = (f32::from(turn) * (std::f32::consts::TAU / 256.0)).sin_cos();
            let anchor = probe.positions[i0];
            let mut best: Vec<f32> = (0..probe.count)
                .map(|i| {
                    let (dx, dy) = (
                        probe.positions[i].0 - anchor.0,
                        probe.positions[i].1 - anchor.1,
                    );
                    let to = (
                        cos * dx - sin * dy + place(j0).0,
                        sin * dx + cos * dy + place(j0).1,
                    );
                    let reach = PLACE_DISTANCE + PLACE_DISTANCE_PER_PX * (dx * dx + dy * dy).sqrt();
                    let heading = probe.lane_directions[i].wrapping_add(turn);
                    (0..g.stored)
                        .filter(|&j| {
                            let (ex, ey) = (place(j).0 - to.0, place(j).1 - to.1);
                            let off = (heading.wrapping_sub(g.directions[j]) as i8).unsigned_abs();
                            ex * ex + ey * ey <= reach * reach && off <= PLACE_DIRECTION_UNITS
                        })
                        .map(|j| rows[i][j])
                        .fold(0.0f32, larger)
                })
                .collect();
            best.sort_by(|a, b| b.total_cmp(a));
            best.resize(best.len().max(TOP), 0.0);
            mean_of(&std::array::from_fn(|k| best[k]))
        };
        pairs.iter().map(placement).fold(0.0f32, f32::max)
    }

    #[test]
    fn the_geometric_rescoring_skips_only_what_cannot_count() {
        let features = random_features(40, 23);
        let mut state = 77;
        let mut next = move || split_mix(&mut state);
        let (mut compared, mut placed) = (0, 0);
        for (k, f) in features.iter().enumerate() {
            let probe = ProbeFeature::new(f);
            // The same print placed again: its codes' positions and directions nudged,
            // every fourth code another print's.
            let mut near = *f;
            for slot in 0..CODES {
                for axis in 0..2 {
                    let at = POSITIONS_AT + 2 * slot + axis;
                    near[at] = (near[at] as i8).wrapping_add((next() % 3) as i8 - 1) as u8;
                }
                let at = DIRECTIONS_AT + slot;
                near[at] = near[at].wrapping_add((next() % 9) as u8).wrapping_sub(4);
                if slot % 4 == 3 {
                    let other = &features[(k + 1) % features.len()];
                    let code = slot * CODE_BYTES..(slot + 1) * CODE_BYTES;
                    near[code.clone()].copy_from_slice(&other[code]);
                }
            }
            for g in features.iter().chain([&near]) {
                let (fast, plain) = (
                    consistent_score(&probe, g),
                    plain_consistent_score(&probe, g),
                );
                assert_eq!(fast.to_bits(), plain.to_bits(), "feature {k}");
                compared += 1;
                placed += usize::from(fast > 0.0);
            }
        }
        // Not only features that land nowhere (score 0): the own prints placed again, and
        // chance placements among the others.
        assert!(
            placed >= 500 && compared == 40 * 41,
            "{placed} of {compared}"
        );
    }

    #[test]
    fn a_feature_matches_itself_fully_and_scores_stay_in_range() {
        let features = random_features(40, 5);
        for f in &features {
            let probe = ProbeFeature::new(f);
            let itself = score(&probe, f);
            if probe.count >= TOP {
                assert!((itself - 1.0).abs() < 1e-5, "{itself}");
            }
            for g in &features {
                let s = score(&probe, g);
                assert!((0.0..=1.0 + 1e-5).contains(&s), "{s}");
                assert!(consistent_score(&probe, g) <= s);
            }
        }
    }

    /// `features` with their code directions replaced: code `slot` of feature `i` gets
    /// `direction(i, slot)`.
    fn with_directions(
        mut features: Vec<[u8; FEATURE_BYTES]>,
        direction: impl Fn(usize, usize) -> u8,
    ) -> Vec<[u8; FEATURE_BYTES]> {
        for (i, f) in features.iter_mut().enumerate() {
            for slot in 0..CODES {
                f[DIRECTIONS_AT + slot] = direction(i, slot);
            }
        }
        features
    }

    #[test]
    fn probes_whose_direction_arcs_hold_more_than_16_codes_are_not_arranged_in_sectors() {
        // Twenty usable codes all of one direction: every sector's arc holds all of them.
        let one_way = with_directions(random_features(30, 3), |_, _| 77);
        let full = one_way
            .iter()
            .map(ProbeFeature::new)
            .find(|p| p.count > SECTOR_LANES)
            .expect("a probe with more than 16 usable codes");
        assert!(full.sectors.is_none());
        // Directions spread evenly: no arc holds more than 16. (A probe without usable
        // codes has nothing to arrange.)
        let spread = with_directions(random_features(30, 3), |_, slot| (slot * 256 / CODES) as u8);
        let mut checked = 0;
        for p in spread.iter().map(ProbeFeature::new).filter(|p| p.count > 0) {
            assert!(p.sectors.is_some());
            checked += 1;
        }
        assert!(checked >= 25, "{checked} probes with codes");
    }

    #[test]
    fn every_sector_holds_each_code_it_needs_in_that_codes_one_lane() {
        let mut arranged = 0;
        for f in &varied_features() {
            let p = ProbeFeature::new(f);
            let Some(s) = &p.sectors else { continue };
            arranged += 1;
            let words = |sector: usize, l: usize| -> [u64; CODE_WORDS] {
                std::array::from_fn(|w| s.words[sector].0[w][l])
            };
            for k in 0..p.count {
                // Where the gather takes code k from: a lane, in the first or second maximum.
                let (mask, index) = s.gather[k / 16];
                assert_eq!(mask >> (k % 16) & 1, 1, "code {k} is gathered");
                let at = index[k % 16] as usize;
                let (lane, second) = (at % SECTOR_LANES, at >= SECTOR_LANES);
                let code: [u64; CODE_WORDS] = std::array::from_fn(|w| p.lane_words.0[w][k]);
                for gd in 0..256usize {
                    if !within_window(p.lane_directions[k], gd as u8) {
                        continue;
                    }
                    // Every gallery direction that compares with code k finds it in its
                    // lane, in the window, sent to the maximum the gather reads.
                    let sector = gd / (256 / SECTORS);
                    assert_eq!(words(sector, lane), code, "code {k}, direction {gd}");
                    let [first_lanes, second_lanes] = s.to[gd];
                    let (to, not_to) = if second {
                        (second_lanes, first_lanes)
                    } else {
                        (first_lanes, second_lanes)
                    };
                    assert_eq!(to >> lane & 1, 1, "code {k}, direction {gd}");
                    assert_eq!(not_to >> lane & 1, 0, "code {k}, direction {gd}");
                }
            }
            // Lanes 0-7 are the same in every sector (the scan keeps them in registers).
            for sector in 0..SECTORS {
                for l in 0..SECTOR_LANES / 2 {
                    assert_eq!(words(sector, l), words(0, l));
                    for gd in sector * 256 / SECTORS..(sector + 1) * 256 / SECTORS {
                        assert_eq!(s.to[gd][1] >> l & 1, 0);
                    }
                }
            }
        }
        assert!(arranged >= 20, "only {arranged} probes arranged in sectors");
    }

    /// Random directions, directions crowded into a quarter turn, and (from the random
    /// features' varying counts of usable codes) probes with few codes.
    fn varied_features() -> Vec<[u8; FEATURE_BYTES]> {
        let mut features = random_features(80, 21);
        features.extend(with_directions(random_features(80, 22), |i, slot| {
            (i * 37 + slot * 64 / CODES) as u8
        }));
        features
    }

    #[test]
    fn scoring_by_direction_gives_the_lane_scores() {
        let features = varied_features();
        let mut widths = Vec::new();
        for p in features.iter().step_by(3) {
            let probe = ProbeFeature::new(p);
            widths.push(probe.ranked.runs.iter().map(|r| r.1).max().unwrap_or(0));
            for (i, g) in features.iter().enumerate() {
                assert_eq!(
                    score_by_direction(&probe, g),
                    score(&probe, g),
                    "probe of {} codes, feature {i}",
                    probe.count
                );
            }
        }
        // Runs short and long were met: the crowded probes' span all their codes.
        widths.sort_unstable();
        assert!(
            widths[0] <= 12 && widths[widths.len() - 1] >= 16,
            "{widths:?}"
        );
    }

    /// A kernel's scores of `features` are the portable ones: 0 for those `wanted` leaves
    /// out (all wanted when it is empty), bit for bit for the others.
    #[cfg(target_arch = "x86_64")]
    fn assert_portable_scores(
        probe: &ProbeFeature,
        features: &[[u8; FEATURE_BYTES]],
        wanted: &[bool],
        got: &[f32],
    ) {
        for (i, g) in features.iter().enumerate() {
            let expected = if wanted.is_empty() || wanted[i] {
                score(probe, g)
            } else {
                0.0
            };
            assert_eq!(
                got[i], expected,
                "probe of {} codes, feature {i}",
                probe.count
            );
        }
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx2_scan_gives_the_portable_scores() {
        if !avx2::available() {
            eprintln!("skipped: this processor lacks AVX2");
            return;
        }
        let features = varied_features();
        let block: Vec<u8> = features.iter().flatten().copied().collect();
        let separate: Vec<&[u8]> = features.iter().map(|f| &f[..]).collect();
        let wanted: Vec<bool> = (0..features.len()).map(|i| i % 7 != 3).collect();
        let mut skipped = 0;
        for p in features.iter().step_by(3) {
            let probe = ProbeFeature::new(p);
            let mut fast = Vec::new();
            assert!(avx2::try_scan_block(
                &probe,
                &block,
                &wanted,
                f32::NEG_INFINITY,
                &mut fast
            ));
            assert_portable_scores(&probe, &features, &wanted, &fast);
            skipped += assert_bar_keeps_the_scores_that_reach_it(&fast, |bar, barred| {
                assert!(avx2::try_scan_block(&probe, &block, &wanted, bar, barred));
            });
            assert!(avx2::try_scan_separate(&probe, &separate, &mut fast));
            assert_portable_scores(&probe, &features, &[], &fast);
        }
        // The bar did leave some unfinished (their best per-code value, not the mean of 8).
        assert!(skipped > 0, "no feature was left unfinished");
    }

    /// With a bar (the median of the exact scores `exact`), the features that reach it keep
    /// their exact scores and the others get values below it; `scan(bar, out)` scans the
    /// same features with the bar. Returns how many were left unfinished (a value other
    /// than their score).
    #[cfg(target_arch = "x86_64")]
    fn assert_bar_keeps_the_scores_that_reach_it(
        exact: &[f32],
        scan: impl Fn(f32, &mut Vec<f32>),
    ) -> usize {
        let mut sorted = exact.to_vec();
        sorted.sort_by(f32::total_cmp);
        let bar = sorted[sorted.len() / 2];
        let mut barred = Vec::new();
        scan(bar, &mut barred);
        assert_eq!(barred.len(), exact.len());
        let mut skipped = 0;
        for (i, (&exact, &got)) in exact.iter().zip(&barred).enumerate() {
            if exact >= bar {
                assert_eq!(got, exact, "feature {i} reaches the bar");
            } else {
                assert!(got < bar, "feature {i}: {got} is not below the bar {bar}");
                skipped += usize::from(got != exact);
            }
        }
        skipped
    }

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_avx512_scan_gives_the_portable_scores() {
        if !avx512::available() {
            eprintln!("skipped: this processor lacks the AVX-512 scan's instructions");
            return;
        }
        // Crowded directions give arcs near 16 codes; probes with few codes, lanes
        // repeating codes.
        let features = varied_features();
        let block: Vec<u8> = features.iter().flatten().copied().collect();
        let separate: Vec<&[u8]> = features.iter().map(|f| &f[..]).collect();
        let wanted: Vec<bool> = (0..features.len()).map(|i| i % 7 != 3).collect();
        let mut kinds = [0; 2];
        let mut skipped = 0;
        for p in features.iter().step_by(4) {
            let probe = ProbeFeature::new(p);
            let mut fast = Vec::new();
            assert!(avx512::try_scan_block(
                &probe,
                &block,
                &wanted,
                f32::NEG_INFINITY,
                &mut fast
            ));
            kinds[usize::from(probe.fits_sectors())] += 1;
            assert_portable_scores(&probe, &features, &wanted, &fast);
            skipped += assert_bar_keeps_the_scores_that_reach_it(&fast, |bar, barred| {
                assert!(avx512::try_scan_block(&probe, &block, &wanted, bar, barred));
            });
            assert!(avx512::try_scan_separate(&probe, &separate, &mut fast));
            assert_portable_scores(&probe, &features, &[], &fast);
        }
        // Both kernels ran: the sectors' and all lanes'.
        assert!(
            kinds[0] >= 5 && kinds[1] >= 5,
            "probes per kernel: {kinds:?}"
        );
        assert!(skipped > 0, "no feature was left unfinished");
    }
}
