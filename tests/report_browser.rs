//! The report as a person sees it: `moescope run` writes `report.html`, headless Chromium opens
//! it, and every figure must have rendered with its series, without script errors. Also: the
//! plotted numbers equal the metric rows, a failed model is shown as failed, and the engine's
//! 2-D gate grid is a valid gate field.

mod common;

use common::{describe, metric, moescope, read_npy};
use std::path::{Path, PathBuf};
use std::process::Command;

const CHROMIUM: &str = "/usr/bin/chromium";

fn chromium(args: &[&str], profile: &Path) -> String {
    assert!(
        Path::new(CHROMIUM).exists(),
        "{CHROMIUM} is missing: install Debian's `chromium` package (apt-get install -y chromium) to run the report browser test"
    );
    let out = Command::new(CHROMIUM)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            &format!("--user-data-dir={}", profile.display()),
        ])
        .args(args)
        .output()
        .expect("chromium starts");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text of the element `<pre id="{id}" hidden>` in a dumped DOM.
fn node_text(dom: &str, id: &str) -> String {
    let open = format!("<pre id=\"{id}\" hidden=\"\">");
    let start = dom.find(&open).unwrap_or_else(|| panic!("#{id} missing from the DOM")) + open.len();
    let end = dom[start..].find("</pre>").expect("closed pre") + start;
    dom[start..end]
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
}

fn run_tiny(dir: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "run",
        "configs/test/tiny.yaml",
        "--out",
        dir.to_str().unwrap(),
        "--jobs",
        "2",
    ];
    args.extend_from_slice(extra);
    moescope(&args)
}

#[test]
fn the_report_renders_in_a_browser_with_every_figure() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    // d_in = 2 so the input-plane figure (Fig 10) is drawn too.
    let out = run_tiny(&dir, &["task.d_in=2"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let html = dir.join("report.html");
    let page = std::fs::read_to_string(&html).unwrap();
    for forbidden in ["http://", "https://", "<link", "src="] {
        let hits: Vec<&str> = page.matches(forbidden).collect();
        // The SVG namespace URI is the one allowed "http://" string.
        let allowed = page.matches("http://www.w3.org/").count();
        assert!(
            hits.len() <= if forbidden == "http://" { allowed } else { 0 },
            "report.html references `{forbidden}`"
        );
    }
    let profile = tmp.path().join("chromium-profile");
    let shot = tmp.path().join("report.png");
    let url = format!("file://{}", html.display());
    chromium(
        &[
            &format!("--screenshot={}", shot.display()),
            "--window-size=1400,4000",
            &url,
        ],
        &profile,
    );
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.len() > 20_000 && png.starts_with(b"\x89PNG"),
        "screenshot {} bytes",
        png.len()
    );
    if let Ok(keep) = std::env::var("MOESCOPE_KEEP_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
    let dom = chromium(&["--dump-dom", "--virtual-time-budget=3000", &url], &profile);
    assert_eq!(node_text(&dom, "page-errors").trim(), "", "the page logged errors");
    let check: serde_json::Value = serde_json::from_str(&node_text(&dom, "render-check")).expect("render check JSON");
    let figs = check.as_array().unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f["name"].as_str().unwrap()).collect();
    // tiny.yaml: dense, top1, top2, soft; expected series counted from the config by hand.
    let expected = [
        ("fig1_spectra", 5),             // dense, dense groups, top1, top2, soft
        ("fig2_normalised", 5),          // the same, with α
        ("fig3_jacobian_bars", 5),       // bars: dense, groups, top1, top2, soft
        ("fig4_cev", 4),                 // experts, weighted mean, dense global, cluster-matched
        ("fig5_representation_bars", 5), // dense global, cluster ctl, top1, top2, soft
        ("fig6_alignment", 4),           // panels: dense groups, top1, top2, soft
        ("fig7_subspace_overlap", 4),    // panels: dense clusters, top1, top2, soft
        ("fig_loss", 4),                 // one line per model
        ("fig10_gate_plane", 3),         // panels: top1, top2, soft
    ];
    assert_eq!(names, expected.iter().map(|e| e.0).collect::<Vec<_>>());
    for (f, (name, n)) in figs.iter().zip(expected) {
        assert_eq!(f["labels"].as_u64(), Some(n), "{name}: series expected {f}");
        assert_eq!(f["found"].as_u64(), Some(n), "{name}: every series label drawn {f}");
        assert!(f["elements"].as_u64().unwrap() > 50, "{name}: empty SVG {f}");
        assert!(
            f["width"].as_f64().unwrap() > 300.0 && f["height"].as_f64().unwrap() > 150.0,
            "{name}: {f}"
        );
    }
    for name in names {
        for ext in ["svg", "png"] {
            let p: PathBuf = dir.join("figures").join(format!("{name}.{ext}"));
            assert!(
                std::fs::metadata(&p).map(|m| m.len() > 1000).unwrap_or(false),
                "{}",
                p.display()
            );
        }
    }
    for t in ["table1.csv", "table2.csv", "claims.csv", "summary.md"] {
        assert!(dir.join(t).exists(), "{t}");
    }
    gate_grid_is_a_gate_field(&dir);
}

/// The engine's 2-D gate grid: 64 × 64 points on a regular grid, gates that sum to 1, one-hot
/// for Top-1 and at most two non-zero for Top-2.
fn gate_grid_is_a_gate_field(dir: &Path) {
    for (model, max_nonzero) in [("top1", 1), ("top2", 2), ("soft", 4)] {
        let (shape, data) = read_npy(&dir.join(format!("spectra/{model}_s0_gate_grid.npy")));
        assert_eq!(shape, vec![4096, 2 + 4], "{model}");
        let rows: Vec<&[f64]> = data.chunks(6).collect();
        assert!(
            (rows[1][0] - rows[0][0] - (rows[63][0] - rows[0][0]) / 63.0).abs() < 1e-9,
            "regular x"
        );
        assert_eq!(rows[64][0], rows[0][0], "x1 fastest");
        for r in &rows {
            let g = &r[2..];
            assert!(
                (g.iter().sum::<f64>() - 1.0).abs() < 1e-6,
                "{model}: gates sum to 1: {g:?}"
            );
            assert!(g.iter().filter(|v| **v > 0.0).count() <= max_nonzero, "{model}: {g:?}");
        }
    }
    assert!(!dir.join("spectra/dense_s0_gate_grid.npy").exists());
}

#[test]
fn a_report_shows_a_failed_model_as_failed_and_plots_the_table_values() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("run");
    let out = run_tiny(&dir, &["seeds=2", "train.load_balance=3.4e38"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    // Rebuild into another folder with the CLI.
    let rep = tmp.path().join("rep");
    let out = moescope(&["report", dir.to_str().unwrap(), "--out", rep.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let page = std::fs::read_to_string(rep.join("report.html")).unwrap();
    assert!(
        page.contains("<strong>FAILED:</strong> <code>top1</code> seed 0"),
        "banner"
    );
    assert!(page.contains("top1 (failed)"), "failed in figure legends / table heads");
    let claims = std::fs::read_to_string(rep.join("claims.csv")).unwrap();
    assert!(claims.contains("not tested: model top1 failed"), "{claims}");

    let run = moescope_report_data(&rep, &dir);
    // Fig 3's σ1 bar for dense equals the mean of the per-seed rows, read independently.
    let fig3 = run.iter().find(|f| f.name == "fig3_jacobian_bars").unwrap();
    let moescope_report::FigureKind::Bars(panels) = &fig3.kind else {
        panic!("bars")
    };
    let dense = &panels[0].bars[0];
    let rows: Vec<f64> = (0..2)
        .filter_map(|s| metric(&dir, "dense", s, "jac_expert.sigma1"))
        .collect();
    assert_eq!(rows.len(), 2);
    assert!((dense.mean.unwrap() - (rows[0] + rows[1]) / 2.0).abs() < 1e-12);
    // A model failed on every seed has no value, and says so: never a zero bar.
    let top1 = panels[0].bars.iter().find(|b| b.style == "top1").unwrap();
    assert!(top1.failed && top1.label.contains("failed"), "{top1:?}");
    assert!(top1.mean.is_none() || top1.n < 2, "{top1:?}");
}

fn moescope_report_data(_rep: &Path, dir: &Path) -> Vec<moescope_report::Figure> {
    let run = moescope_report::RunData::read(dir).unwrap();
    moescope_report::figures(&run).unwrap()
}
