//! Daktilo's native template format.
//!
//! A compact, versioned, little-endian record with a CRC-32 checksum, laid out so that a
//! gallery can use it straight from a memory map: [`NativeRecord::parse`] validates a byte
//! slice once (length, checksum, structure) and then hands out views whose minutiae are a
//! `&[NativeMinutia]` cast from the same bytes — nothing is copied or deserialised.
//!
//! # Layout, version 1
//!
//! All integers little-endian. Offsets are from the start of the record (header) or of the
//! view (view header).
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 2 | magic `DK` |
//! | 2 | 1 | version (1) |
//! | 3 | 1 | flags: bit 0 CBEFF present; bits 4–7 device compliance |
//! | 4 | 4 | record length in bytes, header included |
//! | 8 | 4 | CRC-32 (IEEE) of the whole record with these 4 bytes left out |
//! | 12 | 2 | capture device id |
//! | 14 | 1 | number of views |
//! | 15 | 4 | CBEFF owner and product (u16 each), only when flag bit 0 is set |
//!
//! Then each view:
//!
//! | offset | size | field |
//! | --- | --- | --- |
//! | 0 | 8 | width, height, horizontal and vertical resolution (px/cm), u16 each |
//! | 8 | 1 | finger position (0–15) |
//! | 9 | 1 | impression type code |
//! | 10 | 1 | bits 0–3 view number; bit 4 quality source present; bit 5 capture info present |
//! | 11 | 1 | quality (0–100) |
//! | 12 | 1 | number of minutiae *n* |
//! | 13 | 2 | length of the extension area in bytes |
//! | 15 | 4 | quality vendor and algorithm (u16 each), when bit 4 is set |
//! | … | 15 | capture: year u16, month, day, hour, minute, second u8, millisecond u16, technology u8, vendor u16, device type u16, ridge-ending type u8 — when bit 5 is set |
//! | … | 6·*n* | minutiae: u16 x (bits 0–13) and kind (bits 14–15), u16 y (bits 0–13), direction u8 (1/256 turn), quality u8 |
//! | … | … | extension area: blocks of type u16, data length u16, data |
//!
//! A single view with 40 minutiae and no extensions takes 15 + 15 + 240 = 270 bytes, the
//! same as its ISO/IEC 19794-2:2005 encoding. Readers dispatch on the version byte, so a
//! later layout can be added while version 1 records stay readable.

use bytemuck::{Pod, Zeroable};

use super::cursor::Cursor;
use super::error::{DecodeError, DecodeErrorKind, EncodeError};
use super::fmr;
use super::{
    CaptureInfo, CaptureTime, Cbeff, Device, Extension, FingerPosition, Format, ImpressionType,
    Minutia, MinutiaKind, QualitySource, Resolution, Template, TemplateRecord,
};

/// The first bytes of every native record.
pub const MAGIC: &[u8; 2] = b"DK";
/// The version this build writes.
pub const VERSION: u8 = 1;
/// Size of the record header (without the optional CBEFF block).
pub const HEADER_LEN: usize = 15;
/// Size of a view header (without its optional blocks).
pub const VIEW_HEADER_LEN: usize = 15;

const FLAG_CBEFF: u8 = 0x01;
const VIEW_QUALITY_SOURCE: u8 = 0x10;
const VIEW_CAPTURE: u8 = 0x20;
const CAPTURE_LEN: usize = 15;

/// One minutia as it lies in a native record: 6 bytes, alignment 1, so a slice of them can
/// be cast from any byte offset of a memory map.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Pod, Zeroable)]
#[repr(C)]
pub struct NativeMinutia {
    x_kind: [u8; 2],
    y: [u8; 2],
    /// Direction, 1/256 of a turn (see the template module's conventions).
    pub direction: u8,
    /// Quality 0–100.
    pub quality: u8,
}

impl NativeMinutia {
    /// Column in pixels.
    pub fn x(&self) -> u16 {
        u16::from_le_bytes(self.x_kind) & 0x3fff
    }

    /// Row in pixels.
    pub fn y(&self) -> u16 {
        u16::from_le_bytes(self.y) & 0x3fff
    }

    /// The two-bit kind code (validated by [`NativeRecord::parse`] to be 0–2).
    pub fn kind_code(&self) -> u8 {
        (u16::from_le_bytes(self.x_kind) >> 14) as u8
    }

    /// The minutia in the template model.
    pub fn to_minutia(&self) -> Minutia {
        Minutia {
            x: self.x(),
            y: self.y(),
            direction: self.direction,
            kind: MinutiaKind::from_code(self.kind_code()).unwrap_or(MinutiaKind::Other),
            quality: self.quality,
        }
    }
}

/// A validated native record borrowed from a byte slice (a file, a memory map).
#[derive(Debug, Clone, Copy)]
pub struct NativeRecord<'a> {
    bytes: &'a [u8],
    views: u8,
    first_view: usize,
}

/// One view of a [`NativeRecord`], borrowed from the same bytes.
#[derive(Debug, Clone, Copy)]
pub struct NativeView<'a> {
    header: &'a [u8],
    quality_source: Option<&'a [u8]>,
    capture: Option<&'a [u8]>,
    minutiae: &'a [NativeMinutia],
    extensions: &'a [u8],
}

impl<'a> NativeRecord<'a> {
    /// Validates a native record: magic, version, length, checksum and structure. The slice
    /// may be longer than the record; [`NativeRecord::len`] says where it ends.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let mut cur = Cursor::new(bytes);
        if &cur.array::<2>("magic")? != MAGIC {
            return Err(DecodeError::new(0, DecodeErrorKind::UnknownFormat));
        }
        match cur.u8("version")? {
            1 => Self::parse_v1(bytes, cur),
            other => Err(DecodeError::new(
                2,
                DecodeErrorKind::UnsupportedVersion {
                    format: "Daktilo native",
                    found: other.to_string(),
                },
            )),
        }
    }

    fn parse_v1(bytes: &'a [u8], mut cur: Cursor<'a>) -> Result<Self, DecodeError> {
        let flags = cur.u8("flags")?;
        if flags & 0x0e != 0 {
            return Err(DecodeError::invalid(3, "flags", flags, "bits 1-3 clear"));
        }
        let declared = cur.le_u32("record length")?;
        if declared as usize > bytes.len() || (declared as usize) < HEADER_LEN {
            return Err(DecodeError::new(
                4,
                DecodeErrorKind::LengthMismatch {
                    declared: u64::from(declared),
                    actual: bytes.len() as u64,
                },
            ));
        }
        let record = &bytes[..declared as usize];
        let stored = cur.le_u32("checksum")?;
        let computed = checksum(record);
        if stored != computed {
            return Err(DecodeError::new(
                8,
                DecodeErrorKind::ChecksumMismatch { stored, computed },
            ));
        }
        // From here on the bytes are the ones the writer wrote; the structure is still
        // checked, since a checksum does not protect against a faulty writer.
        let mut cur = Cursor::new(record);
        cur.bytes(14, "header")?;
        let views = cur.u8("number of views")?;
        if flags & FLAG_CBEFF != 0 {
            cur.bytes(4, "CBEFF product identifier")?;
        }
        let first_view = cur.pos();
        for _ in 0..views {
            read_view(&mut cur)?;
        }
        if cur.remaining() != 0 {
            return Err(DecodeError::new(
                4,
                DecodeErrorKind::LengthMismatch {
                    declared: u64::from(declared),
                    actual: cur.pos() as u64,
                },
            ));
        }
        Ok(Self {
            bytes: record,
            views,
            first_view,
        })
    }

    /// The record's length in bytes.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// The record's bytes.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The capture device.
    pub fn device(&self) -> Device {
        Device {
            compliance: self.bytes[3] >> 4,
            id: u16::from_le_bytes([self.bytes[12], self.bytes[13]]),
        }
    }

    /// The CBEFF product identifier, if the record carries one.
    pub fn cbeff(&self) -> Option<Cbeff> {
        (self.bytes[3] & FLAG_CBEFF != 0).then(|| Cbeff {
            owner: u16::from_le_bytes([self.bytes[15], self.bytes[16]]),
            product: u16::from_le_bytes([self.bytes[17], self.bytes[18]]),
        })
    }

    /// The views, in record order.
    pub fn views(&self) -> impl Iterator<Item = NativeView<'a>> + 'a {
        let mut cur = Cursor::new(self.bytes);
        let skip = cur.bytes(self.first_view, "header").is_ok();
        let views = if skip { self.views } else { 0 };
        (0..views).map_while(move |_| read_view(&mut cur).ok())
    }

    /// The record in the template model (this copies).
    pub fn to_record(&self) -> TemplateRecord {
        TemplateRecord {
            format: Format::Native,
            device: self.device(),
            cbeff: self.cbeff(),
            templates: self.views().map(|v| v.to_template()).collect(),
        }
    }
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn read_view<'a>(cur: &mut Cursor<'a>) -> Result<NativeView<'a>, DecodeError> {
    let start = cur.pos();
    let header = cur.bytes(VIEW_HEADER_LEN, "view header")?;
    if FingerPosition::from_code(header[8]).is_none() {
        return Err(DecodeError::invalid(
            start + 8,
            "finger position",
            header[8],
            "0-15",
        ));
    }
    let flags = header[10];
    if flags & 0xc0 != 0 {
        return Err(DecodeError::invalid(
            start + 10,
            "view flags",
            flags,
            "bits 6-7 clear",
        ));
    }
    let quality_source = if flags & VIEW_QUALITY_SOURCE != 0 {
        Some(cur.bytes(4, "quality source")?)
    } else {
        None
    };
    let capture = if flags & VIEW_CAPTURE != 0 {
        Some(cur.bytes(CAPTURE_LEN, "capture information")?)
    } else {
        None
    };
    let count = usize::from(header[12]);
    let minutiae_at = cur.pos();
    let raw = cur.bytes(6 * count, "minutiae")?;
    let minutiae: &[NativeMinutia] = bytemuck::try_cast_slice(raw).map_err(|_| {
        DecodeError::invalid(minutiae_at, "minutiae", count as u64, "6-byte records")
    })?;
    if let Some(i) = minutiae.iter().position(|m| m.kind_code() == 3) {
        return Err(DecodeError::invalid(
            minutiae_at + 6 * i + 1,
            "minutia kind",
            3u8,
            "0 (other), 1 (ending) or 2 (bifurcation)",
        ));
    }
    let ext_len = usize::from(le16(header, 13));
    let ext_at = cur.pos();
    let extensions = cur.bytes(ext_len, "extension area")?;
    parse_extensions(extensions).map_err(|e| DecodeError {
        offset: e.offset + ext_at,
        kind: e.kind,
    })?;
    Ok(NativeView {
        header,
        quality_source,
        capture,
        minutiae,
        extensions,
    })
}

fn parse_extensions(area: &[u8]) -> Result<Vec<Extension>, DecodeError> {
    let mut cur = Cursor::new(area);
    let mut out = Vec::new();
    while cur.remaining() > 0 {
        let kind = cur.le_u16("extension type")?;
        let len = usize::from(cur.le_u16("extension length")?);
        out.push(Extension {
            kind,
            data: cur.bytes(len, "extension data")?.to_vec(),
        });
    }
    Ok(out)
}

impl<'a> NativeView<'a> {
    /// Which finger.
    pub fn finger(&self) -> FingerPosition {
        FingerPosition::from_code(self.header[8]).unwrap_or(FingerPosition::Unknown)
    }

    /// Image width in pixels.
    pub fn width(&self) -> u16 {
        le16(self.header, 0)
    }

    /// Image height in pixels.
    pub fn height(&self) -> u16 {
        le16(self.header, 2)
    }

    /// Image resolution.
    pub fn resolution(&self) -> Resolution {
        Resolution {
            x: le16(self.header, 4),
            y: le16(self.header, 6),
        }
    }

    /// Image quality 0–100.
    pub fn quality(&self) -> u8 {
        self.header[11]
    }

    /// The minutiae, borrowed from the record's bytes.
    pub fn minutiae(&self) -> &'a [NativeMinutia] {
        self.minutiae
    }

    /// The view in the template model (this copies).
    pub fn to_template(&self) -> Template {
        let h = self.header;
        Template {
            finger: self.finger(),
            view: h[10] & 0x0f,
            impression: ImpressionType::from_code(h[9]),
            quality: h[11],
            quality_source: self.quality_source.map(|q| QualitySource {
                vendor: le16(q, 0),
                algorithm: le16(q, 2),
            }),
            width: self.width(),
            height: self.height(),
            resolution: self.resolution(),
            minutiae: self
                .minutiae
                .iter()
                .map(NativeMinutia::to_minutia)
                .collect(),
            extensions: parse_extensions(self.extensions).unwrap_or_default(),
            capture: self.capture.map(|c| CaptureInfo {
                time: CaptureTime {
                    year: le16(c, 0),
                    month: c[2],
                    day: c[3],
                    hour: c[4],
                    minute: c[5],
                    second: c[6],
                    millisecond: le16(c, 7),
                },
                technology: c[9],
                vendor: le16(c, 10),
                device_type: le16(c, 12),
                ridge_ending: c[14],
            }),
        }
    }
}

fn checksum(record: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&record[..8]);
    h.update(&record[12..]);
    h.finalize()
}

/// Decodes a native record into the template model.
pub fn decode(bytes: &[u8]) -> Result<TemplateRecord, DecodeError> {
    NativeRecord::parse(bytes).map(|r| r.to_record())
}

/// Encodes a record in the native format.
pub fn encode(record: &TemplateRecord) -> Result<Vec<u8>, EncodeError> {
    fmr::at_most(
        u64::from(record.device.compliance),
        "device compliance",
        0xf,
    )?;
    let views: u8 = fmr::fits(record.templates.len(), "number of views", 255)?;
    let mut out = Vec::with_capacity(
        HEADER_LEN
            + record
                .templates
                .iter()
                .map(|t| 64 + 6 * t.minutiae.len())
                .sum::<usize>(),
    );
    out.extend_from_slice(MAGIC);
    out.push(VERSION);
    out.push((record.device.compliance << 4) | u8::from(record.cbeff.is_some()));
    out.extend_from_slice(&[0; 8]); // length and checksum, patched below
    out.extend_from_slice(&record.device.id.to_le_bytes());
    out.push(views);
    if let Some(c) = record.cbeff {
        out.extend_from_slice(&c.owner.to_le_bytes());
        out.extend_from_slice(&c.product.to_le_bytes());
    }
    for t in &record.templates {
        encode_view(&mut out, t)?;
    }
    let len: u32 = fmr::fits(out.len(), "record length", u64::from(u32::MAX))?;
    out[4..8].copy_from_slice(&len.to_le_bytes());
    let crc = checksum(&out);
    out[8..12].copy_from_slice(&crc.to_le_bytes());
    Ok(out)
}

fn encode_view(out: &mut Vec<u8>, t: &Template) -> Result<(), EncodeError> {
    fmr::at_most(u64::from(t.view), "view number", 15)?;
    let count: u8 = fmr::fits(t.minutiae.len(), "number of minutiae", 255)?;
    let mut extensions = Vec::new();
    for e in &t.extensions {
        let len: u16 = fmr::fits(e.data.len(), "extension data length", u64::from(u16::MAX))?;
        extensions.extend_from_slice(&e.kind.to_le_bytes());
        extensions.extend_from_slice(&len.to_le_bytes());
        extensions.extend_from_slice(&e.data);
    }
    let ext_len: u16 = fmr::fits(
        extensions.len(),
        "extension area length",
        u64::from(u16::MAX),
    )?;
    for v in [t.width, t.height, t.resolution.x, t.resolution.y] {
        out.extend_from_slice(&v.to_le_bytes());
    }
    let flags = t.view
        | if t.quality_source.is_some() {
            VIEW_QUALITY_SOURCE
        } else {
            0
        }
        | if t.capture.is_some() { VIEW_CAPTURE } else { 0 };
    out.extend_from_slice(&[
        t.finger.code(),
        t.impression.code(),
        flags,
        t.quality,
        count,
    ]);
    out.extend_from_slice(&ext_len.to_le_bytes());
    if let Some(q) = t.quality_source {
        out.extend_from_slice(&q.vendor.to_le_bytes());
        out.extend_from_slice(&q.algorithm.to_le_bytes());
    }
    if let Some(c) = t.capture {
        out.extend_from_slice(&c.time.year.to_le_bytes());
        let tm = c.time;
        out.extend_from_slice(&[tm.month, tm.day, tm.hour, tm.minute, tm.second]);
        out.extend_from_slice(&tm.millisecond.to_le_bytes());
        out.push(c.technology);
        out.extend_from_slice(&c.vendor.to_le_bytes());
        out.extend_from_slice(&c.device_type.to_le_bytes());
        out.push(c.ridge_ending);
    }
    for m in &t.minutiae {
        for (field, value) in [("minutia x", m.x), ("minutia y", m.y)] {
            fmr::at_most(u64::from(value), field, u64::from(Minutia::MAX_COORDINATE))?;
        }
        out.extend_from_slice(&((u16::from(m.kind.code()) << 14) | m.x).to_le_bytes());
        out.extend_from_slice(&m.y.to_le_bytes());
        out.extend_from_slice(&[m.direction, m.quality]);
    }
    out.extend_from_slice(&extensions);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> TemplateRecord {
        let mut t = Template::new(300, 400);
        t.finger = FingerPosition::LeftIndex;
        t.quality = 60;
        t.minutiae = (0..40)
            .map(|i| Minutia {
                x: 10 + i * 7,
                y: 20 + i * 9,
                direction: (i * 6) as u8,
                kind: if i % 2 == 0 {
                    MinutiaKind::Ending
                } else {
                    MinutiaKind::Bifurcation
                },
                quality: 50,
            })
            .collect();
        TemplateRecord::single(t)
    }

    #[test]
    fn a_40_minutia_view_is_no_larger_than_its_iso_encoding() {
        let record = sample();
        let native = encode(&record).unwrap();
        let iso = super::super::encode(&record, Format::Iso2005).unwrap();
        assert_eq!(iso.len(), 270);
        assert!(
            native.len() <= iso.len(),
            "{} > {}",
            native.len(),
            iso.len()
        );
    }

    #[test]
    fn minutiae_are_read_in_place_from_the_record_bytes() {
        let bytes = encode(&sample()).unwrap();
        let record = NativeRecord::parse(&bytes).unwrap();
        let view = record.views().next().unwrap();
        let m = view.minutiae();
        assert_eq!(m.len(), 40);
        let start = bytes.as_ptr() as usize;
        let at = m.as_ptr() as usize;
        assert!(
            at >= start && at < start + bytes.len(),
            "minutiae must borrow the input"
        );
        assert_eq!(m[3].x(), 31);
        assert_eq!(m[3].to_minutia().kind, MinutiaKind::Bifurcation);
    }

    #[test]
    fn a_flipped_bit_is_caught_by_the_checksum() {
        let mut bytes = encode(&sample()).unwrap();
        bytes[100] ^= 0x04;
        let err = NativeRecord::parse(&bytes).unwrap_err();
        assert!(
            matches!(err.kind, DecodeErrorKind::ChecksumMismatch { .. }),
            "{err}"
        );
        assert_eq!(err.offset, 8);
    }

    #[test]
    fn an_unknown_version_is_refused_by_name() {
        let mut bytes = encode(&sample()).unwrap();
        bytes[2] = 9;
        let err = NativeRecord::parse(&bytes).unwrap_err();
        assert_eq!(err.offset, 2);
        assert!(
            err.to_string()
                .contains("unsupported Daktilo native version"),
            "{err}"
        );
    }

    #[test]
    fn trailing_bytes_after_a_record_are_not_part_of_it() {
        let mut bytes = encode(&sample()).unwrap();
        let len = bytes.len();
        bytes.extend_from_slice(b"next record");
        let record = NativeRecord::parse(&bytes).unwrap();
        assert_eq!(record.len(), len);
    }
}
