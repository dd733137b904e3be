//! Server-rendered SVG charts: a client's daily issuance, the last hour's token rate
//! and error reasons, the signing-key timeline. Each has a fixed `viewBox` 360 wide (it
//! scales to the page, down to a 360 px screen), a `<title>` for screen readers, and
//! presentation attributes only (no `style`, which the console's CSP refuses). Every
//! text from outside (a label, a kid) is escaped here. The pages put a table beside
//! each chart: the same numbers as text.

use super::when::when;
pub use crate::admin::keys::KeyBar;
use std::fmt::{self, Write as _};

/// Width of every chart's `viewBox`.
const WIDTH: f64 = 360.0;
/// Left edge of the plotting area (room for the scale).
const LEFT: f64 = 34.0;
/// Right edge of the plotting area.
const RIGHT: f64 = 352.0;
/// Top of the plotting area.
const TOP: f64 = 12.0;
/// Height of the plotting area of the bar and line charts.
const PLOT: f64 = 110.0;
/// Most series drawn by [`minute_series`], points per series, keys per timeline,
/// days per bar chart; beyond them the table beside the chart holds the rest.
const MAX_SERIES: usize = 8;
const MAX_POINTS: usize = 60;
const MAX_KEYS: usize = 40;
const MAX_DAYS: usize = 92;
/// Colours of the series, in order.
const PALETTE: [&str; MAX_SERIES] = [
    "#2b6cb0", "#c53030", "#2f855a", "#b7791f", "#6b46c1", "#2c7a7b", "#97266d", "#4a5568",
];

/// An SVG document fragment, already escaped: embed it with `|safe`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Svg(pub String);

impl fmt::Display for Svg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// `text` fit for an SVG (XML) text node or attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // XML 1.0 has no control characters but tab and newlines.
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// At most `n` characters of `text` (never cut inside one), with `…` when cut.
fn clip(text: &str, n: usize) -> String {
    let mut chars = text.chars();
    let head: String = chars.by_ref().take(n).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

/// Opens a chart `height` high, titled `title`.
fn open(height: f64, title: &str) -> String {
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {height}\" \
         width=\"100%\" preserveAspectRatio=\"xMinYMin meet\" role=\"img\" \
         class=\"chart\"><title>{}</title>",
        escape(title)
    )
}

/// The height in the plot of `value` on a scale up to `max` (0 when `max` is 0).
fn scaled(value: u64, max: u64) -> f64 {
    if max == 0 {
        return 0.0;
    }
    // Counts are far below 2^52; as floats they are exact enough for pixels.
    #[expect(clippy::cast_precision_loss, reason = "pixels, not counts")]
    let ratio = value.min(max) as f64 / max as f64;
    ratio * PLOT
}

/// The largest value and the scale line ("max 42") at the top left.
fn scale(out: &mut String, max: u64) {
    let base = TOP + PLOT;
    let _ = write!(
        out,
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{RIGHT}\" y2=\"{base}\" stroke=\"#718096\" stroke-width=\"1\"/>\
         <text x=\"{x}\" y=\"{y}\" font-size=\"10\" text-anchor=\"end\" fill=\"#4a5568\">{max}</text>\
         <text x=\"{x}\" y=\"{base}\" font-size=\"10\" text-anchor=\"end\" fill=\"#4a5568\">0</text>",
        x = LEFT - 4.0,
        y = TOP + 8.0,
    );
}

/// Tokens per day: one bar per `(YYYY-MM-DD, count)`, oldest first, scaled to the
/// largest (all zeros: an empty chart).
pub fn daily_bars(days: &[(String, u64)]) -> Svg {
    let days = days.get(..days.len().min(MAX_DAYS)).unwrap_or_default();
    let max = days.iter().map(|(_, n)| *n).max().unwrap_or(0);
    let total: u64 = days.iter().fold(0, |t, (_, n)| t.saturating_add(*n));
    let title = format!(
        "Tokens issued per day over {} days: {total} in all, at most {max} in a day",
        days.len()
    );
    let mut out = open(150.0, &title);
    scale(&mut out, max);
    #[expect(clippy::cast_precision_loss, reason = "a count of at most MAX_DAYS")]
    let slot = (RIGHT - LEFT) / days.len().max(1) as f64;
    let bar = (slot * 0.8).max(1.0);
    let base = TOP + PLOT;
    let mut x = LEFT;
    for (i, (day, n)) in days.iter().enumerate() {
        let h = scaled(*n, max);
        // Month and day under the bar; every label for a week, fewer for longer.
        let label = day.split_once('-').map_or(day.as_str(), |(_, md)| md);
        let _ = write!(
            out,
            "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\" fill=\"#2b6cb0\">\
             <title>{}: {n}</title></rect>",
            escape(&clip(day, 10)),
            y = base - h,
        );
        if days.len() <= 10 || i.checked_rem(7) == Some(0) {
            let _ = write!(
                out,
                "<text x=\"{cx:.1}\" y=\"{ty}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#4a5568\">{}</text>",
                escape(&clip(label, 5)),
                cx = x + bar / 2.0,
                ty = base + 14.0,
            );
        }
        x += slot;
    }
    out.push_str("</svg>");
    Svg(out)
}

/// Per-minute series over the last hour (`(label, 60 values)`, oldest minute first;
/// e.g. tokens issued and each error reason), as lines on one scale with a legend.
pub fn minute_series(series: &[(String, Vec<u64>)]) -> Svg {
    let series = series
        .get(..series.len().min(MAX_SERIES))
        .unwrap_or_default();
    let points = |v: &[u64]| -> Vec<u64> { v.iter().copied().take(MAX_POINTS).collect() };
    let max = series
        .iter()
        .flat_map(|(_, v)| points(v))
        .max()
        .unwrap_or(0);
    let names: Vec<String> = series.iter().map(|(l, _)| clip(l, 40)).collect();
    let title = format!(
        "Per minute over the last hour ({}), at most {max} in a minute",
        if names.is_empty() {
            "no data".to_string()
        } else {
            names.join(", ")
        }
    );
    let legend_rows = series.len().div_ceil(2);
    #[expect(clippy::cast_precision_loss, reason = "at most MAX_SERIES rows")]
    let height = TOP + PLOT + 24.0 + 14.0 * legend_rows as f64;
    let mut out = open(height, &title);
    scale(&mut out, max);
    let base = TOP + PLOT;
    #[expect(clippy::cast_precision_loss, reason = "MAX_POINTS")]
    let step = (RIGHT - LEFT) / (MAX_POINTS - 1) as f64;
    for (i, ((label, values), colour)) in series.iter().zip(PALETTE).enumerate() {
        let mut path = String::new();
        let mut x = LEFT;
        for v in points(values) {
            let _ = write!(path, "{x:.1},{:.1} ", base - scaled(v, max));
            x += step;
        }
        let _ = write!(
            out,
            "<polyline points=\"{}\" fill=\"none\" stroke=\"{colour}\" stroke-width=\"1.5\">\
             <title>{}</title></polyline>",
            path.trim_end(),
            escape(&clip(label, 40)),
        );
        #[expect(clippy::cast_precision_loss, reason = "at most MAX_SERIES")]
        let (col, row) = ((i % 2) as f64, (i / 2) as f64);
        let lx = LEFT + col * 160.0;
        let ly = base + 20.0 + row * 14.0;
        let _ = write!(
            out,
            "<rect x=\"{lx}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{colour}\"/>\
             <text x=\"{}\" y=\"{ly}\" font-size=\"10\" fill=\"#1a202c\">{}</text>",
            ly - 9.0,
            lx + 14.0,
            escape(&clip(label, 24)),
        );
    }
    let _ = write!(
        out,
        "<text x=\"{LEFT}\" y=\"{y}\" font-size=\"10\" fill=\"#4a5568\">60 min ago</text>\
         <text x=\"{RIGHT}\" y=\"{y}\" font-size=\"10\" text-anchor=\"end\" fill=\"#4a5568\">now</text>",
        y = base + 10.0,
    );
    out.push_str("</svg>");
    Svg(out)
}

/// The state's colour on the key timeline.
fn key_colour(state: &str) -> &'static str {
    match state {
        "pre-published" => "#90cdf4",
        "active" => "#38a169",
        "retiring" => "#ed8936",
        _ => "#a0aec0",
    }
}

/// The signing keys on a time axis: one row per key, its bar from `from` to `until`
/// (open-ended: to the edge), coloured by state, with a line at `now`.
pub fn key_timeline(keys: &[KeyBar], now: i64) -> Svg {
    let keys = keys.get(..keys.len().min(MAX_KEYS)).unwrap_or_default();
    let title = format!(
        "Signing keys over time: {}",
        if keys.is_empty() {
            "none".to_string()
        } else {
            keys.iter()
                .map(|k| format!("{} {}", clip(&k.kid, 12), k.state))
                .collect::<Vec<_>>()
                .join(", ")
        }
    );
    // The axis spans every bar and now, with a day either side of now at least.
    let start = keys
        .iter()
        .map(|k| k.from)
        .chain([now.saturating_sub(86_400)])
        .min()
        .unwrap_or(now);
    let end = keys
        .iter()
        .filter_map(|k| k.until)
        .chain([now.saturating_add(86_400)])
        .max()
        .unwrap_or(now);
    #[expect(clippy::cast_precision_loss, reason = "seconds to pixels")]
    let span = (end as f64 - start as f64).max(1.0);
    #[expect(clippy::cast_precision_loss, reason = "seconds to pixels")]
    let x_of = |t: i64| LEFT + (t as f64 - start as f64) / span * (RIGHT - LEFT);
    let row = 26.0;
    #[expect(clippy::cast_precision_loss, reason = "at most MAX_KEYS rows")]
    let height = TOP + row * keys.len().max(1) as f64 + 30.0;
    let mut out = open(height, &title);
    let mut y = TOP;
    for k in keys {
        let x1 = x_of(k.from.max(start));
        let x2 = x_of(k.until.unwrap_or(end).min(end));
        let w = (x2 - x1).max(2.0);
        let shown = format!("{} · {}", clip(&k.kid, 12), k.state);
        let until = match k.until {
            Some(t) => when(Some(t), now).plain(),
            None => "open-ended".into(),
        };
        let _ = write!(
            out,
            "<rect x=\"{x1:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"12\" rx=\"2\" fill=\"{}\">\
             <title>{}: {} from {} until {}</title></rect>\
             <text x=\"{LEFT}\" y=\"{ty:.1}\" font-size=\"10\" fill=\"#1a202c\">{}</text>",
            key_colour(&k.state),
            escape(&k.kid),
            escape(&k.state),
            escape(&when(Some(k.from), now).plain()),
            escape(&until),
            escape(&shown),
            ty = y + 22.0,
        );
        y += row;
    }
    let nx = x_of(now);
    let date = |t: i64| {
        let utc = when(Some(t), now).utc();
        clip(&utc, 10)
    };
    let _ = write!(
        out,
        "<line x1=\"{nx:.1}\" y1=\"{TOP}\" x2=\"{nx:.1}\" y2=\"{y:.1}\" stroke=\"#c53030\" stroke-width=\"1\"/>\
         <text x=\"{nx:.1}\" y=\"{ny:.1}\" font-size=\"10\" text-anchor=\"middle\" fill=\"#c53030\">now</text>\
         <text x=\"{LEFT}\" y=\"{ay:.1}\" font-size=\"10\" fill=\"#4a5568\">{}</text>\
         <text x=\"{RIGHT}\" y=\"{ay:.1}\" font-size=\"10\" text-anchor=\"end\" fill=\"#4a5568\">{}</text>",
        escape(&date(start)),
        escape(&date(end)),
        ny = y + 10.0,
        ay = y + 24.0,
    );
    out.push_str("</svg>");
    Svg(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_796_484_000;

    /// Checks that `svg` is well-formed XML as far as a chart needs: tags balance,
    /// attribute values are quoted, text holds no raw `<` and every `&` is an entity.
    fn well_formed(svg: &str) {
        let mut open: Vec<String> = Vec::new();
        let mut rest = svg;
        while let Some(at) = rest.find('<') {
            let (text, tag) = rest.split_at(at);
            check_text(text);
            let end = tag.find('>').expect("an unclosed tag");
            let (inner, after) = tag.split_at(end);
            rest = &after[1..];
            let inner = &inner[1..];
            if let Some(name) = inner.strip_prefix('/') {
                assert_eq!(open.pop().as_deref(), Some(name), "in {svg}");
                continue;
            }
            let self_closing = inner.ends_with('/');
            let body = inner.trim_end_matches('/');
            let name = body.split_whitespace().next().expect("a tag name");
            assert!(name.chars().all(|c| c.is_ascii_alphanumeric()), "{name}");
            assert_eq!(body.matches('"').count() % 2, 0, "quotes in <{body}>");
            check_text(body);
            if !self_closing {
                open.push(name.to_string());
            }
        }
        check_text(rest);
        assert!(open.is_empty(), "unclosed {open:?}");
        assert!(svg.starts_with("<svg ") && svg.ends_with("</svg>"));
        assert!(svg.contains("viewBox=\"0 0 360 "));
        assert!(svg.contains("<title>"));
    }

    fn check_text(text: &str) {
        assert!(!text.contains('<'), "{text}");
        for (i, _) in text.match_indices('&') {
            let entity = &text[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|e| entity.starts_with(e)),
                "a raw & in {text}"
            );
        }
    }

    fn heights(svg: &str) -> Vec<f64> {
        svg.split("<rect ")
            .skip(1)
            .filter_map(|r| r.split("height=\"").nth(1))
            .filter_map(|h| h.split('"').next())
            .map(|h| h.parse().expect("a number"))
            .collect()
    }

    #[test]
    fn bars_are_scaled_to_the_largest_day() {
        let days: Vec<(String, u64)> = (1..=7)
            .map(|d| (format!("2026-12-0{d}"), [0, 5, 10, 0, 2, 1, 10][d - 1]))
            .collect();
        let svg = daily_bars(&days).0;
        well_formed(&svg);
        let h = heights(&svg);
        assert_eq!(h.len(), 7);
        assert_eq!(h[2], PLOT);
        assert_eq!(h[6], PLOT);
        assert_eq!(h[1], PLOT / 2.0);
        assert_eq!(h[0], 0.0);
        assert!(svg.contains(">12-03<"), "dates as month-day: {svg}");
        assert!(svg.contains("28 in all"));
    }

    #[test]
    fn all_zeros_or_nothing_draws_an_empty_chart() {
        let zeros: Vec<(String, u64)> = vec![("2026-12-01".into(), 0); 7];
        let svg = daily_bars(&zeros).0;
        well_formed(&svg);
        assert!(heights(&svg).iter().all(|h| *h == 0.0));
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
        for svg in [
            daily_bars(&[]).0,
            minute_series(&[]).0,
            minute_series(&[("tokens".into(), vec![0; 60])]).0,
            key_timeline(&[], NOW).0,
        ] {
            well_formed(&svg);
            assert!(!svg.contains("NaN") && !svg.contains("inf"), "{svg}");
        }
    }

    #[test]
    fn every_label_is_escaped() {
        let evil = "<script>alert('x')</script> & \"q\"\u{7}";
        for svg in [
            daily_bars(&[(evil.into(), 3)]).0,
            minute_series(&[(evil.into(), vec![1, 2, 3])]).0,
            key_timeline(
                &[KeyBar {
                    kid: evil.into(),
                    state: evil.into(),
                    from: NOW - 100,
                    until: None,
                }],
                NOW,
            )
            .0,
        ] {
            well_formed(&svg);
            assert!(!svg.contains("<script"), "{svg}");
            assert!(svg.contains("&lt;script&gt;"), "{svg}");
        }
    }

    #[test]
    fn series_share_one_scale_and_a_legend() {
        let svg = minute_series(&[
            ("tokens".into(), (0..60).collect()),
            ("invalid_client".into(), vec![59; 60]),
            ("ünïcødé".into(), vec![u64::MAX; 80]),
        ])
        .0;
        well_formed(&svg);
        assert_eq!(svg.matches("<polyline").count(), 3);
        assert!(svg.contains("ünïcødé"));
        let pts = svg
            .split("points=\"")
            .nth(1)
            .and_then(|p| p.split('"').next())
            .expect("points");
        assert_eq!(pts.split(' ').count(), 60);
    }

    #[test]
    fn the_key_timeline_shows_dates_and_states_never_unix_seconds() {
        let keys = [
            KeyBar {
                kid: "old".into(),
                state: "retiring".into(),
                from: NOW - 10 * 86_400,
                until: Some(NOW + 86_400),
            },
            KeyBar {
                kid: "current".into(),
                state: "active".into(),
                from: NOW - 10 * 86_400,
                until: Some(NOW + 20 * 86_400),
            },
            KeyBar {
                kid: "next".into(),
                state: "pre-published".into(),
                from: NOW - 86_400,
                until: Some(NOW + 20 * 86_400),
            },
        ];
        let svg = key_timeline(&keys, NOW).0;
        well_formed(&svg);
        assert_eq!(svg.matches("<rect").count(), 3);
        assert!(
            svg.contains("2026-11-25"),
            "the axis starts at a date: {svg}"
        );
        assert!(svg.contains("(in 20 days)"));
        assert!(!svg.contains(&NOW.to_string()));
        // Bars stay inside the plot, whatever the dates.
        let far = [KeyBar {
            kid: "k".into(),
            state: "active".into(),
            from: i64::MIN,
            until: Some(i64::MAX),
        }];
        let svg = key_timeline(&far, NOW).0;
        well_formed(&svg);
        assert!(!svg.contains("NaN") && !svg.contains("inf"));
    }
}
