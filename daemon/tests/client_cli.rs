//! The `daktilo` client's service commands against a real `daktilod`: enrol from a folder
//! of files named by position, identify, verify, status, delete — text and JSON — and
//! daktilod's JSON log, which must not hold subject references.

mod common;

use common::{Daemon, daktilo, dataset, scratch, text};

#[test]
fn enrol_identify_verify_delete_from_the_command_line() {
    let Some(root) = dataset("fvc2002", "the client command-line test") else {
        return;
    };
    let dir = scratch("client-cli");
    let log = std::fs::File::create(dir.join("daktilod.log")).unwrap();
    let d = Daemon::start_with(&dir.join("data"), &["--json-logs"], "info", log.into());
    let server = d.url.clone();
    let run = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--server", &server]);
        daktilo(&all)
    };
    // A scanner folder: one file per finger, named by position.
    let scans = dir.join("R-2026-000123");
    std::fs::create_dir_all(&scans).unwrap();
    for (name, file) in [
        ("right_index.tif", "101_1.tif"),
        ("left_index.tif", "102_1.tif"),
    ] {
        std::fs::copy(root.join("DB1_B").join(file), scans.join(name)).unwrap();
    }
    let subject = "SUBJ-7f3a9c";
    let scans_arg = scans.to_str().unwrap();
    let mut out = run(&[
        "enrol",
        "--subject",
        subject,
        "--encounter",
        "E-1",
        scans_arg,
    ]);
    for _ in 0..100 {
        // daktilod may still be loading.
        if out.status.code() != Some(7) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
        out = run(&[
            "enrol",
            "--subject",
            subject,
            "--encounter",
            "E-1",
            scans_arg,
        ]);
    }
    let t = text(&out.stdout);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        t.starts_with("enrolled: subject SUBJ-7f3a9c encounter E-1"),
        "{t}"
    );
    assert!(t.contains("right_index") && t.contains("left_index"), "{t}");
    // Running the same command again is a retry: same answer, nothing more enrolled.
    let again = run(&[
        "enrol",
        "--subject",
        subject,
        "--encounter",
        "E-1",
        scans_arg,
    ]);
    assert_eq!(text(&again.stdout), t);

    let probe = format!(
        "right_index={}",
        root.join("DB1_B").join("101_3.tif").display()
    );
    let out = run(&["identify", &probe, "--fpir", "0.01", "--json"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["candidates"][0]["subject_ref"], subject, "{v}");
    assert_eq!(v["candidates"][0]["fingers"][0]["position"], "right_index");

    let out = run(&["verify", "--subject", subject, &probe]);
    assert!(
        text(&out.stdout).starts_with("MATCH"),
        "{}",
        text(&out.stdout)
    );
    let wrong = format!(
        "right_index={}",
        root.join("DB1_B").join("105_3.tif").display()
    );
    let out = run(&["verify", "--subject", subject, &wrong]);
    assert!(
        text(&out.stdout).starts_with("NO MATCH"),
        "{}",
        text(&out.stdout)
    );

    let out = run(&["status", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["subjects"].as_u64(), v["templates"].as_u64()),
        (Some(1), Some(2))
    );
    assert_eq!(v["per_position"]["right_index"], 1);

    // Refusals: exit 6 with the status and the field; an unknown subject.
    let out = run(&["verify", "--subject", "nobody", &probe]);
    assert_eq!(out.status.code(), Some(6));
    assert!(
        text(&out.stderr).contains("NotFound: subject_ref"),
        "{}",
        text(&out.stderr)
    );

    let out = run(&["delete", "--subject", subject, "--reason", "erasure"]);
    assert!(
        text(&out.stdout).contains("2 templates"),
        "{}",
        text(&out.stdout)
    );
    let out = run(&["identify", &probe, "--fpir", "0.01"]);
    assert!(
        text(&out.stdout).contains("no candidate"),
        "{}",
        text(&out.stdout)
    );

    // Unreachable: exit 7.
    let out = daktilo(&["status", "--server", "http://127.0.0.1:9"]);
    assert_eq!(out.status.code(), Some(7));
    drop(d);

    // The log has one JSON line per call, and no subject reference anywhere.
    let log = std::fs::read_to_string(dir.join("daktilod.log")).unwrap();
    assert!(log.contains("\"method\":\"Enrol\""), "{log}");
    assert!(
        log.lines()
            .all(|l| serde_json::from_str::<serde_json::Value>(l).is_ok())
    );
    assert!(
        !log.contains(subject),
        "a subject reference reached the log"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
