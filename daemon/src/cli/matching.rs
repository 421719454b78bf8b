//! `daktilo match A B`: compare two templates, print the score and the decision, and
//! optionally draw the pairing.

use std::io::Cursor;
use std::path::Path;

use daktilo_engine::extract::{self, ExtractOptions};
use daktilo_engine::matching::{self, fmr_for_score, threshold_for_fmr};
use daktilo_engine::template::{self, Template};
use serde::Serialize;

use super::render::{self, Side};
use super::template::MAX_TEMPLATE_FILE;
use super::{ExitCode, Failure, read_input, write_output};

use super::extract::MAX_IMAGE_FILE;

/// A probe or candidate: a template file, or an image file whose minutiae are extracted.
/// Returns the template and, for drawing, the image it came from (the image itself, or
/// one found beside the template).
fn load(
    path: &Path,
    ppi: Option<f32>,
    want_image: bool,
) -> Result<(Template, Option<image::GrayImage>), Failure> {
    let invalid = |e: &dyn std::fmt::Display| {
        Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display()))
    };
    let bytes = read_input(path, MAX_IMAGE_FILE)?;
    if template::detect(&bytes).is_ok() {
        if bytes.len() as u64 > MAX_TEMPLATE_FILE {
            return Err(invalid(&"a template file larger than 1 MiB"));
        }
        let record = template::decode(&bytes).map_err(|e| invalid(&e))?;
        let view = record
            .templates
            .into_iter()
            .next()
            .ok_or_else(|| invalid(&"the record holds no finger view"))?;
        let picture = match render::image_beside(path).filter(|_| want_image) {
            Some(beside) => Some(decode_grey(&beside)?),
            None => None,
        };
        return Ok((view, picture));
    }
    // Not a template: an image, then.
    let extraction =
        extract::extract_file(&bytes, &ExtractOptions { ppi, debug: false }).map_err(|e| {
            Failure::new(
                ExitCode::InvalidInput,
                format!(
                    "{}: neither a template nor a usable image ({e})",
                    path.display()
                ),
            )
        })?;
    let picture = if want_image {
        Some(decode_grey(path)?)
    } else {
        None
    };
    Ok((extraction.template, picture))
}

fn decode_grey(path: &Path) -> Result<image::GrayImage, Failure> {
    let bytes = read_input(path, MAX_IMAGE_FILE)?;
    let img = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display())))?
        .decode()
        .map_err(|e| Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display())))?;
    Ok(img.to_luma8())
}

/// The outcome, as printed with `--json`.
#[derive(Debug, Serialize)]
pub struct MatchReport {
    /// The probe file.
    pub probe: String,
    /// The candidate file.
    pub candidate: String,
    /// Calibrated score, about −10·log10(FMR).
    pub score: f32,
    /// The false match rate the score stands for.
    pub fmr_estimate: f64,
    /// The decision threshold (from `--fmr`).
    pub threshold: f32,
    /// "match" or "no match".
    pub decision: &'static str,
    /// Paired minutiae (probe index, candidate index).
    pub pairs: Vec<(u8, u8)>,
    /// What made the score: local score, agreement, mated and common-area minutiae, field
    /// agreement, ridge-count differences between mates (docs/matching.md, steps 4–7).
    pub parts: matching::Parts,
}

/// Compares two prints (template or image files). `fmr` sets the decision threshold;
/// `render_to` draws them; `ppi` is the images' resolution when their files do not say.
pub fn run(
    probe: &Path,
    candidate: &Path,
    fmr: f64,
    json: bool,
    render_to: Option<&Path>,
    ppi: Option<f32>,
) -> Result<String, Failure> {
    let drawing = render_to.is_some();
    let (a, a_image) = load(probe, ppi, drawing)?;
    let (b, b_image) = load(candidate, ppi, drawing)?;
    let prepare = |t: &Template, p: &Path| {
        matching::prepare(t)
            .map_err(|e| Failure::new(ExitCode::InvalidInput, format!("{}: {e}", p.display())))
    };
    let comparison = matching::compare_detailed(&prepare(&a, probe)?, &prepare(&b, candidate)?);
    let threshold = threshold_for_fmr(fmr);
    let report = MatchReport {
        probe: probe.display().to_string(),
        candidate: candidate.display().to_string(),
        score: comparison.score,
        fmr_estimate: fmr_for_score(comparison.score),
        threshold,
        decision: if comparison.score >= threshold {
            "match"
        } else {
            "no match"
        },
        pairs: comparison.pairs.clone(),
        parts: comparison.parts,
    };
    if let Some(out) = render_to {
        let picture = render::render(
            &Side {
                template: &a,
                image: a_image,
            },
            &Side {
                template: &b,
                image: b_image,
            },
            &comparison.pairs,
        );
        let mut png = Vec::new();
        picture
            .write_to(&mut Cursor::new(&mut png), image::ImageFormat::Png)
            .map_err(|e| Failure::new(ExitCode::Io, format!("{}: {e}", out.display())))?;
        write_output(out, &png)?;
    }
    if json {
        let mut s = serde_json::to_string_pretty(&report).expect("serialisable");
        s.push('\n');
        return Ok(s);
    }
    // Beyond FMR 1e-10 the estimate is an extrapolation far past any data: say so.
    let fmr_text = if report.fmr_estimate < 1e-10 {
        "FMR far below 1e-10".to_string()
    } else {
        format!("FMR about {:.1e}", report.fmr_estimate)
    };
    Ok(format!(
        "score {:.1} ({fmr_text}): {} at threshold {:.1} (FMR {:.0e}); {} paired minutiae\n",
        report.score,
        report.decision,
        report.threshold,
        fmr,
        report.pairs.len()
    ))
}
