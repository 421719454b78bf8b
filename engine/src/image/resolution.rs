//! Reading the resolution an image file declares (PNG pHYs, TIFF XResolution, BMP pixels per
//! metre, JPEG JFIF density), without decoding the image. Every read is bounds-checked:
//! these parse outside input.

/// The horizontal resolution in pixels per inch that the file declares, if any.
pub fn declared_ppi(bytes: &[u8]) -> Option<f32> {
    let ppi = if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        png(bytes)
    } else if bytes.starts_with(b"II*\0") || bytes.starts_with(b"MM\0*") {
        tiff(bytes)
    } else if bytes.starts_with(b"BM") {
        bmp(bytes)
    } else if bytes.starts_with(&[0xff, 0xd8]) {
        jpeg(bytes)
    } else {
        None
    }?;
    (ppi.is_finite() && ppi > 0.0).then_some(ppi)
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        b.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

fn png(b: &[u8]) -> Option<f32> {
    let mut at = 8usize;
    while at.checked_add(12)? <= b.len() {
        let len = be32(b, at)? as usize;
        let kind = b.get(at + 4..at + 8)?;
        if kind == b"pHYs" && len >= 9 {
            let x = be32(b, at + 8)?;
            let unit = *b.get(at + 16)?;
            // Unit 1: pixels per metre.
            return (unit == 1).then_some(x as f32 * 0.0254);
        }
        if kind == b"IDAT" || kind == b"IEND" {
            return None;
        }
        at = at.checked_add(12)?.checked_add(len)?;
    }
    None
}

fn tiff(b: &[u8]) -> Option<f32> {
    let little = b.starts_with(b"II");
    let u16_at = |at: usize| -> Option<u16> {
        let s: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
        Some(if little {
            u16::from_le_bytes(s)
        } else {
            u16::from_be_bytes(s)
        })
    };
    let u32_at = |at: usize| -> Option<u32> {
        let s: [u8; 4] = b.get(at..at.checked_add(4)?)?.try_into().ok()?;
        Some(if little {
            u32::from_le_bytes(s)
        } else {
            u32::from_be_bytes(s)
        })
    };
    let ifd = u32_at(4)? as usize;
    let entries = usize::from(u16_at(ifd)?);
    let (mut x, mut unit) = (None, 2u16);
    for i in 0..entries.min(512) {
        let e = ifd.checked_add(2 + 12 * i)?;
        match u16_at(e)? {
            // XResolution: RATIONAL at an offset.
            282 => {
                let at = u32_at(e + 8)? as usize;
                let (num, den) = (u32_at(at)?, u32_at(at.checked_add(4)?)?);
                if den != 0 {
                    x = Some(num as f32 / den as f32);
                }
            }
            // ResolutionUnit: 1 none, 2 inch, 3 centimetre.
            296 => unit = u16_at(e + 8)?,
            _ => {}
        }
    }
    match unit {
        2 => x,
        3 => x.map(|v| v * 2.54),
        _ => None,
    }
}

fn bmp(b: &[u8]) -> Option<f32> {
    // BITMAPINFOHEADER: horizontal pixels per metre at byte 38.
    let s: [u8; 4] = b.get(38..42)?.try_into().ok()?;
    let ppm = i32::from_le_bytes(s);
    (ppm > 0).then_some(ppm as f32 * 0.0254)
}

fn jpeg(b: &[u8]) -> Option<f32> {
    // JFIF APP0 right after SOI: FF E0, length, "JFIF\0", version (2), units, Xdensity.
    if b.get(2..4)? != [0xff, 0xe0] || b.get(6..11)? != b"JFIF\0" {
        return None;
    }
    let units = *b.get(13)?;
    let x = f32::from(u16::from_be_bytes(b.get(14..16)?.try_into().ok()?));
    match units {
        1 => Some(x),
        2 => Some(x * 2.54),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn png_phys_in_pixels_per_metre() {
        let mut b = b"\x89PNG\r\n\x1a\n".to_vec();
        b.extend_from_slice(&9u32.to_be_bytes());
        b.extend_from_slice(b"pHYs");
        b.extend_from_slice(&19685u32.to_be_bytes());
        b.extend_from_slice(&19685u32.to_be_bytes());
        b.push(1);
        b.extend_from_slice(&[0; 4]);
        let ppi = declared_ppi(&b).unwrap();
        assert!((ppi - 500.0).abs() < 0.1, "{ppi}");
    }

    #[test]
    fn truncated_headers_declare_nothing() {
        for b in [
            &b"\x89PNG\r\n\x1a\n\0\0\0\x09pH"[..],
            b"II*\0\xff\xff\xff\xff",
            b"BM\0",
            b"\xff\xd8\xff\xe0",
        ] {
            assert_eq!(declared_ppi(b), None);
        }
    }
}
