//! Usage drawn as SVG on the server, so that it shows without JavaScript:
//! a sparkline per row of the list and a 30-day chart on the application
//! page.

use leptos::prelude::*;

use super::markup::Markup;
use crate::api::applications::UsageDay;
use crate::time::format_day;

// Coordinates are whole numbers: formatting floats would cost the browser
// bundle a float printer.

/// Tokens issued per day as a small line, with the total for screen readers.
/// Every row of the list draws one, so it is written as markup.
pub fn sparkline(values: &[i64]) -> String {
    // Drawn in tenths of a pixel: 90 × 22 px.
    const W: i64 = 900;
    const H: i64 = 220;
    let total: i64 = values.iter().sum();
    let max = values.iter().copied().max().unwrap_or(0).max(1);
    let step = W / (values.len() as i64 - 1).max(1);
    let mut svg = Markup::with_capacity(512);
    svg.raw(if total == 0 {
        "<svg class=\"sparkline idle\""
    } else {
        "<svg class=\"sparkline\""
    })
    .raw(" viewBox=\"0 0 ")
    .int(W)
    .raw(" ")
    .int(H)
    .raw("\" width=\"90\" height=\"22\" role=\"img\" aria-label=\"")
    .int(total)
    .raw(" tokens in 30 days\"><title>")
    .int(total)
    .raw(" tokens in 30 days</title><polyline points=\"");
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            svg.raw(" ");
        }
        svg.int(i as i64 * step)
            .raw(",")
            .int(H - 10 - v * (H - 20) / max);
    }
    svg.raw("\" fill=\"none\" vector-effect=\"non-scaling-stroke\"></polyline></svg>");
    svg.into_string()
}

/// Tokens issued and failed authentications per day, 30 days, as bars.
#[component]
pub fn UsageChart(days: Vec<UsageDay>) -> impl IntoView {
    const LEFT: i64 = 40;
    const SLOT: i64 = 24;
    const BAR: i64 = 10;
    const TOP: i64 = 8;
    const PLOT: i64 = 148;
    const H: i64 = TOP + PLOT + 24;
    let w = LEFT + SLOT * days.len() as i64;
    let max = days
        .iter()
        .map(|d| d.issued.max(d.failures))
        .max()
        .unwrap_or(0)
        .max(1);
    let height = move |v: i64| v * PLOT / max;
    let base = TOP + PLOT;
    let issued: i64 = days.iter().map(|d| d.issued).sum();
    let failures: i64 = days.iter().map(|d| d.failures).sum();
    let summary =
        format!("{issued} tokens issued and {failures} failed authentications in the last 30 days");
    let title = summary.clone();
    let ticks = [0usize, days.len() / 2, days.len().saturating_sub(1)];
    view! {
        <figure class="usage-chart">
            <svg viewBox=format!("0 0 {w} {H}") role="img" aria-label=summary preserveAspectRatio="xMinYMin meet">
                <title>{title}</title>
                <line class="axis" x1=LEFT y1=base x2=w y2=base/>
                <line class="grid" x1=LEFT y1=TOP x2=w y2=TOP/>
                <text class="label" x=LEFT - 6 y=TOP + 4 text-anchor="end">{max}</text>
                <text class="label" x=LEFT - 6 y=base text-anchor="end">"0"</text>
                {days.iter().enumerate().map(|(i, d)| {
                    let x = LEFT + i as i64 * SLOT + 2;
                    let tip = format!("{}: {} issued, {} failed", format_day(d.day), d.issued, d.failures);
                    view! {
                        <g>
                            <title>{tip}</title>
                            <rect class="issued" x=x y=base - height(d.issued) width=BAR height=height(d.issued)/>
                            <rect class="failed" x=x + BAR y=base - height(d.failures) width=BAR height=height(d.failures)/>
                        </g>
                    }
                }).collect_view()}
                {ticks.into_iter().enumerate().filter_map(|(n, i)| days.get(i).map(|d| (n, i, d.day))).map(|(n, i, day)| {
                    // The first label starts at its bar, the last ends at its bar.
                    let (x, anchor) = match n {
                        0 => (LEFT + i as i64 * SLOT, "start"),
                        1 => (LEFT + i as i64 * SLOT + SLOT / 2, "middle"),
                        _ => (LEFT + (i as i64 + 1) * SLOT, "end"),
                    };
                    view! { <text class="label" x=x y=H - 6 text-anchor=anchor>{format_day(day)}</text> }
                }).collect_view()}
            </svg>
            <figcaption>
                <span class="legend"><span class="key issued"></span>{format!("Tokens issued: {issued}")}</span>
                <span class="legend"><span class="key failed"></span>{format!("Failed authentications: {failures}")}</span>
            </figcaption>
        </figure>
    }
}

#[cfg(test)]
mod tests {
    use super::sparkline;

    #[test]
    fn a_sparkline_spans_the_days_and_says_its_total() {
        let svg = sparkline(&[0, 4, 2]);
        assert!(svg.starts_with("<svg class=\"sparkline\""), "{svg}");
        assert!(svg.contains("aria-label=\"6 tokens in 30 days\""), "{svg}");
        assert!(svg.contains("points=\"0,210 450,10 900,110\""), "{svg}");
        assert!(sparkline(&[0; 30]).starts_with("<svg class=\"sparkline idle\""));
    }
}
