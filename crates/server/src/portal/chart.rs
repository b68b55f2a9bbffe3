//! A measure over time as a small SVG chart, drawn on the server: the profile's results and
//! vital signs (créatinine, poids, tension…) read at a glance without any script in the browser.
//!
//! The chart is an image with a text alternative (`role="img"`, a title and a description that
//! says what the curve shows); the page puts the same values in a table beside it, so nothing is
//! said by the drawing alone. Colours are never the only carrier: the reference range is a band
//! *and* a caption in words.

use std::fmt::Write as _;

use time::OffsetDateTime;

use super::words;

/// One measure of one thing, in one unit.
#[derive(Debug, Clone, PartialEq)]
pub struct Trend {
    /// What is measured, as the page names it (`Créatinine`).
    pub name: String,
    /// The UCUM unit as written by the source (`mg/dL`, `kg`).
    pub unit: Option<String>,
    pub points: Vec<(OffsetDateTime, f64)>,
    /// The reference range, when the source gave one.
    pub low: Option<f64>,
    pub high: Option<f64>,
}

const WIDTH: f64 = 640.0;
const HEIGHT: f64 = 260.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 20.0;
const TOP: f64 = 34.0;
const BOTTOM: f64 = 44.0;

/// A number as French pages write it: decimal comma, thin grouping of thousands, at most
/// `decimals` digits after the comma and no trailing zeros.
pub fn decimal(value: f64, decimals: usize) -> String {
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
    let frac = frac.trim_end_matches('0');
    let mut grouped = String::new();
    for (i, c) in int.chars().enumerate() {
        if i > 0 && (int.len() - i) % 3 == 0 {
            grouped.push('\u{a0}');
        }
        grouped.push(c);
    }
    let sign = if value < 0.0 && (int.chars().any(|c| c != '0') || !frac.is_empty()) { "-" } else { "" };
    if frac.is_empty() { format!("{sign}{grouped}") } else { format!("{sign}{grouped},{frac}") }
}

/// How many decimals tell the values apart at this tick step.
fn decimals_for(step: f64) -> usize {
    if step >= 1.0 {
        0
    } else {
        // A step of 0.05 needs 2 decimals; capped so a degenerate step cannot ask for hundreds.
        ((-step.log10()).ceil().max(0.0) as usize).min(6)
    }
}

/// A "nice" step (1, 2 or 5 × 10^k) giving about `count` ticks over `span`.
fn nice_step(span: f64, count: f64) -> f64 {
    let raw = span / count;
    let magnitude = 10f64.powf(raw.log10().floor());
    let residual = raw / magnitude;
    let nice = if residual <= 1.0 {
        1.0
    } else if residual <= 2.0 {
        2.0
    } else if residual <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * magnitude
}

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn with_unit(value: f64, decimals: usize, unit: Option<&str>) -> String {
    match unit {
        Some(u) if !u.is_empty() && u != "1" => format!("{}\u{a0}{u}", decimal(value, decimals)),
        _ => decimal(value, decimals),
    }
}

/// The chart, or `None` when there is nothing finite to draw. `id` makes the title and
/// description ids unique on a page with several charts.
pub fn trend_svg(trend: &Trend, id: &str) -> Option<String> {
    let mut points: Vec<(OffsetDateTime, f64)> = trend.points.iter().copied().filter(|(_, v)| v.is_finite()).collect();
    if points.is_empty() {
        return None;
    }
    points.sort_by_key(|(at, _)| *at);
    let low = trend.low.filter(|v| v.is_finite());
    let high = trend.high.filter(|v| v.is_finite());
    let unit = trend.unit.as_deref();

    let values = points.iter().map(|(_, v)| *v).chain(low).chain(high);
    let (mut min, mut max) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if max - min < 1e-9 * min.abs().max(max.abs()).max(1.0) {
        // One value (or all equal): centre it in a band a tenth of its size, at least 1.
        let pad = (min.abs() / 10.0).max(1.0);
        min -= pad;
        max += pad;
    }
    let step = nice_step(max - min, 4.0);
    if !step.is_finite() || step <= 0.0 {
        return None;
    }
    let y_min = (min / step).floor() * step;
    let y_max = (max / step).ceil() * step;
    let decimals = decimals_for(step);

    let first = points[0].0;
    let last = points[points.len() - 1].0;
    let span = (last - first).as_seconds_f64();
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let x = |at: OffsetDateTime| {
        if span <= 0.0 { LEFT + plot_w / 2.0 } else { LEFT + plot_w * ((at - first).as_seconds_f64() / span) }
    };
    let y = |v: f64| TOP + plot_h * (1.0 - (v - y_min) / (y_max - y_min));

    let name = escape(&trend.name);
    let latest = points[points.len() - 1];
    let mut desc = format!(
        "{} du {} au {}. Dernière valeur\u{a0}: {} le {}.",
        words::counted(points.len() as u64, "mesure", "mesures", "aucune mesure"),
        words::date(first),
        words::date(last),
        with_unit(latest.1, 6, unit),
        words::date(latest.0),
    );
    if points.len() == 1 {
        desc = format!("Une mesure, le {}\u{a0}: {}.", words::date(latest.0), with_unit(latest.1, 6, unit));
    }
    let range = match (low, high) {
        (Some(l), Some(h)) => Some(format!("Valeurs de référence\u{a0}: {} à {}", decimal(l, 6), with_unit(h, 6, unit))),
        (Some(l), None) => Some(format!("Valeur de référence\u{a0}: au moins {}", with_unit(l, 6, unit))),
        (None, Some(h)) => Some(format!("Valeur de référence\u{a0}: au plus {}", with_unit(h, 6, unit))),
        (None, None) => None,
    };
    if let Some(r) = &range {
        desc.push(' ');
        desc.push_str(r);
        desc.push('.');
    }

    let id = escape(id);
    let mut svg = String::new();
    // `write!` into a String cannot fail.
    let _ = write!(
        svg,
        r#"<svg class="courbe" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" aria-labelledby="{id}-titre {id}-desc" xmlns="http://www.w3.org/2000/svg"><title id="{id}-titre">{name}</title><desc id="{id}-desc">{}</desc>"#,
        escape(&desc)
    );
    if low.is_some() || high.is_some() {
        let top = high.map_or(TOP, |h| y(h.min(y_max)));
        let bottom = low.map_or(TOP + plot_h, |l| y(l.max(y_min)));
        let _ = write!(svg, r##"<rect x="{LEFT}" y="{top:.1}" width="{plot_w}" height="{:.1}" fill="#e3f1e6"/>"##, (bottom - top).max(0.0));
    }
    // Counted, not accumulated: adding a small step to a large value could stand still.
    let ticks = ((y_max - y_min) / step).round().clamp(1.0, 20.0) as u32;
    for i in 0..=ticks {
        let tick = y_min + f64::from(i) * step;
        let ty = y(tick);
        let _ = write!(
            svg,
            r##"<line x1="{LEFT}" y1="{ty:.1}" x2="{:.1}" y2="{ty:.1}" stroke="#c8c8c8" stroke-width="1"/><text x="{:.1}" y="{:.1}" text-anchor="end" font-size="12" fill="#333">{}</text>"##,
            WIDTH - RIGHT,
            LEFT - 6.0,
            ty + 4.0,
            escape(&decimal(tick, decimals))
        );
    }
    let axis_y = TOP + plot_h;
    let _ = write!(svg, r##"<line x1="{LEFT}" y1="{axis_y}" x2="{:.1}" y2="{axis_y}" stroke="#333" stroke-width="1"/>"##, WIDTH - RIGHT);
    let mut labels = vec![(first, "start")];
    if span > 0.0 {
        labels.push((last, "end"));
    } else {
        labels[0].1 = "middle";
    }
    for (at, anchor) in labels {
        let _ = write!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" text-anchor="{anchor}" font-size="12" fill="#333">{}</text>"##,
            x(at),
            axis_y + 20.0,
            escape(&words::date(at))
        );
    }
    if let Some(u) = unit {
        let _ = write!(svg, r##"<text x="4" y="{:.1}" font-size="12" fill="#333">{}</text>"##, TOP - 20.0, escape(u));
    }
    if points.len() > 1 {
        let path: Vec<String> = points.iter().map(|(at, v)| format!("{:.1},{:.1}", x(*at), y(*v))).collect();
        let _ = write!(svg, r##"<polyline points="{}" fill="none" stroke="#1f4e9c" stroke-width="2"/>"##, path.join(" "));
    }
    for (at, v) in &points {
        let _ = write!(
            svg,
            r##"<circle cx="{:.1}" cy="{:.1}" r="4" fill="#1f4e9c"><title>{}</title></circle>"##,
            x(*at),
            y(*v),
            escape(&format!("{}\u{a0}: {}", words::date(*at), with_unit(*v, 6, unit)))
        );
    }
    svg.push_str("</svg>");
    Some(svg)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use time::macros::datetime;

    fn creatinine(points: Vec<(OffsetDateTime, f64)>) -> Trend {
        Trend { name: "Créatinine".into(), unit: Some("mg/dL".into()), points, low: Some(0.6), high: Some(1.2) }
    }

    /// Every number in the drawing's coordinates: none may be NaN, infinite or off the canvas.
    fn coordinates(svg: &str) -> Vec<f64> {
        let mut out = vec![];
        for attr in [" x=\"", " y=\"", " x1=\"", " y1=\"", " x2=\"", " y2=\"", " cx=\"", " cy=\"", " height=\"", " points=\""] {
            for (i, _) in svg.match_indices(attr) {
                let rest = &svg[i + attr.len()..];
                let value = &rest[..rest.find('"').unwrap_or(0)];
                for n in value.split([' ', ',']).filter(|s| !s.is_empty() && *s != "100%") {
                    out.push(n.parse::<f64>().unwrap_or(f64::NAN));
                }
            }
        }
        out
    }

    #[test]
    fn numbers_are_written_the_french_way() {
        assert_eq!(decimal(1234.5, 2), "1\u{a0}234,5");
        assert_eq!(decimal(0.8, 2), "0,8");
        assert_eq!(decimal(12.0, 2), "12");
        assert_eq!(decimal(-0.25, 2), "-0,25");
        assert_eq!(decimal(-0.0001, 2), "0");
        assert_eq!(decimal(1_000_000.0, 0), "1\u{a0}000\u{a0}000");
    }

    #[test]
    fn a_curve_says_in_words_what_it_shows() {
        let svg = trend_svg(
            &creatinine(vec![
                (datetime!(2025-03-12 08:00 UTC), 0.9),
                (datetime!(2026-06-04 08:00 UTC), 1.4),
                (datetime!(2025-11-02 08:00 UTC), 1.1),
            ]),
            "creat",
        )
        .expect("drawn");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains(r#"role="img""#) && svg.contains(r#"aria-labelledby="creat-titre creat-desc""#));
        assert!(svg.contains("<title id=\"creat-titre\">Créatinine</title>"));
        assert!(svg.contains("3\u{a0}mesures du 12\u{a0}mars\u{a0}2025 au 4\u{a0}juin\u{a0}2026"), "{svg}");
        assert!(svg.contains("Dernière valeur\u{a0}: 1,4\u{a0}mg/dL le 4\u{a0}juin\u{a0}2026"), "{svg}");
        assert!(svg.contains("Valeurs de référence\u{a0}: 0,6 à 1,2\u{a0}mg/dL"), "{svg}");
        assert_eq!(svg.matches("<circle").count(), 3);
        // Points are drawn in time order whatever order they came in: the line goes left to right.
        let line = svg.split("points=\"").nth(1).and_then(|s| s.split('"').next()).expect("a line");
        let xs: Vec<f64> = line.split(' ').map(|p| p.split(',').next().and_then(|x| x.parse().ok()).expect("x")).collect();
        assert!(xs.windows(2).all(|w| w[0] < w[1]), "{xs:?}");
    }

    #[test]
    fn one_measure_is_a_point_in_the_middle_with_no_line() {
        let svg = trend_svg(
            &Trend {
                name: "Poids".into(),
                unit: Some("kg".into()),
                points: vec![(datetime!(2026-01-05 10:00 UTC), 72.5)],
                low: None,
                high: None,
            },
            "p",
        )
        .expect("drawn");
        assert!(!svg.contains("<polyline"));
        assert!(svg.contains("Une mesure, le 5\u{a0}janvier\u{a0}2026\u{a0}: 72,5\u{a0}kg."), "{svg}");
        assert!(!svg.contains("référence"));
    }

    #[test]
    fn nothing_to_draw_gives_no_chart() {
        assert_eq!(trend_svg(&creatinine(vec![]), "x"), None);
        assert_eq!(trend_svg(&creatinine(vec![(datetime!(2026-01-05 10:00 UTC), f64::NAN)]), "x"), None);
    }

    #[test]
    fn names_and_units_from_documents_are_escaped() {
        let trend = Trend {
            name: "<script>alert(1)</script>".into(),
            unit: Some("\"><script>".into()),
            points: vec![(datetime!(2026-01-05 10:00 UTC), 1.0), (datetime!(2026-02-05 10:00 UTC), 2.0)],
            low: None,
            high: None,
        };
        let svg = trend_svg(&trend, "a\"b").expect("drawn");
        assert!(!svg.contains("<script"), "{svg}");
        assert!(svg.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(svg.contains("aria-labelledby=\"a&quot;b-titre"));
    }

    proptest! {
        #[test]
        fn every_coordinate_is_on_the_canvas(
            raw in prop::collection::vec((0i64..2_000_000_000, -1.0e9f64..1.0e9), 1..40),
            low in prop::option::of(-1.0e9f64..1.0e9),
            high in prop::option::of(-1.0e9f64..1.0e9),
        ) {
            let points = raw.iter().map(|(s, v)| (OffsetDateTime::from_unix_timestamp(*s).expect("in range"), *v)).collect();
            let trend = Trend { name: "Mesure".into(), unit: Some("mmol/L".into()), points, low, high };
            let svg = trend_svg(&trend, "t").expect("finite points are drawn");
            let coords = coordinates(&svg);
            prop_assert!(!coords.is_empty());
            for c in coords {
                prop_assert!(c.is_finite() && (-0.5..=WIDTH + 0.5).contains(&c), "{c} in {svg}");
            }
            prop_assert_eq!(svg.matches("<circle").count(), raw.len());
        }
    }
}
