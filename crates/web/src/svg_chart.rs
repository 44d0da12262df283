//! A small, pure SVG line-chart renderer for the vital-sign charts: server-side, no script, no
//! external assets, no `style` attributes (the CSP forbids inline style; colours come from
//! presentation attributes, which `style.css` may override through the classes).
//!
//! The chart scales to its container (`viewBox`, `width="100%"`), so it reads on a 390 px phone
//! as on a desktop. It is one `role="img"` with a `<title>` and an `aria-label` the caller writes
//! (the latest value and the range, in the reader's language); the page puts a plain table of the
//! same values next to it for screen readers and for browsers without SVG.
//!
//! Everything here is language-free: the caller passes every word.

use std::fmt::Write;

/// The drawing's size in user units (the `viewBox`). About a phone's width, so text stays
/// readable at 1:1.
pub const WIDTH: f64 = 360.0;
pub const HEIGHT: f64 = 200.0;
const LEFT: f64 = 44.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 22.0;
const BOTTOM: f64 = 24.0;
const DAY: i64 = 86_400_000_000;
const JST: i64 = 9 * 3_600_000_000;

/// One line on a chart.
#[derive(Debug, Clone)]
pub struct Series {
    /// Shown in point tooltips and the legend.
    pub name: String,
    /// A CSS class naming the line's colour (`s0`, `s1`…).
    pub class: &'static str,
    /// (UTC microseconds, value), in any order.
    pub points: Vec<(i64, f64)>,
    /// The normal band, shaded; points outside it are marked.
    pub band: Option<(f64, f64)>,
}

/// A chart over a period.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The element's id, unique on the page.
    pub id: String,
    /// The `<title>` (a tooltip where browsers show one).
    pub title: String,
    /// What a screen reader says for the whole chart.
    pub label: String,
    /// The unit as shown (℃, mmHg…).
    pub unit: String,
    /// The period shown, UTC microseconds, `from < to`.
    pub from: i64,
    pub to: i64,
    pub series: Vec<Series>,
    /// Shown inside the frame when no series has a point.
    pub empty_text: String,
    /// Decimals of the values in tooltips.
    pub decimals: usize,
    /// The values the quantity can take at all (the axis never runs past them).
    pub limits: (f64, f64),
}

/// Colours per series class when no stylesheet overrides them (presentation attributes).
fn colour(class: &str) -> &'static str {
    match class {
        "s1" => "#c2571a",
        "s2" => "#2e7d32",
        _ => "#1f5fa8",
    }
}

fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A coordinate with one decimal (enough at this size, and short markup).
fn n(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

/// A value with `decimals` decimals.
pub fn value(v: f64, decimals: usize) -> String {
    format!("{v:.decimals$}")
}

/// A "nice" step (1, 2 or 5 times a power of ten) at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !raw.is_finite() || raw <= 0.0 {
        return 1.0;
    }
    let mag = 10f64.powf(raw.log10().floor());
    let f = raw / mag;
    let nice = if f <= 1.0 {
        1.0
    } else if f <= 2.0 {
        2.0
    } else if f <= 5.0 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

/// The y axis for values between `lo` and `hi`: four to six nice steps that cover them, as
/// (ticks, decimals of the labels). A single value (or none) gets a range around it.
pub fn y_ticks(lo: f64, hi: f64) -> (Vec<f64>, usize) {
    let (mut lo, mut hi) = if lo.is_finite() && hi.is_finite() && lo <= hi { (lo, hi) } else { (0.0, 1.0) };
    if hi - lo < f64::EPSILON * 16.0 {
        let pad = (lo.abs() * 0.05).max(1.0);
        lo -= pad;
        hi += pad;
    }
    let step = nice_step((hi - lo) / 5.0);
    let start = (lo / step).floor() * step;
    let end = (hi / step).ceil() * step;
    let count = ((end - start) / step).round() as i64;
    let ticks = (0..=count).map(|i| start + step * i as f64).collect();
    let decimals = if step >= 1.0 { 0 } else { (-step.log10().floor()) as usize };
    (ticks, decimals)
}

/// The date under a tick: `M/D` in Japan time.
pub fn month_day(micros: i64) -> String {
    let days = (micros + JST).div_euclid(DAY);
    match i32::try_from(days + 2_440_588).ok().and_then(|j| time::Date::from_julian_day(j).ok()) {
        Some(d) => format!("{}/{}", u8::from(d.month()), d.day()),
        None => String::new(),
    }
}

/// Day ticks for a period: Japan-time midnights, counted back from the last one so that the
/// newest day is labelled, every 1, 2, 7, 14, 28, 56 or 91 days so that at most eight fit.
pub fn x_ticks(from: i64, to: i64) -> Vec<(i64, String)> {
    if to <= from {
        return Vec::new();
    }
    let span_days = (to - from) / DAY + 1;
    let step = [1, 2, 7, 14, 28, 56, 91].into_iter().find(|s| span_days / s <= 8).unwrap_or(182);
    let last = (to + JST).div_euclid(DAY) * DAY - JST;
    let mut out = Vec::new();
    let mut t = last;
    while t >= from {
        out.push((t, month_day(t)));
        t -= step * DAY;
    }
    out.reverse();
    out
}

/// Whether a value lies outside a band.
pub fn out_of_band(v: f64, band: Option<(f64, f64)>) -> bool {
    band.is_some_and(|(lo, hi)| v < lo || v > hi)
}

/// The chart as an `<svg>` element.
pub fn render(c: &Chart) -> String {
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let (from, to) = if c.to > c.from { (c.from, c.to) } else { (c.from, c.from + DAY) };
    let values = c.series.iter().flat_map(|s| s.points.iter().map(|p| p.1));
    let bands = c.series.iter().filter_map(|s| s.band).flat_map(|(a, b)| [a, b]);
    let all: Vec<f64> = values.chain(bands).filter(|v| v.is_finite()).collect();
    let lo = all.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = all.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    // A little room around the values and the band, so a band is seen as one even when the
    // values all lie inside it; never past what the quantity can take.
    let pad = (hi - lo) * 0.08;
    let (lo, hi) = if pad.is_finite() && pad > 0.0 {
        ((lo - pad).max(c.limits.0), (hi + pad).min(c.limits.1))
    } else {
        (lo, hi)
    };
    let (ticks, tick_decimals) = y_ticks(lo, hi);
    let (y0, y1) = (ticks.first().copied().unwrap_or(0.0), ticks.last().copied().unwrap_or(1.0));
    let y = |v: f64| TOP + plot_h * (y1 - v) / (y1 - y0);
    let x = |t: i64| LEFT + plot_w * (t - from) as f64 / (to - from) as f64;

    let mut s = String::new();
    let _ = write!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" id="{}" class="chart" viewBox="0 0 {} {}" width="100%" role="img" aria-label="{}" font-size="11" font-family="sans-serif">"#,
        esc(&c.id),
        n(WIDTH),
        n(HEIGHT),
        esc(&c.label)
    );
    let _ = write!(s, "<title>{}</title>", esc(&c.title));

    // Normal bands first, under everything else, clipped to the plot.
    for se in &c.series {
        if let Some((a, b)) = se.band {
            let top = y(b.min(y1));
            let bottom = y(a.max(y0));
            if bottom > top {
                let _ = write!(
                    s,
                    r#"<rect class="band band-{}" x="{}" y="{}" width="{}" height="{}" fill="{}" fill-opacity="0.12"/>"#,
                    se.class,
                    n(LEFT),
                    n(top),
                    n(plot_w),
                    n(bottom - top),
                    colour(se.class)
                );
            }
        }
    }

    // The y axis: grid lines and labels.
    for v in &ticks {
        let yy = y(*v);
        let _ = write!(
            s,
            r##"<line class="grid" x1="{}" x2="{}" y1="{yy}" y2="{yy}" stroke="#d0d4d9" stroke-width="0.5"/>"##,
            n(LEFT),
            n(WIDTH - RIGHT),
            yy = n(yy)
        );
        let _ = write!(
            s,
            r##"<text class="tick" x="{}" y="{}" text-anchor="end" fill="#444">{}</text>"##,
            n(LEFT - 4.0),
            n(yy + 4.0),
            value(*v, tick_decimals)
        );
    }
    let _ = write!(s, r##"<text class="unit" x="2" y="10" fill="#444">{}</text>"##, esc(&c.unit));

    // The x axis: the frame's bottom, day ticks and their dates.
    let base = TOP + plot_h;
    let _ = write!(
        s,
        r##"<line class="axis" x1="{}" x2="{}" y1="{b}" y2="{b}" stroke="#666" stroke-width="1"/>"##,
        n(LEFT),
        n(WIDTH - RIGHT),
        b = n(base)
    );
    let _ = write!(
        s,
        r##"<line class="axis" x1="{l}" x2="{l}" y1="{}" y2="{}" stroke="#666" stroke-width="1"/>"##,
        n(TOP),
        n(base),
        l = n(LEFT)
    );
    for (t, label) in x_ticks(from, to) {
        let xx = x(t);
        let _ = write!(
            s,
            r##"<line class="tick" x1="{xx}" x2="{xx}" y1="{}" y2="{}" stroke="#666" stroke-width="1"/>"##,
            n(base),
            n(base + 4.0),
            xx = n(xx)
        );
        let _ = write!(
            s,
            r##"<text class="date" x="{}" y="{}" text-anchor="middle" fill="#444">{}</text>"##,
            n(xx),
            n(base + 16.0),
            esc(&label)
        );
    }

    // The lines, then the points over them.
    let mut any = false;
    for se in &c.series {
        let mut pts: Vec<(i64, f64)> =
            se.points.iter().copied().filter(|(t, v)| v.is_finite() && *t >= from && *t <= to).collect();
        pts.sort_by_key(|p| p.0);
        if pts.is_empty() {
            continue;
        }
        any = true;
        let stroke = colour(se.class);
        if pts.len() > 1 {
            let path: Vec<String> = pts.iter().map(|(t, v)| format!("{},{}", n(x(*t)), n(y(*v)))).collect();
            let _ = write!(
                s,
                r#"<polyline class="line {}" points="{}" fill="none" stroke="{stroke}" stroke-width="2" stroke-linejoin="round"/>"#,
                se.class,
                path.join(" ")
            );
        }
        for (t, v) in pts {
            let out = out_of_band(v, se.band);
            let tip = format!("{} {} {}{}", month_day(t), se.name, value(v, c.decimals), c.unit);
            if out {
                let _ = write!(
                    s,
                    r##"<circle class="pt out {}" cx="{}" cy="{}" r="4.5" fill="#fff" stroke="#b3261e" stroke-width="2.5"><title>{}</title></circle>"##,
                    se.class,
                    n(x(t)),
                    n(y(v)),
                    esc(&tip)
                );
            } else {
                let _ = write!(
                    s,
                    r#"<circle class="pt {}" cx="{}" cy="{}" r="3" fill="{stroke}"><title>{}</title></circle>"#,
                    se.class,
                    n(x(t)),
                    n(y(v)),
                    esc(&tip)
                );
            }
        }
    }
    if !any {
        let _ = write!(
            s,
            r##"<text class="empty" x="{}" y="{}" text-anchor="middle" fill="#555">{}</text>"##,
            n(LEFT + plot_w / 2.0),
            n(TOP + plot_h / 2.0),
            esc(&c.empty_text)
        );
    }
    s.push_str("</svg>");
    s
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use scraper::{Html, Selector};

    use super::*;

    /// 2026-11-24T00:30:00Z, 09:30 in Japan.
    const NOW: i64 = 1_795_480_200_000_000;

    fn chart(series: Vec<Series>) -> Chart {
        Chart {
            id: "c".into(),
            title: "体温".into(),
            label: "体温: 最新 36.8℃".into(),
            unit: "℃".into(),
            from: NOW - 28 * DAY,
            to: NOW,
            series,
            empty_text: "記録がありません".into(),
            decimals: 1,
            limits: (30.0, 43.0),
        }
    }

    fn temp(points: Vec<(i64, f64)>) -> Series {
        Series { name: "体温".into(), class: "s0", points, band: Some((36.0, 37.5)) }
    }

    fn parse(svg: &str) -> Html {
        Html::parse_fragment(svg)
    }

    fn attrs(doc: &Html, css: &str, attr: &str) -> Vec<f64> {
        let sel = Selector::parse(css).unwrap();
        doc.select(&sel).map(|e| e.value().attr(attr).unwrap().parse::<f64>().unwrap()).collect()
    }

    #[test]
    fn the_y_axis_covers_the_values_in_a_few_nice_steps() {
        assert_eq!(y_ticks(36.4, 38.2), (vec![36.0, 36.5, 37.0, 37.5, 38.0, 38.5], 1));
        assert_eq!(y_ticks(88.0, 100.0), (vec![85.0, 90.0, 95.0, 100.0], 0));
        assert_eq!(y_ticks(62.0, 148.0).0, vec![60.0, 80.0, 100.0, 120.0, 140.0, 160.0]);
        // One value: a range around it, not a division by zero.
        let (t, _) = y_ticks(50.0, 50.0);
        assert!(t.first().unwrap() < &50.0 && t.last().unwrap() > &50.0, "{t:?}");
        // Nothing at all.
        assert_eq!(y_ticks(f64::INFINITY, f64::NEG_INFINITY).0.len(), 6);
    }

    #[test]
    fn the_dates_are_japan_time_month_and_day_ending_with_today() {
        // 2026-11-23T15:00Z is midnight of the 24th in Japan.
        assert_eq!(month_day(1_795_446_000_000_000), "11/24");
        assert_eq!(month_day(1_795_446_000_000_000 - 1), "11/23");
        let week = x_ticks(NOW - 7 * DAY, NOW);
        assert_eq!(week.last().unwrap().1, "11/24");
        assert_eq!(week.len(), 7, "{week:?}");
        let month = x_ticks(NOW - 28 * DAY, NOW);
        assert_eq!(
            month.iter().map(|t| t.1.as_str()).collect::<Vec<_>>(),
            ["11/3", "11/10", "11/17", "11/24"]
        );
        for weeks in [12, 26, 52] {
            let n = x_ticks(NOW - weeks * 7 * DAY, NOW).len();
            assert!((4..=8).contains(&n), "{weeks} weeks: {n} labels");
        }
    }

    #[test]
    fn points_are_placed_by_time_and_value_inside_the_frame() {
        let pts = vec![(NOW - 28 * DAY, 36.0), (NOW - 14 * DAY, 37.0), (NOW, 38.0)];
        let svg = render(&chart(vec![temp(pts)]));
        let doc = parse(&svg);
        let xs = attrs(&doc, "circle.pt", "cx");
        let ys = attrs(&doc, "circle.pt", "cy");
        assert_eq!(xs.len(), 3);
        assert_eq!(xs[0], LEFT);
        assert_eq!(xs[2], WIDTH - RIGHT);
        assert!((xs[1] - (LEFT + (WIDTH - LEFT - RIGHT) / 2.0)).abs() < 0.1);
        // Higher values are higher up (smaller y), all within the plot.
        assert!(ys[0] > ys[1] && ys[1] > ys[2], "{ys:?}");
        assert!(ys.iter().all(|y| *y >= TOP && *y <= HEIGHT - BOTTOM), "{ys:?}");
        assert_eq!(doc.select(&Selector::parse("polyline").unwrap()).count(), 1);
    }

    #[test]
    fn an_empty_series_draws_the_frame_and_says_so() {
        let svg = render(&chart(vec![temp(vec![])]));
        let doc = parse(&svg);
        assert_eq!(attrs(&doc, "circle", "cx").len(), 0);
        assert_eq!(doc.select(&Selector::parse("polyline").unwrap()).count(), 0);
        let empty = Selector::parse("text.empty").unwrap();
        assert_eq!(doc.select(&empty).next().unwrap().text().collect::<String>(), "記録がありません");
        // The band is still shaded, so the normal range is visible.
        assert_eq!(doc.select(&Selector::parse("rect.band").unwrap()).count(), 1);
    }

    #[test]
    fn one_point_is_a_dot_without_a_line() {
        let svg = render(&chart(vec![temp(vec![(NOW - DAY, 36.6)])]));
        let doc = parse(&svg);
        assert_eq!(attrs(&doc, "circle.pt", "cx").len(), 1);
        assert_eq!(doc.select(&Selector::parse("polyline").unwrap()).count(), 0);
        assert_eq!(doc.select(&Selector::parse("text.empty").unwrap()).count(), 0);
    }

    #[test]
    fn the_normal_band_is_shaded_where_it_lies_and_points_outside_it_are_marked() {
        let svg = render(&chart(vec![temp(vec![(NOW - 2 * DAY, 36.5), (NOW - DAY, 38.4), (NOW, 35.5)])]));
        let doc = parse(&svg);
        // The axis covers the values (35.5–38.4) and the band (36–37.5), with some room.
        let labels: Vec<f64> = {
            let sel = Selector::parse("text.tick").unwrap();
            doc.select(&sel).map(|e| e.text().collect::<String>().parse().unwrap()).collect()
        };
        let (lo, hi) = (labels[0], *labels.last().unwrap());
        assert!(lo < 35.5 && hi > 38.4, "{labels:?}");
        let y = |v: f64| TOP + (HEIGHT - TOP - BOTTOM) * (hi - v) / (hi - lo);
        let band_y = attrs(&doc, "rect.band", "y")[0];
        let band_h = attrs(&doc, "rect.band", "height")[0];
        assert!((band_y - y(37.5)).abs() < 0.1, "{band_y} vs {}", y(37.5));
        assert!((band_y + band_h - y(36.0)).abs() < 0.1);
        assert_eq!(attrs(&doc, "circle.pt.out", "cx").len(), 2, "38.4 and 35.5 are out of band");
        assert_eq!(attrs(&doc, "circle.pt:not(.out)", "cx").len(), 1);
    }

    #[test]
    fn values_inside_the_band_leave_room_around_it_but_never_past_what_can_be() {
        let mut c = chart(vec![temp(vec![(NOW - DAY, 36.4), (NOW, 36.8)])]);
        let doc = parse(&render(&c));
        let band_h = attrs(&doc, "rect.band", "height")[0];
        assert!(band_h < HEIGHT - TOP - BOTTOM - 1.0, "the band fills the whole plot");
        // SpO2 cannot exceed 100 %: the axis stops there.
        c.series = vec![Series {
            name: "SpO2".into(),
            class: "s0",
            points: vec![(NOW - DAY, 96.0), (NOW, 100.0)],
            band: Some((95.0, 100.0)),
        }];
        c.limits = (50.0, 100.0);
        let doc = parse(&render(&c));
        let sel = Selector::parse("text.tick").unwrap();
        let top: f64 = doc.select(&sel).next_back().unwrap().text().collect::<String>().parse().unwrap();
        assert_eq!(top, 100.0);
    }

    #[test]
    fn two_series_share_one_axis_with_a_band_each() {
        let sys = Series {
            name: "収縮期".into(),
            class: "s0",
            points: vec![(NOW, 150.0)],
            band: Some((90.0, 140.0)),
        };
        let dia = Series {
            name: "拡張期".into(),
            class: "s1",
            points: vec![(NOW, 80.0)],
            band: Some((60.0, 90.0)),
        };
        let mut c = chart(vec![sys, dia]);
        c.limits = (20.0, 300.0);
        let doc = parse(&render(&c));
        assert_eq!(attrs(&doc, "rect.band", "y").len(), 2);
        assert_eq!(attrs(&doc, "circle.pt.s0.out", "cx").len(), 1);
        assert_eq!(attrs(&doc, "circle.pt.s1:not(.out)", "cx").len(), 1);
    }

    #[test]
    fn the_chart_is_an_accessible_image_that_scales_and_escapes_its_text() {
        let mut c = chart(vec![temp(vec![(NOW, 36.6)])]);
        c.label = "a < b & \"c\"".into();
        c.title = "<体温>".into();
        let svg = render(&c);
        assert!(svg.starts_with("<svg "), "{svg}");
        assert!(svg.contains(r#"role="img""#) && svg.contains(r#"width="100%""#) && svg.contains("viewBox="));
        assert!(svg.contains("aria-label=\"a &lt; b &amp; &quot;c&quot;\""), "{svg}");
        assert!(svg.contains("<title>&lt;体温&gt;</title>"), "{svg}");
        assert!(!svg.contains("style="), "inline style is refused by the CSP");
        let doc = parse(&svg);
        let tip = Selector::parse("circle title").unwrap();
        assert_eq!(doc.select(&tip).next().unwrap().text().collect::<String>(), "11/24 体温 36.6℃");
    }
}
