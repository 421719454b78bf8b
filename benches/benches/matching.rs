//! Criterion benchmarks of the matcher, on the FVC2002 ISO templates.
fn main() {}
