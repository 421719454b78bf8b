//! Typed decoding errors that say what is wrong and where.

use std::fmt;

/// Why a template could not be decoded. Every variant is paired with a byte offset in
/// [`DecodeError`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// The data ended before a field that the structure requires.
    Truncated {
        /// What was being read.
        field: &'static str,
        /// How many bytes that field needs.
        needed: usize,
        /// How many bytes were left.
        available: usize,
    },
    /// The data does not start with a magic number of any supported format.
    UnknownFormat,
    /// The magic number is known but the version is not.
    UnsupportedVersion {
        /// The format family, e.g. "ISO/IEC 19794-2".
        format: &'static str,
        /// The version bytes as read, printable characters kept and others escaped.
        found: String,
    },
    /// A field holds a value the format does not allow.
    InvalidValue {
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
        /// What was expected, in words.
        expected: &'static str,
    },
    /// The record's declared length disagrees with its contents.
    LengthMismatch {
        /// The length the record declares.
        declared: u64,
        /// The length its structure or the data has.
        actual: u64,
    },
    /// The native format's checksum does not match its contents.
    ChecksumMismatch {
        /// The checksum stored in the record.
        stored: u32,
        /// The checksum computed over the record.
        computed: u32,
    },
}

/// A decoding error: what is wrong ([`DecodeErrorKind`]) and the byte offset where it was
/// found, counted from the start of the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Byte offset of the field at fault.
    pub offset: usize,
    /// What is wrong.
    pub kind: DecodeErrorKind,
}

impl DecodeError {
    pub(crate) fn new(offset: usize, kind: DecodeErrorKind) -> Self {
        Self { offset, kind }
    }

    pub(crate) fn invalid(
        offset: usize,
        field: &'static str,
        value: impl Into<u64>,
        expected: &'static str,
    ) -> Self {
        Self::new(
            offset,
            DecodeErrorKind::InvalidValue {
                field,
                value: value.into(),
                expected,
            },
        )
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            DecodeErrorKind::Truncated {
                field,
                needed,
                available,
            } => write!(
                f,
                "truncated at byte {}: {field} needs {needed} byte(s), {available} left",
                self.offset
            ),
            DecodeErrorKind::UnknownFormat => write!(
                f,
                "not a fingerprint template: no ISO/IEC 19794-2, ANSI INCITS 378 or Daktilo \
                 magic number at byte {}",
                self.offset
            ),
            DecodeErrorKind::UnsupportedVersion { format, found } => write!(
                f,
                "unsupported {format} version \"{found}\" at byte {}",
                self.offset
            ),
            DecodeErrorKind::InvalidValue {
                field,
                value,
                expected,
            } => write!(
                f,
                "invalid {field} {value} at byte {}: expected {expected}",
                self.offset
            ),
            DecodeErrorKind::LengthMismatch { declared, actual } => write!(
                f,
                "record length mismatch at byte {}: declared {declared} bytes, found {actual}",
                self.offset
            ),
            DecodeErrorKind::ChecksumMismatch { stored, computed } => write!(
                f,
                "checksum mismatch at byte {}: stored {stored:#010x}, computed {computed:#010x} \
                 (the record is corrupt)",
                self.offset
            ),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a template could not be written in a format.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// A value does not fit the target format's field.
    #[error("{field} value {value} does not fit the target format (at most {max})")]
    OutOfRange {
        /// The field.
        field: &'static str,
        /// The value.
        value: u64,
        /// The largest value the format can hold.
        max: u64,
    },
    /// The views have different image sizes or resolutions, and the target format has
    /// room for one (ISO/IEC 19794-2:2005, ANSI INCITS 378-2004).
    #[error("the views differ in image size or resolution; the target format holds one")]
    MixedImages,
    /// A resolution of 0 pixels per centimetre, which the standards do not allow.
    #[error("the resolution is 0 pixels per centimetre; the target format needs a real one")]
    ZeroResolution,
    /// The target format cannot be written (only read).
    #[error("{0} can be read but not written")]
    ReadOnly(&'static str),
}
