//! Drawing two prints side by side with their paired minutiae joined: what a fingerprint
//! examiner looks at to confirm a hit.

use std::path::{Path, PathBuf};

use daktilo_engine::draw;
use daktilo_engine::template::{MinutiaKind, Template};
use image::{GrayImage, Rgb, RgbImage};

const GAP: u32 = 24;
const ENDING: Rgb<u8> = Rgb([30, 90, 230]);
const BIFURCATION: Rgb<u8> = Rgb([20, 160, 60]);
const PAIRED: Rgb<u8> = Rgb([230, 30, 30]);

/// One side of the picture: a template and, when found, the image it came from.
pub struct Side<'a> {
    /// The template.
    pub template: &'a Template,
    /// The image, if any (grey).
    pub image: Option<GrayImage>,
}

/// The image that sits beside a template file (same name, `.tif`, `.tiff`, `.png`, `.bmp`
/// or `.jpg`), if there is one.
pub fn image_beside(template_path: &Path) -> Option<PathBuf> {
    ["tif", "tiff", "png", "bmp", "jpg"]
        .iter()
        .map(|ext| template_path.with_extension(ext))
        .find(|p| p.is_file())
}

fn panel(side: &Side) -> (RgbImage, f32, f32) {
    let t = side.template;
    match &side.image {
        Some(grey) => {
            let rgb = RgbImage::from_fn(grey.width(), grey.height(), |x, y| {
                // Lighten the print so that the marks stand out.
                let v = grey.get_pixel(x, y)[0];
                let v = 96 + (u16::from(v) * 159 / 255) as u8;
                Rgb([v, v, v])
            });
            // Template coordinates to image pixels (templates may be made from a resized
            // image, e.g. the FVC SecuGen templates at 300 x 400).
            let sx = grey.width() as f32 / f32::from(t.width.max(1));
            let sy = grey.height() as f32 / f32::from(t.height.max(1));
            (rgb, sx, sy)
        }
        None => {
            let (w, h) = (u32::from(t.width.max(16)), u32::from(t.height.max(16)));
            (RgbImage::from_pixel(w, h, Rgb([255, 255, 255])), 1.0, 1.0)
        }
    }
}

fn marks(img: &mut RgbImage, t: &Template, sx: f32, sy: f32, dx: f32, paired: &[usize]) {
    for (i, m) in t.minutiae.iter().enumerate() {
        let p = (f32::from(m.x) * sx + dx, f32::from(m.y) * sy);
        let colour = if paired.contains(&i) {
            PAIRED
        } else if m.kind == MinutiaKind::Bifurcation {
            BIFURCATION
        } else {
            ENDING
        };
        // Template directions turn counter-clockwise on the image; drawing angles clockwise.
        draw::minutia(img, p, -m.direction_radians(), colour.0);
    }
}

/// Draws the probe on the left, the candidate on the right, and a line per pair.
pub fn render(probe: &Side, candidate: &Side, pairs: &[(u8, u8)]) -> RgbImage {
    let (left, lsx, lsy) = panel(probe);
    let (right, rsx, rsy) = panel(candidate);
    let width = left.width() + GAP + right.width();
    let height = left.height().max(right.height());
    let mut out = RgbImage::from_pixel(width, height, Rgb([255, 255, 255]));
    image::imageops::overlay(&mut out, &left, 0, 0);
    let offset = left.width() + GAP;
    image::imageops::overlay(&mut out, &right, i64::from(offset), 0);
    let probe_paired: Vec<usize> = pairs.iter().map(|p| usize::from(p.0)).collect();
    let candidate_paired: Vec<usize> = pairs.iter().map(|p| usize::from(p.1)).collect();
    marks(&mut out, probe.template, lsx, lsy, 0.0, &probe_paired);
    marks(
        &mut out,
        candidate.template,
        rsx,
        rsy,
        offset as f32,
        &candidate_paired,
    );
    for (k, &(i, j)) in pairs.iter().enumerate() {
        let (Some(a), Some(b)) = (
            probe.template.minutiae.get(usize::from(i)),
            candidate.template.minutiae.get(usize::from(j)),
        ) else {
            continue;
        };
        // A different warm hue per pair, so crossing lines can be told apart.
        let hue = (k * 47 % 120) as u8;
        let colour = [255, 90 + hue, 0];
        draw::line(
            &mut out,
            (f32::from(a.x) * lsx, f32::from(a.y) * lsy),
            (f32::from(b.x) * rsx + offset as f32, f32::from(b.y) * rsy),
            colour,
        );
    }
    out
}
