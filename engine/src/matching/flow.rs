//! Ridge flow: a coarse orientation field carried with the minutiae, and how well two
//! prints' fields agree once one is placed on the other.
//!
//! Minutiae of dry or smudged prints are unreliable — spurious endings where ridges break,
//! missed ones where they blur — while the ridge flow of the same print is still clear. The
//! extractor writes its orientation field, averaged over blocks of [`FLOW_BLOCK`] px at
//! 500 ppi, into a vendor-defined extended data block ([`FLOW_EXTENSION`]); the matcher
//! compares the two fields under the placement that the minutiae found. A genuine
//! placement finds the ridges running alike over the whole overlap; an impostor placement,
//! built on a few chance minutia matches, does not. The idea of verifying a minutiae
//! alignment with the orientation fields follows the hybrid matchers of Ross, Jain and
//! Reisman (2003) and Tico and Kuosmanen (2003); the block layout and score are our own.
//!
//! Block data: version (1), block side in px at 500 ppi, blocks across, blocks down, then
//! one byte pair per block, row by row: the ridge direction in 1/256 of a half turn
//! (image coordinates, y down, from the x axis) and the coherence in 1/255 (0: not print).

use crate::template::Extension;

/// Type code of the ridge-flow block (vendor-defined range, 0x0100 and above).
pub const FLOW_EXTENSION: u16 = 0xDA01;
/// Layout version written in the block's first byte.
const FLOW_VERSION: u8 = 1;
/// Side of a flow block, px at 500 ppi.
pub const FLOW_BLOCK: usize = 16;
/// Most blocks a side accepted from a template (4000 px at 500 ppi over 16 px).
const MAX_BLOCKS_SIDE: usize = 255;

/// A ridge-flow field ready for comparison: doubled-angle unit vectors in the matcher's
/// frame (500 ppi, y up) and a weight per block.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    block: f32,
    bw: usize,
    bh: usize,
    /// cos 2φ, sin 2φ, weight (coherence; 0 outside the print) per block, row by row from
    /// the top; φ the ridge direction in the frame with y up.
    cells: Vec<(f32, f32, f32)>,
}

/// Encodes a field given per block (direction θ in [0, π), image coordinates y down, and
/// coherence in [0, 1], `None` outside the print) as an extended data block.
pub fn encode(bw: usize, bh: usize, block: usize, cells: &[Option<(f32, f32)>]) -> Extension {
    let (bw, bh) = (bw.min(MAX_BLOCKS_SIDE), bh.min(MAX_BLOCKS_SIDE));
    let mut data = Vec::with_capacity(4 + 2 * bw * bh);
    data.extend([FLOW_VERSION, block.min(255) as u8, bw as u8, bh as u8]);
    for by in 0..bh {
        for bx in 0..bw {
            match cells.get(by * bw + bx).copied().flatten() {
                Some((theta, coherence)) => {
                    let t = theta.rem_euclid(std::f32::consts::PI) / std::f32::consts::PI;
                    data.push(((t * 256.0).round() as u32 % 256) as u8);
                    data.push((coherence.clamp(0.0, 1.0) * 255.0).round().max(1.0) as u8);
                }
                None => data.extend([0, 0]),
            }
        }
    }
    Extension {
        kind: FLOW_EXTENSION,
        data,
    }
}

impl Flow {
    /// Reads the ridge-flow block of a template, scaling it to 500 ppi; `None` when there
    /// is none or it is malformed (the minutiae are then compared alone).
    pub fn from_extensions(extensions: &[Extension]) -> Option<Self> {
        let e = extensions.iter().find(|e| e.kind == FLOW_EXTENSION)?;
        let (&[version, block, bw, bh], rest) = e.data.split_first_chunk::<4>()?;
        let (bw, bh) = (usize::from(bw), usize::from(bh));
        if version != FLOW_VERSION || block == 0 || bw == 0 || bh == 0 || rest.len() != 2 * bw * bh
        {
            return None;
        }
        let step = std::f32::consts::PI / 256.0;
        let cells: Vec<(f32, f32, f32)> = rest
            .chunks_exact(2)
            .map(|c| {
                // y up turns θ into −θ: cos 2φ = cos 2θ, sin 2φ = −sin 2θ.
                let two = 2.0 * f32::from(c[0]) * step;
                (two.cos(), -two.sin(), f32::from(c[1]) / 255.0)
            })
            .collect();
        Some(Self {
            block: f32::from(block),
            bw,
            bh,
            cells,
        })
    }
}

/// Rings of the local orientation descriptor: radius (px at 500 ppi) and samples on it,
/// after Tico and Kuosmanen (2003).
const RINGS: [(f32, usize); 4] = [(27.0, 10), (45.0, 16), (63.0, 22), (81.0, 28)];
/// Samples in a descriptor.
pub const DESCRIPTOR_SAMPLES: usize = 76;
/// Fewest samples inside both prints for two descriptors to be compared.
const MIN_COMMON_SAMPLES: u32 = 20;
/// Scale of the quantised unit vectors.
const UNIT: f32 = 127.0;

/// The ridge flow around a minutia, relative to its direction: at points on rings around
/// it (turned with it), the doubled ridge angle minus twice the minutia's direction, as a
/// unit vector quantised to `i8` (cos, sin interleaved); zero and not in `inside` where
/// the point falls outside the print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Descriptor {
    vectors: [i8; 2 * DESCRIPTOR_SAMPLES],
    inside: u128,
}

impl Flow {
    /// The doubled-angle vector at (x, y up): bilinear between the centres of the blocks
    /// inside the print, each weighted by its coherence; `None` outside the print.
    fn at(&self, x: f32, y: f32) -> Option<(f32, f32)> {
        let (fx, fy) = (x / self.block, -y / self.block);
        if !(fx >= 0.0 && fy >= 0.0) {
            return None;
        }
        let (bx, by) = (fx as usize, fy as usize);
        if bx >= self.bw || by >= self.bh || self.cells[by * self.bw + bx].2 == 0.0 {
            return None;
        }
        let (gx, gy) = (fx - 0.5, fy - 0.5);
        let (x0, y0) = (gx.floor(), gy.floor());
        let (tx, ty) = (gx - x0, gy - y0);
        let (mut c, mut s) = (0.0f32, 0.0f32);
        for (dx, dy, w) in [
            (0, 0, (1.0 - tx) * (1.0 - ty)),
            (1, 0, tx * (1.0 - ty)),
            (0, 1, (1.0 - tx) * ty),
            (1, 1, tx * ty),
        ] {
            let (cx, cy) = (x0 as isize + dx, y0 as isize + dy);
            if cx < 0 || cy < 0 || cx as usize >= self.bw || cy as usize >= self.bh {
                continue;
            }
            let (cc, cs, cw) = self.cells[cy as usize * self.bw + cx as usize];
            c += w * cw * cc;
            s += w * cw * cs;
        }
        let n = (c * c + s * s).sqrt();
        (n > 1e-6).then(|| (c / n, s / n))
    }

    /// The descriptor of a minutia at (x, y up), px at 500 ppi, pointing `theta` (rad).
    pub fn descriptor(&self, x: f32, y: f32, theta: f32) -> Descriptor {
        let mut d = Descriptor {
            vectors: [0; 2 * DESCRIPTOR_SAMPLES],
            inside: 0,
        };
        // Turning by −2θ makes the descriptor independent of the print's rotation.
        let (s2, c2) = (-2.0 * theta).sin_cos();
        let mut k = 0;
        for (radius, count) in RINGS {
            for j in 0..count {
                let a = theta + std::f32::consts::TAU * j as f32 / count as f32;
                let (sa, ca) = a.sin_cos();
                if let Some((c, s)) = self.at(x + radius * ca, y + radius * sa) {
                    d.vectors[2 * k] = ((c * c2 - s * s2) * UNIT).round() as i8;
                    d.vectors[2 * k + 1] = ((c * s2 + s * c2) * UNIT).round() as i8;
                    d.inside |= 1 << k;
                }
                k += 1;
            }
        }
        d
    }
}

impl Descriptor {
    /// How alike two minutiae's surroundings run: the mean of cos 2Δ over the samples
    /// inside both prints (samples outside either are zero vectors and add nothing), or
    /// `None` when too few are.
    #[inline(always)]
    pub fn similarity(&self, other: &Descriptor) -> Option<f32> {
        let n = (self.inside & other.inside).count_ones();
        if n < MIN_COMMON_SAMPLES {
            return None;
        }
        let dot: i32 = self
            .vectors
            .iter()
            .zip(&other.vectors)
            .map(|(&a, &b)| i32::from(a) * i32::from(b))
            .sum();
        Some(dot as f32 / (UNIT * UNIT * n as f32))
    }
}
