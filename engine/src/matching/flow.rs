//! Ridge flow: a coarse orientation field carried with the minutiae, and local orientation
//! descriptors built from it.
//!
//! Minutiae of dry or smudged prints are unreliable — spurious endings where ridges break,
//! missed ones where they blur — while the ridge flow of the same print is still clear. The
//! extractor writes its orientation field, averaged over blocks of [`FLOW_BLOCK`] px at
//! 500 ppi, into a vendor-defined extended data block ([`FLOW_EXTENSION`]). On preparation
//! the matcher samples that field on rings around each minutia, relative to the minutia's
//! direction — the orientation-based minutia descriptor of Tico and Kuosmanen (2003) — and
//! scales the similarity of each candidate pair of minutiae by how alike their
//! surroundings run (`matching/mod.rs`, step 2b). Two minutiae whose neighbouring minutiae
//! happen to agree but whose ridges around them run differently lose; a true pair keeps
//! its similarity even where spurious minutiae blur its cylinder.
//!
//! Block data (0.6–1.2 KB for an FVC2002 image: two bytes per 0.8 × 0.8 mm block of the
//! print's bounding box): version (1), block side in px at 500 ppi, then the foreground's
//! bounding box in blocks — first column, first row, columns, rows (one byte each) — then
//! one byte pair per block of the box, row by row: the ridge direction in 1/256 of a half
//! turn (image coordinates at 500 ppi, y down, from the x axis) and the coherence in 1/255
//! (0: not print). Templates without the block, or with one this module cannot read, are
//! compared on their minutiae alone.

use crate::template::Extension;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Type code of the ridge-flow block (vendor-defined range, 0x0100 and above).
pub const FLOW_EXTENSION: u16 = 0xDA01;
/// Layout version written in the block's first byte.
const FLOW_VERSION: u8 = 1;
/// Side of a flow block, px at 500 ppi.
pub const FLOW_BLOCK: usize = 16;
/// Bytes before the blocks (each block then two bytes: direction and coherence).
pub const HEADER: usize = 6;
/// Most bytes of block data: the formats' 16-bit block length, less the 4-byte block
/// header that ANSI INCITS 378 counts in it.
const MAX_DATA: usize = u16::MAX as usize - 4;

/// A ridge-flow field ready for sampling: doubled-angle unit vectors in the matcher's
/// frame (500 ppi, y up) and a weight per block.
#[derive(Debug, Clone, PartialEq)]
pub struct Flow {
    block: f32,
    /// The first column and row of the stored box, in blocks of the image.
    x0: usize,
    y0: usize,
    bw: usize,
    bh: usize,
    /// cos 2φ, sin 2φ, weight (coherence; 0 outside the print) per block of the box, row
    /// by row from the top; φ the ridge direction in the frame with y up. (Arrays, whose
    /// layout is fixed, for the vector descriptor's loads.)
    cells: Vec<[f32; 3]>,
    /// The blocks on the print (weight above 0) in the same order: centre x and y (y up),
    /// cos 2φ, sin 2φ and weight — what [`Flow::field_agreement`] visits of a probe.
    on_print: Vec<[f32; 5]>,
}

/// Encodes a field given per block of `block` px at 500 ppi (`bw` across, `bh` down; the
/// direction θ in [0, π), image coordinates y down, and the coherence in [0, 1]; `None`
/// outside the print) as an extended data block. Only the print's bounding box is kept;
/// `None` when there is no print, or when the box would not fit a block (a print of more
/// than 32,000 blocks, about 8,000 mm²).
pub fn encode(
    bw: usize,
    bh: usize,
    block: usize,
    cells: &[Option<(f32, f32)>],
) -> Option<Extension> {
    let block = u8::try_from(block).ok().filter(|&b| b > 0)?;
    let inside = |i: usize| cells.get(i).copied().flatten();
    let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
    for by in 0..bh {
        for bx in 0..bw {
            if inside(by * bw + bx).is_some() {
                (x0, y0) = (x0.min(bx), y0.min(by));
                (x1, y1) = (x1.max(bx + 1), y1.max(by + 1));
            }
        }
    }
    if x0 == usize::MAX {
        return None;
    }
    let (w, h) = (x1 - x0, y1 - y0);
    let small = |v: usize| u8::try_from(v).ok();
    let header = [
        FLOW_VERSION,
        block,
        small(x0)?,
        small(y0)?,
        small(w)?,
        small(h)?,
    ];
    if HEADER + 2 * w * h > MAX_DATA {
        return None;
    }
    let mut data = Vec::with_capacity(HEADER + 2 * w * h);
    data.extend(header);
    for by in y0..y1 {
        for bx in x0..x1 {
            match inside(by * bw + bx) {
                Some((theta, coherence)) => {
                    let t = theta.rem_euclid(std::f32::consts::PI) / std::f32::consts::PI;
                    data.push(((t * 256.0).round() as u32 % 256) as u8);
                    data.push((coherence.clamp(0.0, 1.0) * 255.0).round().max(1.0) as u8);
                }
                None => data.extend([0, 0]),
            }
        }
    }
    Some(Extension {
        kind: FLOW_EXTENSION,
        data,
    })
}

impl Flow {
    /// Reads the ridge-flow block of a template; `None` when there is none or it is
    /// malformed (the minutiae are then compared alone).
    pub fn from_extensions(extensions: &[Extension]) -> Option<Self> {
        let e = extensions.iter().find(|e| e.kind == FLOW_EXTENSION)?;
        let (&[version, block, x0, y0, bw, bh], rest) = e.data.split_first_chunk::<HEADER>()?;
        let (bw, bh) = (usize::from(bw), usize::from(bh));
        if version != FLOW_VERSION || block == 0 || bw == 0 || bh == 0 || rest.len() != 2 * bw * bh
        {
            return None;
        }
        let step = std::f32::consts::PI / 256.0;
        let cells: Vec<[f32; 3]> = rest
            .chunks_exact(2)
            .map(|c| {
                // y up turns θ into −θ: cos 2φ = cos 2θ, sin 2φ = −sin 2θ.
                let two = 2.0 * f32::from(c[0]) * step;
                [two.cos(), -two.sin(), f32::from(c[1]) / 255.0]
            })
            .collect();
        let (block, x0, y0) = (f32::from(block), usize::from(x0), usize::from(y0));
        let on_print = cells
            .iter()
            .enumerate()
            .filter(|(_, c)| c[2] > 0.0)
            .map(|(i, &[c, s, w])| {
                let x = ((x0 + i % bw) as f32 + 0.5) * block;
                let y = -((y0 + i / bw) as f32 + 0.5) * block;
                [x, y, c, s, w]
            })
            .collect();
        Some(Self {
            block,
            x0,
            y0,
            bw,
            bh,
            cells,
            on_print,
        })
    }

    /// How many blocks lie on the print (the print's area in blocks of `block` px).
    pub fn blocks_on_print(&self) -> usize {
        self.on_print.len()
    }
}

impl Flow {
    /// Where (x, y up) falls in the stored box, in blocks from its corner, and the index
    /// of the block holding it; `None` outside the box.
    #[inline(always)]
    fn locate(&self, x: f32, y: f32) -> Option<(f32, f32, usize)> {
        let (fx, fy) = (
            x / self.block - self.x0 as f32,
            -y / self.block - self.y0 as f32,
        );
        if !(fx >= 0.0 && fy >= 0.0) {
            return None;
        }
        let (bx, by) = (fx as usize, fy as usize);
        (bx < self.bw && by < self.bh).then_some((fx, fy, by * self.bw + bx))
    }

    /// The doubled-angle vector and coherence of the block holding (x, y up), if on the
    /// print.
    #[inline(always)]
    fn block_at(&self, x: f32, y: f32) -> Option<(f32, f32, f32)> {
        let [c, s, w] = self.cells[self.locate(x, y)?.2];
        (w > 0.0).then_some((c, s, w))
    }

    /// How alike two prints' ridges run where they overlap once `probe` is placed on this
    /// print (its point `from` on `to`, turned by `turn` rad counter-clockwise): the mean
    /// of cos 2Δ over the probe's blocks that land on this print, each weighted by the
    /// product of the two blocks' coherences, and how many land. A mean of 0 when none
    /// does.
    pub fn field_agreement(
        &self,
        probe: &Flow,
        from: (f32, f32),
        to: (f32, f32),
        turn: f32,
    ) -> (f32, usize) {
        let (sin, cos) = turn.sin_cos();
        let (s2, c2) = (2.0 * turn).sin_cos();
        let (mut sum, mut weight, mut count) = (0.0f32, 0.0f32, 0usize);
        for &[x, y, c, s, w] in &probe.on_print {
            let (dx, dy) = (x - from.0, y - from.1);
            let (px, py) = (cos * dx - sin * dy + to.0, sin * dx + cos * dy + to.1);
            if let Some((bc, bs, bw)) = self.block_at(px, py) {
                // The probe's doubled angle turns by twice the placement's turn.
                let (rc, rs) = (c * c2 - s * s2, c * s2 + s * c2);
                let ww = w * bw;
                sum += ww * (rc * bc + rs * bs);
                weight += ww;
                count += 1;
            }
        }
        (if weight > 0.0 { sum / weight } else { 0.0 }, count)
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
    #[inline(always)]
    fn at(&self, x: f32, y: f32) -> Option<(f32, f32)> {
        let (fx, fy, i) = self.locate(x, y)?;
        if self.cells[i][2] == 0.0 {
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
            let [cc, cs, cw] = self.cells[cy as usize * self.bw + cx as usize];
            c += w * cw * cc;
            s += w * cw * cs;
        }
        let n = (c * c + s * s).sqrt();
        (n > 1e-6).then(|| (c / n, s / n))
    }

    /// The descriptor of a minutia at (x, y up), px at 500 ppi, pointing `theta` (rad):
    /// eight samples at a time where the processor has AVX2 (`flow/avx2.rs`, the same
    /// values), else [`Flow::descriptor_portable`].
    #[inline(always)]
    pub fn descriptor(&self, x: f32, y: f32, theta: f32) -> Descriptor {
        #[cfg(target_arch = "x86_64")]
        if avx2::available() {
            // SAFETY: the processor has AVX2.
            #[allow(unsafe_code)]
            return unsafe { avx2::descriptor(self, x, y, theta) };
        }
        self.descriptor_portable(x, y, theta)
    }

    /// [`Flow::descriptor`] one sample after the other: the path of processors without
    /// AVX2, and the reference the vector one is tested against.
    ///
    /// Inlined into the matcher's preparation, so that it is compiled for the same targets
    /// (AVX2 + FMA, NEON and the baseline): in the baseline x86-64 build each sample's
    /// `floor` and two `round`s are library calls.
    #[inline(always)]
    pub fn descriptor_portable(&self, x: f32, y: f32, theta: f32) -> Descriptor {
        let mut d = Descriptor::EMPTY;
        // Turning by −2θ makes the descriptor independent of the print's rotation.
        let (s2, c2) = (-2.0 * theta).sin_cos();
        let (st, ct) = theta.sin_cos();
        for (k, &(radius, rc, rs)) in ring_points().iter().enumerate() {
            // The sample's offset, turned with the minutia.
            let (ox, oy) = (radius * (ct * rc - st * rs), radius * (st * rc + ct * rs));
            if let Some((c, s)) = self.at(x + ox, y + oy) {
                d.vectors[2 * k] = ((c * c2 - s * s2) * UNIT).round() as i8;
                d.vectors[2 * k + 1] = ((c * s2 + s * c2) * UNIT).round() as i8;
                d.inside |= 1 << k;
            }
        }
        d
    }
}

/// The indices of ring `ring`'s samples in a [`Descriptor`] (rings from the innermost, 27
/// px, out to 81 px; empty past the last).
pub fn ring_samples(ring: usize) -> std::ops::Range<usize> {
    let start: usize = RINGS.iter().take(ring).map(|r| r.1).sum();
    start..start + RINGS.get(ring).map_or(0, |r| r.1)
}

/// Every sample of [`RINGS`] as (radius, cos, sin) of its angle from the minutia's
/// direction.
fn ring_points() -> &'static [(f32, f32, f32); DESCRIPTOR_SAMPLES] {
    static POINTS: std::sync::OnceLock<[(f32, f32, f32); DESCRIPTOR_SAMPLES]> =
        std::sync::OnceLock::new();
    POINTS.get_or_init(|| {
        let mut points = [(0.0, 0.0, 0.0); DESCRIPTOR_SAMPLES];
        let mut k = 0;
        for (radius, count) in RINGS {
            for j in 0..count {
                let (s, c) = (std::f32::consts::TAU * j as f32 / count as f32).sin_cos();
                points[k] = (radius, c, s);
                k += 1;
            }
        }
        points
    })
}

const _: () = {
    let mut n = 0;
    let mut i = 0;
    while i < RINGS.len() {
        n += RINGS[i].1;
        i += 1;
    }
    assert!(n == DESCRIPTOR_SAMPLES && n <= 128);
};

impl Descriptor {
    /// A descriptor with no sample on the print (a placeholder).
    pub(crate) const EMPTY: Descriptor = Descriptor {
        vectors: [0; 2 * DESCRIPTOR_SAMPLES],
        inside: 0,
    };

    /// Sample `k`'s doubled-angle vector (cos, sin, quantised to ±127), when it fell on the
    /// print.
    pub fn sample(&self, k: usize) -> Option<(i8, i8)> {
        (k < DESCRIPTOR_SAMPLES && (self.inside >> k) & 1 == 1)
            .then(|| (self.vectors[2 * k], self.vectors[2 * k + 1]))
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::PI;

    const SIDE: usize = 30;

    /// A field of ridges running in circles about `centre` (matcher frame, y up) on a
    /// SIDE × SIDE grid of blocks, turned by `turn` and moved by `shift`: the ridge
    /// direction at q is that of the unmoved pattern at the point that the move takes to
    /// q, plus the turn. Blocks whose centre lies beyond `radius` of (240, −240) are not
    /// print. Encoded as the extractor does (image coordinates, y down).
    fn circles(centre: (f32, f32), turn: f32, shift: (f32, f32), radius: f32) -> Flow {
        let (sin, cos) = turn.sin_cos();
        let mut cells = Vec::new();
        for by in 0..SIDE {
            for bx in 0..SIDE {
                let (x, y) = (
                    (bx as f32 + 0.5) * FLOW_BLOCK as f32,
                    -(by as f32 + 0.5) * FLOW_BLOCK as f32,
                );
                if (x - 240.0).hypot(y + 240.0) > radius {
                    cells.push(None);
                    continue;
                }
                // Undo the move, then the turn.
                let (dx, dy) = (x - shift.0, y - shift.1);
                let (ux, uy) = (cos * dx + sin * dy, -sin * dx + cos * dy);
                let phi = (uy - centre.1).atan2(ux - centre.0) + PI / 2.0 + turn;
                cells.push(Some((-phi, 0.8)));
            }
        }
        let e = encode(SIDE, SIDE, FLOW_BLOCK, &cells).unwrap();
        Flow::from_extensions(&[e]).unwrap()
    }

    fn moved(p: (f32, f32), turn: f32, shift: (f32, f32)) -> (f32, f32) {
        let (sin, cos) = turn.sin_cos();
        (
            cos * p.0 - sin * p.1 + shift.0,
            sin * p.0 + cos * p.1 + shift.1,
        )
    }

    /// The vector descriptor gives the portable one's values bit for bit, on a field with
    /// holes, ragged borders and every direction and coherence, for minutiae all over it
    /// and beyond it (samples off the box, off the print, at block centres and edges).
    #[cfg(target_arch = "x86_64")]
    #[test]
    fn the_vector_descriptor_is_the_portable_one() {
        if !avx2::available() {
            eprintln!("skipped: this processor has no AVX2");
            return;
        }
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let (bw, bh) = (27, 33);
        let cells: Vec<Option<(f32, f32)>> = (0..bw * bh)
            .map(|_| {
                let r = next();
                (r % 5 != 0).then(|| {
                    (
                        (r >> 8) as f32 / (1u64 << 56) as f32 * PI,
                        ((r >> 3) % 256) as f32 / 255.0,
                    )
                })
            })
            .collect();
        let flow = Flow::from_extensions(&[encode(bw, bh, FLOW_BLOCK, &cells).unwrap()]).unwrap();
        let mut compared = 0;
        let mut inside = 0;
        for step in 0..20_000 {
            // Anywhere from well outside the box to well inside it; every 7th at a whole
            // or half block, where the bilinear weights are 0 or 1.
            let r = next();
            let mut x = (r % 600) as f32 - 80.0 + (r >> 40) as f32 / (1u64 << 24) as f32;
            let mut y = 80.0 - ((r >> 12) % 700) as f32;
            if step % 7 == 0 {
                x = (x / 8.0).round() * 8.0;
                y = (y / 8.0).round() * 8.0;
            }
            let theta = (r >> 20) as f32 / (1u64 << 44) as f32 * 2.0 * PI;
            let portable = flow.descriptor_portable(x, y, theta);
            assert_eq!(
                flow.descriptor(x, y, theta),
                portable,
                "at ({x}, {y}), direction {theta}"
            );
            compared += 1;
            inside += portable.inside.count_ones();
        }
        // Most samples fell on the print, not all.
        assert!(
            inside > 10 * compared && inside < 76 * compared,
            "{inside} samples inside of {compared} descriptors"
        );
    }

    #[test]
    fn a_field_round_trips_through_its_block() {
        let flow = circles((240.0, -240.0), 0.0, (0.0, 0.0), 150.0);
        // The box holds only the print: 19 or 20 blocks across, not 30.
        assert!(flow.bw < SIDE && flow.bh < SIDE && flow.x0 > 0 && flow.y0 > 0);
        // Inside, the direction at a block centre is the pattern's (within quantisation).
        for &(x, y) in &[(200.0f32, -200.0f32), (300.0, -250.0), (240.0, -330.0)] {
            let (c, s) = flow.at(x, y).unwrap();
            let phi = (y + 240.0).atan2(x - 240.0) + PI / 2.0;
            let err = 0.5 * (s * (2.0 * phi).cos() - c * (2.0 * phi).sin()).asin();
            assert!(err.abs() < 0.1, "at ({x}, {y}): off by {err} rad");
        }
        // Outside the print, and outside the box, there is nothing.
        assert_eq!(flow.at(10.0, -10.0), None);
        assert_eq!(flow.at(-5.0, 5.0), None);
        assert_eq!(flow.at(1.0e9, -1.0e9), None);
        assert_eq!(flow.at(f32::NAN, 0.0), None);
    }

    /// A print of circles (`a`) and a larger one of the same circles turned by `turn` and
    /// moved by `shift` (`b`).
    fn print_and_moved_copy() -> (Flow, Flow, f32, (f32, f32)) {
        let centre = (250.0, -230.0);
        let (turn, shift) = (0.5, (30.0, -120.0));
        (
            circles(centre, 0.0, (0.0, 0.0), 200.0),
            circles(centre, turn, shift, 400.0),
            turn,
            shift,
        )
    }

    #[test]
    fn descriptors_do_not_depend_on_where_the_print_lies() {
        let (a, b, turn, shift) = print_and_moved_copy();
        let p = (200.0, -300.0);
        let q = moved(p, turn, shift);
        let da = a.descriptor(p.0, p.1, 1.0);
        let same = b.descriptor(q.0, q.1, 1.0 + turn).similarity(&da).unwrap();
        assert!(same > 0.97, "the same place, moved: {same}");
        // Elsewhere on the same pattern (nearer the centre, where the circles bend more),
        // or with the minutia pointing another way, the ridges around run differently.
        let (p2, t2) = (moved((230.0, -250.0), turn, shift), 1.0 + turn);
        let elsewhere = b.descriptor(p2.0, p2.1, t2).similarity(&da).unwrap();
        let turned = b
            .descriptor(q.0, q.1, 1.0 + turn + 0.8)
            .similarity(&da)
            .unwrap();
        assert!(elsewhere < 0.8, "another place: {elsewhere}");
        assert!(turned < 0.8, "another direction: {turned}");
    }

    #[test]
    fn the_field_agrees_with_itself_moved_and_not_with_another_placement() {
        let (a, b, turn, shift) = print_and_moved_copy();
        // The placement that moved the pattern: any point of a onto its image in b.
        let p = (200.0, -300.0);
        let (mean, count) = b.field_agreement(&a, p, moved(p, turn, shift), turn);
        assert!(mean > 0.97, "the same print, placed right: {mean}");
        // Most of a's blocks land on b (the move takes some past the edge of b's grid).
        let blocks = a.on_print.len();
        assert!(
            count > blocks * 3 / 4 && count <= blocks,
            "{count} of {blocks}"
        );
        // Turned 40° off, or shifted 60 px, the ridges run differently (less so than a
        // 40° turn of straight ridges would: the circles bend with the turn).
        let (off, _) = b.field_agreement(&a, p, moved(p, turn, shift), turn + 0.7);
        assert!(off < mean - 0.2, "turned off: {off}");
        let q = moved(p, turn, shift);
        let (shifted, _) = b.field_agreement(&a, p, (q.0 + 60.0, q.1 + 60.0), turn);
        assert!(shifted < mean - 0.1, "shifted: {shifted}");
        // Placed off the print: nothing lands, and the mean is 0.
        assert_eq!(b.field_agreement(&a, p, (1.0e5, 1.0e5), turn), (0.0, 0));
    }

    #[test]
    fn too_little_common_print_gives_no_similarity() {
        let a = circles((240.0, -240.0), 0.0, (0.0, 0.0), 200.0);
        let inside = a.descriptor(240.0, -240.0, 0.0);
        // Far outside the print: no sample falls on it.
        let outside = a.descriptor(5000.0, -5000.0, 0.0);
        assert_eq!(outside.inside, 0);
        assert_eq!(inside.similarity(&outside), None);
        assert!(inside.similarity(&inside).unwrap() > 0.99);
    }

    #[test]
    fn encoding_refuses_no_print_and_oversized_prints() {
        assert_eq!(encode(4, 4, FLOW_BLOCK, &[None; 16]), None);
        assert_eq!(encode(4, 4, 0, &[Some((0.0, 1.0)); 16]), None);
        let huge = vec![Some((0.0, 1.0)); 250 * 250];
        assert_eq!(encode(250, 250, FLOW_BLOCK, &huge), None);
        let big = vec![Some((0.0, 1.0)); 180 * 180];
        assert!(encode(180, 180, FLOW_BLOCK, &big).is_some());
        // Fewer cells than the grid claims: the missing ones are not print.
        let e = encode(10, 10, FLOW_BLOCK, &[Some((1.0, 0.5)); 15]).unwrap();
        assert_eq!(&e.data[..HEADER], &[FLOW_VERSION, 16, 0, 0, 10, 2]);
    }

    #[test]
    fn malformed_blocks_are_ignored_without_panicking() {
        let good = encode(3, 2, FLOW_BLOCK, &[Some((0.3, 0.9)); 6]).unwrap();
        assert!(Flow::from_extensions(std::slice::from_ref(&good)).is_some());
        let with = |data: Vec<u8>| {
            Flow::from_extensions(&[Extension {
                kind: FLOW_EXTENSION,
                data,
            }])
        };
        let mut truncated = good.data.clone();
        truncated.pop();
        assert_eq!(with(truncated), None);
        let mut version = good.data.clone();
        version[0] = 2;
        assert_eq!(with(version), None);
        assert_eq!(with(vec![FLOW_VERSION, 0, 0, 0, 1, 1, 0, 0]), None);
        assert_eq!(with(vec![FLOW_VERSION, 16, 0, 0, 0, 1]), None);
        assert_eq!(with(Vec::new()), None);
        // Another vendor's block with other data is not ours.
        let other = Extension {
            kind: 0x0100,
            data: good.data.clone(),
        };
        assert_eq!(Flow::from_extensions(&[other]), None);
        // Arbitrary bytes: read or refused, and whatever is read can be sampled.
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let len = (state % 64) as usize;
            let data: Vec<u8> = (0..len)
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    (state >> 24) as u8
                })
                .collect();
            if let Some(flow) = with(data) {
                let d = flow.descriptor(20.0, -20.0, 0.7);
                let _ = d.similarity(&d);
            }
        }
    }
}
