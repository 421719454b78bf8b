//! End-to-end tests of `daktilod` over real gRPC on loopback, with real FVC2002 prints:
//! enrol -> identify -> delete -> identify, restart, idempotent retries, health,
//! reflection, refusals that name the field, oversized and junk input, and SIGKILL during
//! an `enrol-batch`.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Daemon, dataset, scratch};
use daktilo_daemon::proto::{self, daktilo_client::DaktiloClient};
use tonic::Code;
use tonic::transport::Channel;

type Client = DaktiloClient<Channel>;

async fn connect(d: &Daemon) -> Client {
    let started = Instant::now();
    loop {
        if let Ok(c) = DaktiloClient::connect(d.url.clone()).await {
            let mut c = c
                .max_decoding_message_size(64 << 20)
                .max_encoding_message_size(64 << 20);
            // Wait until the gallery is loaded.
            match c.stats(proto::StatsRequest {}).await {
                Ok(_) => return c,
                Err(s) if s.code() == Code::Unavailable => {}
                Err(s) => panic!("stats: {s}"),
            }
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "daktilod never served"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn file_sample(path: &Path, position: proto::FingerPosition) -> proto::FingerSample {
    let format = match path.extension().and_then(|e| e.to_str()) {
        Some("tif") => proto::SampleFormat::Tiff,
        Some("iso") => proto::SampleFormat::IsoTemplate,
        other => panic!("{other:?}"),
    };
    proto::FingerSample {
        position: position as i32,
        format: format as i32,
        data: std::fs::read(path).unwrap(),
        ..Default::default()
    }
}

fn fvc(root: &Path, set: &str, name: &str) -> PathBuf {
    root.join(set).join(name)
}

fn enrol_request(
    id: &str,
    subject: &str,
    samples: Vec<proto::FingerSample>,
) -> proto::EnrolRequest {
    proto::EnrolRequest {
        request_id: id.into(),
        subject_ref: subject.into(),
        encounter_ref: "e1".into(),
        samples,
        options: Some(proto::EnrolOptions {
            dedup: proto::DedupPolicy::Skip as i32,
            ..Default::default()
        }),
    }
}

async fn identify(c: &mut Client, sample: proto::FingerSample) -> Vec<String> {
    c.identify(proto::IdentifyRequest {
        probe: Some(proto::identify_request::Probe::Samples(proto::Probe {
            samples: vec![sample],
        })),
        target_fpir: 0.01,
        ..Default::default()
    })
    .await
    .unwrap()
    .into_inner()
    .candidates
    .into_iter()
    .map(|c| c.subject_ref)
    .collect()
}

#[tokio::test]
async fn enrol_identify_delete_and_restart() {
    let Some(root) = dataset("fvc2002", "the daktilod end-to-end test") else {
        return;
    };
    let dir = scratch("e2e-lifecycle");
    let data = dir.join("data");
    let d = Daemon::start(&data, &[]);
    let mut c = connect(&d).await;
    use proto::FingerPosition as P;

    // Two subjects: one from images (two fingers), one from an ISO template.
    let a = enrol_request(
        "req-a",
        "subject-A",
        vec![
            file_sample(&fvc(&root, "DB1_B", "101_1.tif"), P::RightIndex),
            file_sample(&fvc(&root, "DB1_B", "102_1.tif"), P::RightMiddle),
        ],
    );
    let first = c.enrol(a.clone()).await.unwrap().into_inner();
    assert_eq!(first.outcome, proto::EnrolOutcome::Enrolled as i32);
    assert!(
        first
            .fingers
            .iter()
            .all(|f| f.template_id != 0 && f.quality > 0)
    );
    let b = enrol_request(
        "req-b",
        "subject-B",
        vec![file_sample(
            &fvc(&root, "DB2_B", "105_1.iso"),
            P::RightIndex,
        )],
    );
    c.enrol(b).await.unwrap();

    // A retry returns the first answer and enrols nothing more; the same id with other
    // content is refused.
    let retry = c.enrol(a.clone()).await.unwrap().into_inner();
    assert_eq!(retry, first);
    let mut other = a.clone();
    other.encounter_ref = "e2".into();
    let e = c.enrol(other).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists, "{e:?}");
    assert!(e.message().starts_with("request_id"), "{}", e.message());
    // The same encounter under a new request id is refused too.
    let mut again = a.clone();
    again.request_id = "req-a2".into();
    let e = c.enrol(again).await.unwrap_err();
    assert_eq!(e.code(), Code::AlreadyExists);
    assert!(e.message().starts_with("encounter_ref"), "{}", e.message());
    let stats = c.stats(proto::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(
        (stats.subjects, stats.encounters, stats.templates),
        (2, 2, 3)
    );

    // Identify: another impression finds its subject first.
    let found = identify(
        &mut c,
        file_sample(&fvc(&root, "DB1_B", "101_4.tif"), P::RightIndex),
    )
    .await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("subject-A"),
        "{found:?}"
    );
    let found = identify(
        &mut c,
        file_sample(&fvc(&root, "DB2_B", "105_3.iso"), P::RightIndex),
    )
    .await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("subject-B"),
        "{found:?}"
    );
    // By enrolled subject: A's fingers find nobody else at 1 % FPIR (A itself is left out).
    let by_subject = c
        .identify(proto::IdentifyRequest {
            probe: Some(proto::identify_request::Probe::SubjectRef(
                "subject-A".into(),
            )),
            target_fpir: 0.01,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(
        by_subject
            .candidates
            .iter()
            .all(|c| c.subject_ref != "subject-A")
    );

    // Verify.
    let v = c
        .verify(proto::VerifyRequest {
            subject_ref: "subject-A".into(),
            samples: vec![file_sample(
                &fvc(&root, "DB1_B", "102_5.tif"),
                P::RightMiddle,
            )],
            fmr: 0.0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(v.r#match, "{v:?}");
    let v = c
        .verify(proto::VerifyRequest {
            subject_ref: "subject-B".into(),
            samples: vec![file_sample(
                &fvc(&root, "DB1_B", "102_5.tif"),
                P::RightIndex,
            )],
            fmr: 0.0,
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!v.r#match, "{v:?}");

    // Delete A: it is no longer found; a retry of the delete answers the same.
    let del = proto::DeleteRequest {
        request_id: "del-a".into(),
        subject_ref: "subject-A".into(),
        reason: proto::DeletionReason::Erasure as i32,
    };
    let r = c.delete(del.clone()).await.unwrap().into_inner();
    assert_eq!(r.templates_deleted, 2);
    assert_eq!(c.delete(del.clone()).await.unwrap().into_inner(), r);
    let found = identify(
        &mut c,
        file_sample(&fvc(&root, "DB1_B", "101_4.tif"), P::RightIndex),
    )
    .await;
    assert!(!found.contains(&"subject-A".to_string()), "{found:?}");
    let e = c
        .get_subject(proto::GetSubjectRequest {
            subject_ref: "subject-A".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);

    // Restart (graceful): B is still there, A is still gone.
    drop(c);
    // Stopped from a blocking thread, so that this runtime can close the client's
    // connection when the server asks it to.
    let stopped = tokio::task::spawn_blocking(move || d.stop()).await.unwrap();
    assert!(stopped.success());
    let d = Daemon::start(&data, &[]);
    let mut c = connect(&d).await;
    let s = c
        .get_subject(proto::GetSubjectRequest {
            subject_ref: "subject-B".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(s.encounters.len(), 1);
    let found = identify(
        &mut c,
        file_sample(&fvc(&root, "DB2_B", "105_3.iso"), P::RightIndex),
    )
    .await;
    assert_eq!(found.first().map(String::as_str), Some("subject-B"));
    let found = identify(
        &mut c,
        file_sample(&fvc(&root, "DB1_B", "101_4.tif"), P::RightIndex),
    )
    .await;
    assert!(!found.contains(&"subject-A".to_string()));
    assert_eq!(c.delete(del).await.unwrap().into_inner(), r);
    let stats = c.stats(proto::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!((stats.subjects, stats.templates), (1, 1));

    // Files are the daemon user's alone.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("registry.redb")), 0o600);
    }
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn fingers_below_the_minimum_minutiae_or_quality_are_left_out() {
    let Some(root) = dataset("fvc2002", "the daktilod minimum-minutiae test") else {
        return;
    };
    let dir = scratch("e2e-minimum");
    let d = Daemon::start(&dir.join("data"), &[]);
    let mut c = connect(&d).await;
    use proto::FingerPosition as P;
    let request = |id: &str, encounter: &str, min_minutiae: u32, min_quality: u32| {
        let mut r = enrol_request(
            id,
            "subject-M",
            vec![
                file_sample(&fvc(&root, "DB1_B", "103_1.tif"), P::RightIndex),
                file_sample(&fvc(&root, "DB1_B", "104_1.tif"), P::RightMiddle),
            ],
        );
        r.encounter_ref = encounter.into();
        r.options = Some(proto::EnrolOptions {
            dedup: proto::DedupPolicy::Skip as i32,
            min_minutiae,
            min_quality,
            ..Default::default()
        });
        r
    };
    // No finger has 255 minutiae: nothing is enrolled, and each finger says why.
    let none = c
        .enrol(request("m-1", "e1", 255, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(none.outcome, proto::EnrolOutcome::QualityRejected as i32);
    for f in &none.fingers {
        assert_eq!(f.template_id, 0);
        assert!(f.minutiae > 0);
        assert_eq!(
            f.note,
            format!("{} minutiae, below the minimum 255", f.minutiae)
        );
    }
    let counts: Vec<u32> = none.fingers.iter().map(|f| f.minutiae).collect();
    assert_ne!(counts[0], counts[1], "the test needs two sizes");
    // At the larger finger's count, only it is enrolled.
    let most = counts.iter().copied().max().unwrap();
    let one = c
        .enrol(request("m-2", "e2", most, 0))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(one.outcome, proto::EnrolOutcome::Enrolled as i32);
    for f in &one.fingers {
        assert_eq!(f.template_id != 0, f.minutiae == most, "{f:?}");
        assert_eq!(f.note.is_empty(), f.minutiae == most, "{f:?}");
    }
    // The quality minimum is applied the same way.
    let low = c
        .enrol(request("m-3", "e3", 0, 100))
        .await
        .unwrap()
        .into_inner();
    if low.fingers.iter().all(|f| f.quality < 100) {
        assert_eq!(low.outcome, proto::EnrolOutcome::QualityRejected as i32);
        assert!(
            low.fingers
                .iter()
                .all(|f| f.note.contains("below the minimum 100"))
        );
    }
    drop(d);
}

#[tokio::test]
async fn bad_requests_get_the_right_status_and_the_daemon_keeps_serving() {
    let Some(root) = dataset("fvc2002", "the daktilod bad-request test") else {
        return;
    };
    let dir = scratch("e2e-bad");
    std::fs::write(
        dir.join("daktilod.toml"),
        "max_message_bytes = 2097152\nqueue_capacity = 8\n",
    )
    .unwrap();
    let config = dir.join("daktilod.toml");
    let d = Daemon::start(&dir.join("data"), &["--config", config.to_str().unwrap()]);
    let mut c = connect(&d).await;
    use proto::FingerPosition as P;
    let good = file_sample(&fvc(&root, "DB1_B", "101_1.tif"), P::RightIndex);

    let expect = |r: Result<tonic::Response<proto::EnrolResponse>, tonic::Status>,
                  code: Code,
                  field: &str| {
        let e = r.unwrap_err();
        assert_eq!(e.code(), code, "{e:?}");
        assert!(e.message().starts_with(field), "{field}: {}", e.message());
    };
    // A truncated (corrupt) image.
    let mut corrupt = good.clone();
    corrupt.data.truncate(corrupt.data.len() / 3);
    expect(
        c.enrol(enrol_request("r1", "S", vec![corrupt])).await,
        Code::InvalidArgument,
        "samples[0].data",
    );
    // Noise declared as PNG.
    let mut noise = good.clone();
    noise.format = proto::SampleFormat::Png as i32;
    noise.data = (0..5000u32).map(|i| (i * 7919 % 251) as u8).collect();
    expect(
        c.enrol(enrol_request("r2", "S", vec![noise])).await,
        Code::InvalidArgument,
        "samples[0].data",
    );
    // An unknown finger position, a missing request id, an empty sample list.
    let mut pos = good.clone();
    pos.position = 42;
    expect(
        c.enrol(enrol_request("r3", "S", vec![good.clone(), pos]))
            .await,
        Code::InvalidArgument,
        "samples[1].position",
    );
    expect(
        c.enrol(enrol_request("", "S", vec![good.clone()])).await,
        Code::InvalidArgument,
        "request_id",
    );
    expect(
        c.enrol(enrol_request("r4", "S", vec![])).await,
        Code::InvalidArgument,
        "samples",
    );
    // Oversized: more than the 2 MiB this daemon accepts.
    let mut big = good.clone();
    big.data = vec![0u8; 3 << 20];
    let e = c
        .enrol(enrol_request("r5", "S", vec![big]))
        .await
        .unwrap_err();
    assert!(
        matches!(e.code(), Code::ResourceExhausted | Code::OutOfRange),
        "{e:?}"
    );
    // Not found, and a deletion without a reason.
    let e = c
        .verify(proto::VerifyRequest {
            subject_ref: "nobody".into(),
            samples: vec![good.clone()],
            fmr: 0.0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
    assert!(e.message().starts_with("subject_ref"));
    let e = c
        .delete(proto::DeleteRequest {
            request_id: "d1".into(),
            subject_ref: "nobody".into(),
            reason: 0,
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("reason"));
    let e = c
        .identify(proto::IdentifyRequest {
            probe: None,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    // A blank image: no minutiae, so nothing to search with.
    let blank = proto::FingerSample {
        position: P::RightIndex as i32,
        format: proto::SampleFormat::RawGrey as i32,
        data: vec![255; 300 * 300],
        width: 300,
        height: 300,
        ppi: 500,
        ..Default::default()
    };
    let e = c
        .identify(proto::IdentifyRequest {
            probe: Some(proto::identify_request::Probe::Samples(proto::Probe {
                samples: vec![blank],
            })),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{e:?}");
    // Junk bytes straight onto the port.
    {
        use std::io::{Read, Write};
        let addr = d.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n\x00\x01garbage\xff\xfe");
        s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let mut buf = [0u8; 256];
        let _ = s.read(&mut buf);
    }
    // Still serving, and nothing was enrolled.
    let ok = c.enrol(enrol_request("r6", "S", vec![good])).await.unwrap();
    assert_eq!(
        ok.into_inner().outcome,
        proto::EnrolOutcome::Enrolled as i32
    );
    let stats = c.stats(proto::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!((stats.subjects, stats.templates), (1, 1));
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn health_reflection_and_metrics() {
    let dir = scratch("e2e-health");
    let d = Daemon::start(&dir.join("data"), &["--metrics-listen", "127.0.0.1:0"]);
    let _ = connect(&d).await;
    let channel = Channel::from_shared(d.url.clone())
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    for service in ["", "daktilo.v1.Daktilo"] {
        let r = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(
            r.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32
        );
    }
    // Reflection (v1) lists the service.
    use tonic_reflection::pb::v1::{
        ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
        server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
    };
    let mut reflection = ServerReflectionClient::new(channel);
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(tokio_stream_once(request))
        .await
        .unwrap()
        .into_inner();
    let answer = stream.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(list)) = answer.message_response else {
        panic!("{answer:?}");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"daktilo.v1.Daktilo".to_string()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_string()),
        "{names:?}"
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A one-message request stream.
fn tokio_stream_once<T: Send + 'static>(
    item: T,
) -> impl tonic::codegen::tokio_stream::Stream<Item = T> {
    tonic::codegen::tokio_stream::iter(vec![item])
}

#[tokio::test]
async fn sigkill_during_enrol_batch_loses_no_acknowledged_subject() {
    let Some(root) = dataset("fvc2002", "the enrol-batch crash test") else {
        return;
    };
    let dir = scratch("e2e-batch");
    let data = dir.join("data");
    // 40 subjects, two fingers each.
    let mut manifest = String::from("subject_ref,encounter_ref,finger,file\n");
    for set in ["DB1_B", "DB2_B", "DB3_B", "DB4_B"] {
        for finger in 101..=110 {
            for (position, impression) in [("right_index", 1), ("left_index", 2)] {
                manifest.push_str(&format!(
                    "{set}-{finger},e1,{position},{}\n",
                    root.join(set)
                        .join(format!("{finger}_{impression}.tif"))
                        .display()
                ));
            }
        }
    }
    let manifest_path = dir.join("cards.csv");
    std::fs::write(&manifest_path, manifest).unwrap();
    let progress = daktilo_daemon::client::batch::progress_path(&manifest_path);
    let batch = |url: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_daktilo"))
            .args([
                "enrol-batch",
                "--jobs",
                "2",
                "--dedup",
                "skip",
                "--server",
                url,
            ])
            .arg(&manifest_path)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    };
    let journalled = || {
        std::fs::read_to_string(&progress)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };

    let d = Daemon::start(&data, &[]);
    let _ = connect(&d).await;
    let client = batch(&d.url);
    let started = Instant::now();
    while journalled() < 6 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "batch made no progress"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    d.kill();
    let out = client.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("resume"));
    let acknowledged: Vec<String> = std::fs::read_to_string(&progress)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    assert!(
        acknowledged.len() < 40,
        "the kill came too late to test anything"
    );

    // Every acknowledged enrolment is there after the restart.
    let d = Daemon::start(&data, &[]);
    let mut c = connect(&d).await;
    let stats = c.stats(proto::StatsRequest {}).await.unwrap().into_inner();
    assert!(stats.subjects as usize >= acknowledged.len());
    assert_eq!(
        stats.templates,
        2 * stats.subjects,
        "half an enrolment is there"
    );
    assert_eq!(
        stats.gallery_templates, stats.templates,
        "the stores disagree"
    );

    // The batch resumes and finishes; nobody is enrolled twice.
    let out = batch(&d.url).wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("{} done in an earlier run", acknowledged.len())),
        "{text}"
    );
    let stats = c.stats(proto::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(
        (stats.subjects, stats.encounters, stats.templates),
        (40, 40, 80)
    );
    assert_eq!(stats.gallery_templates, 80);
    for set in ["DB1_B", "DB4_B"] {
        let s = c
            .get_subject(proto::GetSubjectRequest {
                subject_ref: format!("{set}-105"),
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(s.encounters[0].fingers.len(), 2);
    }
    // A third run has nothing to do.
    let out = batch(&d.url).wait_with_output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("40 done in an earlier run"));
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn concurrent_enrolments_with_deduplication_and_searches() {
    // Enrolments hold the commit lock while their duplicate search runs in parallel; with
    // several at once (and searches beside them) nothing may deadlock or be lost.
    let Some(root) = dataset("fvc2002", "the concurrent enrolment test") else {
        return;
    };
    let dir = scratch("e2e-concurrent");
    // A gallery of 3,200 templates (the FVC ISO templates, ten times over) so that each
    // duplicate search has a full shortlist and runs long enough to overlap the others.
    {
        use daktilo_daemon::samples::FingerTemplate;
        use daktilo_daemon::service::{Core, ImportSubject};
        use daktilo_engine::template::{self, FingerPosition};
        let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("DB3_B"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "iso"))
            .collect();
        files.sort();
        let templates: Vec<template::Template> = files
            .iter()
            .map(|f| {
                template::decode(&std::fs::read(f).unwrap())
                    .unwrap()
                    .templates[0]
                    .clone()
            })
            .collect();
        let config = daktilo_daemon::config::Config {
            data_dir: dir.join("data"),
            ..Default::default()
        }
        .resolve()
        .unwrap();
        let core = Core::open(config, Default::default()).unwrap();
        let subjects = (0..3200)
            .map(|i| ImportSubject {
                subject_ref: format!("bulk-{i}"),
                encounter_ref: "e1".into(),
                fingers: vec![FingerTemplate {
                    position: FingerPosition::RightIndex,
                    impression: 1,
                    template: templates[i % templates.len()].clone(),
                    quality: 50,
                }],
            })
            .collect();
        core.import(subjects).unwrap();
    }
    let d = Daemon::start(&dir.join("data"), &[]);
    let c = connect(&d).await;
    use proto::FingerPosition as P;
    let mut tasks = Vec::new();
    for finger in 101..=108u32 {
        let mut c = c.clone();
        let root = root.clone();
        tasks.push(tokio::spawn(async move {
            // A ten-print: the ten DB1 fingers at one impression, as positions 1-10.
            let impression = finger - 100;
            let samples = (101..=110u32)
                .zip(1..)
                .map(|(f, position)| {
                    let mut s = file_sample(
                        &fvc(&root, "DB1_B", &format!("{f}_{impression}.tif")),
                        P::Unknown,
                    );
                    s.position = position;
                    s
                })
                .collect();
            let mut r = enrol_request(&format!("req-{finger}"), &format!("S{finger}"), samples);
            r.options = Some(proto::EnrolOptions {
                dedup: proto::DedupPolicy::Flag as i32,
                ..Default::default()
            });
            let enrolled = c.enrol(r).await.unwrap().into_inner();
            let probe = file_sample(
                &fvc(&root, "DB1_B", &format!("{finger}_2.tif")),
                P::RightIndex,
            );
            let found = identify(&mut c, probe).await;
            (enrolled.outcome, found)
        }));
    }
    let done = tokio::time::timeout(Duration::from_secs(300), async {
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    })
    .await
    .expect("enrolments deadlocked");
    assert!(
        done.iter()
            .all(|(o, _)| *o != proto::EnrolOutcome::DuplicateRejected as i32)
    );
    let mut c = c;
    let stats = c.stats(proto::StatsRequest {}).await.unwrap().into_inner();
    assert_eq!(
        (stats.subjects, stats.templates, stats.gallery_templates),
        (3208, 3280, 3280)
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn shutdown_does_not_wait_forever_for_an_open_connection() {
    let dir = scratch("e2e-drain");
    std::fs::write(dir.join("daktilod.toml"), "drain_seconds = 1\n").unwrap();
    let config = dir.join("daktilod.toml");
    let d = Daemon::start(&dir.join("data"), &["--config", config.to_str().unwrap()]);
    let mut c = connect(&d).await;
    c.stats(proto::StatsRequest {}).await.unwrap();
    // The client keeps its connection, and this runtime is blocked, so the connection
    // cannot even answer the server's goodbye: the drain limit ends the wait.
    let started = Instant::now();
    assert!(d.stop().success());
    let took = started.elapsed();
    assert!(took < Duration::from_secs(8), "stopping took {took:?}");
    drop(c);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A SIGTERM as soon as the service has said where it listens stops it cleanly (exit
/// status 0). The signal handlers were installed only when the shutdown future was first
/// polled, after that line: once, under load, the rebuild test's stop came first and the
/// default action killed the service (the thirty-fifth session's CI run). Repeated, since
/// the window was short.
#[test]
fn a_sigterm_right_after_the_start_stops_the_service_cleanly() {
    let dir = scratch("e2e-early-term");
    for round in 0..10 {
        let d = Daemon::start(&dir.join("data"), &[]);
        let status = d.stop();
        assert!(status.success(), "round {round}: {status}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn a_gallery_of_old_features_is_refused_then_rebuilt_in_place() {
    use daktilo_engine::gallery::Gallery;
    let Some(root) = dataset("fvc2002", "the feature rebuild test") else {
        return;
    };
    let dir = scratch("e2e-rebuild");
    let data = dir.join("data");
    use proto::FingerPosition as P;
    {
        let d = Daemon::start(&data, &[]);
        let mut c = connect(&d).await;
        let a = enrol_request(
            "req-a",
            "subject-A",
            vec![file_sample(
                &fvc(&root, "DB1_B", "102_1.tif"),
                P::RightIndex,
            )],
        );
        c.enrol(a).await.unwrap();
        assert!(d.stop().success());
    }
    // What an older release left: 992-byte features (version 2's length).
    let gallery = data.join("gallery");
    Gallery::rebuild_features(&gallery, 992, &|_| vec![0; 992], &|_, _| {}).unwrap();
    let daktilod = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_daktilod"))
            .args(["--listen", "127.0.0.1:0", "--data-dir"])
            .arg(&data)
            .args(args)
            .output()
            .unwrap()
    };
    // Refused, saying why, rather than searched wrongly.
    let refused = daktilod(&[]);
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("features are 992 bytes"), "{said}");
    assert!(said.contains("--rebuild-features"), "{said}");
    // Rebuilt from the stored templates; a second run has nothing to do.
    let rebuilt = daktilod(&["--rebuild-features"]);
    let out = String::from_utf8_lossy(&rebuilt.stdout);
    assert!(rebuilt.status.success(), "{out}");
    assert!(out.contains("rebuilt the features of 1 templates"), "{out}");
    let again = daktilod(&["--rebuild-features"]);
    assert!(again.status.success());
    assert!(String::from_utf8_lossy(&again.stdout).contains("features are current"));
    // Features of the right length whose codes an older rule chose (no spread flag, bit
    // 1 of the flags, the feature's last byte, and no rows flag, bit 2 in the
    // thirty-third session and bit 3 since: before then; 102_1 holds more minutiae than a
    // feature stores, so the rule matters for it) open and search, and are rebuilt on
    // request.
    use daktilo_engine::search::{self, feature};
    let older = |t: &[u8]| {
        let mut f = search::gallery_feature_of_stored(t);
        assert_eq!(
            feature::code_count(&f),
            feature::CODES,
            "a print with many minutiae"
        );
        *f.last_mut().unwrap() &= !(2 | 4 | 8);
        assert!(!feature::is_current(&f));
        f
    };
    Gallery::rebuild_features_where(
        &gallery,
        feature::FEATURE_BYTES,
        &|_| true,
        &older,
        &|_, _| {},
    )
    .unwrap();
    // Started on them, the service says at once that they need the rebuild; after it,
    // it does not (the log of each start, at level warn).
    let started_log = |name: &str| {
        let path = dir.join(name);
        let log = std::fs::File::create(&path).unwrap();
        let d = Daemon::start_with(&data, &[], "warn", log.into());
        assert!(d.stop().success());
        std::fs::read_to_string(&path).unwrap()
    };
    let log = started_log("stale.log");
    assert!(
        log.contains("older release's rule") && log.contains("--rebuild-features"),
        "{log}"
    );
    let refreshed = daktilod(&["--rebuild-features"]);
    let out = String::from_utf8_lossy(&refreshed.stdout);
    assert!(refreshed.status.success(), "{out}");
    assert!(out.contains("rebuilt the features of 1 templates"), "{out}");
    let again = daktilod(&["--rebuild-features"]);
    assert!(String::from_utf8_lossy(&again.stdout).contains("features are current"));
    let log = started_log("current.log");
    assert!(!log.contains("older release's rule"), "{log}");
    // And searched right again.
    let d = Daemon::start(&data, &[]);
    let mut c = connect(&d).await;
    let found = identify(
        &mut c,
        file_sample(&fvc(&root, "DB1_B", "102_2.tif"), P::RightIndex),
    )
    .await;
    assert_eq!(
        found.first().map(String::as_str),
        Some("subject-A"),
        "{found:?}"
    );
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
