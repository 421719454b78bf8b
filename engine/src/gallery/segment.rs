//! Immutable, memory-mapped segment files.
//!
//! A segment holds a batch of gallery entries in columns, each section aligned to 64 bytes
//! so that it can be used in place from the map: ids, subjects, finger positions, the
//! fixed-size search features (contiguous, for the stage-1 scan), and the native
//! templates. An entry may have further stage-1 rows (a large template's features about
//! other centres, `search::feature::gallery_rows`): those are kept in a section of their
//! own, after the templates, contiguous too, with where each entry's begin. The header and
//! the body carry CRC-32 checksums, verified on open: a truncated or corrupted segment is
//! reported, never served.
//!
//! Layout (little-endian):
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | magic `DKSEG001` |
//! | 8 | 4 | version: 1, or 2 where some entry has further rows |
//! | 12 | 4 | feature length in bytes |
//! | 16 | 8 | entry count *n* |
//! | 24 | 56 | offsets of: ids, subjects, fingers, features, template offsets, templates, end (version 1) or further rows (version 2) |
//! | 80 | 4 | CRC-32 of bytes 0–79 (version 2: 0–79 and 88–127) |
//! | 84 | 4 | CRC-32 of the body (from the ids to the end) |
//! | 88 | 24 | version 2: the further rows' count *m*, the offsets of the row starts and of the end; version 1: zero |
//! | 112 | 16 | zero |
//!
//! Sections: ids `[u64; n]`, subjects `[u64; n]`, fingers `[u8; n]`, features
//! `[[u8; feature length]; n]`, template offsets `[u64; n + 1]` (relative to the templates
//! section), templates (native records back to back); version 2 adds further rows
//! `[[u8; feature length]; m]` and row starts `[u32; n + 1]` (entry *i*'s further rows are
//! rows `starts[i]..starts[i + 1]`). A segment none of whose entries has further rows is
//! written as version 1, byte for byte as before version 2 existed.

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
    let mut offsets = [0u64; 9];
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
        if e.feature.len() != feature_len
            || super::whole_rows(e.feature.len() + e.extra.len(), feature_len).is_none()
        {
            return Err(GalleryError::Invalid(format!(
                "feature of {} bytes (and {} of further rows) where the gallery uses 1 to {} rows of {feature_len}",
                e.feature.len(),
                e.extra.len(),
                super::MAX_ROWS
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
    let extra_rows: usize = entries
        .iter()
        .map(|e| e.extra.len() / feature_len.max(1))
        .sum();
    let version: u32 = if extra_rows == 0 { 1 } else { 2 };
    if version == 2 {
        let too_many = || GalleryError::Invalid("too many further stage-1 rows".into());
        u32::try_from(extra_rows).map_err(|_| too_many())?;
        entries.iter().for_each(|e| buf.extend_from_slice(e.extra));
        pad(&mut buf);
        offsets[7] = buf.len() as u64;
        let mut row = 0u32;
        buf.extend_from_slice(&row.to_le_bytes());
        for e in entries {
            row += (e.extra.len() / feature_len) as u32;
            buf.extend_from_slice(&row.to_le_bytes());
        }
        pad(&mut buf);
        offsets[8] = buf.len() as u64;
    }
    buf[0..8].copy_from_slice(MAGIC);
    buf[8..12].copy_from_slice(&version.to_le_bytes());
    buf[12..16].copy_from_slice(&(feature_len as u32).to_le_bytes());
    buf[16..24].copy_from_slice(&(n as u64).to_le_bytes());
    for (k, o) in offsets.iter().take(7).enumerate() {
        buf[24 + 8 * k..32 + 8 * k].copy_from_slice(&o.to_le_bytes());
    }
    if version == 2 {
        buf[88..96].copy_from_slice(&(extra_rows as u64).to_le_bytes());
        buf[96..104].copy_from_slice(&offsets[7].to_le_bytes());
        buf[104..112].copy_from_slice(&offsets[8].to_le_bytes());
    }
    let header_crc = header_crc(&buf[..HEADER]);
    buf[80..84].copy_from_slice(&header_crc.to_le_bytes());
    let body_crc = crc32fast::hash(&buf[HEADER..]);
    buf[84..88].copy_from_slice(&body_crc.to_le_bytes());
    let mut file = super::create_private(path)?;
    file.write_all(&buf)?;
    file.sync_all()?;
    Ok(())
}

/// The header's checksum: of bytes 0–79 and 88–127 (all but the two checksums; in a
/// version 1 header bytes 88–127 are zero, so its checksum is of bytes 0–79 alone, as
/// version 1 defines it).
fn header_crc(header: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&header[0..80]);
    if header[88..HEADER].iter().any(|&b| b != 0) {
        h.update(&header[88..HEADER]);
    }
    h.finalize()
}

/// An open, verified segment.
pub struct Segment {
    map: Mmap,
    /// File name, for messages.
    pub name: String,
    count: usize,
    feature_len: usize,
    /// Offsets of: ids, subjects, fingers, features, template offsets, templates, further
    /// rows, row starts, end (a version 1 segment's last three are all its end).
    offsets: [usize; 9],
    /// Further rows (0 in a version 1 segment).
    extra_count: usize,
    /// Entries per finger position code, counted on first use (the segment never changes).
    finger_counts: std::sync::OnceLock<Box<[usize; 256]>>,
}

fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
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
        if header_crc(&b[..HEADER]) != le32(b, 80) {
            return Err(corrupt("header checksum mismatch".into()));
        }
        let version = le32(b, 8);
        if version != 1 && version != 2 {
            return Err(corrupt(format!("unsupported segment version {version}")));
        }
        let feature_len = le32(b, 12) as usize;
        let count =
            usize::try_from(le64(b, 16)).map_err(|_| corrupt("entry count too large".into()))?;
        let mut offsets = [0usize; 9];
        let at = |o: u64| usize::try_from(o).map_err(|_| corrupt("offset too large".into()));
        for (k, o) in offsets.iter_mut().take(7).enumerate() {
            *o = at(le64(b, 24 + 8 * k))?;
        }
        let extra_count = if version == 2 {
            offsets[7] = at(le64(b, 96))?;
            offsets[8] = at(le64(b, 104))?;
            let m = at(le64(b, 88))?;
            if m == 0 || feature_len == 0 {
                return Err(corrupt("a version 2 segment without further rows".into()));
            }
            m
        } else {
            offsets[7] = offsets[6];
            offsets[8] = offsets[6];
            0
        };
        if offsets[8] as u64 != len {
            return Err(corrupt(format!(
                "declares {} bytes, file has {len} (truncated?)",
                offsets[8]
            )));
        }
        let mut sizes = vec![
            count.checked_mul(8),
            count.checked_mul(8),
            Some(count),
            count.checked_mul(feature_len),
            count.checked_add(1).and_then(|c| c.checked_mul(8)),
        ];
        if version == 2 {
            // The templates (sized by their offsets, checked below), the further rows,
            // their starts.
            sizes.push(Some(0));
            sizes.push(extra_count.checked_mul(feature_len));
            sizes.push(count.checked_add(1).and_then(|c| c.checked_mul(4)));
        }
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
        if crc32fast::hash(&b[HEADER..]) != le32(b, 84) {
            return Err(corrupt("body checksum mismatch".into()));
        }
        let segment = Self {
            map,
            name,
            count,
            feature_len,
            offsets,
            extra_count,
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
        // Row starts must rise from 0 to the count of further rows.
        if version == 2 {
            let mut last = 0;
            for i in 0..=count {
                let r = le32(&segment.map, segment.offsets[7] + 4 * i) as usize;
                if r < last
                    || r > extra_count
                    || (i == 0 && r != 0)
                    || (i == count && r != extra_count)
                {
                    return Err(GalleryError::Corrupt {
                        file: segment.name.clone(),
                        what: format!("row start {i} out of place"),
                    });
                }
                last = r;
            }
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

    /// Number of further stage-1 rows (of all entries).
    pub fn extra_len(&self) -> usize {
        self.extra_count
    }

    /// All further rows, back to back (`extra_len() * feature_len()` bytes), for scanning.
    pub fn extra_features(&self) -> &[u8] {
        &self.map[self.offsets[6]..self.offsets[6] + self.extra_count * self.feature_len]
    }

    /// Further row `j` (of [`Segment::extra_features`]).
    pub fn extra_feature(&self, j: usize) -> &[u8] {
        &self.extra_features()[j * self.feature_len..(j + 1) * self.feature_len]
    }

    /// Entry `i`'s further rows (`starts[i]..starts[i + 1]` of [`Segment::extra_features`]).
    pub fn extra_rows(&self, i: usize) -> std::ops::Range<usize> {
        if self.extra_count == 0 {
            return 0..0;
        }
        let start = |i: usize| le32(&self.map, self.offsets[7] + 4 * i) as usize;
        start(i)..start(i + 1)
    }

    /// The entry further row `j` belongs to.
    pub fn extra_owner(&self, j: usize) -> usize {
        // The first entry whose rows end after `j` (the starts rise: checked on open).
        let (mut lo, mut hi) = (0, self.count);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.extra_rows(mid).end <= j {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// Entry `i`, borrowed from the map.
    pub fn entry(&self, i: usize) -> EntryRef<'_> {
        let rows = self.extra_rows(i);
        EntryRef {
            id: self.id(i),
            subject: self.subject(i),
            finger: self.finger(i),
            feature: self.feature(i),
            extra: &self.extra_features()
                [rows.start * self.feature_len..rows.end * self.feature_len],
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
