//! The stage-1 search feature (version 2, 992 bytes): compact codes of the template's 30
//! most central minutia cylinders (the matcher's local structures), compared one against
//! one as the matcher does, but on 256 sampled cells instead of 1,536.
//!
//! Each code holds 256 bits: cell and angular section pairs drawn once (fixed seed) from
//! the cells within 7.5 cells of the cylinder's centre; a bit is set where the cell is
//! valid and set in the cylinder. With the code goes its minutia's direction. A probe's
//! first 20 codes (its most central minutiae) are each compared with every gallery code
//! whose direction is within a quarter turn: similarity `1 − √|a ⊕ b| / (√|a| + √|b|)`, the
//! matcher's cylinder similarity (Cappelli, Ferrara, Maltoni, "Minutia Cylinder-Code",
//! IEEE TPAMI 32(12), 2010). A probe code keeps its best; the score is the mean of the 8
//! best — the local similarity sort of that paper without its relaxation.
//!
//! Version 1 hashed every cylinder into one 8,192-bit set (after the same authors' MCC
//! indexing, IEEE TPAMI 33(5), 2011) and counted shared bits: codes of different cylinders
//! collided, and the mate of one probe in seven ranked below the top 10 % of real
//! impostors. Comparing codes one to one keeps which cylinder matched which
//! (docs/search.md gives the figures). The length differs from version 1's (1,024 bytes),
//! so a gallery of old features is refused on opening rather than searched wrongly.

use std::sync::OnceLock;

use crate::matching::params::{ND, NS};
use crate::matching::{self, PreparedTemplate};
use crate::template::Template;

/// Codes stored per template.
pub const CODES: usize = 30;
/// Bits per code.
const CODE_BITS: usize = 256;
const CODE_WORDS: usize = CODE_BITS / 64;
const CODE_BYTES: usize = CODE_BITS / 8;
/// Feature size in bytes: the codes, their directions, their count, one spare byte.
pub const FEATURE_BYTES: usize = CODES * CODE_BYTES + CODES + 2;
const DIRECTIONS_AT: usize = CODES * CODE_BYTES;
const COUNT_AT: usize = DIRECTIONS_AT + CODES;

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
            p.count += 1;
        }
        p
    }
}

/// Gallery codes are scanned in this many slots (the stored codes, padded), so that the
/// loop over them has a fixed length the compiler vectorises.
const SLOTS: usize = 32;
/// Lanes of the running maximum.
const LANES: usize = 8;

/// Stage-1 similarity in [0, 1] of a probe and a gallery feature. The same arithmetic in
/// the same order on every instruction set (integer bit counts, then f32 square roots,
/// divisions and maxima, which IEEE 754 rounds identically), so every build of the scan
/// gives identical scores.
#[inline(always)]
#[allow(clippy::needless_range_loop)] // index loops on purpose: see the first comment
pub fn score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    // Plain index loops with fixed bounds: everything here must inline into the callers
    // that are compiled for POPCNT / AVX-512 (an iterator adapter left out of line would
    // be compiled for the baseline, with a software popcount). The gallery's codes are
    // laid out word by word so that one probe code meets all of them in vector lanes.
    let gallery = &gallery[..FEATURE_BYTES];
    let stored = usize::from(gallery[COUNT_AT]).min(CODES);
    let mut words = [[0u64; SLOTS]; CODE_WORDS];
    let mut roots = [0.0f32; SLOTS];
    let mut directions = [0u8; SLOTS];
    let mut usable = [false; SLOTS];
    for j in 0..stored {
        let mut ones = 0;
        for w in 0..CODE_WORDS {
            let word = word_at(gallery, j * CODE_BYTES + 8 * w);
            words[w][j] = word;
            ones += word.count_ones();
        }
        usable[j] = ones >= MIN_ONES;
        roots[j] = (ones as f32).sqrt();
        directions[j] = gallery[DIRECTIONS_AT + j];
    }
    let mut top = [0.0f32; TOP];
    for i in 0..probe.count {
        let a = &probe.codes[i];
        let (pa, pd) = (probe.roots[i], probe.directions[i]);
        // Separate fixed-length passes, each of which the compiler turns into vector code:
        // bit differences, similarities, the direction and usability mask, the maximum.
        let mut differ = [0u32; SLOTS];
        for j in 0..SLOTS {
            differ[j] = (a[0] ^ words[0][j]).count_ones()
                + (a[1] ^ words[1][j]).count_ones()
                + (a[2] ^ words[2][j]).count_ones()
                + (a[3] ^ words[3][j]).count_ones();
        }
        let mut allowed = [0.0f32; SLOTS];
        for j in 0..SLOTS {
            let turn = (pd.wrapping_sub(directions[j]) as i8).unsigned_abs();
            allowed[j] = f32::from(u8::from(usable[j] & (turn <= MAX_DIRECTION_UNITS)));
        }
        // Similarities lie in [0, 1] (√|a ⊕ b| ≤ √|a| + √|b|) and `pa` is at least 2, so
        // multiplying by the 0/1 mask is the selection.
        let mut similarity = [0.0f32; SLOTS];
        for j in 0..SLOTS {
            similarity[j] = (1.0 - (differ[j] as f32).sqrt() / (pa + roots[j])) * allowed[j];
        }
        let mut lanes = [0.0f32; LANES];
        for j in 0..SLOTS {
            lanes[j % LANES] = lanes[j % LANES].max(similarity[j]);
        }
        let mut best = 0.0f32;
        for v in lanes {
            best = best.max(v);
        }
        // Keep the TOP best, in descending order (insertion into a short array).
        if best > top[TOP - 1] {
            let mut k = TOP - 1;
            while k > 0 && top[k - 1] < best {
                top[k] = top[k - 1];
                k -= 1;
            }
            top[k] = best;
        }
    }
    let mut sum = 0.0f32;
    for v in top {
        sum += v;
    }
    sum / TOP as f32
}
