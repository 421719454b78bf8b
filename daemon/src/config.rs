//! `daktilod`'s settings: compiled-in defaults, then a TOML file, then environment
//! variables (`DAKTILOD_*`), then command-line flags — each overriding the one before.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use daktilo_engine::search::SearchOptions;
use serde::{Deserialize, Serialize};

/// The data directory used when none is given: `daktilo-data` in the working directory.
pub const DEFAULT_DATA_DIR: &str = "daktilo-data";
/// The gRPC address used when none is given (loopback only).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:50051";

/// Every setting.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// gRPC address.
    pub listen: SocketAddr,
    /// Where the gallery and the registry live (created with owner-only permissions).
    pub data_dir: PathBuf,
    /// Prometheus metrics address (plain HTTP, `GET /metrics`); unset: no metrics server.
    pub metrics_listen: Option<SocketAddr>,
    /// Threads for biometric work (extraction, search); 0: one per core.
    pub workers: usize,
    /// Jobs that may wait for or run on the workers; more are refused at once with
    /// RESOURCE_EXHAUSTED. 0: four per worker.
    pub queue_capacity: usize,
    /// Largest request or answer, bytes (ten 500-ppi rolled images fit in 16 MiB).
    pub max_message_bytes: usize,
    /// De-duplication at enrolment: the false positive identification rate its threshold
    /// aims at, when the request gives no threshold.
    pub dedup_target_fpir: f64,
    /// Templates per probe finger that stage 1 of a search passes to the matcher.
    pub shortlist: usize,
    /// Templates per probe finger that the scan passes to the geometric re-ranking, which
    /// keeps `shortlist` of them (at most `shortlist`: no re-ranking).
    pub rerank: usize,
    /// Or this share of the templates each probe finger is scanned against (those of its
    /// finger position), where that is more (0: `rerank` alone).
    pub rerank_share: f64,
    /// Days the answer to a request id is kept for retries (pruned at start).
    pub request_retention_days: u32,
    /// On shutdown, seconds that open connections get to finish before the server stops.
    pub drain_seconds: u64,
    /// `text` or `json`.
    pub log_format: LogFormat,
    /// TLS; none: plain TCP (for loopback use only).
    pub tls: Option<TlsConfig>,
}

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// TLS files (PEM).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// The server's certificate chain.
    pub cert: PathBuf,
    /// Its private key.
    pub key: PathBuf,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: DEFAULT_LISTEN.parse().expect("valid default address"),
            data_dir: PathBuf::from(DEFAULT_DATA_DIR),
            metrics_listen: None,
            workers: 0,
            queue_capacity: 0,
            max_message_bytes: 16 << 20,
            dedup_target_fpir: 0.001,
            // The engine's defaults, in one place.
            shortlist: SearchOptions::default().shortlist,
            rerank: SearchOptions::default().rerank,
            rerank_share: SearchOptions::default().rerank_share,
            request_retention_days: 30,
            drain_seconds: 10,
            log_format: LogFormat::Text,
            tls: None,
        }
    }
}

/// Why the settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read {0}: {1}")]
    Read(String, std::io::Error),
    /// The file is not valid.
    #[error("{0}: {1}")]
    Parse(String, String),
    /// An environment variable is not valid.
    #[error("environment variable {0}: {1}")]
    Env(&'static str, String),
    /// A value is out of range.
    #[error("setting {0}: {1}")]
    Invalid(&'static str, String),
}

impl Config {
    /// The gallery's folder in the data directory.
    pub fn gallery_dir(&self) -> PathBuf {
        self.data_dir.join("gallery")
    }

    /// Reads a TOML file over the defaults.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.display().to_string(), e))?;
        toml::from_str(&text)
            .map_err(|e| ConfigError::Parse(path.display().to_string(), e.to_string()))
    }

    /// Applies `DAKTILOD_LISTEN`, `DAKTILOD_DATA_DIR`, `DAKTILOD_METRICS_LISTEN`,
    /// `DAKTILOD_WORKERS`, `DAKTILOD_QUEUE_CAPACITY` and `DAKTILOD_LOG_FORMAT`.
    pub fn apply_env(&mut self, var: impl Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        fn parse<T: std::str::FromStr>(name: &'static str, v: &str) -> Result<T, ConfigError>
        where
            T::Err: std::fmt::Display,
        {
            v.parse()
                .map_err(|e: T::Err| ConfigError::Env(name, format!("{v:?}: {e}")))
        }
        if let Some(v) = var("DAKTILOD_LISTEN") {
            self.listen = parse("DAKTILOD_LISTEN", &v)?;
        }
        if let Some(v) = var("DAKTILOD_DATA_DIR") {
            self.data_dir = PathBuf::from(v);
        }
        if let Some(v) = var("DAKTILOD_METRICS_LISTEN") {
            self.metrics_listen = if v.is_empty() {
                None
            } else {
                Some(parse("DAKTILOD_METRICS_LISTEN", &v)?)
            };
        }
        if let Some(v) = var("DAKTILOD_WORKERS") {
            self.workers = parse("DAKTILOD_WORKERS", &v)?;
        }
        if let Some(v) = var("DAKTILOD_QUEUE_CAPACITY") {
            self.queue_capacity = parse("DAKTILOD_QUEUE_CAPACITY", &v)?;
        }
        if let Some(v) = var("DAKTILOD_LOG_FORMAT") {
            self.log_format = match v.as_str() {
                "text" => LogFormat::Text,
                "json" => LogFormat::Json,
                _ => {
                    return Err(ConfigError::Env(
                        "DAKTILOD_LOG_FORMAT",
                        format!("{v:?}: text or json"),
                    ));
                }
            };
        }
        Ok(())
    }

    /// Checks ranges and fills in the automatic values.
    pub fn resolve(mut self) -> Result<Config, ConfigError> {
        if self.workers == 0 {
            self.workers = std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1);
        }
        if self.workers > 1024 {
            return Err(ConfigError::Invalid("workers", "at most 1024".into()));
        }
        if self.queue_capacity == 0 {
            self.queue_capacity = 4 * self.workers;
        }
        if !(1 << 20..=1 << 30).contains(&self.max_message_bytes) {
            return Err(ConfigError::Invalid(
                "max_message_bytes",
                "between 1 MiB and 1 GiB".into(),
            ));
        }
        if !(self.dedup_target_fpir > 0.0 && self.dedup_target_fpir < 1.0) {
            return Err(ConfigError::Invalid(
                "dedup_target_fpir",
                "between 0 and 1, exclusive".into(),
            ));
        }
        if !(1..=100_000).contains(&self.shortlist) {
            return Err(ConfigError::Invalid(
                "shortlist",
                "between 1 and 100000".into(),
            ));
        }
        if self.rerank > 1_000_000 {
            return Err(ConfigError::Invalid("rerank", "at most 1000000".into()));
        }
        if !(0.0..=1.0).contains(&self.rerank_share) {
            return Err(ConfigError::Invalid(
                "rerank_share",
                "between 0 and 1".into(),
            ));
        }
        if self.request_retention_days == 0 {
            return Err(ConfigError::Invalid(
                "request_retention_days",
                "at least 1".into(),
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::Invalid("data_dir", "empty".into()));
        }
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_then_environment() {
        let dir = std::env::temp_dir().join(format!("daktilo-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("daktilod.toml");
        std::fs::write(
            &path,
            "listen = \"0.0.0.0:6000\"\ndata_dir = \"/srv/daktilo\"\nworkers = 3\n\
             [tls]\ncert = \"c.pem\"\nkey = \"k.pem\"\n",
        )
        .unwrap();
        let mut c = Config::from_file(&path).unwrap();
        assert_eq!(c.listen.port(), 6000);
        assert_eq!(c.tls.as_ref().unwrap().client_ca, None);
        c.apply_env(|k| match k {
            "DAKTILOD_DATA_DIR" => Some("/tmp/x".into()),
            "DAKTILOD_LOG_FORMAT" => Some("json".into()),
            _ => None,
        })
        .unwrap();
        assert_eq!(c.data_dir, PathBuf::from("/tmp/x"));
        assert_eq!(c.log_format, LogFormat::Json);
        let c = c.resolve().unwrap();
        assert_eq!((c.workers, c.queue_capacity), (3, 12));

        std::fs::write(&path, "listn = \"x\"\n").unwrap();
        let e = Config::from_file(&path).unwrap_err().to_string();
        assert!(e.contains("unknown field"), "{e}");
        let e = Config::default()
            .apply_env(|k| (k == "DAKTILOD_WORKERS").then(|| "many".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("DAKTILOD_WORKERS"), "{e}");
        let bad = Config {
            dedup_target_fpir: 2.0,
            ..Config::default()
        };
        assert!(bad.resolve().is_err());
        for share in [-0.1, 1.5, f64::NAN] {
            let e = Config {
                rerank_share: share,
                ..Config::default()
            }
            .resolve()
            .unwrap_err()
            .to_string();
            assert!(e.contains("rerank_share"), "{e}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
