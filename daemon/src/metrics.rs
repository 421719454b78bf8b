//! Prometheus metrics, kept in atomics and served as text on `GET /metrics`.
//!
//! Labels are method names and status codes only: never a subject, a request id or
//! anything biometric.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The methods measured.
pub const METHODS: [&str; 6] = [
    "Enrol",
    "Identify",
    "Verify",
    "Delete",
    "GetSubject",
    "Stats",
];
/// The status codes counted (gRPC code numbers 0–16).
const CODES: usize = 17;
/// Latency histogram bucket upper bounds, seconds.
const BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];

#[derive(Default)]
struct Method {
    codes: [AtomicU64; CODES],
    buckets: [AtomicU64; BUCKETS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
}

/// The daemon's counters.
#[derive(Default)]
pub struct Metrics {
    methods: [Method; METHODS.len()],
    /// Jobs waiting for or running on the workers.
    pub queue_depth: AtomicU64,
    /// Requests refused because the queue was full.
    pub shed: AtomicU64,
    /// Live templates in the gallery.
    pub templates: AtomicU64,
    /// Subjects in the registry.
    pub subjects: AtomicU64,
}

impl Metrics {
    /// Records one finished call.
    pub fn observe(&self, method: usize, code: tonic::Code, seconds: f64) {
        let Some(m) = self.methods.get(method) else {
            return;
        };
        let code = (code as usize).min(CODES - 1);
        m.codes[code].fetch_add(1, Ordering::Relaxed);
        for (b, bound) in m.buckets.iter().zip(BUCKETS) {
            if seconds <= bound {
                b.fetch_add(1, Ordering::Relaxed);
            }
        }
        m.count.fetch_add(1, Ordering::Relaxed);
        m.sum_micros
            .fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut out = String::new();
        out.push_str("# HELP daktilo_requests_total gRPC calls by method and status code.\n");
        out.push_str("# TYPE daktilo_requests_total counter\n");
        for (name, m) in METHODS.iter().zip(&self.methods) {
            for (code, n) in m.codes.iter().enumerate() {
                let n = n.load(Ordering::Relaxed);
                if n > 0 {
                    let code = format!("{:?}", tonic::Code::from_i32(code as i32));
                    let _ = writeln!(
                        out,
                        "daktilo_requests_total{{method=\"{name}\",code=\"{code}\"}} {n}"
                    );
                }
            }
        }
        out.push_str("# HELP daktilo_request_seconds gRPC call latency by method.\n");
        out.push_str("# TYPE daktilo_request_seconds histogram\n");
        for (name, m) in METHODS.iter().zip(&self.methods) {
            for (b, bound) in m.buckets.iter().zip(BUCKETS) {
                let _ = writeln!(
                    out,
                    "daktilo_request_seconds_bucket{{method=\"{name}\",le=\"{bound}\"}} {}",
                    b.load(Ordering::Relaxed)
                );
            }
            let count = m.count.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "daktilo_request_seconds_bucket{{method=\"{name}\",le=\"+Inf\"}} {count}"
            );
            let _ = writeln!(
                out,
                "daktilo_request_seconds_sum{{method=\"{name}\"}} {}",
                m.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
            );
            let _ = writeln!(
                out,
                "daktilo_request_seconds_count{{method=\"{name}\"}} {count}"
            );
        }
        for (name, help, kind, v) in [
            (
                "daktilo_queue_depth",
                "Biometric jobs waiting for or running on the workers.",
                "gauge",
                &self.queue_depth,
            ),
            (
                "daktilo_shed_total",
                "Requests refused with RESOURCE_EXHAUSTED because the queue was full.",
                "counter",
                &self.shed,
            ),
            (
                "daktilo_gallery_templates",
                "Live templates in the gallery.",
                "gauge",
                &self.templates,
            ),
            (
                "daktilo_registry_subjects",
                "Subjects in the registry.",
                "gauge",
                &self.subjects,
            ),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
            let _ = writeln!(out, "{name} {}", v.load(Ordering::Relaxed));
        }
        out
    }
}

/// Serves `GET /metrics` until the task is dropped. Anything else gets 404; requests are
/// read up to 8 KiB.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let Ok((mut stream, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; 8192];
            let mut n = 0;
            // Read until the end of the request head (or the buffer is full).
            while n < buf.len() {
                let read = tokio::time::timeout(
                    std::time::Duration::from_secs(5),
                    stream.read(&mut buf[n..]),
                )
                .await;
                match read {
                    Ok(Ok(0)) | Err(_) | Ok(Err(_)) => break,
                    Ok(Ok(k)) => n += k,
                }
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let head = String::from_utf8_lossy(&buf[..n]);
            let response = if head.starts_with("GET /metrics ") || head.starts_with("GET /metrics?")
            {
                let body = metrics.render();
                format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                )
            } else {
                "HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n".into()
            };
            let _ = stream.write_all(response.as_bytes()).await;
            let _ = stream.shutdown().await;
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counts_and_buckets() {
        let m = Metrics::default();
        m.observe(1, tonic::Code::Ok, 0.02);
        m.observe(1, tonic::Code::ResourceExhausted, 3.0);
        m.shed.fetch_add(1, Ordering::Relaxed);
        let text = m.render();
        assert!(text.contains("daktilo_requests_total{method=\"Identify\",code=\"Ok\"} 1"));
        assert!(
            text.contains(
                "daktilo_requests_total{method=\"Identify\",code=\"ResourceExhausted\"} 1"
            )
        );
        assert!(
            text.contains("daktilo_request_seconds_bucket{method=\"Identify\",le=\"0.025\"} 1")
        );
        assert!(text.contains("daktilo_request_seconds_bucket{method=\"Identify\",le=\"5\"} 2"));
        assert!(text.contains("daktilo_request_seconds_count{method=\"Identify\"} 2"));
        assert!(text.contains("daktilo_shed_total 1"));
    }
}
