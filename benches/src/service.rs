//! The service benchmark: `daktilod` over loopback gRPC with a large registry.
//!
//! Builds (or reuses) a data directory of synthetic subjects plus subjects made of real
//! FVC2002 fingers, starts the service in this process, and measures: ten-print
//! enrolments per second from images (with de-duplication against the whole gallery),
//! identification latency with several concurrent clients (closed loop), and the same at
//! twice the throughput the service sustained (open loop), where it must refuse what it
//! cannot do with RESOURCE_EXHAUSTED and keep answering the rest.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::progress::Progress;
use anyhow::Context;
use daktilo_daemon::config::Config;
use daktilo_daemon::metrics::Metrics;
use daktilo_daemon::proto::{self, daktilo_client::DaktiloClient};
use daktilo_daemon::samples::FingerTemplate;
use daktilo_daemon::service::{Core, ImportSubject};
use daktilo_engine::template::FingerPosition;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::sync::Mutex;
use tonic::transport::Channel;

use crate::synth;
use daktilo_daemon::client::demo::{fvc2002_image, fvc2002_ppi};

/// What to run.
#[derive(Debug, Clone)]
pub struct ServiceArgs {
    /// Synthetic subjects in the registry.
    pub subjects: u64,
    /// Fingers per synthetic subject (right index, left index, then the others).
    pub fingers: usize,
    /// The datasets folder (FVC2002 images).
    pub dataset: PathBuf,
    /// Where the data directory is built or reused.
    pub data_dir: PathBuf,
    /// Concurrent identification clients.
    pub clients: usize,
    /// Seconds of each load phase.
    pub seconds: f64,
    /// Ten-print enrolments to time.
    pub enrolments: usize,
}

/// The figures.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Subjects in the registry when searching.
    pub subjects: u64,
    /// Templates in the gallery.
    pub templates: u64,
    /// Ten-print enrolments (images, de-duplication FLAG) per second, 2 clients.
    pub enrolments_per_s: f64,
    /// Median latency of one ten-print enrolment, ms.
    pub enrol_p50_ms: f64,
    /// Identification with `clients` closed-loop clients.
    pub sustained: Load,
    /// Open loop at twice the sustained rate.
    pub overload: Load,
    /// Correct rank-1 answers among the sustained phase's mated searches.
    pub rank1: f64,
    /// Worker threads and queue capacity of the service.
    pub workers: usize,
    /// Queue capacity.
    pub queue_capacity: usize,
}

/// One load phase.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Load {
    /// Requests offered per second (open loop), or 0 (closed loop).
    pub offered_per_s: f64,
    /// Answered OK per second.
    pub ok_per_s: f64,
    /// OK answers.
    pub ok: u64,
    /// RESOURCE_EXHAUSTED answers.
    pub shed: u64,
    /// Other errors.
    pub errors: u64,
    /// OK latency, ms.
    pub p50_ms: f64,
    /// OK latency, ms.
    pub p99_ms: f64,
}

const POSITIONS: [FingerPosition; 10] = [
    FingerPosition::RightIndex,
    FingerPosition::LeftIndex,
    FingerPosition::RightThumb,
    FingerPosition::LeftThumb,
    FingerPosition::RightMiddle,
    FingerPosition::LeftMiddle,
    FingerPosition::RightRing,
    FingerPosition::LeftRing,
    FingerPosition::RightLittle,
    FingerPosition::LeftLittle,
];

const SETS: [&str; 4] = ["DB1_B", "DB2_B", "DB3_B", "DB4_B"];

fn sample(
    dataset: &Path,
    set: &str,
    finger: u32,
    impression: u32,
    position: FingerPosition,
) -> anyhow::Result<proto::FingerSample> {
    let path = fvc2002_image(dataset, set, finger, impression);
    Ok(proto::FingerSample {
        position: i32::from(position.code()),
        format: proto::SampleFormat::Tiff as i32,
        data: std::fs::read(&path).with_context(|| path.display().to_string())?,
        ppi: fvc2002_ppi(set).unwrap_or(0),
        ..Default::default()
    })
}

/// The 40 FVC fingers as (set, finger), in a fixed order.
fn fvc_fingers() -> Vec<(&'static str, u32)> {
    SETS.iter()
        .flat_map(|&s| (101..=110).map(move |f| (s, f)))
        .collect()
}

/// Builds the data directory unless it already holds a registry.
fn build(args: &ServiceArgs, config: &Config) -> anyhow::Result<()> {
    if args.data_dir.join("registry.redb").exists() {
        eprintln!("reusing {}", args.data_dir.display());
        return Ok(());
    }
    let core = Core::open(config.clone(), Arc::new(Metrics::default()))?;
    let bar = Progress::new(args.subjects, "importing", "synthetic subjects");
    let batch = 10_000u64;
    let mut start = 0;
    while start < args.subjects {
        let end = (start + batch).min(args.subjects);
        use rayon::prelude::*;
        let subjects: Vec<ImportSubject> = (start..end)
            .into_par_iter()
            .map(|i| ImportSubject {
                subject_ref: format!("synthetic-{i}"),
                encounter_ref: "e1".into(),
                fingers: (0..args.fingers)
                    .map(|f| {
                        let mut template = synth::finger(0x5eed, i * 10 + f as u64);
                        template.finger = POSITIONS[f];
                        FingerTemplate {
                            position: POSITIONS[f],
                            impression: 1,
                            quality: 60,
                            template,
                        }
                    })
                    .collect(),
            })
            .collect();
        core.import(subjects)
            .map_err(|s| anyhow::anyhow!("import: {}", s.message()))?;
        bar.inc(end - start);
        start = end;
    }
    bar.finish();
    Ok(())
}

/// Mated probes: pairs of FVC fingers enrolled (impression 1) as the right and left index
/// of 20 subjects; searched with impressions 2-8.
struct Mates {
    probes: Vec<(String, Vec<proto::FingerSample>)>,
}

async fn enrol_mates(client: &mut DaktiloClient<Channel>, dataset: &Path) -> anyhow::Result<Mates> {
    let fingers = fvc_fingers();
    let mut probes = Vec::new();
    for (j, pair) in fingers.chunks(2).enumerate() {
        let subject = format!("fvc-mate-{j}");
        let samples = vec![
            sample(dataset, pair[0].0, pair[0].1, 1, FingerPosition::RightIndex)?,
            sample(dataset, pair[1].0, pair[1].1, 1, FingerPosition::LeftIndex)?,
        ];
        let r = client
            .enrol(proto::EnrolRequest {
                request_id: format!("bench-mate-{j}"),
                subject_ref: subject.clone(),
                encounter_ref: "e1".into(),
                samples,
                options: Some(proto::EnrolOptions {
                    dedup: proto::DedupPolicy::Skip as i32,
                    ..Default::default()
                }),
            })
            .await;
        if let Err(s) = r
            && s.code() != tonic::Code::AlreadyExists
        {
            anyhow::bail!("enrolling {subject}: {s}");
        }
        for impression in 2..=8 {
            probes.push((
                subject.clone(),
                vec![
                    sample(
                        dataset,
                        pair[0].0,
                        pair[0].1,
                        impression,
                        FingerPosition::RightIndex,
                    )?,
                    sample(
                        dataset,
                        pair[1].0,
                        pair[1].1,
                        impression,
                        FingerPosition::LeftIndex,
                    )?,
                ],
            ));
        }
    }
    Ok(Mates { probes })
}

async fn connect(url: &str) -> anyhow::Result<DaktiloClient<Channel>> {
    let started = Instant::now();
    loop {
        if let Ok(c) = DaktiloClient::connect(url.to_string()).await {
            let mut c = c
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20);
            match c.stats(proto::StatsRequest {}).await {
                Ok(_) => return Ok(c),
                Err(s) if s.code() == tonic::Code::Unavailable => {}
                Err(s) => anyhow::bail!("stats: {s}"),
            }
        }
        anyhow::ensure!(started.elapsed().as_secs() < 300, "daktilod never served");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn identify_request(samples: &[proto::FingerSample]) -> proto::IdentifyRequest {
    proto::IdentifyRequest {
        probe: Some(proto::identify_request::Probe::Samples(proto::Probe {
            samples: samples.to_vec(),
        })),
        max_results: 10,
        target_fpir: 0.01,
        ..Default::default()
    }
}

fn ms(h: &Histogram<u64>, q: f64) -> f64 {
    if h.is_empty() {
        0.0
    } else {
        h.value_at_quantile(q) as f64 / 1e3
    }
}

/// Answers counted by kind, with the latency of the OK ones.
struct Tally {
    hist: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    shed: AtomicU64,
    errors: AtomicU64,
    correct: AtomicU64,
}

impl Tally {
    fn new() -> anyhow::Result<Arc<Tally>> {
        Ok(Arc::new(Tally {
            hist: Mutex::new(Histogram::new(3)?),
            ok: AtomicU64::new(0),
            shed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            correct: AtomicU64::new(0),
        }))
    }

    /// Sends one search of `mates.probes[i]` and counts its answer.
    async fn search(&self, client: &mut DaktiloClient<Channel>, mates: &Mates, i: usize) {
        let (subject, samples) = &mates.probes[i % mates.probes.len()];
        let t = Instant::now();
        match client.identify(identify_request(samples)).await {
            Ok(r) => {
                let us = (t.elapsed().as_micros() as u64).max(1);
                let _ = self.hist.lock().await.record(us);
                self.ok.fetch_add(1, Ordering::Relaxed);
                if r.into_inner().candidates.first().map(|c| &c.subject_ref) == Some(subject) {
                    self.correct.fetch_add(1, Ordering::Relaxed);
                }
            }
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                self.shed.fetch_add(1, Ordering::Relaxed);
            }
            Err(_) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    async fn load(&self, offered_per_s: f64, elapsed: f64) -> Load {
        let h = self.hist.lock().await;
        let ok = self.ok.load(Ordering::Relaxed);
        Load {
            offered_per_s,
            ok_per_s: ok as f64 / elapsed,
            ok,
            shed: self.shed.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            p50_ms: ms(&h, 0.5),
            p99_ms: ms(&h, 0.99),
        }
    }
}

/// Closed loop: `clients` clients, each sending its next search when the last is answered.
/// Also returns the share of OK answers whose first candidate is the mate.
async fn closed_loop(
    url: &str,
    mates: &Arc<Mates>,
    clients: usize,
    seconds: f64,
) -> anyhow::Result<(Load, f64)> {
    let tally = Tally::new()?;
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(seconds);
    let mut tasks = Vec::new();
    for c in 0..clients {
        let mut client = connect(url).await?;
        let (mates, tally) = (mates.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            let mut i = c;
            while Instant::now() < deadline {
                tally.search(&mut client, &mates, i).await;
                i += clients;
            }
        }));
    }
    for t in tasks {
        t.await?;
    }
    let load = tally.load(0.0, started.elapsed().as_secs_f64()).await;
    let rank1 = tally.correct.load(Ordering::Relaxed) as f64 / load.ok.max(1) as f64;
    Ok((load, rank1))
}

/// Open loop: one search every `1 / rate` seconds, whatever the answers do.
async fn open_loop(url: &str, mates: &Arc<Mates>, rate: f64, seconds: f64) -> anyhow::Result<Load> {
    let client = connect(url).await?;
    let tally = Tally::new()?;
    let total = (rate * seconds).round() as usize;
    let started = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..total {
        let at = started + Duration::from_secs_f64(i as f64 / rate);
        tokio::time::sleep_until(at.into()).await;
        let (mut client, mates, tally) = (client.clone(), mates.clone(), tally.clone());
        tasks.push(tokio::spawn(async move {
            tally.search(&mut client, &mates, i).await;
        }));
    }
    for t in tasks {
        t.await?;
    }
    Ok(tally.load(rate, started.elapsed().as_secs_f64()).await)
}

/// Runs the benchmark.
pub async fn run(args: ServiceArgs) -> anyhow::Result<Report> {
    anyhow::ensure!(
        (1..=10).contains(&args.fingers),
        "--fingers: between 1 and 10"
    );
    let config = Config {
        listen: "127.0.0.1:0".parse()?,
        data_dir: args.data_dir.clone(),
        ..Config::default()
    }
    .resolve()?;
    {
        let (args, config) = (args.clone(), config.clone());
        tokio::task::spawn_blocking(move || build(&args, &config)).await??;
    }
    let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(daktilo_daemon::server::serve(
        config.clone(),
        async {
            let _ = stop_rx.await;
        },
        move |b| {
            let _ = addr_tx.send(b.grpc);
        },
    ));
    let url = format!("http://{}", addr_rx.await?);
    let mut client = connect(&url).await?;
    let mates = Arc::new(enrol_mates(&mut client, &args.dataset).await?);

    // Ten-print enrolments from images, two clients, de-duplication FLAG.
    let mut requests = Vec::new();
    for k in 0..args.enrolments {
        let set = SETS[k % 4];
        let impression = 2 + (k / 4) as u32 % 7;
        let samples = (0..10)
            .map(|f| sample(&args.dataset, set, 101 + f as u32, impression, POSITIONS[f]))
            .collect::<anyhow::Result<Vec<_>>>()?;
        requests.push(proto::EnrolRequest {
            request_id: format!("bench-tenprint-{}-{k}", std::process::id()),
            subject_ref: format!("tenprint-{}-{k}", std::process::id()),
            encounter_ref: "e1".into(),
            samples,
            options: Some(proto::EnrolOptions {
                dedup: proto::DedupPolicy::Flag as i32,
                ..Default::default()
            }),
        });
    }
    let requests = Arc::new(Mutex::new(requests));
    let enrol_hist = Arc::new(Mutex::new(Histogram::<u64>::new(3)?));
    let started = Instant::now();
    let mut tasks = Vec::new();
    for _ in 0..2 {
        let mut c = connect(&url).await?;
        let (requests, hist) = (requests.clone(), enrol_hist.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(r) = requests.lock().await.pop() else {
                    return Ok::<_, anyhow::Error>(());
                };
                let t = Instant::now();
                c.enrol(r)
                    .await
                    .map_err(|s| anyhow::anyhow!("enrol: {s}"))?;
                let _ = hist
                    .lock()
                    .await
                    .record((t.elapsed().as_micros() as u64).max(1));
            }
        }));
    }
    for t in tasks {
        t.await??;
    }
    let enrolments_per_s = args.enrolments as f64 / started.elapsed().as_secs_f64();
    let enrol_p50_ms = ms(&*enrol_hist.lock().await, 0.5);

    let (sustained, rank1) = closed_loop(&url, &mates, args.clients, args.seconds).await?;
    let overload = open_loop(&url, &mates, 2.0 * sustained.ok_per_s, args.seconds).await?;
    let stats = client.stats(proto::StatsRequest {}).await?.into_inner();
    let _ = stop_tx.send(());
    server.await??;
    Ok(Report {
        subjects: stats.subjects,
        templates: stats.gallery_templates,
        enrolments_per_s,
        enrol_p50_ms,
        sustained,
        overload,
        rank1,
        workers: config.workers,
        queue_capacity: config.queue_capacity,
    })
}
