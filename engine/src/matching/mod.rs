//! 1:1 comparison of templates with calibrated scores.
//!
//! A template is prepared once ([`prepare`]): its minutiae are scaled to 500 ppi, each gets
//! a cylinder (a bit-vector local structure, see [`cylinder`]), and the distances and
//! radial angles between minutiae are tabulated. Two prepared templates are then compared
//! ([`compare`]) from any thread without allocating: every pair of cylinders is scored
//! (AND, XOR, popcount), the best one-to-one pairs are kept, and a relaxation rewards pairs
//! whose geometry agrees with the others' (local similarity sort with relaxation, LSS-R);
//! then the best pairs anchor rigid placements of one print on the other, and the share of
//! minutiae that mate under the best one scales the score (`consolidation.rs`); between
//! templates of Daktilo's own extractor, so do how alike the ridges run under that
//! placement and whether the ridge counts between the mates agree (`ridge_counts.rs`).
//! The raw result in `[0, 1]` is mapped to a calibrated score, about −10·log10(FMR), by a
//! table for the size of the smaller template (see [`calibration`]).
//!
//! The algorithm and its sources are described in `docs/matching.md`.

pub mod calibration;
mod consolidation;
pub mod cylinder;
pub mod flow;
mod geometry;
pub mod params;
pub mod ridge_counts;

use std::cell::RefCell;
use std::f32::consts::TAU;
use std::sync::OnceLock;

use crate::template::{Resolution, Template};
use cylinder::{Cylinder, Point};
use geometry::angle_diff;
use params::*;

pub use calibration::{Score, fmr_for_score, threshold_for_fmr};

/// Why a template cannot be prepared for matching.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MatchError {
    /// The template declares a resolution of 0, so its minutiae cannot be scaled.
    #[error("the template's resolution is 0 pixels per centimetre; minutiae cannot be scaled")]
    ZeroResolution,
}

/// A template prepared for matching: build once, compare many times, share across threads.
#[derive(Debug, Clone)]
pub struct PreparedTemplate {
    points: Vec<Point>,
    /// The minutiae's x and y apart, padded with far-away points to a multiple of 8 (for
    /// the global consolidation's vectorised distance pass).
    xs: Vec<f32>,
    ys: Vec<f32>,
    /// Cylinders of the minutiae that have a trustworthy one, with the minutia's index.
    cylinders: Vec<Cylinder>,
    cylinder_minutia: Vec<u8>,
    /// The binary direction (1/256 turn) of each cylinder's minutia.
    cylinder_direction: Vec<u8>,
    /// `distances[i * n + j]`: distance between minutiae `i` and `j`, px. Empty when the
    /// template was prepared for one comparison ([`prepare_candidate`]): then
    /// [`Self::distance`] works each out when asked.
    distances: Vec<f32>,
    /// Binary direction (1/256 turn) of each minutia.
    directions: Vec<u8>,
    /// `radial[i * n + j]`: direction of the segment from `i` to `j`, relative to `i`'s, as
    /// a 16-bit binary angle (1/65536 turn). Empty with `distances`.
    radial: Vec<u16>,
    /// Each cylinder's local orientation descriptor, when the template carries its ridge
    /// flow (templates of our own extractor). None for a template prepared for one
    /// comparison ([`prepare_candidate`]): the comparison works out those it needs.
    descriptors: Option<Vec<flow::Descriptor>>,
    /// The ridge flow itself, for the field check of the best placement.
    field: Option<flow::Flow>,
    /// Ridge counts between neighbouring minutiae, when the template carries them.
    ridge_counts: Option<ridge_counts::RidgeCounts>,
}

impl PreparedTemplate {
    /// Number of minutiae.
    pub fn minutiae(&self) -> usize {
        self.points.len()
    }

    /// The distance between minutiae `i` and `j`, px: from the table, or worked out by the
    /// table's own expression where there is none (the same value).
    #[inline(always)]
    fn distance(&self, i: usize, j: usize) -> f32 {
        if self.distances.is_empty() {
            pair_distance(&self.points[i], &self.points[j])
        } else {
            self.distances[i * self.points.len() + j]
        }
    }

    /// The direction of the segment from minutia `i` to `j` relative to `i`'s, as in
    /// `radial`, from the table or worked out.
    #[inline(always)]
    fn radial(&self, i: usize, j: usize) -> u16 {
        if self.radial.is_empty() {
            pair_radial(&self.points[i], &self.points[j])
        } else {
            self.radial[i * self.points.len() + j]
        }
    }

    /// Number of minutiae with a usable cylinder.
    pub fn cylinders(&self) -> usize {
        self.cylinders.len()
    }

    /// The usable cylinders (for search features built from them).
    pub fn cylinder_codes(&self) -> &[Cylinder] {
        &self.cylinders
    }

    /// Each usable cylinder's ridge-flow descriptor, when the template carries its flow and
    /// was prepared by [`prepare`] (one prepared by [`prepare_candidate`] holds none).
    pub fn cylinder_descriptors(&self) -> Option<&[flow::Descriptor]> {
        self.descriptors.as_deref()
    }

    /// Whether a comparison can read this template's ridge-flow descriptors: whenever it
    /// carries the flow, which they are made from (prepared with them or worked out).
    fn has_descriptors(&self) -> bool {
        self.field.is_some()
    }

    /// Cylinder `i`'s descriptor: the prepared one, or worked out once per comparison
    /// into `made` (by the same call as [`prepare`]'s, so the same value).
    #[inline(always)]
    fn descriptor<'a>(&'a self, i: usize, made: &'a mut MadeDescriptors) -> &'a flow::Descriptor {
        if let Some(d) = &self.descriptors {
            return &d[i];
        }
        if !made.made[i] {
            let p = &self.points[usize::from(self.cylinder_minutia[i])];
            let field = self
                .field
                .as_ref()
                .expect("has_descriptors: the flow is there");
            made.descriptors[i] = field.descriptor(p.x, p.y, p.theta);
            made.made[i] = true;
        }
        &made.descriptors[i]
    }

    /// Each usable cylinder's minutia: position (px at 500 ppi, y up) and binary direction.
    pub fn cylinder_minutiae(&self) -> impl Iterator<Item = (f32, f32, u8)> + '_ {
        self.cylinder_minutia
            .iter()
            .zip(&self.cylinder_direction)
            .map(|(&i, &d)| {
                let p = &self.points[usize::from(i)];
                (p.x, p.y, d)
            })
    }
}

/// Prepares a template (one view) for matching, to be compared many times (a probe).
pub fn prepare(template: &Template) -> Result<PreparedTemplate, MatchError> {
    prepare_with(template, true)
}

/// Prepares a template for a single comparison, as the search's second stage does for
/// each candidate: as [`prepare`], but without the tables of every pair of minutiae's
/// distance and direction, which a comparison reads only for its few dozen best pairs,
/// and without the ridge-flow descriptors, which it reads only for its shortlisted pairs
/// (about half of a rolled print's cylinders meet a plain probe's shortlist). Those are
/// worked out when asked, by the same expressions, so every comparison gives the same
/// score as with [`prepare`]; a rolled print of 116 minutiae has 13,456 pairs (an
/// arctangent each), a plain probe pairs with at most a few dozen of its minutiae.
/// Slower than [`prepare`] for a template compared many times (a probe).
pub fn prepare_candidate(template: &Template) -> Result<PreparedTemplate, MatchError> {
    prepare_with(template, false)
}

/// The distance between two minutiae, px (the `distances` table's entry).
#[inline(always)]
fn pair_distance(a: &Point, b: &Point) -> f32 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    (dx * dx + dy * dy).sqrt()
}

/// The direction from minutia `a` to `b` relative to `a`'s, 1/65536 turn (the `radial`
/// table's entry).
#[inline(always)]
fn pair_radial(a: &Point, b: &Point) -> u16 {
    let (dx, dy) = (b.x - a.x, b.y - a.y);
    let relative = angle_diff(dy.atan2(dx), a.theta);
    (relative * (65536.0 / TAU)).round() as i32 as u16
}

/// [`prepare`] and [`prepare_candidate`]: with or without the tables of every pair and
/// the ridge-flow descriptors.
///
/// Compiled for AVX2 + FMA and NEON as well as the baseline, like [`cylinder::build`],
/// with the same values on every build: the table of radial angles rounds each of its
/// n² entries, a library call in the baseline x86-64 build.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn prepare_with(template: &Template, tables: bool) -> Result<PreparedTemplate, MatchError> {
    let Resolution { x: rx, y: ry } = template.resolution;
    if rx == 0 || ry == 0 {
        return Err(MatchError::ZeroResolution);
    }
    let (sx, sy) = (MATCH_PPCM / f32::from(rx), MATCH_PPCM / f32::from(ry));
    // At most 255 minutiae (the formats' limit); more would not fit the u8 indices below.
    let points: Vec<Point> = template
        .minutiae
        .iter()
        .take(255)
        .map(|m| Point {
            x: f32::from(m.x) * sx,
            y: -f32::from(m.y) * sy,
            theta: m.direction_radians(),
        })
        .collect();
    let n = points.len();
    let mut cylinders = Vec::new();
    let mut cylinder_minutia = Vec::new();
    let mut cylinder_direction = Vec::new();
    for (i, c) in cylinder::build(&points).into_iter().enumerate() {
        if let Some(c) = c {
            cylinders.push(c);
            cylinder_minutia.push(i as u8);
            cylinder_direction.push(template.minutiae[i].direction);
        }
    }
    let (mut distances, mut radial) = (Vec::new(), Vec::new());
    if tables {
        distances.reserve_exact(n * n);
        radial.reserve_exact(n * n);
        for a in &points {
            for b in &points {
                distances.push(pair_distance(a, b));
                radial.push(pair_radial(a, b));
            }
        }
    }
    let directions = template
        .minutiae
        .iter()
        .take(255)
        .map(|m| m.direction)
        .collect();
    let padded = n.div_ceil(8) * 8;
    let far = |v: Vec<f32>| {
        let mut v = v;
        v.resize(padded, consolidation::FAR);
        v
    };
    let field = flow::Flow::from_extensions(&template.extensions);
    let ridge_counts = ridge_counts::RidgeCounts::from_extensions(&template.extensions, n);
    let descriptors = field.as_ref().filter(|_| tables).map(|f| {
        cylinder_minutia
            .iter()
            .map(|&i| {
                let p = &points[usize::from(i)];
                f.descriptor(p.x, p.y, p.theta)
            })
            .collect()
    });
    let xs = far(points.iter().map(|p| p.x).collect());
    let ys = far(points.iter().map(|p| p.y).collect());
    Ok(PreparedTemplate {
        points,
        xs,
        ys,
        cylinders,
        cylinder_minutia,
        cylinder_direction,
        distances,
        directions,
        radial,
        descriptors,
        field,
        ridge_counts,
    })
}

/// The outcome of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The calibrated score.
    pub score: Score,
    /// The uncalibrated similarity in `[0, 1]`.
    pub raw: f32,
    /// Paired minutiae (probe index, candidate index), best first: those that carried the
    /// score, then the others that the relaxation found consistent with them.
    pub pairs: Vec<(u8, u8)>,
    /// Whether the ridge flow around the minutiae was compared too (both templates carry
    /// it: both made by Daktilo's extractor). The score is calibrated for either case.
    pub flow: bool,
    /// The factors the raw similarity is the product of, for anyone auditing a score.
    pub parts: Parts,
}

/// What made a comparison's raw similarity: `local · agreement^0.4 · field factor ·
/// ridge-count factor` (the last two only between templates that carry those blocks).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Parts {
    /// The local score of LSS-R (step 4 of the comparison), in `[0, 1]`.
    pub local: f32,
    /// The global consolidation's agreement `m² / (c_a · c_b)` (step 5), in `[0, 1]`.
    pub agreement: f32,
    /// Minutiae mated under the best placement (`m`).
    pub mated: u16,
    /// The probe's and the candidate's minutiae in the common area (`c_a`, `c_b`).
    pub common: (u16, u16),
    /// The field agreement of step 6 (mean cos 2Δ), when both prints carry ridge flow.
    pub field: Option<f32>,
    /// Of the pairs of mates whose ridge counts both prints carry, how many differ by 0,
    /// 1, 2, and 3 or more ridges (step 7).
    pub ridges: [u16; 4],
}

/// Compares a probe with a candidate; the calibrated score only.
pub fn compare(probe: &PreparedTemplate, candidate: &PreparedTemplate) -> Score {
    let (raw, flow) =
        SCRATCH.with(|s| raw_similarity(probe, candidate, &mut s.borrow_mut(), None, None));
    calibration::calibrate(raw, flow, smaller(probe, candidate))
}

/// Compares a probe with a candidate and says which minutiae were paired.
pub fn compare_detailed(probe: &PreparedTemplate, candidate: &PreparedTemplate) -> Comparison {
    let mut pairs = Vec::new();
    let mut parts = Parts::default();
    let (raw, flow) = SCRATCH.with(|s| {
        raw_similarity(
            probe,
            candidate,
            &mut s.borrow_mut(),
            Some(&mut pairs),
            Some(&mut parts),
        )
    });
    Comparison {
        score: calibration::calibrate(raw, flow, smaller(probe, candidate)),
        raw,
        pairs,
        flow,
        parts,
    }
}

/// The minutiae of the smaller of two templates, which the calibration depends on.
fn smaller(a: &PreparedTemplate, b: &PreparedTemplate) -> usize {
    a.minutiae().min(b.minutiae())
}

/// Per-thread buffers reused across comparisons.
#[derive(Default)]
struct Scratch {
    keys: Vec<u32>,
    chosen: Vec<(u8, u8, f32)>,
    lambda: Vec<f32>,
    next: Vec<f32>,
    rho: Vec<f32>,
    used_a: Vec<bool>,
    used_b: Vec<bool>,
    order: Vec<(f32, usize)>,
    global: consolidation::Scratch,
    made_a: MadeDescriptors,
    made_b: MadeDescriptors,
}

/// The descriptors a comparison has worked out for a template prepared without them
/// ([`prepare_candidate`]), by cylinder.
#[derive(Default)]
struct MadeDescriptors {
    made: Vec<bool>,
    descriptors: Vec<flow::Descriptor>,
}

impl MadeDescriptors {
    /// Forgets the previous comparison's, for a template of `cylinders` cylinders.
    fn start(&mut self, cylinders: usize) {
        self.made.clear();
        self.made.resize(cylinders, false);
        if self.descriptors.len() < cylinders {
            self.descriptors.resize(cylinders, flow::Descriptor::EMPTY);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// A dot product in eight independent lanes, which the compiler keeps in vector registers
/// (a plain `sum()` must add in order and cannot be vectorised).
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut lanes = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            lanes[k] += x[k] * y[k];
        }
    }
    let tail: f32 = ra.iter().zip(rb).map(|(x, y)| x * y).sum();
    lanes.iter().sum::<f32>() + tail
}

fn sigmoid(v: f32, mu: f32, tau: f32) -> f32 {
    1.0 / (1.0 + (-tau * (v - mu)).exp())
}

/// The factor of step 6: 1 for a field agreement of 1, falling linearly to
/// [`FIELD_FLOOR`] at [`FIELD_AGREEMENT_LOW`] and below.
fn field_factor(mean: f32) -> f32 {
    ((mean - FIELD_AGREEMENT_LOW) / (1.0 - FIELD_AGREEMENT_LOW)).clamp(FIELD_FLOOR, 1.0)
}

/// The factor of step 7: `exp(s · min(cap, Σ n_d · w_d))` over the pairs of mates whose
/// ridge counts differ by `d` (0, 1, 2, 3 or more), `w_d` the log-likelihood ratio of such
/// a difference between mates of the same finger and of different fingers.
fn ridge_factor(differences: [u16; 4]) -> f32 {
    let evidence: f32 = differences
        .iter()
        .zip(RIDGE_COUNT_EVIDENCE)
        .map(|(&n, w)| f32::from(n) * w)
        .sum();
    (RIDGE_COUNT_SCALE * evidence.min(RIDGE_COUNT_CAP)).exp()
}

/// How many top pairs make the score, from the smaller cylinder count.
fn pairs_in_score(na: usize, nb: usize) -> usize {
    let z = sigmoid(na.min(nb) as f32, MU_P, TAU_P);
    MIN_NP + (z * (MAX_NP - MIN_NP) as f32).round() as usize
}

struct RhoTables {
    distance: Vec<f32>,
    angle: Vec<f32>,
    radial: Vec<f32>,
}

const DISTANCE_STEPS_PER_PX: f32 = 8.0;
/// Beyond 16 px the distance term is below 1e-7: pairs that far apart count as incompatible.
const DISTANCE_TABLE_PX: f32 = 16.0;
/// Table steps per half turn: direction differences are whole 1/256 turns (128 per half
/// turn); radial differences are 16-bit binary angles, looked up at 1/1024 turn.
const DIRECTION_STEPS: usize = 128;
const RADIAL_STEPS: usize = 512;

fn rho_tables() -> &'static RhoTables {
    static TABLES: OnceLock<RhoTables> = OnceLock::new();
    TABLES.get_or_init(|| {
        let d = (DISTANCE_TABLE_PX * DISTANCE_STEPS_PER_PX) as usize;
        let angle = |(mu, tau): (f32, f32), steps: usize| -> Vec<f32> {
            (0..=steps)
                .map(|i| sigmoid(i as f32 * std::f32::consts::PI / steps as f32, mu, tau))
                .collect()
        };
        RhoTables {
            distance: (0..=d)
                .map(|i| {
                    sigmoid(
                        i as f32 / DISTANCE_STEPS_PER_PX,
                        RHO_DISTANCE.0,
                        RHO_DISTANCE.1,
                    )
                })
                .collect(),
            angle: angle(RHO_DIRECTION, DIRECTION_STEPS),
            radial: angle(RHO_RADIAL, RADIAL_STEPS),
        }
    })
}

/// Scores every pair of cylinders whose minutiae's directions are compatible, as packed
/// keys: similarity (16 bits), probe cylinder index (8), candidate cylinder index (8).
/// Inlined into [`raw_similarity`], which is compiled for several instruction sets and
/// dispatched at run time: the hardware POPCNT instruction alone halves its time.
#[inline(always)]
fn local_similarities(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    min_common: u32,
    keys: &mut Vec<u32>,
) {
    keys.clear();
    let roots = cylinder::roots();
    for (i, ca) in a.cylinders.iter().enumerate() {
        let da = a.cylinder_direction[i];
        for (j, cb) in b.cylinders.iter().enumerate() {
            // Binary angles: the wrapped difference is within a quarter turn.
            if (da.wrapping_sub(b.cylinder_direction[j]) as i8).unsigned_abs() > MAX_DIRECTION_UNITS
            {
                continue;
            }
            let sim = cylinder::similarity(ca, cb, min_common, roots);
            if sim > 0.0 {
                let q = (sim * 65535.0) as u32;
                keys.push((q << 16) | ((i as u32) << 8) | j as u32);
            }
        }
    }
}

/// The whole comparison, compiled for several instruction sets (AVX2 + POPCNT + FMA,
/// POPCNT, NEON, and the baseline) and dispatched at run time on the CPU it finds.
#[allow(unsafe_code)]
#[multiversion::multiversion(targets(
    "x86_64+avx2+popcnt+bmi1+bmi2+fma",
    "x86_64+popcnt",
    "aarch64+neon"
))]
fn raw_similarity(
    a: &PreparedTemplate,
    b: &PreparedTemplate,
    s: &mut Scratch,
    pairs_out: Option<&mut Vec<(u8, u8)>>,
    mut parts_out: Option<&mut Parts>,
) -> (f32, bool) {
    let with_flow = a.has_descriptors() && b.has_descriptors();
    let (na, nb) = (a.cylinders.len(), b.cylinders.len());
    if na == 0 || nb == 0 {
        return (0.0, with_flow);
    }
    // 1. Local similarities of every compatible pair of cylinders.
    let min_common = (MIN_COMMON_CELLS * cylinder::disc_cells() as f32).ceil() as u32;
    local_similarities(a, b, min_common, &mut s.keys);
    if s.keys.is_empty() {
        return (0.0, with_flow);
    }
    // 2. The best one-to-one pairs, greedily from the top.
    let wanted = na.min(nb);
    let shortlist = (4 * wanted).min(s.keys.len());
    if shortlist < s.keys.len() {
        s.keys
            .select_nth_unstable_by(shortlist - 1, |x, y| y.cmp(x));
        s.keys.truncate(shortlist);
    }
    // 2b. With both prints' ridge flow: each shortlisted pair's similarity is scaled by how
    //     alike the flow around its two minutiae runs (`flow.rs`).
    if with_flow {
        s.made_a.start(na);
        s.made_b.start(nb);
        for key in s.keys.iter_mut() {
            let (i, j) = (((*key >> 8) & 0xff) as usize, (*key & 0xff) as usize);
            let f = a
                .descriptor(i, &mut s.made_a)
                .similarity(b.descriptor(j, &mut s.made_b))
                .map_or(FLOW_UNKNOWN, |o| o.max(0.0));
            let q = (((*key >> 16) as f32) * f) as u32;
            *key = (q << 16) | (*key & 0xffff);
        }
    }
    s.keys.sort_unstable_by(|x, y| y.cmp(x));
    s.used_a.clear();
    s.used_a.resize(na, false);
    s.used_b.clear();
    s.used_b.resize(nb, false);
    s.chosen.clear();
    for &key in &s.keys {
        let (i, j) = (((key >> 8) & 0xff) as usize, (key & 0xff) as usize);
        if s.used_a[i] || s.used_b[j] {
            continue;
        }
        s.used_a[i] = true;
        s.used_b[j] = true;
        let sim = (key >> 16) as f32 / 65535.0;
        s.chosen
            .push((a.cylinder_minutia[i], b.cylinder_minutia[j], sim));
        if s.chosen.len() == wanted {
            break;
        }
    }
    let nr = s.chosen.len();
    let np = pairs_in_score(na, nb);
    // 3. Relaxation: a pair's similarity is pulled towards the similarities of the pairs
    //    geometrically compatible with it.
    s.lambda.clear();
    s.lambda.extend(s.chosen.iter().map(|c| c.2));
    if nr > 1 {
        let t = rho_tables();
        s.rho.clear();
        s.rho.resize(nr * nr, 0.0);
        for r in 0..nr {
            let (ar, br, _) = s.chosen[r];
            let (ar, br) = (usize::from(ar), usize::from(br));
            for c in 0..nr {
                if c == r {
                    continue;
                }
                let (ac, bc, _) = s.chosen[c];
                let (ac, bc) = (usize::from(ac), usize::from(bc));
                let dd = (a.distance(ar, ac) - b.distance(br, bc)).abs();
                let di = (dd * DISTANCE_STEPS_PER_PX) as usize;
                if di >= t.distance.len() {
                    continue;
                }
                // Wrapping differences of binary angles are angle differences in (-π, π].
                let dth = a.directions[ar]
                    .wrapping_sub(a.directions[ac])
                    .wrapping_sub(b.directions[br].wrapping_sub(b.directions[bc]));
                let drad = a.radial(ar, ac).wrapping_sub(b.radial(br, bc));
                let dth = usize::from((dth as i8).unsigned_abs());
                let drad = usize::from((drad as i16).unsigned_abs() >> 6);
                s.rho[r * nr + c] = t.distance[di] * t.angle[dth] * t.radial[drad];
            }
        }
        let share = (1.0 - RELAX_WEIGHT) / (nr - 1) as f32;
        for _ in 0..RELAX_ITERATIONS {
            s.next.clear();
            for r in 0..nr {
                let row = &s.rho[r * nr..(r + 1) * nr];
                let support = dot(row, &s.lambda);
                s.next.push(RELAX_WEIGHT * s.lambda[r] + share * support);
            }
            std::mem::swap(&mut s.lambda, &mut s.next);
        }
    }
    // 4. The score: mean relaxed similarity of the np most efficient pairs (those whose
    //    similarity relaxation kept best), divided by np even when fewer pairs exist.
    s.order.clear();
    for r in 0..nr {
        let efficiency = s.lambda[r] / s.chosen[r].2.max(f32::MIN_POSITIVE);
        s.order.push((efficiency, r));
    }
    s.order.sort_unstable_by(|x, y| y.0.total_cmp(&x.0));
    let take = np.min(nr);
    let total: f32 = s.order[..take].iter().map(|&(_, r)| s.lambda[r]).sum();
    if let Some(out) = pairs_out {
        // For people: the pairs that made the score, then every other pair whose relaxed
        // similarity is at least half their mean (the geometry agreed with them).
        let floor = 0.5 * total / take.max(1) as f32;
        out.clear();
        out.extend(
            s.order
                .iter()
                .enumerate()
                .filter(|&(k, &(_, r))| k < take || s.lambda[r] >= floor)
                .map(|(_, &(_, r))| (s.chosen[r].0, s.chosen[r].1)),
        );
    }
    // 5. Global check: how many minutiae mate, and how many lie in the common area, under
    //    the rigid transform one of the best pairs implies. The local score is scaled by
    //    that agreement, so pairs whose local matches do not add up to one placement of the
    //    print lose, and pairs that share little area but mate all of it keep their score.
    let anchors = s.order[..take.min(GLOBAL_ANCHORS)]
        .iter()
        .map(|&(_, r)| (s.chosen[r].0, s.chosen[r].1));
    // Both prints of our own extractor (both carry the ridge flow): their minutiae sit on
    // their skeleton pixels, and mates must land closer.
    let mating = if with_flow {
        consolidation::Mating::OWN
    } else {
        consolidation::Mating::ANY
    };
    let (agreement, anchor) = consolidation::agreement(a, b, anchors, mating, &mut s.global);
    let local = total / np as f32;
    let mut raw = local * agreement.powf(GLOBAL_WEIGHT);
    if let Some(parts) = parts_out.as_deref_mut() {
        let (mated, common) = s.global.best_counts();
        *parts = Parts {
            local,
            agreement,
            mated,
            common,
            field: None,
            ridges: [0; 4],
        };
    }
    // 6. With both prints' ridge flow: do the ridges run alike where the prints overlap,
    //    under the placement that best fits the mates of the best one?
    if let (Some(fa), Some(fb), Some(anchor)) = (&a.field, &b.field, anchor) {
        let consolidation::Placement { from, to, turn } =
            consolidation::best_placement(a, b, &s.global, anchor);
        let (mean, _) = fb.field_agreement(fa, from, to, turn);
        raw *= field_factor(mean);
        if let Some(parts) = parts_out.as_deref_mut() {
            parts.field = Some(mean);
        }
    }
    // 7. With both prints' ridge counts: do the ridges between mates agree as well?
    if let Some(differences) = s.global.ridge_differences(a, b) {
        raw *= ridge_factor(differences);
        if let Some(parts) = parts_out {
            parts.ridges = differences;
        }
    }
    if raw.is_finite() {
        (raw.clamp(0.0, 1.0), with_flow)
    } else {
        (0.0, with_flow)
    }
}
