//! Criterion benchmarks of extraction (single thread): one image of each FVC2002 set, and
//! each pipeline step on DB1_B 101_1 (and DB2_B 101_1's resampling from 569 ppi).

use criterion::{Criterion, criterion_group, criterion_main};
use daktilo_engine::datasets;
use daktilo_engine::extract::{
    self, binarize, enhance, filters, frequency, minutiae, orientation, ridge_count, segmentation,
    thinning,
};
use daktilo_engine::image;
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let Some(dir) = datasets::locate() else {
        eprintln!("{}", datasets::skip_message("extraction benchmarks"));
        return;
    };
    let mut group = c.benchmark_group("extract");
    for (set, ppi) in [
        ("DB1_B", 500.0),
        ("DB2_B", 569.0),
        ("DB3_B", 500.0),
        ("DB4_B", 500.0),
    ] {
        let bytes =
            std::fs::read(dir.join("fvc2002").join(set).join("101_1.tif")).expect("FVC image");
        let img = image::decode(&bytes).expect("decode").image;
        group.bench_function(set, |b| {
            b.iter(|| extract::extract(black_box(&img), ppi, false).expect("extract"))
        });
    }
    group.finish();

    let bytes = std::fs::read(dir.join("fvc2002/DB1_B/101_1.tif")).expect("FVC image");
    let mut steps = c.benchmark_group("step_DB1_B_101_1");
    steps.bench_function("0-decode", |b| {
        b.iter(|| image::decode(black_box(&bytes)).expect("decode"))
    });
    let img = image::decode(&bytes).expect("decode").image;
    let (w, h) = (img.width, img.height);
    steps.bench_function("1-segmentation", |b| {
        b.iter(|| segmentation::segment(black_box(&img)))
    });
    let blocks = segmentation::segment(&img);
    steps.bench_function("2-normalisation", |b| {
        b.iter(|| extract::normalise(black_box(&img), &blocks))
    });
    let norm = extract::normalise(&img, &blocks);
    steps.bench_function("3-orientation", |b| {
        b.iter(|| orientation::estimate(black_box(&norm), &blocks))
    });
    let field = orientation::estimate(&norm, &blocks);
    steps.bench_function("4-frequency", |b| {
        b.iter(|| frequency::estimate(black_box(&norm), &blocks, &field))
    });
    let frequency::RidgeFrequency { period, signal } = frequency::estimate(&norm, &blocks, &field);
    steps.bench_function("4b-ridge-test", |b| {
        b.iter(|| {
            let mut kept = blocks.clone();
            segmentation::keep_ridges(black_box(&mut kept), &signal);
            kept
        })
    });
    let mut blocks = blocks;
    segmentation::keep_ridges(&mut blocks, &signal);
    steps.bench_function("5-enhancement", |b| {
        b.iter(|| enhance::enhance(black_box(&norm), &blocks, &field, &period))
    });
    let enhanced = enhance::enhance(&norm, &blocks, &field, &period);
    let inside = |x: usize, y: usize| blocks.is_foreground_at(x, y);
    steps.bench_function("6-binarisation", |b| {
        b.iter(|| binarize::binarize(black_box(&enhanced), &blocks))
    });
    let binary = binarize::binarize(&enhanced, &blocks);
    steps.bench_function("7-thinning", |b| {
        b.iter(|| {
            let mut g = binary.clone();
            thinning::thin(&mut g, w, h);
            g
        })
    });
    let mut skeleton = binary.clone();
    thinning::thin(&mut skeleton, w, h);
    steps.bench_function("8-minutiae", |b| {
        b.iter(|| minutiae::detect(black_box(&skeleton), w, h, &field, inside))
    });
    let found = minutiae::detect(&skeleton, w, h, &field, inside);
    let near_background =
        |x: usize, y: usize, r: f32| !blocks.is_foreground_px(x as f32 + r, y as f32);
    steps.bench_function("9-filters", |b| {
        b.iter(|| {
            let mut c = found.clone();
            filters::apply(&mut c, w, near_background);
            c
        })
    });
    // Ridge counts from every minutia the filters keep to its nearest neighbours.
    let mut kept = found.clone();
    filters::apply(&mut kept, w, near_background);
    let points: Vec<(f32, f32)> = kept
        .iter()
        .filter(|c| !c.removed)
        .map(|c| (c.x as f32, c.y as f32))
        .collect();
    steps.bench_function("10-ridge-counts", |b| {
        b.iter(|| ridge_count::neighbour_counts(black_box(&binary), w, h, inside, &points))
    });
    steps.finish();

    // The one FVC2002 set not at 500 ppi: its resampling, the step before segmentation.
    let bytes = std::fs::read(dir.join("fvc2002/DB2_B/101_1.tif")).expect("FVC image");
    let img = image::decode(&bytes).expect("decode").image;
    let mut steps = c.benchmark_group("step_DB2_B_101_1");
    steps.bench_function("0-resample", |b| {
        b.iter(|| image::to_500ppi(black_box(&img), 569.0).expect("resample"))
    });
    steps.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(3));
    targets = bench
}
criterion_main!(benches);
