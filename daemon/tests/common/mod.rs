//! Helpers shared by the `daktilo` command-line tests.
#![allow(dead_code)] // each test file uses its own subset

use std::path::PathBuf;
use std::process::{Command, Output};

use daktilo_engine::datasets;

/// Runs the `daktilo` binary built for these tests.
pub fn daktilo(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_daktilo"))
        .args(args)
        .output()
        .expect("run daktilo")
}

/// A path below the datasets folder, or `None` (with a SKIPPED message naming `what`)
/// where the datasets are absent.
pub fn dataset(relative: &str, what: &str) -> Option<PathBuf> {
    match datasets::locate() {
        Some(dir) => Some(dir.join(relative)),
        None => {
            eprintln!("{}", datasets::skip_message(what));
            None
        }
    }
}

/// A fresh, empty scratch folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daktilo-cli-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
