//! Progress of long work: a bar where standard error is a terminal, and where it is not (a
//! log file, CI, `nohup`) a plain line at the start and at every tenth of the work, with
//! the time spent and an estimate of the time left, so that a run of half an hour shows in
//! its log that it is alive and when it will end. Safe to advance from many threads.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A piece of work of `total` units, reported as a bar or as lines ([`Progress::new`]).
pub struct Progress {
    bar: Option<ProgressBar>,
    label: String,
    unit: &'static str,
    total: u64,
    done: AtomicU64,
    /// Without a bar: the next tenth of the work (1 to 10) that prints a line.
    next_tenth: AtomicU64,
    started: Instant,
}

impl Progress {
    /// Work of `total` `unit`s (a plural noun: "templates", "searches") called `label`: a
    /// bar on a terminal, else a first line now (`label: total unit`) and one at each tenth.
    pub fn new(total: u64, label: &str, unit: &'static str) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let progress = Self::lines_or_bar(total, label, unit, terminal);
        if !terminal {
            eprintln!("{label}: {total} {unit}");
        }
        progress
    }

    fn lines_or_bar(total: u64, label: &str, unit: &'static str, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar = ProgressBar::new(total);
            bar.set_style(
                ProgressStyle::with_template(&format!(
                    "{{prefix}} [{{bar:40}}] {{pos}}/{{len}} {unit} {{per_sec}} eta {{eta}}"
                ))
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(label.to_string());
            bar
        });
        Self {
            bar,
            label: label.to_string(),
            unit,
            total,
            done: AtomicU64::new(0),
            next_tenth: AtomicU64::new(1),
            started: Instant::now(),
        }
    }

    /// `n` more units done.
    pub fn inc(&self, n: u64) {
        if let Some(bar) = &self.bar {
            bar.inc(n);
        } else if let Some(line) = self.advance(n) {
            eprintln!("{line}");
        }
    }

    /// Without a bar: counts `n` more units, and gives the line to print when that
    /// crosses one or more tenths of the work (one line, for the highest). No tenth is
    /// reported twice, whichever threads advance; where one thread's line is overtaken by
    /// another's for a later tenth (it was descheduled in between), the later one stands
    /// for both; the end (100 %) is always reported.
    fn advance(&self, n: u64) -> Option<String> {
        if self.total == 0 {
            return None;
        }
        let done = (self.done.fetch_add(n, Ordering::Relaxed) + n).min(self.total);
        let tenth = done * 10 / self.total;
        let mut next = self.next_tenth.load(Ordering::Relaxed);
        loop {
            if tenth < next {
                return None;
            }
            match self.next_tenth.compare_exchange_weak(
                next,
                tenth + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => next = now,
            }
        }
        let elapsed = self.started.elapsed().as_secs_f64();
        let left = elapsed * (self.total - done) as f64 / done.max(1) as f64;
        Some(format!(
            "{}: {done}/{} {} ({}%), {elapsed:.0} s so far, about {left:.0} s left",
            self.label,
            self.total,
            self.unit,
            tenth * 10
        ))
    }

    /// The work is over: the bar is cleared (lines stay as printed).
    pub fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_at_each_tenth_crossed_and_one_for_a_jump() {
        let p = Progress::lines_or_bar(200, "exhaustive", "templates", false);
        assert_eq!(p.advance(19), None);
        let line = p.advance(1).expect("a tenth reached");
        assert!(
            line.starts_with("exhaustive: 20/200 templates (10%), "),
            "{line}"
        );
        assert!(line.ends_with(" s left"), "{line}");
        assert_eq!(p.advance(19), None);
        // From 39 to 99: the 20, 30 and 40 % marks at once give one line, for 40 %.
        let line = p.advance(60).expect("tenths crossed");
        assert!(line.contains("99/200 templates (40%)"), "{line}");
        let line = p.advance(1).expect("half way");
        assert!(line.contains("100/200 templates (50%)"), "{line}");
        assert_eq!(p.advance(19), None);
        // Past the end: the last line once, at 100 %.
        let line = p.advance(150).expect("the end");
        assert!(line.contains("200/200 templates (100%)"), "{line}");
        assert_eq!(p.advance(5), None);
        // No work: nothing to report, nothing divided by zero.
        assert_eq!(Progress::lines_or_bar(0, "x", "y", false).advance(3), None);
    }

    #[test]
    fn many_threads_never_report_a_tenth_twice_and_always_the_end() {
        let p = Progress::lines_or_bar(10_000, "scan", "blocks", false);
        let lines: Vec<String> = std::thread::scope(|s| {
            let workers: Vec<_> = (0..8)
                .map(|_| {
                    s.spawn(|| {
                        (0..1250)
                            .filter_map(|_| p.advance(1))
                            .collect::<Vec<String>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap())
                .collect()
        });
        let mut percents: Vec<u64> = lines
            .iter()
            .map(|l| {
                let open = l.find('(').unwrap();
                let close = l.find("%)").unwrap();
                l[open + 1..close].parse().unwrap()
            })
            .collect();
        percents.sort_unstable();
        let mut distinct = percents.clone();
        distinct.dedup();
        assert_eq!(distinct, percents, "a tenth reported twice");
        assert_eq!(percents.last(), Some(&100));
        assert!(percents.iter().all(|p| p % 10 == 0 && *p > 0));
    }
}
