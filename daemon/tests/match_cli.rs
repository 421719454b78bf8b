//! `daktilo match` as a script sees it.

mod common;

use std::path::PathBuf;

use common::{daktilo, dataset};

fn fvc(file: &str) -> Option<String> {
    dataset(&format!("fvc2002/DB1_B/{file}"), "match CLI").map(|p| p.display().to_string())
}

#[test]
fn mates_match_and_other_fingers_do_not() {
    let (Some(a), Some(b), Some(c)) = (fvc("101_1.iso"), fvc("101_2.iso"), fvc("102_1.iso")) else {
        return;
    };
    let out = daktilo(&["match", &a, &b, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["decision"], "match");
    assert!(doc["score"].as_f64().unwrap() >= 40.0);
    assert!(doc["pairs"].as_array().unwrap().len() >= 4);
    let out = daktilo(&["match", &a, &c]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("no match at threshold 40.0"), "{text}");
}

#[test]
fn render_draws_both_prints_side_by_side() {
    let (Some(a), Some(b)) = (fvc("101_1.iso"), fvc("101_2.iso")) else {
        return;
    };
    let dir = std::env::temp_dir().join(format!("daktilo-render-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let png: PathBuf = dir.join("pair.png");
    let out = daktilo(&["match", &a, &b, "--render", png.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let img = image::open(&png).unwrap();
    // Two 388 x 374 FVC2002 DB1 images and a gap.
    assert!(
        img.width() > 2 * 388 && img.height() == 374,
        "{} x {}",
        img.width(),
        img.height()
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&png).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_bad_template_exits_4() {
    let dir = std::env::temp_dir().join(format!("daktilo-badmatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.iso");
    std::fs::write(&bad, b"FMR\0 20\0garbage").unwrap();
    let out = daktilo(&["match", bad.to_str().unwrap(), bad.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad.iso"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn images_are_matched_through_the_extractor() {
    let (Some(a), Some(b), Some(c)) = (fvc("101_1.tif"), fvc("101_3.tif"), fvc("103_1.tif")) else {
        return;
    };
    let out = daktilo(&["match", &a, &b, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["decision"], "match");
    let out = daktilo(&["match", &a, &c, "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["decision"], "no match");
    let dir = std::env::temp_dir().join(format!("daktilo-notprint-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let text = dir.join("notes.txt");
    std::fs::write(&text, "not a print").unwrap();
    let out = daktilo(&["match", text.to_str().unwrap(), &a]);
    assert_eq!(out.status.code(), Some(4));
    assert!(String::from_utf8_lossy(&out.stderr).contains("neither a template nor a usable image"));
    let _ = std::fs::remove_dir_all(&dir);
}
