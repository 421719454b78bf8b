//! The thin registry: subjects, their encounters and finger positions, mapped to gallery
//! template ids, in an embedded transactional store (redb).
//!
//! The registry is the source of truth. An enrolment appends its templates to the gallery
//! first and then commits them here in one transaction; a deletion removes the subject
//! here first and then deletes its templates from the gallery. A crash between the two
//! leaves gallery templates that no subject names; [`Registry::template_ids`] lets the
//! service delete them when it starts, and searches ignore them meanwhile. So an
//! enrolment is either all there or not there.
//!
//! It also keeps the answer to every mutating request under its request id (so that a
//! retry returns the first answer) and an audit trail of deletions that names no subject
//! reference: only the internal key, the reason and the time.

use std::collections::HashSet;
use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

/// subject reference -> [`SubjectRecord`] (postcard).
const SUBJECTS: TableDefinition<&str, &[u8]> = TableDefinition::new("subjects");
/// internal subject key -> subject reference.
const SUBJECT_KEYS: TableDefinition<u64, &str> = TableDefinition::new("subject_keys");
/// gallery template id -> internal subject key.
const TEMPLATES: TableDefinition<u64, u64> = TableDefinition::new("templates");
/// request id -> [`RequestRecord`] (postcard).
const REQUESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("requests");
/// counters: next subject key, totals, templates per finger position.
const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// deletion number -> [`DeletionRecord`] (postcard).
const DELETIONS: TableDefinition<u64, &[u8]> = TableDefinition::new("deletions");

/// Why a registry operation failed.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The store failed (I/O, corruption, a full disk).
    #[error("registry store: {0}")]
    Store(#[from] redb::Error),
    /// A stored record does not decode.
    #[error("registry record is corrupt: {0}")]
    Corrupt(String),
}

macro_rules! store_error {
    ($($t:ty),*) => {$(
        impl From<$t> for RegistryError {
            fn from(e: $t) -> Self {
                RegistryError::Store(e.into())
            }
        }
    )*};
}
store_error!(
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// One enrolled finger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FingerRecord {
    /// Finger position code (ISO).
    pub position: u8,
    /// Impression type code (the contract's).
    pub impression: u8,
    /// Gallery template id.
    pub template_id: u64,
    /// Image quality 0–100.
    pub quality: u8,
}

/// One encounter (one capture session) of a subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EncounterRecord {
    /// The caller's encounter reference.
    pub encounter_ref: String,
    /// When it was enrolled, milliseconds since the epoch.
    pub enrolled_at_ms: i64,
    /// Its fingers.
    pub fingers: Vec<FingerRecord>,
}

/// A subject.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SubjectRecord {
    /// Internal key: the gallery's subject number.
    pub key: u64,
    /// Encounters, oldest first.
    pub encounters: Vec<EncounterRecord>,
}

impl SubjectRecord {
    /// Every template id of the subject.
    pub fn template_ids(&self) -> Vec<u64> {
        self.encounters
            .iter()
            .flat_map(|e| e.fingers.iter().map(|f| f.template_id))
            .collect()
    }
}

/// The stored answer to a mutating request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestRecord {
    /// Digest of the request's content, to tell a retry from a reuse of the id.
    pub digest: u64,
    /// When it was answered, milliseconds since the epoch (for pruning).
    pub at_ms: i64,
    /// The encoded answer.
    pub response: Vec<u8>,
}

/// An audit record of a deletion (no subject reference).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeletionRecord {
    /// Internal key of the deleted subject.
    pub subject_key: u64,
    /// Reason code (the contract's).
    pub reason: u8,
    /// When, milliseconds since the epoch.
    pub at_ms: i64,
    /// Templates deleted.
    pub templates: u32,
}

/// Totals for `Stats`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Totals {
    /// Subjects.
    pub subjects: u64,
    /// Encounters.
    pub encounters: u64,
    /// Templates.
    pub templates: u64,
    /// Templates per finger position code (0–15).
    pub per_position: [u64; 16],
}

/// The registry.
pub struct Registry {
    db: Database,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising plain structs into a Vec cannot fail.
    postcard::to_stdvec(value).unwrap_or_default()
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, RegistryError> {
    postcard::from_bytes(bytes).map_err(|e| RegistryError::Corrupt(e.to_string()))
}

fn bump(meta: &mut redb::Table<&str, u64>, key: &str, delta: i64) -> Result<(), RegistryError> {
    let now = meta.get(key)?.map(|v| v.value()).unwrap_or(0);
    meta.insert(key, now.saturating_add_signed(delta))?;
    Ok(())
}

fn position_key(position: u8) -> String {
    format!("position:{}", position.min(15))
}

impl Registry {
    /// Opens (or creates) the registry file, readable by its owner only.
    pub fn open(path: &Path) -> Result<Registry, RegistryError> {
        let existed = path.exists();
        let db = Database::create(path)?;
        if !existed {
            restrict(path);
        }
        let tx = db.begin_write()?;
        {
            // Create every table so that readers find them.
            tx.open_table(SUBJECTS)?;
            tx.open_table(SUBJECT_KEYS)?;
            tx.open_table(TEMPLATES)?;
            tx.open_table(REQUESTS)?;
            tx.open_table(META)?;
            tx.open_table(DELETIONS)?;
        }
        tx.commit()?;
        Ok(Registry { db })
    }

    /// The stored answer to a request id.
    pub fn request(&self, request_id: &str) -> Result<Option<RequestRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(REQUESTS)?;
        table
            .get(request_id)?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// Stores the answer to a request that changed nothing else (a refusal).
    pub fn record_request(
        &self,
        request_id: &str,
        record: &RequestRecord,
    ) -> Result<(), RegistryError> {
        let tx = self.db.begin_write()?;
        tx.open_table(REQUESTS)?
            .insert(request_id, encode(record).as_slice())?;
        tx.commit()?;
        Ok(())
    }

    /// A subject by reference.
    pub fn subject(&self, subject_ref: &str) -> Result<Option<SubjectRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SUBJECTS)?;
        table
            .get(subject_ref)?
            .map(|v| decode(v.value()))
            .transpose()
    }

    /// Subject references of internal keys (`None` for keys no subject has).
    pub fn subject_refs(&self, keys: &[u64]) -> Result<Vec<Option<String>>, RegistryError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(SUBJECT_KEYS)?;
        keys.iter()
            .map(|&k| Ok(table.get(k)?.map(|v| v.value().to_string())))
            .collect()
    }

    /// Allocates a new internal subject key (never reused).
    pub fn allocate_key(&self) -> Result<u64, RegistryError> {
        self.allocate_keys(1)
    }

    /// Commits an enrolled encounter (creating the subject when it is new) together with
    /// the request's answer, in one transaction.
    pub fn commit_enrolment(
        &self,
        subject_ref: &str,
        key: u64,
        encounter: EncounterRecord,
        request_id: &str,
        record: &RequestRecord,
    ) -> Result<(), RegistryError> {
        let tx = self.db.begin_write()?;
        {
            let mut subjects = tx.open_table(SUBJECTS)?;
            let mut keys = tx.open_table(SUBJECT_KEYS)?;
            let mut templates = tx.open_table(TEMPLATES)?;
            let mut meta = tx.open_table(META)?;
            let existing: Option<SubjectRecord> = subjects
                .get(subject_ref)?
                .map(|v| decode(v.value()))
                .transpose()?;
            let mut subject = match existing {
                Some(s) => s,
                None => {
                    keys.insert(key, subject_ref)?;
                    bump(&mut meta, "subjects", 1)?;
                    SubjectRecord {
                        key,
                        encounters: Vec::new(),
                    }
                }
            };
            for f in &encounter.fingers {
                templates.insert(f.template_id, subject.key)?;
                bump(&mut meta, &position_key(f.position), 1)?;
            }
            bump(&mut meta, "templates", encounter.fingers.len() as i64)?;
            bump(&mut meta, "encounters", 1)?;
            subject.encounters.push(encounter);
            subjects.insert(subject_ref, encode(&subject).as_slice())?;
            tx.open_table(REQUESTS)?
                .insert(request_id, encode(record).as_slice())?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Allocates `n` consecutive new subject keys; returns the first.
    pub fn allocate_keys(&self, n: u64) -> Result<u64, RegistryError> {
        let tx = self.db.begin_write()?;
        let first = {
            let mut meta = tx.open_table(META)?;
            let first = meta
                .get("next_subject_key")?
                .map(|v| v.value())
                .unwrap_or(1);
            meta.insert("next_subject_key", first + n)?;
            first
        };
        tx.commit()?;
        Ok(first)
    }

    /// Commits many new subjects (one encounter each) in one transaction: a bulk import.
    /// Refuses the whole batch if any reference is already enrolled.
    pub fn import(&self, subjects: &[(String, u64, EncounterRecord)]) -> Result<(), RegistryError> {
        let tx = self.db.begin_write()?;
        {
            let mut table = tx.open_table(SUBJECTS)?;
            let mut keys = tx.open_table(SUBJECT_KEYS)?;
            let mut templates = tx.open_table(TEMPLATES)?;
            let mut meta = tx.open_table(META)?;
            let mut per_position = [0i64; 16];
            let mut count = 0i64;
            for (subject_ref, key, encounter) in subjects {
                if table.get(subject_ref.as_str())?.is_some() {
                    return Err(RegistryError::Corrupt(format!(
                        "import: subject {subject_ref:?} is already enrolled"
                    )));
                }
                keys.insert(*key, subject_ref.as_str())?;
                for f in &encounter.fingers {
                    templates.insert(f.template_id, *key)?;
                    per_position[usize::from(f.position.min(15))] += 1;
                    count += 1;
                }
                let record = SubjectRecord {
                    key: *key,
                    encounters: vec![encounter.clone()],
                };
                table.insert(subject_ref.as_str(), encode(&record).as_slice())?;
            }
            for (p, n) in per_position.iter().enumerate() {
                if *n > 0 {
                    bump(&mut meta, &position_key(p as u8), *n)?;
                }
            }
            bump(&mut meta, "templates", count)?;
            bump(&mut meta, "subjects", subjects.len() as i64)?;
            bump(&mut meta, "encounters", subjects.len() as i64)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Removes a subject, records the deletion for audit and stores the request's answer,
    /// in one transaction. Returns the removed subject (`None`: there was none).
    pub fn delete_subject(
        &self,
        subject_ref: &str,
        reason: u8,
        request_id: &str,
        record: &RequestRecord,
    ) -> Result<Option<SubjectRecord>, RegistryError> {
        let tx = self.db.begin_write()?;
        let removed = {
            let mut subjects = tx.open_table(SUBJECTS)?;
            let removed: Option<SubjectRecord> = subjects
                .remove(subject_ref)?
                .map(|v| decode(v.value()))
                .transpose()?;
            if let Some(subject) = &removed {
                tx.open_table(SUBJECT_KEYS)?.remove(subject.key)?;
                let mut templates = tx.open_table(TEMPLATES)?;
                let mut meta = tx.open_table(META)?;
                let mut count = 0u32;
                for e in &subject.encounters {
                    for f in &e.fingers {
                        templates.remove(f.template_id)?;
                        bump(&mut meta, &position_key(f.position), -1)?;
                        count += 1;
                    }
                }
                bump(&mut meta, "templates", -i64::from(count))?;
                bump(&mut meta, "encounters", -(subject.encounters.len() as i64))?;
                bump(&mut meta, "subjects", -1)?;
                let mut deletions = tx.open_table(DELETIONS)?;
                let n = deletions.last()?.map(|(k, _)| k.value() + 1).unwrap_or(0);
                deletions.insert(
                    n,
                    encode(&DeletionRecord {
                        subject_key: subject.key,
                        reason,
                        at_ms: now_ms(),
                        templates: count,
                    })
                    .as_slice(),
                )?;
            }
            tx.open_table(REQUESTS)?
                .insert(request_id, encode(record).as_slice())?;
            removed
        };
        tx.commit()?;
        Ok(removed)
    }

    /// Forgets the answers to requests answered before `before_ms` (a retry is expected
    /// within minutes, not months; the table must not grow without bound). Returns how many
    /// were removed.
    pub fn prune_requests(&self, before_ms: i64) -> Result<usize, RegistryError> {
        let tx = self.db.begin_write()?;
        let removed = {
            let mut table = tx.open_table(REQUESTS)?;
            let mut old = Vec::new();
            for item in table.iter()? {
                let (k, v) = item?;
                let record: RequestRecord = decode(v.value())?;
                if record.at_ms < before_ms {
                    old.push(k.value().to_string());
                }
            }
            for k in &old {
                table.remove(k.as_str())?;
            }
            old.len()
        };
        tx.commit()?;
        Ok(removed)
    }

    /// Every template id a subject names.
    pub fn template_ids(&self) -> Result<HashSet<u64>, RegistryError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(TEMPLATES)?;
        let mut out = HashSet::new();
        for item in table.iter()? {
            out.insert(item?.0.value());
        }
        Ok(out)
    }

    /// The deletion audit trail, oldest first.
    pub fn deletions(&self) -> Result<Vec<DeletionRecord>, RegistryError> {
        let tx = self.db.begin_read()?;
        let table = tx.open_table(DELETIONS)?;
        let mut out = Vec::new();
        for item in table.iter()? {
            out.push(decode(item?.1.value())?);
        }
        Ok(out)
    }

    /// Totals.
    pub fn totals(&self) -> Result<Totals, RegistryError> {
        let tx = self.db.begin_read()?;
        let meta = tx.open_table(META)?;
        let get = |k: &str| -> Result<u64, RegistryError> {
            Ok(meta.get(k)?.map(|v| v.value()).unwrap_or(0))
        };
        let mut totals = Totals {
            subjects: get("subjects")?,
            encounters: get("encounters")?,
            templates: get("templates")?,
            per_position: [0; 16],
        };
        for (p, slot) in totals.per_position.iter_mut().enumerate() {
            *slot = get(&position_key(p as u8))?;
        }
        Ok(totals)
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Makes a file readable and writable by its owner only.
pub fn restrict(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(n: u8) -> RequestRecord {
        RequestRecord {
            digest: u64::from(n),
            at_ms: i64::from(n),
            response: vec![n],
        }
    }

    fn encounter(name: &str, ids: &[(u8, u64)]) -> EncounterRecord {
        EncounterRecord {
            encounter_ref: name.into(),
            enrolled_at_ms: 1,
            fingers: ids
                .iter()
                .map(|&(position, template_id)| FingerRecord {
                    position,
                    impression: 1,
                    template_id,
                    quality: 50,
                })
                .collect(),
        }
    }

    #[test]
    fn enrol_delete_and_reopen() {
        let dir = std::env::temp_dir().join(format!("daktilo-registry-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("registry.redb");
        {
            let r = Registry::open(&path).unwrap();
            let k1 = r.allocate_key().unwrap();
            let k2 = r.allocate_key().unwrap();
            assert_ne!(k1, k2);
            r.commit_enrolment(
                "A",
                k1,
                encounter("e1", &[(1, 10), (2, 11)]),
                "r1",
                &record(1),
            )
            .unwrap();
            r.commit_enrolment("A", k2, encounter("e2", &[(1, 12)]), "r2", &record(2))
                .unwrap();
            r.commit_enrolment("B", k2, encounter("e1", &[(6, 13)]), "r3", &record(3))
                .unwrap();
            // A second encounter keeps the subject's first key.
            assert_eq!(r.subject("A").unwrap().unwrap().key, k1);
            assert_eq!(
                r.subject("A").unwrap().unwrap().template_ids(),
                vec![10, 11, 12]
            );
            let t = r.totals().unwrap();
            assert_eq!((t.subjects, t.encounters, t.templates), (2, 3, 4));
            assert_eq!((t.per_position[1], t.per_position[6]), (2, 1));
            assert_eq!(r.request("r2").unwrap(), Some(record(2)));
            assert_eq!(
                r.subject_refs(&[k1, k2, 999]).unwrap(),
                vec![Some("A".into()), Some("B".into()), None]
            );
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        let r = Registry::open(&path).unwrap();
        let removed = r.delete_subject("A", 1, "r4", &record(4)).unwrap().unwrap();
        assert_eq!(removed.template_ids(), vec![10, 11, 12]);
        assert!(
            r.delete_subject("A", 1, "r5", &record(5))
                .unwrap()
                .is_none()
        );
        assert_eq!(r.template_ids().unwrap(), HashSet::from([13]));
        let t = r.totals().unwrap();
        assert_eq!((t.subjects, t.encounters, t.templates), (1, 1, 1));
        assert_eq!(t.per_position[1], 0);
        // Answers older than the cut are forgotten, newer ones kept.
        assert_eq!(r.prune_requests(3).unwrap(), 2);
        assert_eq!(r.request("r1").unwrap(), None);
        assert_eq!(r.request("r3").unwrap(), Some(record(3)));
        let audit = r.deletions().unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!((audit[0].subject_key, audit[0].templates), (removed.key, 3));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
