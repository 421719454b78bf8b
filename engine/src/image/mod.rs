//! Fingerprint images: decoding (PNG, TIFF, BMP, JPEG, PGM; 8- and 16-bit grey; colour
//! converted to luma), the resolution the file declares, and normalisation to 500 ppi.
//!
//! Every input is outside input: sizes are checked before any pixel is decoded, and the
//! decoder is given allocation limits.

#[cfg(target_arch = "x86_64")]
mod avx2;
mod resolution;

pub use resolution::declared_ppi;

use std::io::Cursor;

/// Images wider or taller than this are refused before decoding.
pub const MAX_SIDE: u32 = 4000;
/// Images narrower or shorter than this are refused: no fingerprint fits.
pub const MIN_SIDE: u32 = 100;
/// The resolution extraction works at.
pub const TARGET_PPI: f32 = 500.0;
/// Resolutions outside this range are refused as absurd.
pub const PPI_RANGE: (f32, f32) = (250.0, 2000.0);

/// An 8-bit grey image, row-major, one byte per pixel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrayImage {
    /// Width in pixels.
    pub width: usize,
    /// Height in pixels.
    pub height: usize,
    /// `width * height` pixels, row after row; 0 is black.
    pub pixels: Vec<u8>,
}

/// Why an image cannot be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ImageError {
    /// Larger than [`MAX_SIDE`] in either direction.
    #[error(
        "image of {width} x {height} pixels is larger than the {MAX_SIDE} x {MAX_SIDE} allowed"
    )]
    TooLarge {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// Smaller than [`MIN_SIDE`] in either direction.
    #[error(
        "image of {width} x {height} pixels is smaller than the {MIN_SIDE} x {MIN_SIDE} a fingerprint needs"
    )]
    TooSmall {
        /// Width.
        width: u32,
        /// Height.
        height: u32,
    },
    /// Not a supported image format, or a corrupt or truncated file.
    #[error("cannot decode the image: {0}")]
    Decode(String),
    /// A raw buffer whose length does not match its dimensions.
    #[error("raw image of {width} x {height} needs {expected} bytes, got {actual}")]
    RawLength {
        /// Width.
        width: usize,
        /// Height.
        height: usize,
        /// Bytes needed.
        expected: usize,
        /// Bytes given.
        actual: usize,
    },
    /// A resolution that is zero, negative or absurd.
    #[error("resolution {0} ppi is outside the {lo}-{hi} ppi accepted", lo = PPI_RANGE.0, hi = PPI_RANGE.1)]
    Resolution(f32),
}

/// A decoded image with the resolution its file declares (if it declares one).
#[derive(Debug, Clone)]
pub struct DecodedImage {
    /// The grey pixels.
    pub image: GrayImage,
    /// Pixels per inch, from the file's header.
    pub declared_ppi: Option<f32>,
}

impl DecodedImage {
    /// The resolution to extract it at: `given` when there is one (checked when used), else
    /// the file's own, else [`TARGET_PPI`]. A declared resolution outside the plausible
    /// range (72 ppi is many tools' default) is a mis-tagged file, not a fingerprint scan:
    /// it is ignored.
    pub fn ppi(&self, given: Option<f32>) -> f32 {
        let declared = self.declared_ppi.filter(|&p| check_ppi(p).is_ok());
        given.or(declared).unwrap_or(TARGET_PPI)
    }
}

fn check_size(width: u32, height: u32) -> Result<(), ImageError> {
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(ImageError::TooLarge { width, height });
    }
    if width < MIN_SIDE || height < MIN_SIDE {
        return Err(ImageError::TooSmall { width, height });
    }
    Ok(())
}

/// Decodes an image file (PNG, TIFF, BMP, JPEG, PGM) to 8-bit grey.
pub fn decode(bytes: &[u8]) -> Result<DecodedImage, ImageError> {
    let decode_err = |e: image::ImageError| ImageError::Decode(e.to_string());
    let reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    if reader.format().is_none() {
        return Err(ImageError::Decode(
            "not a PNG, TIFF, BMP, JPEG or PGM file".into(),
        ));
    }
    let (width, height) = reader.into_dimensions().map_err(decode_err)?;
    check_size(width, height)?;
    let mut reader = image::ImageReader::new(Cursor::new(bytes))
        .with_guessed_format()
        .map_err(|e| ImageError::Decode(e.to_string()))?;
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    // Room for a 16-bit RGBA image of the largest size, and no more.
    limits.max_alloc = Some(u64::from(MAX_SIDE) * u64::from(MAX_SIDE) * 8);
    reader.limits(limits);
    let img = reader.decode().map_err(decode_err)?;
    // 16-bit grey is scaled to 8 bits; colour becomes luma (Rec. 601 weights).
    let grey = img.into_luma8();
    Ok(DecodedImage {
        image: GrayImage {
            width: grey.width() as usize,
            height: grey.height() as usize,
            pixels: grey.into_raw(),
        },
        declared_ppi: declared_ppi(bytes),
    })
}

/// Wraps raw 8-bit grey pixels (row-major) as an image, checking the sizes.
pub fn from_raw(width: usize, height: usize, pixels: Vec<u8>) -> Result<GrayImage, ImageError> {
    let (w, h) = (
        u32::try_from(width).unwrap_or(u32::MAX),
        u32::try_from(height).unwrap_or(u32::MAX),
    );
    check_size(w, h)?;
    if pixels.len() != width * height {
        return Err(ImageError::RawLength {
            width,
            height,
            expected: width * height,
            actual: pixels.len(),
        });
    }
    Ok(GrayImage {
        width,
        height,
        pixels,
    })
}

/// Checks a resolution.
pub fn check_ppi(ppi: f32) -> Result<f32, ImageError> {
    if ppi.is_finite() && (PPI_RANGE.0..=PPI_RANGE.1).contains(&ppi) {
        Ok(ppi)
    } else {
        Err(ImageError::Resolution(ppi))
    }
}

/// Bilinear resampling into `out` (`nw` pixels a row): each target pixel from the four
/// nearest source pixels. Compiled for AVX2 and NEON as well as the baseline, where
/// `floor`, `fract` and `round` are single instructions or short inline sequences rather
/// than library calls (they were most of this function's time); each gives the same
/// values everywhere, and each column's source position is worked out once, by the same
/// expression, so the pixels are those of the plain per-pixel loop (tested). Each source
/// row's interpolation along x is worked out once and kept while the target rows below
/// still need it (a source row serves one or two target rows): the same values, about
/// half the work.
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
fn bilinear(image: &GrayImage, scale: f32, nw: usize, out: &mut [u8]) {
    let (w, h) = (image.width, image.height);
    let src = &image.pixels;
    let source = |t: usize, size: usize| source_position(t, size, scale);
    let columns: Vec<(usize, usize, f32)> = (0..nw).map(|x| source(x, w)).collect();
    #[cfg(target_arch = "x86_64")]
    let grouped = avx2::available().then(|| avx2::Columns::new(&columns, w));
    // Source row `y` interpolated along x into `into`.
    let along = |y: usize, into: &mut [f32]| {
        let row = &src[y * w..(y + 1) * w];
        #[cfg(target_arch = "x86_64")]
        if let Some(grouped) = &grouped {
            grouped.along(row, into);
            return;
        }
        along_portable(row, &columns, into);
    };
    // The two source rows last interpolated, and which they are.
    let (mut upper, mut lower) = (vec![0.0f32; nw], vec![0.0f32; nw]);
    let (mut upper_row, mut lower_row) = (usize::MAX, usize::MAX);
    for (y, row) in out.chunks_exact_mut(nw).enumerate() {
        let (y0, y1, fy) = source(y, h);
        if y0 != upper_row {
            if y0 == lower_row {
                std::mem::swap(&mut upper, &mut lower);
                lower_row = usize::MAX;
            } else {
                along(y0, &mut upper);
            }
            upper_row = y0;
        }
        if y1 != lower_row {
            if y1 == upper_row {
                lower.copy_from_slice(&upper);
            } else {
                along(y1, &mut lower);
            }
            lower_row = y1;
        }
        for ((o, &top), &bottom) in row.iter_mut().zip(&upper).zip(&lower) {
            *o = to_byte((top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0));
        }
    }
}

/// Where target pixel `t` of a resampling by `scale` lies among `size` source pixels: the
/// source pixels before and after it (both the last one past the end) and the fraction
/// of the way from the first to the second.
#[inline]
fn source_position(t: usize, size: usize, scale: f32) -> (usize, usize, f32) {
    let s = ((t as f32 + 0.5) / scale - 0.5).clamp(0.0, (size - 1) as f32);
    let at = s.floor() as usize;
    (at, (at + 1).min(size - 1), s.fract())
}

/// Source `row` interpolated along x at `columns` (left source column, right source
/// column, fraction) into `into`.
#[inline]
fn along_portable(row: &[u8], columns: &[(usize, usize, f32)], into: &mut [f32]) {
    for (v, &(x0, x1, fx)) in into.iter_mut().zip(columns) {
        *v = f32::from(row[x0]) * (1.0 - fx) + f32::from(row[x1]) * fx;
    }
}

/// A whole number from 0 to 255 held in an f32, as a byte: `value as u8` gives the same,
/// but its check for values out of range and NaN is a scalar sequence per pixel, which
/// kept the resampling's last pass from being vectorised (about half of its time). Adding
/// 2²³ puts the number in the low bits of the sum's representation, exactly.
#[inline(always)]
fn to_byte(value: f32) -> u8 {
    debug_assert!(value.fract() == 0.0 && (0.0..=255.0).contains(&value));
    (value + 8_388_608.0).to_bits() as u8
}

/// Resamples an image taken at `ppi` to 500 ppi (bilinear; a tent filter over the source
/// pixels a target pixel covers when shrinking by more than half). Within 0.5 % of 500 ppi the
/// image is returned as it is.
pub fn to_500ppi(image: &GrayImage, ppi: f32) -> Result<GrayImage, ImageError> {
    let ppi = check_ppi(ppi)?;
    let scale = TARGET_PPI / ppi;
    if (scale - 1.0).abs() < 0.005 {
        return Ok(image.clone());
    }
    let nw = ((image.width as f32 * scale).round() as usize).max(1);
    let nh = ((image.height as f32 * scale).round() as usize).max(1);
    let mut out = vec![0u8; nw * nh];
    if scale >= 0.5 {
        bilinear(image, scale, nw, &mut out);
    } else {
        let (w, h) = (image.width, image.height);
        let src = &image.pixels;
        // Shrinking by more than half: a tent filter as wide as a target pixel's footprint,
        // so that no source pixel is skipped.
        let reach = 1.0 / scale;
        let taps = reach.ceil() as i64;
        for y in 0..nh {
            let sy = (y as f32 + 0.5) / scale - 0.5;
            for x in 0..nw {
                let sx = (x as f32 + 0.5) / scale - 0.5;
                let (mut acc, mut weight) = (0.0, 0.0);
                let (cx, cy) = (sx.floor() as i64, sy.floor() as i64);
                for yy in cy - taps + 1..=cy + taps {
                    let wy = 1.0 - ((yy as f32 - sy).abs() / reach);
                    if wy <= 0.0 {
                        continue;
                    }
                    let row = yy.clamp(0, h as i64 - 1) as usize * w;
                    for xx in cx - taps + 1..=cx + taps {
                        let wx = 1.0 - ((xx as f32 - sx).abs() / reach);
                        if wx > 0.0 {
                            acc +=
                                f32::from(src[row + xx.clamp(0, w as i64 - 1) as usize]) * wx * wy;
                            weight += wx * wy;
                        }
                    }
                }
                out[y * nw + x] = if weight > 0.0 {
                    (acc / weight).round().clamp(0.0, 255.0) as u8
                } else {
                    255
                };
            }
        }
    }
    Ok(GrayImage {
        width: nw,
        height: nh,
        pixels: out,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_before_decoding() {
        assert!(matches!(
            from_raw(50, 500, vec![0; 25_000]),
            Err(ImageError::TooSmall { .. })
        ));
        assert!(matches!(
            from_raw(5000, 100, vec![]),
            Err(ImageError::TooLarge { .. })
        ));
        assert!(matches!(
            from_raw(100, 100, vec![0; 10]),
            Err(ImageError::RawLength { .. })
        ));
    }

    /// The bilinear resampling as first written, pixel by pixel, for comparison.
    fn bilinear_per_pixel(image: &GrayImage, scale: f32, nw: usize, nh: usize) -> Vec<u8> {
        let (w, h) = (image.width, image.height);
        let src = &image.pixels;
        let mut out = vec![0u8; nw * nh];
        for y in 0..nh {
            let sy = ((y as f32 + 0.5) / scale - 0.5).clamp(0.0, (h - 1) as f32);
            let (y0, fy) = (sy.floor() as usize, sy.fract());
            let y1 = (y0 + 1).min(h - 1);
            for x in 0..nw {
                let sx = ((x as f32 + 0.5) / scale - 0.5).clamp(0.0, (w - 1) as f32);
                let (x0, fx) = (sx.floor() as usize, sx.fract());
                let x1 = (x0 + 1).min(w - 1);
                let p = |xx: usize, yy: usize| f32::from(src[yy * w + xx]);
                let top = p(x0, y0) * (1.0 - fx) + p(x1, y0) * fx;
                let bottom = p(x0, y1) * (1.0 - fx) + p(x1, y1) * fx;
                out[y * nw + x] = (top * (1.0 - fy) + bottom * fy).round().clamp(0.0, 255.0) as u8;
            }
        }
        out
    }

    #[test]
    fn bilinear_resampling_gives_the_per_pixel_loop_s_pixels() {
        let mut seed = 0x2545_f491_u32;
        let mut next = move || crate::extract::plane::xorshift32(&mut seed);
        for (w, h) in [(101, 100), (296, 560), (333, 217)] {
            let pixels: Vec<u8> = (0..w * h).map(|_| next() as u8).collect();
            let img = from_raw(w, h, pixels).unwrap();
            // Growing, and shrinking by at most half (further, the tent filter takes over).
            for ppi in [333.0, 480.0, 569.0, 600.0, 1000.0] {
                let scale = TARGET_PPI / ppi;
                let out = to_500ppi(&img, ppi).unwrap();
                let reference = bilinear_per_pixel(&img, scale, out.width, out.height);
                let differ = out
                    .pixels
                    .iter()
                    .zip(&reference)
                    .filter(|(a, b)| a != b)
                    .count();
                assert_eq!(differ, 0, "{w} x {h} at {ppi} ppi");
            }
        }
    }

    #[test]
    fn resampling_changes_size_by_the_resolution_ratio() {
        let img = from_raw(569, 300, (0..569 * 300).map(|i| (i % 251) as u8).collect()).unwrap();
        let out = to_500ppi(&img, 569.0).unwrap();
        assert_eq!((out.width, out.height), (500, 264));
        let same = to_500ppi(&img, 500.0).unwrap();
        assert_eq!(same, img);
        assert!(matches!(
            to_500ppi(&img, 0.0),
            Err(ImageError::Resolution(_))
        ));
        assert!(matches!(
            to_500ppi(&img, f32::NAN),
            Err(ImageError::Resolution(_))
        ));
    }

    #[test]
    fn garbage_and_truncated_files_are_decode_errors() {
        assert!(matches!(
            decode(b"not an image at all"),
            Err(ImageError::Decode(_))
        ));
        let mut png = Vec::new();
        let img = ::image::GrayImage::from_pixel(120, 120, ::image::Luma([200]));
        img.write_to(&mut Cursor::new(&mut png), ::image::ImageFormat::Png)
            .unwrap();
        assert_eq!(decode(&png).unwrap().image.width, 120);
        for cut in [png.len() / 2, 40, 10] {
            assert!(decode(&png[..cut]).is_err(), "cut at {cut}");
        }
    }
}
