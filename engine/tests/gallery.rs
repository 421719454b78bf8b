//! The gallery on disk: durability, deletes, flush and compaction, corruption detection,
//! and a crash test that kills a writer with SIGKILL at random moments.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use daktilo_engine::gallery::{Gallery, GalleryError, GalleryOptions, NewEntry};
use daktilo_engine::template::{
    self, FingerPosition, Format, Minutia, MinutiaKind, Template, TemplateRecord,
};

const FEATURE: usize = 32;

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("daktilo-gallery-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn options(flush_entries: usize) -> GalleryOptions {
    GalleryOptions {
        feature_len: FEATURE,
        flush_entries,
        create: true,
    }
}

/// An entry whose contents are derived from `k`, so that a reader can check them.
fn entry(k: u64) -> NewEntry {
    let mut t = Template::new(300, 400);
    t.minutiae = (0..(k % 40) as u16)
        .map(|i| Minutia {
            x: 10 + i,
            y: 20 + (k as u16 % 300),
            direction: (k as u8).wrapping_add(i as u8),
            kind: MinutiaKind::Ending,
            quality: 50,
        })
        .collect();
    NewEntry {
        subject: 1000 + k,
        finger: FingerPosition::from_code((k % 10 + 1) as u8).unwrap(),
        template: template::encode(&TemplateRecord::single(t), Format::Native).unwrap(),
        feature: vec![k as u8; FEATURE],
    }
}

/// subject -> (id, feature byte) of every live entry.
fn contents(g: &Gallery) -> BTreeMap<u64, (u64, u8)> {
    let mut out = BTreeMap::new();
    g.snapshot().for_each(|e| {
        // Every template still decodes: nothing half-written is served.
        template::decode(e.template).expect("stored template decodes");
        out.insert(e.subject, (e.id, e.feature[0]));
    });
    out
}

#[test]
fn appends_deletes_flushes_and_compaction_keep_exactly_the_live_entries() {
    let dir = scratch("basic");
    let g = Gallery::open(&dir, options(10)).unwrap();
    assert!(g.is_empty());
    let ids = g.append((0..25).map(entry).collect()).unwrap();
    assert_eq!(ids, (1..=25).collect::<Vec<u64>>());
    assert_eq!(g.len(), 25);
    g.delete(&[3, 4, 20]).unwrap();
    assert_eq!(g.len(), 22);
    assert!(matches!(g.delete(&[3]), Err(GalleryError::NotFound(3))));
    assert!(matches!(g.delete(&[999]), Err(GalleryError::NotFound(999))));
    for _ in 0..3 {
        g.append(vec![entry(100)]).unwrap();
    }
    g.flush().unwrap();
    g.delete(&[1, 26]).unwrap();
    let before = contents(&g);
    g.compact().unwrap();
    assert_eq!(contents(&g), before);
    drop(g);
    let g = Gallery::open(&dir, options(10)).unwrap();
    assert_eq!(contents(&g), before);
    assert_eq!(g.len(), 23);
    // Only the files the manifest names remain.
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.iter().filter(|n| n.starts_with("seg-")).count() == 1,
        "{names:?}"
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for n in &names {
            let mode = std::fs::metadata(dir.join(n)).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode & 0o077, 0, "{n} is readable by others: {mode:o}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_second_process_cannot_open_the_same_gallery_and_foreign_folders_are_refused() {
    let dir = scratch("lock");
    let _g = Gallery::open(&dir, options(10)).unwrap();
    assert!(matches!(
        Gallery::open(&dir, options(10)),
        Err(GalleryError::Locked(_))
    ));
    let other = scratch("foreign");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("notes.txt"), "hello").unwrap();
    assert!(matches!(
        Gallery::open(&other, options(10)),
        Err(GalleryError::NotAGallery(_))
    ));
    let file = other.join("notes.txt");
    assert!(matches!(
        Gallery::open(&file, options(10)),
        Err(GalleryError::NotAGallery(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&other);
}

#[test]
fn bad_entries_are_refused_before_anything_is_written() {
    let dir = scratch("bad");
    let g = Gallery::open(&dir, options(10)).unwrap();
    let mut wrong_feature = entry(1);
    wrong_feature.feature.pop();
    assert!(matches!(
        g.append(vec![entry(0), wrong_feature]),
        Err(GalleryError::Invalid(_))
    ));
    let mut corrupt = entry(2);
    corrupt.template[20] ^= 0xff;
    assert!(matches!(
        g.append(vec![corrupt]),
        Err(GalleryError::Invalid(_))
    ));
    assert!(g.is_empty());
    drop(g);
    assert!(matches!(
        Gallery::open(
            &dir,
            GalleryOptions {
                feature_len: 64,
                ..options(10)
            }
        ),
        Err(GalleryError::Invalid(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

fn only_segment(dir: &Path) -> PathBuf {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with("seg-"))
        .unwrap()
}

/// A new gallery (in scratch folder `name`) holding `entries` in one segment: its folder,
/// the segment's path and bytes.
fn one_flushed_segment(name: &str, entries: Vec<NewEntry>) -> (PathBuf, PathBuf, Vec<u8>) {
    let dir = scratch(name);
    {
        let g = Gallery::open(&dir, options(1000)).unwrap();
        g.append(entries).unwrap();
        g.flush().unwrap();
    }
    let seg = only_segment(&dir);
    let original = std::fs::read(&seg).unwrap();
    (dir, seg, original)
}

#[test]
fn corrupted_or_truncated_segments_are_reported_not_served() {
    let (dir, seg, original) = one_flushed_segment("corrupt", (0..50).map(entry).collect());
    for (what, bytes) in [
        ("flipped byte", {
            let mut b = original.clone();
            let k = b.len() / 2;
            b[k] ^= 0x10;
            b
        }),
        ("truncated", original[..original.len() - 100].to_vec()),
        ("header", {
            let mut b = original.clone();
            b[17] ^= 1;
            b
        }),
    ] {
        std::fs::write(&seg, &bytes).unwrap();
        match Gallery::open(&dir, options(1000)) {
            Err(GalleryError::Corrupt { file, .. }) => {
                assert!(file.contains("seg-"), "{what}: {file}")
            }
            Err(e) => panic!("{what}: {e}"),
            Ok(_) => panic!("{what}: a corrupt segment was opened"),
        }
    }
    std::fs::write(&seg, &original).unwrap();
    assert_eq!(Gallery::open(&dir, options(1000)).unwrap().len(), 50);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_torn_log_tail_is_cut_and_everything_before_it_kept() {
    let dir = scratch("torn");
    {
        let g = Gallery::open(&dir, options(1000)).unwrap();
        g.append((0..10).map(entry).collect()).unwrap();
    }
    let wal = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".log"))
        .unwrap();
    let mut f = std::fs::OpenOptions::new().append(true).open(&wal).unwrap();
    f.write_all(&[200, 0, 0, 0, 1, 2, 3, 4, 1, 9, 9]).unwrap();
    drop(f);
    let g = Gallery::open(&dir, options(1000)).unwrap();
    assert_eq!(g.len(), 10);
    g.append(vec![entry(77)]).unwrap();
    drop(g);
    assert_eq!(Gallery::open(&dir, options(1000)).unwrap().len(), 11);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn appends_from_many_threads_survive_a_concurrent_flush() {
    let dir = scratch("threads");
    let mut acked = Vec::new();
    // Each round: four threads append while one flush (and every third round a
    // compaction) runs in the middle; then the gallery is closed and reopened, with no
    // later flush to hide an entry that the flush lost.
    for round in 0..12u64 {
        let round_acked = std::sync::Mutex::new(Vec::new());
        {
            let g = Gallery::open(&dir, options(1_000_000)).unwrap();
            std::thread::scope(|s| {
                for t in 0..4u64 {
                    let (g, round_acked) = (&g, &round_acked);
                    s.spawn(move || {
                        for k in 0..25 {
                            let ids = g
                                .append(vec![entry(round * 10_000 + t * 1000 + k)])
                                .unwrap();
                            round_acked.lock().unwrap().extend(ids);
                        }
                    });
                }
                let g = &g;
                s.spawn(move || {
                    std::thread::sleep(std::time::Duration::from_millis(2));
                    g.flush().unwrap();
                    if round % 3 == 0 {
                        g.compact().unwrap();
                    }
                });
            });
        }
        acked.extend(round_acked.into_inner().unwrap());
        let g = Gallery::open(&dir, options(1_000_000)).unwrap();
        let mut live = Vec::new();
        g.snapshot().for_each(|e| live.push(e.id));
        live.sort_unstable();
        acked.sort_unstable();
        assert_eq!(
            live, acked,
            "round {round}: every acknowledged append survives a reopen"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A mounted tmpfs, unmounted and removed when dropped (also when a test fails).
#[cfg(target_os = "linux")]
struct Mounted(PathBuf);

#[cfg(target_os = "linux")]
impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Mounts a small tmpfs (Linux, as root); `None` where that is not allowed.
#[cfg(target_os = "linux")]
fn small_filesystem(name: &str, size: &str) -> Option<Mounted> {
    let dir = scratch(name);
    std::fs::create_dir_all(&dir).ok()?;
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(&dir)
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Some(Mounted(dir))
    } else {
        let _ = std::fs::remove_dir_all(&dir);
        None
    }
}

#[cfg(target_os = "linux")]
#[test]
fn a_full_disk_refuses_the_append_and_keeps_everything_acknowledged() {
    let Some(mount) = small_filesystem("full", "256k") else {
        eprintln!("SKIPPED full-disk test: cannot mount a small tmpfs here (needs root)");
        return;
    };
    let dir = mount.0.join("gallery");
    let mut acknowledged = 0u64;
    let mut failure = None;
    {
        let g = Gallery::open(&dir, options(1_000_000)).unwrap();
        for k in 0..100_000 {
            match g.append(vec![entry(k)]) {
                Ok(_) => acknowledged += 1,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        let failure = failure.expect("the disk filled up");
        assert!(
            matches!(failure, GalleryError::NotWritten(ref why) if why.contains("No space")),
            "{failure}"
        );
        // Still refused, still consistent.
        assert!(g.append(vec![entry(999_999)]).is_err());
        assert_eq!(g.len() as u64, acknowledged);
    }
    let g = Gallery::open(&dir, options(1_000_000)).unwrap();
    assert_eq!(
        g.len() as u64,
        acknowledged,
        "reopened after the disk filled up"
    );
    assert!(acknowledged > 10);
    let mut n = 0;
    g.snapshot().for_each(|e| {
        template::decode(e.template).expect("stored template decodes");
        n += 1;
    });
    assert_eq!(n, acknowledged);
}

// ---- The crash test ---------------------------------------------------------------------

/// Child mode: appends and deletes forever, printing each acknowledged operation.
#[test]
fn crash_child() {
    let Ok(dir) = std::env::var("DAKTILO_CRASH_DIR") else {
        return;
    };
    let g = Gallery::open(Path::new(&dir), options(40)).unwrap();
    let mut out = std::io::stdout().lock();
    let start: u64 = std::env::var("DAKTILO_CRASH_START")
        .unwrap()
        .parse()
        .unwrap();
    for k in start.. {
        let ids = g.append(vec![entry(k), entry(k + 1_000_000)]).unwrap();
        writeln!(out, "A {} {} {}", ids[0], 1000 + k, 1000 + k + 1_000_000).unwrap();
        out.flush().unwrap();
        if k.is_multiple_of(3) {
            g.delete(&[ids[1]]).unwrap();
            writeln!(out, "D {}", ids[1]).unwrap();
            out.flush().unwrap();
        }
        if k.is_multiple_of(50) {
            g.compact().unwrap();
        }
    }
}

#[cfg(unix)]
#[test]
fn sigkill_at_random_moments_loses_no_acknowledged_operation() {
    let dir = scratch("crash");
    let exe = std::env::current_exe().unwrap();
    let mut acked_added: BTreeMap<u64, u64> = BTreeMap::new(); // id -> subject
    let mut acked_deleted: Vec<u64> = Vec::new();
    let mut seed = 12345u64;
    let mut start = 0u64;
    for round in 0..30 {
        let mut child = Command::new(&exe)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env("DAKTILO_CRASH_DIR", &dir)
            .env("DAKTILO_CRASH_START", start.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let budget = 20 + (seed >> 33) % 120; // acknowledged lines before the kill
        let mut reader = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        let mut seen = 0;
        while seen < budget {
            line.clear();
            if reader.read_line(&mut line).unwrap() == 0 {
                break;
            }
            // The test harness prints its own lines too; ours start with "A " or "D ".
            if !(line.starts_with("A ") || line.starts_with("D ")) {
                continue;
            }
            let parts: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|p| p.parse().unwrap())
                .collect();
            match line.as_bytes()[0] {
                b'A' => {
                    acked_added.insert(parts[0], parts[1]);
                    acked_added.insert(parts[0] + 1, parts[2]);
                    start = parts[1] - 1000 + 1;
                }
                b'D' => acked_deleted.push(parts[0]),
                _ => {}
            }
            seen += 1;
        }
        // The child deletes the second entry of every third batch right after the batch is
        // acknowledged: if the last line read announced such a batch, that delete may have
        // happened before the kill, unannounced. Either outcome is correct.
        let mut in_flight = None;
        if line.starts_with("A ") {
            let parts: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .map(|p| p.parse().unwrap())
                .collect();
            if (parts[1] - 1000).is_multiple_of(3) {
                in_flight = Some(parts[0] + 1);
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let g = Gallery::open(&dir, options(40)).unwrap_or_else(|e| panic!("round {round}: {e}"));
        let mut live: BTreeMap<u64, u64> = BTreeMap::new();
        g.snapshot().for_each(|e| {
            template::decode(e.template).expect("stored template decodes");
            live.insert(e.id, e.subject);
        });
        if let Some(id) = in_flight.filter(|id| !live.contains_key(id)) {
            acked_deleted.push(id);
        }
        for (id, subject) in &acked_added {
            if acked_deleted.contains(id) {
                assert!(
                    !live.contains_key(id),
                    "round {round}: deleted id {id} came back"
                );
            } else {
                assert_eq!(
                    live.get(id),
                    Some(subject),
                    "round {round}: acknowledged id {id} lost"
                );
            }
        }
        // Anything beyond the acknowledged is a whole entry (checked by decoding above)
        // with a subject that the child really wrote.
        for (id, subject) in &live {
            if !acked_added.contains_key(id) {
                assert!(*subject >= 1000, "round {round}: unknown entry {id}");
                acked_added.insert(*id, *subject);
            }
        }
        start += 1;
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(unix)]
#[test]
fn a_device_in_place_of_the_log_is_refused_not_read_forever() {
    let dir = scratch("device");
    {
        let g = Gallery::open(&dir, options(1000)).unwrap();
        g.append((0..5).map(entry).collect()).unwrap();
    }
    let wal = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".log"))
        .unwrap();
    let saved = std::fs::read(&wal).unwrap();
    std::fs::remove_file(&wal).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &wal).unwrap();
    assert!(matches!(
        Gallery::open(&dir, options(1000)),
        Err(GalleryError::Corrupt { .. })
    ));
    std::fs::remove_file(&wal).unwrap();
    std::fs::write(&wal, &saved).unwrap();
    assert_eq!(Gallery::open(&dir, options(1000)).unwrap().len(), 5);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn rebuilding_features_rewrites_every_live_entry_and_drops_deleted_ones() {
    let dir = scratch("rebuild");
    let ids = {
        let g = Gallery::open(&dir, options(4)).unwrap();
        // Segments (flushed every 4 entries) and a log tail, one entry deleted.
        let ids = g.append((0..10).map(entry).collect()).unwrap();
        g.delete(&[ids[3]]).unwrap();
        ids
    };
    // The new "feature": the template's length and first byte, in 12 bytes.
    let rebuild = |template: &[u8]| {
        let mut f = vec![template.len() as u8; 12];
        f[1] = template[0];
        f
    };
    let heard = std::sync::Mutex::new(Vec::new());
    let n = Gallery::rebuild_features(&dir, 12, &rebuild, &|done, total| {
        heard.lock().unwrap().push((done, total))
    })
    .unwrap();
    assert_eq!(n, 9);
    assert_eq!(heard.into_inner().unwrap().last(), Some(&(9, 9)));
    assert_eq!(Gallery::recorded_feature_len(&dir).unwrap(), Some(12));
    // The old length is refused now, the new one opens with every live entry.
    assert!(Gallery::open(&dir, options(4)).is_err());
    let at_12 = || {
        Gallery::open(
            &dir,
            GalleryOptions {
                feature_len: 12,
                ..options(4)
            },
        )
        .unwrap()
    };
    let g = at_12();
    assert_eq!(g.len(), 9);
    let mut seen = Vec::new();
    g.snapshot().for_each(|e| {
        assert_eq!(e.feature, rebuild(e.template).as_slice());
        seen.push(e.id);
    });
    seen.sort();
    let expected: Vec<u64> = ids.iter().copied().filter(|&id| id != ids[3]).collect();
    assert_eq!(seen, expected);
    // New appends get fresh ids and the new length.
    let more = g
        .append(vec![NewEntry {
            feature: vec![7; 12],
            ..entry(20)
        }])
        .unwrap();
    assert!(more[0] > *ids.last().unwrap());
    drop(g);
    // Already at that length: nothing to do.
    assert_eq!(
        Gallery::rebuild_features(&dir, 12, &rebuild, &|_, _| {}).unwrap(),
        0
    );
    // Unless some feature is stale: then every live one is rewritten (the log's too).
    let marked = |template: &[u8]| {
        let mut f = rebuild(template);
        f[2] = 1;
        f
    };
    let stale = |f: &[u8]| f[2] != 1;
    assert_eq!(
        Gallery::rebuild_features_where(&dir, 12, &stale, &marked, &|_, _| {}).unwrap(),
        10
    );
    at_12()
        .snapshot()
        .for_each(|e| assert_eq!(e.feature, marked(e.template).as_slice()));
    assert_eq!(
        Gallery::rebuild_features_where(&dir, 12, &stale, &marked, &|_, _| {}).unwrap(),
        0
    );
    // Not a gallery: refused.
    let empty = scratch("rebuild-none");
    std::fs::create_dir_all(&empty).unwrap();
    assert!(Gallery::rebuild_features(&empty, 12, &rebuild, &|_, _| {}).is_err());
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&empty);
}

/// [`entry`] with `k % 4` further rows (the features of a large template), each row
/// derived from `k` and its number.
fn rows_entry(k: u64) -> NewEntry {
    let rows = 1 + (k % 4) as usize;
    NewEntry {
        feature: (0..rows)
            .flat_map(|r| vec![(k as u8).wrapping_add(40 * r as u8); FEATURE])
            .collect(),
        ..entry(k)
    }
}

/// id -> (subject, all rows) of every live entry.
fn rows_of(g: &Gallery) -> BTreeMap<u64, (u64, Vec<u8>)> {
    let mut out = BTreeMap::new();
    g.snapshot().for_each(|e| {
        assert_eq!(e.feature.len(), FEATURE);
        assert!(e.extra.len().is_multiple_of(FEATURE));
        out.insert(e.id, (e.subject, [e.feature, e.extra].concat()));
    });
    out
}

fn segment_version(path: &Path) -> u32 {
    u32::from_le_bytes(std::fs::read(path).unwrap()[8..12].try_into().unwrap())
}

#[test]
fn further_rows_survive_the_log_a_flush_compaction_and_a_rebuild() {
    let dir = scratch("rows");
    let expected = |ids: &[u64], skip: &[u64]| -> BTreeMap<u64, (u64, Vec<u8>)> {
        ids.iter()
            .zip(0u64..)
            .filter(|(id, _)| !skip.contains(id))
            .map(|(&id, k)| {
                let e = rows_entry(k);
                (id, (e.subject, e.feature))
            })
            .collect()
    };
    let ids = {
        let g = Gallery::open(&dir, options(1000)).unwrap();
        // More than MAX_ROWS rows, or a part of one, is refused.
        for bad in [
            vec![1u8; FEATURE * (daktilo_engine::gallery::MAX_ROWS + 1)],
            vec![1u8; FEATURE * 2 + 1],
            Vec::new(),
        ] {
            assert!(matches!(
                g.append(vec![NewEntry {
                    feature: bad,
                    ..entry(1)
                }]),
                Err(GalleryError::Invalid(_))
            ));
        }
        g.append((0..30).map(rows_entry).collect()).unwrap()
    };
    // From the log, after a restart.
    let g = Gallery::open(&dir, options(1000)).unwrap();
    assert_eq!(rows_of(&g), expected(&ids, &[]));
    // In a segment (version 2: it holds further rows).
    g.flush().unwrap();
    assert_eq!(segment_version(&only_segment(&dir)), 2);
    assert_eq!(rows_of(&g), expected(&ids, &[]));
    drop(g);
    let g = Gallery::open(&dir, options(1000)).unwrap();
    assert_eq!(rows_of(&g), expected(&ids, &[]));
    // Compaction drops the deleted entries and their rows, and keeps the others'.
    g.delete(&[ids[1], ids[6]]).unwrap();
    g.compact().unwrap();
    assert_eq!(rows_of(&g), expected(&ids, &[ids[1], ids[6]]));
    drop(g);
    let g = Gallery::open(&dir, options(1000)).unwrap();
    assert_eq!(rows_of(&g), expected(&ids, &[ids[1], ids[6]]));
    drop(g);
    // A segment's further rows are checked like the rest of it.
    let seg = only_segment(&dir);
    let original = std::fs::read(&seg).unwrap();
    let mut flipped = original.clone();
    let k = flipped.len() - 200;
    flipped[k] ^= 0x20;
    std::fs::write(&seg, &flipped).unwrap();
    assert!(matches!(
        Gallery::open(&dir, options(1000)),
        Err(GalleryError::Corrupt { .. })
    ));
    std::fs::write(&seg, &original).unwrap();
    // A rebuild to one row each writes a version 1 segment again; to two, version 2.
    for rows in [1usize, 2] {
        let rebuild = |template: &[u8]| vec![template[0]; FEATURE * rows];
        assert_eq!(
            Gallery::rebuild_features_where(&dir, FEATURE, &|_| true, &rebuild, &|_, _| {})
                .unwrap(),
            28
        );
        assert_eq!(segment_version(&only_segment(&dir)), rows as u32);
        let g = Gallery::open(&dir, options(1000)).unwrap();
        assert_eq!(g.len(), 28);
        g.snapshot()
            .for_each(|e| assert_eq!([e.feature, e.extra].concat(), rebuild(e.template)));
    }
    // A segment of entries without further rows is version 1, as before version 2.
    let plain = scratch("rows-plain");
    let g = Gallery::open(&plain, options(1000)).unwrap();
    g.append((0..5).map(entry).collect()).unwrap();
    g.flush().unwrap();
    assert_eq!(segment_version(&only_segment(&plain)), 1);
    let _ = std::fs::remove_dir_all(&dir);
    let _ = std::fs::remove_dir_all(&plain);
}

/// The header checksum as a segment stores it (bytes 0–79, and 88–127 where any is set).
fn header_crc(b: &[u8]) -> u32 {
    let mut h = crc32fast::Hasher::new();
    h.update(&b[0..80]);
    if b[88..128].iter().any(|&x| x != 0) {
        h.update(&b[88..128]);
    }
    h.finalize()
}

#[test]
fn segment_fields_that_lie_behind_valid_checksums_are_refused_or_read_in_bounds() {
    use daktilo_engine::gallery::segment::Segment;
    let (dir, seg, original) =
        one_flushed_segment("lying-fields", (0..40).map(rows_entry).collect());
    assert_eq!(segment_version(&seg), 2);
    let body_start = 128;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let (mut opened, mut refused) = (0, 0);
    for round in 0..3000 {
        let mut b = original.clone();
        // A header field (count, offsets, further rows' count and offsets) or a body byte
        // set to a small, a large or an off-by-some value; the checksums then made to
        // match, as a tamperer would.
        let fields = [16usize, 24, 32, 40, 48, 56, 64, 72, 88, 96, 104];
        if round % 3 == 2 {
            let at = body_start + (next() as usize) % (b.len() - body_start);
            b[at] = next() as u8;
        } else {
            let at = fields[(next() as usize) % fields.len()];
            let old = u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
            let value = match next() % 4 {
                0 => next() % 64,
                1 => old.wrapping_add(next() % 200).wrapping_sub(100),
                2 => u64::MAX - next() % 8,
                _ => old ^ (1 << (next() % 64)),
            };
            b[at..at + 8].copy_from_slice(&value.to_le_bytes());
        }
        let body = crc32fast::hash(&b[body_start..]);
        b[84..88].copy_from_slice(&body.to_le_bytes());
        let header = header_crc(&b);
        b[80..84].copy_from_slice(&header.to_le_bytes());
        std::fs::write(&seg, &b).unwrap();
        match Segment::open(&seg) {
            Ok(s) => {
                opened += 1;
                // Whatever it reads stays within the file.
                for i in 0..s.len() {
                    let e = s.entry(i);
                    assert!(e.extra.len().is_multiple_of(s.feature_len().max(1)));
                }
                for j in 0..s.extra_len() {
                    assert!(s.extra_owner(j) < s.len());
                    let _ = s.extra_feature(j);
                }
            }
            Err(GalleryError::Corrupt { .. }) => refused += 1,
            Err(e) => panic!("round {round}: {e}"),
        }
    }
    // Most lies are caught; body bytes in the templates or features read as data.
    assert!(
        refused > 1500 && opened > 100,
        "{refused} refused, {opened} opened"
    );
    std::fs::write(&seg, &original).unwrap();
    assert_eq!(Gallery::open(&dir, options(1000)).unwrap().len(), 40);
    let _ = std::fs::remove_dir_all(&dir);
}
