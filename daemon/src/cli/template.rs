//! `daktilo template show` and `daktilo template convert`.

use std::fmt::Write as _;
use std::path::Path;

use daktilo_engine::template::{self, DecodeOptions, Decoded, Format, Template};
use serde::Serialize;

use super::{ExitCode, Failure, read_input, write_output};

/// Template files are small; anything larger is refused before it is read.
pub const MAX_TEMPLATE_FILE: u64 = 1 << 20;

/// The output formats `convert --to` accepts.
pub const TARGETS: &[(&str, Format)] = &[
    ("iso", Format::Iso2005),
    ("iso2005", Format::Iso2005),
    ("ansi", Format::Ansi2004),
    ("ansi2004", Format::Ansi2004),
    ("ansi2009", Format::Ansi2009),
    ("native", Format::Native),
];

/// Parses a `--to` value.
pub fn parse_target(name: &str) -> Result<Format, String> {
    TARGETS
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|&(_, f)| f)
        .ok_or_else(|| {
            let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
            format!(
                "unknown format {name:?}; expected one of {}",
                names.join(", ")
            )
        })
}

fn load(path: &Path, lenient: bool) -> Result<(Vec<u8>, Decoded), Failure> {
    let bytes = read_input(path, MAX_TEMPLATE_FILE)?;
    let decoded = template::decode_with(&bytes, &DecodeOptions { lenient })
        .map_err(|e| Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display())))?;
    Ok((bytes, decoded))
}

#[derive(Serialize)]
struct ShowJson<'a> {
    file: String,
    bytes: usize,
    format: &'a str,
    #[serde(flatten)]
    decoded: &'a Decoded,
}

/// `daktilo template show FILE [--json] [--lenient]`: what a template holds.
pub fn show(path: &Path, json: bool, lenient: bool) -> Result<String, Failure> {
    let (bytes, decoded) = load(path, lenient)?;
    if json {
        let doc = ShowJson {
            file: path.display().to_string(),
            bytes: bytes.len(),
            format: decoded.record.format.name(),
            decoded: &decoded,
        };
        let mut out = serde_json::to_string_pretty(&doc).expect("serialisable");
        out.push('\n');
        return Ok(out);
    }
    Ok(describe(path, bytes.len(), &decoded))
}

fn describe(path: &Path, len: usize, decoded: &Decoded) -> String {
    let r = &decoded.record;
    let mut s = String::new();
    let _ = writeln!(s, "{}: {} ({len} bytes)", path.display(), r.format);
    let certified = if r.device.certified() {
        "certified"
    } else {
        "not certified"
    };
    let _ = write!(s, "device {} ({certified})", r.device.id);
    if let Some(c) = r.cbeff {
        let _ = write!(s, ", CBEFF owner {} product {}", c.owner, c.product);
    }
    let _ = writeln!(s, ", {} view(s)", r.templates.len());
    for w in &decoded.warnings {
        let _ = writeln!(s, "warning at byte {}: {}", w.offset, w.message);
    }
    for (i, t) in r.templates.iter().enumerate() {
        describe_view(&mut s, i, t);
    }
    s
}

fn describe_view(s: &mut String, index: usize, t: &Template) {
    let name = |v: &dyn erased::Named| v.name();
    let _ = writeln!(
        s,
        "\nview {index}: {} (finger {}), view {}, {}, quality {}",
        name(&t.finger),
        t.finger.code(),
        t.view,
        name(&t.impression),
        t.quality
    );
    let _ = writeln!(
        s,
        "  image {} x {} px at {} x {} px/cm ({:.0} x {:.0} ppi)",
        t.width,
        t.height,
        t.resolution.x,
        t.resolution.y,
        t.resolution.x_ppi(),
        t.resolution.y_ppi()
    );
    if let Some(c) = t.capture {
        let tm = c.time;
        let _ = writeln!(
            s,
            "  captured {:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03} UTC, device vendor {} type {}",
            tm.year,
            tm.month,
            tm.day,
            tm.hour,
            tm.minute,
            tm.second,
            tm.millisecond,
            c.vendor,
            c.device_type
        );
    }
    let _ = writeln!(s, "  {} minutiae:", t.minutiae.len());
    let _ = writeln!(
        s,
        "  {:>4} {:>6} {:>6} {:>8} {:<12} {:>7}",
        "#", "x", "y", "angle", "kind", "quality"
    );
    for (i, m) in t.minutiae.iter().enumerate() {
        let _ = writeln!(
            s,
            "  {i:>4} {:>6} {:>6} {:>7.1}° {:<12} {:>7}",
            m.x,
            m.y,
            m.direction_degrees(),
            name(&m.kind),
            m.quality
        );
    }
    if let Some(rc) = t.ridge_counts() {
        let _ = writeln!(
            s,
            "  ridge counts ({:?}): {} edge(s)",
            rc.method,
            rc.edges.len()
        );
    }
    for e in &t.extensions {
        let _ = writeln!(
            s,
            "  extension block type {:#06x}: {} byte(s)",
            e.kind,
            e.data.len()
        );
    }
}

/// Serde-named enum values ("LEFT_INDEX") for the human output, the same words as JSON.
mod erased {
    pub trait Named {
        fn name(&self) -> String;
    }

    impl<T: serde::Serialize> Named for T {
        fn name(&self) -> String {
            match serde_json::to_value(self) {
                Ok(serde_json::Value::String(s)) => s,
                Ok(other) => other.to_string(),
                Err(_) => "?".into(),
            }
        }
    }
}

/// `daktilo template convert IN OUT --to FORMAT [--lenient]`. Returns a one-line summary.
pub fn convert(input: &Path, output: &Path, to: Format, lenient: bool) -> Result<String, Failure> {
    let (bytes, decoded) = load(input, lenient)?;
    let out = template::encode(&decoded.record, to).map_err(|e| {
        Failure::new(
            ExitCode::Unconvertible,
            format!("{}: cannot write as {to}: {e}", input.display()),
        )
    })?;
    write_output(output, &out)?;
    Ok(format!(
        "{} ({}, {} bytes) -> {} ({to}, {} bytes)\n",
        input.display(),
        decoded.record.format,
        bytes.len(),
        output.display(),
        out.len()
    ))
}
