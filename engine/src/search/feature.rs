//! The stage-1 search feature: a fixed 8192-bit (1 KB) array built from the template's
//! minutia cylinders (the matcher's local structures) by locality-sensitive hashing, after
//! Cappelli, Ferrara and Maltoni, "Fingerprint indexing based on Minutia Cylinder-Code"
//! (IEEE TPAMI 33(5), 2011). Each of 64 hash functions reads 10 fixed cells of a cylinder;
//! where all 10 are valid and at least 2 are set, the function's value, hashed with its
//! number, sets one bit. Cylinders of the same minutia in two impressions agree on most
//! cells, so their codes — and the bits — often coincide; counting shared bits is an AND
//! and a popcount per 64 bits, scanned over the gallery at memory speed.

use std::sync::OnceLock;

use crate::matching::params::{ND, NS};
use crate::matching::{self, PreparedTemplate};
use crate::template::Template;

/// Feature size in bytes.
pub const FEATURE_BYTES: usize = 1024;
/// Feature size in 64-bit words.
pub const FEATURE_WORDS: usize = FEATURE_BYTES / 8;
const BITS: u32 = (FEATURE_BYTES * 8) as u32;

/// Hash functions.
const FUNCTIONS: usize = 64;
/// Cells each function reads.
const CELLS_PER_FUNCTION: usize = 10;
/// Functions read cells within this many cells of the cylinder's centre.
const CENTRAL_RADIUS: f32 = 5.5;
/// A code with fewer set cells says little (empty neighbourhoods look alike).
const MIN_SET: u32 = 2;

/// The (section, cell) pairs each function reads: fixed forever for this feature version
/// (a change needs a new gallery feature version and a rebuild).
fn functions() -> &'static [[(usize, usize); CELLS_PER_FUNCTION]; FUNCTIONS] {
    static F: OnceLock<[[(usize, usize); CELLS_PER_FUNCTION]; FUNCTIONS]> = OnceLock::new();
    F.get_or_init(|| {
        let half = (NS as f32 - 1.0) / 2.0;
        let cells: Vec<usize> = (0..NS * NS)
            .filter(|&c| {
                let (u, v) = ((c / NS) as f32 - half, (c % NS) as f32 - half);
                u * u + v * v <= CENTRAL_RADIUS * CENTRAL_RADIUS
            })
            .collect();
        // SplitMix64 from a fixed seed.
        let mut state = 0x0dac_711d_0000_0001u64;
        let mut next = || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = state;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let mut out = [[(0usize, 0usize); CELLS_PER_FUNCTION]; FUNCTIONS];
        for f in out.iter_mut() {
            for slot in f.iter_mut() {
                *slot = (
                    (next() % ND as u64) as usize,
                    cells[(next() % cells.len() as u64) as usize],
                );
            }
        }
        out
    })
}

fn hash(function: usize, value: u32) -> u32 {
    let mut h = (function as u32).wrapping_mul(0x9e37_79b1) ^ value.wrapping_mul(0x85eb_ca77);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h % BITS
}

/// The feature of a prepared template, as 128 little-endian words in bytes.
pub fn feature_of(prepared: &PreparedTemplate) -> [u8; FEATURE_BYTES] {
    let mut words = [0u64; FEATURE_WORDS];
    for c in prepared.cylinder_codes() {
        'function: for (f, cells) in functions().iter().enumerate() {
            let mut value = 0u32;
            for (k, &(section, cell)) in cells.iter().enumerate() {
                let (word, bit) = (cell / 64, cell % 64);
                if c.valid[word] >> bit & 1 == 0 {
                    continue 'function;
                }
                value |= ((c.bits[section][word] >> bit & 1) as u32) << k;
            }
            if value.count_ones() >= MIN_SET {
                let h = hash(f, value);
                words[(h / 64) as usize] |= 1 << (h % 64);
            }
        }
    }
    let mut out = [0u8; FEATURE_BYTES];
    for (k, w) in words.iter().enumerate() {
        out[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// The feature of a template (all zero when it cannot be prepared: it then matches
/// nothing in stage 1).
pub fn feature(template: &Template) -> [u8; FEATURE_BYTES] {
    match matching::prepare(template) {
        Ok(p) => feature_of(&p),
        Err(_) => [0; FEATURE_BYTES],
    }
}

/// A probe feature unpacked for scanning, with its bit count.
#[derive(Debug, Clone)]
pub struct ProbeFeature {
    /// The words.
    pub words: [u64; FEATURE_WORDS],
    /// Set bits.
    pub ones: u32,
}

impl ProbeFeature {
    /// Unpacks a probe feature.
    pub fn new(bytes: &[u8; FEATURE_BYTES]) -> Self {
        let mut words = [0u64; FEATURE_WORDS];
        for (k, w) in words.iter_mut().enumerate() {
            *w = u64::from_le_bytes(bytes[8 * k..8 * k + 8].try_into().expect("8 bytes"));
        }
        let ones = words.iter().map(|w| w.count_ones()).sum();
        Self { words, ones }
    }
}

/// Stage-1 similarity in [0, 1]: shared bits over the geometric mean of both bit counts.
/// Integer counts, then one f32 formula: the same on every instruction set.
#[inline(always)]
pub fn score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    // Plain index loops with fixed bounds: everything here must inline into the callers
    // that are compiled for POPCNT / AVX-512 (an iterator adapter left out of line would
    // be compiled for the baseline, with a software popcount).
    let mut common = 0u32;
    let mut ones = 0u32;
    let gallery = &gallery[..FEATURE_WORDS * 8];
    for k in 0..FEATURE_WORDS {
        let b = &gallery[8 * k..8 * k + 8];
        let g = u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]);
        common += (g & probe.words[k]).count_ones();
        ones += g.count_ones();
    }
    let norm = ((probe.ones as f32) * (ones as f32)).sqrt();
    if norm > 0.0 {
        common as f32 / norm
    } else {
        0.0
    }
}
