//! Synthetic minutiae templates of fingers that do not exist, for building galleries of
//! millions where only a few hundred real prints are at hand.
//!
//! The model: an elliptical print; an orientation field from the zero-pole model of
//! Sherlock and Monro ("A model for interpreting fingerprint topology", Pattern
//! Recognition 26(7), 1993) with the singular points of an arch, a loop or a whorl; minutiae
//! thrown at random inside the print at least 12 px apart (real minutiae sit on ridges a
//! ridge period apart), pointing along the field one way or the other, about 55 % endings;
//! 12–70 of them (normal, mean 34, sd 9). Templates are 300 x 400 px at 500 ppi, like the
//! FVC2002 ISO templates. `docs/search.md` compares their impostor scores with FVC's.
//!
//! [`finger_of`] can also give the template the ridge-flow block that Daktilo's
//! extractor writes (the same field, averaged over 16-px blocks, with a little noise), so
//! that a gallery searched with our own extractor's templates holds impostors that carry
//! what they carry: the matcher and the stage-1 codes use the flow when both sides have it.
//! The ridge model ([`Model::Ridges`]) measures its block as an extractor does: each
//! block's direction and coherence from the field over a window about it, so that the
//! coherence falls where the ridges curve, scaled by the print's clarity and lower at its
//! edge; its patterns follow the classes' natural frequencies, its loops' deltas lie to
//! one side; half its prints come from a larger sensor (448 x 576 px templates), so that
//! their areas spread as FVC2002's four sensors' do together. The rolled model
//! ([`Model::Rolled`]) is the ridge model's finger rolled nail to nail: the area of a
//! ten-print card's rolled impression (800 × 752 px templates), with the ridge period
//! drifting more so that its minutiae lie as densely as the plain prints'; such prints get
//! several stage-1 rows, as real rolled prints do.

use daktilo_engine::matching::flow;
use daktilo_engine::template::{
    FingerPosition, ImpressionType, Minutia, MinutiaKind, Resolution, Template,
};

/// A small deterministic generator (SplitMix64).
#[derive(Debug, Clone)]
pub struct Rng(pub u64);

impl Rng {
    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }

    /// Standard normal (Box–Muller).
    pub fn normal(&mut self) -> f32 {
        let u = self.uniform(1e-7, 1.0);
        let v = self.uniform(0.0, 1.0);
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

pub mod ridges;

/// How a synthetic print's minutiae are placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Model {
    /// Thrown at random inside the print, at least 12 px apart, pointing along the field.
    Points,
    /// Where the print's ridge lines end or fork ([`ridges`]).
    Ridges,
    /// [`Model::Ridges`]'s fingers rolled nail to nail: the same field, ridges and density
    /// of minutiae over the area a rolled impression captures (`ROLLED_ACROSS`,
    /// `ROLLED_ALONG`), so that a gallery of rolled prints holds impostors with as many
    /// stage-1 rows, and as many minutiae for the matcher, as real rolled prints.
    Rolled,
}

/// The template of synthetic finger number `index` (the same index gives the same finger).
pub fn finger(seed: u64, index: u64) -> Template {
    finger_of(seed, index, false)
}

/// [`finger`]'s template (the same minutiae), with a ridge-flow block of its orientation
/// field, as Daktilo's extractor writes one, when `with_flow` is set.
pub fn finger_of(seed: u64, index: u64, with_flow: bool) -> Template {
    finger_with(seed, index, with_flow, Model::Points)
}

/// [`finger_of`] with the minutiae placed by `model`.
pub fn finger_with(seed: u64, index: u64, with_flow: bool, model: Model) -> Template {
    let mut rng = Rng(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03));
    let ridges = model != Model::Points;
    let canvas = match model {
        Model::Points => POINT_CANVAS,
        Model::Ridges => RIDGE_CANVAS,
        Model::Rolled => ROLLED_CANVAS,
    };
    let (cx, cy) = (
        canvas.0 as f32 / 2.0 + rng.uniform(-20.0, 20.0),
        canvas.1 as f32 / 2.0 + rng.uniform(-25.0, 25.0),
    );
    let (mut ax, mut ay) = (rng.uniform(100.0, 140.0), rng.uniform(140.0, 185.0));
    if model == Model::Rolled {
        // The finger rolled: much wider than its plain impression, somewhat longer,
        // about the same centre (the draws below, and so the finger, differ from the
        // ridge model's of the same index).
        ax *= rng.uniform(ROLLED_ACROSS.0, ROLLED_ACROSS.1);
        ay *= rng.uniform(ROLLED_ALONG.0, ROLLED_ALONG.1);
    } else if ridges && rng.next_u64().is_multiple_of(2) {
        // Half the ridge model's prints come from a larger sensor: the same finger, more
        // of it captured about the same centre.
        let scale = rng.uniform(LARGE_SENSOR.0, LARGE_SENSOR.1);
        (ax, ay) = (ax * scale, ay * scale);
    }
    // Singular points: 0 arch, 1 loop (core above a delta), 2 whorl (two of each).
    let class = pattern_class(rng.next_u64(), ridges);
    let mut cores = Vec::new();
    let mut deltas = Vec::new();
    if class >= 1 {
        cores.push((cx + rng.uniform(-20.0, 20.0), cy - rng.uniform(10.0, 50.0)));
        // The ridge model's loops have their delta to one side, as real loops do (one in
        // three of the point model's lay nearly under the core, a tented arch); a whorl's
        // two deltas lie that far to either side.
        let dx = if ridges {
            let side = rng.uniform(DELTA_SIDE.0, DELTA_SIDE.1);
            if rng.next_u64().is_multiple_of(2) {
                side
            } else {
                -side
            }
        } else {
            rng.uniform(-90.0, 90.0)
        };
        deltas.push((cx + dx, cy + rng.uniform(60.0, 120.0)));
    }
    if class >= 2 {
        cores.push((
            cores[0].0 + rng.uniform(-15.0, 15.0),
            cores[0].1 + rng.uniform(20.0, 40.0),
        ));
        deltas.push((
            cx - (deltas[0].0 - cx),
            deltas[0].1 + rng.uniform(-20.0, 20.0),
        ));
    }
    let base = rng.uniform(-0.3, 0.3);
    let field = |x: f32, y: f32| -> f32 {
        let mut t = base;
        for &(px, py) in &cores {
            t += 0.5 * (y - py).atan2(x - px);
        }
        for &(px, py) in &deltas {
            t -= 0.5 * (y - py).atan2(x - px);
        }
        t
    };
    // The print: an ellipse about (cx, cy).
    let on_print = |x: f32, y: f32| ((x - cx) / ax).powi(2) + ((y - cy) / ay).powi(2) <= 1.0;
    if ridges {
        // The ridge model's field dwells longer near the vertical (`ridges::WARP`).
        let warped = |x: f32, y: f32| base + ridges::warp(field(x, y) - base);
        let mut t = ridge_finger(
            &mut rng,
            warped,
            on_print,
            (cx, cy, ax, ay),
            canvas,
            if model == Model::Rolled {
                ROLLED_DRIFT
            } else {
                ridges::PERIOD_DRIFT
            },
            with_flow,
        );
        if model == Model::Rolled {
            t.impression = ImpressionType::LiveRolled;
        }
        return t;
    }
    let count = (34.0 + 9.0 * rng.normal()).round().clamp(12.0, 70.0) as usize;
    let mut points: Vec<(f32, f32)> = Vec::with_capacity(count);
    let mut tries = 0;
    while points.len() < count && tries < 20_000 {
        tries += 1;
        let (x, y) = (rng.uniform(cx - ax, cx + ax), rng.uniform(cy - ay, cy + ay));
        if on_print(x, y)
            && x >= 0.0
            && y >= 0.0
            && x < canvas.0 as f32
            && y < canvas.1 as f32
            && points
                .iter()
                .all(|p| (p.0 - x).powi(2) + (p.1 - y).powi(2) >= 144.0)
        {
            points.push((x, y));
        }
    }
    let mut t = blank(&mut rng, canvas);
    t.minutiae = points
        .into_iter()
        .map(|(x, y)| {
            let flip = if rng.next_u64().is_multiple_of(2) {
                0.0
            } else {
                std::f32::consts::PI
            };
            // Field angles are in image coordinates (y down); directions turn the other way.
            let theta = -(field(x, y) + flip) + 0.09 * rng.normal();
            Minutia {
                x: x.round() as u16,
                y: y.round() as u16,
                direction: Minutia::direction_from_degrees(theta.to_degrees()),
                kind: if rng.uniform(0.0, 1.0) < 0.55 {
                    MinutiaKind::Ending
                } else {
                    MinutiaKind::Bifurcation
                },
                quality: (30.0 + rng.uniform(0.0, 70.0)) as u8,
            }
        })
        .collect();
    if with_flow {
        add_flow(&mut t, &mut rng, &field, &on_print);
    }
    t
}

/// A template of `canvas` px (width, height) with no minutiae yet: its finger position,
/// impression, resolution and quality.
fn blank(rng: &mut Rng, canvas: (usize, usize)) -> Template {
    let mut t = Template::new(canvas.0 as u16, canvas.1 as u16);
    t.finger = FingerPosition::from_code((1 + rng.next_u64() % 10) as u8)
        .unwrap_or(FingerPosition::Unknown);
    t.impression = ImpressionType::LivePlain;
    t.resolution = Resolution::PPI_500;
    t.quality = (40.0 + rng.uniform(0.0, 55.0)) as u8;
    t
}

/// Gives `t` the ridge-flow block of `field` over the print.
fn add_flow(
    t: &mut Template,
    rng: &mut Rng,
    field: &dyn Fn(f32, f32) -> f32,
    on_print: &dyn Fn(f32, f32) -> bool,
) {
    // A generator of its own (one draw from `rng`), as before the flow block was shared
    // by the two models, so that the point model's templates are unchanged.
    let mut noise = Rng(rng.next_u64());
    add_blocks(t, |_, _, x, y| {
        let angle = (field(x, y) + 0.05 * noise.normal()).rem_euclid(std::f32::consts::PI);
        let coherence = noise.uniform(0.5, 0.9);
        on_print(x, y).then_some((angle, coherence))
    });
}

/// The point model's templates' size (px at 500 ppi), like the FVC2002 ISO templates'.
const POINT_CANVAS: (usize, usize) = (300, 400);
/// The ridge model's templates' size, room for its largest prints ([`LARGE_SENSOR`]).
const RIDGE_CANVAS: (usize, usize) = (448, 576);
/// The ridge model's larger sensor: its prints' axes are the smaller sensor's times a
/// factor drawn from this range. FVC2002's DB3_B and DB4_B prints cover a median 235 and
/// 228 blocks of 16 px, DB1_B's and DB2_B's 314 and 332 (`daktilo-bench synth-compare`),
/// so half the fillers follow each pair.
const LARGE_SENSOR: (f32, f32) = (1.0, 1.35);

/// The rolled model's templates' size: a ten-print card's rolled box (1.6 × 1.5 inches at
/// 500 ppi; the NIST card's rolled images are 776–804 × 748–752 px).
const ROLLED_CANVAS: (usize, usize) = (800, 752);
/// A rolled print's axes are the plain print's (smaller sensor) times factors drawn from
/// these ranges: across, nail to nail, 2.2–2.6 times the width a plain impression touches
/// (about 22–36 mm against 10–14 mm), and along the finger 1.6–1.9 times its length (the
/// roll takes in more of the first joint). The product, about 4.2 times the area, puts a
/// median rolled print at about 1,000 flow blocks of 16 px: the NIST card's rolled prints
/// cover 904–2,221 blocks by our extractor's flow (median about 1,460, their boxes' smudge
/// and ruled lines counted in), its plain impressions 232–525 but one. Nothing here was
/// fitted to the card's searches; the density of minutiae is set to the plain prints' by
/// [`ROLLED_DRIFT`].
const ROLLED_ACROSS: (f32, f32) = (2.2, 2.6);
const ROLLED_ALONG: (f32, f32) = (1.6, 1.9);
/// The rolled model's drift of the ridge period ([`ridges::minutiae`]). With the plain
/// prints' drift (`ridges::PERIOD_DRIFT`, 0.3) a rolled print held 7.5 minutiae per 100
/// blocks at the median, against 11.5 for the ridge model's plain prints and 11.3–12.4
/// for FVC2002's by our extractor: the sides a roll adds are long parallel ridges, which
/// end only where their spacing drifts, so a print four times as large held only 2.4 times
/// the minutiae. Chosen as the drift that gives the plain prints' density (400 prints at
/// each of 0.3, 0.4, 0.42, 0.43, 0.44, 0.45, 0.6: 7.5, 10.1, 10.9, 11.5, 11.9, 12.6, 22.8
/// per 100 blocks); a median rolled print then holds about 116 minutiae and gets 4 stage-1
/// rows.
const ROLLED_DRIFT: f32 = 0.43;

/// The flow blocks across and down template `t`'s image.
fn flow_grid(t: &Template) -> (usize, usize) {
    (
        usize::from(t.width).div_ceil(flow::FLOW_BLOCK),
        usize::from(t.height).div_ceil(flow::FLOW_BLOCK),
    )
}

/// The centre (px) of flow block (`bx`, `by`).
fn block_centre(bx: isize, by: isize) -> (f32, f32) {
    let block = flow::FLOW_BLOCK as f32;
    ((bx as f32 + 0.5) * block, (by as f32 + 0.5) * block)
}

/// Gives `t` a ridge-flow block over its image ([`flow_grid`]), each block's direction and
/// coherence from `cell` (its column, row and centre; `None` off the print), called for
/// every block in row order.
fn add_blocks(
    t: &mut Template,
    mut cell: impl FnMut(isize, isize, f32, f32) -> Option<(f32, f32)>,
) {
    let (bw, bh) = flow_grid(t);
    let cells: Vec<Option<(f32, f32)>> = (0..bw * bh)
        .map(|i| {
            let (bx, by) = ((i % bw) as isize, (i / bw) as isize);
            let (x, y) = block_centre(bx, by);
            cell(bx, by, x, y)
        })
        .collect();
    t.extensions
        .extend(flow::encode(bw, bh, flow::FLOW_BLOCK, &cells));
}

/// A print of the [`Model::Ridges`] (or [`Model::Rolled`]) model: the minutiae where its
/// ridge lines, drawn along `field` bent a little (±[`ridges::BEND`]) a ridge period
/// apart, end or fork; those within 12 px of the print's edge left out, as an extractor
/// leaves them. A print with fewer than 12 is drawn again (another period, bend and
/// start), at most 64 times: FVC2002's templates hold 13 or more, so the fillers' sizes
/// follow theirs (before the calibration had a table per template size,
/// docs/matching.md, templates of a handful of minutiae also scored far too high against
/// many others).
fn ridge_finger(
    rng: &mut Rng,
    field: impl Fn(f32, f32) -> f32,
    on_print: impl Fn(f32, f32) -> bool,
    (cx, cy, ax, ay): (f32, f32, f32, f32),
    canvas: (usize, usize),
    period_drift: f32,
    with_flow: bool,
) -> Template {
    let well_inside =
        |x: f32, y: f32| ((x - cx) / (ax - 12.0)).powi(2) + ((y - cy) / (ay - 12.0)).powi(2) <= 1.0;
    let bent = |bend: &ridges::Drift, x: f32, y: f32| field(x, y) + ridges::BEND * bend.at(x, y);
    let mut tries = 0;
    let (found, bend) = loop {
        tries += 1;
        let period = rng.uniform(7.5, 10.5);
        let seed = (cx + rng.uniform(-30.0, 30.0), cy + rng.uniform(-30.0, 30.0));
        let bend = ridges::Drift::new(rng, ridges::BEND_WAVELENGTHS);
        let mut found = ridges::minutiae(
            &|x, y| bent(&bend, x, y),
            &on_print,
            (canvas.0 as f32, canvas.1 as f32),
            (period, period_drift),
            seed,
            rng,
        );
        found.retain(|m| well_inside(m.x, m.y));
        if found.len() >= 12 || tries == 64 {
            break (found, bend);
        }
    };
    let mut t = blank(rng, canvas);
    t.minutiae = found
        .into_iter()
        .map(|m| {
            // An ending points into its ridge, against the way the line ran out of it;
            // directions turn the other way from image angles (y down).
            let theta = -(m.forward + std::f32::consts::PI) + 0.09 * rng.normal();
            Minutia {
                x: m.x.round().clamp(0.0, canvas.0 as f32 - 1.0) as u16,
                y: m.y.round().clamp(0.0, canvas.1 as f32 - 1.0) as u16,
                direction: Minutia::direction_from_degrees(theta.to_degrees()),
                kind: if m.bifurcation {
                    MinutiaKind::Bifurcation
                } else {
                    MinutiaKind::Ending
                },
                quality: (30.0 + rng.uniform(0.0, 70.0)) as u8,
            }
        })
        .take(255)
        .collect();
    if with_flow {
        add_ridge_flow(&mut t, rng, &|x, y| bent(&bend, x, y), &on_print);
    }
    t
}

/// A print's pattern from a random draw: 0 an arch, 1 a loop, 2 a whorl. The ridge model
/// follows the classes' natural frequencies — about 6.6 % arches (plain and tented),
/// 65.5 % loops and 27.9 % whorls (C. L. Wilson, G. T. Candela and C. I. Watson, as
/// quoted in D. Maltoni et al., "Handbook of Fingerprint Recognition", chapter 5) — as 5
/// / 65 / 30 % of 20 draws; the point model keeps its 10 / 60 / 30 %.
fn pattern_class(draw: u64, ridges: bool) -> u8 {
    if ridges {
        match draw % 20 {
            0 => 0,
            1..=13 => 1,
            _ => 2,
        }
    } else {
        match draw % 10 {
            0 => 0,
            1..=6 => 1,
            _ => 2,
        }
    }
}

/// How far to the side of the print's centre (px) a loop's delta lies in the ridge model.
const DELTA_SIDE: (f32, f32) = (45.0, 100.0);

/// Gives `t` the ridge-flow block of `field` over the print as an extractor measures it:
/// each block's direction and coherence from the field averaged over a window about it
/// (so that the coherence falls where the ridges curve, about the singular points), times
/// the print's clarity, lower at the print's edge, with a little noise per block.
fn add_ridge_flow(
    t: &mut Template,
    rng: &mut Rng,
    field: &dyn Fn(f32, f32) -> f32,
    on_print: &dyn Fn(f32, f32) -> bool,
) {
    let mut noise = Rng(rng.next_u64());
    let clarity = (FLOW_CLARITY.0 + FLOW_CLARITY.1 * noise.normal()).clamp(0.2, 0.95);
    let (bw, bh) = flow_grid(t);
    let inside = |bx: isize, by: isize| {
        let (x, y) = block_centre(bx, by);
        bx >= 0 && by >= 0 && (bx as usize) < bw && (by as usize) < bh && on_print(x, y)
    };
    // The window's samples: a 5 × 5 grid over FLOW_WINDOW px.
    const SAMPLES: usize = 5;
    let at = |k: usize| FLOW_WINDOW * (k as f32 / (SAMPLES - 1) as f32 - 0.5);
    add_blocks(t, |bx, by, x, y| {
        if !inside(bx, by) {
            return None;
        }
        let (mut c, mut s) = (0.0f32, 0.0f32);
        for j in 0..SAMPLES {
            for k in 0..SAMPLES {
                let (s2, c2) = (2.0 * field(x + at(j), y + at(k))).sin_cos();
                c += c2;
                s += s2;
            }
        }
        // 1 where the ridges run straight through the window, less where they curve.
        let straight = (c * c + s * s).sqrt() / (SAMPLES * SAMPLES) as f32;
        let angle = (0.5 * s.atan2(c) + 0.05 * noise.normal()).rem_euclid(std::f32::consts::PI);
        let edge = (-1..=1)
            .flat_map(|dy| (-1..=1).map(move |dx| (dx, dy)))
            .any(|(dx, dy)| !inside(bx + dx, by + dy));
        let at_edge = if edge { FLOW_EDGE } else { 1.0 };
        let coherence =
            (clarity * straight * at_edge + FLOW_NOISE * noise.normal()).clamp(0.05, 1.0);
        Some((angle, coherence))
    });
}

/// The ridge model's flow block: the print's clarity (the coherence of its straight
/// ridges), mean and spread over prints; the window (px) a block's direction is averaged
/// over; the coherence's factor at the print's edge and its noise per block. Fitted to
/// the blocks our extractor writes for the FVC2002 B images (`docs/search.md`, "The
/// flow block as an extractor measures it").
const FLOW_CLARITY: (f32, f32) = (0.66, 0.15);
const FLOW_WINDOW: f32 = 32.0;
const FLOW_EDGE: f32 = 0.82;
const FLOW_NOISE: f32 = 0.07;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingers_are_reproducible_distinct_and_plausible() {
        let a = finger(1, 7);
        assert_eq!(a, finger(1, 7));
        assert_ne!(a, finger(1, 8));
        for i in 0..200 {
            let t = finger(3, i);
            assert!(
                (12..=70).contains(&t.minutiae.len()),
                "{}",
                t.minutiae.len()
            );
            for m in &t.minutiae {
                assert!(m.x < t.width && m.y < t.height);
            }
            for (k, m) in t.minutiae.iter().enumerate() {
                for n in &t.minutiae[k + 1..] {
                    let d2 = (f32::from(m.x) - f32::from(n.x)).powi(2)
                        + (f32::from(m.y) - f32::from(n.y)).powi(2);
                    assert!(d2 >= 110.0, "minutiae {d2} px² apart"); // 12 px, less rounding
                }
            }
        }
    }

    /// The ridge model's prints: the same index gives the same print; at least 12
    /// minutiae (the redraw), about as many as FVC2002's templates hold (median 30); inside
    /// the image; both kinds; and no two at one spot (a line stops half a period from
    /// another, so ends lie apart).
    #[test]
    fn ridge_fingers_are_reproducible_distinct_and_plausible() {
        let a = finger_with(1, 7, false, Model::Ridges);
        assert_eq!(a, finger_with(1, 7, false, Model::Ridges));
        assert_ne!(a, finger_with(1, 8, false, Model::Ridges));
        let mut counts = Vec::new();
        let (mut endings, mut bifurcations) = (0, 0);
        for i in 0..200 {
            let t = finger_with(3, i, false, Model::Ridges);
            assert!(
                (12..=255).contains(&t.minutiae.len()),
                "{}",
                t.minutiae.len()
            );
            counts.push(t.minutiae.len());
            for m in &t.minutiae {
                assert!(m.x < t.width && m.y < t.height);
                match m.kind {
                    MinutiaKind::Ending => endings += 1,
                    _ => bifurcations += 1,
                }
            }
        }
        counts.sort_unstable();
        let median = counts[counts.len() / 2];
        assert!((20..=45).contains(&median), "median {median} minutiae");
        let share = bifurcations as f32 / (endings + bifurcations) as f32;
        assert!((0.3..0.6).contains(&share), "bifurcations {share}");
    }

    /// The rolled model's prints: about four times a plain print's area (a median near
    /// 1,000 blocks), minutiae as dense as the plain prints' (a median near 11.5 per 100
    /// blocks, about 116 minutiae), marked rolled, inside their larger image, and most
    /// of them large enough for several stage-1 rows.
    #[test]
    fn rolled_prints_cover_a_rolled_area_as_densely_as_plain_ones() {
        let (mut areas, mut density, mut counts, mut rows) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..120 {
            let t = finger_with(9, i, true, Model::Rolled);
            assert_eq!(t.impression, ImpressionType::LiveRolled);
            assert_eq!((t.width, t.height), (800, 752));
            assert!(t.minutiae.iter().all(|m| m.x < t.width && m.y < t.height));
            let f = flow::Flow::from_extensions(&t.extensions).expect("a flow block");
            let blocks = f.blocks_on_print();
            areas.push(blocks);
            density.push(100.0 * t.minutiae.len() as f32 / blocks as f32);
            counts.push(t.minutiae.len());
            rows.push(
                daktilo_engine::search::gallery_feature(&t).len()
                    / daktilo_engine::search::feature::FEATURE_BYTES,
            );
        }
        areas.sort_unstable();
        density.sort_by(f32::total_cmp);
        counts.sort_unstable();
        rows.sort_unstable();
        assert!(
            (850..=1200).contains(&areas[60]),
            "median {} blocks",
            areas[60]
        );
        assert!(
            (10.0..=13.0).contains(&density[60]),
            "median {} minutiae per 100 blocks",
            density[60]
        );
        assert!(
            (95..=140).contains(&counts[60]),
            "median {} minutiae",
            counts[60]
        );
        assert!(rows[60] >= 3, "median {} stage-1 rows", rows[60]);
        // The plain model's finger of the same index is another print altogether.
        assert_ne!(
            finger_with(9, 3, true, Model::Ridges),
            finger_with(9, 3, true, Model::Rolled)
        );
    }

    /// The ridge model's prints are as large as FVC2002's four sensors' together: a median
    /// about 265 blocks of 16 px (FVC2002 B: 268 over the four sets), a tenth above 380
    /// (DB1_B and DB2_B; one sensor's size alone reached 282), yet none over the image's
    /// edge; and their minutiae follow (a median of 31 over the four sets).
    #[test]
    fn ridge_prints_are_as_large_as_the_four_sensors_together() {
        let (mut areas, mut counts) = (Vec::new(), Vec::new());
        for i in 0..400 {
            let t = finger_with(9, i, true, Model::Ridges);
            let f = flow::Flow::from_extensions(&t.extensions).expect("a flow block");
            areas.push(f.blocks_on_print());
            counts.push(t.minutiae.len());
            assert!(t.minutiae.iter().all(|m| m.x < t.width && m.y < t.height));
        }
        areas.sort_unstable();
        counts.sort_unstable();
        let (p50, p90) = (areas[200], areas[360]);
        assert!((240..=300).contains(&p50), "median {p50} blocks");
        assert!((360..=440).contains(&p90), "p90 {p90} blocks");
        assert!(
            (27..=35).contains(&counts[200]),
            "median {} minutiae",
            counts[200]
        );
    }

    /// The ridge model's fields run near the vertical about as often as real prints' do
    /// (FVC2002: 15 % of flow blocks within 15° of the vertical, 16 % of the horizontal);
    /// the zero-pole fields without [`ridges::warp`] gave 7 % and 32 %.
    #[test]
    fn ridge_fields_run_near_the_vertical_as_often_as_real_ones() {
        let (mut vertical, mut horizontal, mut all) = (0, 0, 0);
        for i in 0..100 {
            let t = finger_with(5, i, true, Model::Ridges);
            let e = t
                .extensions
                .iter()
                .find(|e| e.kind == flow::FLOW_EXTENSION)
                .expect("a flow block");
            for c in e.data[flow::HEADER..].chunks_exact(2).filter(|c| c[1] > 0) {
                // The direction in 1/256 of a half turn: 64 is vertical.
                let d = i32::from(c[0]);
                vertical += usize::from((d - 64).abs() < 22);
                horizontal += usize::from(!(22..=234).contains(&d));
                all += 1;
            }
        }
        let (v, h) = (vertical as f32 / all as f32, horizontal as f32 / all as f32);
        assert!((0.11..0.2).contains(&v), "near the vertical: {v}");
        assert!((0.12..0.25).contains(&h), "near the horizontal: {h}");
    }

    /// The ridge model's flow blocks carry the coherence an extractor measures: lower
    /// where the ridges curve (about the singular points) and at the print's edge, and
    /// spread from print to print (FVC2002, our extractor: median 0.69 where the blocks
    /// about a block run alike, 0.40 where they turn most; 0.66 inside, 0.54 at the edge;
    /// the prints' medians from 0.44 to 0.83 between their 10th and 90th percentiles). A
    /// coherence drawn at random for every block, as the point model's, fails each.
    #[test]
    fn ridge_flow_coherence_falls_where_ridges_curve_and_at_the_edge() {
        let median = |v: &mut Vec<f32>| {
            v.sort_by(f32::total_cmp);
            v[v.len() / 2]
        };
        let (mut straight, mut curved, mut inner, mut edge, mut prints) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for i in 0..200 {
            let t = finger_with(9, i, true, Model::Ridges);
            let e = t
                .extensions
                .iter()
                .find(|e| e.kind == flow::FLOW_EXTENSION)
                .expect("a flow block");
            let (bw, bh) = (usize::from(e.data[4]), usize::from(e.data[5]));
            let cells: Vec<(f32, f32, f32)> = e.data[flow::HEADER..]
                .chunks_exact(2)
                .map(|c| {
                    let two = f32::from(c[0]) * std::f32::consts::PI / 128.0;
                    (two.cos(), two.sin(), f32::from(c[1]) / 255.0)
                })
                .collect();
            let at = |x: isize, y: isize| {
                (x >= 0 && y >= 0 && (x as usize) < bw && (y as usize) < bh)
                    .then(|| cells[y as usize * bw + x as usize])
                    .filter(|c| c.2 > 0.0)
            };
            let mut mine = Vec::new();
            for y in 0..bh as isize {
                for x in 0..bw as isize {
                    let Some((_, _, coherence)) = at(x, y) else {
                        continue;
                    };
                    let around: Vec<_> = (-1..=1)
                        .flat_map(|dy| (-1..=1).map(move |dx| (dx, dy)))
                        .filter_map(|(dx, dy)| at(x + dx, y + dy))
                        .collect();
                    if around.len() < 9 {
                        edge.push(coherence);
                        continue;
                    }
                    inner.push(coherence);
                    let (c, s) = around
                        .iter()
                        .fold((0.0, 0.0), |(c, s), b| (c + b.0, s + b.1));
                    let alike = (c * c + s * s).sqrt() / 9.0;
                    if alike >= 0.95 {
                        straight.push(coherence);
                        mine.push(coherence);
                    } else if alike < 0.8 {
                        curved.push(coherence);
                    }
                }
            }
            prints.push(median(&mut mine));
        }
        let (s, c) = (median(&mut straight), median(&mut curved));
        assert!(s - c > 0.15, "straight {s}, curved {c}");
        let (i, e) = (median(&mut inner), median(&mut edge));
        assert!(i - e > 0.05, "inside {i}, at the edge {e}");
        prints.sort_by(f32::total_cmp);
        let (p10, p90) = (prints[prints.len() / 10], prints[prints.len() * 9 / 10]);
        assert!(p90 - p10 > 0.25, "prints from {p10} to {p90}");
    }

    #[test]
    fn the_warp_keeps_the_orientations_in_order_and_fixes_the_axes() {
        use std::f32::consts::{FRAC_PI_2, PI};
        assert_eq!(ridges::warp(0.0), 0.0);
        assert!((ridges::warp(FRAC_PI_2) - FRAC_PI_2).abs() < 1e-6);
        assert!((ridges::warp(PI) - PI).abs() < 1e-5);
        let mut last = ridges::warp(-PI);
        for i in 1..=2000 {
            let w = ridges::warp(-PI + i as f32 * 2.0 * PI / 2000.0);
            assert!(w > last);
            last = w;
        }
        // Near the horizontal orientations spread out; near the vertical they gather.
        assert!(ridges::warp(0.1) > 0.15);
        assert!((ridges::warp(FRAC_PI_2 + 0.1) - FRAC_PI_2) < 0.05);
    }

    /// The flow block runs along the minutiae as an extracted print's does: near a minutia
    /// (the descriptor's inner ring, 27 px) the ridges run about its direction, so the
    /// samples' doubled angles relative to it are near 0. A field stored mirrored or turned
    /// a quarter turn fails this, and so do ridge-model minutiae pointing across their
    /// lines.
    #[test]
    fn the_flow_block_runs_along_the_minutiae() {
        use daktilo_engine::matching;
        for model in [Model::Points, Model::Ridges] {
            let (mut sum, mut n) = (0.0f32, 0);
            for i in 0..50 {
                let plain = finger_with(5, i, false, model);
                let t = finger_with(5, i, true, model);
                assert_eq!(plain.minutiae, t.minutiae);
                assert!(plain.extensions.is_empty());
                let p = matching::prepare(&t).unwrap();
                let descriptors = p.cylinder_descriptors().expect("the flow is read back");
                for d in descriptors {
                    for k in flow::ring_samples(0) {
                        if let Some((c, _)) = d.sample(k) {
                            sum += f32::from(c) / 127.0;
                            n += 1;
                        }
                    }
                }
            }
            assert!(n > 1000, "{model:?}: {n} samples");
            let mean = sum / n as f32;
            assert!(
                mean > 0.6,
                "{model:?}: mean cos 2Δ near the minutiae {mean}"
            );
        }
    }
}
