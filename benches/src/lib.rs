//! # daktilo-bench
//!
//! The engineers' measuring tools: criterion micro-benchmarks (`cargo bench`) and the
//! `daktilo-bench` harness for accuracy (FVC protocol: EER, FMR100, FMR1000, ZeroFMR, DET
//! plots) and 1:N scale.
//!
//! What it is not for: production. Nothing here ships in the daemon.
//!
//! The harness arrives with the matcher; until then this crate holds only this page.
