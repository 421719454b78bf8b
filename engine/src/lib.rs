//! # daktilo-engine
//!
//! Everything biometric in Daktilo: the fingerprint template model and its formats
//! (our native format, ISO/IEC 19794-2, ANSI INCITS 378), and — as they land — minutiae
//! extraction, 1:1 matching with calibrated scores, and 1:N search over galleries.
//!
//! What it is not for: networking, async runtimes, configuration or global state. The
//! daemon and the command-line tools are thin layers over this crate.
//!
//! The public surface is small: [`template::Template`] (one finger view),
//! [`template::TemplateRecord`] (what a file holds: one or more views), and the
//! [`template::decode`] / [`template::encode`] pair with format auto-detection.

// Unsafe code is denied everywhere; the only exception is the code that `multiversion`
// generates for runtime CPU dispatch, allowed where it is used.
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod datasets;
pub mod draw;
pub mod extract;
pub mod gallery;
pub mod image;
pub mod matching;
pub mod search;
pub mod template;
