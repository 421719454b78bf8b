//! `daktilo-bench synth-compare --plot` end to end on FVC2002 at a small size: the
//! impostor scores' figures printed and their tails drawn; a plot path in no folder and
//! a count of 0 refused before any work; a dataset of one finger answered without real
//! impostors.

use std::process::Command;

use daktilo_engine::datasets;

#[test]
fn synth_compare_prints_the_impostor_figures_and_draws_their_tails() {
    let Some(dir) = datasets::locate() else {
        eprintln!(
            "{}",
            datasets::skip_message("synthetic impostor comparison")
        );
        return;
    };
    let out_dir =
        std::env::temp_dir().join(format!("daktilo-synth-compare-{}", std::process::id()));
    std::fs::create_dir_all(&out_dir).unwrap();
    let plot = out_dir.join("tails.png");
    let run = |plot: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_daktilo-bench"))
            .args([
                "synth-compare",
                "--count",
                "20",
                "--source",
                "iso",
                "--dataset",
            ])
            .arg(dir.join("fvc2002"))
            .arg("--plot")
            .arg(plot)
            .output()
            .unwrap()
    };
    let out = run(&plot);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    // Every cross-finger pair of the four sets (2,880 each), and the first impressions of
    // the 40 fingers against the 20 synthetic templates.
    assert!(
        text.contains("FVC impostors (cross-finger)       n=  11520"),
        "{text}"
    );
    assert!(
        text.contains("FVC probes vs synthetic            n=    800"),
        "{text}"
    );
    // Across sets: the 40 first impressions against the 240 prints of the other three sets.
    assert!(
        text.contains("FVC impostors (across sets)        n=   9600"),
        "{text}"
    );
    assert!(text.contains("   across sets "), "{text}");
    // The FVC protocol's genuine pairs (280 a set) against both kinds of impostor.
    assert!(
        text.contains("genuine pairs (1120) that more than 1% of impostors reach"),
        "{text}"
    );
    assert!(text.contains("plot written to"), "{text}");
    let png = image::open(&plot).unwrap();
    assert_eq!((png.width(), png.height()), (1200, 560));

    let nowhere = out_dir.join("no-such-folder").join("tails.png");
    let out = run(&nowhere);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no such folder for the plot"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!nowhere.exists());

    // No synthetic templates to compare with: a clear error, not a panic.
    let out = Command::new(env!("CARGO_BIN_EXE_daktilo-bench"))
        .args([
            "synth-compare",
            "--count",
            "0",
            "--source",
            "iso",
            "--dataset",
        ])
        .arg(dir.join("fvc2002"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--count must be at least 1"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");

    // One set of one finger: no impostor pairs of either real kind, said as such (the
    // starting build panicked on the empty pool).
    let one = out_dir.join("one-finger").join("DB1_B");
    std::fs::create_dir_all(&one).unwrap();
    for k in 1..=8 {
        let name = format!("101_{k}.iso");
        std::fs::copy(
            dir.join("fvc2002").join("DB1_B").join(&name),
            one.join(&name),
        )
        .unwrap();
    }
    let out = Command::new(env!("CARGO_BIN_EXE_daktilo-bench"))
        .args([
            "synth-compare",
            "--count",
            "5",
            "--source",
            "iso",
            "--dataset",
        ])
        .arg(one.parent().unwrap())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("FVC impostors (cross-finger)       n=      0\n"),
        "{text}"
    );
    assert!(
        text.contains("FVC probes vs synthetic            n=      5 "),
        "{text}"
    );
    assert!(
        text.contains("(pooled): FVC -   across sets -   synthetic "),
        "{text}"
    );
    let _ = std::fs::remove_dir_all(&out_dir);
}
