//! The Iso2011 reader driven directly (no format detection), strict and lenient.
#![no_main]

use daktilo_engine::template::{self, DecodeOptions, Format};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for lenient in [false, true] {
        let _ = template::decode_as(data, Format::Iso2011, &DecodeOptions { lenient });
    }
});
