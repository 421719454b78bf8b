//! # daktilo-daemon
//!
//! The service side of Daktilo: `daktilod`, the gRPC service that the asylum-seeker
//! register calls (enrol, identify, verify, delete), and `daktilo`, the command-line client
//! that scanner workstations and operators use.
//!
//! What it is not for: anything biometric. Decoding, extraction, matching and search live
//! in `daktilo-engine`; this crate validates input, calls the engine and maps its results
//! and errors to what callers see.
//!
//! For now it holds the client's template commands ([`cli::template`]); the service lands
//! with its own issue.

#![forbid(unsafe_code)]

pub mod cli;
pub mod client;
pub mod config;
pub mod metrics;
pub mod proto;
pub mod registry;
pub mod samples;
pub mod server;
pub mod service;
