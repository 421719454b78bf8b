//! Criterion benchmarks of the matcher on FVC2002 (single thread): probe preparation, one
//! comparison, and a prepared probe against all 320 templates (throughput = comparisons
//! per second per core) — on the SecuGen ISO templates (minutiae alone), and on Daktilo's
//! own templates of the images, which carry the ridge flow (`own/…`; `own_bare/…` the same
//! templates without it); and on NIST's ten-print card (`card/…`), whose rolled prints hold
//! up to 255 minutiae where FVC2002's hold at most about 100.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use daktilo_engine::datasets;
use daktilo_engine::matching::{self, PreparedTemplate, flow};
use daktilo_engine::template::Template;
use std::hint::black_box;

fn bench_templates(c: &mut Criterion, name: &str, templates: &[Template]) {
    let prepared: Vec<PreparedTemplate> = templates
        .iter()
        .map(|t| matching::prepare(t).expect("prepare"))
        .collect();
    // DB1_B/101_1 and 101_2: a typical genuine pair.
    let (probe, mate) = (&prepared[0], &prepared[1]);
    let label = |what: &str| {
        if name.is_empty() {
            what.to_string()
        } else {
            format!("{name}/{what}")
        }
    };
    c.bench_function(&label("prepare/DB1_B_101_1"), |b| {
        b.iter(|| matching::prepare(black_box(&templates[0])).expect("prepare"))
    });
    c.bench_function(&label("compare/genuine_pair"), |b| {
        b.iter(|| matching::compare(black_box(probe), black_box(mate)))
    });
    let mut group = c.benchmark_group(label("gallery"));
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

/// The card's comparisons: each plain impression against the ten rolled ones, and each
/// rolled print against every other once (throughput = comparisons per second per core).
fn bench_card(c: &mut Criterion, card: &daktilo_bench::tenprint::Card) {
    let mut group = c.benchmark_group("card");
    group.throughput(Throughput::Elements(100));
    group.bench_function("plain_vs_rolled_100", |b| {
        b.iter(|| {
            card.plain
                .iter()
                .flat_map(|p| card.rolled.iter().map(move |r| (p, r)))
                .map(|(p, r)| matching::compare(black_box(&p.prepared), &r.prepared))
                .fold(0.0f32, f32::max)
        })
    });
    group.throughput(Throughput::Elements(45));
    group.bench_function("rolled_vs_rolled_45", |b| {
        b.iter(|| {
            daktilo_bench::tenprint::rolled_pairs()
                .map(|(a, b)| {
                    matching::compare(
                        black_box(&card.rolled[a].prepared),
                        &card.rolled[b].prepared,
                    )
                })
                .fold(0.0f32, f32::max)
        })
    });
    group.finish();
}

fn bench(c: &mut Criterion) {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("matching benchmarks"));
        return;
    };
    let card_dir = dir.join("ansi-nist");
    let dir = dir.join("fvc2002");
    let iso = daktilo_bench::fvc::iso_templates(&dir).expect("FVC2002 ISO templates");
    bench_templates(c, "", &iso);
    let own = daktilo_bench::fvc::own_templates(&dir).expect("FVC2002 images");
    bench_templates(c, "own", &own);
    let bare: Vec<Template> = own
        .iter()
        .map(|t| {
            let mut t = t.clone();
            t.extensions.retain(|e| e.kind != flow::FLOW_EXTENSION);
            t
        })
        .collect();
    bench_templates(c, "own_bare", &bare);
    let card = daktilo_bench::tenprint::Card::read(&card_dir).expect("the ten-print card");
    bench_card(c, &card);
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(30).measurement_time(std::time::Duration::from_secs(4));
    targets = bench
}
criterion_main!(benches);
