//! ANSI INCITS 378: the 2004 edition and the 2009 edition (read and write), and the
//! 2009 edition's amendment 1 (read).

use super::cursor::Cursor;
use super::error::{DecodeError, EncodeError};
use super::extension::{self, BlockLength};
use super::fmr::{self, AngleUnit};
use super::{
    Cbeff, DecodeOptions, Device, Format, ImpressionType, QualitySource, Resolution, Template,
    TemplateRecord, Warning,
};

pub(crate) fn decode_2004(
    data: &[u8],
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<TemplateRecord, DecodeError> {
    let mut cur = Cursor::new(data);
    cur.bytes(4, "format identifier")?;
    if cur.array::<4>("version")? != *b" 20\0" {
        warnings.push(Warning {
            offset: 4,
            message: "version \"020\" read as \" 20\" (ANSI INCITS 378-2004)".into(),
        });
    }
    let declared = match cur.be_u16("record length")? {
        0 => u64::from(cur.be_u32("record length")?),
        short => u64::from(short),
    };
    fmr::check_declared_fits(declared, 8, data.len())?;
    let cbeff = Cbeff {
        owner: cur.be_u16("CBEFF product owner")?,
        product: cur.be_u16("CBEFF product type")?,
    };
    let mut body = fmr::read_body_2005(&mut cur, BlockLength::WithHeader, options, warnings)?;
    fmr::check_declared_matches(declared, 8, cur.pos(), data.len(), options, warnings)?;
    fmr::convert_ansi_angles(&mut body.templates, body.first_bad_angle, options, warnings)?;
    Ok(TemplateRecord {
        format: Format::Ansi2004,
        device: body.device,
        cbeff: Some(cbeff),
        templates: body.templates,
    })
}

pub(crate) fn encode_2004(record: &TemplateRecord) -> Result<Vec<u8>, EncodeError> {
    let cbeff = record.cbeff.unwrap_or(Cbeff {
        owner: 0,
        product: 0,
    });
    let mut body = Vec::with_capacity(64 + 6 * 64);
    body.extend_from_slice(&cbeff.owner.to_be_bytes());
    body.extend_from_slice(&cbeff.product.to_be_bytes());
    fmr::write_body_2005(
        &mut body,
        record,
        AngleUnit::TwoDegrees,
        BlockLength::WithHeader,
    )?;
    // The 2-byte length covers records under 64 KiB; longer ones write 0 and a 4-byte length.
    let short_total = 8 + 2 + body.len();
    let mut out = Vec::with_capacity(short_total + 4);
    out.extend_from_slice(b"FMR\0 20\0");
    if short_total <= usize::from(u16::MAX) {
        out.extend_from_slice(&(short_total as u16).to_be_bytes());
    } else {
        let total: u32 = fmr::fits(short_total + 4, "record length", u64::from(u32::MAX))?;
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&total.to_be_bytes());
    }
    out.extend_from_slice(&body);
    Ok(out)
}

pub(crate) fn decode_2009(
    data: &[u8],
    format: Format,
    options: &DecodeOptions,
    warnings: &mut Vec<Warning>,
) -> Result<TemplateRecord, DecodeError> {
    let mut cur = Cursor::new(data);
    cur.bytes(8, "format identifier and version")?;
    let declared = u64::from(cur.be_u32("record length")?);
    fmr::check_declared_fits(declared, 8, data.len())?;
    let cbeff = Cbeff {
        owner: cur.be_u16("CBEFF product owner")?,
        product: cur.be_u16("CBEFF product type")?,
    };
    let compliance = cur.u8("capture equipment compliance")?;
    let device_id = cur.be_u16("capture equipment id")?;
    let views = cur.u8("number of finger views")?;
    cur.u8("reserved byte")?;
    let mut templates = Vec::with_capacity(usize::from(views));
    let mut first_bad = None;
    for _ in 0..views {
        let finger = fmr::read_finger(&mut cur)?;
        let view = cur.u8("view number")?;
        let impression = ImpressionType::from_code(cur.u8("impression type")?);
        let quality = fmr::read_quality(&mut cur, "finger quality", options, warnings)?;
        let quality_source = QualitySource {
            vendor: cur.be_u16("quality vendor")?,
            algorithm: cur.be_u16("quality algorithm")?,
        };
        let width = cur.be_u16("image width")?;
        let height = cur.be_u16("image height")?;
        let x = fmr::read_resolution(&mut cur, "horizontal resolution", options, warnings)?;
        let y = fmr::read_resolution(&mut cur, "vertical resolution", options, warnings)?;
        let count = cur.u8("number of minutiae")?;
        let start = cur.pos();
        let minutiae = fmr::read_minutiae(&mut cur, count, 6, options, warnings)?;
        first_bad = first_bad.or(fmr::first_bad_ansi_angle(&minutiae, start, 6));
        let extensions = extension::read_area(&mut cur, BlockLength::WithHeader)?;
        templates.push(Template {
            finger,
            view,
            impression,
            quality,
            quality_source: Some(quality_source),
            width,
            height,
            resolution: Resolution { x, y },
            minutiae,
            extensions,
            capture: None,
        });
    }
    fmr::check_declared_matches(declared, 8, cur.pos(), data.len(), options, warnings)?;
    fmr::convert_ansi_angles(&mut templates, first_bad, options, warnings)?;
    Ok(TemplateRecord {
        format,
        device: Device {
            compliance: compliance >> 4,
            id: device_id,
        },
        cbeff: Some(cbeff),
        templates,
    })
}

pub(crate) fn encode_2009(record: &TemplateRecord) -> Result<Vec<u8>, EncodeError> {
    fmr::at_most(
        u64::from(record.device.compliance),
        "device compliance",
        0xf,
    )?;
    let views: u8 = fmr::fits(record.templates.len(), "number of finger views", 255)?;
    let cbeff = record.cbeff.unwrap_or(Cbeff {
        owner: 0,
        product: 0,
    });
    let mut out = Vec::with_capacity(21 + 64 + 6 * 64);
    out.extend_from_slice(b"FMR\x00030\x00");
    out.extend_from_slice(&[0; 4]); // length, patched below
    out.extend_from_slice(&cbeff.owner.to_be_bytes());
    out.extend_from_slice(&cbeff.product.to_be_bytes());
    out.push(record.device.compliance << 4);
    out.extend_from_slice(&record.device.id.to_be_bytes());
    out.extend_from_slice(&[views, 0]);
    for t in &record.templates {
        fmr::check_resolution(t.resolution)?;
        let count: u8 = fmr::fits(t.minutiae.len(), "number of minutiae", 255)?;
        let source = t.quality_source.unwrap_or(QualitySource {
            vendor: 0,
            algorithm: 0,
        });
        out.extend_from_slice(&[t.finger.code(), t.view, t.impression.code(), t.quality]);
        for v in [
            source.vendor,
            source.algorithm,
            t.width,
            t.height,
            t.resolution.x,
            t.resolution.y,
        ] {
            out.extend_from_slice(&v.to_be_bytes());
        }
        out.push(count);
        fmr::write_minutiae(&mut out, &t.minutiae, AngleUnit::TwoDegrees)?;
        extension::write_area(&mut out, &t.extensions, BlockLength::WithHeader)?;
    }
    let len: u32 = fmr::fits(out.len(), "record length", u64::from(u32::MAX))?;
    out[8..12].copy_from_slice(&len.to_be_bytes());
    Ok(out)
}
