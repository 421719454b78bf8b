//! Score tails: for each set of scores, the share at or above every score (the
//! complementary cumulative distribution, on a log scale), so that the high scores — the
//! ones a search's false positives come from — are as visible as the bulk. Several panels
//! side by side in one PNG (`daktilo-bench synth-compare --plot`).

use std::path::Path;

use plotters::prelude::*;

/// One named set of scores.
pub struct Series {
    /// The legend's label.
    pub name: String,
    /// The scores, in any order.
    pub scores: Vec<f32>,
}

/// One panel: a title, what the scores are, and the sets drawn against each other.
pub struct Panel {
    /// The panel's caption.
    pub title: String,
    /// The horizontal axis's label.
    pub x_label: String,
    /// The sets of scores.
    pub series: Vec<Series>,
}

/// For scores sorted in increasing order, each distinct score with the share of scores
/// at or above it (1 at the lowest, `1 / n` at the highest): the points of a tail plot.
pub fn tail(sorted: &[f32]) -> Vec<(f64, f64)> {
    let n = sorted.len() as f64;
    let mut points = Vec::new();
    for (i, &s) in sorted.iter().enumerate() {
        if i == 0 || sorted[i - 1] != s {
            points.push((f64::from(s), (sorted.len() - i) as f64 / n));
        }
    }
    points
}

/// Draws each panel's series as tails, panels side by side, to a PNG file (600 × 560
/// pixels a panel; the legend at the lower left, which the falling curves leave empty).
/// The vertical axis reaches down to one score in the largest set.
pub fn plot(path: &Path, panels: &[Panel]) -> anyhow::Result<()> {
    anyhow::ensure!(!panels.is_empty(), "nothing to plot");
    let text = crate::det::register_font();
    let width = 600 * panels.len() as u32;
    let root = BitMapBackend::new(path, (width, 560)).into_drawing_area();
    root.fill(&WHITE)?;
    for (area, panel) in root.split_evenly((1, panels.len())).iter().zip(panels) {
        let tails: Vec<(&str, Vec<(f64, f64)>)> = panel
            .series
            .iter()
            .filter(|s| !s.scores.is_empty())
            .map(|s| {
                let mut sorted = s.scores.clone();
                sorted.sort_by(f32::total_cmp);
                (s.name.as_str(), tail(&sorted))
            })
            .collect();
        let points = || tails.iter().flat_map(|(_, t)| t.iter());
        let (low, high) = points().fold((f64::INFINITY, f64::NEG_INFINITY), |(l, h), p| {
            (l.min(p.0), h.max(p.0))
        });
        anyhow::ensure!(low.is_finite() && high.is_finite(), "no scores to plot");
        let floor = points().map(|p| p.1).fold(1.0, f64::min) / 2.0;
        let high = if high > low { high } else { low + 1.0 };
        let mut builder = ChartBuilder::on(area);
        builder.margin(20);
        if text {
            builder
                .caption(&panel.title, ("sans-serif", 22))
                .x_label_area_size(45)
                .y_label_area_size(70);
        }
        let mut chart = builder.build_cartesian_2d(low..high, (floor..1.0f64).log_scale())?;
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(panel.x_label.as_str())
            .y_desc("share at or above")
            .y_label_formatter(&|v| format!("{v:.0e}"));
        if !text {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw()?;
        for (k, (name, points)) in tails.iter().enumerate() {
            // A step down after each score: the share holds until the next one.
            let mut steps = Vec::with_capacity(2 * points.len());
            for (j, &(x, y)) in points.iter().enumerate() {
                steps.push((x, y));
                let next = points.get(j + 1).map_or(x, |p| p.0);
                steps.push((next, y));
            }
            crate::det::draw_line(&mut chart, k, name, steps, text)?;
        }
        if text {
            crate::det::draw_legend(&mut chart, SeriesLabelPosition::LowerLeft)?;
        }
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tail_gives_each_distinct_score_the_share_at_or_above_it() {
        assert_eq!(
            tail(&[1.0, 2.0, 2.0, 3.0]),
            vec![(1.0, 1.0), (2.0, 0.75), (3.0, 0.25)]
        );
        assert_eq!(tail(&[5.0, 5.0]), vec![(5.0, 1.0)]);
        assert!(tail(&[]).is_empty());
    }

    #[test]
    fn the_plot_has_a_panel_of_600_pixels_for_each_and_refuses_empty_input() {
        let dir = std::env::temp_dir().join(format!("daktilo-tails-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("tails.png");
        let series = |name: &str, k: usize| Series {
            name: name.to_string(),
            scores: (0..200 * k).map(|i| (i % 97) as f32 / k as f32).collect(),
        };
        let panel = |title: &str| Panel {
            title: title.to_string(),
            x_label: "score".to_string(),
            series: vec![series("a", 1), series("b", 3)],
        };
        plot(&path, &[panel("one"), panel("two")]).unwrap();
        let png = image::open(&path).unwrap();
        assert_eq!((png.width(), png.height()), (1200, 560));
        // Not blank: the curves and axes drew on the white background.
        assert!(png.to_rgb8().pixels().any(|p| p.0 != [255, 255, 255]));
        assert!(plot(&path, &[]).is_err());
        let empty = Panel {
            title: "none".to_string(),
            x_label: "score".to_string(),
            series: vec![Series {
                name: "empty".to_string(),
                scores: Vec::new(),
            }],
        };
        assert!(plot(&path, &[empty]).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
