//! Immutable, memory-mapped segment files.
//!
//! A segment holds a batch of gallery entries in columns, each section aligned to 64 bytes
//! so that it can be used in place from the map: ids, subjects, finger positions, the
//! fixed-size search features (contiguous, for the stage-1 scan), and the native
//! templates. The header and the body carry CRC-32 checksums, verified on open: a
//! truncated or corrupted segment is reported, never served.
//!
//! Layout (little-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `DKSEG001` |
//! | 8 | 4 | version (1) |
//! | 12 | 4 | feature length in bytes |
//! | 16 | 8 | entry count *n* |
//! | 24 | 56 | offsets of: ids, subjects, fingers, features, template offsets, templates, end |
//! | 80 | 4 | CRC-32 of bytes 0–79 |
//! | 84 | 4 | CRC-32 of the body (from the ids to the end) |
//! | 88 | 40 | zero |
//!
//! Sections: ids `[u64; n]`, subjects `[u64; n]`, fingers `[u8; n]`, features
//! `[[u8; feature length]; n]`, template offsets `[u64; n + 1]` (relative to the templates
//! section), templates (native records back to back).

use std::fs::File;
use std::io::Write;
use std::path::Path;

use memmap2::Mmap;

use super::{EntryRef, GalleryError};

const MAGIC: &[u8; 8] = b"DKSEG001";
const HEADER: usize = 128;
const ALIGN: usize = 64;

fn pad(buf: &mut Vec<u8>) {
    while !buf.len().is_multiple_of(ALIGN) {
        buf.push(0);
    }
}

/// Writes a segment file (to `path`, synced). The caller renames it into place.
pub fn write(path: &Path, feature_len: usize, entries: &[EntryRef]) -> Result<(), GalleryError> {
    let n = entries.len();
    let mut buf = vec![0u8; HEADER];
    let mut offsets = [0u64; 7];
    offsets[0] = buf.len() as u64;
    entries
        .iter()
        .for_each(|e| buf.extend_from_slice(&e.id.to_le_bytes()));
    pad(&mut buf);
    offsets[1] = buf.len() as u64;
    entries
        .iter()
        .for_each(|e| buf.extend_from_slice(&e.subject.to_le_bytes()));
    pad(&mut buf);
    offsets[2] = buf.len() as u64;
    entries.iter().for_each(|e| buf.push(e.finger));
    pad(&mut buf);
    offsets[3] = buf.len() as u64;
    for e in entries {
        if e.feature.len() != feature_len {
            return Err(GalleryError::Invalid(format!(
                "feature of {} bytes where the gallery uses {feature_len}",
                e.feature.len()
            )));
        }
        buf.extend_from_slice(e.feature);
    }
    pad(&mut buf);
    offsets[4] = buf.len() as u64;
    let mut at = 0u64;
    buf.extend_from_slice(&at.to_le_bytes());
    for e in entries {
        at += e.template.len() as u64;
        buf.extend_from_slice(&at.to_le_bytes());
    }
    pad(&mut buf);
    offsets[5] = buf.len() as u64;
    entries
        .iter()
        .for_each(|e| buf.extend_from_slice(e.template));
    pad(&mut buf);
    offsets[6] = buf.len() as u64;
    buf[0..8].copy_from_slice(MAGIC);
    buf[8..12].copy_from_slice(&1u32.to_le_bytes());
    buf[12..16].copy_from_slice(&(feature_len as u32).to_le_bytes());
    buf[16..24].copy_from_slice(&(n as u64).to_le_bytes());
    for (k, o) in offsets.iter().enumerate() {
        buf[24 + 8 * k..32 + 8 * k].copy_from_slice(&o.to_le_bytes());
    }
    let header_crc = crc32fast::hash(&buf[0..80]);
    buf[80..84].copy_from_slice(&header_crc.to_le_bytes());
    let body_crc = crc32fast::hash(&buf[HEADER..]);
    buf[84..88].copy_from_slice(&body_crc.to_le_bytes());
    let mut file = super::create_private(path)?;
    file.write_all(&buf)?;
    file.sync_all()?;
    Ok(())
}

/// An open, verified segment.
pub struct Segment {
    map: Mmap,
    /// File name, for messages.
    pub name: String,
    count: usize,
    feature_len: usize,
    offsets: [usize; 7],
    /// Entries per finger position code, counted on first use (the segment never changes).
    finger_counts: std::sync::OnceLock<Box<[usize; 256]>>,
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

impl Segment {
    /// Maps and verifies a segment file.
    pub fn open(path: &Path) -> Result<Self, GalleryError> {
        let name = path.display().to_string();
        let corrupt = |what: String| GalleryError::Corrupt {
            file: name.clone(),
            what,
        };
        let file = File::open(path)?;
        let len = file.metadata()?.len();
        if len < HEADER as u64 {
            return Err(corrupt(format!(
                "{len} bytes, shorter than the {HEADER}-byte header"
            )));
        }
        // SAFETY: segment files are written once, synced and renamed into place; nothing
        // writes to them afterwards (compaction writes new files and removes old ones,
        // which leaves existing maps valid). The gallery's lock file keeps other Daktilo
        // processes from writing into the directory.
        #[allow(unsafe_code)]
        let map = unsafe { Mmap::map(&file)? };
        let b = &map[..];
        if &b[0..8] != MAGIC {
            return Err(corrupt("not a Daktilo segment (bad magic)".into()));
        }
        let stored = u32::from_le_bytes(b[80..84].try_into().expect("4 bytes"));
        if crc32fast::hash(&b[0..80]) != stored {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let version = u32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        if version != 1 {
            return Err(corrupt(format!("unsupported segment version {version}")));
        }
        let feature_len = u32::from_le_bytes(b[12..16].try_into().expect("4 bytes")) as usize;
        let count =
            usize::try_from(le64(b, 16)).map_err(|_| corrupt("entry count too large".into()))?;
        let mut offsets = [0usize; 7];
        for (k, o) in offsets.iter_mut().enumerate() {
            *o = usize::try_from(le64(b, 24 + 8 * k))
                .map_err(|_| corrupt("offset too large".into()))?;
        }
        if offsets[6] as u64 != len {
            return Err(corrupt(format!(
                "declares {} bytes, file has {len} (truncated?)",
                offsets[6]
            )));
        }
        let sizes = [
            count.checked_mul(8),
            count.checked_mul(8),
            Some(count),
            count.checked_mul(feature_len),
            count.checked_add(1).and_then(|c| c.checked_mul(8)),
        ];
        for (k, size) in sizes.iter().enumerate() {
            let size = size.ok_or_else(|| corrupt("section size overflows".into()))?;
            if offsets[k] % ALIGN != 0
                || offsets[k] < HEADER
                || offsets[k]
                    .checked_add(size)
                    .is_none_or(|e| e > offsets[k + 1])
            {
                return Err(corrupt(format!("section {k} out of place")));
            }
        }
        if offsets[5] > offsets[6] {
            return Err(corrupt("templates section out of place".into()));
        }
        let body_stored = u32::from_le_bytes(b[84..88].try_into().expect("4 bytes"));
        if crc32fast::hash(&b[HEADER..]) != body_stored {
            return Err(corrupt("body checksum mismatch".into()));
        }
        let segment = Self {
            map,
            name,
            count,
            feature_len,
            offsets,
            finger_counts: std::sync::OnceLock::new(),
        };
        // Template offsets must rise within the templates section.
        let templates_len = (segment.offsets[6] - segment.offsets[5]) as u64;
        let mut last = 0;
        for i in 0..=count {
            let o = le64(&segment.map, segment.offsets[4] + 8 * i);
            if o < last || o > templates_len {
                return Err(GalleryError::Corrupt {
                    file: segment.name.clone(),
                    what: format!("template offset {i} out of place"),
                });
            }
            last = o;
        }
        Ok(segment)
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the segment has no entries.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Feature length in bytes.
    pub fn feature_len(&self) -> usize {
        self.feature_len
    }

    /// Template id of entry `i`.
    pub fn id(&self, i: usize) -> u64 {
        le64(&self.map, self.offsets[0] + 8 * i)
    }

    /// Subject key of entry `i`.
    pub fn subject(&self, i: usize) -> u64 {
        le64(&self.map, self.offsets[1] + 8 * i)
    }

    /// Finger position code of entry `i`.
    pub fn finger(&self, i: usize) -> u8 {
        self.map[self.offsets[2] + i]
    }

    /// How many entries have the finger position code `finger` (counted once, then kept).
    pub fn count_of_finger(&self, finger: u8) -> usize {
        self.finger_counts.get_or_init(|| {
            let mut counts = Box::new([0usize; 256]);
            for &f in &self.map[self.offsets[2]..self.offsets[2] + self.count] {
                counts[usize::from(f)] += 1;
            }
            counts
        })[usize::from(finger)]
    }

    /// All features, back to back (`len() * feature_len()` bytes), for scanning.
    pub fn features(&self) -> &[u8] {
        &self.map[self.offsets[3]..self.offsets[3] + self.count * self.feature_len]
    }

    /// The search feature of entry `i`.
    pub fn feature(&self, i: usize) -> &[u8] {
        &self.features()[i * self.feature_len..(i + 1) * self.feature_len]
    }

    /// Entry `i`, borrowed from the map.
    pub fn entry(&self, i: usize) -> EntryRef<'_> {
        EntryRef {
            id: self.id(i),
            subject: self.subject(i),
            finger: self.finger(i),
            feature: self.feature(i),
            template: self.template(i),
        }
    }

    /// The native template bytes of entry `i`.
    pub fn template(&self, i: usize) -> &[u8] {
        let base = self.offsets[5];
        let a = le64(&self.map, self.offsets[4] + 8 * i) as usize;
        let b = le64(&self.map, self.offsets[4] + 8 * (i + 1)) as usize;
        &self.map[base + a..base + b]
    }
}
