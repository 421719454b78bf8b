//! # daktilo-ffi
//!
//! A C ABI over the Daktilo engine, for other languages and vendor SDKs that want to
//! convert, extract and match in-process. Functions take pointers and lengths, return a
//! status code, and never panic across the boundary.
//!
//! What it is not for: the service. Programs that talk to `daktilod` use its gRPC API.
//!
//! This first cut offers template conversion; extraction and matching join it as the engine
//! grows, and the C header is generated from this file.

use daktilo_engine::template::{self, Format};

/// Status codes returned by every function.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaktiloStatus {
    /// Success.
    Ok = 0,
    /// A pointer argument was null.
    NullArgument = 1,
    /// The input is not a valid template.
    InvalidTemplate = 2,
    /// The template cannot be written in the requested format.
    Unconvertible = 3,
    /// The output buffer is too small; `*out_len` says how large it must be.
    BufferTooSmall = 4,
    /// The format code is not one of [`DaktiloFormat`].
    UnknownFormat = 5,
    /// An internal error (a bug): nothing was written.
    Internal = 99,
}

/// Output formats.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DaktiloFormat {
    /// ISO/IEC 19794-2:2005.
    Iso2005 = 1,
    /// ANSI INCITS 378-2004.
    Ansi2004 = 2,
    /// ANSI INCITS 378-2009.
    Ansi2009 = 3,
    /// Daktilo native.
    Native = 4,
}

fn format_from_code(code: u32) -> Option<Format> {
    Some(match code {
        1 => Format::Iso2005,
        2 => Format::Ansi2004,
        3 => Format::Ansi2009,
        4 => Format::Native,
        _ => return None,
    })
}

/// The library's version as a NUL-terminated string with static lifetime.
#[unsafe(no_mangle)]
pub extern "C" fn daktilo_version() -> *const std::ffi::c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr().cast()
}

/// Converts a template (any supported format, detected) to `format` (a [`DaktiloFormat`]
/// code). Writes at most `out_capacity` bytes to `out` and the converted length to
/// `*out_len`; when the buffer is too small, returns `BufferTooSmall` with `*out_len` set
/// so that the caller can retry.
///
/// # Safety
/// `input` must point to `input_len` readable bytes, `out` to `out_capacity` writable bytes
/// (it may be null when `out_capacity` is 0), and `out_len` to a writable `size_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn daktilo_template_convert(
    input: *const u8,
    input_len: usize,
    format: u32,
    out: *mut u8,
    out_capacity: usize,
    out_len: *mut usize,
) -> DaktiloStatus {
    if input.is_null() || out_len.is_null() || (out.is_null() && out_capacity > 0) {
        return DaktiloStatus::NullArgument;
    }
    // SAFETY: the caller promises `input` points to `input_len` readable bytes.
    let input = unsafe { std::slice::from_raw_parts(input, input_len) };
    let result = std::panic::catch_unwind(|| convert(input, format));
    let bytes = match result {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(status)) => return status,
        Err(_) => return DaktiloStatus::Internal,
    };
    // SAFETY: the caller promises `out_len` is writable.
    unsafe { *out_len = bytes.len() };
    if bytes.len() > out_capacity {
        return DaktiloStatus::BufferTooSmall;
    }
    // SAFETY: `out` has room for `out_capacity >= bytes.len()` bytes and does not overlap
    // the freshly allocated `bytes`.
    unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), out, bytes.len()) };
    DaktiloStatus::Ok
}

fn convert(input: &[u8], format: u32) -> Result<Vec<u8>, DaktiloStatus> {
    let format = format_from_code(format).ok_or(DaktiloStatus::UnknownFormat)?;
    let record = template::decode(input).map_err(|_| DaktiloStatus::InvalidTemplate)?;
    template::encode(&record, format).map_err(|_| DaktiloStatus::Unconvertible)
}

#[cfg(test)]
mod tests {
    use super::*;
    use daktilo_engine::template::{Template, TemplateRecord};

    fn iso() -> Vec<u8> {
        let record = TemplateRecord::single(Template::new(300, 400));
        template::encode(&record, Format::Iso2005).unwrap()
    }

    #[test]
    fn converts_into_a_large_enough_buffer() {
        let input = iso();
        let mut out = vec![0u8; 256];
        let mut len = 0usize;
        let status = unsafe {
            daktilo_template_convert(
                input.as_ptr(),
                input.len(),
                4,
                out.as_mut_ptr(),
                out.len(),
                &mut len,
            )
        };
        assert_eq!(status, DaktiloStatus::Ok);
        let back = template::decode(&out[..len]).unwrap();
        assert_eq!(back.format, Format::Native);
    }

    #[test]
    fn reports_the_needed_size_when_the_buffer_is_too_small() {
        let input = iso();
        let mut len = 0usize;
        let status = unsafe {
            daktilo_template_convert(
                input.as_ptr(),
                input.len(),
                1,
                std::ptr::null_mut(),
                0,
                &mut len,
            )
        };
        assert_eq!(status, DaktiloStatus::BufferTooSmall);
        assert_eq!(len, input.len());
    }

    #[test]
    fn rejects_garbage_unknown_formats_and_null_pointers() {
        let mut len = 0usize;
        let garbage = [0u8; 10];
        let s = unsafe {
            daktilo_template_convert(garbage.as_ptr(), 10, 1, std::ptr::null_mut(), 0, &mut len)
        };
        assert_eq!(s, DaktiloStatus::InvalidTemplate);
        let input = iso();
        let s = unsafe {
            daktilo_template_convert(
                input.as_ptr(),
                input.len(),
                77,
                std::ptr::null_mut(),
                0,
                &mut len,
            )
        };
        assert_eq!(s, DaktiloStatus::UnknownFormat);
        let s = unsafe {
            daktilo_template_convert(std::ptr::null(), 0, 1, std::ptr::null_mut(), 0, &mut len)
        };
        assert_eq!(s, DaktiloStatus::NullArgument);
    }
}
