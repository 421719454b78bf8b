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

/// A `daktilod` started for a test, killed when dropped.
pub struct Daemon {
    /// The process.
    pub child: std::process::Child,
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The metrics address, when asked for with `--metrics-listen`.
    pub metrics: Option<String>,
}

impl Daemon {
    /// Starts `daktilod` on a free loopback port with `data_dir`, plus extra arguments, and
    /// waits for its "listening" line.
    pub fn start(data_dir: &std::path::Path, extra: &[&str]) -> Daemon {
        Self::start_with(data_dir, extra, "warn", std::process::Stdio::inherit())
    }

    /// [`Daemon::start`] with a log level and somewhere for its log (standard error).
    pub fn start_with(
        data_dir: &std::path::Path,
        extra: &[&str],
        log_level: &str,
        stderr: std::process::Stdio,
    ) -> Daemon {
        use std::io::BufRead;
        let mut child = Command::new(env!("CARGO_BIN_EXE_daktilod"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", log_level)
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .spawn()
            .expect("start daktilod");
        let stdout = child.stdout.take().unwrap();
        let mut reader = std::io::BufReader::new(stdout);
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let metrics = extra.contains(&"--metrics-listen").then(|| {
            let mut m = String::new();
            reader.read_line(&mut m).unwrap();
            m.trim()
                .strip_prefix("daktilod metrics on http://")
                .and_then(|m| m.strip_suffix("/metrics"))
                .unwrap_or_else(|| panic!("unexpected second line {m:?}"))
                .to_string()
        });
        let addr = line
            .trim()
            .strip_prefix("daktilod listening on ")
            .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
            .to_string();
        Daemon {
            child,
            url: format!("http://{addr}"),
            metrics,
        }
    }

    /// Stops it with SIGTERM (graceful) and waits.
    pub fn stop(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().unwrap()
    }

    /// Kills it with SIGKILL and waits.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
