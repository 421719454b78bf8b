//! `daktilo template show|convert` as a script sees it: output, files and exit codes.

mod common;

use std::path::{Path, PathBuf};

use common::{daktilo, dataset, scratch, text};

fn sample(name: &str) -> Option<PathBuf> {
    dataset(&format!("templates/{name}"), "template CLI")
}

#[test]
fn show_prints_format_views_and_minutiae() {
    let Some(file) = sample("iso19794p2v2005-sample.dat") else {
        return;
    };
    let out = daktilo(&["template", "show", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("ISO/IEC 19794-2:2005 (340 bytes)"),
        "{stdout}"
    );
    assert!(stdout.contains("view 0: LEFT_INDEX (finger 7)"), "{stdout}");
    assert!(stdout.contains("27 minutiae"), "{stdout}");
    assert!(
        stdout.contains("view 1: RIGHT_INDEX (finger 2)"),
        "{stdout}"
    );
}

#[test]
fn show_json_is_machine_readable() {
    let Some(file) = sample("iso19794p2v2011-sample.dat") else {
        return;
    };
    let out = daktilo(&["template", "show", "--json", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["format"], "ISO/IEC 19794-2:2011");
    assert_eq!(doc["bytes"], 397);
    assert_eq!(doc["record"]["templates"][0]["finger"], "LEFT_INDEX");
    assert_eq!(
        doc["record"]["templates"][0]["minutiae"]
            .as_array()
            .unwrap()
            .len(),
        27
    );
    assert_eq!(doc["warnings"].as_array().unwrap().len(), 0);
}

#[test]
fn a_malformed_template_exits_4_with_the_offset() {
    let Some(file) = sample("ansi378v2004-sample.dat") else {
        return;
    };
    let out = daktilo(&["template", "show", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(4));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("unsupported") && stderr.contains("at byte 4"),
        "{stderr}"
    );
    let lenient = daktilo(&["template", "show", "--lenient", file.to_str().unwrap()]);
    assert_eq!(lenient.status.code(), Some(0));
    assert!(text(&lenient.stdout).contains("warning at byte 4"));
}

#[test]
fn a_missing_file_exits_3_and_a_bad_format_name_exits_2() {
    let out = daktilo(&["template", "show", "/nonexistent/daktilo.iso"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(text(&out.stderr).contains("/nonexistent/daktilo.iso"));
    let out = daktilo(&["template", "convert", "a", "b", "--to", "xml"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("unknown format"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn convert_writes_each_format_and_back_to_the_same_iso_bytes() {
    let Some(file) = sample("iso19794p2v2005-sample.dat") else {
        return;
    };
    let dir = scratch("convert");
    let original = std::fs::read(&file).unwrap();
    for to in ["native", "ansi", "ansi2009"] {
        let mid = dir.join(format!("mid.{to}"));
        let out = daktilo(&[
            "template",
            "convert",
            file.to_str().unwrap(),
            mid.to_str().unwrap(),
            "--to",
            to,
        ]);
        assert_eq!(out.status.code(), Some(0), "{to}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("->"));
        let back = dir.join(format!("back-{to}.iso"));
        let out = daktilo(&[
            "template",
            "convert",
            mid.to_str().unwrap(),
            back.to_str().unwrap(),
            "--to",
            "iso",
        ]);
        assert_eq!(out.status.code(), Some(0), "{to}: {}", text(&out.stderr));
        let again = std::fs::read(&back).unwrap();
        if to == "native" {
            assert_eq!(
                again, original,
                "ISO -> native -> ISO must be byte-identical"
            );
        } else {
            assert_eq!(again.len(), original.len());
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&back).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "converted templates are personal data");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn convert_refuses_what_the_target_cannot_hold_and_leaves_no_file() {
    use daktilo_engine::template::{self, Format, Template, TemplateRecord};
    let dir = scratch("refuse");
    // Two views with different image sizes: native holds them, ISO 2005 has one image
    // header for the whole record.
    let mut record = TemplateRecord::single(Template::new(300, 400));
    record.templates.push(Template::new(500, 500));
    let mixed = dir.join("mixed.dkt");
    std::fs::write(&mixed, template::encode(&record, Format::Native).unwrap()).unwrap();
    let target = dir.join("never.iso");
    let out = daktilo(&[
        "template",
        "convert",
        mixed.to_str().unwrap(),
        target.to_str().unwrap(),
        "--to",
        "iso",
    ]);
    assert_eq!(out.status.code(), Some(5), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("image size"),
        "{}",
        text(&out.stderr)
    );
    assert!(!Path::new(&target).exists());
    // A corrupt input: exit 4, nothing written.
    let mut bytes = std::fs::read(&mixed).unwrap();
    bytes[20] ^= 1;
    let corrupt = dir.join("corrupt.dkt");
    std::fs::write(&corrupt, &bytes).unwrap();
    let out = daktilo(&[
        "template",
        "convert",
        corrupt.to_str().unwrap(),
        target.to_str().unwrap(),
        "--to",
        "native",
    ]);
    assert_eq!(out.status.code(), Some(4));
    assert!(
        text(&out.stderr).contains("checksum"),
        "{}",
        text(&out.stderr)
    );
    assert!(!Path::new(&target).exists());
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(leftovers.len(), 2, "no temporary files left: {leftovers:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
