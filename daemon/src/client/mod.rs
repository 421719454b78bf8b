//! The `daktilo` client's service commands: connecting to `daktilod`, reading finger
//! samples from files, and printing answers as text or JSON.

pub mod batch;
pub mod commands;
pub mod demo;

use std::path::{Path, PathBuf};
use std::time::Duration;

use daktilo_engine::image;
use daktilo_engine::template::{self, Format};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

use crate::cli::{ExitCode, Failure};
use crate::proto::{self, daktilo_client::DaktiloClient};

/// Largest file the client sends, bytes.
pub const MAX_FILE_BYTES: u64 = 16 << 20;
/// Largest message the client sends or accepts.
pub const MAX_MESSAGE_BYTES: usize = 64 << 20;

/// How to reach the service.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    /// `http://host:port` or `https://host:port`.
    pub server: String,
    /// CA certificate (PEM) to check the server with (https).
    pub ca: Option<PathBuf>,
    /// Client certificate and key (PEM), when the server asks for one.
    pub identity: Option<(PathBuf, PathBuf)>,
    /// Per-call deadline.
    pub timeout: Duration,
}

/// A client.
pub type Client = DaktiloClient<Channel>;

fn io(path: &Path, e: std::io::Error) -> Failure {
    Failure::new(ExitCode::Io, format!("{}: {e}", path.display()))
}

impl Connection {
    /// Connects (failing with exit code 7 when the service cannot be reached).
    pub async fn connect(&self) -> Result<Client, Failure> {
        let unreachable = |e: String| {
            Failure::new(
                ExitCode::Unreachable,
                format!("cannot reach daktilod at {}: {e}", self.server),
            )
        };
        let mut endpoint = Endpoint::from_shared(self.server.clone())
            .map_err(|e| unreachable(e.to_string()))?
            .connect_timeout(Duration::from_secs(5))
            .timeout(self.timeout);
        if self.server.starts_with("https://") || self.ca.is_some() {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca {
                tls = tls.ca_certificate(Certificate::from_pem(
                    std::fs::read(ca).map_err(|e| io(ca, e))?,
                ));
            }
            if let Some((cert, key)) = &self.identity {
                tls = tls.identity(Identity::from_pem(
                    std::fs::read(cert).map_err(|e| io(cert, e))?,
                    std::fs::read(key).map_err(|e| io(key, e))?,
                ));
            }
            endpoint = endpoint
                .tls_config(tls)
                .map_err(|e| unreachable(e.to_string()))?;
        }
        let channel = endpoint
            .connect()
            .await
            .map_err(|e| unreachable(format!("{e} ({})", source_chain(&e))))?;
        Ok(DaktiloClient::new(channel)
            .max_decoding_message_size(MAX_MESSAGE_BYTES)
            .max_encoding_message_size(MAX_MESSAGE_BYTES))
    }
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push(s.to_string());
        cur = s.source();
    }
    out.join(": ")
}

/// A gRPC error as a failure: an unreachable or unavailable service exits 7, a refusal 6.
pub fn status_failure(status: tonic::Status) -> Failure {
    // A broken connection surfaces as UNKNOWN ("transport error") or CANCELLED.
    let code = match status.code() {
        tonic::Code::Unavailable
        | tonic::Code::Unknown
        | tonic::Code::Cancelled
        | tonic::Code::DeadlineExceeded => ExitCode::Unreachable,
        _ => ExitCode::Service,
    };
    Failure::new(
        code,
        format!(
            "daktilod refused: {:?}: {}",
            status.code(),
            status.message()
        ),
    )
}

/// Position names as files and the command line spell them.
pub const POSITION_NAMES: [&str; 11] = [
    "unknown",
    "right_thumb",
    "right_index",
    "right_middle",
    "right_ring",
    "right_little",
    "left_thumb",
    "left_index",
    "left_middle",
    "left_ring",
    "left_little",
];

/// A position from a name (`right_index`, `right-index`) or a number 0–10.
pub fn parse_position(text: &str) -> Option<i32> {
    let t = text.trim().to_ascii_lowercase().replace(['-', ' '], "_");
    if let Ok(n) = t.parse::<i32>() {
        return (0..=10).contains(&n).then_some(n);
    }
    POSITION_NAMES
        .iter()
        .position(|n| *n == t)
        .map(|p| p as i32)
}

/// The position a file name names: a position name anywhere in it (`right_index.png`,
/// `0042-left-thumb.tif`), or a final number 1–10 (`finger_02.png`, `7.png`).
pub fn position_from_name(path: &Path) -> Option<i32> {
    let stem = path
        .file_stem()?
        .to_str()?
        .to_ascii_lowercase()
        .replace(['-', ' ', '.'], "_");
    for (i, name) in POSITION_NAMES.iter().enumerate().skip(1) {
        if stem.contains(name) {
            return Some(i as i32);
        }
    }
    let last = stem.rsplit('_').next()?;
    last.parse::<i32>().ok().filter(|n| (1..=10).contains(n))
}

/// Reads a finger sample from a file, recognising its format from its content.
pub fn read_sample(
    path: &Path,
    position: i32,
    ppi: Option<u32>,
) -> Result<proto::FingerSample, Failure> {
    use proto::SampleFormat as F;
    let data = crate::cli::read_input(path, MAX_FILE_BYTES)?;
    let mut sample = proto::FingerSample {
        position,
        ppi: ppi.unwrap_or(0),
        ..Default::default()
    };
    let format = if data.starts_with(b"\x89PNG") {
        F::Png
    } else if data.starts_with(b"II*\0") || data.starts_with(b"MM\0*") {
        F::Tiff
    } else if data.starts_with(b"BM") {
        F::Bmp
    } else if data.starts_with(&[0xFF, 0xD8]) {
        F::Jpeg
    } else if data.starts_with(&[0xFF, 0xA0]) {
        F::Wsq
    } else if data.starts_with(b"P5") || data.starts_with(b"P2") {
        // PGM has no place in the contract: sent as raw grey.
        let decoded = image::decode(&data).map_err(|e| {
            Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display()))
        })?;
        sample.width = decoded.image.width as u32;
        sample.height = decoded.image.height as u32;
        if sample.ppi == 0 {
            sample.ppi = 500;
        }
        sample.format = F::RawGrey as i32;
        sample.data = decoded.image.pixels;
        return Ok(sample);
    } else {
        match template::detect(&data) {
            Ok(Format::Iso2005 | Format::Iso2011) => F::IsoTemplate,
            Ok(Format::Ansi2004 | Format::Ansi2009 | Format::Ansi2009Am1) => F::AnsiTemplate,
            _ => {
                return Err(Failure::new(
                    ExitCode::InvalidInput,
                    format!(
                        "{}: not a PNG, TIFF, BMP, JPEG, PGM image or an ISO/ANSI template",
                        path.display()
                    ),
                ));
            }
        }
    };
    sample.format = format as i32;
    sample.data = data;
    Ok(sample)
}

/// Finger samples from command-line arguments: `FILE` (position from its name) or
/// `POSITION=FILE`; a folder stands for the image and template files in it.
pub fn samples_from_args(
    args: &[String],
    ppi: Option<u32>,
) -> Result<Vec<proto::FingerSample>, Failure> {
    let mut files: Vec<(Option<i32>, PathBuf)> = Vec::new();
    for arg in args {
        let (pos, path) = match arg.split_once('=') {
            Some((p, f)) if parse_position(p).is_some() => (parse_position(p), PathBuf::from(f)),
            _ => (None, PathBuf::from(arg)),
        };
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(&path)
                .map_err(|e| io(&path, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && !p
                            .file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                })
                .collect();
            entries.sort();
            files.extend(entries.into_iter().map(|p| (None, p)));
        } else {
            files.push((pos, path));
        }
    }
    if files.is_empty() {
        return Err(Failure::new(ExitCode::Usage, "no finger sample given"));
    }
    files
        .into_iter()
        .map(|(pos, path)| {
            let pos = pos.or_else(|| position_from_name(&path)).unwrap_or(0);
            read_sample(&path, pos, ppi)
        })
        .collect()
}

/// The name of a position code.
pub fn position_name(code: i32) -> &'static str {
    usize::try_from(code)
        .ok()
        .and_then(|c| POSITION_NAMES.get(c))
        .copied()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_from_names() {
        assert_eq!(position_from_name(Path::new("a/right_index.png")), Some(2));
        assert_eq!(
            position_from_name(Path::new("0042-left-thumb.tif")),
            Some(6)
        );
        assert_eq!(position_from_name(Path::new("finger_07.png")), Some(7));
        assert_eq!(position_from_name(Path::new("10.png")), Some(10));
        assert_eq!(position_from_name(Path::new("101_1.tif")), Some(1));
        assert_eq!(position_from_name(Path::new("scan.png")), None);
        assert_eq!(parse_position("Left-Ring"), Some(9));
        assert_eq!(parse_position("11"), None);
    }
}
