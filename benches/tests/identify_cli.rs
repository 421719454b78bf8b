//! `daktilo-bench identify --subject-fingers` end to end on FVC2002, at a small size: the
//! subjects of several fingers in the gallery, the fused searches and each finger alone.

use std::collections::BTreeMap;
use std::process::Command;

use daktilo_engine::datasets;
use daktilo_engine::gallery::{Gallery, GalleryOptions};
use daktilo_engine::search;
use daktilo_engine::template::FingerPosition;

#[test]
fn subjects_of_two_fingers_are_enrolled_searched_and_fused() {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("identification harness"));
        return;
    };
    let gallery = std::env::temp_dir().join(format!("daktilo-identify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&gallery);
    let run = |fingers: &str| {
        Command::new(env!("CARGO_BIN_EXE_daktilo-bench"))
            .args(["identify", "--gallery-size", "400", "--dataset"])
            .arg(dir.join("fvc2002"))
            .arg("--gallery")
            .arg(&gallery)
            .args(["--subject-fingers", fingers])
            .args([
                "--shortlist",
                "20",
                "--rerank",
                "20",
                "--exhaustive-probes",
                "2",
            ])
            .arg("--json")
            .output()
            .unwrap()
    };
    let out = run("2");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["subject_fingers"], 2);
    // Fingers 101-105 of DB1_B and DB2_B: 5 subjects of 2 fingers, searched with 7
    // impressions in 4 rotations; fingers 106-110 with 8 impressions in 4 rotations.
    assert_eq!(report["enrolled_fvc_fingers"], 10);
    assert_eq!(report["mated_searches"], 140);
    assert_eq!(report["nonmated_searches"], 160);
    let alone = report["fingers_alone"].as_array().unwrap();
    let named: Vec<(&str, &str)> = alone
        .iter()
        .map(|f| (f["set"].as_str().unwrap(), f["finger"].as_str().unwrap()))
        .collect();
    assert_eq!(
        named,
        [("DB1_B", "RightIndex"), ("DB2_B", "LeftIndex")],
        "{report}"
    );
    // Among 200 subjects the two fingers together find nearly every mate; were the
    // fingers' positions or subjects wrong, the fused score would find none.
    let rank1 = report["rank1"].as_f64().unwrap();
    assert!(rank1 >= 0.95, "{report}");
    for f in alone {
        assert!(f["rank1"].as_f64().unwrap() <= 1.0);
        assert!(f["rank1"].as_f64().unwrap() >= 0.8, "{report}");
    }
    // Stage 1 alone is timed once on each print the mated searches use: 5 fingers × 7
    // impressions × 2 sets.
    let timed = report["stage1_general"][0].as_u64().unwrap()
        + report["stage1_sectors"][0].as_u64().unwrap();
    assert_eq!(timed, 70);
    assert_eq!(report["exhaustive"]["probes"], 2);
    assert_eq!(report["exhaustive"]["batched"], false);
    // The report names the machine its speed figures were measured on.
    assert_eq!(
        report["processor"].as_str(),
        Some(daktilo_bench::host::processor().as_str())
    );
    assert!(!report["scan_kernel"].as_str().unwrap().is_empty());

    // Every subject holds one template at each of the two positions.
    let opened = Gallery::open(
        &gallery,
        GalleryOptions {
            feature_len: search::feature::FEATURE_BYTES,
            ..GalleryOptions::default()
        },
    )
    .unwrap();
    let mut subjects: BTreeMap<u64, Vec<u8>> = BTreeMap::new();
    opened.snapshot().for_each(|e| {
        subjects.entry(e.subject).or_default().push(e.finger);
    });
    assert_eq!(subjects.len(), 200);
    let pair = vec![
        FingerPosition::RightIndex.code(),
        FingerPosition::LeftIndex.code(),
    ];
    for (subject, mut fingers) in subjects {
        fingers.sort_unstable();
        assert_eq!(fingers, pair, "subject {subject}");
    }
    drop(opened);

    // The folder is not searched as a gallery of single fingers.
    let out = run("1");
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("2 finger(s) per subject, not 1"), "{error}");
    let _ = std::fs::remove_dir_all(&gallery);
}
