//! `daktilo extract` as a script sees it.

mod common;

use common::{daktilo, dataset};
use daktilo_engine::template;

fn fvc(file: &str) -> Option<String> {
    dataset(&format!("fvc2002/{file}"), "extract CLI").map(|p| p.display().to_string())
}

fn scratch(name: &str) -> std::path::PathBuf {
    common::scratch(&format!("extract-{name}"))
}

#[test]
fn one_image_gives_one_template_and_debug_pictures_of_every_step() {
    let Some(image) = fvc("DB1_B/101_1.tif") else {
        return;
    };
    let dir = scratch("one");
    let out = dir.join("101_1.iso");
    let debug = dir.join("debug");
    let run = daktilo(&[
        "extract",
        &image,
        "-o",
        out.to_str().unwrap(),
        "--debug-dir",
        debug.to_str().unwrap(),
    ]);
    assert_eq!(
        run.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stdout).contains("minutiae, quality"));
    let record = template::decode(&std::fs::read(&out).unwrap()).unwrap();
    assert_eq!(record.format, template::Format::Iso2005);
    assert!(record.templates[0].minutiae.len() >= 15);
    let mut pictures: Vec<String> = std::fs::read_dir(&debug)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pictures.sort();
    assert_eq!(pictures.len(), 7, "{pictures:?}");
    assert_eq!(pictures[0], "101_1-1-mask.png");
    assert_eq!(pictures[6], "101_1-7-minutiae.png");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn several_images_go_into_a_folder_and_a_bad_one_fails_alone() {
    let (Some(a), Some(b)) = (fvc("DB1_B/101_1.tif"), fvc("DB1_B/101_2.tif")) else {
        return;
    };
    let dir = scratch("many");
    let bad = dir.join("broken.png");
    std::fs::write(&bad, b"\x89PNG\r\n\x1a\nnot really").unwrap();
    let out = dir.join("templates");
    let run = daktilo(&[
        "extract",
        &a,
        &b,
        bad.to_str().unwrap(),
        "-o",
        out.to_str().unwrap(),
        "--to",
        "native",
    ]);
    assert_eq!(
        run.status.code(),
        Some(4),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(String::from_utf8_lossy(&run.stderr).contains("broken.png"));
    let mut written: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(written, ["101_1.dkt", "101_2.dkt"]);
    let record = template::decode(&std::fs::read(out.join("101_1.dkt")).unwrap()).unwrap();
    assert_eq!(record.format, template::Format::Native);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn images_that_would_overwrite_each_other_are_refused() {
    let (Some(a), Some(b)) = (fvc("DB1_B/101_1.tif"), fvc("DB4_B/101_1.tif")) else {
        return;
    };
    let dir = scratch("clash");
    let out = dir.join("templates");
    let run = daktilo(&["extract", &a, &b, "-o", out.to_str().unwrap()]);
    assert_eq!(run.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&run.stderr).contains("would both be written as 101_1.iso"));
    assert!(
        std::fs::read_dir(&out).unwrap().next().is_none(),
        "nothing written"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
