//! Small captures made from large ones, to calibrate and test comparisons with few minutiae.
//!
//! A capture of only part of a finger (a fingertip touched lightly, a print at the edge of
//! the platen) holds few minutiae. FVC2002 has few such templates, so they are made: a
//! template is cut down to its `k` minutiae nearest their centroid, and with them the
//! blocks that only our extractor writes — the ridge counts among the kept minutiae, and
//! the ridge flow within the disc they span (plus one flow block), as the extractor would
//! have written them for a capture of that disc.

use daktilo_engine::matching::flow::{self, FLOW_EXTENSION};
use daktilo_engine::matching::ridge_counts::{self, RIDGE_COUNT_EXTENSION, RidgeCounts};
use daktilo_engine::matching::{self, Comparison, PreparedTemplate};
use daktilo_engine::template::{Extension, Template};
use rayon::prelude::*;

use crate::fvc;
/// Pixels per centimetre at 500 ppi, the frame of the ridge-flow block.
const PPCM_500: f32 = 500.0 / 2.54;

/// The template cut down to its `k` minutiae nearest their centroid (the template itself
/// when it has no more than `k`). The kept minutiae keep their order.
pub fn central(template: &Template, k: usize) -> Template {
    if template.minutiae.len() <= k {
        return template.clone();
    }
    around(template, centroid(template), k).0
}

/// The template cut down to its `k` minutiae nearest `centre` (template pixels), as a
/// capture of the disc about that point holding them would be, and the disc's radius
/// (all of them, and the farthest one's distance, when it has no more than `k`).
pub fn around(template: &Template, (cx, cy): (f32, f32), k: usize) -> (Template, f32) {
    let n = template.minutiae.len();
    let distance = |i: usize| {
        let m = &template.minutiae[i];
        (f32::from(m.x) - cx).hypot(f32::from(m.y) - cy)
    };
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&a, &b| distance(a).total_cmp(&distance(b)).then(a.cmp(&b)));
    let k = k.min(n);
    let radius = order[..k]
        .iter()
        .map(|&i| distance(i))
        .fold(0.0f32, f32::max);
    (
        keep(template, &order[..k], Some(((cx, cy), radius))),
        radius,
    )
}

/// The template with `k` of its minutiae drawn at random (by `seed`) over the whole print,
/// as from a dry or faint capture of the same area in which the rest were missed; its
/// ridge flow is kept whole.
pub fn thinned(template: &Template, k: usize, seed: u64) -> Template {
    let n = template.minutiae.len();
    if n <= k {
        return template.clone();
    }
    let mut order: Vec<(u64, usize)> = (0..n)
        .map(|i| {
            let mut h = seed ^ (i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            h ^= h >> 31;
            h = h.wrapping_mul(0xbf58_476d_1ce4_e5b9);
            h ^= h >> 29;
            (h, i)
        })
        .collect();
    order.sort_unstable();
    let chosen: Vec<usize> = order[..k].iter().map(|&(_, i)| i).collect();
    keep(template, &chosen, None)
}

/// The template with only the minutiae `chosen` (in their order in the template), the
/// ridge counts among them, and the ridge flow within `disc` (centre and radius in the
/// template's pixels) when one is given.
fn keep(template: &Template, chosen: &[usize], disc: Option<((f32, f32), f32)>) -> Template {
    let mut kept = chosen.to_vec();
    kept.sort_unstable();
    let mut out = template.clone();
    out.minutiae = kept.iter().map(|&i| template.minutiae[i]).collect();
    let (sx, sy) = scale_to_500(template);
    out.extensions = template
        .extensions
        .iter()
        .filter_map(|e| match (e.kind, disc) {
            (RIDGE_COUNT_EXTENSION, _) => ridge_counts_among(e, template.minutiae.len(), &kept),
            (FLOW_EXTENSION, Some(((cx, cy), radius))) => {
                Some(flow_within(e, (cx * sx, cy * sy), radius * sx.max(sy)))
            }
            _ => Some(e.clone()),
        })
        .collect();
    out
}

/// The `pairs` (indices into `templates`) compared with one side cut down by `cut` to `k`
/// minutiae, both ways round (`None`: both sides as they are, each pair once); with the
/// templates' ridge-flow and ridge-count blocks, or without them (`strip`, as another
/// vendor's templates are compared). Each comparison comes with the minutiae of its
/// smaller template, which the calibration depends on.
pub fn comparisons(
    templates: &[Template],
    pairs: &[fvc::Pair],
    k: Option<usize>,
    strip: bool,
    cut: impl Fn(&Template, usize) -> Template + Sync,
) -> anyhow::Result<Vec<(Comparison, usize)>> {
    let prepare = |k: Option<usize>| -> anyhow::Result<Vec<PreparedTemplate>> {
        templates
            .par_iter()
            .map(|t| {
                let mut t = k.map_or_else(|| t.clone(), |k| cut(t, k));
                if strip {
                    fvc::as_another_vendors(&mut t);
                }
                Ok(matching::prepare(&t)?)
            })
            .collect()
    };
    let full = prepare(None)?;
    let compare = |a: &PreparedTemplate, b: &PreparedTemplate| {
        (
            matching::compare_detailed(a, b),
            a.minutiae().min(b.minutiae()),
        )
    };
    let Some(k) = k else {
        return Ok(pairs
            .par_iter()
            .map(|&(a, b)| compare(&full[a], &full[b]))
            .collect());
    };
    let small = prepare(Some(k))?;
    Ok(pairs
        .par_iter()
        .flat_map_iter(|&(a, b)| [compare(&full[a], &small[b]), compare(&small[a], &full[b])])
        .collect())
}

fn centroid(template: &Template) -> (f32, f32) {
    let n = template.minutiae.len().max(1) as f32;
    let (sx, sy) = template.minutiae.iter().fold((0.0, 0.0), |(x, y), m| {
        (x + f32::from(m.x), y + f32::from(m.y))
    });
    (sx / n, sy / n)
}

/// Factors from the template's pixels to pixels at 500 ppi (1 where it declares none).
fn scale_to_500(template: &Template) -> (f32, f32) {
    let r = template.resolution;
    let f = |v: u16| if v == 0 { 1.0 } else { PPCM_500 / f32::from(v) };
    (f(r.x), f(r.y))
}

/// The ridge-count block with only the counts between the `kept` minutiae (old indices, in
/// order), renumbered; `None` when none is left, or the block is not one the matcher reads.
fn ridge_counts_among(e: &Extension, n: usize, kept: &[usize]) -> Option<Extension> {
    let counts = RidgeCounts::from_extensions(std::slice::from_ref(e), n)?;
    let mut triples = Vec::new();
    for (i, &a) in kept.iter().enumerate() {
        for (j, &b) in kept.iter().enumerate().skip(i + 1) {
            if let (Some(c), Ok(i), Ok(j)) = (counts.get(a, b), u8::try_from(i), u8::try_from(j)) {
                triples.push((i, j, c));
            }
        }
    }
    ridge_counts::encode(&triples)
}

/// The ridge-flow block with every block whose centre lies more than one block beyond
/// `radius` (px at 500 ppi) from `centre` marked as off the print.
fn flow_within(e: &Extension, centre: (f32, f32), radius: f32) -> Extension {
    let mut out = e.clone();
    let Some(&[_, block, x0, y0, bw, _]) = e.data.first_chunk::<{ flow::HEADER }>() else {
        return out;
    };
    let (block, bw) = (f32::from(block), usize::from(bw).max(1));
    let reach = radius + block;
    for (i, cell) in out.data[flow::HEADER..].chunks_exact_mut(2).enumerate() {
        let x = (f32::from(x0) + (i % bw) as f32 + 0.5) * block;
        let y = (f32::from(y0) + (i / bw) as f32 + 0.5) * block;
        if (x - centre.0).hypot(y - centre.1) > reach {
            cell.copy_from_slice(&[0, 0]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use daktilo_engine::matching::flow::Flow;
    use daktilo_engine::template::{Minutia, MinutiaKind};

    fn minutia(x: u16, y: u16) -> Minutia {
        Minutia {
            x,
            y,
            direction: 0,
            kind: MinutiaKind::Ending,
            quality: 50,
        }
    }

    #[test]
    fn keeps_the_central_minutiae_their_counts_and_the_flow_around_them() {
        let mut t = Template::new(400, 400);
        // Four near the centre (200, 200), two far out.
        t.minutiae = vec![
            minutia(20, 20),
            minutia(190, 200),
            minutia(210, 200),
            minutia(380, 380),
            minutia(200, 190),
            minutia(200, 215),
        ];
        t.extensions.push(
            ridge_counts::encode(&[(0, 1, 7), (1, 2, 2), (2, 4, 3), (3, 5, 9), (4, 5, 1)]).unwrap(),
        );
        let cells = vec![Some((0.5f32, 0.9f32)); 25 * 25];
        t.extensions
            .push(flow::encode(25, 25, 16, &cells).expect("a flow block"));
        let c = central(&t, 4);
        assert_eq!(
            c.minutiae,
            vec![t.minutiae[1], t.minutiae[2], t.minutiae[4], t.minutiae[5]]
        );
        // Old 1-2 is new 0-1, old 2-4 new 1-2, old 4-5 new 2-3; those with 0 or 3 are gone.
        let counts = RidgeCounts::from_extensions(&c.extensions, 4).expect("counts kept");
        let expected = RidgeCounts::from_extensions(
            &[ridge_counts::encode(&[(0, 1, 2), (1, 2, 3), (2, 3, 1)]).unwrap()],
            4,
        )
        .unwrap();
        assert_eq!(counts, expected);
        // The flow is kept near the centre only: fewer blocks on the print, and the
        // minutiae still on it.
        let block = c
            .extensions
            .iter()
            .find(|e| e.kind == FLOW_EXTENSION)
            .unwrap();
        let on = |d: &[u8]| {
            d[flow::HEADER..]
                .chunks_exact(2)
                .filter(|c| c[1] > 0)
                .count()
        };
        let full = t
            .extensions
            .iter()
            .find(|e| e.kind == FLOW_EXTENSION)
            .unwrap();
        assert_eq!(on(&full.data), 625);
        let kept = on(&block.data);
        assert!((4..=40).contains(&kept), "{kept} blocks kept");
        assert!(Flow::from_extensions(&c.extensions).is_some());
        // A template no larger than k is returned as it is.
        assert_eq!(central(&c, 4), c);
        assert_eq!(central(&c, 10), c);
    }

    #[test]
    fn thinning_keeps_k_minutiae_spread_over_the_print_and_the_whole_flow() {
        let mut t = Template::new(400, 400);
        t.minutiae = (0..30u16)
            .map(|i| minutia(10 + 12 * i, 20 + 11 * i))
            .collect();
        t.extensions
            .push(ridge_counts::encode(&[(0, 1, 3), (5, 29, 4)]).unwrap());
        let cells = vec![Some((0.5f32, 0.9f32)); 25 * 25];
        t.extensions
            .push(flow::encode(25, 25, 16, &cells).expect("a flow block"));
        let a = thinned(&t, 10, 7);
        assert_eq!(a, thinned(&t, 10, 7));
        assert_ne!(a.minutiae, thinned(&t, 10, 8).minutiae);
        assert_eq!(a.minutiae.len(), 10);
        assert!(a.minutiae.iter().all(|m| t.minutiae.contains(m)));
        assert!(a.minutiae.windows(2).all(|w| w[0].x < w[1].x), "order kept");
        // Spread over the print, not gathered in the middle.
        let xs: Vec<u16> = a.minutiae.iter().map(|m| m.x).collect();
        assert!(
            xs.iter().max().unwrap() - xs.iter().min().unwrap() > 150,
            "{xs:?}"
        );
        let flow = |t: &Template| {
            t.extensions
                .iter()
                .find(|e| e.kind == FLOW_EXTENSION)
                .cloned()
        };
        assert_eq!(flow(&a), flow(&t));
        // Counts survive only between kept minutiae, renumbered (over many draws, some
        // of which keep both ends of a count).
        let mut kept_pairs = 0;
        for seed in 0..64 {
            let a = thinned(&t, 10, seed);
            let new = |i: usize| a.minutiae.iter().position(|m| *m == t.minutiae[i]);
            let counts = RidgeCounts::from_extensions(&a.extensions, 10);
            for (i, j, c) in [(0, 1, 3), (5, 29, 4)] {
                let both = new(i).zip(new(j));
                let got = both.and_then(|(p, q)| counts.as_ref()?.get(p, q));
                assert_eq!(got, both.map(|_| c), "seed {seed}, count {i}-{j}");
                kept_pairs += usize::from(both.is_some());
            }
        }
        assert!(kept_pairs > 0);
        assert_eq!(thinned(&t, 30, 7), t);
    }
}
