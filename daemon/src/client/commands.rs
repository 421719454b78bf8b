//! `daktilo enrol`, `identify`, `verify`, `delete` and `status`.

use std::fmt::Write as _;

use serde_json::{Value, json};

use super::{Connection, position_name, samples_from_args, status_failure};
use crate::cli::{ExitCode, Failure};
use crate::proto;

/// FNV-1a over some parts, as hex: a request id that is the same for the same request, so
/// that running a command again is a harmless retry.
pub fn derived_request_id(prefix: &str, parts: &[&[u8]]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in part.iter().chain(&[0xFFu8]) {
            h = (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    format!("{prefix}-{h:016x}")
}

/// A de-duplication policy from its name.
pub fn parse_dedup(text: &str) -> Result<proto::DedupPolicy, String> {
    match text {
        "reject" => Ok(proto::DedupPolicy::Reject),
        "flag" => Ok(proto::DedupPolicy::Flag),
        "skip" => Ok(proto::DedupPolicy::Skip),
        _ => Err(format!("{text:?}: reject, flag or skip")),
    }
}

/// A deletion reason from its name.
pub fn parse_reason(text: &str) -> Result<proto::DeletionReason, String> {
    match text {
        "erasure" => Ok(proto::DeletionReason::Erasure),
        "retention-expired" => Ok(proto::DeletionReason::RetentionExpired),
        "duplicate" => Ok(proto::DeletionReason::Duplicate),
        "correction" => Ok(proto::DeletionReason::Correction),
        _ => Err(format!(
            "{text:?}: erasure, retention-expired, duplicate or correction"
        )),
    }
}

/// The outcome's short name.
pub fn outcome_name(code: i32) -> &'static str {
    match proto::EnrolOutcome::try_from(code) {
        Ok(proto::EnrolOutcome::Enrolled) => "enrolled",
        Ok(proto::EnrolOutcome::EnrolledDuplicateFlagged) => "enrolled, duplicate flagged",
        Ok(proto::EnrolOutcome::DuplicateRejected) => "duplicate rejected",
        Ok(proto::EnrolOutcome::QualityRejected) => "quality rejected",
        _ => "unknown",
    }
}

fn fingers_json(fingers: &[proto::FingerResult]) -> Value {
    fingers
        .iter()
        .map(|f| {
            json!({
                "position": position_name(f.position),
                "quality": f.quality,
                "minutiae": f.minutiae,
                "template_id": f.template_id,
                "note": f.note,
            })
        })
        .collect()
}

/// Candidates as JSON.
pub fn candidates_json(candidates: &[proto::Candidate]) -> Value {
    candidates
        .iter()
        .map(|c| {
            json!({
                "subject_ref": c.subject_ref,
                "score": c.score,
                "fingers": c.fingers.iter().map(|f| json!({
                    "position": position_name(f.position),
                    "template_id": f.template_id,
                    "score": f.score,
                })).collect::<Vec<_>>(),
            })
        })
        .collect()
}

/// Candidates as a table.
pub fn candidates_text(out: &mut String, candidates: &[proto::Candidate], indent: &str) {
    if candidates.is_empty() {
        let _ = writeln!(out, "{indent}no candidate");
        return;
    }
    let _ = writeln!(
        out,
        "{indent}rank  score  subject              fingers (position: score)"
    );
    for (i, c) in candidates.iter().enumerate() {
        let fingers: Vec<String> = c
            .fingers
            .iter()
            .map(|f| format!("{}: {:.1}", position_name(f.position), f.score))
            .collect();
        let _ = writeln!(
            out,
            "{indent}{:>4}  {:>5.1}  {:<20} {}",
            i + 1,
            c.score,
            c.subject_ref,
            fingers.join(", ")
        );
    }
}

/// What `enrol` needs.
pub struct EnrolArgs {
    /// Subject reference.
    pub subject: String,
    /// Encounter reference.
    pub encounter: String,
    /// Request id (derived from the request when not given).
    pub request_id: Option<String>,
    /// Files or folders, `POSITION=FILE` allowed.
    pub files: Vec<String>,
    /// Resolution of the images, when their files do not say.
    pub ppi: Option<u32>,
    /// Minimum quality per finger.
    pub min_quality: u32,
    /// Minimum minutiae per finger.
    pub min_minutiae: u32,
    /// De-duplication policy.
    pub dedup: proto::DedupPolicy,
    /// De-duplication threshold (0: the server's).
    pub dedup_threshold: f32,
}

/// `daktilo enrol`.
pub async fn enrol(conn: &Connection, args: EnrolArgs, as_json: bool) -> Result<String, Failure> {
    let samples = samples_from_args(&args.files, args.ppi)?;
    let request_id = args.request_id.unwrap_or_else(|| {
        let mut parts: Vec<&[u8]> = vec![args.subject.as_bytes(), args.encounter.as_bytes()];
        parts.extend(samples.iter().map(|s| s.data.as_slice()));
        derived_request_id("enrol", &parts)
    });
    let request = proto::EnrolRequest {
        request_id,
        subject_ref: args.subject,
        encounter_ref: args.encounter,
        samples,
        options: Some(proto::EnrolOptions {
            min_quality: args.min_quality,
            dedup: args.dedup as i32,
            dedup_threshold: args.dedup_threshold,
            min_minutiae: args.min_minutiae,
        }),
    };
    let mut client = conn.connect().await?;
    let r = client
        .enrol(request)
        .await
        .map_err(status_failure)?
        .into_inner();
    Ok(enrol_text(&r, as_json))
}

/// An enrolment answer as text or JSON.
pub fn enrol_text(r: &proto::EnrolResponse, as_json: bool) -> String {
    if as_json {
        return json!({
            "outcome": outcome_name(r.outcome),
            "subject_ref": r.subject_ref,
            "encounter_ref": r.encounter_ref,
            "fingers": fingers_json(&r.fingers),
            "duplicates": candidates_json(&r.duplicates),
        })
        .to_string()
            + "\n";
    }
    let mut out = format!(
        "{}: subject {} encounter {}\n",
        outcome_name(r.outcome),
        r.subject_ref,
        r.encounter_ref
    );
    for f in &r.fingers {
        let _ = writeln!(
            out,
            "  {:<13} quality {:>3}  minutiae {:>3}  {}",
            position_name(f.position),
            f.quality,
            f.minutiae,
            if f.template_id != 0 {
                format!("template {}", f.template_id)
            } else {
                format!("not enrolled: {}", f.note)
            }
        );
    }
    if !r.duplicates.is_empty() {
        out.push_str("possible duplicates:\n");
        candidates_text(&mut out, &r.duplicates, "  ");
    }
    out
}

/// What `identify` needs.
pub struct IdentifyArgs {
    /// Probe files (or none with `subject`).
    pub files: Vec<String>,
    /// Search with an enrolled subject instead.
    pub subject: Option<String>,
    /// Resolution of the images.
    pub ppi: Option<u32>,
    /// At most this many candidates.
    pub max: u32,
    /// Score threshold.
    pub threshold: f32,
    /// Target FPIR.
    pub fpir: f64,
    /// Only these subjects.
    pub restrict: Vec<String>,
}

/// `daktilo identify`.
pub async fn identify(
    conn: &Connection,
    args: IdentifyArgs,
    as_json: bool,
) -> Result<String, Failure> {
    let probe = match (&args.subject, args.files.is_empty()) {
        (Some(s), true) => proto::identify_request::Probe::SubjectRef(s.clone()),
        (None, false) => proto::identify_request::Probe::Samples(proto::Probe {
            samples: samples_from_args(&args.files, args.ppi)?,
        }),
        _ => {
            return Err(Failure::new(
                ExitCode::Usage,
                "give probe files or --subject, not both",
            ));
        }
    };
    let mut client = conn.connect().await?;
    let r = client
        .identify(proto::IdentifyRequest {
            probe: Some(probe),
            max_results: args.max,
            threshold: args.threshold,
            target_fpir: args.fpir,
            restrict_to_subjects: args.restrict,
            fingers: Vec::new(),
        })
        .await
        .map_err(status_failure)?
        .into_inner();
    if as_json {
        return Ok(json!({
            "candidates": candidates_json(&r.candidates),
            "probe_fingers": fingers_json(&r.probe_fingers),
            "threshold": r.threshold,
        })
        .to_string()
            + "\n");
    }
    let mut out = format!(
        "{} candidate(s) at threshold {:.1}\n",
        r.candidates.len(),
        r.threshold
    );
    candidates_text(&mut out, &r.candidates, "  ");
    Ok(out)
}

/// `daktilo verify`.
pub async fn verify(
    conn: &Connection,
    subject: String,
    files: Vec<String>,
    ppi: Option<u32>,
    fmr: f64,
    as_json: bool,
) -> Result<String, Failure> {
    let samples = samples_from_args(&files, ppi)?;
    let mut client = conn.connect().await?;
    let r = client
        .verify(proto::VerifyRequest {
            subject_ref: subject.clone(),
            samples,
            fmr,
        })
        .await
        .map_err(status_failure)?
        .into_inner();
    if as_json {
        return Ok(json!({
            "match": r.r#match,
            "score": r.score,
            "threshold": r.threshold,
            "fingers": r.fingers.iter().map(|f| json!({
                "position": position_name(f.position),
                "template_id": f.template_id,
                "score": f.score,
            })).collect::<Vec<_>>(),
        })
        .to_string()
            + "\n");
    }
    let mut out = format!(
        "{}: score {:.1} (threshold {:.1}) against subject {subject}\n",
        if r.r#match { "MATCH" } else { "NO MATCH" },
        r.score,
        r.threshold
    );
    for f in &r.fingers {
        let _ = writeln!(out, "  {:<13} {:>6.1}", position_name(f.position), f.score);
    }
    Ok(out)
}

/// `daktilo delete`.
pub async fn delete(
    conn: &Connection,
    subject: String,
    reason: proto::DeletionReason,
    request_id: Option<String>,
    as_json: bool,
) -> Result<String, Failure> {
    let request_id = request_id
        .unwrap_or_else(|| derived_request_id("delete", &[subject.as_bytes(), &[reason as u8]]));
    let mut client = conn.connect().await?;
    let r = client
        .delete(proto::DeleteRequest {
            request_id,
            subject_ref: subject.clone(),
            reason: reason as i32,
        })
        .await
        .map_err(status_failure)?
        .into_inner();
    if as_json {
        return Ok(
            json!({"deleted": subject, "templates_deleted": r.templates_deleted}).to_string()
                + "\n",
        );
    }
    Ok(format!(
        "deleted subject {subject} ({} templates)\n",
        r.templates_deleted
    ))
}

/// `daktilo status`.
pub async fn status(conn: &Connection, as_json: bool) -> Result<String, Failure> {
    let mut client = conn.connect().await?;
    let s = client
        .stats(proto::StatsRequest {})
        .await
        .map_err(status_failure)?
        .into_inner();
    if as_json {
        return Ok(json!({
            "server": conn.server,
            "subjects": s.subjects,
            "encounters": s.encounters,
            "templates": s.templates,
            "per_position": s.per_position.iter().map(|p| (position_name(p.position).to_string(), json!(p.templates))).collect::<serde_json::Map<_, _>>(),
            "queue_depth": s.queue_depth,
            "queue_capacity": s.queue_capacity,
            "eurodac_pending": s.eurodac_pending,
        })
        .to_string()
            + "\n");
    }
    let mut out = format!(
        "daktilod at {}: serving\n  subjects {}  encounters {}  templates {}\n  queue {}/{}  EURODAC pending {}\n",
        conn.server,
        s.subjects,
        s.encounters,
        s.templates,
        s.queue_depth,
        s.queue_capacity,
        s.eurodac_pending
    );
    for p in &s.per_position {
        let _ = writeln!(out, "  {:<13} {}", position_name(p.position), p.templates);
    }
    Ok(out)
}
