//! Finger samples as the contract carries them (images or templates), checked and turned
//! into templates. Every refusal names the field at fault, e.g. `samples[2].data`.

use daktilo_engine::extract::{self, ExtractOptions};
use daktilo_engine::image;
use daktilo_engine::template::{self, Format, ImpressionType, Template};
use tonic::Status;

use crate::proto;

/// Most samples one request may carry (ten fingers, with room for repeated captures).
pub const MAX_SAMPLES: usize = 20;

/// A sample turned into a template.
#[derive(Debug, Clone)]
pub struct FingerTemplate {
    /// Where the finger sits.
    pub position: template::FingerPosition,
    /// The contract's impression code.
    pub impression: u8,
    /// The minutiae.
    pub template: Template,
    /// Image quality 0–100 (for a template: what it declares).
    pub quality: u8,
}

/// The engine's position for a contract position code (0–10).
pub fn position(code: i32, field: &str) -> Result<template::FingerPosition, Status> {
    u8::try_from(code)
        .ok()
        .filter(|&c| c <= 10)
        .and_then(template::FingerPosition::from_code)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "{field}: unknown finger position {code} (0 unknown, 1-10 right thumb to left little)"
            ))
        })
}

fn impression(code: i32, field: &str) -> Result<(u8, ImpressionType), Status> {
    use proto::ImpressionType as P;
    let p = P::try_from(code).map_err(|_| {
        Status::invalid_argument(format!("{field}: unknown impression type {code}"))
    })?;
    let engine = match p {
        P::Unspecified | P::LiveScanPlain => ImpressionType::LivePlain,
        P::LiveScanRolled => ImpressionType::LiveRolled,
        P::NonlivePlain => ImpressionType::NonlivePlain,
        P::NonliveRolled => ImpressionType::NonliveRolled,
        P::Swipe => ImpressionType::Swipe,
    };
    let code = if p == P::Unspecified {
        P::LiveScanPlain as u8
    } else {
        p as u8
    };
    Ok((code, engine))
}

/// Whether the bytes look like the declared image format (magic numbers).
fn looks_like(format: proto::SampleFormat, data: &[u8]) -> bool {
    use proto::SampleFormat as F;
    match format {
        F::Png => data.starts_with(b"\x89PNG\r\n\x1a\n"),
        F::Tiff => data.starts_with(b"II*\0") || data.starts_with(b"MM\0*"),
        F::Bmp => data.starts_with(b"BM"),
        F::Jpeg => data.starts_with(&[0xFF, 0xD8]),
        _ => true,
    }
}

/// Checks one sample and turns it into a template (extracting the minutiae of an image).
/// `field` names it in errors (`samples[3]`).
pub fn to_template(sample: &proto::FingerSample, field: &str) -> Result<FingerTemplate, Status> {
    use proto::SampleFormat as F;
    let position = position(sample.position, &format!("{field}.position"))?;
    let (impression_code, impression_type) =
        impression(sample.impression, &format!("{field}.impression"))?;
    let format = F::try_from(sample.format).map_err(|_| {
        Status::invalid_argument(format!(
            "{field}.format: unknown sample format {}",
            sample.format
        ))
    })?;
    if sample.data.is_empty() {
        return Err(Status::invalid_argument(format!("{field}.data: empty")));
    }
    let bad = |what: String| Status::invalid_argument(format!("{field}.data: {what}"));
    let ppi = (sample.ppi > 0).then_some(sample.ppi as f32);
    let (mut template, quality) = match format {
        F::Unspecified => {
            return Err(Status::invalid_argument(format!(
                "{field}.format: not given (PNG, TIFF, BMP, JPEG, RAW_GREY, ISO_TEMPLATE or ANSI_TEMPLATE)"
            )));
        }
        F::Wsq => {
            return Err(Status::invalid_argument(format!(
                "{field}.format: WSQ is not supported yet; send PNG, TIFF, BMP, JPEG or raw grey"
            )));
        }
        F::Png | F::Tiff | F::Bmp | F::Jpeg => {
            if !looks_like(format, &sample.data) {
                return Err(bad(format!(
                    "is not a {} image",
                    format.as_str_name().trim_start_matches("SAMPLE_FORMAT_")
                )));
            }
            let ex = extract::extract_file(&sample.data, &ExtractOptions { ppi, debug: false })
                .map_err(|e| bad(e.to_string()))?;
            (ex.template, ex.quality)
        }
        F::RawGrey => {
            let ppi = ppi.ok_or_else(|| {
                Status::invalid_argument(format!("{field}.ppi: required for raw grey"))
            })?;
            let img = image::from_raw(
                sample.width as usize,
                sample.height as usize,
                sample.data.clone(),
            )
            .map_err(|e| bad(e.to_string()))?;
            let ex = extract::extract(&img, ppi, false).map_err(|e| bad(e.to_string()))?;
            (ex.template, ex.quality)
        }
        F::IsoTemplate | F::AnsiTemplate => {
            let detected = template::detect(&sample.data).map_err(|e| bad(e.to_string()))?;
            let family_ok = match format {
                F::IsoTemplate => matches!(detected, Format::Iso2005 | Format::Iso2011),
                _ => matches!(
                    detected,
                    Format::Ansi2004 | Format::Ansi2009 | Format::Ansi2009Am1
                ),
            };
            if !family_ok {
                return Err(bad(format!(
                    "is a {} template, not what {field}.format says",
                    detected.name()
                )));
            }
            let record = template::decode(&sample.data).map_err(|e| bad(e.to_string()))?;
            // The view of the named finger, or the first one.
            let view = record
                .templates
                .iter()
                .find(|v| v.finger == position)
                .or_else(|| record.templates.first())
                .cloned()
                .ok_or_else(|| bad("the template holds no finger view".into()))?;
            let quality = view.quality.min(100);
            (view, quality)
        }
    };
    template.finger = position;
    template.impression = impression_type;
    template.quality = quality;
    Ok(FingerTemplate {
        position,
        impression: impression_code,
        template,
        quality,
    })
}

/// Checks every sample of a request (count, duplicated positions) and converts them all,
/// in parallel on the current rayon pool.
pub fn to_templates(
    samples: &[proto::FingerSample],
    field: &str,
) -> Result<Vec<FingerTemplate>, Status> {
    check_samples(samples, field)?;
    use rayon::prelude::*;
    samples
        .par_iter()
        .enumerate()
        .map(|(i, s)| to_template(s, &format!("{field}[{i}]")))
        .collect()
}

/// The checks that need no decoding: run before a job is queued.
pub fn check_samples(samples: &[proto::FingerSample], field: &str) -> Result<(), Status> {
    if samples.is_empty() {
        return Err(Status::invalid_argument(format!(
            "{field}: at least one finger sample is needed"
        )));
    }
    if samples.len() > MAX_SAMPLES {
        return Err(Status::invalid_argument(format!(
            "{field}: {} samples, at most {MAX_SAMPLES}",
            samples.len()
        )));
    }
    let mut seen = [false; 11];
    for (i, s) in samples.iter().enumerate() {
        let p = position(s.position, &format!("{field}[{i}].position"))?;
        let code = usize::from(p.code());
        if code != 0 {
            if seen[code] {
                return Err(Status::invalid_argument(format!(
                    "{field}[{i}].position: {p:?} is given twice"
                )));
            }
            seen[code] = true;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(format: proto::SampleFormat, data: Vec<u8>) -> proto::FingerSample {
        proto::FingerSample {
            position: 2,
            format: format as i32,
            data,
            ..Default::default()
        }
    }

    fn message(r: Result<FingerTemplate, Status>) -> String {
        let e = r.unwrap_err();
        assert_eq!(e.code(), tonic::Code::InvalidArgument);
        e.message().to_string()
    }

    #[test]
    fn refusals_name_the_field() {
        use proto::SampleFormat as F;
        let m = message(to_template(&sample(F::Png, b"GIF89a...".to_vec()), "s[1]"));
        assert!(m.starts_with("s[1].data: is not a PNG image"), "{m}");
        let m = message(to_template(&sample(F::Unspecified, vec![1]), "s[0]"));
        assert!(m.starts_with("s[0].format"), "{m}");
        let m = message(to_template(&sample(F::Wsq, vec![0xFF, 0xA0]), "s[0]"));
        assert!(m.contains("WSQ is not supported"), "{m}");
        let m = message(to_template(&sample(F::RawGrey, vec![0; 100]), "s[0]"));
        assert!(m.starts_with("s[0].ppi"), "{m}");
        let mut raw = sample(F::RawGrey, vec![0; 100]);
        raw.ppi = 500;
        raw.width = 300;
        raw.height = 300;
        let m = message(to_template(&raw, "s[0]"));
        assert!(m.starts_with("s[0].data: raw image"), "{m}");
        let m = message(to_template(
            &sample(F::IsoTemplate, b"FMR\0 20\0".to_vec()),
            "s[0]",
        ));
        assert!(m.starts_with("s[0].data"), "{m}");
        let mut p = sample(F::Png, vec![1]);
        p.position = 11;
        let m = message(to_template(&p, "s[0]"));
        assert!(m.starts_with("s[0].position"), "{m}");
        let mut p = sample(F::Png, vec![]);
        p.impression = 42;
        let m = message(to_template(&p, "s[0]"));
        assert!(m.starts_with("s[0].impression"), "{m}");
        let twice = vec![sample(F::Png, vec![1]), sample(F::Png, vec![1])];
        let e = check_samples(&twice, "samples").unwrap_err();
        assert!(
            e.message().starts_with("samples[1].position"),
            "{}",
            e.message()
        );
        assert!(check_samples(&[], "samples").is_err());
    }
}
