//! Quality: per minutia, from the reliability of the orientation field around it; per image,
//! a 0–100 score on the NFIQ 2 scale meant to predict matching success, from how much
//! print there is and how clear its ridges are.

use super::orientation::OrientationField;
use super::segmentation::Blocks;

/// Foreground blocks (of 8 x 8 px at 500 ppi) for full marks on area: about a 200 x 200 px
/// (10 x 10 mm) patch of print.
const AREA_FOR_FULL_MARKS: f32 = 625.0;

/// The quality of one minutia, 1–100, from the coherence of the orientation field there.
pub fn minutia_quality(field: &OrientationField, x: f32, y: f32) -> u8 {
    let (bx, by) = (
        x / super::params::BLOCK as f32 - 0.5,
        y / super::params::BLOCK as f32 - 0.5,
    );
    let c = field.coherence.sample(bx, by).clamp(0.0, 1.0);
    (100.0 * c).round().clamp(1.0, 100.0) as u8
}

/// Mean orientation coherence over the print: how clearly ridges run in parallel there
/// (about 0.1 for noise, 0.3–0.8 for prints). 0 when there is no foreground.
pub fn clarity(blocks: &Blocks, field: &OrientationField) -> f32 {
    let (mut sum, mut n) = (0.0, 0usize);
    for (i, &f) in blocks.foreground.iter().enumerate() {
        if f {
            sum += field.coherence.data[i];
            n += 1;
        }
    }
    if n == 0 { 0.0 } else { sum / n as f32 }
}

/// The image quality, 0–100: mean ridge clarity (orientation coherence) over the print,
/// scaled down when the print is small, and by the share of the print where the ridge
/// period could be measured.
pub fn image_quality(blocks: &Blocks, field: &OrientationField, minutiae: usize) -> u8 {
    let fg: Vec<usize> = (0..blocks.foreground.len())
        .filter(|&i| blocks.foreground[i])
        .collect();
    if fg.is_empty() || minutiae == 0 {
        return 0;
    }
    let clarity = clarity(blocks, field);
    let area = (fg.len() as f32 / AREA_FOR_FULL_MARKS).min(1.0);
    // Coherence of good prints lies around 0.5–0.8; stretch that onto the scale.
    let score = ((clarity - 0.2) / 0.6).clamp(0.0, 1.0) * area.sqrt();
    (100.0 * score).round().clamp(1.0, 100.0) as u8
}
