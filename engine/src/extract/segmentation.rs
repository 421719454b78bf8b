//! Segmentation: which blocks of the image hold the print (foreground) and which are
//! background. A block is foreground when the grey levels around it spread enough —
//! ridges and valleys alternate there; the background is flat or noisy but faint. The
//! block mask is then smoothed, reduced to its largest region, and its holes filled —
//! all but voids: large black, flat regions (a hole punched in a card, tape, a saturated
//! blot), which hold no print however much print surrounds them.
//!
//! Handwriting, printed captions and ruled lines on a card or form spread their grey
//! levels as much as ridges do; once the ridge frequency step has measured how regular a
//! wave each block's signature is, [`keep_ridges`] drops the blocks with no ridge pattern
//! around them.

use super::params::*;
use crate::image::GrayImage;

/// Per-block results of segmentation, on a grid of `BLOCK`-pixel blocks.
#[derive(Debug, Clone)]
pub struct Blocks {
    /// Blocks across.
    pub bw: usize,
    /// Blocks down.
    pub bh: usize,
    /// Whether each block is foreground.
    pub foreground: Vec<bool>,
    /// Mean grey level around each block.
    pub mean: Vec<f32>,
    /// Standard deviation of the grey levels around each block.
    pub std: Vec<f32>,
    /// Whether each block lies in a void ([`VOID_MIN_BLOCKS`] or more touching blocks,
    /// black and flat): background whatever surrounds it.
    pub void: Vec<bool>,
}

impl Blocks {
    /// [`Blocks::is_foreground_at`] for a real position (truncated to its pixel); false at
    /// negative coordinates.
    pub fn is_foreground_px(&self, x: f32, y: f32) -> bool {
        !(x < 0.0 || y < 0.0) && self.is_foreground_at(x as usize, y as usize)
    }

    /// Whether the block holding pixel (x, y) is foreground; false outside the image.
    #[inline]
    pub fn is_foreground_at(&self, x: usize, y: usize) -> bool {
        let (bx, by) = (x / BLOCK, y / BLOCK);
        bx < self.bw && by < self.bh && self.foreground[by * self.bw + bx]
    }

    /// Number of foreground blocks.
    pub fn foreground_count(&self) -> usize {
        self.foreground.iter().filter(|&&f| f).count()
    }
}

/// Segments an image at 500 ppi.
///
/// Dispatched at run time to an AVX2 + FMA or NEON build (the same values: no fused
/// multiply-adds, exact roundings; the FVC2002 templates are byte-identical).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn segment(image: &GrayImage) -> Blocks {
    let (bw, bh) = (image.width.div_ceil(BLOCK), image.height.div_ceil(BLOCK));
    // Sums and sums of squares per block, then over a window of blocks.
    let (sum, sq, count) = block_sums(image, bw, bh);
    let void = voids(&sum, &sq, &count, bw, bh);
    let r = SEGMENT_WINDOW_BLOCKS as isize;
    let mut mean = vec![0f32; bw * bh];
    let mut std = vec![0f32; bw * bh];
    for by in 0..bh {
        for bx in 0..bw {
            let (mut s, mut q, mut n) = (0.0, 0.0, 0u32);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (x, y) = (bx as isize + dx, by as isize + dy);
                    if x >= 0 && y >= 0 && (x as usize) < bw && (y as usize) < bh {
                        let b = y as usize * bw + x as usize;
                        s += sum[b];
                        q += sq[b];
                        n += count[b];
                    }
                }
            }
            let m = s / f64::from(n.max(1));
            let var = (q / f64::from(n.max(1)) - m * m).max(0.0);
            mean[by * bw + bx] = m as f32;
            std[by * bw + bx] = var.sqrt() as f32;
        }
    }
    let mut sorted = std.clone();
    sorted.sort_by(f32::total_cmp);
    let p90 = sorted[(sorted.len() * 9 / 10).min(sorted.len() - 1)];
    let threshold = (SEGMENT_RELATIVE * p90).max(SEGMENT_MIN_STD);
    let mut fg: Vec<bool> = std.iter().map(|&s| s > threshold).collect();
    for _ in 0..SEGMENT_SMOOTHING {
        fg = majority(&fg, bw, bh);
    }
    keep_largest_region(&mut fg, bw, bh);
    fill_holes(&mut fg, bw, bh);
    clear(&mut fg, &void);
    Blocks {
        bw,
        bh,
        foreground: fg,
        mean,
        std,
        void,
    }
}

/// Per block of `image`, the sum of its pixels, the sum of their squares, and their count.
/// Added as integers, a block row's eight pixels at a time: a block's sums (at most 64
/// pixels, 255² each) are whole numbers far below 2⁵³, so they are exactly the sums the
/// first version added pixel by pixel in `f64` (each addition waiting on the one before).
#[inline(always)]
fn block_sums(image: &GrayImage, bw: usize, bh: usize) -> (Vec<f64>, Vec<f64>, Vec<u32>) {
    let mut sum = vec![0u32; bw * bh];
    let mut sq = vec![0u32; bw * bh];
    let mut count = vec![0u32; bw * bh];
    for (y, row) in image
        .pixels
        .chunks_exact(image.width.max(1))
        .enumerate()
        .take(image.height)
    {
        let at = (y / BLOCK) * bw;
        for (b, eight) in row.chunks(BLOCK).enumerate() {
            let (mut s, mut q) = (0u32, 0u32);
            for &v in eight {
                s += u32::from(v);
                q += u32::from(v) * u32::from(v);
            }
            sum[at + b] += s;
            sq[at + b] += q;
            count[at + b] += eight.len() as u32;
        }
    }
    let exact = |v: Vec<u32>| v.into_iter().map(f64::from).collect();
    (exact(sum), exact(sq), count)
}

/// The blocks in voids: regions of [`VOID_MIN_BLOCKS`] or more touching blocks whose own
/// pixels (`sum`, `sq` and `count` per block) are black and flat.
fn voids(sum: &[f64], sq: &[f64], count: &[u32], bw: usize, bh: usize) -> Vec<bool> {
    let black_and_flat: Vec<bool> = (0..bw * bh)
        .map(|b| {
            let n = f64::from(count[b].max(1));
            let m = sum[b] / n;
            let var = (sq[b] / n - m * m).max(0.0);
            m < f64::from(VOID_MEAN) && var < f64::from(VOID_STD * VOID_STD)
        })
        .collect();
    let (label, sizes) = regions(&black_and_flat, bw, bh, true);
    label
        .iter()
        .map(|&l| l != 0 && sizes[l as usize] >= VOID_MIN_BLOCKS)
        .collect()
}

/// Makes the `void` blocks background.
fn clear(fg: &mut [bool], void: &[bool]) {
    for (f, &v) in fg.iter_mut().zip(void) {
        *f &= !v;
    }
}

/// Drops the foreground blocks where no ridge pattern runs: where the ridge signal
/// (see [`super::frequency::RidgeFrequency::signal`]) averaged over the foreground blocks
/// within [`RIDGE_SIGNAL_RADIUS`] is below [`RIDGE_SIGNAL_MIN`]. Then, as in [`segment`],
/// the largest region is kept and its holes filled.
pub fn keep_ridges(blocks: &mut Blocks, signal: &super::plane::Plane) {
    let (bw, bh) = (blocks.bw, blocks.bh);
    let r = RIDGE_SIGNAL_RADIUS as isize;
    let mut keep = blocks.foreground.clone();
    for by in 0..bh {
        for bx in 0..bw {
            let i = by * bw + bx;
            if !blocks.foreground[i] {
                continue;
            }
            let (mut sum, mut n) = (0.0f32, 0u32);
            for dy in -r..=r {
                for dx in -r..=r {
                    let (x, y) = (bx as isize + dx, by as isize + dy);
                    if x >= 0 && y >= 0 && (x as usize) < bw && (y as usize) < bh {
                        let j = y as usize * bw + x as usize;
                        if blocks.foreground[j] {
                            sum += signal.data[j];
                            n += 1;
                        }
                    }
                }
            }
            keep[i] = sum >= RIDGE_SIGNAL_MIN * n as f32;
        }
    }
    keep_largest_region(&mut keep, bw, bh);
    fill_holes(&mut keep, bw, bh);
    clear(&mut keep, &blocks.void);
    blocks.foreground = keep;
}

fn majority(fg: &[bool], bw: usize, bh: usize) -> Vec<bool> {
    let mut out = fg.to_vec();
    for by in 0..bh {
        for bx in 0..bw {
            let mut on = 0;
            let mut all = 0;
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    let (x, y) = (bx as isize + dx, by as isize + dy);
                    if x >= 0 && y >= 0 && (x as usize) < bw && (y as usize) < bh {
                        all += 1;
                        on += usize::from(fg[y as usize * bw + x as usize]);
                    }
                }
            }
            out[by * bw + bx] = 2 * on > all;
        }
    }
    out
}

/// Labels the 4-connected regions where `fg[i] == value`; returns labels (0 = other).
fn regions(fg: &[bool], bw: usize, bh: usize, value: bool) -> (Vec<u32>, Vec<usize>) {
    let mut label = vec![0u32; fg.len()];
    let mut sizes = vec![0usize];
    let mut stack = Vec::new();
    for start in 0..fg.len() {
        if fg[start] != value || label[start] != 0 {
            continue;
        }
        let id = sizes.len() as u32;
        sizes.push(0);
        label[start] = id;
        stack.push(start);
        while let Some(i) = stack.pop() {
            sizes[id as usize] += 1;
            let (x, y) = (i % bw, i / bw);
            let mut visit = |j: usize| {
                if fg[j] == value && label[j] == 0 {
                    label[j] = id;
                    stack.push(j);
                }
            };
            if x > 0 {
                visit(i - 1);
            }
            if x + 1 < bw {
                visit(i + 1);
            }
            if y > 0 {
                visit(i - bw);
            }
            if y + 1 < bh {
                visit(i + bw);
            }
        }
    }
    (label, sizes)
}

fn keep_largest_region(fg: &mut [bool], bw: usize, bh: usize) {
    let (label, sizes) = regions(fg, bw, bh, true);
    let Some((best, _)) = sizes.iter().enumerate().skip(1).max_by_key(|(_, s)| **s) else {
        return;
    };
    for (f, l) in fg.iter_mut().zip(&label) {
        *f = *l == best as u32;
    }
}

fn fill_holes(fg: &mut [bool], bw: usize, bh: usize) {
    let (label, sizes) = regions(fg, bw, bh, false);
    let mut touches_border = vec![false; sizes.len()];
    for by in 0..bh {
        for bx in 0..bw {
            if bx == 0 || by == 0 || bx + 1 == bw || by + 1 == bh {
                touches_border[label[by * bw + bx] as usize] = true;
            }
        }
    }
    for (f, l) in fg.iter_mut().zip(&label) {
        if *l != 0 && !touches_border[*l as usize] {
            *f = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::extract::plane::{Plane, xorshift32};

    #[test]
    fn block_sums_in_integers_are_the_pixel_by_pixel_sums() {
        let mut seed = 0xbb67_ae85_u32;
        for (w, h) in [
            (64usize, 48usize),
            (61, 45),
            (7, 9),
            (100, 3),
            (1, 1),
            (300, 300),
        ] {
            let pixels = (0..w * h).map(|_| xorshift32(&mut seed) as u8).collect();
            let image = GrayImage {
                width: w,
                height: h,
                pixels,
            };
            let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
            let (mut sum, mut sq, mut count) = (
                vec![0f64; bw * bh],
                vec![0f64; bw * bh],
                vec![0u32; bw * bh],
            );
            for y in 0..h {
                for x in 0..w {
                    let (b, v) = (
                        (y / BLOCK) * bw + x / BLOCK,
                        f64::from(image.pixels[y * w + x]),
                    );
                    sum[b] += v;
                    sq[b] += v * v;
                    count[b] += 1;
                }
            }
            let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            let got = block_sums(&image, bw, bh);
            assert_eq!(bits(&got.0), bits(&sum), "{w} x {h}");
            assert_eq!(bits(&got.1), bits(&sq), "{w} x {h}");
            assert_eq!(got.2, count, "{w} x {h}");
        }
    }

    #[test]
    fn blocks_without_ridges_around_them_go_and_a_dry_patch_inside_the_print_stays() {
        // A 20 x 12 block grid, all foreground: a print on the left (signal 0.7) with a
        // dry 2 x 2 patch (0.1) inside it, and handwriting on the right (0.1), joined.
        let (bw, bh) = (20, 12);
        let mut blocks = Blocks {
            bw,
            bh,
            foreground: vec![true; bw * bh],
            mean: vec![0.0; bw * bh],
            std: vec![0.0; bw * bh],
            void: vec![false; bw * bh],
        };
        let mut signal = Plane::filled(bw, bh, 0.7);
        for by in 0..bh {
            for bx in 0..bw {
                let dry = (4..6).contains(&bx) && (5..7).contains(&by);
                if bx >= 12 || dry {
                    signal.data[by * bw + bx] = 0.1;
                }
            }
        }
        keep_ridges(&mut blocks, &signal);
        let at = |bx: usize, by: usize| blocks.foreground[by * bw + bx];
        assert!(at(4, 5) && at(5, 6), "the dry patch is part of the print");
        assert!((0..bh).all(|by| (0..10).all(|bx| at(bx, by))));
        assert!((0..bh).all(|by| (13..bw).all(|bx| !at(bx, by))));
    }

    /// A print of straight ridges (period 9 px) with a black disc in it: radius 48 px, a
    /// void like the card's punched hole, stays background; radius 12 px (about 7
    /// blocks, below `VOID_MIN_BLOCKS`) is one of the print's holes and is filled.
    #[test]
    fn a_large_black_disc_inside_the_print_is_background_and_a_small_one_is_filled() {
        let print_with_disc = |radius: f32| {
            let (w, h) = (256, 256);
            let pixels = (0..w * h)
                .map(|i| {
                    let (x, y) = ((i % w) as f32, (i / w) as f32);
                    if (x - 128.0).hypot(y - 128.0) <= radius {
                        0
                    } else {
                        (128.0 + 80.0 * (std::f32::consts::TAU * (x + 0.5 * y) / 9.0).sin()) as u8
                    }
                })
                .collect();
            segment(&GrayImage {
                width: w,
                height: h,
                pixels,
            })
        };
        let at = |b: &Blocks, x: usize, y: usize| b.is_foreground_at(x, y);
        let large = print_with_disc(48.0);
        // Blocks wholly inside the disc, and well away from it.
        for (x, y) in [(128, 128), (100, 110), (150, 140), (128, 90)] {
            assert!(large.void[(y / BLOCK) * large.bw + x / BLOCK], "({x}, {y})");
            assert!(!at(&large, x, y), "({x}, {y}) in the void");
        }
        for (x, y) in [(30, 30), (220, 40), (40, 220), (200, 200)] {
            assert!(at(&large, x, y), "({x}, {y}) on the print");
        }
        let small = print_with_disc(12.0);
        assert!(small.void.iter().all(|&v| !v));
        assert!(at(&small, 128, 128), "the small disc is filled");
    }

    #[test]
    fn the_whole_pixel_test_agrees_with_the_float_one() {
        let (bw, bh) = (5, 4);
        let blocks = Blocks {
            bw,
            bh,
            foreground: (0..bw * bh).map(|i| i % 3 != 0).collect(),
            mean: vec![0.0; bw * bh],
            std: vec![0.0; bw * bh],
            void: vec![false; bw * bh],
        };
        // Beyond the grid on both sides as well.
        for y in 0..bh * BLOCK + 9 {
            for x in 0..bw * BLOCK + 9 {
                assert_eq!(
                    blocks.is_foreground_at(x, y),
                    blocks.is_foreground_px(x as f32, y as f32),
                    "({x}, {y})"
                );
            }
        }
    }
}
