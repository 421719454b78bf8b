//! The calibration table must fit the matcher as it is: on every cross-finger pair of
//! FVC2002 (the data it was fitted on), the share of impostor scores at or above the
//! threshold for a wanted FMR must be close to that FMR. A matcher change that moves raw
//! scores fails here until `daktilo-bench calibrate` is run again.

use daktilo_bench::fvc;
use daktilo_engine::datasets;
use daktilo_engine::matching::{self, threshold_for_fmr};
use daktilo_engine::template;

#[test]
fn impostor_false_match_rates_follow_the_calibrated_thresholds() {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("calibration check"));
        return;
    };
    let mut scores = Vec::new();
    for set in fvc::discover(&dir.join("fvc2002"), "iso").unwrap() {
        let prepared: Vec<_> = set
            .samples
            .iter()
            .map(|s| {
                let record = template::decode(&std::fs::read(&s.path).unwrap()).unwrap();
                matching::prepare(&record.templates[0]).unwrap()
            })
            .collect();
        for (a, b) in fvc::all_impostors(&set) {
            scores.push(matching::compare(&prepared[a], &prepared[b]));
        }
    }
    assert_eq!(scores.len(), 11_520);
    for fmr in [0.1, 0.01, 0.001] {
        let threshold = threshold_for_fmr(fmr);
        let observed =
            scores.iter().filter(|&&s| s >= threshold).count() as f64 / scores.len() as f64;
        assert!(
            observed <= fmr * 1.25 && observed >= fmr * 0.75,
            "FMR {fmr}: threshold {threshold} lets {observed} of impostors through"
        );
    }
}
