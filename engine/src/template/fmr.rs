//! Pieces shared by the "FMR" formats (ISO/IEC 19794-2 and ANSI INCITS 378): minutia
//! records, the record length check, and the range checks writers need.

use super::cursor::Cursor;
use super::error::{DecodeError, DecodeErrorKind, EncodeError};
use super::extension::{self, BlockLength};
use super::{
    DecodeOptions, Device, FingerPosition, ImpressionType, Minutia, MinutiaKind, Resolution,
    Template, TemplateRecord, Warning,
};

/// How a format stores minutia directions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AngleUnit {
    /// 1/256 of a turn (ISO/IEC 19794-2): our own unit.
    Binary,
    /// 2° steps, 0–179 (ANSI INCITS 378). Read as raw codes, converted by
    /// [`convert_ansi_angles`] once the whole record is known.
    TwoDegrees,
}

/// Reads `count` minutia records of `size` bytes (5 without quality, 6 with). Directions
/// are left as the raw codes of `unit`.
pub(crate) fn read_minutiae(
    cur: &mut Cursor<'_>,
    count: u8,
    size: usize,
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<Minutia>, DecodeError> {
    let mut out = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let at = cur.pos();
        let first = cur.be_u16("minutia type and x")?;
        let second = cur.be_u16("minutia y")?;
        let direction = cur.u8("minutia angle")?;
        let quality = if size == 6 {
            cur.u8("minutia quality")?
        } else {
            0
        };
        let code = (first >> 14) as u8;
        let kind = match MinutiaKind::from_code(code) {
            Some(kind) => kind,
            None if options.lenient => {
                warnings.push(Warning {
                    offset: at,
                    message: "minutia type 3 (reserved) read as 'other'".into(),
                });
                MinutiaKind::Other
            }
            None => {
                return Err(DecodeError::invalid(
                    at,
                    "minutia type",
                    code,
                    "0 (other), 1 (ending) or 2 (bifurcation)",
                ));
            }
        };
        if second >> 14 != 0 {
            warnings.push(Warning {
                offset: at + 2,
                message: "reserved bits above the minutia's y coordinate are set; ignored".into(),
            });
        }
        out.push(Minutia {
            x: first & 0x3fff,
            y: second & 0x3fff,
            direction,
            kind,
            quality,
        });
    }
    Ok(out)
}

/// Turns raw ANSI angle codes into binary angles. `first_bad` is the byte offset of the
/// first code above 179, if any: strictly an error; leniently the writer is taken to have
/// used ISO's 1/256-turn unit (a known vendor bug) and the codes are kept as they are.
pub(crate) fn convert_ansi_angles(
    templates: &mut [Template],
    first_bad: Option<(usize, u8)>,
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<(), DecodeError> {
    match first_bad {
        None => {
            for m in templates.iter_mut().flat_map(|t| t.minutiae.iter_mut()) {
                m.direction = Minutia::direction_from_ansi(m.direction);
            }
            Ok(())
        }
        Some((offset, _)) if options.lenient => {
            warnings.push(Warning {
                offset,
                message: "ANSI angle codes above 179: read as ISO 1/256-turn units".into(),
            });
            Ok(())
        }
        Some((offset, code)) => Err(DecodeError::invalid(
            offset,
            "minutia angle",
            code,
            "0-179 (ANSI INCITS 378 counts in 2-degree steps)",
        )),
    }
}

/// Offset and value of the first raw ANSI angle code above 179 in the minutiae read from
/// `start` on, with records of `size` bytes.
pub(crate) fn first_bad_ansi_angle(
    minutiae: &[Minutia],
    start: usize,
    size: usize,
) -> Option<(usize, u8)> {
    minutiae
        .iter()
        .position(|m| m.direction > 179)
        .map(|i| (start + i * size + 4, minutiae[i].direction))
}

pub(crate) fn write_minutiae(
    out: &mut Vec<u8>,
    minutiae: &[Minutia],
    unit: AngleUnit,
) -> Result<(), EncodeError> {
    for m in minutiae {
        for (field, value) in [("minutia x", m.x), ("minutia y", m.y)] {
            if value > Minutia::MAX_COORDINATE {
                return Err(EncodeError::OutOfRange {
                    field,
                    value: u64::from(value),
                    max: u64::from(Minutia::MAX_COORDINATE),
                });
            }
        }
        out.extend_from_slice(&((u16::from(m.kind.code()) << 14) | m.x).to_be_bytes());
        out.extend_from_slice(&m.y.to_be_bytes());
        out.push(match unit {
            AngleUnit::Binary => m.direction,
            AngleUnit::TwoDegrees => Minutia::direction_to_ansi(m.direction),
        });
        out.push(m.quality);
    }
    Ok(())
}

pub(crate) fn read_finger(cur: &mut Cursor<'_>) -> Result<FingerPosition, DecodeError> {
    let at = cur.pos();
    let code = cur.u8("finger position")?;
    FingerPosition::from_code(code)
        .ok_or_else(|| DecodeError::invalid(at, "finger position", code, "0-15"))
}

/// A quality byte that must be 0–100.
pub(crate) fn read_quality(
    cur: &mut Cursor<'_>,
    field: &'static str,
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<u8, DecodeError> {
    let at = cur.pos();
    let q = cur.u8(field)?;
    if q > 100 {
        if !options.lenient {
            return Err(DecodeError::invalid(at, field, q, "0-100"));
        }
        warnings.push(Warning {
            offset: at,
            message: format!("{field} {q} above 100 kept as it is"),
        });
    }
    Ok(q)
}

/// A resolution in pixels per centimetre that must not be 0.
pub(crate) fn read_resolution(
    cur: &mut Cursor<'_>,
    field: &'static str,
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<u16, DecodeError> {
    let at = cur.pos();
    let r = cur.be_u16(field)?;
    if r == 0 {
        if !options.lenient {
            return Err(DecodeError::invalid(
                at,
                field,
                0u8,
                "pixels per centimetre above 0",
            ));
        }
        warnings.push(Warning {
            offset: at,
            message: format!("{field} 0 kept as it is"),
        });
    }
    Ok(r)
}

/// Checks the declared record length against the data before parsing: a record that
/// claims more bytes than there are was cut short.
pub(crate) fn check_declared_fits(
    declared: u64,
    at: usize,
    data_len: usize,
) -> Result<(), DecodeError> {
    if declared > data_len as u64 {
        return Err(DecodeError::new(
            at,
            DecodeErrorKind::LengthMismatch {
                declared,
                actual: data_len as u64,
            },
        ));
    }
    Ok(())
}

/// Checks the declared record length against where the structure ended (`end`). The
/// counts inside a record determine its extent, so a declared length that is too short is
/// tolerated with a warning; bytes inside the declared length that no structure explains
/// are an error unless lenient.
pub(crate) fn check_declared_matches(
    declared: u64,
    at: usize,
    end: usize,
    data_len: usize,
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<(), DecodeError> {
    let end64 = end as u64;
    if declared < end64 {
        warnings.push(Warning {
            offset: at,
            message: format!(
                "declared record length {declared} is shorter than its contents ({end} bytes)"
            ),
        });
    } else if declared > end64 {
        if !options.lenient {
            return Err(DecodeError::new(
                at,
                DecodeErrorKind::LengthMismatch {
                    declared,
                    actual: end64,
                },
            ));
        }
        warnings.push(Warning {
            offset: end,
            message: format!(
                "{} unexplained byte(s) inside the declared length",
                declared - end64
            ),
        });
    }
    let used = declared.max(end64);
    if (data_len as u64) > used {
        warnings.push(Warning {
            offset: used as usize,
            message: format!(
                "{} byte(s) after the record ignored",
                data_len as u64 - used
            ),
        });
    }
    Ok(())
}

pub(crate) fn fits<T: TryFrom<usize>>(
    value: usize,
    field: &'static str,
    max: u64,
) -> Result<T, EncodeError> {
    T::try_from(value)
        .ok()
        .filter(|_| value as u64 <= max)
        .ok_or(EncodeError::OutOfRange {
            field,
            value: value as u64,
            max,
        })
}

pub(crate) fn at_most(value: u64, field: &'static str, max: u64) -> Result<(), EncodeError> {
    if value > max {
        return Err(EncodeError::OutOfRange { field, value, max });
    }
    Ok(())
}

/// The one image size and resolution that formats with a record-level image header need.
pub(crate) fn common_image(templates: &[Template]) -> Result<(u16, u16, u16, u16), EncodeError> {
    let Some(first) = templates.first() else {
        // An empty record still needs a valid header.
        return Ok((0, 0, Resolution::PPI_500.x, Resolution::PPI_500.y));
    };
    let key = |t: &Template| (t.width, t.height, t.resolution.x, t.resolution.y);
    if templates.iter().any(|t| key(t) != key(first)) {
        return Err(EncodeError::MixedImages);
    }
    check_resolution(first.resolution)?;
    Ok(key(first))
}

/// The readers refuse a zero resolution, so the writers do not produce one.
pub(crate) fn check_resolution(r: Resolution) -> Result<(), EncodeError> {
    if r.x == 0 || r.y == 0 {
        return Err(EncodeError::ZeroResolution);
    }
    Ok(())
}

/// What ISO 2005 and ANSI 2004 share after the record length (and ANSI's CBEFF): the
/// device word, one image header, and views of finger, view + impression nibbles, quality,
/// minutiae and extended data.
pub(crate) struct Body2005 {
    pub device: Device,
    pub templates: Vec<Template>,
    /// The first raw angle code above 179 (meaningful for ANSI only).
    pub first_bad_angle: Option<(usize, u8)>,
}

pub(crate) fn read_body_2005(
    cur: &mut Cursor<'_>,
    blocks: BlockLength,
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Body2005, DecodeError> {
    let device = cur.be_u16("capture device")?;
    let width = cur.be_u16("image width")?;
    let height = cur.be_u16("image height")?;
    let x = read_resolution(cur, "horizontal resolution", options, warnings)?;
    let y = read_resolution(cur, "vertical resolution", options, warnings)?;
    let views = cur.u8("number of finger views")?;
    cur.u8("reserved byte")?;
    let mut templates = Vec::with_capacity(usize::from(views));
    let mut first_bad_angle = None;
    for _ in 0..views {
        let finger = read_finger(cur)?;
        let view_impression = cur.u8("view number and impression type")?;
        let quality = read_quality(cur, "finger quality", options, warnings)?;
        let count = cur.u8("number of minutiae")?;
        let start = cur.pos();
        let minutiae = read_minutiae(cur, count, 6, options, warnings)?;
        first_bad_angle = first_bad_angle.or(first_bad_ansi_angle(&minutiae, start, 6));
        let extensions = extension::read_area(cur, blocks)?;
        templates.push(Template {
            finger,
            view: view_impression >> 4,
            impression: ImpressionType::from_code(view_impression & 0x0f),
            quality,
            quality_source: None,
            width,
            height,
            resolution: Resolution { x, y },
            minutiae,
            extensions,
            capture: None,
        });
    }
    Ok(Body2005 {
        device: Device {
            compliance: (device >> 12) as u8,
            id: device & 0x0fff,
        },
        templates,
        first_bad_angle,
    })
}

pub(crate) fn write_body_2005(
    out: &mut Vec<u8>,
    record: &TemplateRecord,
    unit: AngleUnit,
    blocks: BlockLength,
) -> Result<(), EncodeError> {
    let (width, height, x, y) = common_image(&record.templates)?;
    at_most(
        u64::from(record.device.compliance),
        "device compliance",
        0xf,
    )?;
    at_most(u64::from(record.device.id), "capture device id", 0xfff)?;
    let views: u8 = fits(record.templates.len(), "number of finger views", 255)?;
    let device = (u16::from(record.device.compliance) << 12) | record.device.id;
    for v in [device, width, height, x, y] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&[views, 0]);
    for t in &record.templates {
        at_most(u64::from(t.view), "view number", 15)?;
        at_most(u64::from(t.impression.code()), "impression type", 15)?;
        let count: u8 = fits(t.minutiae.len(), "number of minutiae", 255)?;
        out.extend_from_slice(&[
            t.finger.code(),
            (t.view << 4) | t.impression.code(),
            t.quality,
            count,
        ]);
        write_minutiae(out, &t.minutiae, unit)?;
        extension::write_area(out, &t.extensions, blocks)?;
    }
    Ok(())
}
