//! 1:N search over a gallery: finds mates, honours deletes and restrictions, and gives the
//! same stage-1 scores on every instruction set.

use std::collections::HashSet;
use std::path::PathBuf;

use daktilo_engine::datasets;
use daktilo_engine::gallery::{Gallery, GalleryOptions, NewEntry};
use daktilo_engine::search::{self, ProbeFinger, SearchOptions, feature};
use daktilo_engine::template::{self, FingerPosition, Format, Template, TemplateRecord};

fn fvc_db1() -> Option<Vec<(u32, u32, Template)>> {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("search on FVC2002"));
        return None;
    };
    let mut out = Vec::new();
    for f in 101..=110u32 {
        for i in 1..=8u32 {
            let path = dir.join(format!("fvc2002/DB1_B/{f}_{i}.iso"));
            let record = template::decode(&std::fs::read(path).unwrap()).unwrap();
            out.push((f, i, record.templates.into_iter().next().unwrap()));
        }
    }
    Some(out)
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daktilo-search-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options() -> GalleryOptions {
    GalleryOptions {
        feature_len: feature::FEATURE_BYTES,
        flush_entries: 6,
        create: true,
    }
}

fn entry(t: &Template, subject: u64, finger: FingerPosition) -> NewEntry {
    NewEntry {
        subject,
        finger,
        template: template::encode(&TemplateRecord::single(t.clone()), Format::Native).unwrap(),
        feature: search::gallery_feature(t),
    }
}

fn probe(t: &Template) -> Vec<ProbeFinger> {
    vec![ProbeFinger {
        finger: FingerPosition::Unknown,
        template: t.clone(),
    }]
}

#[test]
fn mates_are_found_deleted_ones_are_not_and_restrictions_hold() {
    let Some(prints) = fvc_db1() else { return };
    let dir = scratch("mates");
    let g = Gallery::open(&dir, options()).unwrap();
    // Impression 1 of every finger enrolled (spread over segments and the log).
    let mut ids = Vec::new();
    for (f, _, t) in prints.iter().filter(|p| p.1 == 1) {
        ids.extend(
            g.append(vec![entry(t, u64::from(*f), FingerPosition::RightIndex)])
                .unwrap(),
        );
    }
    let snap = g.snapshot();
    // The segments' finger counts, which size the re-ranking: every segment entry is a
    // right index, none another finger (asked twice: the second answer is the kept one).
    let in_segments: usize = snap.segments.iter().map(|s| s.len()).sum();
    assert!(in_segments >= 6, "the flushes made segments");
    for _ in 0..2 {
        let count = |f: FingerPosition| -> usize {
            snap.segments
                .iter()
                .map(|s| s.count_of_finger(f.code()))
                .sum()
        };
        assert_eq!(count(FingerPosition::RightIndex), in_segments);
        assert_eq!(count(FingerPosition::LeftIndex), 0);
    }
    let mut rank1 = 0;
    let probes: Vec<_> = prints.iter().filter(|p| p.1 > 1).collect();
    for (f, _, t) in &probes {
        let found = search::search(&snap, &probe(t), &SearchOptions::default()).unwrap();
        assert!(found.windows(2).all(|w| w[0].score >= w[1].score));
        if found.first().is_some_and(|c| c.subject == u64::from(*f)) {
            rank1 += 1;
        }
    }
    assert!(
        rank1 * 100 >= probes.len() * 90,
        "rank-1 {rank1} of {}",
        probes.len()
    );
    // Deleting finger 101's template removes it from results at once.
    g.delete(&[ids[0]]).unwrap();
    let snap = g.snapshot();
    let t = &prints.iter().find(|p| p.0 == 101 && p.1 == 2).unwrap().2;
    let found = search::search(&snap, &probe(t), &SearchOptions::default()).unwrap();
    assert!(found.iter().all(|c| c.subject != 101));
    // Subject restriction and finger selection.
    let t = &prints.iter().find(|p| p.0 == 105 && p.1 == 3).unwrap().2;
    let only: HashSet<u64> = [105, 106].into_iter().collect();
    let found = search::search(
        &snap,
        &probe(t),
        &SearchOptions {
            subjects: Some(only),
            ..SearchOptions::default()
        },
    )
    .unwrap();
    assert!(found.iter().all(|c| c.subject == 105 || c.subject == 106));
    assert_eq!(found.first().map(|c| c.subject), Some(105));
    let wrong_finger = vec![ProbeFinger {
        finger: FingerPosition::LeftThumb,
        template: t.clone(),
    }];
    assert!(
        search::search(&snap, &wrong_finger, &SearchOptions::default())
            .unwrap()
            .is_empty()
    );
    let none = SearchOptions {
        fingers: Some(vec![FingerPosition::LeftThumb]),
        ..SearchOptions::default()
    };
    assert!(search::search(&snap, &probe(t), &none).is_err());
    // Exhaustive search agrees on the mate.
    let found = search::search(
        &snap,
        &probe(t),
        &SearchOptions {
            exhaustive: true,
            ..SearchOptions::default()
        },
    )
    .unwrap();
    assert_eq!(found.first().map(|c| c.subject), Some(105));
    // A strict target FPIR leaves only strong candidates.
    let strict = SearchOptions {
        target_fpir: Some(1e-6),
        ..SearchOptions::default()
    };
    for c in search::search(&snap, &probe(t), &strict).unwrap() {
        assert!(c.score >= daktilo_engine::matching::threshold_for_fmr(1e-6 / snap.len() as f64));
    }
    // The target FPIR is spread over the subjects given as the population, or over those
    // the search is restricted to: a population that puts the threshold above the mate's
    // score leaves it out, a restriction to two subjects brings it back.
    let mate = search::search(&snap, &probe(t), &SearchOptions::default()).unwrap()[0].score;
    // Ten times the mate's FMR: the threshold is 10 below its score for one subject, 10
    // above it for a hundred.
    let fpir = daktilo_engine::matching::fmr_for_score(mate) * 10.0;
    let above = 100;
    let with = |population: usize, subjects: Option<HashSet<u64>>| {
        search::search(
            &snap,
            &probe(t),
            &SearchOptions {
                target_fpir: Some(fpir),
                population: Some(population),
                subjects,
                ..SearchOptions::default()
            },
        )
        .unwrap()
        .iter()
        .any(|c| c.subject == 105)
    };
    assert!(fpir < 1.0, "mate score {mate}");
    assert!(with(1, None));
    assert!(!with(above, None));
    assert!(with(above, Some([105, 106].into_iter().collect())));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn empty_and_single_galleries_and_empty_probes_give_defined_answers() {
    let Some(prints) = fvc_db1() else { return };
    let dir = scratch("small");
    let g = Gallery::open(&dir, options()).unwrap();
    let t = &prints[0].2;
    assert!(
        search::search(&g.snapshot(), &probe(t), &SearchOptions::default())
            .unwrap()
            .is_empty()
    );
    g.append(vec![entry(t, 7, FingerPosition::Unknown)])
        .unwrap();
    let found = search::search(
        &g.snapshot(),
        &probe(&prints[1].2),
        &SearchOptions::default(),
    )
    .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].subject, 7);
    let nothing = SearchOptions {
        shortlist: 0,
        max_results: 0,
        ..SearchOptions::default()
    };
    assert!(
        search::search(&g.snapshot(), &probe(t), &nothing)
            .unwrap()
            .is_empty()
    );
    assert!(search::stage1_scan(&g.snapshot(), t, 0).is_empty());
    let empty = Template::new(300, 400);
    assert!(
        search::search(&g.snapshot(), &probe(&empty), &SearchOptions::default())
            .unwrap()
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn stage_one_scores_are_identical_with_and_without_runtime_dispatch() {
    let Some(prints) = fvc_db1() else { return };
    let features: Vec<u8> = prints
        .iter()
        .flat_map(|p| search::gallery_feature(&p.2))
        .collect();
    for (_, _, t) in prints.iter().step_by(7) {
        let p = feature::ProbeFeature::new(&feature::feature(t));
        let (mut a, mut b) = (Vec::new(), Vec::new());
        search::scan_block(&p, &features, &mut a);
        search::scan_block_baseline(&p, &features, &mut b);
        assert_eq!(a.len(), prints.len());
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        // The AVX2 kernel asked for by name (the bench's comparison) gives them too.
        #[cfg(target_arch = "x86_64")]
        {
            let mut c = Vec::new();
            if search::scan_block_avx2(&p, &features, &mut c) {
                assert_eq!(
                    c.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
        }
    }
}

/// The scan's best `k` over a segment of several blocks scanned in parallel, each worker
/// turning away what falls below its own `k`-th best and the workers' bests merged, are
/// exactly the best `k` of every entry's score.
#[test]
fn the_parallel_scan_keeps_exactly_the_best_of_every_entry() {
    let Some(prints) = fvc_db1() else { return };
    let dir = scratch("shortlist");
    // 3 blocks of 8,192 and a part: 25,600 entries, each template turned and moved in 320
    // ways (the feature's codes are local, so about 40 of them differ), so that every
    // block holds different scores.
    let copies = 320;
    let variants: Vec<(u64, Template)> = (0..copies)
        .flat_map(|c| {
            let (degrees, dx, dy) = (
                (c % 37) as f32 - 18.0,
                (c % 5) as f32 * 3.0,
                (c / 64) as f32 * 4.0,
            );
            prints
                .iter()
                .map(move |(f, _, t)| (u64::from(*f), turned(t, degrees, dx, dy)))
        })
        .collect();
    let g = Gallery::open(
        &dir,
        GalleryOptions {
            flush_entries: variants.len(),
            ..options()
        },
    )
    .unwrap();
    let mut all: Vec<u8> = Vec::new();
    for chunk in variants.chunks(prints.len()) {
        let entries: Vec<NewEntry> = chunk
            .iter()
            .map(|(f, t)| entry(t, *f, FingerPosition::Unknown))
            .collect();
        all.extend(entries.iter().flat_map(|e| e.feature.iter().copied()));
        g.append(entries).unwrap();
    }
    let snapshot = g.snapshot();
    assert_eq!(snapshot.segments.len(), 1);
    for (_, _, t) in prints.iter().step_by(23) {
        let p = feature::ProbeFeature::new(&feature::feature(t));
        let mut every = Vec::new();
        search::scan_block(&p, &all, &mut every);
        every.sort_by(|a, b| b.total_cmp(a));
        for k in [1, 700, 3000] {
            let best = search::stage1_scan(&snapshot, t, k);
            assert_eq!(best.len(), k);
            let differ = best
                .iter()
                .zip(&every[..k])
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(
                differ, None,
                "k = {k}: the scan's best differ from there on"
            );
        }
    }
    drop(g);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn geometric_rescoring_is_identical_with_and_without_runtime_dispatch() {
    let Some(prints) = fvc_db1() else { return };
    let features: Vec<_> = prints.iter().map(|p| feature::feature(&p.2)).collect();
    for f in features.iter().step_by(5) {
        let p = feature::ProbeFeature::new(f);
        for g in &features {
            assert_eq!(
                search::rescore(&p, g).to_bits(),
                feature::consistent_score(&p, g).to_bits()
            );
        }
    }
}

/// The template turned by `degrees` (counter-clockwise as seen) about (150, 200) and moved
/// by (dx, dy), as a print placed differently on the scanner.
fn turned(t: &Template, degrees: f32, dx: f32, dy: f32) -> Template {
    let (sin, cos) = degrees.to_radians().sin_cos();
    let mut out = t.clone();
    out.width += 400;
    out.height += 400;
    for m in &mut out.minutiae {
        let (x, y) = (f32::from(m.x) - 150.0, f32::from(m.y) - 200.0);
        // Image rows run down: a counter-clockwise turn as seen.
        m.x = (150.0 + dx + cos * x + sin * y).round() as u16;
        m.y = (200.0 + dy - sin * x + cos * y).round() as u16;
        m.direction = m
            .direction
            .wrapping_add((degrees / 360.0 * 256.0).round() as u8);
    }
    out
}

#[test]
fn geometric_rescoring_keeps_mates_and_drops_impostors() {
    let Some(prints) = fvc_db1() else { return };
    let features: Vec<_> = prints.iter().map(|p| feature::feature(&p.2)).collect();
    let (mut genuine, mut impostor) = (Vec::new(), Vec::new());
    for (a, pa) in prints.iter().enumerate() {
        let probe = feature::ProbeFeature::new(&features[a]);
        for (b, pb) in prints.iter().enumerate() {
            if a == b {
                continue;
            }
            let plain = feature::score(&probe, &features[b]);
            let geometric = feature::consistent_score(&probe, &features[b]);
            // Geometry only ever takes pairs away.
            assert!(geometric <= plain, "{geometric} > {plain}");
            if pa.0 == pb.0 {
                genuine.push(geometric / plain.max(1e-6));
            } else {
                impostor.push(geometric / plain.max(1e-6));
            }
        }
    }
    let mean = |v: &[f32]| v.iter().sum::<f32>() / v.len() as f32;
    let (g, i) = (mean(&genuine), mean(&impostor));
    eprintln!("kept share of the scan score: genuine {g:.3}, impostor {i:.3}");
    assert!(g > 0.75, "{g}");
    assert!(i < g - 0.2, "{i} vs {g}");
    // A print placed elsewhere and turned keeps its score (positions are relative).
    for (_, _, t) in prints.iter().step_by(9) {
        let probe = feature::ProbeFeature::new(&feature::feature(t));
        let itself = feature::consistent_score(&probe, &feature::feature(t));
        let moved =
            feature::consistent_score(&probe, &feature::feature(&turned(t, 30.0, 120.0, 60.0)));
        assert!(itself > 0.5, "{itself}");
        assert!(moved > 0.8 * itself, "{moved} vs {itself}");
    }
}

#[test]
fn templates_of_one_subject_make_one_candidate_with_its_best_score() {
    let Some(prints) = fvc_db1() else { return };
    let dir = scratch("dup");
    let g = Gallery::open(&dir, options()).unwrap();
    // Subject 42 enrolled twice (impressions 1 and 2 of finger 103), subject 43 once.
    let of = |f: u32, i: u32| &prints.iter().find(|p| p.0 == f && p.1 == i).unwrap().2;
    g.append(vec![
        entry(of(103, 1), 42, FingerPosition::Unknown),
        entry(of(103, 2), 42, FingerPosition::Unknown),
        entry(of(104, 1), 43, FingerPosition::Unknown),
    ])
    .unwrap();
    let found =
        search::search(&g.snapshot(), &probe(of(103, 5)), &SearchOptions::default()).unwrap();
    assert_eq!(found.iter().filter(|c| c.subject == 42).count(), 1);
    let best = &found[0];
    assert_eq!(best.subject, 42);
    assert_eq!(best.fingers.len(), 1);
    assert_eq!(best.score, best.fingers[0].score);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn fused_scores_are_calibrated_like_one_finger() {
    use daktilo_engine::search::fuse;
    // One finger keeps its score.
    assert!((fuse(&[37.5], 1) - 37.5).abs() < 1e-4);
    // Ten impostor fingers at FMR 0.5 each: the product (1e-3) is unremarkable for ten
    // fingers, so the fused score is far below 30.
    let ten = [3.0103f32; 10];
    let fused = fuse(&ten, 10);
    assert!(fused > 0.0 && fused < 3.0, "{fused}");
    // Two strong fingers: 1e-8 times (1 + ln 1e8), about 1.9e-7.
    let two = fuse(&[40.0, 40.0], 2);
    assert!((two - 67.12).abs() < 0.05, "{two}");
    // Unscored fingers weaken the evidence; nothing gives 0.
    assert!(fuse(&[40.0], 10) < fuse(&[40.0], 1));
    assert_eq!(fuse(&[], 3), 0.0);
    // Monotone in each score.
    assert!(fuse(&[20.0, 10.0], 2) < fuse(&[20.0, 11.0], 2));
    // Checked by simulation: ten uniform FMRs reach fused FMR <= 1e-2 in about 1 % of draws.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut uniform = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        ((state >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    };
    let draws = 200_000;
    let hits = (0..draws)
        .filter(|_| {
            let scores: Vec<f32> = (0..10)
                .map(|_| (-10.0 * uniform().log10()) as f32)
                .collect();
            fuse(&scores, 10) >= 20.0
        })
        .count();
    let rate = hits as f64 / draws as f64;
    assert!((0.008..0.012).contains(&rate), "{rate}");
}

#[test]
fn the_reranking_grows_with_the_templates_scanned() {
    let options = SearchOptions::default();
    // The fixed size up to 400,000 templates, then 1 % of them.
    assert_eq!(options.rerank_for(0), 4000);
    assert_eq!(options.rerank_for(100_000), 4000);
    assert_eq!(options.rerank_for(1_000_000), 10_000);
    assert_eq!(options.rerank_for(1_000_001), 10_001);
    let fixed = SearchOptions {
        rerank_share: 0.0,
        ..SearchOptions::default()
    };
    assert_eq!(fixed.rerank_for(10_000_000), 4000);
    let nan = SearchOptions {
        rerank_share: f64::NAN,
        ..SearchOptions::default()
    };
    assert_eq!(nan.rerank_for(10_000_000), 4000);
}

/// A large template made of three prints side by side, `gap` px apart (a stand-in for a
/// rolled print: more than `feature::ROWS_FROM` minutiae over three prints' width), the
/// last of them `right`.
fn mosaic(parts: [&Template; 3], gap: u16) -> Template {
    let mut t = Template::new(3 * gap, parts.iter().map(|p| p.height).max().unwrap());
    for (k, p) in parts.iter().enumerate() {
        t.minutiae
            .extend(p.minutiae.iter().map(|m| template::Minutia {
                x: m.x + k as u16 * gap,
                ..*m
            }));
    }
    t
}

#[test]
fn a_large_template_is_found_through_the_row_about_the_part_a_probe_caught() {
    let Some(prints) = fvc_db1() else { return };
    let of = |f: u32, i: u32| &prints.iter().find(|p| p.0 == f && p.1 == i).unwrap().2;
    // Finger 101's first impression at the right of two other fingers' prints; the probe
    // is its second impression, which caught only that part.
    let large = mosaic([of(103, 1), of(105, 1), of(101, 1)], 500);
    assert!(large.minutiae.len() > feature::ROWS_FROM);
    let rows = search::gallery_feature(&large);
    assert!(
        rows.len() > feature::FEATURE_BYTES && rows.len().is_multiple_of(feature::FEATURE_BYTES)
    );
    // Stage 1 passes only its best 3 to the matcher: where it misses, nothing finds it.
    let narrow = SearchOptions {
        shortlist: 3,
        rerank: 0,
        rerank_share: 0.0,
        ..SearchOptions::default()
    };
    let rank_with = |feature: Vec<u8>, name: &str| {
        let dir = scratch(name);
        let g = Gallery::open(&dir, options()).unwrap();
        let fillers: Vec<NewEntry> = prints
            .iter()
            .filter(|p| ![101, 103, 105].contains(&p.0))
            .map(|p| entry(&p.2, u64::from(p.0 * 10 + p.1), FingerPosition::Unknown))
            .collect();
        g.append(fillers).unwrap();
        g.append(vec![NewEntry {
            feature,
            ..entry(&large, 1, FingerPosition::Unknown)
        }])
        .unwrap();
        let mut ranks = Vec::new();
        // From the log, then from a segment (version 2).
        for flushed in [false, true] {
            if flushed {
                g.flush().unwrap();
            }
            let found = search::search(&g.snapshot(), &probe(of(101, 2)), &narrow).unwrap();
            assert!(found.iter().filter(|c| c.subject == 1).count() <= 1);
            ranks.push(found.iter().position(|c| c.subject == 1));
        }
        let _ = std::fs::remove_dir_all(&dir);
        ranks
    };
    // Its rows: found first, from the log and from a segment.
    assert_eq!(rank_with(rows.clone(), "rows"), vec![Some(0), Some(0)]);
    // One row about the centroid (in the middle print), its codes beyond the 20 most
    // central spread over the rest, as before large templates got rows: not found; nor
    // with its first row alone (the 29 codes nearest the centroid).
    let one_row = feature::feature_of(&daktilo_engine::matching::prepare(&large).unwrap());
    assert_eq!(rank_with(one_row.to_vec(), "one-row"), vec![None, None]);
    assert_eq!(
        rank_with(rows[..feature::FEATURE_BYTES].to_vec(), "first-row"),
        vec![None, None]
    );
}

#[test]
fn features_of_an_older_rule_are_counted_in_a_sample_of_the_gallery() {
    let Some(prints) = fvc_db1() else { return };
    let dir = scratch("stale");
    let g = Gallery::open(&dir, options()).unwrap();
    // 20 templates; the first 8 with the features an older release stored (without the
    // current rule's flag, bit 3 of the flags, the feature's last byte).
    let entries: Vec<NewEntry> = prints
        .iter()
        .take(20)
        .zip(0u64..)
        .map(|(p, k)| {
            let mut e = entry(&p.2, k, FingerPosition::Unknown);
            if k < 8 {
                *e.feature.last_mut().unwrap() &= !8;
            }
            assert_eq!(feature::is_current(&e.feature), k >= 8);
            e
        })
        .collect();
    g.append(entries).unwrap();
    // Every entry sampled, wherever it lies (log or segments).
    assert_eq!(search::stale_features(&g.snapshot(), 1000), (20, 8));
    g.flush().unwrap();
    assert_eq!(search::stale_features(&g.snapshot(), 1000), (20, 8));
    // One segment of 20, 5 sampled: entries 0, 4, 8, 12 and 16, two of them stale.
    g.compact().unwrap();
    let snapshot = g.snapshot();
    assert_eq!(snapshot.segments.len(), 1);
    assert_eq!(search::stale_features(&snapshot, 5), (5, 2));
    // A current gallery has none; an empty one samples nothing.
    let fresh = scratch("stale-fresh");
    let f = Gallery::open(&fresh, options()).unwrap();
    assert_eq!(search::stale_features(&f.snapshot(), 5), (0, 0));
    f.append(
        prints
            .iter()
            .take(3)
            .zip(0u64..)
            .map(|(p, k)| entry(&p.2, k, FingerPosition::Unknown))
            .collect(),
    )
    .unwrap();
    assert_eq!(search::stale_features(&f.snapshot(), 5), (3, 0));
    drop((g, f));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&fresh);
}
