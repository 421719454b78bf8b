//! # daktilo-tests
//!
//! End-to-end tests that cross crates: the daemon over real gRPC on loopback, crash
//! recovery, the C ABI against the engine. Tests live in `tests/tests/`; this library is
//! empty on purpose.
