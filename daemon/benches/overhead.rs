//! The daemon's time per analysis against a bare ONNX Runtime `run` on the same model, input and
//! threads, interleaved in one process so both see the same machine.
//!
//!   cargo bench --bench overhead            (models/out/csrnet.onnx, 640x360, 15 rounds)
//!   BENCH_MODEL=… BENCH_SIZE=640x360 BENCH_ROUNDS=15 cargo bench --bench overhead
//!
//! "Daemon" is what the model thread does for one analysis: take the newest frame from the slot,
//! run the model through `infer::Model`, resample the density to the grid and publish it to the
//! hub (JSON and base64 are made when a viewer is sent the event, not here).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ort::session::Session;
use ort::value::TensorRef;
use skycountd::analyse::{Analyser, Options as AnalyseOptions, Setup};
use skycountd::config::{ExecutionProviderKind, ModelSettings, Precision};
use skycountd::event::Event;
use skycountd::infer::Model;
use skycountd::publish::hub::Hub;
use skycountd::sample::{Frame, LatestFrame};

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let model_path = std::env::var_os("BENCH_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("models/out/csrnet.onnx"));
    let (w, h): (u32, u32) = std::env::var("BENCH_SIZE")
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once('x')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or((640, 360));
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(15);
    let lib =
        std::env::var_os("ORT_DYLIB_PATH").expect("set ORT_DYLIB_PATH (scripts/test.sh shows how)");

    // A frame with structure (not a flat colour), the same for both.
    let rgb: Vec<u8> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [
                (x * 7 % 251) as u8,
                (y * 5 % 241) as u8,
                ((x ^ y) % 239) as u8,
            ]
        })
        .collect();

    // The daemon's path.
    let settings = ModelSettings {
        path: model_path.clone(),
        input_width: w,
        input_height: h,
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

    // Bare ONNX Runtime: a session of its own on the CPU provider with the same threads (in the
    // same environment: ONNX Runtime allows one per process).
    let env = skycountd::infer::environment(&settings).expect("environment");
    let mut bare = Session::builder(env)
        .and_then(|b| Ok(b.with_intra_threads(0)?))
        .and_then(|mut b| b.commit_from_file(&model_path))
        .unwrap_or_else(|e| panic!("{}: {e}", model_path.display()));
    let slot = LatestFrame::new();
    // The daemon's analysis path, at the frame's own size (no resize: the same pixels as bare).
    let mut analyser = Analyser::new(
        AnalyseOptions {
            default_size: (w, h),
            scale: 0.0,
            max_width: 7680,
            tile: None,
            tile_margin: 64,
            grid: (80, 45),
            smooth: Duration::from_secs(10),
        },
        Setup::default(),
    );
    let hub = Hub::new(
        "bench".into(),
        skycountd::engine::model::report_for(&settings),
    );

    let mut bare_ms = Vec::new();
    let mut daemon_ms = Vec::new();
    let mut inference_ms = Vec::new();
    for round in 0..=rounds {
        let started = Instant::now();
        let input =
            TensorRef::from_array_view(([1usize, h as usize, w as usize, 3], &rgb[..])).unwrap();
        let out = bare.run(ort::inputs!["image" => input]).unwrap();
        let (_, values) = out["density"].try_extract_tensor::<f32>().unwrap();
        std::hint::black_box(values.iter().sum::<f32>());
        drop(out);
        let bare_t = started.elapsed();

        slot.put(Frame::packed(w, h, rgb.clone()));
        let started = Instant::now();
        let frame = slot.take(Duration::ZERO).unwrap();
        let analysis = analyser.analyse(&mut model, &frame).unwrap();
        let took = Duration::from_secs_f64(analysis.inference_ms / 1e3);
        hub.apply(Event::Analysed {
            analysis: std::sync::Arc::new(analysis),
            frame,
        });
        let daemon_t = started.elapsed();
        if round > 0 {
            // Round 0 warms both up.
            bare_ms.push(bare_t.as_secs_f64() * 1e3);
            daemon_ms.push(daemon_t.as_secs_f64() * 1e3);
            inference_ms.push(took.as_secs_f64() * 1e3);
        }
    }
    let (b, d, i) = (
        median(&mut bare_ms),
        median(&mut daemon_ms),
        median(&mut inference_ms),
    );
    println!(
        "model {} at {w}x{h}, {rounds} interleaved rounds, CPU provider",
        model_path.display()
    );
    println!("bare ONNX Runtime run:      median {b:9.2} ms");
    println!("daemon, one analysis:       median {d:9.2} ms  (of which the model run {i:.2} ms)");
    println!(
        "overhead (daemon/bare - 1): {:+.2} %",
        (d / b - 1.0) * 100.0
    );
}
