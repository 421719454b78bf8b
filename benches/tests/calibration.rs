//! The calibration tables must fit the matcher and the extractor as they are. On FVC2002,
//! through Daktilo's own extractor (as the daemon sees scanner images), for both kinds of
//! comparison — with the ridge flow and ridge counts our extractor writes, and of minutiae
//! alone (the same templates without them, as when one side is another vendor's):
//!
//! - with one side cut down to a few sizes of the tables (the pairs they were fitted on),
//!   the share of impostor scores at or above the threshold for a wanted FMR must be close
//!   to that FMR: a matcher or extractor change that moves raw scores fails here until
//!   `daktilo-bench calibrate --out engine/src/matching/calibration_tables.rs` is run again;
//! - on every cross-finger pair as it is (which fitted nothing), the share must not exceed
//!   the FMR by more than a quarter, nor fall below a quarter of it (a calibration so
//!   cautious that thresholds would mean nothing).

use daktilo_bench::{crop, fvc};
use daktilo_engine::datasets;
use daktilo_engine::matching::threshold_for_fmr;
use daktilo_engine::template::Template;

/// Impostor scores of every cross-finger pair of a set, one side cut to `cut` minutiae
/// (both ways round; only the pairs whose smaller template then has exactly `cut`), or
/// both as they are.
fn impostor_scores(
    set: &fvc::Set,
    templates: &[Template],
    strip: bool,
    cut: Option<usize>,
) -> Vec<f32> {
    crop::comparisons(
        templates,
        &fvc::all_impostors(set),
        cut,
        strip,
        crop::central,
    )
    .unwrap()
    .into_iter()
    .filter(|(c, smaller)| {
        assert_eq!(c.flow, !strip);
        cut.is_none_or(|k| *smaller == k)
    })
    .map(|(c, _)| c.score)
    .collect()
}

fn share_at(scores: &[f32], fmr: f64) -> f64 {
    let threshold = threshold_for_fmr(fmr);
    scores.iter().filter(|&&s| s >= threshold).count() as f64 / scores.len() as f64
}

#[test]
fn impostor_false_match_rates_follow_the_calibrated_thresholds() {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("calibration check"));
        return;
    };
    let sets: Vec<(fvc::Set, Vec<Template>)> = fvc::discover(&dir.join("fvc2002"), "tif")
        .unwrap()
        .into_iter()
        .map(|set| {
            // FVC2002 DB2 was scanned at 569 ppi; its files do not say so.
            let templates = fvc::own_set_templates(&set, fvc::known_ppi(&set.name)).unwrap();
            (set, templates)
        })
        .collect();
    for (strip, kind) in [(false, "minutiae and flow"), (true, "minutiae alone")] {
        for cut in [Some(6), Some(12), Some(20), Some(32), None] {
            let scores: Vec<f32> = sets
                .iter()
                .flat_map(|(set, templates)| impostor_scores(set, templates, strip, cut))
                .collect();
            match cut {
                None => assert_eq!(scores.len(), 11_520),
                Some(_) => assert!(scores.len() > 5_000, "{kind}, {cut:?}: {}", scores.len()),
            }
            let (low, high) = if cut.is_some() {
                (0.75, 1.25)
            } else {
                (0.25, 1.25)
            };
            for fmr in [0.1, 0.01, 0.001] {
                let observed = share_at(&scores, fmr);
                assert!(
                    observed <= fmr * high && observed >= fmr * low,
                    "{kind}, one side cut to {cut:?}: the threshold for FMR {fmr} lets {observed} \
                     of impostors through"
                );
            }
        }
    }
}
