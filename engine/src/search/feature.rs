//! The stage-1 search feature: a fixed 8192-bit (1 KB) array into which every pair of
//! nearby minutiae of a template sets one bit — the hash of its rotation- and
//! translation-invariant geometry (the pair's length, and each minutia's direction relative
//! to the line joining them). Two impressions of one finger share many such pairs, so their
//! arrays share many bits; counting them is an AND and a popcount per 64 bits, scanned over
//! the gallery at memory speed.
//!
//! Gallery features are written *soft*: each pair also sets the codes of the neighbouring
//! bins on the side its values lie nearest, so that a probe pair quantised into the next
//! bin still finds its mate. Probe features set one code per pair.

use crate::matching::params::MATCH_PPCM;
use crate::template::Template;

/// Feature size in bytes.
pub const FEATURE_BYTES: usize = 1024;
/// Feature size in 64-bit words.
pub const FEATURE_WORDS: usize = FEATURE_BYTES / 8;
const BITS: u32 = (FEATURE_BYTES * 8) as u32;

/// Pairs shorter than this are too sensitive to position noise, px at 500 ppi.
const MIN_LENGTH: f32 = 20.0;
/// Pairs longer than this suffer too much from skin distortion, px at 500 ppi.
const MAX_LENGTH: f32 = 120.0;
/// Length bin, px.
const LENGTH_BIN: f32 = 10.0;
/// Angle bins per turn (30° each).
const ANGLE_BINS: f32 = 12.0;

/// Which side of the comparison a feature is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// Stored in the gallery: soft (neighbouring bins too).
    Gallery,
    /// A search probe: one code per pair.
    Probe,
}

fn hash(length: i32, a: i32, b: i32) -> u32 {
    let mut h = (length as u32).wrapping_mul(0x9e37_79b1)
        ^ (a as u32).wrapping_mul(0x85eb_ca77)
        ^ (b as u32).wrapping_mul(0xc2b2_ae3d);
    h ^= h >> 15;
    h = h.wrapping_mul(0x2c1b_3c6d);
    h ^= h >> 12;
    h % BITS
}

/// A value's bin and its nearest neighbouring bin (wrapping for angles).
fn bins(v: f32, wrap: Option<i32>) -> [i32; 2] {
    let b = v.floor();
    let other = if v - b < 0.5 { b - 1.0 } else { b + 1.0 };
    let (b, other) = (b as i32, other as i32);
    match wrap {
        Some(n) => [b.rem_euclid(n), other.rem_euclid(n)],
        None => [b, other],
    }
}

/// The feature of a template (its first 255 minutiae), as 128 little-endian words in bytes.
pub fn feature(template: &Template, side: Side) -> [u8; FEATURE_BYTES] {
    let mut words = [0u64; FEATURE_WORDS];
    let (rx, ry) = (template.resolution.x.max(1), template.resolution.y.max(1));
    let (sx, sy) = (MATCH_PPCM / f32::from(rx), MATCH_PPCM / f32::from(ry));
    let points: Vec<(f32, f32, f32)> = template
        .minutiae
        .iter()
        .take(255)
        .map(|m| {
            (
                f32::from(m.x) * sx,
                -f32::from(m.y) * sy,
                m.direction_radians(),
            )
        })
        .collect();
    let turn = std::f32::consts::TAU;
    let mut set = |h: u32| words[(h / 64) as usize] |= 1 << (h % 64);
    for (i, a) in points.iter().enumerate() {
        for (j, b) in points.iter().enumerate() {
            if i == j {
                continue;
            }
            let (dx, dy) = (b.0 - a.0, b.1 - a.1);
            let d = (dx * dx + dy * dy).sqrt();
            if !(MIN_LENGTH..=MAX_LENGTH).contains(&d) {
                continue;
            }
            let phi = dy.atan2(dx);
            let ba = (a.2 - phi).rem_euclid(turn) / turn * ANGLE_BINS;
            let bb = (b.2 - phi).rem_euclid(turn) / turn * ANGLE_BINS;
            let bl = d / LENGTH_BIN;
            match side {
                Side::Probe => set(hash(
                    bl as i32,
                    (ba as i32).rem_euclid(12),
                    (bb as i32).rem_euclid(12),
                )),
                Side::Gallery => {
                    let n = ANGLE_BINS as i32;
                    for l in bins(bl, None) {
                        for x in bins(ba, Some(n)) {
                            for y in bins(bb, Some(n)) {
                                set(hash(l, x, y));
                            }
                        }
                    }
                }
            }
        }
    }
    let mut out = [0u8; FEATURE_BYTES];
    for (k, w) in words.iter().enumerate() {
        out[8 * k..8 * k + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
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

/// Stage-1 similarity: how far the probe bits found in the gallery feature exceed what
/// chance gives at that feature's density, in standard deviations. The same arithmetic
/// (integer counts, then one f32 formula) on every instruction set.
#[inline(always)]
pub fn score(probe: &ProbeFeature, gallery: &[u8]) -> f32 {
    let mut common = 0u32;
    let mut ones = 0u32;
    for (k, chunk) in gallery.chunks_exact(8).enumerate().take(FEATURE_WORDS) {
        let g = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        common += (g & probe.words[k]).count_ones();
        ones += g.count_ones();
    }
    let density = ones as f32 / BITS as f32;
    let expected = probe.ones as f32 * density;
    let spread = (expected * (1.0 - density)).max(1.0).sqrt();
    (common as f32 - expected) / spread
}
