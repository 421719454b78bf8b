//! `daktilo enrol-batch`: many subjects from a CSV manifest (digitised legacy ten-print
//! cards, say), with a progress bar, resumable after an interruption.
//!
//! The manifest has a header line `subject_ref,encounter_ref,finger,file` and one line per
//! finger; lines of the same subject and encounter form one enrolment. Files are relative
//! to the manifest's folder. Each enrolment's request id is derived from its subject and
//! encounter, so re-sending one whose answer was lost is a harmless retry. Every answer is
//! appended (and synced) to `MANIFEST.progress`; a new run skips what that file lists.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressStyle};
use tokio::task::JoinSet;

use super::commands::{derived_request_id, outcome_name};
use super::{Connection, parse_position, read_sample};
use crate::cli::{ExitCode, Failure};
use crate::proto;

/// One enrolment of the manifest.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    /// Subject reference.
    pub subject: String,
    /// Encounter reference.
    pub encounter: String,
    /// (position, file) per finger.
    pub fingers: Vec<(i32, PathBuf)>,
    /// Manifest line of the first finger (1-based), for messages.
    pub line: usize,
}

impl Group {
    /// The request id of this enrolment.
    pub fn request_id(&self) -> String {
        derived_request_id(
            "batch",
            &[self.subject.as_bytes(), self.encounter.as_bytes()],
        )
    }
}

/// Splits a CSV line (double quotes, with `""` for a quote inside).
fn split_csv(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut field = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() && !was_quoted => {
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                out.push(std::mem::take(&mut field));
                was_quoted = false;
            }
            (false, c) => field.push(c),
        }
    }
    if quoted {
        return Err("unterminated quote".into());
    }
    out.push(field);
    Ok(out)
}

/// Reads a manifest into its enrolments, in order of first appearance.
pub fn read_manifest(path: &Path) -> Result<Vec<Group>, Failure> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::new(ExitCode::Io, format!("{}: {e}", path.display())))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let bad = |line: usize, what: String| {
        Failure::new(
            ExitCode::InvalidInput,
            format!("{} line {line}: {what}", path.display()),
        )
    };
    let mut lines = text.lines().enumerate();
    let header = lines
        .next()
        .map(|(_, l)| l.trim().to_ascii_lowercase())
        .unwrap_or_default();
    if header.replace(' ', "") != "subject_ref,encounter_ref,finger,file" {
        return Err(bad(
            1,
            "the header must be subject_ref,encounter_ref,finger,file".into(),
        ));
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(String, String), usize> = HashMap::new();
    for (i, line) in lines {
        let n = i + 1;
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv(line).map_err(|e| bad(n, e))?;
        let [subject, encounter, finger, file] = fields.as_slice() else {
            return Err(bad(n, format!("{} fields, 4 expected", fields.len())));
        };
        let (subject, encounter) = (subject.trim().to_string(), encounter.trim().to_string());
        if subject.is_empty() || encounter.is_empty() {
            return Err(bad(n, "empty subject_ref or encounter_ref".into()));
        }
        let position = parse_position(finger).ok_or_else(|| {
            bad(
                n,
                format!("finger {finger:?}: a name like right_index or 0-10"),
            )
        })?;
        let key = (subject.clone(), encounter.clone());
        let g = *index.entry(key).or_insert_with(|| {
            groups.push(Group {
                subject,
                encounter,
                fingers: Vec::new(),
                line: n,
            });
            groups.len() - 1
        });
        groups[g].fingers.push((position, base.join(file.trim())));
    }
    Ok(groups)
}

/// The progress file beside a manifest.
pub fn progress_path(manifest: &Path) -> PathBuf {
    let mut name = manifest.as_os_str().to_owned();
    name.push(".progress");
    PathBuf::from(name)
}

/// Request ids the progress file lists as answered.
fn read_progress(path: &Path) -> Result<HashSet<String>, Failure> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(text
            .lines()
            .filter_map(|l| l.split('\t').next())
            .filter(|id| !id.is_empty())
            .map(str::to_string)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(Failure::new(
            ExitCode::Io,
            format!("{}: {e}", path.display()),
        )),
    }
}

/// How a batch went.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Enrolments in the manifest.
    pub total: usize,
    /// Answered in an earlier run.
    pub skipped: usize,
    /// Outcome name -> count, for this run.
    pub outcomes: Vec<(String, usize)>,
    /// Enrolments refused (bad files, bad samples), with their messages.
    pub failed: Vec<String>,
}

enum Answer {
    Done(String),
    Refused(String),
}

async fn enrol_one(
    conn: Connection,
    group: Group,
    ppi: Option<u32>,
    options: proto::EnrolOptions,
) -> Result<(Group, Answer), Failure> {
    let mut samples = Vec::new();
    for (position, file) in &group.fingers {
        match read_sample(file, *position, ppi) {
            Ok(s) => samples.push(s),
            Err(f) if f.code == ExitCode::Io || f.code == ExitCode::InvalidInput => {
                let msg = format!("line {}: {}", group.line, f.message);
                return Ok((group, Answer::Refused(msg)));
            }
            Err(f) => return Err(f),
        }
    }
    let request = proto::EnrolRequest {
        request_id: group.request_id(),
        subject_ref: group.subject.clone(),
        encounter_ref: group.encounter.clone(),
        samples,
        options: Some(options),
    };
    let mut client = conn.connect().await?;
    let mut delay = Duration::from_millis(100);
    for _ in 0..30 {
        match client.enrol(request.clone()).await {
            Ok(r) => {
                let outcome = outcome_name(r.into_inner().outcome).to_string();
                return Ok((group, Answer::Done(outcome)));
            }
            Err(s) if s.code() == tonic::Code::ResourceExhausted => {
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            Err(s) if s.code() == tonic::Code::AlreadyExists => {
                return Ok((group, Answer::Done("already enrolled".into())));
            }
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::InvalidArgument | tonic::Code::FailedPrecondition
                ) =>
            {
                let msg = format!("line {}: {}", group.line, s.message());
                return Ok((group, Answer::Refused(msg)));
            }
            Err(s) => return Err(super::status_failure(s)),
        }
    }
    Err(Failure::new(
        ExitCode::Unreachable,
        "daktilod stayed busy; run the batch again to resume",
    ))
}

/// Runs a batch: `jobs` enrolments in flight at once.
pub async fn run(
    conn: &Connection,
    manifest: &Path,
    jobs: usize,
    ppi: Option<u32>,
    options: proto::EnrolOptions,
) -> Result<Summary, Failure> {
    let groups = read_manifest(manifest)?;
    let progress_file = progress_path(manifest);
    let done = read_progress(&progress_file)?;
    let mut summary = Summary {
        total: groups.len(),
        ..Summary::default()
    };
    let todo: Vec<Group> = groups
        .into_iter()
        .filter(|g| !done.contains(&g.request_id()))
        .collect();
    summary.skipped = summary.total - todo.len();
    let mut journal = std::fs::OpenOptions::new();
    journal.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut journal, 0o600);
    let mut journal = journal
        .open(&progress_file)
        .map_err(|e| Failure::new(ExitCode::Io, format!("{}: {e}", progress_file.display())))?;
    // Check the service is there before starting.
    conn.connect().await?;
    let bar = ProgressBar::new(summary.total as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} enrolments  {per_sec}  eta {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_position(summary.skipped as u64);
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut queue = todo.into_iter();
    let mut running = JoinSet::new();
    let jobs = jobs.max(1);
    let mut fatal = None;
    loop {
        while fatal.is_none() && running.len() < jobs {
            let Some(g) = queue.next() else { break };
            running.spawn(enrol_one(conn.clone(), g, ppi, options));
        }
        let Some(joined) = running.join_next().await else {
            break;
        };
        let result = joined.map_err(|e| Failure::new(ExitCode::Service, e.to_string()))?;
        match result {
            Ok((group, answer)) => {
                let line = match &answer {
                    Answer::Done(outcome) => {
                        *outcomes.entry(outcome.clone()).or_default() += 1;
                        format!("{}\t{outcome}\n", group.request_id())
                    }
                    Answer::Refused(msg) => {
                        summary.failed.push(msg.clone());
                        format!(
                            "{}\tfailed: {}\n",
                            group.request_id(),
                            msg.replace('\n', " ")
                        )
                    }
                };
                journal
                    .write_all(line.as_bytes())
                    .and_then(|_| journal.sync_data())
                    .map_err(|e| {
                        Failure::new(ExitCode::Io, format!("{}: {e}", progress_file.display()))
                    })?;
                bar.inc(1);
            }
            Err(f) => {
                // Let the enrolments in flight finish and be journalled, then stop.
                fatal.get_or_insert(f);
            }
        }
    }
    bar.finish_and_clear();
    let mut outcomes: Vec<(String, usize)> = outcomes.into_iter().collect();
    outcomes.sort();
    summary.outcomes = outcomes;
    match fatal {
        Some(f) => Err(Failure::new(
            f.code,
            format!(
                "{} — stopped; {} enrolments journalled in {}; run the same command again to resume",
                f.message,
                summary.outcomes.iter().map(|o| o.1).sum::<usize>() + summary.failed.len(),
                progress_file.display()
            ),
        )),
        None => Ok(summary),
    }
}

/// A summary as text or JSON.
pub fn summary_text(s: &Summary, as_json: bool) -> String {
    if as_json {
        return serde_json::json!({
            "total": s.total,
            "skipped": s.skipped,
            "outcomes": s.outcomes.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>(),
            "failed": s.failed,
        })
        .to_string()
            + "\n";
    }
    let mut out = format!(
        "{} enrolments in the manifest, {} done in an earlier run\n",
        s.total, s.skipped
    );
    for (k, v) in &s.outcomes {
        out.push_str(&format!("  {k}: {v}\n"));
    }
    if !s.failed.is_empty() {
        out.push_str(&format!("  failed: {}\n", s.failed.len()));
        for f in &s.failed {
            out.push_str(&format!("    {f}\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_groups_and_errors() {
        let dir = std::env::temp_dir().join(format!("daktilo-manifest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let m = dir.join("m.csv");
        std::fs::write(
            &m,
            "subject_ref,encounter_ref,finger,file\nA,e1,right_thumb,a1.png\n\"B,x\",e1,2,b.png\nA,e1,left-index,a7.png\n\n",
        )
        .unwrap();
        let g = read_manifest(&m).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!(
            g[0].fingers,
            vec![(1, dir.join("a1.png")), (7, dir.join("a7.png"))]
        );
        assert_eq!(g[1].subject, "B,x");
        assert_ne!(g[0].request_id(), g[1].request_id());
        std::fs::write(
            &m,
            "subject_ref,encounter_ref,finger,file\nA,e1,thumb,a.png\n",
        )
        .unwrap();
        let e = read_manifest(&m).unwrap_err();
        assert!(e.message.contains("line 2"), "{}", e.message);
        std::fs::write(&m, "a,b\n").unwrap();
        assert!(read_manifest(&m).unwrap_err().message.contains("header"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(split_csv("a,\"b\"\"c\",d").unwrap(), vec!["a", "b\"c", "d"]);
        assert!(split_csv("\"a").is_err());
    }
}
