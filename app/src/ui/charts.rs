//! Usage drawn as SVG on the server, so that it shows without JavaScript:
//! a sparkline per row of the list and a 30-day chart on the application
//! page.

use leptos::prelude::*;

use super::components::format_day;
use crate::api::applications::UsageDay;

/// Tokens issued per day as a small line, with the total for screen readers.
#[component]
pub fn Sparkline(values: Vec<i64>) -> impl IntoView {
    const W: f64 = 90.0;
    const H: f64 = 22.0;
    let total: i64 = values.iter().sum();
    let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
    let step = W / (values.len().max(2) - 1) as f64;
    let points = values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            format!(
                "{:.1},{:.1}",
                i as f64 * step,
                H - 1.0 - (*v as f64 / max) * (H - 2.0)
            )
        })
        .collect::<Vec<_>>()
        .join(" ");
    let label = format!("{total} tokens in 30 days");
    let title = label.clone();
    view! {
        <svg class="sparkline" class:idle=total == 0 viewBox=format!("0 0 {W} {H}") width=W height=H role="img" aria-label=label>
            <title>{title}</title>
            <polyline points=points fill="none"/>
        </svg>
    }
}

/// Tokens issued and failed authentications per day, 30 days, as bars.
#[component]
pub fn UsageChart(days: Vec<UsageDay>) -> impl IntoView {
    const W: f64 = 720.0;
    const H: f64 = 180.0;
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 24.0;
    const TOP: f64 = 8.0;
    let max = days
        .iter()
        .map(|d| d.issued.max(d.failures))
        .max()
        .unwrap_or(0)
        .max(1);
    let plot_h = H - BOTTOM - TOP;
    let slot = (W - LEFT) / days.len().max(1) as f64;
    let bar = (slot / 2.0 - 1.0).max(1.0);
    let y = move |v: i64| TOP + plot_h - v as f64 / max as f64 * plot_h;
    let issued: i64 = days.iter().map(|d| d.issued).sum();
    let failures: i64 = days.iter().map(|d| d.failures).sum();
    let summary =
        format!("{issued} tokens issued and {failures} failed authentications in the last 30 days");
    let title = summary.clone();
    let ticks = [0usize, days.len() / 2, days.len().saturating_sub(1)];
    view! {
        <figure class="usage-chart">
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label=summary preserveAspectRatio="xMinYMin meet">
                <title>{title}</title>
                <line class="axis" x1=LEFT y1=TOP + plot_h x2=W y2=TOP + plot_h/>
                <line class="grid" x1=LEFT y1=TOP x2=W y2=TOP/>
                <text class="label" x=LEFT - 6.0 y=TOP + 4.0 text-anchor="end">{max}</text>
                <text class="label" x=LEFT - 6.0 y=TOP + plot_h text-anchor="end">"0"</text>
                {days.iter().enumerate().map(|(i, d)| {
                    let x = LEFT + i as f64 * slot + 1.0;
                    let tip = format!("{}: {} issued, {} failed", format_day(d.day), d.issued, d.failures);
                    view! {
                        <g>
                            <title>{tip}</title>
                            <rect class="issued" x=x y=y(d.issued) width=bar height=TOP + plot_h - y(d.issued)/>
                            <rect class="failed" x=x + bar y=y(d.failures) width=bar height=TOP + plot_h - y(d.failures)/>
                        </g>
                    }
                }).collect_view()}
                {ticks.into_iter().filter_map(|i| days.get(i).map(|d| (i, d.day))).map(|(i, day)| view! {
                    <text class="label" x=LEFT + i as f64 * slot + slot / 2.0 y=H - 6.0 text-anchor="middle">{format_day(day)}</text>
                }).collect_view()}
            </svg>
            <figcaption>
                <span class="key issued"></span>{format!("Tokens issued: {issued}")}
                <span class="key failed"></span>{format!("Failed authentications: {failures}")}
            </figcaption>
        </figure>
    }
}
