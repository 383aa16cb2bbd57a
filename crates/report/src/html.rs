//! The self-contained `report.html`: inline SVG figures, claims, tables; no network.

use crate::claims::{Claim, VERDICT_RULE};
use crate::data::RunData;
use crate::figdata::Figure;
use crate::markdown::fmt;
use crate::tables::{table1, Table1Options};
use std::fmt::Write;

/// HTML-escapes text.
pub(crate) fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Inline markdown (`**bold**`, `` `code` ``) of the summary's banners to HTML.
fn inline_md(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in esc(s).split("**").enumerate() {
        let part: String = part
            .split('`')
            .enumerate()
            .map(|(j, p)| {
                if j % 2 == 1 {
                    format!("<code>{p}</code>")
                } else {
                    p.to_string()
                }
            })
            .collect();
        match i % 2 {
            1 => {
                let _ = write!(out, "<strong>{part}</strong>");
            }
            _ => out.push_str(&part),
        }
    }
    out
}

pub(crate) const STYLE: &str = "body{font-family:'DejaVu Sans',Helvetica,Arial,sans-serif;max-width:1320px;margin:0 auto;padding:24px;color:#222;background:#fafafa}
h1{font-size:28px;margin-bottom:4px}h2{margin-top:36px;border-bottom:2px solid #ddd;padding-bottom:4px}
.meta{color:#555;font-size:14px}.banner{padding:12px 16px;border-radius:6px;margin:12px 0;font-size:15px}
.warn{background:#fff4e0;border-left:6px solid #E69F00}.fail{background:#fde8e0;border-left:6px solid #D55E00}
.ok{background:#e6f4ee;border-left:6px solid #009E73}
figure{background:#fff;border:1px solid #e2e2e2;border-radius:8px;padding:12px;margin:18px 0}
figure svg{width:100%;height:auto;display:block}figcaption{font-size:14px;color:#444;margin-top:6px}
table{border-collapse:collapse;font-size:13px;background:#fff;margin:10px 0}td,th{border:1px solid #ddd;padding:4px 8px;text-align:right}
th{background:#f0f0f0}td:first-child,th:first-child{text-align:left}
.v-holds{background:#009E73;color:#fff}.v-fails{background:#D55E00;color:#fff}.v-inconclusive{background:#bbb;color:#000}
.verdict{font-weight:bold;border-radius:4px;padding:2px 8px;display:inline-block}code{font-size:90%}
.failedcol{color:#D55E00;font-weight:bold}";

/// Writes what the page saw into the DOM, so a headless browser's `--dump-dom` can check it:
/// `#page-errors` gets every script error, `#render-check` a JSON list per figure.
const CHECK_SCRIPT: &str = r#"window.addEventListener('error',function(e){var n=document.getElementById('page-errors');if(n){n.textContent+=String(e.message)+'\n';}});
document.addEventListener('DOMContentLoaded',function(){var out=[];document.querySelectorAll('figure[data-figure]').forEach(function(f){var svg=f.querySelector('svg');var labels=JSON.parse(f.getAttribute('data-labels'));var texts=svg?Array.prototype.map.call(svg.querySelectorAll('text'),function(t){return t.textContent.trim();}):[];var found=labels.filter(function(l){return texts.indexOf(l)>=0;}).length;var bb=svg?svg.getBoundingClientRect():{width:0,height:0};out.push({name:f.getAttribute('data-figure'),elements:svg?svg.querySelectorAll('*').length:0,width:bb.width,height:bb.height,labels:labels.length,found:found});});document.getElementById('render-check').textContent=JSON.stringify(out);});"#;

/// The page.
pub(crate) fn page(run: &RunData, figures: &[(Figure, String)], claims: &[Claim]) -> String {
    let m = &run.manifest;
    let mut h = String::from("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">");
    let _ = write!(
        h,
        "<title>moescope report: {}</title><style>{STYLE}</style>",
        esc(&m.name)
    );
    let _ = write!(h, "<script>{CHECK_SCRIPT}</script></head><body>");
    let _ = write!(h, "<h1>moescope run <code>{}</code></h1>", esc(&m.name));
    let _ = write!(
        h,
        "<p class=\"meta\">task {} · architectures {} · seeds {:?} · device {} · commit {} · {:.1} s wall</p>",
        esc(m.config["task"]["kind"].as_str().unwrap_or("?")),
        esc(&run.models.join(", ")),
        m.seeds,
        esc(&m.device),
        esc(&m.git_commit),
        m.wall_seconds
    );
    h.push_str(&banners(run));
    h.push_str(&claims_html(claims));
    for (fig, svg) in figures {
        let labels = serde_json::to_string(&fig.labels()).unwrap_or_else(|_| "[]".into());
        let _ = write!(
            h,
            "<figure id=\"{0}\" data-figure=\"{0}\" data-labels=\"{1}\">{2}<figcaption><strong>{3}.</strong> {4} \
             Files: <code>figures/{0}.svg</code>, <code>figures/{0}.png</code>.</figcaption></figure>",
            esc(&fig.name),
            esc(&labels),
            strip_xml_decl(svg),
            esc(&fig.title),
            esc(&fig.caption)
        );
    }
    h.push_str(&table1_html(run));
    h.push_str(
        "<p class=\"meta\">Every metric (and per-expert values): <code>table1.csv</code>, <code>metrics.csv</code>; \
                paired tests: <code>table2.csv</code>; claims: <code>claims.csv</code>.</p>",
    );
    h.push_str("<pre id=\"page-errors\" hidden></pre><pre id=\"render-check\" hidden></pre></body></html>\n");
    h
}

pub(crate) fn strip_xml_decl(svg: &str) -> &str {
    match svg.find("<svg") {
        Some(i) => &svg[i..],
        None => svg,
    }
}

fn banners(run: &RunData) -> String {
    let mut h = String::new();
    let fit = crate::markdown::fit_check_text(run);
    if !fit.trim().is_empty() {
        let class = if fit.contains("failed") { "warn" } else { "ok" };
        let text = fit.trim().trim_start_matches('>').trim();
        let _ = write!(
            h,
            "<div class=\"banner {class}\" id=\"fit-check\">{}</div>",
            inline_md(text)
        );
    }
    if let Some(text) = crate::markdown::pending_text(&run.manifest) {
        let _ = write!(
            h,
            "<div class=\"banner fail\" id=\"incomplete\">{}</div>",
            inline_md(&text)
        );
    }
    for (model, seed, stage, msg) in run.manifest.failures() {
        let _ = write!(
            h,
            "<div class=\"banner fail failed-model\"><strong>FAILED:</strong> <code>{}</code> seed {seed} at stage \
             <code>{}</code>: {}. Its missing values are left out of every table and figure (never drawn as zeros).</div>",
            esc(model),
            esc(stage),
            esc(msg)
        );
    }
    h
}

fn claims_html(claims: &[Claim]) -> String {
    let mut h = String::from(
        "<h2>Claims (SPEC §9.1)</h2><table id=\"claims\"><tr><th>hypothesis</th><th>verdict</th><th>why</th></tr>",
    );
    for c in claims {
        let _ = write!(
            h,
            "<tr><td><strong>{}</strong> {}</td><td><span class=\"verdict v-{2}\">{2}</span></td><td>{3}</td></tr>",
            c.id,
            esc(c.statement),
            c.verdict.as_str(),
            esc(&c.reason)
        );
    }
    h.push_str("</table><details><summary>All comparisons (one-sided paired tests, Holm across each hypothesis)</summary><table><tr><th>H</th><th>a</th><th></th><th>b</th><th>primary</th><th>seeds in direction</th><th>mean Δ</th><th>bootstrap 95% CI</th><th>p t (Holm)</th><th>p Wilcoxon (Holm)</th><th>d_z</th><th>verdict</th></tr>");
    let o = |x: Option<f64>| x.map_or("—".into(), fmt);
    for r in claims.iter().flat_map(|c| &c.rows) {
        let ci = r
            .bootstrap_ci
            .map_or("—".into(), |(a, b)| format!("[{}, {}]", fmt(a), fmt(b)));
        let v = r.verdict.as_str();
        let _ = write!(
            h,
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{}</td><td>{} ({})</td><td>{} ({})</td><td>{}</td><td title=\"{}\"><span class=\"verdict v-{v}\">{v}</span></td></tr>",
            r.spec.hypothesis,
            esc(&r.spec.a.label()),
            esc(r.spec.direction.symbol()),
            esc(&r.spec.b.label()),
            if r.spec.primary { "yes" } else { "no" },
            r.n_claimed,
            r.n,
            o(r.mean_diff),
            ci,
            o(r.p_t),
            o(r.p_t_holm),
            o(r.p_wilcoxon),
            o(r.p_wilcoxon_holm),
            o(r.cohen_dz),
            esc(&r.reason)
        );
    }
    let _ = write!(
        h,
        "</table></details><p class=\"meta\"><strong>Verdict rule.</strong> {}</p>",
        inline_md(VERDICT_RULE)
    );
    h
}

/// Table 1's headline rows.
fn table1_html(run: &RunData) -> String {
    let t = table1(&run.rows, &run.models, &Table1Options { level: 0.95 });
    let mut h = String::from(
        "<h2>Table 1 (headline metrics: mean ± sd [95% CI] over seeds)</h2><table id=\"table1\"><tr><th>metric</th>",
    );
    for m in &run.models {
        match run.is_failed(m) {
            true => {
                let _ = write!(h, "<th class=\"failedcol\">{} (failed)</th>", esc(m));
            }
            false => {
                let _ = write!(h, "<th>{}</th>", esc(m));
            }
        }
    }
    h.push_str("</tr>");
    for (metric, desc) in crate::tables::TABLE1_METRICS {
        if !t.metrics.iter().any(|x| x == metric) {
            continue;
        }
        let _ = write!(h, "<tr><td><code>{metric}</code> {}</td>", esc(desc));
        for m in &run.models {
            let cell = match t.cell(metric, m) {
                Some(c) => match (c.sd, c.ci) {
                    (Some(sd), Some((lo, hi))) => format!("{} ± {} [{}, {}]", fmt(c.mean), fmt(sd), fmt(lo), fmt(hi)),
                    _ => format!("{} (n={})", fmt(c.mean), c.n),
                },
                None if run.is_failed(m) => "<span class=\"failedcol\">failed</span>".into(),
                None => "—".into(),
            };
            let _ = write!(h, "<td>{cell}</td>");
        }
        h.push_str("</tr>");
    }
    h.push_str("</table>");
    h
}
