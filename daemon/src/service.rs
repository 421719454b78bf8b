//! The Daktilo gRPC service: request checks, idempotency, the bounded job queue between
//! tokio and the worker pool, and the mapping of engine results to the contract.
//!
//! Biometric work (extraction, search, matching, gallery writes with their fsyncs) runs on
//! a rayon pool, never on tokio's threads. Each call that needs it takes a slot of a
//! bounded queue first; when none is free the call is refused at once with
//! RESOURCE_EXHAUSTED, so overload sheds work instead of piling it up.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Instant;

use daktilo_engine::gallery::{Gallery, GalleryError, GalleryOptions, NewEntry};
use daktilo_engine::matching;
use daktilo_engine::search::{self, ProbeFinger, SearchOptions, feature::FEATURE_BYTES};
use daktilo_engine::template::native::NativeRecord;
use daktilo_engine::template::{self, FingerPosition, Format, TemplateRecord};
use prost::Message;
use tokio::sync::Semaphore;
use tonic::{Request, Response, Status};

use crate::config::Config;
use crate::metrics::Metrics;
use crate::proto::{self, daktilo_server::Daktilo};
use crate::registry::{
    self, EncounterRecord, FingerRecord, Registry, RegistryError, RequestRecord,
};
use crate::samples::{self, FingerTemplate};

/// Longest reference or request id accepted, bytes.
pub const MAX_REF_LEN: usize = 128;
/// Most candidates one search may return.
pub const MAX_RESULTS: u32 = 1000;
/// Features sampled per gallery segment at start-up to tell whether the gallery needs
/// `--rebuild-features` ([`search::stale_features`]).
const STALE_SAMPLE: usize = 256;

/// A subject for [`Core::import`].
#[derive(Debug, Clone)]
pub struct ImportSubject {
    /// Subject reference.
    pub subject_ref: String,
    /// Encounter reference.
    pub encounter_ref: String,
    /// Its fingers.
    pub fingers: Vec<FingerTemplate>,
}

/// What the service runs on: the gallery, the registry and the worker pool.
pub struct Core {
    gallery: Gallery,
    registry: Registry,
    pool: rayon::ThreadPool,
    queue: Arc<Semaphore>,
    capacity: usize,
    /// Jobs running at once (one per worker).
    running: Semaphore,
    /// Serialises the steps that change the gallery and the registry together.
    commit: Mutex<()>,
    config: Config,
    metrics: Arc<Metrics>,
}

/// Why the core could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    /// The data directory.
    #[error("data directory {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// The gallery.
    #[error(transparent)]
    Gallery(#[from] GalleryError),
    /// The gallery holds another release's search features: what to do about it.
    #[error(
        "{0}: the gallery's features are {1} bytes, not {2} (built by another release); run \
         daktilod once with --rebuild-features and the same settings, then start it again \
         (docs/operations.md, \"Search feature versions\")"
    )]
    OutdatedFeatures(PathBuf, usize, usize),
    /// The registry.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The worker pool.
    #[error("worker pool: {0}")]
    Pool(String),
}

fn internal(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "internal error");
    Status::internal(format!("internal error: {e}"))
}

fn unavailable(e: impl std::fmt::Display) -> Status {
    tracing::error!(error = %e, "storage error");
    Status::unavailable(format!("storage unavailable: {e}"))
}

/// FNV-1a, 64 bits: a stable digest of a request's bytes, to tell a retry from another
/// request under the same id.
fn digest(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

fn check_ref(value: &str, field: &str) -> Result<(), Status> {
    if value.is_empty() {
        return Err(Status::invalid_argument(format!("{field}: required")));
    }
    if value.len() > MAX_REF_LEN {
        return Err(Status::invalid_argument(format!(
            "{field}: {} bytes, at most {MAX_REF_LEN}",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Status::invalid_argument(format!(
            "{field}: control characters are not allowed"
        )));
    }
    Ok(())
}

impl Core {
    /// Opens the data directory (created with owner-only permissions), the gallery and the
    /// registry, and deletes gallery templates that no subject names (left by a crash
    /// between the two stores).
    pub fn open(config: Config, metrics: Arc<Metrics>) -> Result<Core, OpenError> {
        let dir = config.data_dir.clone();
        create_private_dir(&dir).map_err(|e| OpenError::DataDir(dir.clone(), e))?;
        let gallery_dir = config.gallery_dir();
        let gallery = Gallery::open(
            &gallery_dir,
            GalleryOptions {
                feature_len: FEATURE_BYTES,
                ..GalleryOptions::default()
            },
        )
        .map_err(|e| match Gallery::recorded_feature_len(&gallery_dir) {
            // Refused because another release's features are stored: say what to do.
            Ok(Some(found)) if found != FEATURE_BYTES => {
                OpenError::OutdatedFeatures(gallery_dir.clone(), found, FEATURE_BYTES)
            }
            _ => e.into(),
        })?;
        let snapshot = gallery.snapshot();
        let (sampled, stale) = search::stale_features(&snapshot, STALE_SAMPLE);
        if stale > 0 {
            tracing::warn!(
                sampled,
                stale,
                "search features chosen by an older release's rule: searches find fewer \
                 partial prints and plain prints of fingers enrolled rolled until daktilod \
                 is run once with --rebuild-features (docs/operations.md)"
            );
        }
        let registry = Registry::open(&dir.join("registry.redb"))?;
        let known = registry.template_ids()?;
        let mut orphans = Vec::new();
        snapshot.for_each(|e| {
            if !known.contains(&e.id) {
                orphans.push(e.id);
            }
        });
        drop(snapshot);
        if !orphans.is_empty() {
            tracing::warn!(
                templates = orphans.len(),
                "deleting gallery templates of unfinished enrolments"
            );
            gallery.delete(&orphans)?;
        }
        let keep_ms = i64::from(config.request_retention_days) * 86_400_000;
        let pruned = registry.prune_requests(registry::now_ms() - keep_ms)?;
        if pruned > 0 {
            tracing::info!(requests = pruned, "forgot the answers to old requests");
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(config.workers)
            .thread_name(|i| format!("daktilo-worker-{i}"))
            .build()
            .map_err(|e| OpenError::Pool(e.to_string()))?;
        let totals = registry.totals()?;
        metrics.subjects.store(totals.subjects, Ordering::Relaxed);
        metrics
            .templates
            .store(gallery.len() as u64, Ordering::Relaxed);
        Ok(Core {
            gallery,
            registry,
            pool,
            queue: Arc::new(Semaphore::new(config.queue_capacity)),
            capacity: config.queue_capacity,
            running: Semaphore::new(config.workers),
            commit: Mutex::new(()),
            config,
            metrics,
        })
    }

    /// Imports many new subjects at once (one encounter each, templates already
    /// extracted), without de-duplication: one gallery append and one registry
    /// transaction. For migrations of legacy data and for building test galleries; if it
    /// fails part-way, what was appended to the gallery is removed at the next start.
    pub fn import(&self, subjects: Vec<ImportSubject>) -> Result<(), Status> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        let first = self
            .registry
            .allocate_keys(subjects.len() as u64)
            .map_err(unavailable)?;
        for s in &subjects {
            check_ref(&s.subject_ref, "subject_ref")?;
        }
        // Encoding and features in parallel (the import runs outside the job queue).
        let entries: Vec<NewEntry> = {
            use rayon::prelude::*;
            let per_subject: Vec<Vec<NewEntry>> = self.par(|| {
                subjects
                    .par_iter()
                    .enumerate()
                    .map(|(k, s)| {
                        s.fingers
                            .iter()
                            .map(|f| {
                                Ok(NewEntry {
                                    subject: first + k as u64,
                                    finger: f.position,
                                    template: Self::native(f)?,
                                    feature: search::gallery_feature(&f.template),
                                })
                            })
                            .collect::<Result<Vec<_>, Status>>()
                    })
                    .collect::<Result<Vec<_>, Status>>()
            })?;
            per_subject.into_iter().flatten().collect()
        };
        let ids = self.gallery.append(entries).map_err(unavailable)?;
        let mut next = ids.into_iter();
        let now = registry::now_ms();
        let records: Vec<(String, u64, EncounterRecord)> = subjects
            .into_iter()
            .enumerate()
            .map(|(k, s)| {
                let fingers = s
                    .fingers
                    .iter()
                    .map(|f| FingerRecord {
                        position: f.position.code(),
                        impression: f.impression,
                        template_id: next.next().unwrap_or(0),
                        quality: f.quality,
                    })
                    .collect();
                (
                    s.subject_ref,
                    first + k as u64,
                    EncounterRecord {
                        encounter_ref: s.encounter_ref,
                        enrolled_at_ms: now,
                        fingers,
                    },
                )
            })
            .collect();
        self.registry.import(&records).map_err(unavailable)?;
        let templates: usize = records.iter().map(|r| r.2.fingers.len()).sum();
        self.metrics
            .subjects
            .fetch_add(records.len() as u64, Ordering::Relaxed);
        self.metrics
            .templates
            .fetch_add(templates as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Runs `job` if a queue slot is free: it waits (first come, first served) for one
    /// of `workers` run slots, then runs on a blocking thread, with its parallel parts
    /// ([`Core::par`]) on the worker pool.
    ///
    /// The job itself never runs on a pool thread: a pool thread waiting inside a parallel
    /// loop may pick up other queued work, and if that work took a lock the waiting job
    /// holds (the commit lock), the thread would deadlock with itself.
    async fn run<T: Send + 'static>(
        self: &Arc<Self>,
        job: impl FnOnce(&Core) -> Result<T, Status> + Send + 'static,
    ) -> Result<T, Status> {
        let Ok(permit) = self.queue.clone().try_acquire_owned() else {
            self.metrics.shed.fetch_add(1, Ordering::Relaxed);
            return Err(Status::resource_exhausted(format!(
                "the server is busy ({} jobs queued); retry later",
                self.capacity
            )));
        };
        self.metrics.queue_depth.fetch_add(1, Ordering::Relaxed);
        let result = async {
            let _running = self
                .running
                .acquire()
                .await
                .map_err(|_| Status::unavailable("shutting down"))?;
            let core = self.clone();
            tokio::task::spawn_blocking(move || job(&core))
                .await
                .map_err(|e| internal(format!("the job failed: {e}")))?
        }
        .await;
        self.metrics.queue_depth.fetch_sub(1, Ordering::Relaxed);
        drop(permit);
        result
    }

    /// Runs `f` on the worker pool (for lock-free parallel work only: see [`Core::run`]).
    fn par<T: Send>(&self, f: impl FnOnce() -> T + Send) -> T {
        self.pool.install(f)
    }

    fn native(t: &FingerTemplate) -> Result<Vec<u8>, Status> {
        template::encode(&TemplateRecord::single(t.template.clone()), Format::Native)
            .map_err(internal)
    }

    /// The stored answer to an earlier request with this id: `None` if there was none, the
    /// answer if this is a retry with the same content, ALREADY_EXISTS if the id was used
    /// for something else.
    fn answered<T: Message + Default>(
        &self,
        request_id: &str,
        digest: u64,
    ) -> Result<Option<T>, Status> {
        let Some(done) = self.registry.request(request_id).map_err(unavailable)? else {
            return Ok(None);
        };
        if done.digest != digest {
            return Err(Status::already_exists(format!(
                "request_id: {request_id:?} was already used for a different request"
            )));
        }
        T::decode(done.response.as_slice())
            .map(Some)
            .map_err(internal)
    }

    /// The template an enrolled finger's id names, if the gallery still holds it.
    fn enrolled_template(
        snapshot: &daktilo_engine::gallery::Snapshot,
        id: u64,
    ) -> Option<template::Template> {
        let entry = snapshot.get(id)?;
        let record = NativeRecord::parse(entry.template).ok()?;
        record.views().next().map(|v| v.to_template())
    }

    /// Gallery templates of a subject, one per position (the newest encounter's first).
    fn subject_probe(&self, subject: &registry::SubjectRecord) -> Vec<ProbeFinger> {
        let snapshot = self.gallery.snapshot();
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for e in subject.encounters.iter().rev() {
            for f in &e.fingers {
                if f.position != 0 && !seen.insert(f.position) {
                    continue;
                }
                if let Some(template) = Self::enrolled_template(&snapshot, f.template_id) {
                    out.push(ProbeFinger {
                        finger: FingerPosition::from_code(f.position)
                            .unwrap_or(FingerPosition::Unknown),
                        template,
                    });
                }
            }
        }
        out
    }

    /// Candidates with subject references (templates that no subject names are skipped).
    fn candidates(&self, found: Vec<search::Candidate>) -> Result<Vec<proto::Candidate>, Status> {
        let keys: Vec<u64> = found.iter().map(|c| c.subject).collect();
        let refs = self.registry.subject_refs(&keys).map_err(unavailable)?;
        Ok(found
            .into_iter()
            .zip(refs)
            .filter_map(|(c, r)| {
                Some(proto::Candidate {
                    subject_ref: r?,
                    score: c.score,
                    fingers: c
                        .fingers
                        .iter()
                        .map(|f| proto::FingerScore {
                            position: i32::from(f.finger.code()),
                            template_id: f.template_id,
                            score: f.score,
                        })
                        .collect(),
                })
            })
            .collect())
    }

    fn enrol(
        &self,
        request: &proto::EnrolRequest,
        digest: u64,
    ) -> Result<proto::EnrolResponse, Status> {
        let converted = self.par(|| samples::to_templates(&request.samples, "samples"))?;
        let options = request.options.unwrap_or_default();
        let dedup = proto::DedupPolicy::try_from(options.dedup).map_err(|_| {
            Status::invalid_argument(format!("options.dedup: unknown policy {}", options.dedup))
        })?;
        if options.min_quality > 100 {
            return Err(Status::invalid_argument("options.min_quality: at most 100"));
        }
        if !options.dedup_threshold.is_finite() || options.dedup_threshold < 0.0 {
            return Err(Status::invalid_argument(
                "options.dedup_threshold: a score of 0 or more",
            ));
        }
        let mut fingers: Vec<proto::FingerResult> = converted
            .iter()
            .map(|t| proto::FingerResult {
                position: i32::from(t.position.code()),
                quality: u32::from(t.quality),
                minutiae: t.template.minutiae.len() as u32,
                template_id: 0,
                note: String::new(),
            })
            .collect();
        let mut accepted = Vec::new();
        for (t, f) in converted.iter().zip(fingers.iter_mut()) {
            if u32::from(t.quality) < options.min_quality {
                f.note = format!(
                    "quality {} below the minimum {}",
                    t.quality, options.min_quality
                );
            } else if t.template.minutiae.is_empty() {
                f.note = "no minutiae found".into();
            } else if (t.template.minutiae.len() as u64) < u64::from(options.min_minutiae) {
                f.note = format!(
                    "{} minutiae, below the minimum {}",
                    t.template.minutiae.len(),
                    options.min_minutiae
                );
            } else {
                accepted.push(t);
            }
        }
        let mut response = proto::EnrolResponse {
            outcome: proto::EnrolOutcome::Enrolled as i32,
            subject_ref: request.subject_ref.clone(),
            encounter_ref: request.encounter_ref.clone(),
            fingers,
            duplicates: Vec::new(),
        };
        let entries: Vec<(usize, NewEntry)> = converted
            .iter()
            .enumerate()
            .filter(|(_, t)| accepted.iter().any(|a| std::ptr::eq(*a, *t)))
            .map(|(i, t)| {
                Ok((
                    i,
                    NewEntry {
                        subject: 0,
                        finger: t.position,
                        template: Self::native(t)?,
                        feature: search::gallery_feature(&t.template),
                    },
                ))
            })
            .collect::<Result<_, Status>>()?;

        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        // A retry that raced this one may have finished meanwhile.
        if let Some(done) = self.answered(&request.request_id, digest)? {
            return Ok(done);
        }
        let existing = self
            .registry
            .subject(&request.subject_ref)
            .map_err(unavailable)?;
        if let Some(s) = &existing
            && s.encounters
                .iter()
                .any(|e| e.encounter_ref == request.encounter_ref)
        {
            return Err(Status::already_exists(format!(
                "encounter_ref: this encounter of the subject is already enrolled (request {})",
                request.request_id
            )));
        }
        let store_refusal = |response: &proto::EnrolResponse| -> Result<(), Status> {
            self.registry
                .record_request(
                    &request.request_id,
                    &RequestRecord {
                        digest,
                        at_ms: registry::now_ms(),
                        response: response.encode_to_vec(),
                    },
                )
                .map_err(unavailable)
        };
        if entries.is_empty() {
            response.outcome = proto::EnrolOutcome::QualityRejected as i32;
            store_refusal(&response)?;
            return Ok(response);
        }
        if dedup != proto::DedupPolicy::Skip {
            let probe: Vec<ProbeFinger> = accepted
                .iter()
                .map(|t| ProbeFinger {
                    finger: t.position,
                    template: t.template.clone(),
                })
                .collect();
            let snapshot = self.gallery.snapshot();
            let subjects = (self.metrics.subjects.load(Ordering::Relaxed) as usize).max(1);
            let threshold = if options.dedup_threshold > 0.0 {
                options.dedup_threshold
            } else {
                matching::threshold_for_fmr(self.config.dedup_target_fpir / subjects as f64)
            };
            let mut search_options = SearchOptions {
                max_results: 10,
                threshold: Some(threshold),
                shortlist: self.config.shortlist,
                rerank: self.config.rerank,
                rerank_share: self.config.rerank_share,
                ..SearchOptions::default()
            };
            if let Some(s) = &existing {
                search_options.exclude.insert(s.key);
            }
            let found = self
                .par(|| search::search(&snapshot, &probe, &search_options))
                .map_err(|e| Status::invalid_argument(format!("samples: {e}")))?;
            response.duplicates = self.candidates(found)?;
            if !response.duplicates.is_empty() {
                if dedup == proto::DedupPolicy::Flag {
                    response.outcome = proto::EnrolOutcome::EnrolledDuplicateFlagged as i32;
                } else {
                    response.outcome = proto::EnrolOutcome::DuplicateRejected as i32;
                    store_refusal(&response)?;
                    return Ok(response);
                }
            }
        }
        let key = match &existing {
            Some(s) => s.key,
            None => self.registry.allocate_key().map_err(unavailable)?,
        };
        let (indices, mut new): (Vec<usize>, Vec<NewEntry>) = entries.into_iter().unzip();
        for e in &mut new {
            e.subject = key;
        }
        let ids = self.gallery.append(new).map_err(|e| match e {
            GalleryError::NotWritten(m) => {
                Status::resource_exhausted(format!("the gallery cannot store the templates: {m}"))
            }
            other => unavailable(other),
        })?;
        let mut encounter = EncounterRecord {
            encounter_ref: request.encounter_ref.clone(),
            enrolled_at_ms: registry::now_ms(),
            fingers: Vec::new(),
        };
        for (&i, &id) in indices.iter().zip(&ids) {
            response.fingers[i].template_id = id;
            encounter.fingers.push(FingerRecord {
                position: converted[i].position.code(),
                impression: converted[i].impression,
                template_id: id,
                quality: converted[i].quality,
            });
        }
        let record = RequestRecord {
            digest,
            at_ms: registry::now_ms(),
            response: response.encode_to_vec(),
        };
        if let Err(e) = self.registry.commit_enrolment(
            &request.subject_ref,
            key,
            encounter,
            &request.request_id,
            &record,
        ) {
            // Not committed: take the templates back out (a restart would too).
            let _ = self.gallery.delete(&ids);
            return Err(unavailable(e));
        }
        if existing.is_none() {
            self.metrics.subjects.fetch_add(1, Ordering::Relaxed);
        }
        self.metrics
            .templates
            .fetch_add(ids.len() as u64, Ordering::Relaxed);
        Ok(response)
    }

    fn identify(
        &self,
        request: &proto::IdentifyRequest,
    ) -> Result<proto::IdentifyResponse, Status> {
        let mut options = SearchOptions {
            max_results: match request.max_results {
                0 => 20,
                n if n > MAX_RESULTS => {
                    return Err(Status::invalid_argument(format!(
                        "max_results: at most {MAX_RESULTS}"
                    )));
                }
                n => n as usize,
            },
            shortlist: self.config.shortlist,
            rerank: self.config.rerank,
            rerank_share: self.config.rerank_share,
            // A target FPIR is spread over the register's subjects, not its templates.
            population: Some((self.metrics.subjects.load(Ordering::Relaxed) as usize).max(1)),
            ..SearchOptions::default()
        };
        if !request.threshold.is_finite() || request.threshold < 0.0 {
            return Err(Status::invalid_argument("threshold: a score of 0 or more"));
        }
        if request.threshold > 0.0 {
            options.threshold = Some(request.threshold);
        }
        if request.target_fpir != 0.0 {
            if !(request.target_fpir > 0.0 && request.target_fpir < 1.0) {
                return Err(Status::invalid_argument(
                    "target_fpir: between 0 and 1, exclusive",
                ));
            }
            options.target_fpir = Some(request.target_fpir);
        }
        if !request.fingers.is_empty() {
            options.fingers = Some(
                request
                    .fingers
                    .iter()
                    .enumerate()
                    .map(|(i, &p)| samples::position(p, &format!("fingers[{i}]")))
                    .collect::<Result<_, _>>()?,
            );
        }
        if !request.restrict_to_subjects.is_empty() {
            let mut keys = HashSet::new();
            for (i, r) in request.restrict_to_subjects.iter().enumerate() {
                check_ref(r, &format!("restrict_to_subjects[{i}]"))?;
                let s = self
                    .registry
                    .subject(r)
                    .map_err(unavailable)?
                    .ok_or_else(|| {
                        Status::not_found(format!("restrict_to_subjects[{i}]: no such subject"))
                    })?;
                keys.insert(s.key);
            }
            options.subjects = Some(keys);
        }
        let mut probe_fingers = Vec::new();
        let probe: Vec<ProbeFinger> = match &request.probe {
            None => {
                return Err(Status::invalid_argument(
                    "probe: give samples or a subject_ref",
                ));
            }
            Some(proto::identify_request::Probe::Samples(p)) => {
                let converted =
                    self.par(|| samples::to_templates(&p.samples, "samples.samples"))?;
                probe_fingers = finger_results(&converted);
                converted
                    .into_iter()
                    .filter(|t| !t.template.minutiae.is_empty())
                    .map(|t| ProbeFinger {
                        finger: t.position,
                        template: t.template,
                    })
                    .collect()
            }
            Some(proto::identify_request::Probe::SubjectRef(r)) => {
                check_ref(r, "subject_ref")?;
                let s = self
                    .registry
                    .subject(r)
                    .map_err(unavailable)?
                    .ok_or_else(|| Status::not_found("subject_ref: no such subject"))?;
                options.exclude.insert(s.key);
                self.subject_probe(&s)
            }
        };
        if probe.is_empty() {
            return Err(Status::failed_precondition(
                "probe: no finger has usable minutiae",
            ));
        }
        let snapshot = self.gallery.snapshot();
        let found = match self.par(|| search::search(&snapshot, &probe, &options)) {
            Ok(found) => found,
            Err(search::SearchError::NoFinger) => {
                return Err(Status::invalid_argument(
                    "fingers: none of the probe's fingers is selected",
                ));
            }
            Err(e) => return Err(Status::invalid_argument(format!("probe: {e}"))),
        };
        let subjects = snapshot.len().max(1);
        let mut threshold = options.threshold.unwrap_or(0.0);
        if let Some(fpir) = options.target_fpir {
            threshold = threshold.max(matching::threshold_for_fmr(fpir / subjects as f64));
        }
        Ok(proto::IdentifyResponse {
            candidates: self.candidates(found)?,
            probe_fingers,
            threshold,
        })
    }

    fn verify(&self, request: &proto::VerifyRequest) -> Result<proto::VerifyResponse, Status> {
        check_ref(&request.subject_ref, "subject_ref")?;
        let fmr = if request.fmr == 0.0 {
            1e-4
        } else {
            request.fmr
        };
        if !(fmr > 0.0 && fmr < 1.0) {
            return Err(Status::invalid_argument("fmr: between 0 and 1, exclusive"));
        }
        let subject = self
            .registry
            .subject(&request.subject_ref)
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found("subject_ref: no such subject"))?;
        let converted = self.par(|| samples::to_templates(&request.samples, "samples"))?;
        let snapshot = self.gallery.snapshot();
        // Prepared enrolled templates with their positions.
        let mut enrolled = Vec::new();
        for e in &subject.encounters {
            for f in &e.fingers {
                if let Some(t) = Self::enrolled_template(&snapshot, f.template_id)
                    && let Ok(p) = matching::prepare(&t)
                {
                    enrolled.push((f.position, f.template_id, p));
                }
            }
        }
        let mut scores = Vec::new();
        for t in converted.iter().filter(|t| !t.template.minutiae.is_empty()) {
            let Ok(probe) = matching::prepare(&t.template) else {
                continue;
            };
            let code = t.position.code();
            let best = enrolled
                .iter()
                .filter(|(p, _, _)| code == 0 || *p == 0 || *p == code)
                .map(|(_, id, c)| (*id, matching::compare(&probe, c)))
                .max_by(|a, b| a.1.total_cmp(&b.1));
            if let Some((template_id, score)) = best {
                scores.push(proto::FingerScore {
                    position: i32::from(code),
                    template_id,
                    score,
                });
            }
        }
        if scores.is_empty() {
            return Err(Status::failed_precondition(
                "samples: no finger with usable minutiae has an enrolled finger to compare with",
            ));
        }
        let fused = search::fuse(
            &scores.iter().map(|s| s.score).collect::<Vec<_>>(),
            scores.len(),
        );
        let threshold = matching::threshold_for_fmr(fmr);
        Ok(proto::VerifyResponse {
            r#match: fused >= threshold,
            score: fused,
            threshold,
            fingers: scores,
            probe_fingers: finger_results(&converted),
        })
    }

    fn delete(
        &self,
        request: &proto::DeleteRequest,
        digest: u64,
    ) -> Result<proto::DeleteResponse, Status> {
        let _guard = self.commit.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(done) = self.answered(&request.request_id, digest)? {
            return Ok(done);
        }
        let subject = self
            .registry
            .subject(&request.subject_ref)
            .map_err(unavailable)?
            .ok_or_else(|| Status::not_found("subject_ref: no such subject"))?;
        let ids = subject.template_ids();
        let response = proto::DeleteResponse {
            templates_deleted: ids.len() as u32,
        };
        let record = RequestRecord {
            digest,
            at_ms: registry::now_ms(),
            response: response.encode_to_vec(),
        };
        self.registry
            .delete_subject(
                &request.subject_ref,
                request.reason as u8,
                &request.request_id,
                &record,
            )
            .map_err(unavailable)?;
        self.metrics.subjects.fetch_sub(1, Ordering::Relaxed);
        // The registry no longer names them, so searches skip them already; a failure here
        // is repaired when the service next starts.
        match self.gallery.delete(&ids) {
            Ok(()) => {
                self.metrics
                    .templates
                    .fetch_sub(ids.len() as u64, Ordering::Relaxed);
            }
            Err(e) => tracing::error!(error = %e, "deleting templates; repaired at next start"),
        }
        Ok(response)
    }

    fn stats(&self) -> Result<proto::StatsResponse, Status> {
        let totals = self.registry.totals().map_err(unavailable)?;
        Ok(proto::StatsResponse {
            subjects: totals.subjects,
            encounters: totals.encounters,
            templates: totals.templates,
            per_position: totals
                .per_position
                .iter()
                .enumerate()
                .filter(|(_, n)| **n > 0)
                .map(|(p, &n)| proto::PositionCount {
                    position: p as i32,
                    templates: n,
                })
                .collect(),
            queue_depth: self.metrics.queue_depth.load(Ordering::Relaxed) as u32,
            queue_capacity: self.capacity as u32,
            eurodac_pending: 0,
            gallery_templates: self.gallery.len() as u64,
        })
    }
}

fn finger_results(converted: &[FingerTemplate]) -> Vec<proto::FingerResult> {
    converted
        .iter()
        .map(|t| proto::FingerResult {
            position: i32::from(t.position.code()),
            quality: u32::from(t.quality),
            minutiae: t.template.minutiae.len() as u32,
            template_id: 0,
            note: if t.template.minutiae.is_empty() {
                "no minutiae found".into()
            } else {
                String::new()
            },
        })
        .collect()
}

/// Creates a directory readable by its owner only (and its parents).
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(())
}

/// The gRPC service. It answers UNAVAILABLE until the core is loaded.
#[derive(Clone)]
pub struct Service {
    core: Arc<OnceLock<Arc<Core>>>,
    metrics: Arc<Metrics>,
}

impl Service {
    /// A service whose core is set later (by [`Service::set_core`]).
    pub fn new(metrics: Arc<Metrics>) -> Self {
        Self {
            core: Arc::new(OnceLock::new()),
            metrics,
        }
    }

    /// Makes the service answer with this core.
    pub fn set_core(&self, core: Arc<Core>) {
        let _ = self.core.set(core);
    }

    fn core(&self) -> Result<Arc<Core>, Status> {
        self.core
            .get()
            .cloned()
            .ok_or_else(|| Status::unavailable("the gallery is still loading; retry shortly"))
    }

    /// Times a call, counts it, and logs it (method, request id, code; nothing personal).
    async fn observe<T>(
        &self,
        method: usize,
        request_id: &str,
        work: impl std::future::Future<Output = Result<T, Status>>,
    ) -> Result<Response<T>, Status> {
        let started = Instant::now();
        let result = work.await;
        let seconds = started.elapsed().as_secs_f64();
        let code = match &result {
            Ok(_) => tonic::Code::Ok,
            Err(s) => s.code(),
        };
        self.metrics.observe(method, code, seconds);
        let method = crate::metrics::METHODS[method];
        let ms = seconds * 1e3;
        if code == tonic::Code::Ok {
            tracing::info!(method, request_id, ms, "ok");
        } else {
            tracing::info!(method, request_id, ms, code = ?code, "refused");
        }
        result.map(Response::new)
    }
}

#[tonic::async_trait]
impl Daktilo for Service {
    async fn enrol(
        &self,
        request: Request<proto::EnrolRequest>,
    ) -> Result<Response<proto::EnrolResponse>, Status> {
        let request = request.into_inner();
        let id = request.request_id.clone();
        self.observe(0, &id, async {
            check_ref(&request.request_id, "request_id")?;
            check_ref(&request.subject_ref, "subject_ref")?;
            check_ref(&request.encounter_ref, "encounter_ref")?;
            samples::check_samples(&request.samples, "samples")?;
            let core = self.core()?;
            let digest = digest(&request.encode_to_vec());
            if let Some(done) = core.answered(&request.request_id, digest)? {
                return Ok(done);
            }
            core.run(move |c| c.enrol(&request, digest)).await
        })
        .await
    }

    async fn identify(
        &self,
        request: Request<proto::IdentifyRequest>,
    ) -> Result<Response<proto::IdentifyResponse>, Status> {
        let request = request.into_inner();
        self.observe(1, "", async {
            let core = self.core()?;
            core.run(move |c| c.identify(&request)).await
        })
        .await
    }

    async fn verify(
        &self,
        request: Request<proto::VerifyRequest>,
    ) -> Result<Response<proto::VerifyResponse>, Status> {
        let request = request.into_inner();
        self.observe(2, "", async {
            samples::check_samples(&request.samples, "samples")?;
            let core = self.core()?;
            core.run(move |c| c.verify(&request)).await
        })
        .await
    }

    async fn delete(
        &self,
        request: Request<proto::DeleteRequest>,
    ) -> Result<Response<proto::DeleteResponse>, Status> {
        let request = request.into_inner();
        let id = request.request_id.clone();
        self.observe(3, &id, async {
            check_ref(&request.request_id, "request_id")?;
            check_ref(&request.subject_ref, "subject_ref")?;
            match proto::DeletionReason::try_from(request.reason) {
                Ok(proto::DeletionReason::Unspecified) => {
                    return Err(Status::invalid_argument(
                        "reason: required (erasure, retention expired, duplicate, correction)",
                    ));
                }
                Err(_) => {
                    return Err(Status::invalid_argument(format!(
                        "reason: unknown reason {}",
                        request.reason
                    )));
                }
                Ok(_) => {}
            }
            let core = self.core()?;
            let digest = digest(&request.encode_to_vec());
            // A retry is answered without taking a queue slot, as for Enrol.
            if let Some(done) = core.answered(&request.request_id, digest)? {
                return Ok(done);
            }
            core.run(move |c| c.delete(&request, digest)).await
        })
        .await
    }

    async fn get_subject(
        &self,
        request: Request<proto::GetSubjectRequest>,
    ) -> Result<Response<proto::Subject>, Status> {
        let request = request.into_inner();
        self.observe(4, "", async {
            check_ref(&request.subject_ref, "subject_ref")?;
            let core = self.core()?;
            let s = core
                .registry
                .subject(&request.subject_ref)
                .map_err(unavailable)?
                .ok_or_else(|| Status::not_found("subject_ref: no such subject"))?;
            Ok(proto::Subject {
                subject_ref: request.subject_ref.clone(),
                encounters: s
                    .encounters
                    .iter()
                    .map(|e| proto::Encounter {
                        encounter_ref: e.encounter_ref.clone(),
                        enrolled_at_ms: e.enrolled_at_ms,
                        fingers: e
                            .fingers
                            .iter()
                            .map(|f| proto::EnrolledFinger {
                                position: i32::from(f.position),
                                impression: i32::from(f.impression),
                                template_id: f.template_id,
                                quality: u32::from(f.quality),
                            })
                            .collect(),
                    })
                    .collect(),
            })
        })
        .await
    }

    async fn stats(
        &self,
        _request: Request<proto::StatsRequest>,
    ) -> Result<Response<proto::StatsResponse>, Status> {
        self.observe(5, "", async { self.core()?.stats() }).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_no_subject_names_are_deleted_at_open() {
        let dir = std::env::temp_dir().join(format!("daktilo-core-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let config = Config {
            data_dir: dir.clone(),
            ..Config::default()
        }
        .resolve()
        .unwrap();
        let metrics = Arc::new(Metrics::default());
        {
            let core = Core::open(config.clone(), metrics.clone()).unwrap();
            // An enrolment that crashed after its gallery append, before its registry
            // commit: the template is in the gallery, no subject names it.
            let mut t = template::Template::new(300, 300);
            t.minutiae.push(template::Minutia {
                x: 100,
                y: 100,
                direction: 10,
                kind: template::MinutiaKind::Ending,
                quality: 50,
            });
            let ids = core
                .gallery
                .append(vec![NewEntry {
                    subject: 7,
                    finger: FingerPosition::RightIndex,
                    template: template::encode(&TemplateRecord::single(t.clone()), Format::Native)
                        .unwrap(),
                    feature: search::gallery_feature(&t),
                }])
                .unwrap();
            assert!(core.gallery.snapshot().contains(ids[0]));
            assert_eq!(core.stats().unwrap().gallery_templates, 1);
        }
        let core = Core::open(config, metrics).unwrap();
        let stats = core.stats().unwrap();
        assert_eq!((stats.templates, stats.gallery_templates), (0, 0));
        drop(core);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
