//! The real CSRNet model through `skycountd analyze`, on every crowd photo of
//! ../shared/testdata/crowd, at each image's own resolution: the count matches the reference a
//! correct CSRNet gives (`reference_count`) within 1 %, and the density map has the reference
//! shape. This checks the whole chain: JPEG decoding, the u8 RGB input, the normalisation folded
//! into the graph, ONNX Runtime, and the sum.

mod common;

use std::path::PathBuf;

use common::*;

struct Case {
    file: String,
    reference: f64,
    shape: (u64, u64),
}

fn cases() -> (PathBuf, Vec<Case>) {
    let dir = repo_root().join("../shared/testdata/crowd");
    let manifest = std::fs::read_to_string(dir.join("manifest.csv")).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: the crowd test data sits beside the repository in ../shared",
            dir.display()
        )
    });
    let mut lines = manifest.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let (file, reference, shape) = (col("file"), col("reference_count"), col("density_shape"));
    let cases = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            // The columns we read come before the free-text ones, which may hold commas.
            let f: Vec<&str> = l.split(',').collect();
            let (h, w) = f[shape].split_once('x').unwrap();
            Case {
                file: f[file].to_string(),
                reference: f[reference].parse().unwrap(),
                shape: (h.parse().unwrap(), w.parse().unwrap()),
            }
        })
        .collect();
    (dir, cases)
}

#[test]
fn real_model_matches_the_reference_counts_within_one_percent() {
    let (dir, cases) = cases();
    assert_eq!(cases.len(), 18, "the manifest lists 18 images");
    let model = real_model();
    let paths: Vec<String> = cases
        .iter()
        .map(|c| dir.join(&c.file).display().to_string())
        .collect();
    let mut args = vec!["--model", model.to_str().unwrap()];
    args.extend(paths.iter().map(String::as_str));
    let out = analyze(&args, |_| {});
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let results: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(results.len(), cases.len());

    let mut failures = Vec::new();
    eprintln!(
        "{:<44} {:>9} {:>9} {:>7} {:>9}",
        "image", "reference", "skycount", "diff", "ms"
    );
    for (case, r) in cases.iter().zip(&results) {
        let count = r["count"].as_f64().unwrap();
        let rel = (count - case.reference).abs() / case.reference;
        eprintln!(
            "{:<44} {:>9.2} {:>9.2} {:>6.2}% {:>9.0}",
            case.file,
            case.reference,
            count,
            rel * 100.0,
            r["inference_ms"].as_f64().unwrap()
        );
        let shape = (
            r["density_height"].as_u64().unwrap(),
            r["density_width"].as_u64().unwrap(),
        );
        if rel > 0.01 {
            failures.push(format!(
                "{}: {count:.2} vs reference {:.2} ({:.2} %)",
                case.file,
                case.reference,
                rel * 100.0
            ));
        }
        if shape != case.shape {
            failures.push(format!(
                "{}: density {shape:?} vs reference {:?}",
                case.file, case.shape
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The child of [`memory_taken_by_a_large_input_comes_back`], in a process of its own: runs the
/// model at 640x360, once at 2560x1440, at 640x360 again, and prints the resident memory.
#[test]
fn large_input_child() {
    if std::env::var_os("SKYCOUNT_LARGE_INPUT_CHILD").is_none() {
        return;
    }
    let settings = skycountd::config::ModelSettings {
        path: tiny_model(),
        execution_providers: vec![skycountd::config::ExecutionProviderKind::Cpu],
        threads: 1,
        onnxruntime_library: Some(onnxruntime()),
        ..Default::default()
    };
    let mut model = skycountd::infer::Model::load(&settings).unwrap();
    let mut run = |w: u32, h: u32| {
        let rgb: Vec<u8> = (0..w * h * 3).map(|i| (i * 37 % 251) as u8).collect();
        model.run(&rgb, w, h).unwrap();
    };
    for _ in 0..2 {
        run(640, 360);
    }
    let small = proc_mib(std::process::id(), "VmRSS");
    run(2560, 1440);
    let peak = proc_mib(std::process::id(), "VmHWM");
    for _ in 0..2 {
        run(640, 360);
    }
    println!(
        "resident: {small:.1} {peak:.1} {:.1}",
        proc_mib(std::process::id(), "VmRSS")
    );
}

/// ONNX Runtime's CPU arena keeps what the largest input needed: after one large run (a
/// calibration at scale 2), the memory must come back once the model runs at its small size
/// again (issue 22; benches/ort_memory.rs has the real model's figures).
#[test]
fn memory_taken_by_a_large_input_comes_back() {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "large_input_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("SKYCOUNT_LARGE_INPUT_CHILD", "1")
        .env("MALLOC_ARENA_MAX", "2")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let figures: Vec<f64> = text
        .lines()
        .find_map(|l| l.split_once("resident: ").map(|(_, f)| f))
        .unwrap_or_else(|| panic!("{text}\n{}", String::from_utf8_lossy(&out.stderr)))
        .split(' ')
        .map(|v| v.parse().unwrap())
        .collect();
    let (small, peak, back) = (figures[0], figures[1], figures[2]);
    println!("resident memory: {small:.0} MiB at 640x360, {peak:.0} MiB at the peak of a 2560x1440 run, {back:.0} MiB back at 640x360");
    assert!(
        peak - small > 50.0,
        "the large run took little: {figures:?}"
    );
    assert!(
        back - small < (peak - small) / 4.0,
        "{:.0} of the {:.0} MiB the large run took stayed: {figures:?}",
        back - small,
        peak - small
    );
}
