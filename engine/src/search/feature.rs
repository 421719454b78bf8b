//! The stage-1 search feature (version 3, 1,016 bytes): compact codes of the template's 29
//! most central minutia cylinders (the matcher's local structures), compared one against
//! one as the matcher does, but on 256 sampled cells instead of 1,536, with where their
//! minutiae lie.
//!
//! Each code holds 256 bits: cell and angular section pairs drawn once (fixed seed) from
//! the cells within 7.5 cells of the cylinder's centre; a bit is set where the cell is
//! valid and set in the cylinder. With the code go its minutia's direction and position
//! (relative to the minutiae's centroid, in 4-pixel steps). A probe's first 20 codes (its
//! most central minutiae) are each compared with every gallery code whose direction is
//! within a quarter turn: similarity `1 − √|a ⊕ b| / (√|a| + √|b|)`, the matcher's
//! cylinder similarity (Cappelli, Ferrara, Maltoni, "Minutia Cylinder-Code", IEEE TPAMI
//! 32(12), 2010). The scan's [`score`]: a probe code keeps its best; the score is the mean
//! of the 8 best — the local similarity sort of that paper without its relaxation. The
//! scan's best are then re-ranked by [`consistent_score`], which counts only the pairs
//! that agree on one rigid placement of the probe on the gallery print.
//!
//! Version 1 hashed every cylinder into one 8,192-bit set (after the same authors' MCC
//! indexing, IEEE TPAMI 33(5), 2011) and counted shared bits: codes of different cylinders
//! collided, and the mate of one probe in seven ranked below the top 10 % of real
//! impostors. Version 2 compared codes one to one without positions (30 codes, 992
//! bytes). docs/search.md gives the figures. Each version's length differs from the
//! others' (1,024, 992, 1,016 bytes), so a gallery of old features is refused on opening
//! rather than searched wrongly.

use std::sync::OnceLock;

use crate::matching::params::{ND, NS};
use crate::matching::{self, PreparedTemplate};
use crate::template::Template;

/// Codes stored per template.
pub const CODES: usize = 29;
/// Bits per code.
const CODE_BITS: usize = 256;
const CODE_WORDS: usize = CODE_BITS / 64;
const CODE_BYTES: usize = CODE_BITS / 8;
/// Feature size in bytes: the codes, their directions, their positions, their count.
pub const FEATURE_BYTES: usize = CODES * CODE_BYTES + CODES + 2 * CODES + 1;
const DIRECTIONS_AT: usize = CODES * CODE_BYTES;
const POSITIONS_AT: usize = DIRECTIONS_AT + CODES;
const COUNT_AT: usize = POSITIONS_AT + 2 * CODES;
/// Positions are stored relative to the minutiae's centroid in steps of this many pixels
/// (500 ppi), as signed bytes.
const POSITION_STEP: f32 = 4.0;

/// Probe codes compared (the most central ones).
const PROBE_CODES: usize = 20;
/// Codes with fewer set bits say little (empty neighbourhoods look alike) and are skipped.
const MIN_ONES: u32 = 4;
/// Codes whose minutiae's directions differ by more than this (1/256 turns) are not
/// compared.
const MAX_DIRECTION_UNITS: u8 = 64;
/// Probe codes whose best similarities make the score.
const TOP: usize = 8;
/// Sampled cells lie within this many cells of the cylinder's centre.
const CENTRAL_RADIUS: f32 = 7.5;

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
        // SplitMix64 from a fixed seed.
        let mut state = 7u64;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
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

/// The feature of a prepared template.
pub fn feature_of(prepared: &PreparedTemplate) -> [u8; FEATURE_BYTES] {
    let minutiae: Vec<(f32, f32, u8)> = prepared.cylinder_minutiae().collect();
    let n = minutiae.len().max(1) as f32;
    let cx = minutiae.iter().map(|m| m.0).sum::<f32>() / n;
    let cy = minutiae.iter().map(|m| m.1).sum::<f32>() / n;
    // The most central cylinders first (ties keep the template's order).
    let mut order: Vec<(f32, usize)> = minutiae
        .iter()
        .enumerate()
        .map(|(k, m)| ((m.0 - cx).powi(2) + (m.1 - cy).powi(2), k))
        .collect();
    order.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    order.truncate(CODES);
    let cylinders = prepared.cylinder_codes();
    let mut out = [0u8; FEATURE_BYTES];
    for (slot, &(_, k)) in order.iter().enumerate() {
        let c = &cylinders[k];
        let mut code = [0u64; CODE_WORDS];
        for (bit, &(section, cell)) in samples().iter().enumerate() {
            let (word, at) = (cell / 64, cell % 64);
            if (c.valid[word] >> at) & (c.bits[section][word] >> at) & 1 == 1 {
                code[bit / 64] |= 1 << (bit % 64);
            }
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
    out
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
    codes: [[u64; CODE_WORDS]; PROBE_CODES],
    directions: [u8; PROBE_CODES],
    roots: [f32; PROBE_CODES],
    positions: [(f32, f32); PROBE_CODES],
    count: usize,
}

#[inline(always)]
fn word_at(bytes: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(b)
}

impl ProbeFeature {
    /// Unpacks a probe feature: its most central codes that hold enough set bits.
    pub fn new(bytes: &[u8; FEATURE_BYTES]) -> Self {
        let mut p = Self {
            codes: [[0; CODE_WORDS]; PROBE_CODES],
            directions: [0; PROBE_CODES],
            roots: [0.0; PROBE_CODES],
            positions: [(0.0, 0.0); PROBE_CODES],
            count: 0,
        };
        let stored = usize::from(bytes[COUNT_AT]).min(CODES);
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
            p.codes[p.count] = code;
            p.directions[p.count] = bytes[DIRECTIONS_AT + slot];
            p.roots[p.count] = (ones as f32).sqrt();
            p.positions[p.count] = position(bytes, slot);
            p.count += 1;
        }
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
    roots: [f32; SLOTS],
    usable: [bool; SLOTS],
    directions: [u8; SLOTS],
}

#[inline(always)]
fn unpack(gallery: &[u8]) -> GalleryCodes {
    let stored = usize::from(gallery[COUNT_AT]).min(CODES);
    let mut g = GalleryCodes {
        stored,
        words: [[0u64; SLOTS]; CODE_WORDS],
        roots: [0.0f32; SLOTS],
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
        g.roots[j] = (ones as f32).sqrt();
        g.directions[j] = gallery[DIRECTIONS_AT + j];
    }
    g
}

/// The similarities of probe code `i` to every gallery slot; 0 where a code is unusable
/// or the directions differ too much.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // fixed-length passes the compiler vectorises
fn similarities(probe: &ProbeFeature, i: usize, g: &GalleryCodes) -> [f32; SLOTS] {
    let a = &probe.codes[i];
    let (pa, pd) = (probe.roots[i], probe.directions[i]);
    // Separate fixed-length passes, each of which the compiler turns into vector code:
    // bit differences, the direction and usability mask, similarities.
    let mut differ = [0u32; SLOTS];
    for j in 0..SLOTS {
        differ[j] = (a[0] ^ g.words[0][j]).count_ones()
            + (a[1] ^ g.words[1][j]).count_ones()
            + (a[2] ^ g.words[2][j]).count_ones()
            + (a[3] ^ g.words[3][j]).count_ones();
    }
    let mut allowed = [0.0f32; SLOTS];
    for j in 0..SLOTS {
        let turn = (pd.wrapping_sub(g.directions[j]) as i8).unsigned_abs();
        allowed[j] = f32::from(u8::from(g.usable[j] & (turn <= MAX_DIRECTION_UNITS)));
    }
    // Similarities lie in [0, 1] (√|a ⊕ b| ≤ √|a| + √|b|) and `pa` is at least 2, so
    // multiplying by the 0/1 mask is the selection.
    let mut similarity = [0.0f32; SLOTS];
    for j in 0..SLOTS {
        similarity[j] = (1.0 - (differ[j] as f32).sqrt() / (pa + g.roots[j])) * allowed[j];
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

/// The largest of a slot row (at least 0), through `LANES` running maxima.
#[inline(always)]
fn row_max(values: &[f32; SLOTS]) -> f32 {
    let mut lanes = [0.0f32; LANES];
    for (j, &v) in values.iter().enumerate() {
        lanes[j % LANES] = larger(lanes[j % LANES], v);
    }
    let mut best = 0.0f32;
    for v in lanes {
        best = larger(best, v);
    }
    best
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

/// The mean of the `TOP` best.
#[inline(always)]
fn mean_of(top: &[(f32, ()); TOP]) -> f32 {
    let mut sum = 0.0f32;
    for v in top {
        sum += v.0;
    }
    sum / TOP as f32
}

/// Stage-1 similarity in [0, 1] of a probe and a gallery feature. The same arithmetic in
/// the same order on every instruction set (integer bit counts, then f32 square roots,
/// divisions and maxima, which IEEE 754 rounds identically), so every build of the scan
/// gives identical scores.
#[inline(always)]
pub fn score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    // Plain index loops with fixed bounds and helpers that are always inlined: everything
    // here must inline into the callers that are compiled for POPCNT / AVX-512 (a function
    // left out of line would be compiled for the baseline, with a software popcount).
    let g = unpack(&gallery[..FEATURE_BYTES]);
    let mut top = [(0.0f32, ()); TOP];
    for i in 0..probe.count {
        keep_top(&mut top, (row_max(&similarities(probe, i, &g)), ()));
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
    for i in 0..probe.count {
        similarity[i] = similarities(probe, i, &g);
        for j in 0..g.stored {
            keep_top(&mut anchors, (similarity[i][j], (i, j)));
        }
    }
    let mut best = 0.0f32;
    for &(s, (i0, j0)) in &anchors {
        if s <= 0.0 {
            break;
        }
        let turn = g.directions[j0].wrapping_sub(probe.directions[i0]);
        let (sin, cos) = (f32::from(turn) * (std::f32::consts::TAU / 256.0)).sin_cos();
        let (ax, ay) = probe.positions[i0];
        let (bx, by) = (xs[j0], ys[j0]);
        let mut top = [(0.0f32, ()); TOP];
        for i in 0..probe.count {
            let (dx, dy) = (probe.positions[i].0 - ax, probe.positions[i].1 - ay);
            let (x, y) = (cos * dx - sin * dy + bx, sin * dx + cos * dy + by);
            let direction = probe.directions[i].wrapping_add(turn);
            let reach = PLACE_DISTANCE + PLACE_DISTANCE_PER_PX * (dx * dx + dy * dy).sqrt();
            let reach2 = reach * reach;
            let mut landed = [0.0f32; SLOTS];
            for j in 0..SLOTS {
                let (ex, ey) = (xs[j] - x, ys[j] - y);
                let off = (direction.wrapping_sub(g.directions[j]) as i8).unsigned_abs();
                let lands = (ex * ex + ey * ey <= reach2) & (off <= PLACE_DIRECTION_UNITS);
                landed[j] = similarity[i][j] * f32::from(u8::from(lands));
            }
            keep_top(&mut top, (row_max(&landed), ()));
        }
        best = best.max(mean_of(&top));
    }
    best
}
