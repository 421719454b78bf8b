//! `daktilo demo`: starts a `daktilod` in this process (or uses one given), enrols the
//! FVC2002 prints as subjects over gRPC, identifies them with their other impressions and
//! prints the candidate lists; then shows de-duplication, verification and deletion.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::commands::{candidates_text, outcome_name};
use super::{Client, Connection, read_sample};
use crate::cli::{ExitCode, Failure};
use crate::config::Config;
use crate::proto;

/// The sets and fingers used.
const SETS: [&str; 4] = ["DB1_B", "DB2_B", "DB3_B", "DB4_B"];
const FINGERS: std::ops::RangeInclusive<u32> = 101..=110;
/// Every demo print is enrolled as a right index finger.
const POSITION: i32 = proto::FingerPosition::RightIndex as i32;

fn subject_ref(set: &str, finger: u32) -> String {
    format!("fvc2002-{}-{finger}", &set[..3])
}

/// The path of an FVC2002 image below the datasets folder.
pub fn fvc2002_image(dataset: &Path, set: &str, finger: u32, impression: u32) -> PathBuf {
    dataset
        .join("fvc2002")
        .join(set)
        .join(format!("{finger}_{impression}.tif"))
}

/// The resolution of an FVC2002 set whose files do not declare it: DB2's sensor scans at
/// 569 ppi (datasets README); the others' 500 ppi is the default.
pub fn fvc2002_ppi(set: &str) -> Option<u32> {
    set.starts_with("DB2").then_some(569)
}

fn sample(
    dataset: &Path,
    set: &str,
    finger: u32,
    impression: u32,
) -> Result<proto::FingerSample, Failure> {
    read_sample(
        &fvc2002_image(dataset, set, finger, impression),
        POSITION,
        fvc2002_ppi(set),
    )
}

fn refused(s: tonic::Status) -> Failure {
    super::status_failure(s)
}

/// What the demo needs.
pub struct DemoArgs {
    /// The datasets folder.
    pub dataset: PathBuf,
    /// Use this running daktilod instead of starting one.
    pub server: Option<Connection>,
    /// Data directory of the embedded daktilod (default: a new temporary folder, removed
    /// afterwards).
    pub data_dir: Option<PathBuf>,
}

/// Runs the demo, printing as it goes.
pub async fn run(args: DemoArgs) -> Result<(), Failure> {
    let probe = fvc2002_image(&args.dataset, "DB1_B", 101, 1);
    if !probe.is_file() {
        return Err(Failure::new(
            ExitCode::Io,
            format!(
                "the FVC2002 images are not at {} (set DAKTILO_DATASETS to the datasets folder)",
                args.dataset.join("fvc2002").display()
            ),
        ));
    }
    let (conn, embedded, temp) = match args.server {
        Some(c) => (c, None, None),
        None => {
            let (dir, temp) = match args.data_dir {
                Some(d) => (d, None),
                None => {
                    let d =
                        std::env::temp_dir().join(format!("daktilo-demo-{}", std::process::id()));
                    (d.clone(), Some(d))
                }
            };
            let config = Config {
                listen: "127.0.0.1:0".parse().expect("valid address"),
                data_dir: dir.clone(),
                ..Config::default()
            };
            let (addr_tx, addr_rx) = tokio::sync::oneshot::channel();
            let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
            let task = tokio::spawn(crate::server::serve(
                config,
                async {
                    let _ = stop_rx.await;
                },
                move |bound| {
                    let _ = addr_tx.send(bound.grpc);
                },
            ));
            let addr = addr_rx.await.map_err(|_| {
                Failure::new(ExitCode::Service, "the embedded daktilod did not start")
            })?;
            println!(
                "Started daktilod on {addr} with its data in {}",
                dir.display()
            );
            (
                Connection {
                    server: format!("http://{addr}"),
                    timeout: Duration::from_secs(60),
                    ..Connection::default()
                },
                Some((task, stop_tx)),
                temp,
            )
        }
    };
    let result = demo(&conn, &args.dataset).await;
    if let Some((task, stop)) = embedded {
        let _ = stop.send(());
        let _ = task.await;
        println!("Stopped daktilod.");
    }
    if let Some(dir) = temp {
        let _ = std::fs::remove_dir_all(dir);
    }
    result
}

async fn wait_until_serving(client: &mut Client) -> Result<(), Failure> {
    let started = Instant::now();
    loop {
        match client.stats(proto::StatsRequest {}).await {
            Ok(_) => return Ok(()),
            Err(s) if s.code() == tonic::Code::Unavailable && started.elapsed().as_secs() < 60 => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => return Err(refused(s)),
        }
    }
}

async fn identify(
    client: &mut Client,
    sample: proto::FingerSample,
    max: u32,
) -> Result<proto::IdentifyResponse, Failure> {
    client
        .identify(proto::IdentifyRequest {
            probe: Some(proto::identify_request::Probe::Samples(proto::Probe {
                samples: vec![sample],
            })),
            max_results: max,
            target_fpir: 0.01,
            ..Default::default()
        })
        .await
        .map(|r| r.into_inner())
        .map_err(refused)
}

async fn demo(conn: &Connection, dataset: &Path) -> Result<(), Failure> {
    let mut client = conn.connect().await?;
    wait_until_serving(&mut client).await?;

    println!(
        "\n1. Enrolling impression 1 of the 40 FVC2002 fingers (DB1-DB4 B, 101-110) as 40 subjects\n   \
         (de-duplication FLAG: possible duplicates are enrolled and listed for an examiner)"
    );
    let started = Instant::now();
    let mut enrolled = 0;
    for set in SETS {
        for finger in FINGERS {
            let subject = subject_ref(set, finger);
            let r = client
                .enrol(proto::EnrolRequest {
                    request_id: format!("demo-enrol-{subject}"),
                    subject_ref: subject.clone(),
                    encounter_ref: "e1".into(),
                    samples: vec![sample(dataset, set, finger, 1)?],
                    options: Some(proto::EnrolOptions {
                        dedup: proto::DedupPolicy::Flag as i32,
                        ..Default::default()
                    }),
                })
                .await
                .map_err(refused)?
                .into_inner();
            if r.outcome == proto::EnrolOutcome::Enrolled as i32 {
                enrolled += 1;
            } else {
                if r.outcome == proto::EnrolOutcome::EnrolledDuplicateFlagged as i32 {
                    enrolled += 1;
                }
                let mut out = format!("   {subject}: {}\n", outcome_name(r.outcome));
                candidates_text(&mut out, &r.duplicates, "     ");
                print!("{out}");
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "   {enrolled} enrolled in {secs:.2} s ({:.1} ms each, extraction and duplicate search included)",
        secs * 1e3 / 40.0
    );

    println!("\n2. Identifying with other impressions (1:N, target FPIR 1 %)");
    for (set, finger, impression) in [
        ("DB1_B", 101, 5),
        ("DB2_B", 104, 3),
        ("DB3_B", 107, 8),
        ("DB4_B", 110, 6),
    ] {
        let r = identify(&mut client, sample(dataset, set, finger, impression)?, 3).await?;
        let mut out = format!(
            "   probe {set} {finger}_{impression}.tif (it belongs to {}):\n",
            subject_ref(set, finger)
        );
        candidates_text(&mut out, &r.candidates, "     ");
        print!("{out}");
    }
    let started = Instant::now();
    let (mut searches, mut rank1, mut none) = (0, 0, 0);
    for set in SETS {
        for finger in FINGERS {
            for impression in 2..=8 {
                let r = identify(&mut client, sample(dataset, set, finger, impression)?, 1).await?;
                searches += 1;
                match r.candidates.first() {
                    Some(c) if c.subject_ref == subject_ref(set, finger) => rank1 += 1,
                    None => none += 1,
                    _ => {}
                }
            }
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "   all {searches} other impressions: rank 1 correct {rank1} ({:.1} %), no candidate {none}; {:.1} ms per search",
        100.0 * f64::from(rank1) / f64::from(searches),
        secs * 1e3 / f64::from(searches)
    );

    println!("\n3. De-duplication (REJECT): enrolling impression 3 of DB1 101 as a new subject");
    let r = client
        .enrol(proto::EnrolRequest {
            request_id: "demo-enrol-again".into(),
            subject_ref: "fvc2002-DB1-101-again".into(),
            encounter_ref: "e1".into(),
            samples: vec![sample(dataset, "DB1_B", 101, 3)?],
            options: None,
        })
        .await
        .map_err(refused)?
        .into_inner();
    let mut out = format!("   outcome: {}\n", outcome_name(r.outcome));
    candidates_text(&mut out, &r.duplicates, "     ");
    print!("{out}");

    println!("\n4. Verification (1:1) of DB1 102 impression 4");
    for claimed in ["fvc2002-DB1-102", "fvc2002-DB1-103"] {
        let r = client
            .verify(proto::VerifyRequest {
                subject_ref: claimed.into(),
                samples: vec![sample(dataset, "DB1_B", 102, 4)?],
                fmr: 1e-4,
            })
            .await
            .map_err(refused)?
            .into_inner();
        println!(
            "   claimed {claimed}: {} (score {:.1}, threshold {:.1})",
            if r.r#match { "MATCH" } else { "NO MATCH" },
            r.score,
            r.threshold
        );
    }

    println!("\n5. Deleting fvc2002-DB1-101 (correction), then searching for it again");
    let r = client
        .delete(proto::DeleteRequest {
            request_id: "demo-delete-DB1-101".into(),
            subject_ref: "fvc2002-DB1-101".into(),
            reason: proto::DeletionReason::Correction as i32,
        })
        .await
        .map_err(refused)?
        .into_inner();
    println!("   {} template(s) deleted", r.templates_deleted);
    let r = identify(&mut client, sample(dataset, "DB1_B", 101, 5)?, 3).await?;
    let mut out = String::from("   probe DB1_B 101_5.tif:\n");
    candidates_text(&mut out, &r.candidates, "     ");
    print!("{out}");

    let s = client
        .stats(proto::StatsRequest {})
        .await
        .map_err(refused)?
        .into_inner();
    let mut out = String::new();
    let _ = write!(
        out,
        "\n6. daktilod holds {} subjects, {} encounters, {} templates.",
        s.subjects, s.encounters, s.templates
    );
    println!("{out}");
    Ok(())
}
