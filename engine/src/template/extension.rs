//! Extended data blocks: ridge counts, cores and deltas, vendor data.
//!
//! Blocks are kept verbatim as (type, data) pairs so that any record round-trips; the
//! standard blocks are parsed on demand. The formats disagree on what a block's length
//! counts: ISO/IEC 19794-2:2005 counts the data only, ANSI INCITS 378 and
//! ISO/IEC 19794-2:2011 count the 4-byte block header too.

use serde::Serialize;

use super::cursor::Cursor;
use super::error::{DecodeError, EncodeError};

/// Type code of the ridge count block.
pub const RIDGE_COUNT_BLOCK: u16 = 0x0001;
/// Type code of the core and delta block.
pub const CORE_DELTA_BLOCK: u16 = 0x0002;

/// One extended data block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Extension {
    /// Type code: 1 ridge counts, 2 cores and deltas, 0x0100 and above vendor-defined.
    pub kind: u16,
    /// The block's data, without its 4-byte header.
    pub data: Vec<u8>,
}

/// How ridge counts were taken: which neighbours of each minutia were counted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RidgeCountMethod {
    /// Not specified (code 0).
    NonSpecific,
    /// The nearest neighbour in each quadrant (code 1).
    Quadrants,
    /// The nearest neighbour in each octant (code 2).
    Octants,
    /// Another code.
    Other(u8),
}

/// One ridge count: how many ridges cross the line between two minutiae.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RidgeCountEdge {
    /// Index of the first minutia, as the record stores it.
    pub from: u8,
    /// Index of the second minutia, as the record stores it.
    pub to: u8,
    /// Number of ridges crossed.
    pub count: u8,
}

/// A parsed ridge count block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RidgeCounts {
    /// The extraction method.
    pub method: RidgeCountMethod,
    /// The counts, in record order. A trailing partial triple is ignored.
    pub edges: Vec<RidgeCountEdge>,
}

impl Extension {
    /// The ridge counts this block holds, if it is a ridge count block.
    pub fn ridge_counts(&self) -> Option<RidgeCounts> {
        if self.kind != RIDGE_COUNT_BLOCK {
            return None;
        }
        let (&method, rest) = self.data.split_first()?;
        let method = match method {
            0 => RidgeCountMethod::NonSpecific,
            1 => RidgeCountMethod::Quadrants,
            2 => RidgeCountMethod::Octants,
            other => RidgeCountMethod::Other(other),
        };
        let edges = rest
            .chunks_exact(3)
            .map(|c| RidgeCountEdge {
                from: c[0],
                to: c[1],
                count: c[2],
            })
            .collect();
        Some(RidgeCounts { method, edges })
    }
}

/// Whether a block's length field counts its 4-byte header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BlockLength {
    DataOnly,
    WithHeader,
}

/// Reads the extended data area of one view: a 2-byte total length, then blocks that fill
/// it exactly.
pub(crate) fn read_area(
    cur: &mut Cursor<'_>,
    convention: BlockLength,
) -> Result<Vec<Extension>, DecodeError> {
    let area_start = cur.pos();
    let area_len = usize::from(cur.be_u16("extended data length")?);
    let area = cur.bytes(area_len, "extended data")?;
    let mut blocks = Cursor::new(area);
    let mut out = Vec::new();
    while blocks.remaining() > 0 {
        let at = area_start + 2 + blocks.pos();
        let kind = blocks
            .be_u16("extended data block type")
            .map_err(|e| shift(e, area_start + 2))?;
        let declared = usize::from(
            blocks
                .be_u16("extended data block length")
                .map_err(|e| shift(e, area_start + 2))?,
        );
        let data_len = match convention {
            BlockLength::DataOnly => declared,
            BlockLength::WithHeader => declared.checked_sub(4).ok_or_else(|| {
                DecodeError::invalid(
                    at + 2,
                    "extended data block length",
                    declared as u64,
                    "at least 4 (the block header)",
                )
            })?,
        };
        let data = blocks
            .bytes(data_len, "extended data block")
            .map_err(|e| shift(e, area_start + 2))?;
        out.push(Extension {
            kind,
            data: data.to_vec(),
        });
    }
    Ok(out)
}

fn shift(mut e: DecodeError, by: usize) -> DecodeError {
    e.offset += by;
    e
}

/// Writes the extended data area of one view.
pub(crate) fn write_area(
    out: &mut Vec<u8>,
    blocks: &[Extension],
    convention: BlockLength,
) -> Result<(), EncodeError> {
    let header = match convention {
        BlockLength::DataOnly => 0,
        BlockLength::WithHeader => 4,
    };
    let mut total = 0usize;
    for b in blocks {
        let len = b.data.len() + header;
        if len > usize::from(u16::MAX) {
            return Err(EncodeError::OutOfRange {
                field: "extended data block length",
                value: len as u64,
                max: u64::from(u16::MAX),
            });
        }
        total += 4 + b.data.len();
    }
    let total = u16::try_from(total).map_err(|_| EncodeError::OutOfRange {
        field: "extended data length",
        value: total as u64,
        max: u64::from(u16::MAX),
    })?;
    out.extend_from_slice(&total.to_be_bytes());
    for b in blocks {
        out.extend_from_slice(&b.kind.to_be_bytes());
        out.extend_from_slice(&((b.data.len() + header) as u16).to_be_bytes());
        out.extend_from_slice(&b.data);
    }
    Ok(())
}
