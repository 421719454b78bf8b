//! DET curves (FNMR against FMR, both on log scales) for several sets in one PNG.

use std::path::Path;

use plotters::prelude::*;

use crate::metrics::DetPoint;

/// Rates below this are drawn at this value (a log axis has no zero).
pub const FLOOR: f64 = 1e-3;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers a system font for labels; returns whether one was found. Without one, the
/// plot is drawn without text.
pub(crate) fn register_font() -> bool {
    static FOUND: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *FOUND.get_or_init(|| {
        for path in FONT_PATHS {
            if let Ok(bytes) = std::fs::read(path) {
                let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
                if plotters::style::register_font("sans-serif", FontStyle::Normal, bytes).is_ok() {
                    return true;
                }
            }
        }
        false
    })
}

/// Draws one DET curve per (name, curve) to a PNG file.
pub fn plot(path: &Path, title: &str, curves: &[(String, Vec<DetPoint>)]) -> anyhow::Result<()> {
    let text = register_font();
    let root = BitMapBackend::new(path, (900, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut builder = ChartBuilder::on(&root);
    builder.margin(20);
    if text {
        builder
            .caption(title, ("sans-serif", 24))
            .x_label_area_size(50)
            .y_label_area_size(70);
    }
    let mut chart =
        builder.build_cartesian_2d((FLOOR..1.0f64).log_scale(), (FLOOR..1.0f64).log_scale())?;
    let mut mesh = chart.configure_mesh();
    mesh.x_desc("FMR (false match rate)")
        .y_desc("FNMR (false non-match rate)")
        .x_label_formatter(&|v| format!("{:.1}%", v * 100.0))
        .y_label_formatter(&|v| format!("{:.1}%", v * 100.0));
    if !text {
        mesh.disable_x_axis().disable_y_axis();
    }
    mesh.draw()?;
    for (k, (name, curve)) in curves.iter().enumerate() {
        let points: Vec<(f64, f64)> = curve
            .iter()
            .map(|p| (p.fmr.max(FLOOR), p.fnmr.max(FLOOR)))
            .collect();
        draw_line(&mut chart, k, name, points, text)?;
    }
    // The equal-error diagonal.
    chart.draw_series(LineSeries::new(
        [(FLOOR, FLOOR), (1.0, 1.0)],
        BLACK.mix(0.3),
    ))?;
    if text {
        draw_legend(&mut chart, SeriesLabelPosition::UpperRight)?;
    }
    root.present()?;
    Ok(())
}

/// The plots' lines, in this order.
const COLOURS: [RGBColor; 6] = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];

/// Draws the `k`-th line of a plot (its colour from [`COLOURS`]), labelled `name` for the
/// legend where the plot has text.
pub(crate) fn draw_line<X, Y>(
    chart: &mut ChartContext<'_, BitMapBackend<'_>, Cartesian2d<X, Y>>,
    k: usize,
    name: &str,
    points: Vec<(f64, f64)>,
    text: bool,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    let colour = COLOURS[k % COLOURS.len()];
    let series = chart.draw_series(LineSeries::new(points, colour.stroke_width(2)))?;
    if text {
        series
            .label(name)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    Ok(())
}

/// Draws the legend of a plot's labelled lines at `position`.
pub(crate) fn draw_legend<'a, X, Y>(
    chart: &mut ChartContext<'a, BitMapBackend<'a>, Cartesian2d<X, Y>>,
    position: SeriesLabelPosition,
) -> anyhow::Result<()>
where
    X: Ranged<ValueType = f64>,
    Y: Ranged<ValueType = f64>,
{
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .position(position)
        .draw()?;
    Ok(())
}
