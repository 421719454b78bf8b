//! Conformance of the template codecs on real data: the ISO/ANSI samples against their
//! expected JSON, every FVC2002 template, the truncated files, and format conversions.
//! Skips (with a message) where the shared datasets are absent.

use std::path::{Path, PathBuf};

use daktilo_engine::datasets;
use daktilo_engine::template::{
    self, DecodeErrorKind, DecodeOptions, Extension, Format, Minutia, MinutiaKind,
    RidgeCountMethod, Template, TemplateRecord,
};
use serde_json::Value;

fn datasets_or_skip(what: &str) -> Option<PathBuf> {
    let dir = datasets::locate();
    if dir.is_none() {
        eprintln!("{}", datasets::skip_message(what));
    }
    dir
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut bits = 0u32;
    let mut n = 0;
    let mut out = Vec::new();
    for c in text.bytes().filter(|&c| c != b'=') {
        let v = ALPHABET.iter().position(|&a| a == c).expect("base64 digit") as u32;
        bits = (bits << 6) | v;
        n += 6;
        if n >= 8 {
            n -= 8;
            out.push((bits >> n) as u8);
        }
    }
    out
}

fn finger_name(t: &Template) -> String {
    serde_json::to_value(t.finger)
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

fn u(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// Checks one decoded record against the sample's JSON. `angle` turns the JSON's raw
/// angle code into our binary direction.
fn check_against_json(record: &TemplateRecord, json: &Value, angle: fn(u8) -> u8) {
    let fingerprints = json["fingerprints"].as_array().unwrap();
    assert_eq!(
        record.templates.len(),
        fingerprints.len(),
        "number of views"
    );
    for key in ["vendorId", "subformat"] {
        if let Some(v) = json.get(key) {
            let cbeff = record.cbeff.expect("ANSI records carry CBEFF");
            let got = if key == "vendorId" {
                cbeff.owner
            } else {
                cbeff.product
            };
            assert_eq!(u64::from(got), v.as_u64().unwrap(), "{key}");
        }
    }
    if let Some(c) = json.get("sensorCertified") {
        assert_eq!(record.device.certified(), c.as_bool().unwrap());
        assert_eq!(u64::from(record.device.id), u(json, "sensorId"));
    }
    for (t, fp) in record.templates.iter().zip(fingerprints) {
        let image = if fp.get("width").is_some() { fp } else { json };
        assert_eq!(u64::from(t.width), u(image, "width"));
        assert_eq!(u64::from(t.height), u(image, "height"));
        assert_eq!(u64::from(t.resolution.x), u(image, "resolutionX"));
        assert_eq!(u64::from(t.resolution.y), u(image, "resolutionY"));
        assert_eq!(finger_name(t), fp["position"].as_str().unwrap());
        assert_eq!(u64::from(t.view), u(fp, "view"));
        let scan = fp["scanType"].as_str().unwrap();
        assert_eq!(
            serde_json::to_value(t.impression)
                .unwrap()
                .as_str()
                .unwrap(),
            scan
        );
        if let Some(q) = fp.get("quality") {
            assert_eq!(u64::from(t.quality), q.as_u64().unwrap(), "quality");
        }
        if let Some(v) = fp.get("qualityVendorId") {
            let source = t.quality_source.expect("quality source");
            assert_eq!(u64::from(source.vendor), v.as_u64().unwrap());
            assert_eq!(u64::from(source.algorithm), u(fp, "qualityAlgorithmId"));
        }
        if let Some(records) = fp.get("qrecords").and_then(Value::as_array) {
            let first = &records[0];
            assert_eq!(u64::from(t.quality), u(first, "quality"));
            let source = t.quality_source.expect("quality source");
            assert_eq!(u64::from(source.vendor), u(first, "vendor"));
            assert_eq!(u64::from(source.algorithm), u(first, "algorithm"));
        }
        if let Some(dt) = fp.get("datetime") {
            let capture = t.capture.expect("capture information");
            let time = capture.time;
            let got: [u64; 7] = [
                time.year.into(),
                time.month.into(),
                time.day.into(),
                time.hour.into(),
                time.minute.into(),
                time.second.into(),
                time.millisecond.into(),
            ];
            let want: Vec<u64> = [
                "year",
                "month",
                "day",
                "hour",
                "minute",
                "second",
                "millisecond",
            ]
            .iter()
            .map(|k| u(dt, k))
            .collect();
            assert_eq!(got.to_vec(), want);
            assert_eq!(u64::from(capture.vendor), u(fp, "sensorVendor"));
            assert_eq!(u64::from(capture.device_type), u(fp, "sensorId"));
            assert_eq!(fp["sensorType"], "UNKNOWN");
            assert_eq!(capture.technology, 0);
            assert_eq!(fp["endingType"], "VALLEY_SKELETON_BIFURCATION");
            assert_eq!(capture.ridge_ending, 0);
        }
        let minutiae = fp["minutiae"].as_array().unwrap();
        assert_eq!(t.minutiae.len(), minutiae.len(), "number of minutiae");
        for (i, (m, jm)) in t.minutiae.iter().zip(minutiae).enumerate() {
            let kind = match jm["type"].as_str().unwrap() {
                "ENDING" => MinutiaKind::Ending,
                "BIFURCATION" => MinutiaKind::Bifurcation,
                _ => MinutiaKind::Other,
            };
            let want = Minutia {
                x: u(jm, "positionX") as u16,
                y: u(jm, "positionY") as u16,
                direction: angle(u(jm, "angle") as u8),
                kind,
                quality: u(jm, "quality") as u8,
            };
            assert_eq!(*m, want, "minutia {i}");
        }
        let counts = t.ridge_counts();
        match fp.get("counts").filter(|c| !c.is_null()) {
            None => assert_eq!(counts, None),
            Some(c) => {
                let counts = counts.expect("ridge counts");
                assert_eq!(c["type"], "QUADRANTS");
                assert_eq!(counts.method, RidgeCountMethod::Quadrants);
                let edges: Vec<(u64, u64, u64)> = c["edges"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|e| (u(e, "from"), u(e, "to"), u(e, "count")))
                    .collect();
                let got: Vec<(u64, u64, u64)> = counts
                    .edges
                    .iter()
                    .map(|e| (e.from.into(), e.to.into(), e.count.into()))
                    .collect();
                assert_eq!(got, edges);
            }
        }
        let want: Vec<Extension> = fp["extensions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| Extension {
                kind: u(e, "type") as u16,
                data: base64(e["data"].as_str().unwrap()),
            })
            .collect();
        let got: Vec<Extension> = t
            .extensions
            .iter()
            .filter(|e| e.kind > 3)
            .cloned()
            .collect();
        assert_eq!(got, want, "vendor extension blocks");
    }
}

/// Turns a sample JSON's raw angle code into our binary direction.
type AngleCode = fn(u8) -> u8;

fn sample(dir: &Path, name: &str) -> (Vec<u8>, Value) {
    let base = dir.join("templates").join(name);
    let json = serde_json::from_slice(&read(&base.with_extension("json"))).unwrap();
    (read(&base.with_extension("dat")), json)
}

#[test]
fn standard_samples_decode_to_exactly_what_their_json_says() {
    let Some(dir) = datasets_or_skip("template sample conformance") else {
        return;
    };
    let cases: [(&str, Format, AngleCode); 4] = [
        ("iso19794p2v2005-sample", Format::Iso2005, |a| a),
        ("iso19794p2v2011-sample", Format::Iso2011, |a| a),
        (
            "ansi378v2009-sample",
            Format::Ansi2009,
            Minutia::direction_from_ansi,
        ),
        (
            "ansi378v2009am1-sample",
            Format::Ansi2009Am1,
            Minutia::direction_from_ansi,
        ),
    ];
    for (name, format, angle) in cases {
        let (bytes, json) = sample(&dir, name);
        assert_eq!(template::detect(&bytes).unwrap(), format, "{name}");
        let record = template::decode(&bytes).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(record.format, format);
        check_against_json(&record, &json, angle);
    }
}

#[test]
fn malformed_ansi_2004_sample_is_refused_strictly_with_the_offset_of_the_version() {
    let Some(dir) = datasets_or_skip("malformed ANSI 2004 sample") else {
        return;
    };
    let (bytes, _) = sample(&dir, "ansi378v2004-sample");
    let err = template::decode(&bytes).unwrap_err();
    assert_eq!(err.offset, 4);
    assert!(
        matches!(err.kind, DecodeErrorKind::UnsupportedVersion { .. }),
        "{err}"
    );
    assert!(err.to_string().contains("020"), "{err}");
}

#[test]
fn malformed_ansi_2004_sample_decodes_leniently_with_warnings() {
    let Some(dir) = datasets_or_skip("malformed ANSI 2004 sample") else {
        return;
    };
    let (bytes, json) = sample(&dir, "ansi378v2004-sample");
    let decoded = template::decode_with(&bytes, &DecodeOptions { lenient: true }).unwrap();
    assert_eq!(decoded.record.format, Format::Ansi2004);
    // Its angles go up to 249: the writer used ISO's 1/256-turn unit, as the JSON does.
    check_against_json(&decoded.record, &json, |a| a);
    let messages: Vec<&str> = decoded
        .warnings
        .iter()
        .map(|w| w.message.as_str())
        .collect();
    assert!(
        messages.iter().any(|m| m.contains("version")),
        "{messages:?}"
    );
    assert!(
        messages.iter().any(|m| m.contains("above 179")),
        "{messages:?}"
    );
}

fn fvc_templates(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = ["DB1_B", "DB2_B", "DB3_B", "DB4_B"]
        .iter()
        .flat_map(|set| std::fs::read_dir(dir.join("fvc2002").join(set)).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "iso"))
        .collect();
    files.sort();
    files
}

#[test]
fn all_320_fvc2002_templates_decode_and_round_trip_through_native_byte_for_byte() {
    let Some(dir) = datasets_or_skip("FVC2002 templates") else {
        return;
    };
    let files = fvc_templates(&dir);
    assert_eq!(files.len(), 320);
    for path in files {
        let iso = read(&path);
        let record = template::decode(&iso).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(record.format, Format::Iso2005);
        assert_eq!(record.templates.len(), 1);
        let t = &record.templates[0];
        assert_eq!((t.width, t.height), (300, 400), "{}", path.display());
        assert!(!t.minutiae.is_empty());
        let native = template::encode(&record, Format::Native).unwrap();
        assert!(native.len() <= iso.len(), "{}", path.display());
        let back = template::decode(&native).unwrap();
        assert_eq!(back.format, Format::Native);
        let again = template::encode(&back, Format::Iso2005).unwrap();
        assert_eq!(
            again,
            iso,
            "{}: ISO -> native -> ISO changed bytes",
            path.display()
        );
    }
}

#[test]
fn standard_samples_round_trip_through_native_byte_for_byte() {
    let Some(dir) = datasets_or_skip("ISO 2005 sample round trip") else {
        return;
    };
    let (iso, _) = sample(&dir, "iso19794p2v2005-sample");
    let record = template::decode(&iso).unwrap();
    let native = template::encode(&record, Format::Native).unwrap();
    let back = template::decode(&native).unwrap();
    assert_eq!(template::encode(&back, Format::Iso2005).unwrap(), iso);
    // ANSI 2009 and ISO 2011 keep their extra fields through native too.
    for name in ["ansi378v2009-sample", "iso19794p2v2011-sample"] {
        let (bytes, _) = sample(&dir, name);
        let record = template::decode(&bytes).unwrap();
        let native = template::encode(&record, Format::Native).unwrap();
        let back = template::decode(&native).unwrap();
        assert_eq!(back.templates, record.templates, "{name}");
        assert_eq!(back.device, record.device, "{name}");
        assert_eq!(back.cbeff, record.cbeff, "{name}");
    }
}

/// The largest angular difference, in degrees, between two binary directions.
fn angle_error(a: u8, b: u8) -> f32 {
    let d = a.wrapping_sub(b).min(b.wrapping_sub(a));
    f32::from(d) * 360.0 / 256.0
}

#[test]
fn iso_to_ansi_and_back_keeps_every_minutia_within_the_angle_quantisation() {
    let Some(dir) = datasets_or_skip("ISO <-> ANSI conversion") else {
        return;
    };
    for path in fvc_templates(&dir) {
        let record = template::decode(&read(&path)).unwrap();
        for format in [Format::Ansi2004, Format::Ansi2009] {
            let ansi = template::encode(&record, format).unwrap();
            let via = template::decode(&ansi).unwrap();
            assert_eq!(via.format, format);
            let iso = template::encode(&via, Format::Iso2005).unwrap();
            let back = template::decode(&iso).unwrap();
            for (a, b) in record.templates[0]
                .minutiae
                .iter()
                .zip(&back.templates[0].minutiae)
            {
                assert_eq!((a.x, a.y, a.kind, a.quality), (b.x, b.y, b.kind, b.quality));
                // ANSI's 2° steps: at most 1° off, plus ISO's own half-step on the way back.
                let error = angle_error(a.direction, b.direction);
                assert!(error <= 1.0 + 360.0 / 512.0, "{}: {error}°", path.display());
            }
            assert_eq!(
                record.templates[0].minutiae.len(),
                back.templates[0].minutiae.len()
            );
        }
    }
}

#[test]
fn ansi_2009_to_iso_and_back_restores_every_angle_code() {
    let Some(dir) = datasets_or_skip("ANSI -> ISO -> ANSI") else {
        return;
    };
    let (ansi, _) = sample(&dir, "ansi378v2009-sample");
    let record = template::decode(&ansi).unwrap();
    let mut iso_record = record.clone();
    // ISO 2005 holds one image size for all views; these views share theirs.
    iso_record
        .templates
        .iter_mut()
        .for_each(|t| t.quality_source = None);
    let iso = template::encode(&iso_record, Format::Iso2005).unwrap();
    let back = template::decode(&iso).unwrap();
    let again = template::encode(&back, Format::Ansi2009).unwrap();
    let reread = template::decode(&again).unwrap();
    for (a, b) in record.templates.iter().zip(&reread.templates) {
        let codes = |t: &Template| -> Vec<u8> {
            t.minutiae
                .iter()
                .map(|m| Minutia::direction_to_ansi(m.direction))
                .collect()
        };
        assert_eq!(codes(a), codes(b));
    }
}

#[test]
fn truncated_iso_files_are_refused_with_the_declared_and_actual_lengths() {
    let Some(dir) = datasets_or_skip("truncated ISO files") else {
        return;
    };
    for (name, actual) in [
        ("101_1_truncate_1_byte.iso", 29),
        ("101_1_truncate_2_bytes.iso", 28),
        ("101_1_truncate_3_bytes.iso", 27),
    ] {
        let bytes = read(&dir.join("invalid-iso").join(name));
        for lenient in [false, true] {
            let err = template::decode_with(&bytes, &DecodeOptions { lenient }).unwrap_err();
            assert_eq!(err.offset, 8, "{name}");
            assert_eq!(
                err.kind,
                DecodeErrorKind::LengthMismatch {
                    declared: 30,
                    actual
                },
                "{name}"
            );
        }
    }
}

/// Every sample and a spread of FVC templates, each in every format we write.
fn corpus(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for name in [
        "iso19794p2v2005-sample",
        "iso19794p2v2011-sample",
        "ansi378v2004-sample",
        "ansi378v2009-sample",
        "ansi378v2009am1-sample",
    ] {
        out.push((name.to_string(), sample(dir, name).0));
    }
    let fvc = fvc_templates(dir);
    for path in fvc.iter().step_by(40) {
        let iso = read(path);
        let record = template::decode(&iso).unwrap();
        for format in [Format::Native, Format::Ansi2004, Format::Ansi2009] {
            let name = format!("{} as {format}", path.display());
            out.push((name, template::encode(&record, format).unwrap()));
        }
        out.push((path.display().to_string(), iso));
    }
    out
}

#[test]
fn every_truncation_of_every_sample_is_an_error_not_a_panic() {
    let Some(dir) = datasets_or_skip("truncation sweep") else {
        return;
    };
    for (name, bytes) in corpus(&dir) {
        for len in 0..bytes.len() {
            for lenient in [false, true] {
                let result = template::decode_with(&bytes[..len], &DecodeOptions { lenient });
                assert!(result.is_err(), "{name} cut to {len} bytes decoded");
            }
        }
    }
}

#[test]
fn every_bit_flip_of_every_sample_decodes_or_errs_without_panicking() {
    let Some(dir) = datasets_or_skip("bit-flip sweep") else {
        return;
    };
    for (name, bytes) in corpus(&dir) {
        let native = bytes.starts_with(template::native::MAGIC);
        for bit in 0..bytes.len() * 8 {
            let mut flipped = bytes.clone();
            flipped[bit / 8] ^= 1 << (bit % 8);
            for lenient in [false, true] {
                match template::decode_with(&flipped, &DecodeOptions { lenient }) {
                    Ok(decoded) => {
                        assert!(!native, "{name}: flipped bit {bit} passed the checksum");
                        // Whatever decodes must also encode (or refuse) cleanly.
                        for format in [Format::Native, Format::Iso2005, Format::Ansi2004] {
                            let _ = template::encode(&decoded.record, format);
                        }
                    }
                    Err(e) => assert!(e.offset <= flipped.len(), "{name}: offset {}", e.offset),
                }
            }
        }
    }
}
