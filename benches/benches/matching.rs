//! Criterion benchmarks of the matcher on the FVC2002 ISO templates (single thread):
//! probe preparation, one comparison, and a prepared probe against all 320 templates
//! (throughput = comparisons per second per core).

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use daktilo_engine::datasets;
use daktilo_engine::matching::{self, PreparedTemplate};
use daktilo_engine::template::Template;
use std::hint::black_box;

fn fvc_templates() -> Option<Vec<Template>> {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("matching benchmarks"));
        return None;
    };
    Some(daktilo_bench::fvc::iso_templates(&dir.join("fvc2002")).expect("FVC2002 ISO templates"))
}

fn bench(c: &mut Criterion) {
    let Some(templates) = fvc_templates() else {
        return;
    };
    let prepared: Vec<PreparedTemplate> = templates
        .iter()
        .map(|t| matching::prepare(t).expect("prepare"))
        .collect();
    // DB1_B/101_1 and 101_2: a typical genuine pair.
    let (probe, mate) = (&prepared[0], &prepared[1]);

    c.bench_function("prepare/DB1_B_101_1", |b| {
        b.iter(|| matching::prepare(black_box(&templates[0])).expect("prepare"))
    });
    c.bench_function("compare/genuine_pair", |b| {
        b.iter(|| matching::compare(black_box(probe), black_box(mate)))
    });
    let mut group = c.benchmark_group("gallery");
    group.throughput(Throughput::Elements(prepared.len() as u64));
    group.bench_function("probe_vs_320_fvc2002", |b| {
        b.iter(|| {
            prepared
                .iter()
                .map(|candidate| matching::compare(black_box(probe), candidate))
                .fold(0.0f32, f32::max)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
