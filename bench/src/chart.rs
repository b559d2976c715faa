//! The report's chart: call latency percentiles (p50, p99, p99.9) against offered load, one
//! colour per system, from the open-loop `rpc` runs (latency from intended send time).
//!
//! Drawn with plotters' bitmap backend; text goes through ab_glyph with a font embedded in the
//! binary, so drawing needs neither fontconfig nor any font installed on the machine.

use std::path::Path;

use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};

use crate::scenario::ScenarioResult;

/// One line of the chart.
struct Series {
    label: String,
    color: RGBColor,
    /// p50 thick, p99 thin, p99.9 thin and dashed.
    line: Line,
    points: Vec<(f64, f64)>,
}

#[derive(Clone, Copy, PartialEq)]
enum Line {
    Thick,
    Thin,
    Dashed,
}

const COLORS: [RGBColor; 4] =
    [RGBColor(31, 119, 180), RGBColor(214, 39, 40), RGBColor(44, 160, 44), RGBColor(148, 103, 189)];

/// Draws `path` (PNG) from the open-loop rpc results; returns false when there is nothing to draw.
pub fn draw(results: &[ScenarioResult], path: &Path) -> anyhow::Result<bool> {
    register_font("sans-serif", FontStyle::Normal, epaint_default_fonts::UBUNTU_LIGHT)
        .map_err(|_| anyhow::anyhow!("the embedded font does not load"))?;
    let mut labels: Vec<&str> = Vec::new();
    for r in results.iter().filter(|r| r.scenario == "rpc" && r.mode == "open") {
        if !labels.contains(&r.label.as_str()) {
            labels.push(&r.label);
        }
    }
    let mut series = Vec::new();
    for (i, label) in labels.iter().enumerate() {
        let mut runs: Vec<&ScenarioResult> =
            results.iter().filter(|r| r.scenario == "rpc" && r.mode == "open" && r.label == *label).collect();
        runs.sort_by(|a, b| a.rate.partial_cmp(&b.rate).unwrap_or(std::cmp::Ordering::Equal));
        let color = COLORS[i % COLORS.len()];
        type Pick = fn(&ScenarioResult) -> f64;
        let percentiles: [(&str, Pick, Line); 3] = [
            ("p50", |r| r.latency_us.p50, Line::Thick),
            ("p99", |r| r.latency_us.p99, Line::Thin),
            ("p99.9", |r| r.latency_us.p999, Line::Dashed),
        ];
        for (name, pick, line) in percentiles {
            let points = runs.iter().map(|r| (r.rate.unwrap_or(0.0) / 1000.0, pick(r).max(1.0) / 1000.0)).collect();
            series.push(Series { label: format!("{label} {name}"), color, line, points });
        }
    }
    if series.is_empty() {
        return Ok(false);
    }
    let all = series.iter().flat_map(|s| s.points.iter());
    let x_max = all.clone().map(|p| p.0).fold(0.0, f64::max) * 1.05;
    let y_max = all.clone().map(|p| p.1).fold(0.01, f64::max) * 2.0;
    let y_min = all.map(|p| p.1).fold(f64::MAX, f64::min).max(0.001) / 2.0;

    let root = BitMapBackend::new(path, (1000, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Routed call latency vs offered load (open loop, json, from intended send time)", ("sans-serif", 22))
        .margin(15)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(0.0..x_max, (y_min..y_max).log_scale())?;
    chart
        .configure_mesh()
        .light_line_style(WHITE)
        .x_desc("offered load (thousand calls/s)")
        .y_desc("latency (ms, log scale)")
        .label_style(("sans-serif", 15))
        .draw()?;
    for s in &series {
        let style = ShapeStyle::from(&s.color).stroke_width(if s.line == Line::Thick { 3 } else { 1 });
        let anno = match s.line {
            Line::Dashed => chart.draw_series(DashedLineSeries::new(s.points.clone(), 6, 4, style))?,
            _ => chart.draw_series(LineSeries::new(s.points.clone(), style))?,
        };
        anno.label(s.label.clone()).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
        chart.draw_series(s.points.iter().map(|&p| Circle::new(p, 3, s.color.filled())))?;
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .label_font(("sans-serif", 14))
        .position(SeriesLabelPosition::UpperLeft)
        .draw()?;
    root.present()?;
    Ok(true)
}
