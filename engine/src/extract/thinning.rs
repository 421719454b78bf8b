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

/// Thins a binary image in place (1 = ridge); the outer row and column are cleared.
pub fn thin(grid: &mut [u8], w: usize, h: usize) {
    for x in 0..w {
        grid[x] = 0;
        grid[(h - 1) * w + x] = 0;
    }
    for y in 0..h {
        grid[y * w] = 0;
        grid[y * w + w - 1] = 0;
    }
    let rules = tables();
    let mut pixels: Vec<usize> = (0..w * h).filter(|&i| grid[i] == 1).collect();
    let mut doomed = Vec::new();
    loop {
        let mut changed = false;
        for rule in rules {
            doomed.clear();
            for &i in &pixels {
                if grid[i] == 1 && rule[neighbourhood(grid, w, i % w, i / w) as usize] {
                    doomed.push(i);
                }
            }
            for &i in &doomed {
                grid[i] = 0;
            }
            changed |= !doomed.is_empty();
        }
        if !changed {
            break;
        }
        pixels.retain(|&i| grid[i] == 1);
    }
}

#[cfg(test)]
mod tests {
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
}
