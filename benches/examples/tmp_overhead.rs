// temporary: where a 1M stage 1's time goes (not committed)
use daktilo_engine::gallery::{Gallery, GalleryOptions};
use daktilo_engine::search::{
    self,
    feature::{self, FEATURE_BYTES, ProbeFeature},
};
use daktilo_engine::{extract, image};
use rayon::prelude::*;
use std::time::Instant;
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
fn main() {
    let g = Gallery::open(
        std::path::Path::new("/tmp/g1m-img-r4"),
        GalleryOptions {
            feature_len: FEATURE_BYTES,
            ..GalleryOptions::default()
        },
    )
    .unwrap();
    let snap = g.snapshot();
    let n: usize = snap.segments.iter().map(|s| s.len()).sum();
    println!("{} segments, {n} entries", snap.segments.len());
    let probes: Vec<_> = ["101_2", "102_3", "103_4", "104_5", "105_6"]
        .iter()
        .map(|name| {
            let d = image::decode(
                &std::fs::read(format!("/work/shared/datasets/fvc2002/DB1_B/{name}.tif")).unwrap(),
            )
            .unwrap();
            extract::extract(&d.image, d.ppi(None), false)
                .unwrap()
                .template
        })
        .collect();
    let rounds = 3;
    let mut full = Vec::new();
    let mut kernel2 = Vec::new();
    let mut kernel1 = Vec::new();
    for _ in 0..rounds {
        for t in &probes {
            let started = Instant::now();
            std::hint::black_box(search::stage1_scan(&snap, t, 10_000));
            full.push(started.elapsed().as_secs_f64() * 1e3);
            let probe = ProbeFeature::new(&feature::feature(t));
            // kernel alone, both threads, same blocks
            let started = Instant::now();
            let total: f32 = snap
                .segments
                .par_iter()
                .flat_map(|s| s.features().par_chunks(8192 * FEATURE_BYTES))
                .map_init(Vec::new, |out, chunk| {
                    search::scan_block(&probe, chunk, out);
                    out.iter().copied().fold(0.0f32, f32::max)
                })
                .reduce(|| 0.0, f32::max);
            kernel2.push(started.elapsed().as_secs_f64() * 1e3);
            std::hint::black_box(total);
        }
        // one thread, kernel alone, first 250k
        let probe = ProbeFeature::new(&feature::feature(&probes[0]));
        let s = &snap.segments[0];
        let part = &s.features()[..250_000.min(s.len()) * FEATURE_BYTES];
        let started = Instant::now();
        let mut out = Vec::new();
        for chunk in part.chunks(8192 * FEATURE_BYTES) {
            search::scan_block(&probe, chunk, &mut out);
            std::hint::black_box(&out);
        }
        kernel1.push(started.elapsed().as_secs_f64() * 1e9 / (part.len() / FEATURE_BYTES) as f64);
    }
    println!(
        "stage1_scan (bar, best 10,000): median {:.1} ms over {}",
        median(full.clone()),
        full.len()
    );
    println!(
        "kernel alone, two threads, no bar: median {:.1} ms",
        median(kernel2)
    );
    println!(
        "kernel alone, one thread from memory: median {:.1} ns per template",
        median(kernel1)
    );
}
