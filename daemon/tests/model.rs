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
    // The float network's counts (the reference is its NumPy twin); the INT8 twin beside it, when
    // models/make.sh built one, is held to its own limits (scripts/accuracy_guard.sh).
    let out = analyze(&args, |c| {
        c.env("SKYCOUNT_MODEL__PRECISION", "fp32");
    });
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

/// `models/out/test/<name>`, written by models/make_test_models.py (models/make.sh).
fn test_model(name: &str) -> PathBuf {
    let p = repo_root().join("models/out/test").join(name);
    assert!(p.exists(), "{} is missing: run models/make.sh", p.display());
    p
}

/// A folder holding `csrnet-tiny.onnx` (made of `float`) and, when given, `csrnet-tiny-int8.onnx`
/// (made of `twin`).
fn model_dir(float: &str, twin: Option<&str>) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("csrnet-tiny.onnx");
    std::fs::copy(test_model(float), &path).unwrap();
    if let Some(t) = twin {
        std::fs::copy(test_model(t), dir.path().join("csrnet-tiny-int8.onnx")).unwrap();
    }
    (dir, path)
}

fn load(
    path: &std::path::Path,
    precision: skycountd::config::Precision,
) -> Result<skycountd::infer::Model, skycountd::infer::ModelError> {
    skycountd::infer::Model::load(&skycountd::config::ModelSettings {
        path: path.to_path_buf(),
        execution_providers: vec![skycountd::config::ExecutionProviderKind::Cpu],
        threads: 1,
        onnxruntime_library: Some(onnxruntime()),
        precision,
        ..Default::default()
    })
}

/// `model.precision`: the INT8 twin runs on the CPU when it is there, was made from this very
/// float model and passed its checks; otherwise `auto` runs the float model and says why, and
/// `int8` refuses with the reason.
#[test]
fn precision_takes_the_int8_twin_only_when_it_fits() {
    use skycountd::config::Precision::{Auto, Fp32, Int8};
    use skycountd::infer::Numbers;

    let (_d, path) = model_dir("csrnet-tiny.onnx", Some("csrnet-tiny-int8.onnx"));
    let twin = path.with_file_name("csrnet-tiny-int8.onnx");
    let mut m = load(&path, Auto).unwrap();
    assert_eq!(
        (m.numbers(), m.path()),
        (Numbers::Int8, twin.as_path()),
        "{}",
        m.numbers_why()
    );
    assert!(
        m.numbers_why()
            .contains("the INT8 twin of csrnet-tiny.onnx"),
        "{}",
        m.numbers_why()
    );
    // It counts as the float model does, within the drift its card allows.
    let (w, h) = (160u32, 96u32);
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w / 8, i / w / 8);
            [
                (x * 53 % 251) as u8,
                (y * 97 % 241) as u8,
                ((x ^ y) * 31 % 239) as u8,
            ]
        })
        .collect();
    let int8 = m.run(&rgb, w, h).unwrap().0.count();
    let mut f = load(&path, Fp32).unwrap();
    assert_eq!((f.numbers(), f.path()), (Numbers::Fp32, path.as_path()));
    assert_eq!(f.numbers_why(), "model.precision is \"fp32\"");
    let fp32 = f.run(&rgb, w, h).unwrap().0.count();
    assert!(
        ((int8 - fp32) / fp32).abs() < 0.05,
        "INT8 {int8} against FP32 {fp32}"
    );
    let m = load(&path, Int8).unwrap();
    assert_eq!(m.numbers(), Numbers::Int8);

    // No twin: the float model, and why.
    let (_d, alone) = model_dir("csrnet-tiny.onnx", None);
    let m = load(&alone, Auto).unwrap();
    assert_eq!((m.numbers(), m.path()), (Numbers::Fp32, alone.as_path()));
    assert!(
        m.numbers_why()
            .contains("there is no INT8 twin csrnet-tiny-int8.onnx beside it"),
        "{}",
        m.numbers_why()
    );
    let e = load(&alone, Int8).err().unwrap().to_string();
    assert!(
        e.contains("model.precision is \"int8\"") && e.contains("csrnet-tiny-int8.onnx"),
        "{e}"
    );

    // A twin of another float model (an update replaced the float file, not the twin).
    let (_d, other) = model_dir("csrnet-tiny-card.onnx", Some("csrnet-tiny-int8.onnx"));
    let m = load(&other, Auto).unwrap();
    assert_eq!(m.numbers(), Numbers::Fp32);
    assert!(
        m.numbers_why()
            .contains("was made from another csrnet-tiny.onnx"),
        "{}",
        m.numbers_why()
    );
    let e = load(&other, Int8).err().unwrap().to_string();
    assert!(e.contains("made from another"), "{e}");

    // A twin whose checks failed when it was built.
    let (_d, failed) = model_dir("csrnet-tiny.onnx", Some("int8-failed.onnx"));
    let m = load(&failed, Auto).unwrap();
    assert_eq!(m.numbers(), Numbers::Fp32);
    assert!(
        m.numbers_why().contains("failed its checks") && m.numbers_why().contains("made to fail"),
        "{}",
        m.numbers_why()
    );
    let e = load(&failed, Int8).err().unwrap().to_string();
    assert!(e.contains("failed its checks"), "{e}");
}

/// An INT8 model given as the model itself (an upload, or model.path set to a twin) runs in INT8
/// unless `fp32` is asked for; one whose checks failed is refused whatever the precision.
#[test]
fn an_int8_model_as_the_model_itself() {
    use skycountd::config::Precision::{Auto, Fp32, Int8};
    use skycountd::infer::Numbers;

    let twin = test_model("csrnet-tiny-int8.onnx");
    for p in [Auto, Int8] {
        let m = load(&twin, p).unwrap();
        assert_eq!(m.numbers(), Numbers::Int8);
        assert_eq!(m.numbers_why(), "an INT8 model, made from csrnet-tiny.onnx");
    }
    let e = load(&twin, Fp32).err().unwrap().to_string();
    assert!(
        e.contains("is an INT8 model and model.precision is \"fp32\""),
        "{e}"
    );
    let e = load(&test_model("int8-failed.onnx"), Auto)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("failed its checks"), "{e}");
    // The upload check (the dashboard's) goes through the same rules.
    let settings = skycountd::config::ModelSettings {
        onnxruntime_library: Some(onnxruntime()),
        precision: Fp32,
        ..Default::default()
    };
    let e = skycountd::infer::Model::probe(&twin, &settings)
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("is an INT8 model"), "{e}");
}
