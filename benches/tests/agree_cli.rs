//! `daktilo-bench agree` end to end on one FVC2002 finger of each set: our minutiae agree
//! with the commercial extractor's once its stretch is undone (with a wrong mapping the
//! pairs within 8 px would be few), and a choice of fingers with no images is refused.

use std::process::Command;

use daktilo_engine::datasets;

#[test]
fn agree_pairs_our_minutiae_with_the_reference_templates() {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("agree harness"));
        return;
    };
    let run = |fingers: &str| {
        Command::new(env!("CARGO_BIN_EXE_daktilo-bench"))
            .args(["agree", "--dataset"])
            .arg(dir.join("fvc2002"))
            .args(["--fingers", fingers, "--worst", "2"])
            .output()
            .unwrap()
    };
    let out = run("101-101");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("DB")).collect();
    assert_eq!(rows.len(), 4, "{text}");
    for row in rows {
        let cells: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(cells[1], "8", "{row}");
        let f1: f32 = cells[6].parse().unwrap();
        assert!((0.5..=1.0).contains(&f1), "{row}");
    }
    assert!(text.contains("mean F1 over sets"), "{text}");
    assert_eq!(
        text.lines().filter(|l| l.contains(" F1 0.")).count(),
        2,
        "{text}"
    );

    let none = run("900-901");
    assert!(!none.status.success());
    assert!(
        String::from_utf8_lossy(&none.stderr).contains("no images"),
        "{}",
        String::from_utf8_lossy(&none.stderr)
    );
}
