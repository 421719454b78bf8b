//! The gallery: the enrolled templates a search runs over, on disk.
//!
//! A gallery is a directory of immutable, memory-mapped segment files ([`segment`]), a
//! write-ahead log ([`wal`]) and a manifest naming them ([`manifest`]) — the shape search
//! engines keep their indexes in. Appends and deletes go to the log and are acknowledged
//! only once synced (concurrent callers share one sync: group commit); they are served at
//! once from memory. When the log holds enough entries they are flushed into a new
//! segment. Deletes are tombstones that searches honour at once; compaction merges the
//! segments and drops deleted data. Opening a gallery maps its segments — after checking
//! their checksums — and replays the log; nothing is deserialised.
//!
//! Files are created readable and writable by their owner only: they hold biometric data.

pub mod manifest;
pub mod segment;
pub mod wal;

use std::collections::HashSet;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use crate::template::FingerPosition;
use crate::template::native::NativeRecord;
use manifest::Manifest;
use segment::Segment;
use wal::{Op, Wal};

/// Why a gallery operation failed.
#[derive(Debug, thiserror::Error)]
pub enum GalleryError {
    /// A file could not be read or written (a full disk among them).
    #[error("gallery I/O error: {0}")]
    Io(#[from] std::io::Error),
    /// A file's contents fail their checks; it is never served.
    #[error("{file} is corrupt: {what}")]
    Corrupt {
        /// The file.
        file: String,
        /// What is wrong.
        what: String,
    },
    /// The directory is not a gallery (and not empty, so none is created there).
    #[error("{0} is not a Daktilo gallery (no MANIFEST, and not empty)")]
    NotAGallery(String),
    /// Another process has the gallery open.
    #[error("the gallery in {0} is in use by another process")]
    Locked(String),
    /// An input was refused.
    #[error("invalid gallery input: {0}")]
    Invalid(String),
    /// No live template has this id.
    #[error("no template with id {0}")]
    NotFound(u64),
    /// The batch could not be written to the log (a full disk, an I/O error); nothing of
    /// it was kept.
    #[error("not written to the gallery log: {0}")]
    NotWritten(String),
}

/// How many times (10 ms apart) opening retries a gallery that another holder locks.
const LOCK_RETRIES: u32 = 50;

/// Opening options.
#[derive(Debug, Clone)]
pub struct GalleryOptions {
    /// Length of each entry's search feature, bytes. Fixed when the gallery is created.
    pub feature_len: usize,
    /// Flush the log into a new segment once it holds this many entries.
    pub flush_entries: usize,
    /// Create the gallery if the directory is missing or empty.
    pub create: bool,
}

impl Default for GalleryOptions {
    fn default() -> Self {
        Self {
            feature_len: 0,
            flush_entries: 65_536,
            create: true,
        }
    }
}

/// A template to add.
#[derive(Debug, Clone)]
pub struct NewEntry {
    /// The subject it belongs to.
    pub subject: u64,
    /// Its finger position.
    pub finger: FingerPosition,
    /// The template, in the native format (one view).
    pub template: Vec<u8>,
    /// Its search feature: one to [`MAX_ROWS`] rows of the gallery's feature length, back
    /// to back (`search::gallery_feature`: a large template has rows about several
    /// centres). Each row is scanned; all lead to this one template.
    pub feature: Vec<u8>,
}

/// The most stage-1 rows one entry may have.
pub const MAX_ROWS: usize = 8;

/// How many stage-1 rows of `feature_len` bytes a feature of `len` bytes holds, where it
/// is 1 to [`MAX_ROWS`] whole rows (a gallery of 0-byte features: the empty feature, one
/// row); `None` otherwise.
pub(crate) fn whole_rows(len: usize, feature_len: usize) -> Option<usize> {
    let rows = if feature_len == 0 {
        usize::from(len == 0)
    } else if len.is_multiple_of(feature_len) {
        len / feature_len
    } else {
        0
    };
    (1..=MAX_ROWS).contains(&rows).then_some(rows)
}

/// An entry held in memory until the next flush (and as the log writes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemEntry {
    /// Template id.
    pub id: u64,
    /// Subject key.
    pub subject: u64,
    /// Finger position code.
    pub finger: u8,
    /// Search feature (its first row).
    pub feature: Vec<u8>,
    /// Its further rows, back to back (none for most templates).
    pub extra: Vec<u8>,
    /// Native template.
    pub template: Vec<u8>,
}

impl MemEntry {
    /// The entry as a reference, like a segment's.
    pub fn as_ref(&self) -> EntryRef<'_> {
        EntryRef {
            id: self.id,
            subject: self.subject,
            finger: self.finger,
            feature: &self.feature,
            extra: &self.extra,
            template: &self.template,
        }
    }

    /// Splits a feature of several rows (as the log holds it) into the first row and the
    /// further ones, `feature_len` bytes each; `Err` with what is wrong where it is not one
    /// to [`MAX_ROWS`] whole rows.
    fn split_rows(&mut self, feature_len: usize) -> Result<(), String> {
        let len = self.feature.len() + self.extra.len();
        if whole_rows(len, feature_len).is_none() {
            return Err(format!(
                "a feature of {len} bytes: not 1 to {MAX_ROWS} rows of {feature_len}"
            ));
        }
        let mut all = std::mem::take(&mut self.feature);
        all.append(&mut self.extra);
        self.extra = all.split_off(feature_len);
        self.feature = all;
        Ok(())
    }
}

/// A consistent view of the gallery for searching: what was acknowledged when it was
/// taken, unaffected by later changes.
#[derive(Clone)]
pub struct Snapshot {
    /// The segments.
    pub segments: Vec<Arc<Segment>>,
    /// Entries not yet in a segment, in batches.
    pub memtable: Vec<Arc<Vec<MemEntry>>>,
    /// Deleted ids still physically present.
    pub tombstones: Arc<HashSet<u64>>,
}

/// A reference to one entry (of a segment or of the in-memory table).
#[derive(Debug, Clone, Copy)]
pub struct EntryRef<'a> {
    /// Template id.
    pub id: u64,
    /// Subject key.
    pub subject: u64,
    /// Finger position code.
    pub finger: u8,
    /// Search feature (its first row).
    pub feature: &'a [u8],
    /// Its further rows, back to back (empty for most templates).
    pub extra: &'a [u8],
    /// Native template.
    pub template: &'a [u8],
}

impl Snapshot {
    /// Number of live entries.
    pub fn len(&self) -> usize {
        let all: usize = self.segments.iter().map(|s| s.len()).sum::<usize>()
            + self.memtable.iter().map(|c| c.len()).sum::<usize>();
        all - self.tombstones.len()
    }

    /// Entries with the finger position code `finger` (any position: `None`), deleted ones
    /// not yet compacted away included: what a search with such a probe finger scans.
    pub fn count_of_finger(&self, finger: Option<u8>) -> usize {
        let mem = self.memtable.iter().flat_map(|c| c.iter());
        match finger {
            Some(code) => {
                self.segments
                    .iter()
                    .map(|s| s.count_of_finger(code))
                    .sum::<usize>()
                    + mem.filter(|e| e.finger == code).count()
            }
            None => self.segments.iter().map(|s| s.len()).sum::<usize>() + mem.count(),
        }
    }

    /// Whether there is no live entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every live entry, segments first, in id order.
    pub fn live(&self) -> impl Iterator<Item = EntryRef<'_>> {
        let segments = self
            .segments
            .iter()
            .flat_map(|s| (0..s.len()).map(move |i| s.entry(i)));
        let memtable = self
            .memtable
            .iter()
            .flat_map(|chunk| chunk.iter().map(MemEntry::as_ref));
        segments
            .chain(memtable)
            .filter(|e| !self.tombstones.contains(&e.id))
    }

    /// Calls `f` for every live entry, segments first, in id order.
    pub fn for_each(&self, f: impl FnMut(EntryRef<'_>)) {
        self.live().for_each(f)
    }

    /// Whether `id` is live.
    pub fn contains(&self, id: u64) -> bool {
        self.get(id).is_some()
    }

    /// The live entry with this id.
    pub fn get(&self, id: u64) -> Option<EntryRef<'_>> {
        if self.tombstones.contains(&id) {
            return None;
        }
        // Ids rise through each segment and the memtable: binary searches.
        for s in &self.segments {
            if let Some(i) = binary_search(s.len(), |i| s.id(i), id) {
                return Some(s.entry(i));
            }
        }
        self.memtable.iter().find_map(|c| {
            c.binary_search_by_key(&id, |e| e.id)
                .ok()
                .map(|i| c[i].as_ref())
        })
    }
}

fn binary_search(len: usize, at: impl Fn(usize) -> u64, id: u64) -> Option<usize> {
    let (mut lo, mut hi) = (0, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match at(mid).cmp(&id) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

struct State {
    snapshot: Snapshot,
    memtable_entries: usize,
}

/// Commits waiting for the log, and the results of finished ones.
#[derive(Default)]
struct CommitQueue {
    next_ticket: u64,
    pending: Vec<(u64, Vec<Op>)>,
    /// Highest ticket whose batch has been written (successfully or not).
    finished: u64,
    failures: Vec<(u64, String)>,
    busy: bool,
}

/// An open gallery. Share it between threads (`Arc<Gallery>`).
pub struct Gallery {
    dir: PathBuf,
    _lock: File,
    options: GalleryOptions,
    state: RwLock<State>,
    manifest: Mutex<Manifest>,
    wal: Mutex<Wal>,
    queue: Mutex<CommitQueue>,
    committed: Condvar,
    next_id: Mutex<u64>,
}

/// Creates a file that only its owner can read and write.
pub(crate) fn create_private(path: &Path) -> Result<File, GalleryError> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    Ok(o.open(path)?)
}

/// Reads a whole regular file of at most `max` bytes: a device or a runaway file in the
/// gallery directory is refused instead of read without end.
pub(crate) fn read_file(path: &Path, max: u64) -> Result<Vec<u8>, GalleryError> {
    use std::io::Read;
    let file = File::open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() || meta.len() > max {
        return Err(GalleryError::Corrupt {
            file: path.display().to_string(),
            what: format!("not a regular file of at most {max} bytes"),
        });
    }
    let mut data = Vec::with_capacity(meta.len() as usize);
    file.take(max).read_to_end(&mut data)?;
    Ok(data)
}

/// Syncs a directory, so that renames and new files in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), GalleryError> {
    File::open(dir)?.sync_all()?;
    Ok(())
}

fn file_name(kind: &str, generation: u64) -> String {
    let ext = match kind {
        "seg" => "dks",
        "tomb" => "del",
        _ => "log",
    };
    format!("{kind}-{generation:010}.{ext}")
}

fn read_tombstones(path: &Path) -> Result<HashSet<u64>, GalleryError> {
    let b = read_file(path, 1 << 32)?;
    let corrupt = |what: &str| GalleryError::Corrupt {
        file: path.display().to_string(),
        what: what.into(),
    };
    if b.len() < 20 || &b[..8] != b"DKTMB001" {
        return Err(corrupt("not a tombstone file"));
    }
    let (body, crc) = b.split_at(b.len() - 4);
    if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
        return Err(corrupt("checksum mismatch"));
    }
    let n = u64::from_le_bytes(b[8..16].try_into().expect("8 bytes")) as usize;
    if n.checked_mul(8).and_then(|x| x.checked_add(20)) != Some(b.len()) {
        return Err(corrupt("length does not match its count"));
    }
    Ok((0..n)
        .map(|k| u64::from_le_bytes(b[16 + 8 * k..24 + 8 * k].try_into().expect("8 bytes")))
        .collect())
}

fn write_tombstones(path: &Path, ids: &HashSet<u64>) -> Result<(), GalleryError> {
    use std::io::Write;
    let mut sorted: Vec<u64> = ids.iter().copied().collect();
    sorted.sort_unstable();
    let mut b = Vec::with_capacity(20 + 8 * sorted.len());
    b.extend_from_slice(b"DKTMB001");
    b.extend_from_slice(&(sorted.len() as u64).to_le_bytes());
    for id in sorted {
        b.extend_from_slice(&id.to_le_bytes());
    }
    let crc = crc32fast::hash(&b);
    b.extend_from_slice(&crc.to_le_bytes());
    let mut f = create_private(path)?;
    f.write_all(&b)?;
    f.sync_all()?;
    Ok(())
}

/// Removes files of this gallery's kinds that the manifest does not name.
fn remove_leftovers(dir: &Path, m: &Manifest) -> Result<(), GalleryError> {
    let mut keep: HashSet<String> = m.segments.iter().map(|&g| file_name("seg", g)).collect();
    keep.insert(file_name("wal", m.wal));
    if m.tombstones != 0 {
        keep.insert(file_name("tomb", m.tombstones));
    }
    for entry in std::fs::read_dir(dir)? {
        let name = entry?.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("seg-")
            || name.starts_with("tomb-")
            || name.starts_with("wal-")
            || name == "MANIFEST.tmp";
        if ours && !keep.contains(&name) {
            std::fs::remove_file(dir.join(&name))?;
        }
    }
    Ok(())
}

impl Gallery {
    /// Opens (or, with `options.create`, creates) the gallery in `dir`.
    pub fn open(dir: &Path, options: GalleryOptions) -> Result<Gallery, GalleryError> {
        let shown = dir.display().to_string();
        if !dir.exists() {
            if !options.create {
                return Err(GalleryError::NotAGallery(shown));
            }
            let mut b = std::fs::DirBuilder::new();
            b.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
            b.create(dir)?;
        }
        if !dir.is_dir() {
            return Err(GalleryError::NotAGallery(shown));
        }
        let mut lock_options = std::fs::OpenOptions::new();
        lock_options.create(true).truncate(false).write(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut lock_options, 0o600);
        let lock = lock_options.open(dir.join("LOCK"))?;
        // A lock can outlive its holder for a moment: a process that is exiting, or a
        // child forked (and not yet exec'd) while the holder closed the gallery. Wait a
        // little before calling the gallery busy.
        let mut tries = 0;
        while lock.try_lock().is_err() {
            tries += 1;
            if tries > LOCK_RETRIES {
                return Err(GalleryError::Locked(shown));
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let manifest = if dir.join(manifest::FILE).exists() {
            Manifest::read(dir)?
        } else {
            let foreign = std::fs::read_dir(dir)?
                .filter_map(|e| e.ok())
                .any(|e| e.file_name() != "LOCK");
            if foreign || !options.create {
                return Err(GalleryError::NotAGallery(shown));
            }
            let m = Manifest {
                next_generation: 2,
                next_id: 1,
                feature_len: u32::try_from(options.feature_len)
                    .map_err(|_| GalleryError::Invalid("feature length".into()))?,
                wal: 1,
                tombstones: 0,
                segments: Vec::new(),
            };
            Wal::create(&dir.join(file_name("wal", 1)), 1)?;
            m.write(dir)?;
            m
        };
        if manifest.feature_len as usize != options.feature_len {
            return Err(GalleryError::Invalid(format!(
                "the gallery's features are {} bytes, not {}",
                manifest.feature_len, options.feature_len
            )));
        }
        remove_leftovers(dir, &manifest)?;
        let mut segments = Vec::with_capacity(manifest.segments.len());
        for &g in &manifest.segments {
            let s = Segment::open(&dir.join(file_name("seg", g)))?;
            if s.feature_len() != options.feature_len {
                return Err(GalleryError::Corrupt {
                    file: s.name.clone(),
                    what: "feature length differs from the manifest's".into(),
                });
            }
            segments.push(Arc::new(s));
        }
        let mut tombstones = if manifest.tombstones != 0 {
            read_tombstones(&dir.join(file_name("tomb", manifest.tombstones)))?
        } else {
            HashSet::new()
        };
        let (wal, replay) = Wal::open(&dir.join(file_name("wal", manifest.wal)))?;
        let mut memtable = Vec::new();
        let mut next_id = manifest.next_id;
        for op in replay.ops {
            match op {
                Op::Append(mut entry) => {
                    // The log holds an entry's rows back to back.
                    entry.split_rows(options.feature_len).map_err(|what| {
                        GalleryError::Corrupt {
                            file: file_name("wal", manifest.wal),
                            what: format!("entry {}: {what}", entry.id),
                        }
                    })?;
                    next_id = next_id.max(entry.id + 1);
                    memtable.push(entry);
                }
                Op::Delete { id } => {
                    // A delete whose entry compaction already dropped stays dropped: the
                    // tombstones only ever name entries that are still there, so that
                    // counts stay right.
                    let present = segments
                        .iter()
                        .any(|s: &Arc<Segment>| binary_search(s.len(), |i| s.id(i), id).is_some())
                        || memtable.iter().any(|e: &MemEntry| e.id == id);
                    if present {
                        tombstones.insert(id);
                    }
                }
            }
        }
        let memtable_entries = memtable.len();
        let snapshot = Snapshot {
            segments,
            memtable: if memtable.is_empty() {
                Vec::new()
            } else {
                vec![Arc::new(memtable)]
            },
            tombstones: Arc::new(tombstones),
        };
        Ok(Gallery {
            dir: dir.to_path_buf(),
            _lock: lock,
            options,
            state: RwLock::new(State {
                snapshot,
                memtable_entries,
            }),
            manifest: Mutex::new(manifest),
            wal: Mutex::new(wal),
            queue: Mutex::new(CommitQueue::default()),
            committed: Condvar::new(),
            next_id: Mutex::new(next_id),
        })
    }

    /// A consistent view for searching.
    pub fn snapshot(&self) -> Snapshot {
        self.state
            .read()
            .expect("gallery state lock")
            .snapshot
            .clone()
    }

    /// Number of live templates.
    pub fn len(&self) -> usize {
        self.state
            .read()
            .expect("gallery state lock")
            .snapshot
            .len()
    }

    /// Whether the gallery holds no live template.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The gallery's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Adds templates; returns their ids once they are durable.
    pub fn append(&self, entries: Vec<NewEntry>) -> Result<Vec<u64>, GalleryError> {
        for (k, e) in entries.iter().enumerate() {
            let fl = self.options.feature_len;
            if whole_rows(e.feature.len(), fl).is_none() {
                return Err(GalleryError::Invalid(format!(
                    "entry {k}: feature of {} bytes, the gallery uses 1 to {MAX_ROWS} rows of {fl}",
                    e.feature.len(),
                )));
            }
            let record = NativeRecord::parse(&e.template)
                .map_err(|err| GalleryError::Invalid(format!("entry {k}: template: {err}")))?;
            if record.len() != e.template.len() {
                return Err(GalleryError::Invalid(format!(
                    "entry {k}: bytes after the template"
                )));
            }
        }
        let ops: Vec<Op> = {
            let mut next = self.next_id.lock().expect("id lock");
            entries
                .into_iter()
                .map(|e| {
                    let id = *next;
                    *next += 1;
                    let mut feature = e.feature;
                    let extra = feature.split_off(self.options.feature_len);
                    Op::Append(MemEntry {
                        id,
                        subject: e.subject,
                        finger: e.finger.code(),
                        feature,
                        extra,
                        template: e.template,
                    })
                })
                .collect()
        };
        let ids = ops
            .iter()
            .map(|op| match op {
                Op::Append(e) => e.id,
                Op::Delete { id } => *id,
            })
            .collect();
        self.commit(ops)?;
        self.flush_if_full()?;
        Ok(ids)
    }

    /// Deletes templates; searches stop returning them at once. Unknown or already deleted
    /// ids are refused (nothing is deleted then).
    pub fn delete(&self, ids: &[u64]) -> Result<(), GalleryError> {
        let snapshot = self.snapshot();
        if let Some(&missing) = ids.iter().find(|&&id| !snapshot.contains(id)) {
            return Err(GalleryError::NotFound(missing));
        }
        self.commit(ids.iter().map(|&id| Op::Delete { id }).collect())
    }

    /// Writes operations to the log with group commit, then applies them.
    fn commit(&self, ops: Vec<Op>) -> Result<(), GalleryError> {
        let mut q = self.queue.lock().expect("commit queue");
        q.next_ticket += 1;
        let ticket = q.next_ticket;
        q.pending.push((ticket, ops));
        loop {
            if q.finished >= ticket {
                return match q.failures.iter().find(|(t, _)| *t == ticket) {
                    Some((_, why)) => Err(GalleryError::NotWritten(why.clone())),
                    None => Ok(()),
                };
            }
            if q.busy {
                q = self.committed.wait(q).expect("commit queue");
                continue;
            }
            // Lead: write everything pending in one sync.
            q.busy = true;
            let batch = std::mem::take(&mut q.pending);
            drop(q);
            let last = batch.last().map(|(t, _)| *t).unwrap_or(ticket);
            let tickets: Vec<u64> = batch.iter().map(|(t, _)| *t).collect();
            let all: Vec<Op> = batch.into_iter().flat_map(|(_, ops)| ops).collect();
            let result = {
                // Applied while the log is still held: a flush (which holds the log while
                // it moves the in-memory entries into a segment and starts a new log)
                // then sees these entries either in memory or in its new log, never in
                // neither.
                let mut wal = self.wal.lock().expect("wal lock");
                let written = wal.append(&all);
                if written.is_ok() {
                    self.apply(all);
                }
                written
            };
            q = self.queue.lock().expect("commit queue");
            q.busy = false;
            q.finished = last;
            if let Err(e) = result {
                let why = e.to_string();
                q.failures.retain(|(t, _)| *t + 1024 > last);
                for t in tickets {
                    q.failures.push((t, why.clone()));
                }
            }
            self.committed.notify_all();
        }
    }

    fn apply(&self, ops: Vec<Op>) {
        let mut state = self.state.write().expect("gallery state lock");
        let mut added = Vec::new();
        let mut deleted = Vec::new();
        for op in ops {
            match op {
                Op::Append(e) => added.push(e),
                Op::Delete { id } => deleted.push(id),
            }
        }
        if !added.is_empty() {
            state.memtable_entries += added.len();
            state.snapshot.memtable.push(Arc::new(added));
        }
        if !deleted.is_empty() {
            let mut t = (*state.snapshot.tombstones).clone();
            t.extend(deleted);
            state.snapshot.tombstones = Arc::new(t);
        }
    }

    fn flush_if_full(&self) -> Result<(), GalleryError> {
        let full = self
            .state
            .read()
            .expect("gallery state lock")
            .memtable_entries
            >= self.options.flush_entries;
        if full { self.flush() } else { Ok(()) }
    }

    /// Moves the entries held in the log into a new segment and starts a new log.
    pub fn flush(&self) -> Result<(), GalleryError> {
        // Holding the log keeps commits out while the files change.
        let mut wal = self.wal.lock().expect("wal lock");
        let mut manifest = self.manifest.lock().expect("manifest lock");
        let snap = self.snapshot();
        let memtable: Vec<&MemEntry> = snap.memtable.iter().flat_map(|c| c.iter()).collect();
        if memtable.is_empty() {
            return Ok(());
        }
        let mut m = manifest.clone();
        let (seg_gen, tomb_gen, wal_gen) = (
            m.next_generation,
            m.next_generation + 1,
            m.next_generation + 2,
        );
        m.next_generation += 3;
        m.next_id = *self.next_id.lock().expect("id lock");
        let live: Vec<EntryRef> = memtable
            .iter()
            .filter(|e| !snap.tombstones.contains(&e.id))
            .map(|e| e.as_ref())
            .collect();
        let mut tombstones = (*snap.tombstones).clone();
        for e in &memtable {
            tombstones.remove(&e.id);
        }
        let seg_path = self.dir.join(file_name("seg", seg_gen));
        let new_segment = if live.is_empty() {
            None
        } else {
            segment::write(&seg_path, self.options.feature_len, &live)?;
            m.segments.push(seg_gen);
            Some(Arc::new(Segment::open(&seg_path)?))
        };
        m.tombstones = if tombstones.is_empty() {
            0
        } else {
            write_tombstones(&self.dir.join(file_name("tomb", tomb_gen)), &tombstones)?;
            tomb_gen
        };
        let new_wal = Wal::create(&self.dir.join(file_name("wal", wal_gen)), wal_gen)?;
        m.wal = wal_gen;
        sync_dir(&self.dir)?;
        m.write(&self.dir)?;
        // The new manifest is durable: switch, then remove what it no longer names.
        {
            let mut state = self.state.write().expect("gallery state lock");
            if let Some(s) = new_segment {
                state.snapshot.segments.push(s);
            }
            state.snapshot.memtable.clear();
            state.snapshot.tombstones = Arc::new(tombstones);
            state.memtable_entries = 0;
        }
        *wal = new_wal;
        *manifest = m;
        remove_leftovers(&self.dir, &manifest)?;
        Ok(())
    }

    /// The feature length recorded in the gallery at `dir` (what it was built with), or
    /// `None` where `dir` holds no gallery yet.
    pub fn recorded_feature_len(dir: &Path) -> Result<Option<usize>, GalleryError> {
        if !dir.join(manifest::FILE).exists() {
            return Ok(None);
        }
        Ok(Some(Manifest::read(dir)?.feature_len as usize))
    }

    /// Rewrites the search feature of every live entry of the gallery at `dir` with
    /// `feature` (computed from the entry's stored template) at `feature_len` bytes: how a
    /// gallery built with another feature version is brought to the current one. The log
    /// is flushed first; all entries then go into one new segment and deleted ones are
    /// dropped. The new manifest is the switch, so a crash leaves either the old gallery
    /// or the new one. `progress` hears (done, total) as features are computed. Returns the
    /// number of entries rewritten (0 when the features already have that length).
    pub fn rebuild_features(
        dir: &Path,
        feature_len: usize,
        feature: &(dyn Fn(&[u8]) -> Vec<u8> + Sync),
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<usize, GalleryError> {
        Self::rebuild_features_where(dir, feature_len, &|_| false, feature, progress)
    }

    /// [`Gallery::rebuild_features`], which also rewrites features of the right length
    /// when a live entry's is `stale`: how features computed by an older rule of the same
    /// length (and meaning) are brought up to date. Returns 0, having written nothing,
    /// when the length is right and no live entry's feature is stale.
    pub fn rebuild_features_where(
        dir: &Path,
        feature_len: usize,
        stale: &(dyn Fn(&[u8]) -> bool + Sync),
        feature: &(dyn Fn(&[u8]) -> Vec<u8> + Sync),
        progress: &(dyn Fn(usize, usize) + Sync),
    ) -> Result<usize, GalleryError> {
        let Some(old_len) = Self::recorded_feature_len(dir)? else {
            return Err(GalleryError::NotAGallery(dir.display().to_string()));
        };
        let gallery = Gallery::open(
            dir,
            GalleryOptions {
                feature_len: old_len,
                create: false,
                ..GalleryOptions::default()
            },
        )?;
        if old_len == feature_len && !gallery.snapshot().live().any(|e| stale(e.feature)) {
            return Ok(0);
        }
        gallery.flush()?;
        let _wal = gallery.wal.lock().expect("wal lock");
        let mut manifest = gallery.manifest.lock().expect("manifest lock");
        let snap = gallery.snapshot();
        // The log was just flushed: every live entry is in a segment.
        let live: Vec<EntryRef> = snap.live().collect();
        let done = std::sync::atomic::AtomicUsize::new(0);
        let total = live.len();
        use rayon::prelude::*;
        let features: Vec<Vec<u8>> = live
            .par_iter()
            .map(|e| {
                let f = feature(e.template);
                let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                if n.is_multiple_of(4096) || n == total {
                    progress(n, total);
                }
                f
            })
            .collect();
        if let Some(bad) = features
            .iter()
            .find(|f| whole_rows(f.len(), feature_len).is_none())
        {
            return Err(GalleryError::Invalid(format!(
                "a rebuilt feature is {} bytes, not 1 to {MAX_ROWS} rows of {feature_len}",
                bad.len()
            )));
        }
        let rebuilt: Vec<EntryRef> = live
            .iter()
            .zip(&features)
            .map(|(e, f)| EntryRef {
                feature: &f[..feature_len],
                extra: &f[feature_len..],
                ..*e
            })
            .collect();
        let mut m = manifest.clone();
        let seg_gen = m.next_generation;
        m.next_generation += 1;
        m.feature_len = u32::try_from(feature_len)
            .map_err(|_| GalleryError::Invalid("feature length".into()))?;
        m.segments.clear();
        if !rebuilt.is_empty() {
            segment::write(&dir.join(file_name("seg", seg_gen)), feature_len, &rebuilt)?;
            m.segments.push(seg_gen);
        }
        m.tombstones = 0;
        sync_dir(dir)?;
        m.write(dir)?;
        *manifest = m;
        remove_leftovers(dir, &manifest)?;
        Ok(total)
    }

    /// Merges all segments into one, dropping deleted entries. Appends and deletes wait
    /// while it runs; searches do not.
    pub fn compact(&self) -> Result<(), GalleryError> {
        let _wal = self.wal.lock().expect("wal lock");
        let mut manifest = self.manifest.lock().expect("manifest lock");
        let snap = self.snapshot();
        if snap.segments.len() <= 1
            && snap
                .segments
                .iter()
                .all(|s| (0..s.len()).all(|i| !snap.tombstones.contains(&s.id(i))))
        {
            return Ok(());
        }
        let mut m = manifest.clone();
        let (seg_gen, tomb_gen) = (m.next_generation, m.next_generation + 1);
        m.next_generation += 2;
        let mut live = Vec::new();
        let mut tombstones = (*snap.tombstones).clone();
        for s in &snap.segments {
            for i in 0..s.len() {
                let id = s.id(i);
                if !tombstones.remove(&id) {
                    live.push(s.entry(i));
                }
            }
        }
        let seg_path = self.dir.join(file_name("seg", seg_gen));
        let new_segment = if live.is_empty() {
            m.segments.clear();
            None
        } else {
            segment::write(&seg_path, self.options.feature_len, &live)?;
            m.segments = vec![seg_gen];
            Some(Arc::new(Segment::open(&seg_path)?))
        };
        m.tombstones = if tombstones.is_empty() {
            0
        } else {
            write_tombstones(&self.dir.join(file_name("tomb", tomb_gen)), &tombstones)?;
            tomb_gen
        };
        sync_dir(&self.dir)?;
        m.write(&self.dir)?;
        {
            let mut state = self.state.write().expect("gallery state lock");
            state.snapshot.segments = new_segment.into_iter().collect();
            state.snapshot.tombstones = Arc::new(tombstones);
        }
        *manifest = m;
        remove_leftovers(&self.dir, &manifest)?;
        Ok(())
    }
}
