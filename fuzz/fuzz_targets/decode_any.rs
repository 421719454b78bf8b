//! Auto-detection and every reader behind it, strict and lenient; whatever decodes must
//! also encode (or refuse), and be prepared for matching and compared with itself (which
//! reads the extended data blocks the matcher uses, such as the ridge flow), without
//! panicking.
#![no_main]

use daktilo_engine::matching;
use daktilo_engine::template::{self, DecodeOptions, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for lenient in [false, true] {
        if let Ok(decoded) = template::decode_with(data, &DecodeOptions { lenient }) {
            for format in [
                Format::Native,
                Format::Iso2005,
                Format::Ansi2004,
                Format::Ansi2009,
            ] {
                let _ = template::encode(&decoded.record, format);
            }
            for view in &decoded.record.templates {
                if let Ok(prepared) = matching::prepare(view) {
                    let _ = matching::compare(&prepared, &prepared);
                }
            }
        }
    }
});
