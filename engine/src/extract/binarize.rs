//! Binarisation: ridges are where the enhanced image is negative (ridges are dark), inside
//! the print. Specks of ridge and pin-holes in ridges, smaller than any real ridge or
//! valley segment, are cleaned away: thinning would turn them into false endings,
//! islands and bridges.

use super::params::*;
use super::plane::{Plane, equal_bits, row_words};
use super::segmentation::Blocks;

/// 1 for ridge, 0 for valley or background (the pixels of `blocks`' background blocks).
pub fn binarize(enhanced: &Plane, blocks: &Blocks) -> Vec<u8> {
    let (w, h) = (enhanced.width, enhanced.height);
    let mut g: Vec<u8> = enhanced.data.iter().map(|&v| u8::from(v < 0.0)).collect();
    // The background a block's run of eight pixels at a time (the first version asked
    // whether each pixel was inside the print).
    for (y, row) in g.chunks_exact_mut(w.max(1)).enumerate().take(h) {
        for (bx, run) in row.chunks_mut(BLOCK).enumerate() {
            if !blocks.is_foreground_at(bx * BLOCK, y) {
                run.fill(0);
            }
        }
    }
    remove_small(&mut g, w, h, 1, MIN_RIDGE_AREA);
    remove_small(&mut g, w, h, 0, MIN_VALLEY_AREA);
    g
}

/// Flips connected regions of `value` smaller than `min_area` pixels (8-connected for
/// ridges, 4-connected for valleys, so that the two never cross). Regions are found as
/// runs of pixels along rows, joined with union-find where runs of adjacent rows touch:
/// a few thousand runs instead of a flood over every pixel.
fn remove_small(g: &mut [u8], w: usize, h: usize, value: u8, min_area: usize) {
    // (row, start, end inclusive) of every run, row by row.
    let mut runs: Vec<(usize, usize, usize)> = Vec::new();
    let mut row_start = Vec::with_capacity(h + 1);
    let mut bits = Vec::with_capacity(w.div_ceil(64));
    for y in 0..h {
        row_start.push(runs.len());
        row_runs(&g[y * w..(y + 1) * w], value, &mut bits, |s, e| {
            runs.push((y, s, e))
        });
    }
    row_start.push(runs.len());
    let mut parent: Vec<usize> = (0..runs.len()).collect();
    fn find(parent: &mut [usize], mut i: usize) -> usize {
        while parent[i] != i {
            parent[i] = parent[parent[i]];
            i = parent[i];
        }
        i
    }
    // Diagonal neighbours count for ridges (8-connected), not for valleys.
    let reach = usize::from(value == 1);
    for y in 1..h {
        let (mut p, prev_end) = (row_start[y - 1], row_start[y]);
        for c in row_start[y]..row_start[y + 1] {
            let (_, cs, ce) = runs[c];
            // Skip previous-row runs that end before this one can touch.
            while p < prev_end && runs[p].2 + reach < cs {
                p += 1;
            }
            let mut q = p;
            while q < prev_end && runs[q].1 <= ce + reach {
                let (a, b) = (find(&mut parent, c), find(&mut parent, q));
                if a != b {
                    parent[a] = b;
                }
                q += 1;
            }
        }
    }
    let mut area = vec![0usize; runs.len()];
    for (i, &(_, s, e)) in runs.iter().enumerate() {
        let r = find(&mut parent, i);
        area[r] += e - s + 1;
    }
    for (i, &(y, s, e)) in runs.iter().enumerate() {
        let r = find(&mut parent, i);
        if area[r] < min_area {
            g[y * w + s..=y * w + e].fill(1 - value);
        }
    }
}

/// The runs of pixels equal to `value` in `row`, left to right, as (first, last): the
/// row's pixels compared eight at a time into words of 64 bits (`bits`, reused), then each
/// run's start and end found from the bits that differ from their neighbour's, rather
/// than pixel by pixel with a branch on each.
fn row_runs(row: &[u8], value: u8, bits: &mut Vec<u64>, mut run: impl FnMut(usize, usize)) {
    bits.clear();
    bits.extend(row_words(row, |eight| equal_bits(eight, value)));
    let mut start = 0;
    for (k, &m) in bits.iter().enumerate() {
        let before = if k > 0 { bits[k - 1] >> 63 } else { 0 };
        let after = bits.get(k + 1).map_or(0, |&n| n << 63);
        let starts = m & !((m << 1) | before);
        let ends = m & !((m >> 1) | after);
        let mut edges = starts | ends;
        while edges != 0 {
            let j = edges.trailing_zeros() as usize;
            let bit = 1u64 << j;
            if starts & bit != 0 {
                start = 64 * k + j;
            }
            if ends & bit != 0 {
                run(start, 64 * k + j);
            }
            edges &= edges - 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::plane::xorshift32;
    use super::*;

    #[test]
    fn binarising_by_blocks_is_binarising_pixel_by_pixel() {
        let mut seed = 0x6a09_e667_u32;
        for (w, h) in [(64usize, 48usize), (61, 45), (7, 9), (100, 3), (1, 1)] {
            let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
            let blocks = Blocks {
                bw,
                bh,
                foreground: (0..bw * bh)
                    .map(|_| !xorshift32(&mut seed).is_multiple_of(3))
                    .collect(),
                mean: vec![0.0; bw * bh],
                std: vec![0.0; bw * bh],
                void: vec![false; bw * bh],
            };
            // Ridges and valleys in wide stripes (so that the clean-up keeps most), and
            // zeros.
            let data = (0..w * h)
                .map(|i| match xorshift32(&mut seed) % 16 {
                    0 => 0.0,
                    _ if (i % w / 6) % 2 == 0 => -1.0,
                    _ => 1.0,
                })
                .collect();
            let enhanced = Plane {
                width: w,
                height: h,
                data,
            };
            let mut expected: Vec<u8> = (0..w * h)
                .map(|i| {
                    let inside = blocks.is_foreground_at(i % w, i / w);
                    u8::from(inside && enhanced.data[i] < 0.0)
                })
                .collect();
            remove_small(&mut expected, w, h, 1, MIN_RIDGE_AREA);
            remove_small(&mut expected, w, h, 0, MIN_VALLEY_AREA);
            assert_eq!(binarize(&enhanced, &blocks), expected, "{w} x {h}");
        }
    }

    /// The straightforward flood fill the run-based version replaced.
    fn flood_reference(g: &mut [u8], w: usize, h: usize, value: u8, min_area: usize) {
        let mut seen = vec![false; g.len()];
        let eight = value == 1;
        for start in 0..g.len() {
            if g[start] != value || seen[start] {
                continue;
            }
            let mut region = vec![];
            let mut stack = vec![start];
            seen[start] = true;
            while let Some(i) = stack.pop() {
                region.push(i);
                let (x, y) = ((i % w) as isize, (i / w) as isize);
                for dy in -1isize..=1 {
                    for dx in -1isize..=1 {
                        if (dx == 0 && dy == 0) || (!eight && dx != 0 && dy != 0) {
                            continue;
                        }
                        let (nx, ny) = (x + dx, y + dy);
                        if nx >= 0 && ny >= 0 && nx < w as isize && ny < h as isize {
                            let j = ny as usize * w + nx as usize;
                            if g[j] == value && !seen[j] {
                                seen[j] = true;
                                stack.push(j);
                            }
                        }
                    }
                }
            }
            if region.len() < min_area {
                for i in region {
                    g[i] = 1 - value;
                }
            }
        }
    }

    #[test]
    fn runs_and_union_find_give_what_a_flood_fill_gives() {
        let (w, h) = (67, 53);
        let mut seed = 99u32;
        for density in [30u32, 50, 70] {
            for _ in 0..20 {
                let g: Vec<u8> = (0..w * h)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        u8::from((seed >> 24) % 100 < density)
                    })
                    .collect();
                for (value, min) in [(1u8, 30usize), (0, 30), (1, 5), (0, 3)] {
                    let (mut a, mut b) = (g.clone(), g.clone());
                    remove_small(&mut a, w, h, value, min);
                    flood_reference(&mut b, w, h, value, min);
                    assert_eq!(a, b, "density {density}, value {value}, min {min}");
                }
            }
        }
    }

    #[test]
    fn a_row_s_runs_from_its_bits_are_its_runs_pixel_by_pixel() {
        let mut seed = 7u32;
        let mut bits = Vec::new();
        // Lengths around whole words and bytes; runs of every length, at both ends.
        for len in (0..140).chain([191, 192, 193, 255, 256, 257]) {
            for round in 0..20 {
                let row: Vec<u8> = (0..len)
                    .map(|_| {
                        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        // Long and short runs; now and then a value that is neither.
                        match (seed >> 24) % (2 + round % 9) {
                            0 => 0,
                            7 => 2,
                            _ => 1,
                        }
                    })
                    .collect();
                for value in [0u8, 1] {
                    let mut expected = Vec::new();
                    let mut x = 0;
                    while x < len {
                        if row[x] == value {
                            let s = x;
                            while x < len && row[x] == value {
                                x += 1;
                            }
                            expected.push((s, x - 1));
                        } else {
                            x += 1;
                        }
                    }
                    let mut got = Vec::new();
                    row_runs(&row, value, &mut bits, |s, e| got.push((s, e)));
                    assert_eq!(got, expected, "{row:?}, value {value}");
                }
            }
        }
    }
}
