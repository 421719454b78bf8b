//! ISO/IEC 19794-2: the 2005 edition (read and write) and the 2011 edition (read).

use super::cursor::Cursor;
use super::error::{DecodeError, EncodeError};
use super::extension::{self, BlockLength};
use super::fmr::{self, AngleUnit};
use super::{
    CaptureInfo, CaptureTime, DecodeOptions, Device, Format, ImpressionType, QualitySource,
    Resolution, Template, TemplateRecord, Warning,
};

const HEADER_2005: usize = 24;

pub(crate) fn decode_2005(
    data: &[u8],
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<TemplateRecord, DecodeError> {
    let mut cur = Cursor::new(data);
    cur.bytes(8, "format identifier and version")?;
    let declared = u64::from(cur.be_u32("record length")?);
    fmr::check_declared_fits(declared, 8, data.len())?;
    let body = fmr::read_body_2005(&mut cur, BlockLength::DataOnly, options, warnings)?;
    fmr::check_declared_matches(declared, 8, cur.pos(), data.len(), options, warnings)?;
    Ok(TemplateRecord {
        format: Format::Iso2005,
        device: body.device,
        cbeff: None,
        templates: body.templates,
    })
}

pub(crate) fn encode_2005(record: &TemplateRecord) -> Result<Vec<u8>, EncodeError> {
    let mut out = Vec::with_capacity(HEADER_2005 + 64 + 6 * 64);
    out.extend_from_slice(b"FMR\0 20\0");
    out.extend_from_slice(&[0; 4]); // length, patched below
    fmr::write_body_2005(&mut out, record, AngleUnit::Binary, BlockLength::DataOnly)?;
    let len: u32 = fmr::fits(out.len(), "record length", u64::from(u32::MAX))?;
    out[8..12].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}

/// Whether a record with version "030" is ISO 2011 rather than ANSI 2009: its finger
/// representations' lengths, followed from byte 15, must end exactly at the record's end.
pub(crate) fn looks_like_2011(data: &[u8]) -> bool {
    let mut cur = Cursor::new(data);
    let parsed = (|| -> Result<bool, DecodeError> {
        cur.bytes(8, "")?;
        let declared = cur.be_u32("")? as usize;
        let count = cur.be_u16("")?;
        cur.u8("")?;
        if count == 0 {
            return Ok(declared == 15);
        }
        for _ in 0..count {
            let len = cur.be_u32("")? as usize;
            // The smallest representation: no quality record, no minutia, no extension.
            if len < 34 {
                return Ok(false);
            }
            cur.bytes(len - 4, "")?;
        }
        Ok(cur.pos() == declared || cur.remaining() == 0)
    })();
    parsed.unwrap_or(false)
}

pub(crate) fn decode_2011(
    data: &[u8],
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<TemplateRecord, DecodeError> {
    let mut cur = Cursor::new(data);
    cur.bytes(8, "format identifier and version")?;
    let declared = u64::from(cur.be_u32("record length")?);
    fmr::check_declared_fits(declared, 8, data.len())?;
    let count = cur.be_u16("number of finger representations")?;
    let flag_at = cur.pos();
    let certification = cur.u8("certification flag")?;
    if certification > 1 {
        return Err(DecodeError::invalid(
            flag_at,
            "certification flag",
            certification,
            "0 or 1",
        ));
    }
    let mut templates = Vec::with_capacity(usize::from(count).min(data.len() / 40));
    let mut device = Device::default();
    for index in 0..count {
        let start = cur.pos();
        let rep_len = u64::from(cur.be_u32("finger representation length")?);
        let time = CaptureTime {
            year: cur.be_u16("capture year")?,
            month: cur.u8("capture month")?,
            day: cur.u8("capture day")?,
            hour: cur.u8("capture hour")?,
            minute: cur.u8("capture minute")?,
            second: cur.u8("capture second")?,
            millisecond: cur.be_u16("capture millisecond")?,
        };
        let technology = cur.u8("capture device technology")?;
        let vendor = cur.be_u16("capture device vendor")?;
        let device_type = cur.be_u16("capture device type")?;
        let qualities = cur.u8("number of quality records")?;
        let mut first_quality = None;
        for i in 0..qualities {
            let q = fmr::read_quality(&mut cur, "quality score", options, warnings)?;
            let source = QualitySource {
                vendor: cur.be_u16("quality vendor")?,
                algorithm: cur.be_u16("quality algorithm")?,
            };
            if i == 0 {
                first_quality = Some((q, source));
            }
        }
        if qualities > 1 {
            warnings.push(Warning {
                offset: start,
                message: format!("only the first of {qualities} quality records kept"),
            });
        }
        if certification == 1 {
            let certs = cur.u8("number of certification records")?;
            cur.bytes(3 * usize::from(certs), "certification records")?;
        }
        let finger = fmr::read_finger(&mut cur)?;
        let view = cur.u8("representation number")?;
        let x = fmr::read_resolution(&mut cur, "horizontal resolution", options, warnings)?;
        let y = fmr::read_resolution(&mut cur, "vertical resolution", options, warnings)?;
        let impression = ImpressionType::from_code(cur.u8("impression type")?);
        let width = cur.be_u16("image width")?;
        let height = cur.be_u16("image height")?;
        let field_at = cur.pos();
        let field = cur.u8("minutia field length and ridge ending type")?;
        let size = usize::from(field >> 4);
        if size != 5 && size != 6 {
            return Err(DecodeError::invalid(
                field_at,
                "minutia field length",
                size as u8,
                "5 or 6",
            ));
        }
        let minutiae_count = cur.u8("number of minutiae")?;
        let minutiae = fmr::read_minutiae(&mut cur, minutiae_count, size, options, warnings)?;
        let extensions = extension::read_area(&mut cur, BlockLength::WithHeader)?;
        let actual = (cur.pos() - start) as u64;
        if actual != rep_len {
            return Err(DecodeError::new(
                start,
                super::DecodeErrorKind::LengthMismatch {
                    declared: rep_len,
                    actual,
                },
            ));
        }
        if index == 0 {
            device = Device {
                compliance: certification << 3,
                id: device_type,
            };
        }
        let (quality, quality_source) = match first_quality {
            Some((q, s)) => (q, Some(s)),
            None => (0, None),
        };
        templates.push(Template {
            finger,
            view,
            impression,
            quality,
            quality_source,
            width,
            height,
            resolution: Resolution { x, y },
            minutiae,
            extensions,
            capture: Some(CaptureInfo {
                time,
                technology,
                vendor,
                device_type,
                ridge_ending: field & 0x0f,
            }),
        });
    }
    fmr::check_declared_matches(declared, 8, cur.pos(), data.len(), options, warnings)?;
    Ok(TemplateRecord {
        format: Format::Iso2011,
        device,
        cbeff: None,
        templates,
    })
}
