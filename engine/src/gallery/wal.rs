//! The write-ahead log: every append and delete is written here, and synced, before it is
//! acknowledged.
//!
//! Format: an 16-byte header (`DKWAL001`, generation u64), then records of
//! `[payload length u32][CRC-32 of payload u32][payload]`. Payloads: `1` append (id u64,
//! subject u64, finger u8, feature length u32, feature — its stage-1 rows back to back, split
//! on replay by the gallery's feature length — template length u32, template) or
//! `2` delete (id u64). A crash can leave a torn record at the tail — one that was never
//! acknowledged; replay stops at the first record that is incomplete or fails its
//! checksum and cuts the file there.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

use super::{GalleryError, MemEntry};

const MAGIC: &[u8; 8] = b"DKWAL001";
const HEADER: u64 = 16;
/// Records larger than this are refused on replay as corrupt (a template is a few hundred
/// bytes; a feature at most a few KB).
const MAX_RECORD: u32 = 1 << 20;
/// A log is flushed long before it reaches this; a larger file is refused.
const MAX_LOG: u64 = 1 << 34;

/// One logged operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// An entry was added.
    Append(MemEntry),
    /// An entry was deleted.
    Delete {
        /// Template id.
        id: u64,
    },
}

impl Op {
    fn encode(&self, out: &mut Vec<u8>) {
        let start = out.len();
        out.extend_from_slice(&[0; 8]);
        match self {
            Op::Append(e) => {
                out.push(1);
                out.extend_from_slice(&e.id.to_le_bytes());
                out.extend_from_slice(&e.subject.to_le_bytes());
                out.push(e.finger);
                // The rows back to back: a log written before entries had further rows
                // reads the same way.
                out.extend_from_slice(&((e.feature.len() + e.extra.len()) as u32).to_le_bytes());
                out.extend_from_slice(&e.feature);
                out.extend_from_slice(&e.extra);
                out.extend_from_slice(&(e.template.len() as u32).to_le_bytes());
                out.extend_from_slice(&e.template);
            }
            Op::Delete { id } => {
                out.push(2);
                out.extend_from_slice(&id.to_le_bytes());
            }
        }
        let payload_len = (out.len() - start - 8) as u32;
        let crc = crc32fast::hash(&out[start + 8..]);
        out[start..start + 4].copy_from_slice(&payload_len.to_le_bytes());
        out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
    }

    fn decode(p: &[u8]) -> Option<Op> {
        let take = |at: usize, n: usize| p.get(at..at.checked_add(n)?);
        let u64_at = |at: usize| Some(u64::from_le_bytes(take(at, 8)?.try_into().ok()?));
        let u32_at = |at: usize| Some(u32::from_le_bytes(take(at, 4)?.try_into().ok()?) as usize);
        match *p.first()? {
            1 => {
                let (id, subject, finger) = (u64_at(1)?, u64_at(9)?, *p.get(17)?);
                let fl = u32_at(18)?;
                let feature = take(22, fl)?.to_vec();
                let tl = u32_at(22 + fl)?;
                let template = take(26 + fl, tl)?.to_vec();
                (26 + fl + tl == p.len()).then_some(Op::Append(MemEntry {
                    id,
                    subject,
                    finger,
                    feature,
                    extra: Vec::new(),
                    template,
                }))
            }
            2 => (p.len() == 9).then(|| Op::Delete {
                id: u64_at(1).expect("9 bytes"),
            }),
            _ => None,
        }
    }
}

/// An open log, positioned for appending.
pub struct Wal {
    file: File,
    len: u64,
}

/// What replay found.
pub struct Replay {
    /// The operations, in order.
    pub ops: Vec<Op>,
    /// Bytes of torn or corrupt tail that were cut off (never acknowledged).
    pub dropped: u64,
}

impl Wal {
    /// Creates a new, empty log (synced).
    pub fn create(path: &Path, generation: u64) -> Result<Wal, GalleryError> {
        let mut file = super::create_private(path)?;
        file.write_all(MAGIC)?;
        file.write_all(&generation.to_le_bytes())?;
        file.sync_all()?;
        Ok(Wal { file, len: HEADER })
    }

    /// Opens a log, replays it, and cuts off a torn tail.
    pub fn open(path: &Path) -> Result<(Wal, Replay), GalleryError> {
        let name = path.display().to_string();
        let data = super::read_file(path, MAX_LOG)?;
        let mut file = OpenOptions::new().write(true).open(path)?;
        if data.len() < HEADER as usize || &data[..8] != MAGIC {
            return Err(GalleryError::Corrupt {
                file: name,
                what: "not a Daktilo write-ahead log (bad header)".into(),
            });
        }
        let mut ops = Vec::new();
        let mut at = HEADER as usize;
        while let Some(head) = data.get(at..at + 8) {
            let len = u32::from_le_bytes(head[..4].try_into().expect("4 bytes"));
            let crc = u32::from_le_bytes(head[4..].try_into().expect("4 bytes"));
            if len > MAX_RECORD {
                break;
            }
            let Some(payload) = data.get(at + 8..at + 8 + len as usize) else {
                break;
            };
            if crc32fast::hash(payload) != crc {
                break;
            }
            let Some(op) = Op::decode(payload) else { break };
            ops.push(op);
            at += 8 + len as usize;
        }
        let dropped = (data.len() - at) as u64;
        if dropped > 0 {
            file.set_len(at as u64)?;
            file.sync_all()?;
        }
        file.seek(SeekFrom::Start(at as u64))?;
        Ok((
            Wal {
                file,
                len: at as u64,
            },
            Replay { ops, dropped },
        ))
    }

    /// Appends operations and syncs; returns only once they are durable. On failure the
    /// log is cut back to where it was, so that no half-written batch stays behind.
    pub fn append(&mut self, ops: &[Op]) -> Result<(), GalleryError> {
        let mut buf = Vec::new();
        for op in ops {
            op.encode(&mut buf);
        }
        let result = self
            .file
            .write_all(&buf)
            .and_then(|_| self.file.sync_data());
        match result {
            Ok(()) => {
                self.len += buf.len() as u64;
                Ok(())
            }
            Err(e) => {
                // Best effort: drop whatever part of the batch reached the file.
                let _ = self.file.set_len(self.len);
                let _ = self.file.seek(SeekFrom::Start(self.len));
                Err(GalleryError::Io(e))
            }
        }
    }

    /// Bytes in the log, header included.
    pub fn size(&self) -> u64 {
        self.len
    }
}
