//! The calibration table must fit the matcher and the extractor as they are: on every
//! cross-finger pair of FVC2002 (the data it was fitted on, through Daktilo's own
//! extractor, as the daemon sees scanner images), the share of impostor scores at or above
//! the threshold for a wanted FMR must be close to that FMR — for both tables: comparisons
//! that use the ridge flow and ridge counts our extractor writes, and comparisons of
//! minutiae alone (the same templates without them, as when one side is another vendor's). A matcher or extractor
//! change that moves raw scores fails here until `daktilo-bench calibrate` is run again.

use daktilo_bench::fvc;
use daktilo_engine::datasets;
use daktilo_engine::matching::{self, threshold_for_fmr};

#[test]
fn impostor_false_match_rates_follow_the_calibrated_thresholds() {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("calibration check"));
        return;
    };
    let (mut with_flow, mut minutiae) = (Vec::new(), Vec::new());
    for set in fvc::discover(&dir.join("fvc2002"), "tif").unwrap() {
        // FVC2002 DB2 was scanned at 569 ppi; its files do not say so.
        let templates = fvc::own_set_templates(&set, fvc::known_ppi(&set.name)).unwrap();
        for (strip, scores) in [(false, &mut with_flow), (true, &mut minutiae)] {
            let prepared: Vec<_> = templates
                .iter()
                .map(|t| {
                    let mut t = t.clone();
                    if strip {
                        fvc::as_another_vendors(&mut t);
                    }
                    matching::prepare(&t).unwrap()
                })
                .collect();
            for (a, b) in fvc::all_impostors(&set) {
                let c = matching::compare_detailed(&prepared[a], &prepared[b]);
                assert_eq!(c.flow, !strip, "{} vs {}", a, b);
                scores.push(c.score);
            }
        }
    }
    for (kind, scores) in [
        ("minutiae and flow", &with_flow),
        ("minutiae alone", &minutiae),
    ] {
        assert_eq!(scores.len(), 11_520);
        for fmr in [0.1, 0.01, 0.001] {
            let threshold = threshold_for_fmr(fmr);
            let observed =
                scores.iter().filter(|&&s| s >= threshold).count() as f64 / scores.len() as f64;
            assert!(
                observed <= fmr * 1.25 && observed >= fmr * 0.75,
                "{kind}, FMR {fmr}: threshold {threshold} lets {observed} of impostors through"
            );
        }
    }
}
