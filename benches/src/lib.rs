//! # daktilo-bench
//!
//! The engineers' measuring tools: criterion micro-benchmarks (`cargo bench -p
//! daktilo-bench`) and the `daktilo-bench` harness, which measures accuracy the way the
//! field does (the FVC protocol: EER, FMR100, FMR1000, ZeroFMR, DET curves).
//!
//! What it is not for: production. Nothing here ships in the daemon.

pub mod agree;
pub mod calibration;
pub mod crop;
pub mod det;
pub mod fvc;
pub mod host;
pub mod identify;
pub mod metrics;
pub mod progress;
pub mod service;
pub mod synth;
pub mod tails;
pub mod tenprint;
