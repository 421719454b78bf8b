//! The matcher's behaviour on synthetic minutiae sets: rotation, translation, distortion,
//! missing and spurious minutiae, other resolutions, and bad input.

use daktilo_engine::matching::{self, MatchError, flow, threshold_for_fmr};
use daktilo_engine::template::{Minutia, MinutiaKind, Resolution, Template};

/// A small deterministic generator (SplitMix64), so tests need no extra crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        lo + (hi - lo) * (self.next() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Minutiae at least 12 px apart in a 300 x 400 image, with a smooth direction field.
fn random_print(seed: u64, count: usize) -> Vec<(f32, f32, f32)> {
    let mut rng = Rng(seed);
    let mut points: Vec<(f32, f32, f32)> = Vec::new();
    let (a, b) = (
        rng.uniform(0.0, std::f32::consts::TAU),
        rng.uniform(0.005, 0.02),
    );
    while points.len() < count {
        let (x, y) = (rng.uniform(30.0, 270.0), rng.uniform(30.0, 370.0));
        if points
            .iter()
            .all(|p| (p.0 - x).powi(2) + (p.1 - y).powi(2) > 144.0)
        {
            let flow = a + b * x + 0.7 * (b * y).sin();
            let theta = flow
                + if rng.next().is_multiple_of(2) {
                    0.0
                } else {
                    std::f32::consts::PI
                };
            points.push((x, y, theta));
        }
    }
    points
}

fn template(points: &[(f32, f32, f32)], resolution: Resolution) -> Template {
    let mut t = Template::new(300, 400);
    t.resolution = resolution;
    t.minutiae = points
        .iter()
        .map(|&(x, y, theta)| Minutia {
            x: x.round().clamp(0.0, 16383.0) as u16,
            y: y.round().clamp(0.0, 16383.0) as u16,
            direction: Minutia::direction_from_degrees(theta.to_degrees()),
            kind: MinutiaKind::Ending,
            quality: 60,
        })
        .collect();
    t
}

/// Rotates by `angle` (counter-clockwise on the image) about the centre, shifts, jitters
/// each minutia, drops every `drop`-th and adds `spurious` random ones.
fn impression(
    points: &[(f32, f32, f32)],
    angle: f32,
    shift: (f32, f32),
    jitter: f32,
    drop: usize,
    spurious: usize,
    seed: u64,
) -> Vec<(f32, f32, f32)> {
    let mut rng = Rng(seed);
    let (s, c) = angle.sin_cos();
    let mut out: Vec<(f32, f32, f32)> = points
        .iter()
        .enumerate()
        .filter(|(i, _)| drop == 0 || i % drop != 0)
        .map(|(_, &(x, y, theta))| {
            let (dx, dy) = (x - 150.0, y - 200.0);
            // y points down: a counter-clockwise turn on screen is (c, s; -s, c).
            let (rx, ry) = (c * dx + s * dy, -s * dx + c * dy);
            (
                150.0 + rx + shift.0 + rng.uniform(-jitter, jitter),
                200.0 + ry + shift.1 + rng.uniform(-jitter, jitter),
                theta + angle + rng.uniform(-0.1, 0.1),
            )
        })
        .collect();
    out.extend(random_print(seed ^ 0xabc, spurious));
    out
}

fn score(a: &Template, b: &Template) -> f32 {
    let (pa, pb) = (matching::prepare(a).unwrap(), matching::prepare(b).unwrap());
    matching::compare(&pa, &pb)
}

#[test]
fn a_rotated_shifted_distorted_impression_matches_at_fmr_1e4() {
    let print = random_print(1, 40);
    let probe = template(&print, Resolution::PPI_500);
    let mate = template(
        &impression(&print, 0.35, (25.0, -15.0), 3.0, 5, 6, 2),
        Resolution::PPI_500,
    );
    let s = score(&probe, &mate);
    assert!(s >= threshold_for_fmr(1e-4), "genuine score {s}");
}

#[test]
fn different_fingers_stay_below_fmr_1e2() {
    for seed in 10..20 {
        let a = template(&random_print(seed, 40), Resolution::PPI_500);
        let b = template(&random_print(seed + 100, 40), Resolution::PPI_500);
        let s = score(&a, &b);
        assert!(
            s < threshold_for_fmr(1e-2),
            "seeds {seed}: impostor score {s}"
        );
    }
}

#[test]
fn the_same_finger_at_another_resolution_still_matches() {
    let print = random_print(3, 40);
    let probe = template(&print, Resolution::PPI_500);
    // The same finger scanned at 1000 ppi: coordinates doubled, resolution doubled.
    let doubled: Vec<_> = print
        .iter()
        .map(|&(x, y, t)| (2.0 * x, 2.0 * y, t))
        .collect();
    let mut mate = template(&doubled, Resolution { x: 394, y: 394 });
    mate.width = 600;
    mate.height = 800;
    let s = score(&probe, &mate);
    assert!(s >= threshold_for_fmr(1e-4), "score {s}");
}

#[test]
fn comparison_is_deterministic_and_about_symmetric() {
    let print = random_print(4, 35);
    let a = template(&print, Resolution::PPI_500);
    let b = template(
        &impression(&print, -0.2, (10.0, 10.0), 2.0, 4, 3, 5),
        Resolution::PPI_500,
    );
    let (pa, pb) = (
        matching::prepare(&a).unwrap(),
        matching::prepare(&b).unwrap(),
    );
    assert_eq!(matching::compare(&pa, &pb), matching::compare(&pa, &pb));
    let (ab, ba) = (matching::compare(&pa, &pb), matching::compare(&pb, &pa));
    assert!((ab - ba).abs() <= 0.2 * ab.max(ba), "{ab} vs {ba}");
}

#[test]
fn detailed_comparison_pairs_true_mates() {
    let print = random_print(6, 40);
    let a = template(&print, Resolution::PPI_500);
    let b = template(
        &impression(&print, 0.1, (5.0, 5.0), 1.0, 0, 0, 7),
        Resolution::PPI_500,
    );
    let c = matching::compare_detailed(
        &matching::prepare(&a).unwrap(),
        &matching::prepare(&b).unwrap(),
    );
    assert!(!c.pairs.is_empty());
    // With nothing dropped or added, minutia i of the probe is minutia i of the mate.
    let right = c.pairs.iter().filter(|(i, j)| i == j).count();
    assert!(
        right * 10 >= c.pairs.len() * 9,
        "{right} of {} pairs right",
        c.pairs.len()
    );
}

#[test]
fn degenerate_templates_give_defined_scores() {
    let full = template(&random_print(8, 40), Resolution::PPI_500);
    let empty = template(&[], Resolution::PPI_500);
    let one = template(&random_print(9, 1), Resolution::PPI_500);
    let many = template(&random_print(10, 255), Resolution::PPI_500);
    let mut outside = template(&random_print(11, 40), Resolution::PPI_500);
    for m in outside.minutiae.iter_mut().step_by(2) {
        m.x = 16_000;
        m.y = 16_383;
    }
    let all = [&full, &empty, &one, &many, &outside];
    for a in all {
        for b in all {
            let s = score(a, b);
            assert!(s.is_finite() && s >= 0.0, "score {s}");
        }
    }
    assert_eq!(score(&empty, &full), 0.0);
    assert_eq!(
        score(&one, &one),
        0.0,
        "one minutia has no neighbourhood to compare"
    );
    assert!(score(&many, &many) >= threshold_for_fmr(1e-4));
}

#[test]
fn zero_resolution_is_a_typed_error() {
    let t = template(&random_print(12, 20), Resolution { x: 0, y: 197 });
    assert_eq!(
        matching::prepare(&t).unwrap_err(),
        MatchError::ZeroResolution
    );
}

#[test]
fn prepared_templates_are_shared_across_threads() {
    let print = random_print(13, 40);
    let a = matching::prepare(&template(&print, Resolution::PPI_500)).unwrap();
    let b = matching::prepare(&template(
        &impression(&print, 0.2, (0.0, 0.0), 2.0, 6, 2, 3),
        Resolution::PPI_500,
    ))
    .unwrap();
    let expected = matching::compare(&a, &b);
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4)
            .map(|_| scope.spawn(|| matching::compare(&a, &b)))
            .collect();
        for h in handles {
            assert_eq!(h.join().unwrap(), expected);
        }
    });
}

/// `t` with a ridge-flow block, as our extractor writes one: a smooth field over its
/// 300 × 400 image (16-px blocks), turned by `turn`, with the corners off the print.
fn with_flow(mut t: Template, turn: f32) -> Template {
    let (bw, bh) = (300 / flow::FLOW_BLOCK, 400 / flow::FLOW_BLOCK);
    let cells: Vec<Option<(f32, f32)>> = (0..bw * bh)
        .map(|i| {
            let (x, y) = ((i % bw) as f32, (i / bw) as f32);
            let corner = (x - 9.0).powi(2) / 100.0 + (y - 12.0).powi(2) / 169.0 > 1.0;
            (!corner).then_some((turn + 0.08 * x + 0.05 * y, 0.4 + 0.02 * x))
        })
        .collect();
    t.extensions
        .push(flow::encode(bw, bh, flow::FLOW_BLOCK, &cells).expect("a field on the print"));
    t
}

/// A template prepared for one comparison (without the tables of every pair of minutiae,
/// and without its ridge-flow descriptors) scores exactly as a fully prepared one, on
/// either side of the comparison: genuine and impostor pairs, and a large template against
/// small ones, with and without ridge flow.
#[test]
fn templates_prepared_for_one_comparison_score_exactly_the_same() {
    let r = Resolution::PPI_500;
    let base = random_print(11, 40);
    let large = random_print(12, 120);
    let small = impression(&base, 0.3, (12.0, -8.0), 2.0, 3, 5, 13);
    let part_of_large = impression(&large[..45], -0.2, (5.0, 9.0), 2.0, 4, 3, 14);
    let pairs = [
        (template(&base, r), template(&small, r)),
        (template(&base, r), template(&random_print(15, 35), r)),
        (template(&part_of_large, r), template(&large, r)),
        (template(&small, r), template(&large, r)),
    ];
    let flowing: Vec<_> = pairs
        .iter()
        .map(|(a, b)| (with_flow(a.clone(), 0.0), with_flow(b.clone(), 0.3)))
        .collect();
    for (a, b) in pairs.iter().chain(&flowing) {
        let full = (matching::prepare(a).unwrap(), matching::prepare(b).unwrap());
        let once = (
            matching::prepare_candidate(a).unwrap(),
            matching::prepare_candidate(b).unwrap(),
        );
        let expected = matching::compare_detailed(&full.0, &full.1);
        assert!(expected.pairs.len() > 1, "the relaxation must run");
        assert_eq!(expected.flow, !a.extensions.is_empty());
        for (p, c) in [(&full.0, &once.1), (&once.0, &full.1), (&once.0, &once.1)] {
            let got = matching::compare_detailed(p, c);
            assert_eq!(got.raw.to_bits(), expected.raw.to_bits());
            assert_eq!(got.score.to_bits(), expected.score.to_bits());
            assert_eq!(got.pairs, expected.pairs);
            assert_eq!(got.parts, expected.parts);
        }
    }
}
