//! The manifest: which segment files, tombstone file and log make up the gallery. It is
//! replaced atomically (written beside, synced, renamed, directory synced), so a crash
//! leaves either the old or the new one; files it does not name are leftovers of an
//! interrupted flush or compaction and are removed on open.

use std::io::Write;
use std::path::Path;

use super::GalleryError;

const MAGIC: &[u8; 8] = b"DKMAN001";
/// The manifest's file name.
pub const FILE: &str = "MANIFEST";

/// The gallery's current files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// Next generation number for new files.
    pub next_generation: u64,
    /// Next template id.
    pub next_id: u64,
    /// Search feature length in bytes.
    pub feature_len: u32,
    /// Generation of the current log.
    pub wal: u64,
    /// Generation of the tombstone file (0: none).
    pub tombstones: u64,
    /// Generations of the segments, oldest first.
    pub segments: Vec<u64>,
}

impl Manifest {
    /// Reads and verifies the manifest of a gallery directory.
    pub fn read(dir: &Path) -> Result<Manifest, GalleryError> {
        let path = dir.join(FILE);
        let b = super::read_file(&path, 1 << 24)?;
        let corrupt = |what: &str| GalleryError::Corrupt {
            file: path.display().to_string(),
            what: what.into(),
        };
        if b.len() < 48 || &b[..8] != MAGIC {
            return Err(corrupt("not a Daktilo gallery manifest"));
        }
        let (body, crc) = b.split_at(b.len() - 4);
        if crc32fast::hash(body) != u32::from_le_bytes(crc.try_into().expect("4 bytes")) {
            return Err(corrupt("checksum mismatch"));
        }
        let u64_at = |at: usize| u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"));
        let count = u32::from_le_bytes(b[44..48].try_into().expect("4 bytes")) as usize;
        if b.len() != 48 + 8 * count + 4 {
            return Err(corrupt("length does not match its segment count"));
        }
        Ok(Manifest {
            next_generation: u64_at(8),
            next_id: u64_at(16),
            feature_len: u32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
            wal: u64_at(28),
            tombstones: u64_at(36),
            segments: (0..count).map(|k| u64_at(48 + 8 * k)).collect(),
        })
    }

    /// Replaces the manifest atomically.
    pub fn write(&self, dir: &Path) -> Result<(), GalleryError> {
        let mut b = Vec::with_capacity(52 + 8 * self.segments.len());
        b.extend_from_slice(MAGIC);
        b.extend_from_slice(&self.next_generation.to_le_bytes());
        b.extend_from_slice(&self.next_id.to_le_bytes());
        b.extend_from_slice(&self.feature_len.to_le_bytes());
        b.extend_from_slice(&self.wal.to_le_bytes());
        b.extend_from_slice(&self.tombstones.to_le_bytes());
        b.extend_from_slice(&(self.segments.len() as u32).to_le_bytes());
        for s in &self.segments {
            b.extend_from_slice(&s.to_le_bytes());
        }
        let crc = crc32fast::hash(&b);
        b.extend_from_slice(&crc.to_le_bytes());
        let tmp = dir.join("MANIFEST.tmp");
        let mut f = super::create_private(&tmp)?;
        f.write_all(&b)?;
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(FILE))?;
        super::sync_dir(dir)
    }
}
