//! Binarisation: ridges are where the enhanced image is negative (ridges are dark), inside
//! the print. Specks of ridge and pin-holes in ridges, smaller than any real ridge or
//! valley segment, are cleaned away: thinning would turn them into false endings,
//! islands and bridges.

use super::params::*;
use super::plane::Plane;

/// 1 for ridge, 0 for valley or background.
pub fn binarize(enhanced: &Plane, inside: impl Fn(usize, usize) -> bool) -> Vec<u8> {
    let (w, h) = (enhanced.width, enhanced.height);
    let mut g: Vec<u8> = enhanced.data.iter().map(|&v| u8::from(v < 0.0)).collect();
    for y in 0..h {
        for x in 0..w {
            if !inside(x, y) {
                g[y * w + x] = 0;
            }
        }
    }
    remove_small(&mut g, w, h, 1, MIN_RIDGE_AREA);
    remove_small(&mut g, w, h, 0, MIN_VALLEY_AREA);
    g
}

/// Flips connected regions of `value` smaller than `min_area` pixels (8-connected for
/// ridges, 4-connected for valleys, so that the two never cross).
fn remove_small(g: &mut [u8], w: usize, h: usize, value: u8, min_area: usize) {
    let mut seen = vec![false; g.len()];
    let mut stack = Vec::new();
    let mut region = Vec::new();
    let eight = value == 1;
    for start in 0..g.len() {
        if g[start] != value || seen[start] {
            continue;
        }
        region.clear();
        seen[start] = true;
        stack.push(start);
        while let Some(i) = stack.pop() {
            region.push(i);
            let (x, y) = ((i % w) as isize, (i / w) as isize);
            for dy in -1isize..=1 {
                for dx in -1isize..=1 {
                    if (dx == 0 && dy == 0) || (!eight && dx != 0 && dy != 0) {
                        continue;
                    }
                    let (nx, ny) = (x + dx, y + dy);
                    if nx < 0 || ny < 0 || nx >= w as isize || ny >= h as isize {
                        continue;
                    }
                    let j = ny as usize * w + nx as usize;
                    if g[j] == value && !seen[j] {
                        seen[j] = true;
                        stack.push(j);
                    }
                }
            }
        }
        if region.len() < min_area {
            for &i in &region {
                g[i] = 1 - value;
            }
        }
    }
}
