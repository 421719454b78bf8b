//! The gallery's own files read back from disk — a segment, a write-ahead log, a manifest —
//! with arbitrary contents (a damaged or tampered disk): each is refused or read, never a
//! panic, never an unbounded allocation.
#![no_main]

use daktilo_engine::gallery::{manifest::Manifest, segment::Segment, wal::Wal};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let dir = std::env::temp_dir().join(format!("daktilo-fuzz-gallery-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    let segment = dir.join("seg.dks");
    if std::fs::write(&segment, data).is_ok() {
        if let Ok(s) = Segment::open(&segment) {
            for i in 0..s.len().min(64) {
                let _ = (
                    s.id(i),
                    s.subject(i),
                    s.finger(i),
                    s.feature(i),
                    s.template(i),
                    s.entry(i).extra.len(),
                );
            }
            for j in 0..s.extra_len().min(64) {
                let _ = (s.extra_owner(j), s.extra_feature(j));
            }
        }
    }
    let log = dir.join("wal.log");
    if std::fs::write(&log, data).is_ok() {
        let _ = Wal::open(&log);
    }
    if std::fs::write(dir.join("MANIFEST"), data).is_ok() {
        let _ = Manifest::read(&dir);
    }
});
