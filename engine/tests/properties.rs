//! Property tests: any record we can build round-trips through every writable format, and
//! no byte string makes a reader panic.

use daktilo_engine::template::{
    self, Cbeff, DecodeOptions, Device, Extension, FingerPosition, Format, ImpressionType, Minutia,
    MinutiaKind, QualitySource, Resolution, Template, TemplateRecord,
};
use proptest::prelude::*;

fn minutia() -> impl Strategy<Value = Minutia> {
    (0..=0x3fffu16, 0..=0x3fffu16, any::<u8>(), 0..3u8, 0..=100u8).prop_map(
        |(x, y, direction, kind, quality)| Minutia {
            x,
            y,
            direction,
            kind: MinutiaKind::from_code(kind).unwrap(),
            quality,
        },
    )
}

fn extension() -> impl Strategy<Value = Extension> {
    (
        prop_oneof![Just(1u16), Just(2u16), 0x100..0xffffu16],
        prop::collection::vec(any::<u8>(), 0..20),
    )
        .prop_map(|(kind, data)| Extension { kind, data })
}

/// A view; `image` fixes the image header so that single-image formats can hold it.
fn view(image: (u16, u16, u16, u16)) -> impl Strategy<Value = Template> {
    (
        0..16u8,
        0..16u8,
        0..10u8,
        0..=100u8,
        prop::collection::vec(minutia(), 0..80),
        prop::collection::vec(extension(), 0..3),
    )
        .prop_map(
            move |(finger, view, impression, quality, minutiae, extensions)| Template {
                finger: FingerPosition::from_code(finger).unwrap(),
                view,
                impression: ImpressionType::from_code(impression),
                quality,
                quality_source: None,
                width: image.0,
                height: image.1,
                resolution: Resolution {
                    x: image.2,
                    y: image.3,
                },
                minutiae,
                extensions,
                capture: None,
            },
        )
}

fn record() -> impl Strategy<Value = TemplateRecord> {
    (
        (1..2000u16, 1..2000u16, 1..1000u16, 1..1000u16),
        0..16u8,
        0..0x1000u16,
    )
        .prop_flat_map(|(image, compliance, id)| {
            prop::collection::vec(view(image), 0..4).prop_map(move |templates| TemplateRecord {
                format: Format::Native,
                device: Device { compliance, id },
                cbeff: None,
                templates,
            })
        })
}

fn as_format(mut record: TemplateRecord, format: Format) -> TemplateRecord {
    record.format = format;
    record
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 256,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn native_round_trip_is_exact(mut r in record(), owner in any::<u16>(), product in any::<u16>()) {
        r.cbeff = Some(Cbeff { owner, product });
        if let Some(t) = r.templates.first_mut() {
            t.quality_source = Some(QualitySource { vendor: owner, algorithm: product });
        }
        let bytes = template::encode(&r, Format::Native).unwrap();
        prop_assert_eq!(template::decode(&bytes).unwrap(), r);
    }

    #[test]
    fn iso_2005_round_trip_is_exact(r in record()) {
        let bytes = template::encode(&r, Format::Iso2005).unwrap();
        let decoded = template::decode(&bytes).unwrap();
        prop_assert_eq!(decoded, as_format(r, Format::Iso2005));
    }

    #[test]
    fn ansi_round_trips_keep_all_but_the_angle_quantisation(r in record()) {
        for format in [Format::Ansi2004, Format::Ansi2009] {
            let bytes = template::encode(&r, format).unwrap();
            let decoded = template::decode(&bytes).unwrap();
            prop_assert_eq!(decoded.format, format);
            prop_assert_eq!(decoded.templates.len(), r.templates.len());
            for (a, b) in r.templates.iter().zip(&decoded.templates) {
                prop_assert_eq!((a.finger, a.view, a.quality), (b.finger, b.view, b.quality));
                prop_assert_eq!(&a.extensions, &b.extensions);
                for (m, n) in a.minutiae.iter().zip(&b.minutiae) {
                    prop_assert_eq!((m.x, m.y, m.kind, m.quality), (n.x, n.y, n.kind, n.quality));
                    prop_assert_eq!(
                        Minutia::direction_to_ansi(m.direction),
                        Minutia::direction_to_ansi(n.direction)
                    );
                }
            }
            // Written again, the ANSI bytes are stable.
            prop_assert_eq!(template::encode(&decoded, format).unwrap(), bytes);
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic_any_reader(data in prop::collection::vec(any::<u8>(), 0..600), lenient in any::<bool>()) {
        let options = DecodeOptions { lenient };
        let _ = template::decode_with(&data, &options);
        for format in [Format::Iso2005, Format::Iso2011, Format::Ansi2004, Format::Ansi2009, Format::Native] {
            let _ = template::decode_as(&data, format, &options);
        }
    }

    #[test]
    fn fmr_headers_with_random_bodies_never_panic(
        version in prop_oneof![Just(*b" 20\0"), Just(*b"030\0"), Just(*b"035\0"), Just(*b"020\0")],
        body in prop::collection::vec(any::<u8>(), 0..400),
    ) {
        let mut data = b"FMR\0".to_vec();
        data.extend_from_slice(&version);
        data.extend_from_slice(&body);
        for lenient in [false, true] {
            let _ = template::decode_with(&data, &DecodeOptions { lenient });
        }
    }
}
