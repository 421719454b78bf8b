//! Extraction on real prints and on bad input.

use std::path::PathBuf;

use daktilo_engine::datasets;
use daktilo_engine::extract::{self, ExtractError, ExtractOptions};
use daktilo_engine::image::{self, ImageError};
use daktilo_engine::matching::{self, threshold_for_fmr};

fn fvc(path: &str) -> Option<PathBuf> {
    match datasets::locate() {
        Some(dir) => Some(dir.join("fvc2002").join(path)),
        None => {
            eprintln!("{}", datasets::skip_message("extraction on FVC2002"));
            None
        }
    }
}

fn extract_path(path: &PathBuf, ppi: Option<f32>) -> extract::Extraction {
    let bytes = std::fs::read(path).unwrap();
    extract::extract_file(&bytes, &ExtractOptions { ppi, debug: false }).unwrap()
}

fn png(width: u32, height: u32, pixel: impl Fn(u32, u32) -> u8) -> Vec<u8> {
    let img = ::image::GrayImage::from_fn(width, height, |x, y| ::image::Luma([pixel(x, y)]));
    let mut out = Vec::new();
    img.write_to(
        &mut std::io::Cursor::new(&mut out),
        ::image::ImageFormat::Png,
    )
    .unwrap();
    out
}

/// DB1_B 101_1 and 101_2 (mates) and 102_1 (another finger).
fn two_mates_and_another() -> Option<[PathBuf; 3]> {
    Some([
        fvc("DB1_B/101_1.tif")?,
        fvc("DB1_B/101_2.tif")?,
        fvc("DB1_B/102_1.tif")?,
    ])
}

#[test]
fn mates_extracted_from_images_match_and_other_fingers_do_not() {
    let Some([a, b, c]) = two_mates_and_another() else {
        return;
    };
    let (ea, eb, ec) = (
        extract_path(&a, None),
        extract_path(&b, None),
        extract_path(&c, None),
    );
    for e in [&ea, &eb, &ec] {
        let n = e.template.minutiae.len();
        assert!((15..=100).contains(&n), "{n} minutiae");
        assert!(e.quality >= 50, "quality {}", e.quality);
        assert!(e.template.minutiae.iter().all(|m| m.x < 388 && m.y < 374));
    }
    let prepare = |e: &extract::Extraction| matching::prepare(&e.template).unwrap();
    let (pa, pb, pc) = (prepare(&ea), prepare(&eb), prepare(&ec));
    assert!(matching::compare(&pa, &pb) >= threshold_for_fmr(1e-4));
    assert!(matching::compare(&pa, &pc) < threshold_for_fmr(1e-2));
}

#[test]
fn a_569_ppi_image_keeps_its_pixels_and_declares_its_resolution() {
    let Some(path) = fvc("DB2_B/101_1.tif") else {
        return;
    };
    let e = extract_path(&path, Some(569.0));
    assert_eq!((e.template.width, e.template.height), (296, 560));
    assert_eq!(e.template.resolution.x, 224, "569 ppi is 224 px/cm");
    assert!(e.template.minutiae.iter().all(|m| m.x < 296 && m.y < 560));
    assert!(e.template.minutiae.len() >= 15);
}

#[test]
fn extraction_is_deterministic_and_shows_every_step() {
    let Some(path) = fvc("DB3_B/101_1.tif") else {
        return;
    };
    let bytes = std::fs::read(&path).unwrap();
    let options = ExtractOptions {
        ppi: None,
        debug: true,
    };
    let first = extract::extract_file(&bytes, &options).unwrap();
    let second = extract::extract_file(&bytes, &options).unwrap();
    assert_eq!(first.template, second.template);
    let names: Vec<&str> = first.debug.iter().map(|(n, _)| *n).collect();
    assert_eq!(
        names,
        [
            "1-mask",
            "2-orientation",
            "3-frequency",
            "4-enhanced",
            "5-binary",
            "6-skeleton",
            "7-minutiae"
        ]
    );
    for (_, picture) in &first.debug {
        assert_eq!((picture.width(), picture.height()), (300, 300));
    }
}

#[test]
fn blank_uniform_and_noise_images_give_no_minutiae_and_quality_0() {
    let mut seed = 7u32;
    let mut noise = move || {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        (seed >> 24) as u8
    };
    let noisy: Vec<u8> = (0..300 * 300).map(|_| noise()).collect();
    let images = [
        png(300, 300, |_, _| 255),
        png(300, 300, |_, _| 128),
        png(300, 300, |_, _| 0),
        png(300, 300, |x, y| noisy[(y * 300 + x) as usize]),
    ];
    for (k, bytes) in images.iter().enumerate() {
        let e = extract::extract_file(bytes, &ExtractOptions::default()).unwrap();
        assert!(
            e.template.minutiae.len() <= 3,
            "image {k}: {} minutiae",
            e.template.minutiae.len()
        );
        if e.template.minutiae.is_empty() {
            assert_eq!(e.quality, 0, "image {k}");
        }
    }
}

#[test]
fn tiny_huge_corrupt_and_absurd_inputs_are_typed_errors() {
    let options = ExtractOptions::default();
    let err =
        |bytes: &[u8], options: &ExtractOptions| extract::extract_file(bytes, options).unwrap_err();
    assert!(matches!(
        err(&png(50, 50, |_, _| 0), &options),
        ExtractError::Image(ImageError::TooSmall { .. })
    ));
    // A PNG header declaring 5000 x 5000 pixels, with no pixel data: refused before decoding.
    let mut huge = png(120, 120, |_, _| 0);
    huge[16..20].copy_from_slice(&5000u32.to_be_bytes());
    huge[20..24].copy_from_slice(&5000u32.to_be_bytes());
    let e = err(&huge, &options);
    assert!(
        matches!(
            e,
            ExtractError::Image(ImageError::TooLarge { .. })
                | ExtractError::Image(ImageError::Decode(_))
        ),
        "{e}"
    );
    assert!(matches!(
        err(b"definitely not an image", &options),
        ExtractError::Image(ImageError::Decode(_))
    ));
    let good = png(200, 200, |x, _| if (x / 4) % 2 == 0 { 0 } else { 255 });
    for cut in [good.len() / 3, good.len() - 10] {
        assert!(matches!(
            err(&good[..cut], &options),
            ExtractError::Image(ImageError::Decode(_))
        ));
    }
    for ppi in [0.0, -500.0, 1e9, f32::NAN] {
        let options = ExtractOptions {
            ppi: Some(ppi),
            debug: false,
        };
        assert!(
            matches!(
                err(&good, &options),
                ExtractError::Image(ImageError::Resolution(_))
            ),
            "{ppi}"
        );
    }
    if let Some(path) = fvc("DB1_B/101_1.tif") {
        let bytes = std::fs::read(path).unwrap();
        assert!(extract::extract_file(&bytes[..bytes.len() / 2], &options).is_err());
    }
}

#[test]
fn raw_buffers_are_checked() {
    assert!(matches!(
        image::from_raw(300, 300, vec![0; 10]),
        Err(ImageError::RawLength { .. })
    ));
    let img = image::from_raw(300, 300, vec![200; 90_000]).unwrap();
    let e = extract::extract(&img, 500.0, false).unwrap();
    assert!(e.template.minutiae.is_empty());
}

#[test]
fn an_implausible_declared_resolution_is_ignored() {
    // A PNG tagged 72 ppi (2835 px/m), as many tools write by default.
    let mut bytes = png(
        300,
        300,
        |x, y| if ((x + y) / 5) % 2 == 0 { 40 } else { 220 },
    );
    let mut phys = Vec::new();
    phys.extend_from_slice(&9u32.to_be_bytes());
    let mut chunk = b"pHYs".to_vec();
    chunk.extend_from_slice(&2835u32.to_be_bytes());
    chunk.extend_from_slice(&2835u32.to_be_bytes());
    chunk.push(1);
    let crc = crc32(&chunk);
    phys.extend_from_slice(&chunk);
    phys.extend_from_slice(&crc.to_be_bytes());
    // Insert right after the IHDR chunk (8 signature + 25 IHDR bytes).
    bytes.splice(33..33, phys);
    assert!((image::declared_ppi(&bytes).unwrap() - 72.0).abs() < 0.1);
    let e = extract::extract_file(&bytes, &ExtractOptions::default()).unwrap();
    assert_eq!(e.template.resolution.x, 197, "taken as 500 ppi");
}

fn crc32(data: &[u8]) -> u32 {
    let mut crc = 0xffff_ffffu32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0xedb8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[test]
fn directions_agree_with_a_commercial_extractor() {
    // The FVC2002 ISO templates come from a commercial SDK, made from the images resized to
    // 300 x 400 (datasets README): undo that stretch, pair minutiae within 6 px, and
    // compare directions. Both follow the standards' convention, so they agree within a
    // few degrees (the stretch itself turns directions slightly); a half-turn convention
    // error would put them 180 degrees apart. Positions agree on average too: both give
    // the index of the pixel the minutia lies in (an earlier version was half a pixel
    // right and down).
    let mut diffs = Vec::new();
    let mut offsets = Vec::new();
    for name in ["DB1_B/101_1", "DB1_B/104_3", "DB4_B/102_2", "DB4_B/107_5"] {
        let (Some(image), Some(iso)) = (fvc(&format!("{name}.tif")), fvc(&format!("{name}.iso")))
        else {
            return;
        };
        let ours = extract_path(&image, None).template;
        let theirs = daktilo_engine::template::decode(&std::fs::read(iso).unwrap()).unwrap();
        let theirs = &theirs.templates[0];
        let (sx, sy) = (
            f32::from(ours.width) / f32::from(theirs.width),
            f32::from(ours.height) / f32::from(theirs.height),
        );
        for m in &ours.minutiae {
            let nearest = theirs.minutiae.iter().min_by(|a, b| {
                let d = |n: &&daktilo_engine::template::Minutia| {
                    (f32::from(n.x) * sx - f32::from(m.x)).powi(2)
                        + (f32::from(n.y) * sy - f32::from(m.y)).powi(2)
                };
                d(a).total_cmp(&d(b))
            });
            if let Some(n) = nearest {
                let d2 = (f32::from(n.x) * sx - f32::from(m.x)).powi(2)
                    + (f32::from(n.y) * sy - f32::from(m.y)).powi(2);
                if d2 <= 36.0 {
                    let units = m.direction.wrapping_sub(n.direction) as i8;
                    diffs.push(f32::from(units).abs() * 360.0 / 256.0);
                    // Pixel centres scale: (x + ½) stretches to (x' + ½).
                    let centre = |v: u16, s: f32| (f32::from(v) + 0.5) * s - 0.5;
                    offsets.push(
                        (f32::from(m.x) - centre(n.x, sx) + f32::from(m.y) - centre(n.y, sy)) / 2.0,
                    );
                }
            }
        }
    }
    assert!(diffs.len() > 60, "only {} minutiae paired", diffs.len());
    diffs.sort_by(f32::total_cmp);
    let median = diffs[diffs.len() / 2];
    let within_30 = diffs.iter().filter(|&&d| d <= 30.0).count() as f32 / diffs.len() as f32;
    assert!(
        median < 15.0,
        "median direction difference {median} degrees"
    );
    assert!(
        within_30 > 0.8,
        "{within_30} of paired minutiae within 30 degrees"
    );
    let offset = offsets.iter().sum::<f32>() / offsets.len() as f32;
    assert!(offset.abs() < 0.4, "mean offset {offset} px from theirs");
}

#[test]
fn our_templates_match_a_commercial_extractors() {
    // Interoperability: our extraction of one impression against the commercial SDK's
    // template of another impression of the same finger (its stretch to 300 x 400 undone),
    // and against other fingers' — as in a gallery that mixes vendor templates and ours.
    let mut genuine = Vec::new();
    let mut impostor = Vec::new();
    let load = |finger: u32, impression: u32| {
        let name = format!("DB1_B/{finger}_{impression}");
        let (image, iso) = (fvc(&format!("{name}.tif"))?, fvc(&format!("{name}.iso"))?);
        let ours = extract_path(&image, None).template;
        let mut theirs = daktilo_engine::template::decode(&std::fs::read(iso).unwrap())
            .unwrap()
            .templates
            .remove(0);
        let (sx, sy) = (
            f32::from(ours.width) / f32::from(theirs.width),
            f32::from(ours.height) / f32::from(theirs.height),
        );
        for m in &mut theirs.minutiae {
            m.x = (f32::from(m.x) * sx).round() as u16;
            m.y = (f32::from(m.y) * sy).round() as u16;
        }
        theirs.width = ours.width;
        theirs.height = ours.height;
        Some((
            matching::prepare(&ours).unwrap(),
            matching::prepare(&theirs).unwrap(),
        ))
    };
    let mut prints = Vec::new();
    for finger in 101..=110 {
        let (Some(first), Some(second)) = (load(finger, 1), load(finger, 2)) else {
            return;
        };
        prints.push((first, second));
    }
    for (i, ((_, theirs_first), _)) in prints.iter().enumerate() {
        for (j, (_, (ours_second, _))) in prints.iter().enumerate() {
            let s = matching::compare(ours_second, theirs_first);
            if i == j {
                genuine.push(s)
            } else {
                impostor.push(s)
            }
        }
    }
    genuine.sort_by(f32::total_cmp);
    impostor.sort_by(f32::total_cmp);
    let median = genuine[genuine.len() / 2];
    let worst_impostor = impostor[impostor.len() - 1];
    eprintln!("cross-extractor genuine scores {genuine:?}; highest impostor {worst_impostor}");
    assert!(median >= threshold_for_fmr(1e-3), "median genuine {median}");
    let matched = genuine.iter().filter(|&&s| s > worst_impostor).count();
    assert!(matched >= 7, "{matched} of 10 genuine above every impostor");
}

#[test]
fn templates_carry_their_ridge_flow_through_every_format() {
    use daktilo_engine::matching::flow::FLOW_EXTENSION;
    use daktilo_engine::template::{self, Format, TemplateRecord};
    let (Some(a), Some(b)) = (fvc("DB3_B/101_1.tif"), fvc("DB3_B/101_2.tif")) else {
        return;
    };
    let (ta, tb) = (
        extract_path(&a, None).template,
        extract_path(&b, None).template,
    );
    let flow = ta.extensions.iter().find(|e| e.kind == FLOW_EXTENSION);
    // A 300 x 300 px print: at most 19 x 19 blocks of 16 px, two bytes each.
    let len = flow.expect("a ridge-flow block").data.len();
    assert!((100..=6 + 2 * 19 * 19).contains(&len), "{len} bytes");
    let pb = matching::prepare(&tb).unwrap();
    let direct = matching::compare_detailed(&matching::prepare(&ta).unwrap(), &pb);
    assert!(direct.flow);
    for format in [
        Format::Native,
        Format::Iso2005,
        Format::Ansi2004,
        Format::Ansi2009,
    ] {
        let bytes = template::encode(&TemplateRecord::single(ta.clone()), format).unwrap();
        let back = template::decode(&bytes).unwrap().templates.remove(0);
        assert_eq!(back.extensions, ta.extensions, "{format:?}");
        let c = matching::compare_detailed(&matching::prepare(&back).unwrap(), &pb);
        assert!(c.flow, "{format:?}");
        if matches!(format, Format::Native | Format::Iso2005) {
            assert_eq!(c.pairs, direct.pairs, "{format:?}");
        } else {
            // ANSI directions are whole 2-degree steps: the same pairs, nearly the same score.
            assert!((c.score / direct.score - 1.0).abs() < 0.15, "{format:?}");
        }
    }
    // Without the block (another vendor's template), the minutiae are compared alone.
    let mut bare = ta.clone();
    bare.extensions.clear();
    let c = matching::compare_detailed(&matching::prepare(&bare).unwrap(), &pb);
    assert!(!c.flow);
}

#[test]
fn a_comparisons_parts_multiply_to_its_raw_similarity() {
    use daktilo_engine::matching::params::{
        COMMON_AREA_FLOOR, FIELD_AGREEMENT_LOW, FIELD_FLOOR, GLOBAL_WEIGHT, RIDGE_COUNT_CAP,
        RIDGE_COUNT_EVIDENCE, RIDGE_COUNT_SCALE,
    };
    let Some([a, b, c]) = two_mates_and_another() else {
        return;
    };
    let [ta, tb, tc] = [a, b, c].map(|p| extract_path(&p, None).template);
    let mut bare = tb.clone();
    bare.extensions.clear();
    assert!(ta.extensions.len() == 2 && tb.extensions.len() == 2);
    let [pa, pb, pc, bare] = [ta, tb, tc, bare].map(|t| matching::prepare(&t).unwrap());
    for (x, y, flow) in [(&pa, &pb, true), (&pa, &pc, true), (&pa, &bare, false)] {
        let c = matching::compare_detailed(x, y);
        let p = c.parts;
        assert_eq!(p.field.is_some(), flow);
        let (m, ca, cb) = (
            f32::from(p.mated),
            f32::from(p.common.0).max(COMMON_AREA_FLOOR),
            f32::from(p.common.1).max(COMMON_AREA_FLOOR),
        );
        assert!(p.mated <= p.common.0.min(p.common.1), "{p:?}");
        assert!(
            (p.agreement - (m * m / (ca * cb)).min(1.0)).abs() < 1e-6,
            "{p:?}"
        );
        let field = p.field.map_or(1.0, |f| {
            ((f - FIELD_AGREEMENT_LOW) / (1.0 - FIELD_AGREEMENT_LOW)).clamp(FIELD_FLOOR, 1.0)
        });
        let evidence: f32 = (0..4)
            .map(|d| f32::from(p.ridges[d]) * RIDGE_COUNT_EVIDENCE[d])
            .sum();
        let ridges = (RIDGE_COUNT_SCALE * evidence.min(RIDGE_COUNT_CAP)).exp();
        // Without our own blocks, no ridge counts are compared.
        assert!(flow || p.ridges == [0; 4], "{p:?}");
        let raw = p.local * p.agreement.powf(GLOBAL_WEIGHT) * field * ridges;
        assert!(
            (raw - c.raw).abs() <= 1e-6 * c.raw.max(1.0),
            "{raw} vs {}: {p:?}",
            c.raw
        );
    }
    // The genuine pair mates more minutiae than the impostor.
    let (g, i) = (
        matching::compare_detailed(&pa, &pb).parts,
        matching::compare_detailed(&pa, &pc).parts,
    );
    assert!(g.mated > i.mated, "{g:?} vs {i:?}");
    // The genuine pair's mates have ridge counts to compare, and most agree within one.
    let compared: u16 = g.ridges.iter().sum();
    assert!(
        compared >= 10 && 10 * (g.ridges[0] + g.ridges[1]) >= 8 * compared,
        "{g:?}"
    );
}
