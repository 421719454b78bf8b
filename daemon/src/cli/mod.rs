//! The `daktilo` command line: commands and their exit codes.

pub mod extract;
pub mod matching;
pub mod render;
pub mod template;

use std::fmt;
use std::io::Write;
use std::path::Path;

/// Exit codes a script can rely on. Usage errors exit with 2 (from the argument parser).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Done.
    Success = 0,
    /// The command line is wrong (the argument parser's own code).
    Usage = 2,
    /// An input could not be read or an output could not be written.
    Io = 3,
    /// An input is not a valid template (or image, transaction...).
    InvalidInput = 4,
    /// The input is valid but cannot be expressed in the requested output.
    Unconvertible = 5,
    /// The service refused the request (the message gives its status and why).
    Service = 6,
    /// The service cannot be reached, is unavailable or stayed busy.
    Unreachable = 7,
}

/// A command's failure: the exit code and a message for standard error.
#[derive(Debug)]
pub struct Failure {
    /// The exit code.
    pub code: ExitCode,
    /// What went wrong, naming the file concerned.
    pub message: String,
}

impl Failure {
    /// A failure with a code and a message.
    pub fn new(code: ExitCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// Reads a whole input file, refusing anything over `limit` bytes before reading it.
pub fn read_input(path: &Path, limit: u64) -> Result<Vec<u8>, Failure> {
    let io = |e: std::io::Error| Failure::new(ExitCode::Io, format!("{}: {e}", path.display()));
    let meta = std::fs::metadata(path).map_err(io)?;
    if !meta.is_file() {
        return Err(Failure::new(
            ExitCode::Io,
            format!("{}: not a regular file", path.display()),
        ));
    }
    if meta.len() > limit {
        return Err(Failure::new(
            ExitCode::InvalidInput,
            format!(
                "{}: {} bytes, more than the {limit} allowed",
                path.display(),
                meta.len()
            ),
        ));
    }
    std::fs::read(path).map_err(io)
}

/// Writes an output file atomically (a temporary file beside it, synced, then renamed), so
/// that a failure never leaves a half-written file. On Unix the file is readable and
/// writable by its owner only: templates and images are personal data.
pub fn write_output(path: &Path, bytes: &[u8]) -> Result<(), Failure> {
    let io = |e: std::io::Error| Failure::new(ExitCode::Io, format!("{}: {e}", path.display()));
    let name = path.file_name().ok_or_else(|| {
        Failure::new(ExitCode::Io, format!("{}: not a file name", path.display()))
    })?;
    let mut tmp_name = std::ffi::OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(".{}.tmp", std::process::id()));
    let tmp = path.with_file_name(tmp_name);
    let result = (|| {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}
