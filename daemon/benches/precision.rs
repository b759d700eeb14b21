//! FP32 against the INT8 twin: time and CPU per analysis at the sizes the box analyses, both
//! models interleaved in one process so that they see the same machine.
//!
//!   cargo bench --bench precision      (models/out/csrnet.onnx and csrnet-int8.onnx, 5 rounds)
//!   BENCH_MODEL=models/out/csrnet.onnx BENCH_ROUNDS=5 BENCH_SIZES=640x360,1280x720 \
//!     BENCH_THREADS=0 cargo bench --bench precision
//!
//! Each round runs FP32 then INT8 on the same picture (a real drone frame when BENCH_IMAGE names
//! one, else a synthetic one) at each size, through `infer::Model` as the daemon loads it
//! (`model.precision = "fp32"`, then `"int8"`: the twin beside the model, checked). Printed per
//! size: the median wall time of a run, the ratio FP32 / INT8, the CPU time per run (user and
//! system, all of ONNX Runtime's threads: what the box spends per analysis) and both counts. The
//! load average before and after says how busy the machine was.

use std::path::PathBuf;
use std::time::Instant;

use skycountd::config::{ExecutionProviderKind, ModelSettings, Precision};
use skycountd::infer::Model;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// This process's CPU time so far (user + system), in seconds.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0 // USER_HZ
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// The picture at `w`x`h`: BENCH_IMAGE resized, or a synthetic one with structure.
fn picture(image: Option<&image::RgbImage>, w: u32, h: u32) -> Vec<u8> {
    match image {
        Some(img) => {
            image::imageops::resize(img, w, h, image::imageops::FilterType::Triangle).into_raw()
        }
        None => (0..w * h)
            .flat_map(|i| {
                let (x, y) = (i % w, i / w);
                [
                    (x * 7 % 251) as u8,
                    (y * 5 % 241) as u8,
                    ((x ^ y) % 239) as u8,
                ]
            })
            .collect(),
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let model = std::env::var_os("BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/out/csrnet.onnx"));
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let threads: usize = std::env::var("BENCH_THREADS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let sizes: Vec<(u32, u32)> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "640x360,960x536,1280x720,1920x1080".into())
        .split(',')
        .filter_map(|s| {
            let (a, b) = s.split_once('x')?;
            Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
        })
        .collect();
    let image = std::env::var_os("BENCH_IMAGE").map(|p| {
        image::open(&p)
            .unwrap_or_else(|e| panic!("BENCH_IMAGE {}: {e}", p.to_string_lossy()))
            .to_rgb8()
    });
    let lib =
        std::env::var_os("ORT_DYLIB_PATH").expect("set ORT_DYLIB_PATH (scripts/test.sh shows how)");
    let settings = |precision| ModelSettings {
        path: model.clone(),
        execution_providers: vec![ExecutionProviderKind::Cpu],
        threads,
        onnxruntime_library: Some(PathBuf::from(&lib)),
        precision,
        ..ModelSettings::default()
    };
    let mut fp32 = Model::load(&settings(Precision::Fp32)).expect("the float model");
    let mut int8 = Model::load(&settings(Precision::Int8))
        .unwrap_or_else(|e| panic!("the INT8 twin: {e} (models/make.sh builds it)"));
    println!(
        "FP32 {} against INT8 {} ({}), CPU provider, threads {threads} (0: one per core), {rounds} interleaved rounds, {}",
        fp32.path().display(),
        int8.path().display(),
        int8.numbers_why(),
        if image.is_some() { "a real frame (BENCH_IMAGE)" } else { "a synthetic frame" }
    );
    println!("load average before: {}", load_average());
    println!(
        "| size | FP32 median | INT8 median | FP32 / INT8 | CPU per run FP32 | CPU per run INT8 | count FP32 | count INT8 |"
    );
    println!("| --- | --- | --- | --- | --- | --- | --- | --- |");
    for &(w, h) in &sizes {
        let rgb = picture(image.as_ref(), w, h);
        let mut wall = [Vec::new(), Vec::new()];
        let mut cpu = [Vec::new(), Vec::new()];
        let mut counts = [0.0; 2];
        for round in 0..=rounds {
            for (i, m) in [&mut fp32, &mut int8].into_iter().enumerate() {
                let (c0, t0) = (cpu_seconds(), Instant::now());
                let (map, _) = m.run(&rgb, w, h).expect("a run");
                let took = t0.elapsed().as_secs_f64() * 1e3;
                let used = (cpu_seconds() - c0) * 1e3;
                counts[i] = map.count();
                if round > 0 {
                    // Round 0 warms both up (first-run allocations, kernel choices).
                    wall[i].push(took);
                    cpu[i].push(used);
                }
            }
        }
        let (f, q) = (median(&mut wall[0]), median(&mut wall[1]));
        println!(
            "| {w}x{h} | {f:.0} ms | {q:.0} ms | {:.2} | {:.0} ms | {:.0} ms | {:.1} | {:.1} |",
            f / q,
            median(&mut cpu[0]),
            median(&mut cpu[1]),
            counts[0],
            counts[1]
        );
    }
    println!("load average after: {}", load_average());
}
