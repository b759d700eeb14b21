//! What the analysis size costs, and what tiling adds: figures, no assertions.
//!
//!   cargo bench --bench scales                        (a DroneCrowd frame from ../shared, 3 rounds)
//!   BENCH_IMAGE=frame.jpg BENCH_ROUNDS=5 BENCH_TILE=960x544 cargo bench --bench scales
//!
//! 1. Median time of one analysis (`Analyser::density`: resize + model) at each analysis size, on
//!    a 1920x1080 drone frame.
//! 2. Tiling at 1920x1080 in tiles of BENCH_TILE (margin 64): the analyser's tiled run against the
//!    bare model runs on the same tiles' pixels, cut beforehand (the cost of cutting and
//!    stitching, target ≤ 5 %), and against one whole-frame run (what the overlap costs); and the
//!    count tiled against whole.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use skycountd::analyse::tiles::Plan;
use skycountd::analyse::{Analyser, DensityModel, Options, Setup};
use skycountd::config::{ExecutionProviderKind, ModelSettings, Precision};
use skycountd::infer::Model;

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn options(tile: Option<(u32, u32)>) -> Options {
    Options {
        default_size: (640, 360),
        scale: 0.0,
        max_width: 7680,
        tile,
        tile_margin: 64,
        grid: (80, 45),
        smooth: Duration::from_secs(10),
    }
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let image = std::env::var_os("BENCH_IMAGE")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("../shared/testdata/drone/dronecrowd_seq112_8.jpg"));
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3);
    let tile: (u32, u32) = std::env::var("BENCH_TILE")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once('x')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((960, 544));
    let lib =
        std::env::var_os("ORT_DYLIB_PATH").expect("set ORT_DYLIB_PATH (scripts/test.sh shows how)");
    let img = image::open(&image)
        .unwrap_or_else(|e| panic!("{}: {e} (set BENCH_IMAGE)", image.display()))
        .to_rgb8();
    let (w, h) = img.dimensions();
    let rgb = img.into_raw();
    let settings = ModelSettings {
        path: root.join("models/out/csrnet.onnx"),
        execution_providers: vec![ExecutionProviderKind::Cpu],
        threads: 0,
        onnxruntime_library: Some(PathBuf::from(&lib)),
        // The float model, as measured so far; BENCH_PRECISION=int8 (or auto) for its INT8 twin.
        precision: std::env::var("BENCH_PRECISION")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(Precision::Fp32),
        ..ModelSettings::default()
    };
    let mut model = Model::load(&settings).expect("model");
    let mut whole = Analyser::new(options(None), Setup::default());
    println!(
        "{} ({w}x{h}), {rounds} rounds, CPU provider",
        image.display()
    );
    println!("analysis size   median ms   count");
    for size in [
        (640, 360),
        (960, 536),
        (1280, 720),
        (1920, 1080),
        (2560, 1440),
    ] {
        let mut ms = Vec::new();
        let mut count = 0.0;
        for _ in 0..rounds {
            let t = Instant::now();
            let d = whole.density(&mut model, &rgb, w, h, size).expect("run");
            ms.push(t.elapsed().as_secs_f64() * 1e3);
            count = d.map.count();
        }
        println!(
            "{:>5}x{:<5} {:>11.0} {:>7.1}",
            size.0,
            size.1,
            median(&mut ms),
            count
        );
    }

    // Tiling at 1920x1080.
    let size = (1920, 1080);
    let mut tiled = Analyser::new(options(Some(tile)), Setup::default());
    let plan = Plan::new(size.0, size.1, Some(tile), 64);
    let mut cut = Vec::new();
    let tiles: Vec<Vec<u8>> = plan
        .tiles
        .iter()
        .map(|t| {
            plan.tile_pixels(&rgb, t, &mut cut);
            cut.clone()
        })
        .collect();
    let (mut tiled_ms, mut bare_ms, mut whole_ms) = (Vec::new(), Vec::new(), Vec::new());
    let (mut tiled_count, mut whole_count) = (0.0, 0.0);
    for _ in 0..rounds {
        let t = Instant::now();
        let d = tiled.density(&mut model, &rgb, w, h, size).expect("tiled");
        tiled_ms.push(t.elapsed().as_secs_f64() * 1e3);
        tiled_count = d.map.count();
        let t = Instant::now();
        for px in &tiles {
            std::hint::black_box(model.density(px, plan.tile_w, plan.tile_h).expect("bare"));
        }
        bare_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        whole_count = whole
            .density(&mut model, &rgb, w, h, size)
            .expect("whole")
            .map
            .count();
        whole_ms.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let (t, b, o) = (
        median(&mut tiled_ms),
        median(&mut bare_ms),
        median(&mut whole_ms),
    );
    println!(
        "tiles of {}x{} (margin 64) at 1920x1080: {} tiles",
        tile.0,
        tile.1,
        plan.tiles.len()
    );
    println!("  tiled analysis            median {t:9.0} ms");
    println!(
        "  bare runs on those tiles  median {b:9.0} ms  -> cutting and stitching {:+.1} %",
        (t / b - 1.0) * 100.0
    );
    println!(
        "  one whole-frame run       median {o:9.0} ms  -> tiled vs whole {:+.1} %",
        (t / o - 1.0) * 100.0
    );
    println!(
        "  count tiled {tiled_count:.1} vs whole {whole_count:.1} ({:+.2} %)",
        (tiled_count / whole_count - 1.0) * 100.0
    );
}
