//! Thinning: binary ridges reduced to one-pixel-wide skeletons (Zhang and Suen, "A fast
//! parallel algorithm for thinning digital patterns", CACM 27(3), 1984), the two
//! sub-iterations' deletion rules applied to 64 pixels at a time with bitwise logic.

use super::plane::{equal_bits, odd_bits, row_words};

/// The 8 neighbours of a pixel, clockwise from north: P2..P9 in Zhang and Suen's naming.
pub const NEIGHBOURS: [(isize, isize); 8] = [
    (0, -1),
    (1, -1),
    (1, 0),
    (1, 1),
    (0, 1),
    (-1, 1),
    (-1, 0),
    (-1, -1),
];

/// The neighbourhood of (x, y) as a byte, bit i set when neighbour i is set. The pixel must
/// not be on the image's outer row or column.
#[inline]
pub fn neighbourhood(grid: &[u8], w: usize, x: usize, y: usize) -> u8 {
    let mut n = 0u8;
    for (i, (dx, dy)) in NEIGHBOURS.iter().enumerate() {
        let j = (y as isize + dy) as usize * w + (x as isize + dx) as usize;
        n |= (grid[j] & 1) << i;
    }
    n
}

/// Crossing number of a neighbourhood: 0/1 transitions around the ring. 1 at a ridge
/// ending, 2 along a ridge, 3 at a bifurcation.
#[inline]
pub fn crossing_number(n: u8) -> u32 {
    (n ^ n.rotate_right(1)).count_ones() / 2
}

/// The two rules pixel by pixel, as Zhang and Suen state them, for all 256 neighbourhoods:
/// the reference that [`rule_mask`] is tested against.
#[cfg(test)]
fn tables() -> &'static [[bool; 256]; 2] {
    static TABLES: std::sync::OnceLock<[[bool; 256]; 2]> = std::sync::OnceLock::new();
    TABLES.get_or_init(|| {
        let mut t = [[false; 256]; 2];
        for n in 0..256usize {
            let p = |i: usize| (n >> i) & 1 == 1;
            let b = (n as u8).count_ones();
            // A: 0 -> 1 transitions in the ordered ring P2, P3, ..., P9, P2.
            let a = (0..8).filter(|&i| !p(i) && p((i + 1) % 8)).count();
            let (p2, p4, p6, p8) = (p(0), p(2), p(4), p(6));
            let base = (2..=6).contains(&b) && a == 1;
            let [first, second] = &mut t;
            first[n] = base && !(p2 && p4 && p6) && !(p4 && p6 && p8);
            second[n] = base && !(p2 && p4 && p8) && !(p2 && p6 && p8);
        }
        t
    })
}

/// Clears the outer row and column, which have no full neighbourhood.
fn clear_border(grid: &mut [u8], w: usize, h: usize) {
    for x in 0..w {
        grid[x] = 0;
        grid[(h - 1) * w + x] = 0;
    }
    for y in 0..h {
        grid[y * w] = 0;
        grid[y * w + w - 1] = 0;
    }
}

/// Thins a binary image in place (1 = ridge); the outer row and column are cleared.
///
/// Sixty-four pixels at a time: each row is kept as bits (`Bits`), and a pass of a rule
/// works out, for every pixel of a word at once, the neighbour count, the crossing of the
/// ring and the rule's own conditions with bitwise logic (`doomed_in`), which is what
/// the rules say pixel by pixel (tested against a table of them for all 256
/// neighbourhoods, and against the pixel-by-pixel thinning). Zhang and Suen's passes are
/// parallel — a pass decides on the image as it was when the pass began — so deciding a
/// word's pixels together changes nothing. After the first pass of each rule only the
/// words next to one with a deletion since that rule last looked are looked at again: a
/// pixel's fate depends on its neighbourhood alone.
pub fn thin(grid: &mut [u8], w: usize, h: usize) {
    if w == 0 || h == 0 {
        return;
    }
    clear_border(grid, w, h);
    let mut bits = Bits::of(grid, w, h);
    let before = bits.candidate.clone();
    let words = bits.words;
    // `due[r]`: the words rule r has not seen since a pixel around them changed; `marked`
    // bit r: already listed there.
    let all: Vec<usize> = (0..words * h).filter(|&i| bits.candidate[i] != 0).collect();
    let mut marked = vec![0u8; words * h];
    for &i in &all {
        marked[i] = 0b11;
    }
    let mut due = [all.clone(), all];
    let mut doomed: Vec<(usize, u64)> = Vec::new();
    let mut quiet = 0;
    for r in (0..2).cycle() {
        doomed.clear();
        for &i in &due[r] {
            marked[i] &= !(1 << r);
            let d = bits.doomed_in(i, r);
            if d != 0 {
                doomed.push((i, d));
            }
        }
        due[r].clear();
        for &(i, d) in &doomed {
            bits.on[i] &= !d;
            bits.candidate[i] &= !d;
        }
        for &(i, _) in &doomed {
            let (y, k) = (i / words, i % words);
            for ny in y - 1..=y + 1 {
                for nk in k.saturating_sub(1)..(k + 2).min(words) {
                    let j = ny * words + nk;
                    if bits.candidate[j] == 0 {
                        continue;
                    }
                    for (rule, list) in due.iter_mut().enumerate() {
                        if marked[j] & (1 << rule) == 0 {
                            marked[j] |= 1 << rule;
                            list.push(j);
                        }
                    }
                }
            }
        }
        // Done after a pass of each rule in a row deleted nothing.
        quiet = if doomed.is_empty() { quiet + 1 } else { 0 };
        if quiet == 2 {
            break;
        }
    }
    bits.write_back(&before, grid);
}

/// A binary image as rows of 64-pixel words (bit j of word k: pixel 64·k + j; the bits past
/// the width 0): `on`, the pixels whose value is odd (what [`neighbourhood`] reads), and
/// `candidate`, those equal to 1 (the only ones a rule deletes).
struct Bits {
    width: usize,
    words: usize,
    on: Vec<u64>,
    candidate: Vec<u64>,
}

impl Bits {
    fn of(grid: &[u8], w: usize, h: usize) -> Self {
        let words = w.div_ceil(64);
        let mut bits = Bits {
            width: w,
            words,
            on: vec![0; words * h],
            candidate: vec![0; words * h],
        };
        for (y, row) in grid.chunks_exact(w).enumerate().take(h) {
            let at = y * words..(y + 1) * words;
            for (to, word) in bits.on[at.clone()].iter_mut().zip(row_words(row, odd_bits)) {
                *to = word;
            }
            let candidates = row_words(row, |eight| equal_bits(eight, 1));
            for (to, word) in bits.candidate[at].iter_mut().zip(candidates) {
                *to = word;
            }
        }
        bits
    }

    /// The pixels of word `i` (not on the outer rows: the border is clear, so its words
    /// hold no candidate and are never listed) that rule `r` deletes.
    #[inline]
    fn doomed_in(&self, i: usize, r: usize) -> u64 {
        let words = self.words;
        let col = i % words;
        let word = |at: usize| self.on[at];
        // A row's word shifted so that bit j holds the pixel to the east (x + 1) or to the
        // west (x − 1) of pixel j.
        let east = |at: usize| {
            let next = if col + 1 < words {
                word(at + 1) << 63
            } else {
                0
            };
            (word(at) >> 1) | next
        };
        let west = |at: usize| {
            let previous = if col > 0 { word(at - 1) >> 63 } else { 0 };
            (word(at) << 1) | previous
        };
        let (up, down) = (i - words, i + words);
        // P2 .. P9, clockwise from north (`NEIGHBOURS`).
        let p = [
            word(up),
            east(up),
            east(i),
            east(down),
            word(down),
            west(down),
            west(i),
            west(up),
        ];
        rule_mask(p, r) & self.candidate[i]
    }

    /// Clears in `grid` the pixels that were candidates in `before` and are no longer.
    fn write_back(&self, before: &[u64], grid: &mut [u8]) {
        let (w, words) = (self.width, self.words);
        for (i, (&was, &is)) in before.iter().zip(&self.candidate).enumerate() {
            let mut deleted = was & !is;
            let at = (i / words) * w + (i % words) * 64;
            while deleted != 0 {
                grid[at + deleted.trailing_zeros() as usize] = 0;
                deleted &= deleted - 1;
            }
        }
    }
}

/// Bit by bit, whether rule `r` (the first or second sub-iteration's) deletes a pixel
/// whose neighbours P2 .. P9 are the bits of `p`: 2 to 6 neighbours set, exactly one
/// 0 → 1 step around the ring, and the rule's two products of three neighbours 0.
#[inline(always)]
fn rule_mask(p: [u64; 8], r: usize) -> u64 {
    // The neighbour count as bits b0 + 2·b1 + 4·b2 + 8·b3, by full adders.
    let full = |a: u64, b: u64, c: u64| (a ^ b ^ c, (a & b) | (c & (a ^ b)));
    let (s1, c1) = full(p[0], p[1], p[2]);
    let (s2, c2) = full(p[3], p[4], p[5]);
    let (s3, c3) = full(s1, s2, p[6]);
    let (b0, c4) = (s3 ^ p[7], s3 & p[7]);
    let (s5, c5) = full(c1, c2, c3);
    let (b1, c6) = (s5 ^ c4, s5 & c4);
    let (b2, b3) = (c5 ^ c6, c5 & c6);
    let two_to_six = (b1 | b2 | b3) & !(b3 | (b2 & b1 & b0));
    // The 0 → 1 steps around the ring: exactly one.
    let (mut one, mut more) = (0u64, 0u64);
    for n in 0..8 {
        let step = !p[n] & p[(n + 1) % 8];
        more |= one & step;
        one |= step;
    }
    let crossing_once = one & !more;
    let (p2, p4, p6, p8) = (p[0], p[2], p[4], p[6]);
    let rule = if r == 0 {
        !(p2 & p4 & p6) & !(p4 & p6 & p8)
    } else {
        !(p2 & p4 & p8) & !(p2 & p6 & p8)
    };
    two_to_six & crossing_once & rule
}

#[cfg(test)]
mod tests {
    use super::super::plane::xorshift32;
    use super::*;

    #[test]
    fn a_thick_bar_thins_to_a_line_with_two_endings() {
        let (w, h) = (40, 12);
        let mut g = vec![0u8; w * h];
        for y in 3..8 {
            for x in 5..35 {
                g[y * w + x] = 1;
            }
        }
        thin(&mut g, w, h);
        let mut endings = 0;
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                if g[y * w + x] == 1 {
                    assert!(
                        (y as isize - 5).abs() <= 1,
                        "skeleton off the bar's middle at ({x}, {y})"
                    );
                    if crossing_number(neighbourhood(&g, w, x, y)) == 1 {
                        endings += 1;
                    }
                }
            }
        }
        assert_eq!(endings, 2);
    }

    #[test]
    fn crossing_numbers_of_an_end_a_line_and_a_fork() {
        assert_eq!(crossing_number(0b0000_0001), 1);
        assert_eq!(crossing_number(0b0001_0001), 2);
        assert_eq!(crossing_number(0b0101_0001), 3);
    }

    #[test]
    fn the_bitwise_rules_are_the_tables() {
        // Every neighbourhood in its own bit of four words, both rules.
        for r in 0..2 {
            for n in 0..256usize {
                let bit = n % 64;
                let p: [u64; 8] = std::array::from_fn(|i| u64::from((n >> i) & 1 == 1) << bit);
                let got = rule_mask(p, r) >> bit & 1 == 1;
                assert_eq!(got, tables()[r][n], "rule {r}, neighbourhood {n:08b}");
            }
        }
    }

    #[test]
    fn eight_pixels_as_bits_are_the_odd_ones_and_those_of_a_value() {
        let mut seed = 0x7a11_0c8d_u32;
        let values = [0u8, 1, 2, 3, 128, 129, 254, 255];
        for n in 0..20_000 {
            let len = n % 9;
            let pixels: Vec<u8> = (0..len)
                .map(|_| values[xorshift32(&mut seed) as usize % values.len()])
                .collect();
            let (mut odd, mut one, mut zero, mut top) = (0u8, 0u8, 0u8, 0u8);
            for (j, &v) in pixels.iter().enumerate() {
                odd |= (v & 1) << j;
                one |= u8::from(v == 1) << j;
                zero |= u8::from(v == 0) << j;
                top |= u8::from(v == 255) << j;
            }
            assert_eq!(
                (
                    odd_bits(&pixels),
                    equal_bits(&pixels, 1),
                    equal_bits(&pixels, 0),
                    equal_bits(&pixels, 255)
                ),
                (odd, one, zero, top),
                "{pixels:?}"
            );
        }
    }

    /// Zhang and Suen as written: every remaining pixel looked at in every pass.
    fn reference_thin(grid: &mut [u8], w: usize, h: usize) {
        clear_border(grid, w, h);
        loop {
            let mut changed = false;
            for rule in tables() {
                let doomed: Vec<usize> = (0..w * h)
                    .filter(|&i| {
                        grid[i] == 1 && rule[neighbourhood(grid, w, i % w, i / w) as usize]
                    })
                    .collect();
                for &i in &doomed {
                    grid[i] = 0;
                }
                changed |= !doomed.is_empty();
            }
            if !changed {
                break;
            }
        }
    }

    #[test]
    fn thinning_only_what_changed_gives_the_full_passes_skeleton() {
        let mut seed = 0x5eed_1234_u32;
        let mut next = move || xorshift32(&mut seed);
        // Widths of one word and of several, whole and not, so that neighbours are read
        // across the words' edges.
        for (w, h, density) in [
            (30, 20, 50),
            (64, 48, 60),
            (17, 40, 70),
            (50, 50, 85),
            (128, 30, 60),
            (130, 40, 70),
            (201, 90, 80),
        ] {
            // Blobs: random seeds grown twice, so that ridges of several widths appear.
            let mut g: Vec<u8> = (0..w * h)
                .map(|_| u8::from(next() % 100 < density / 4))
                .collect();
            for _ in 0..2 {
                let before = g.clone();
                for y in 1..h - 1 {
                    for x in 1..w - 1 {
                        let n = neighbourhood(&before, w, x, y).count_ones();
                        if n * 100 >= (100 - density) * 8 / 10 {
                            g[y * w + x] = 1;
                        }
                    }
                }
            }
            let mut expected = g.clone();
            reference_thin(&mut expected, w, h);
            thin(&mut g, w, h);
            assert_eq!(g, expected, "{w} x {h}, density {density}");
            assert!(g.contains(&1), "{w} x {h}: nothing left to compare");
        }
    }
}
