//! Minutiae extraction: from a grey image to a template.
//!
//! The pipeline, one module per step (see `docs/extraction.md` for the papers):
//!
//! 1. [`crate::image::to_500ppi`] — resample to 500 ppi;
//! 2. [`segmentation`] — which blocks hold the print;
//! 3. normalisation — grey levels to zero mean and unit spread, block by block;
//! 4. [`orientation`] — ridge direction and its reliability per block;
//! 5. [`frequency`] — ridge period per block;
//! 6. [`enhance`] — oriented Gabor filtering (contextual enhancement);
//! 7. [`binarize`] — the sign of the filtered image, specks and pin-holes cleaned;
//! 8. [`thinning`] — one-pixel-wide ridge skeletons;
//! 9. [`minutiae`] — endings and bifurcations, with directions;
//! 10. [`filters`] — false-minutia removal;
//! 11. [`quality`] — per-minutia and image quality.
//!
//! Every step can show its work: with `debug` set, [`extract`] returns an image per step.

pub mod binarize;
pub mod enhance;
pub mod filters;
pub mod frequency;
pub mod minutiae;
pub mod orientation;
pub mod params;
pub mod plane;
pub mod quality;
pub mod ridge_count;
pub mod segmentation;
pub mod thinning;

use crate::image::{self, GrayImage, ImageError};
use crate::template::{FingerPosition, ImpressionType, Minutia, MinutiaKind, Resolution, Template};
use params::*;
use plane::Plane;

/// What extraction gives.
#[derive(Debug, Clone)]
pub struct Extraction {
    /// The template, in the input image's pixels and resolution.
    pub template: Template,
    /// Image quality 0–100 (also in `template.quality`).
    pub quality: u8,
    /// One picture per step when asked for (`debug`), in pipeline order.
    pub debug: Vec<(&'static str, ::image::RgbImage)>,
}

/// How to extract.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExtractOptions {
    /// The image's resolution; `None` takes the file's (when plausible), or 500 ppi.
    pub ppi: Option<f32>,
    /// Keep a picture of each step.
    pub debug: bool,
}

/// Why extraction failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ExtractError {
    /// The image could not be decoded or used.
    #[error(transparent)]
    Image(#[from] ImageError),
}

/// Decodes an image file and extracts its minutiae.
pub fn extract_file(bytes: &[u8], options: &ExtractOptions) -> Result<Extraction, ExtractError> {
    let decoded = image::decode(bytes)?;
    Ok(extract(
        &decoded.image,
        decoded.ppi(options.ppi),
        options.debug,
    )?)
}

/// Extracts the minutiae of a grey image taken at `ppi`.
pub fn extract(input: &GrayImage, ppi: f32, debug: bool) -> Result<Extraction, ImageError> {
    let ppi = image::check_ppi(ppi)?;
    let img = image::to_500ppi(input, ppi)?;
    let (w, h) = (img.width, img.height);
    let mut pictures = Vec::new();

    let blocks = segmentation::segment(&img);
    let normalised = normalise(&img, &blocks);
    let field = orientation::estimate(&normalised, &blocks);
    if debug {
        pictures.push(("2-orientation", debug_orientation(&img, &blocks, &field)));
    }
    if quality::clarity(&blocks, &field) < MIN_CLARITY {
        // Blank, uniform, noise, or not a fingerprint.
        if debug {
            pictures.insert(0, ("1-mask", debug_mask(&img, &blocks, &blocks)));
        }
        return Ok(Extraction {
            template: template_of(input, ppi, Vec::new(), 0),
            quality: 0,
            debug: pictures,
        });
    }
    let frequency::RidgeFrequency { period, signal } =
        frequency::estimate(&normalised, &blocks, &field);
    // Handwriting, printed text and ruled lines pass the grey-level test of segmentation
    // (cards, forms); only blocks with a ridge pattern around them stay print.
    let graded = debug.then(|| blocks.clone());
    let mut blocks = blocks;
    segmentation::keep_ridges(&mut blocks, &signal);
    if let Some(graded) = graded {
        pictures.insert(0, ("1-mask", debug_mask(&img, &graded, &blocks)));
    }
    let enhanced = enhance::enhance(&normalised, &blocks, &field, &period);
    let mut skeleton = binarize::binarize(&enhanced, &blocks);
    if debug {
        pictures.push(("3-frequency", debug_frequency(&blocks, &period, w, h)));
        pictures.push(("4-enhanced", debug_plane(&enhanced)));
        pictures.push(("5-binary", debug_binary(&skeleton, w, h)));
    }
    let ridges = skeleton.clone();
    thinning::thin(&mut skeleton, w, h);
    if debug {
        pictures.push(("6-skeleton", debug_binary(&skeleton, w, h)));
    }
    let inside = |x: usize, y: usize| blocks.is_foreground_at(x, y);
    let mut candidates = minutiae::detect(&skeleton, w, h, &field, inside);
    let near_background = |x: usize, y: usize, r: f32| {
        (0..16).any(|k| {
            let a = k as f32 * std::f32::consts::TAU / 16.0;
            let (px, py) = (x as f32 + r * a.cos(), y as f32 + r * a.sin());
            px < 0.0
                || py < 0.0
                || px >= w as f32
                || py >= h as f32
                || !blocks.is_foreground_px(px, py)
        })
    };
    filters::apply(&mut candidates, w, near_background);

    // Back to the input image's pixels and resolution: the centre of 500-ppi pixel x lies
    // at (x + ½)·back in the input's continuous coordinates, inside the input pixel of
    // that index rounded down, i.e. (x + ½)·back − ½ rounded. (Without the −½ every
    // coordinate came out half a pixel right and down of the commercial extractor's.)
    let back = ppi / image::TARGET_PPI;
    let minutia = |c: &minutiae::Candidate| Minutia {
        x: ((c.x as f32 + 0.5) * back - 0.5)
            .round()
            .min(f32::from(Minutia::MAX_COORDINATE)) as u16,
        y: ((c.y as f32 + 0.5) * back - 0.5)
            .round()
            .min(f32::from(Minutia::MAX_COORDINATE)) as u16,
        // Image angles turn clockwise on screen; template directions counter-clockwise.
        // The candidates point out of the ridge (ending) or into the stem (fork); the
        // standards' convention is the opposite — a ridge ending points up its ridge, a
        // bifurcation down the valley between its forks — hence the half turn. This is
        // what commercial extractors write (the FVC2002 SecuGen templates agree within
        // about 10 degrees; a test checks it), so their templates and ours compare.
        direction: Minutia::direction_from_degrees(180.0 - c.angle.to_degrees()),
        kind: c.kind,
        quality: quality::minutia_quality(&field, c.x as f32, c.y as f32),
    };
    // Each kept minutia with its position at 500 ppi, for the ridge counts, and its
    // candidate.
    let mut found: Vec<(Minutia, (f32, f32), usize)> = candidates
        .iter()
        .enumerate()
        .filter(|(_, c)| !c.removed)
        .map(|(i, c)| (minutia(c), (c.x as f32, c.y as f32), i))
        .collect();
    found.sort_by_key(|(m, _, _)| std::cmp::Reverse(m.quality));
    if debug {
        // The picture shows the template: those beyond the cap are not in it.
        for &(_, _, i) in found.iter().skip(MAX_MINUTIAE) {
            candidates[i].removed = true;
        }
    }
    found.truncate(MAX_MINUTIAE);
    // The ridges between neighbouring minutiae, in the template's order of minutiae.
    let at: Vec<(f32, f32)> = found.iter().map(|&(_, p, _)| p).collect();
    let counts = ridge_count::neighbour_counts(&ridges, w, h, inside, &at);
    let found: Vec<Minutia> = found.into_iter().map(|(m, _, _)| m).collect();
    let q = quality::image_quality(&blocks, &field, found.len());
    if debug {
        pictures.push(("7-minutiae", debug_minutiae(&img, &candidates)));
    }
    let mut template = template_of(input, ppi, found, q);
    template.extensions.extend(flow_extension(&blocks, &field));
    template
        .extensions
        .extend(crate::matching::ridge_counts::encode(&counts));
    Ok(Extraction {
        template,
        quality: q,
        debug: pictures,
    })
}

/// The orientation field averaged over blocks of [`crate::matching::flow::FLOW_BLOCK`] px,
/// as the template's ridge-flow block: a block is print where most of its
/// [`BLOCK`]-px blocks are.
fn flow_extension(
    blocks: &segmentation::Blocks,
    field: &orientation::OrientationField,
) -> Option<crate::template::Extension> {
    use crate::matching::flow;
    let k = flow::FLOW_BLOCK / BLOCK;
    let (fw, fh) = (blocks.bw.div_ceil(k), blocks.bh.div_ceil(k));
    let mut cells = Vec::with_capacity(fw * fh);
    for fy in 0..fh {
        for fx in 0..fw {
            let (mut c, mut s, mut coherence, mut n, mut all) = (0.0f32, 0.0f32, 0.0f32, 0, 0);
            for by in fy * k..((fy + 1) * k).min(blocks.bh) {
                for bx in fx * k..((fx + 1) * k).min(blocks.bw) {
                    all += 1;
                    let i = by * blocks.bw + bx;
                    if blocks.foreground[i] {
                        let w = field.coherence.data[i];
                        c += w * field.cos2.data[i];
                        s += w * field.sin2.data[i];
                        coherence += w;
                        n += 1;
                    }
                }
            }
            cells.push((n > 0 && 2 * n >= all && (c != 0.0 || s != 0.0)).then(|| {
                let theta = 0.5 * s.atan2(c);
                (theta, coherence / n as f32)
            }));
        }
    }
    flow::encode(fw, fh, flow::FLOW_BLOCK, &cells)
}

/// The template of an input image taken at `ppi`.
fn template_of(input: &GrayImage, ppi: f32, minutiae: Vec<Minutia>, quality: u8) -> Template {
    let ppcm = (ppi / 2.54).round() as u16;
    Template {
        finger: FingerPosition::Unknown,
        view: 0,
        impression: ImpressionType::LivePlain,
        quality,
        quality_source: None,
        width: input.width.min(usize::from(u16::MAX)) as u16,
        height: input.height.min(usize::from(u16::MAX)) as u16,
        resolution: Resolution { x: ppcm, y: ppcm },
        minutiae,
        extensions: Vec::new(),
        capture: None,
    }
}

/// Grey levels to zero mean and unit spread, with block statistics interpolated between
/// block centres; background pixels become 0.
///
/// Dispatched at run time to an AVX2 + FMA or NEON build (the same values: no fused
/// multiply-adds, exact roundings; the FVC2002 templates are byte-identical).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn normalise(img: &GrayImage, blocks: &segmentation::Blocks) -> Plane {
    let std: Vec<f32> = blocks.std.iter().map(|s| s.max(1.0)).collect();
    // Bilinear interpolation between block centres, with its per-column and per-row
    // weights worked out once (the same arithmetic as `Plane::sample`, clamped at the
    // borders).
    let axis = |n: usize, blocks_n: usize| -> Vec<(usize, usize, f32)> {
        (0..n)
            .map(|i| {
                let b = i as f32 / BLOCK as f32 - 0.5;
                let b0 = b.floor();
                let f = b - b0;
                let b0 = b0 as isize;
                let clamp = |v: isize| v.clamp(0, blocks_n as isize - 1) as usize;
                (clamp(b0), clamp(b0 + 1), f)
            })
            .collect()
    };
    let (columns, rows) = (axis(img.width, blocks.bw), axis(img.height, blocks.bh));
    // The interpolation along x, `a` and `b` of `Plane::sample`, done once per block row
    // for every column; each image row then mixes two of these rows with its own weight,
    // pixel by pixel in order, which the compiler vectorises.
    let along_x = |per_block: &[f32]| -> Vec<Vec<f32>> {
        per_block
            .chunks_exact(blocks.bw)
            .map(|blocks_row| {
                columns
                    .iter()
                    .map(|&(x0, x1, fx)| blocks_row[x0] * (1.0 - fx) + blocks_row[x1] * fx)
                    .collect()
            })
            .collect()
    };
    let (mean, std) = (along_x(&blocks.mean), along_x(&std));
    let foreground: Vec<Vec<bool>> = blocks
        .foreground
        .chunks_exact(blocks.bw)
        .map(|blocks_row| (0..img.width).map(|x| blocks_row[x / BLOCK]).collect())
        .collect();
    let mut out = Plane::filled(img.width, img.height, 0.0);
    let pixel_rows = img.pixels.chunks_exact(img.width);
    let out_rows = out.data.chunks_exact_mut(img.width);
    for (y, ((pixels, out), &(y0, y1, fy))) in pixel_rows.zip(out_rows).zip(&rows).enumerate() {
        let means = mean[y0].iter().zip(&mean[y1]);
        let stds = std[y0].iter().zip(&std[y1]);
        let inside = &foreground[y / BLOCK];
        for ((((out, &pixel), (&m0, &m1)), (&s0, &s1)), &inside) in
            out.iter_mut().zip(pixels).zip(means).zip(stds).zip(inside)
        {
            let m = m0 * (1.0 - fy) + m1 * fy;
            let s = s0 * (1.0 - fy) + s1 * fy;
            let v = (f32::from(pixel) - m) / s;
            // Background stays 0.
            *out = if inside { v } else { 0.0 };
        }
    }
    out
}

fn grey_to_rgb(img: &GrayImage) -> ::image::RgbImage {
    ::image::RgbImage::from_fn(img.width as u32, img.height as u32, |x, y| {
        let v = img.pixels[y as usize * img.width + x as usize];
        ::image::Rgb([v, v, v])
    })
}

/// The print's mask: background by the grey-level test tinted red, blocks that passed it
/// but hold no ridge pattern ([`segmentation::keep_ridges`]) tinted orange.
fn debug_mask(
    img: &GrayImage,
    graded: &segmentation::Blocks,
    ridges: &segmentation::Blocks,
) -> ::image::RgbImage {
    let mut out = grey_to_rgb(img);
    for (x, y, p) in out.enumerate_pixels_mut() {
        let (x, y) = (x as f32, y as f32);
        if !graded.is_foreground_px(x, y) {
            p.0 = [p.0[0] / 2 + 100, p.0[1] / 3, p.0[2] / 3];
        } else if !ridges.is_foreground_px(x, y) {
            p.0 = [p.0[0] / 2 + 110, p.0[1] / 2 + 60, p.0[2] / 4];
        }
    }
    out
}

fn debug_orientation(
    img: &GrayImage,
    blocks: &segmentation::Blocks,
    field: &orientation::OrientationField,
) -> ::image::RgbImage {
    let mut out = grey_to_rgb(img);
    for by in (0..blocks.bh).step_by(2) {
        for bx in (0..blocks.bw).step_by(2) {
            if !blocks.foreground[by * blocks.bw + bx] {
                continue;
            }
            let t = field.angle(bx, by);
            let c = field.coherence.data[by * blocks.bw + bx];
            let (cx, cy) = (
                (bx * BLOCK + BLOCK / 2) as f32,
                (by * BLOCK + BLOCK / 2) as f32,
            );
            let r = 7.0;
            let colour = [(255.0 * (1.0 - c)) as u8, (255.0 * c) as u8, 40];
            crate::draw::line(
                &mut out,
                (cx - r * t.cos(), cy - r * t.sin()),
                (cx + r * t.cos(), cy + r * t.sin()),
                colour,
            );
        }
    }
    out
}

fn debug_frequency(
    blocks: &segmentation::Blocks,
    period: &Plane,
    w: usize,
    h: usize,
) -> ::image::RgbImage {
    let (lo, hi) = PERIOD_RANGE;
    ::image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let (bx, by) = (x as usize / BLOCK, y as usize / BLOCK);
        if !blocks.foreground[by * blocks.bw + bx] {
            return ::image::Rgb([0, 0, 0]);
        }
        let v = ((period.data[by * blocks.bw + bx] - lo) / (hi - lo)).clamp(0.0, 1.0);
        ::image::Rgb([(255.0 * v) as u8, 80, (255.0 * (1.0 - v)) as u8])
    })
}

fn debug_plane(p: &Plane) -> ::image::RgbImage {
    let max = p.data.iter().fold(0.0f32, |m, v| m.max(v.abs())).max(1e-6);
    ::image::RgbImage::from_fn(p.width as u32, p.height as u32, |x, y| {
        let v = (128.0 + 127.0 * p.at(x as usize, y as usize) / max) as u8;
        ::image::Rgb([v, v, v])
    })
}

fn debug_binary(g: &[u8], w: usize, h: usize) -> ::image::RgbImage {
    ::image::RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let v = if g[y as usize * w + x as usize] == 1 {
            0
        } else {
            255
        };
        ::image::Rgb([v, v, v])
    })
}

fn debug_minutiae(img: &GrayImage, candidates: &[minutiae::Candidate]) -> ::image::RgbImage {
    let mut out = grey_to_rgb(img);
    for p in out.pixels_mut() {
        let v = 110 + (u16::from(p.0[0]) * 145 / 255) as u8;
        p.0 = [v, v, v];
    }
    for c in candidates {
        let colour = match (c.removed, c.kind) {
            (true, _) => [150, 150, 150],
            (false, MinutiaKind::Bifurcation) => [20, 160, 60],
            (false, _) => [30, 90, 230],
        };
        crate::draw::minutia(&mut out, (c.x as f32, c.y as f32), c.angle, colour);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::plane::xorshift32;
    use super::*;

    #[test]
    fn normalising_row_by_row_samples_the_block_statistics_pixel_by_pixel() {
        let mut seed = 0x51ed_270b_u32;
        // Sizes that are and are not whole blocks; blocks in and out of the print at random.
        for (w, h) in [(64, 40), (61, 43), (9, 17)] {
            let img = GrayImage {
                width: w,
                height: h,
                pixels: (0..w * h).map(|_| xorshift32(&mut seed) as u8).collect(),
            };
            let (bw, bh) = (w.div_ceil(BLOCK), h.div_ceil(BLOCK));
            let mut random =
                |scale: f32| (xorshift32(&mut seed) % 10_000) as f32 / 10_000.0 * scale;
            let blocks = segmentation::Blocks {
                bw,
                bh,
                foreground: (0..bw * bh).map(|_| random(1.0) < 0.7).collect(),
                mean: (0..bw * bh).map(|_| random(255.0)).collect(),
                std: (0..bw * bh).map(|_| random(60.0)).collect(),
                void: vec![false; bw * bh],
            };
            let plane = |data: Vec<f32>| Plane {
                width: bw,
                height: bh,
                data,
            };
            let mean = plane(blocks.mean.clone());
            let std = plane(blocks.std.iter().map(|s| s.max(1.0)).collect());
            let out = normalise(&img, &blocks);
            for y in 0..h {
                for x in 0..w {
                    let expected = if blocks.foreground[(y / BLOCK) * bw + x / BLOCK] {
                        let (bx, by) =
                            (x as f32 / BLOCK as f32 - 0.5, y as f32 / BLOCK as f32 - 0.5);
                        (f32::from(img.pixels[y * w + x]) - mean.sample(bx, by))
                            / std.sample(bx, by)
                    } else {
                        0.0
                    };
                    assert_eq!(
                        out.data[y * w + x].to_bits(),
                        expected.to_bits(),
                        "{w} x {h} at ({x}, {y})"
                    );
                }
            }
        }
    }
}
