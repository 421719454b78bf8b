//! Cross-crate: what the engine writes, other crates' readers accept, and the reverse.

use daktilo_engine::template::{self, Format, Minutia, MinutiaKind, Template, TemplateRecord};

#[test]
fn every_writable_format_is_detected_as_itself() {
    let mut t = Template::new(400, 500);
    t.minutiae.push(Minutia {
        x: 10,
        y: 20,
        direction: 30,
        kind: MinutiaKind::Ending,
        quality: 40,
    });
    let record = TemplateRecord::single(t);
    for format in [
        Format::Iso2005,
        Format::Ansi2004,
        Format::Ansi2009,
        Format::Native,
    ] {
        let bytes = template::encode(&record, format).unwrap();
        assert_eq!(template::detect(&bytes).unwrap(), format);
    }
}
