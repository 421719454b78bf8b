//! Image decoding (PNG, TIFF, BMP, JPEG, PGM) with its size limits, and the header
//! resolution readers, on arbitrary bytes.
#![no_main]

use daktilo_engine::image;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = image::declared_ppi(data);
    let _ = image::decode(data);
});
