//! `daktilo match A B`: compare two templates, print the score and the decision, and
//! optionally draw the pairing.

use std::io::Cursor;
use std::path::Path;

use daktilo_engine::matching::{self, fmr_for_score, threshold_for_fmr};
use daktilo_engine::template::{self, Template};
use serde::Serialize;

use super::render::{self, Side};
use super::template::MAX_TEMPLATE_FILE;
use super::{ExitCode, Failure, read_input, write_output};

/// Images for `--render` are refused above this size (a 4000 x 4000 grey image is 16 MB;
/// compressed files are smaller).
const MAX_IMAGE_FILE: u64 = 64 << 20;

fn load_template(path: &Path) -> Result<Template, Failure> {
    let bytes = read_input(path, MAX_TEMPLATE_FILE)?;
    let record = template::decode(&bytes)
        .map_err(|e| Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display())))?;
    record.templates.into_iter().next().ok_or_else(|| {
        Failure::new(
            ExitCode::InvalidInput,
            format!("{}: the record holds no finger view", path.display()),
        )
    })
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
}

/// Compares two template files. `fmr` sets the decision threshold; `render_to` draws them.
pub fn run(
    probe: &Path,
    candidate: &Path,
    fmr: f64,
    json: bool,
    render_to: Option<&Path>,
) -> Result<String, Failure> {
    let (a, b) = (load_template(probe)?, load_template(candidate)?);
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
    };
    if let Some(out) = render_to {
        let load_image = |template_path: &Path| -> Result<Option<image::GrayImage>, Failure> {
            let Some(path) = render::image_beside(template_path) else {
                return Ok(None);
            };
            let bytes = read_input(&path, MAX_IMAGE_FILE)?;
            let img = image::ImageReader::new(Cursor::new(bytes))
                .with_guessed_format()
                .map_err(|e| {
                    Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display()))
                })?
                .decode()
                .map_err(|e| {
                    Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display()))
                })?;
            Ok(Some(img.to_luma8()))
        };
        let picture = render::render(
            &Side {
                template: &a,
                image: load_image(probe)?,
            },
            &Side {
                template: &b,
                image: load_image(candidate)?,
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
