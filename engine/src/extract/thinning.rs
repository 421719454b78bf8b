//! Thinning: binary ridges reduced to one-pixel-wide skeletons (Zhang and Suen, "A fast
//! parallel algorithm for thinning digital patterns", CACM 27(3), 1984), with the two
//! sub-iterations' deletion rules precomputed for all 256 neighbourhoods.

use std::sync::OnceLock;

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

/// [`neighbourhood`] of the pixel at index `i` (not on the outer row or column), from
/// offsets rather than coordinates: no division per pixel and pass.
#[inline(always)]
fn ring(grid: &[u8], w: usize, i: usize) -> u8 {
    let (up, down) = (&grid[i - w - 1..i - w + 2], &grid[i + w - 1..i + w + 2]);
    let row = &grid[i - 1..i + 2];
    (up[1] & 1)
        | (up[2] & 1) << 1
        | (row[2] & 1) << 2
        | (down[2] & 1) << 3
        | (down[1] & 1) << 4
        | (down[0] & 1) << 5
        | (row[0] & 1) << 6
        | (up[0] & 1) << 7
}

/// Crossing number of a neighbourhood: 0/1 transitions around the ring. 1 at a ridge
/// ending, 2 along a ridge, 3 at a bifurcation.
#[inline]
pub fn crossing_number(n: u8) -> u32 {
    (n ^ n.rotate_right(1)).count_ones() / 2
}

fn tables() -> &'static [[bool; 256]; 2] {
    static TABLES: OnceLock<[[bool; 256]; 2]> = OnceLock::new();
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
pub fn thin(grid: &mut [u8], w: usize, h: usize) {
    clear_border(grid, w, h);
    let rules = tables();
    // A pixel's fate under a rule depends on its neighbourhood alone, so after the first
    // pass of each rule only the pixels next to one just deleted need looking at again
    // (`due[r]` lists those rule `r` has not seen since; `marked` bit `r` dedupes it): the
    // same passes delete the same pixels as looking at every pixel each time.
    let all: Vec<usize> = (0..w * h).filter(|&i| grid[i] == 1).collect();
    let mut due = [all.clone(), all];
    let mut marked = vec![0u8; w * h];
    for &i in &due[0] {
        marked[i] = 0b11;
    }
    let mut doomed = Vec::new();
    let offsets = [
        -(w as isize) - 1,
        -(w as isize),
        -(w as isize) + 1,
        -1,
        1,
        w as isize - 1,
        w as isize,
        w as isize + 1,
    ];
    let mut quiet = 0;
    for r in (0..2).cycle() {
        doomed.clear();
        for &i in &due[r] {
            marked[i] &= !(1 << r);
            if grid[i] == 1 && rules[r][ring(grid, w, i) as usize] {
                doomed.push(i);
            }
        }
        due[r].clear();
        for &i in &doomed {
            grid[i] = 0;
        }
        for &i in &doomed {
            for o in offsets {
                let j = i.wrapping_add_signed(o);
                if grid[j] == 1 {
                    for (k, list) in due.iter_mut().enumerate() {
                        if marked[j] & (1 << k) == 0 {
                            marked[j] |= 1 << k;
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
    fn the_ring_by_offsets_is_the_neighbourhood_by_coordinates() {
        let (w, h) = (9, 7);
        let mut seed = 0x0bad_cafe_u32;
        let g: Vec<u8> = (0..w * h)
            .map(|_| (xorshift32(&mut seed) >> 7) as u8 & 1)
            .collect();
        for y in 1..h - 1 {
            for x in 1..w - 1 {
                assert_eq!(
                    ring(&g, w, y * w + x),
                    neighbourhood(&g, w, x, y),
                    "({x}, {y})"
                );
            }
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
        for (w, h, density) in [(30, 20, 50), (64, 48, 60), (17, 40, 70), (50, 50, 85)] {
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
