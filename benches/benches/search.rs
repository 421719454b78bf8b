//! Criterion benchmarks of the 1:N stage-1 scan on one thread: a probe's feature (the
//! FVC2002 print with the most codes) against a block of gallery features (the FVC2002 ISO
//! templates' features, repeated to 65,536 entries, 67 MB: twice the L3 cache, so the
//! block streams from memory), dispatched and baseline builds; the same 65,536 scores
//! taken from a block of 512 entries scanned 128 times (520 kB, inside the L2 cache: when
//! it takes as long as the streamed block, the scan is bound by computing, not by memory);
//! and the geometric re-ranking of 4,000 of them. Throughput = gallery templates per
//! second per core.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use daktilo_engine::datasets;
use daktilo_engine::search::{self, feature};
use std::hint::black_box;

/// Gallery entries scanned per iteration.
const ENTRIES: usize = 65_536;

fn fvc_features() -> Option<Vec<[u8; feature::FEATURE_BYTES]>> {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("search benchmarks"));
        return None;
    };
    let templates =
        daktilo_bench::fvc::iso_templates(&dir.join("fvc2002")).expect("FVC2002 ISO templates");
    Some(templates.iter().map(feature::feature).collect())
}

fn bench(c: &mut Criterion) {
    let Some(features) = fvc_features() else {
        return;
    };
    // The probe: the print with the most codes (a full probe, 20 codes compared).
    let most = features
        .iter()
        .max_by_key(|f| feature::code_count(*f))
        .expect("features");
    let probe = feature::ProbeFeature::new(most);
    let block: Vec<u8> = features
        .iter()
        .cycle()
        .take(ENTRIES)
        .flat_map(|f| f.iter().copied())
        .collect();
    let mut out = Vec::new();
    let mut group = c.benchmark_group("stage1");
    group.throughput(Throughput::Elements(ENTRIES as u64));
    group.bench_function("scan_65536", |b| {
        b.iter(|| search::scan_block(black_box(&probe), black_box(&block), &mut out))
    });
    let small = block[..512 * feature::FEATURE_BYTES].to_vec();
    group.bench_function("scan_512x128", |b| {
        b.iter(|| {
            for _ in 0..128 {
                search::scan_block(black_box(&probe), black_box(&small), &mut out)
            }
        })
    });
    #[cfg(target_arch = "x86_64")]
    if search::scan_block_avx2(&probe, &block[..feature::FEATURE_BYTES], &mut out) {
        group.bench_function("scan_65536_avx2", |b| {
            b.iter(|| search::scan_block_avx2(black_box(&probe), black_box(&block), &mut out))
        });
    }
    group.bench_function("scan_65536_baseline", |b| {
        b.iter(|| search::scan_block_baseline(black_box(&probe), black_box(&block), &mut out))
    });
    group.finish();
    let mut group = c.benchmark_group("rerank");
    group.throughput(Throughput::Elements(4000));
    group.bench_function("rescore_4000", |b| {
        b.iter(|| {
            block
                .chunks_exact(feature::FEATURE_BYTES)
                .take(4000)
                .map(|f| search::rescore(black_box(&probe), f))
                .fold(0.0f32, f32::max)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
