//! ONNX Runtime's memory after a large analysis size: does it come back?
//!
//!   cargo bench --bench ort_memory           (models/out/csrnet.onnx, 640x360 then 1920x1080)
//!   BENCH_SMALL=640x360 BENCH_LARGE=2560x1440 BENCH_RUNS=3 BENCH_MODEL=… BENCH_PRECISION=fp32|int8 \
//!     cargo bench --bench ort_memory
//!
//! A calibration at scale 2.0 (or `analysis.scale`) makes the model run on a much larger picture
//! than the steady 640x360; when the operator deletes it, the box goes back to the small size.
//! Each way of running the model below is measured in a process of its own (the resident memory
//! is the process's; `MALLOC_ARENA_MAX=2` as skycountd.service sets it): `BENCH_RUNS` runs at
//! the small size, one at the large size, `BENCH_RUNS` at the small size again. Printed: the
//! median time of a small run before and after, the resident memory after the first small runs,
//! its peak during the large run, and what is left once back at the small size.
//!
//! - `default`: ONNX Runtime's defaults (the CPU arena, memory patterns): what skycountd did.
//! - `shrink every run`: the arena gives back its free regions at the end of every run
//!   (run option `memory.enable_memory_arena_shrinkage = cpu:0`).
//! - `shrink on a smaller size`: the same, only on a run whose input is smaller than the run
//!   before.
//! - `no arena`: the CPU provider without its arena (each tensor from malloc), memory patterns
//!   on; `no arena, no pattern`: memory patterns off too.
//! - `skycountd`: `infer::Model` as the daemon runs it (since issue 24: shrink every run).
//!
//! Then what shrinking costs in time, measured interleaved so that the machine's drift falls on
//! both ways alike: two sessions of the model in one process, each with its own arena, one
//! shrinking at the end of every run and one never, take turns at the small size (`BENCH_RUNS` x 4
//! rounds, the order swapped each round); their medians and the ratio are printed.
//!
//! `BENCH_MODEL` is the file every mode runs (default models/out/csrnet.onnx); an INT8 twin runs
//! as itself (`BENCH_MODEL=$PWD/models/out/csrnet-drone-int8.onnx BENCH_PRECISION=int8`).

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

use common::proc_mib;
use ort::ep;
use ort::session::{RunOptions, Session};
use ort::value::TensorRef;
use skycountd::config::{ExecutionProviderKind, ModelSettings, Precision};
use skycountd::infer::Model;

const MODES: &[&str] = &[
    "default",
    "shrink every run",
    "shrink on a smaller size",
    "no arena",
    "no arena, no pattern",
    "skycountd",
];

/// The mode that times shrinking against not shrinking, interleaved.
const INTERLEAVED: &str = "interleaved";

fn size_of(var: &str, default: (u32, u32)) -> (u32, u32) {
    std::env::var(var)
        .ok()
        .and_then(|s| {
            let (a, b) = s.split_once('x')?;
            Some((a.parse().ok()?, b.parse().ok()?))
        })
        .unwrap_or(default)
}

/// A memory figure of this process in MiB (`common::proc_mib`).
fn status_mib(field: &str) -> f64 {
    proc_mib(std::process::id(), field)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

/// Pixels with structure (not a flat colour).
fn picture(w: u32, h: u32) -> Vec<u8> {
    (0..w * h)
        .flat_map(|i| {
            let (x, y) = (i % w, i / w);
            [
                (x * 7 % 251) as u8,
                (y * 5 % 241) as u8,
                ((x ^ y) % 239) as u8,
            ]
        })
        .collect()
}

fn main() {
    match std::env::var("BENCH_MODE") {
        Ok(mode) if mode == INTERLEAVED => interleaved(),
        Ok(mode) => measure(&mode),
        Err(_) => compare(),
    }
}

/// Runs every mode in a process of its own and prints the table.
fn compare() {
    let (small, large) = (
        size_of("BENCH_SMALL", (640, 360)),
        size_of("BENCH_LARGE", (1920, 1080)),
    );
    println!(
        "ONNX Runtime's resident memory around one run at {}x{} between runs at {}x{} ({}, \
         CPU provider, MALLOC_ARENA_MAX=2):",
        large.0,
        large.1,
        small.0,
        small.1,
        settings().path.display()
    );
    println!(
        "| mode | small run, before | after small runs | peak in the large run | back at small \
         size | small run, after |"
    );
    println!("| --- | --- | --- | --- | --- | --- |");
    for mode in MODES {
        match run_self(mode, "figures ") {
            Ok(v) => println!(
                "| {mode} | {:.0} ms | {:.0} MiB | {:.0} MiB | {:.0} MiB | {:.0} ms |",
                v[0], v[1], v[2], v[3], v[4]
            ),
            Err(e) => println!("| {mode} | failed: {e} |"),
        }
    }
    match run_self(INTERLEAVED, "interleaved ") {
        Ok(v) => println!(
            "\nA run at {}x{}, interleaved in one process ({} rounds, two sessions each with its \
             own arena), medians: never shrinking {:.0} ms, shrinking after every run {:.0} ms, \
             ratio {:.3}",
            small.0,
            small.1,
            v[0],
            v[1],
            v[2],
            v[2] / v[1]
        ),
        Err(e) => println!("\ninterleaved: failed: {e}"),
    }
}

/// Runs `mode` in a process of its own; the numbers of its output line that starts with
/// `prefix`, or the last line of its errors.
fn run_self(mode: &str, prefix: &str) -> Result<Vec<f64>, String> {
    let out = Command::new(std::env::current_exe().unwrap())
        .env("BENCH_MODE", mode)
        .env("MALLOC_ARENA_MAX", "2")
        .output()
        .expect("the bench runs itself");
    let text = String::from_utf8_lossy(&out.stdout);
    match text.lines().find_map(|l| l.strip_prefix(prefix)) {
        Some(f) => Ok(f.split(' ').filter_map(|x| x.parse().ok()).collect()),
        None => Err(String::from_utf8_lossy(&out.stderr)
            .lines()
            .last()
            .unwrap_or("")
            .to_string()),
    }
}

/// One way of running the model.
enum Runner {
    Bare {
        session: Session,
        plain: RunOptions,
        shrink: RunOptions,
        every: bool,
        on_smaller: bool,
        last: u64,
    },
    Daemon(Box<Model>),
}

impl Runner {
    fn run(&mut self, rgb: &[u8], w: u32, h: u32) {
        match self {
            Self::Daemon(m) => {
                m.run(rgb, w, h).unwrap();
            }
            Self::Bare {
                session,
                plain,
                shrink,
                every,
                on_smaller,
                last,
            } => {
                let pixels = u64::from(w) * u64::from(h);
                let shrinking = *every || (*on_smaller && pixels < *last);
                *last = pixels;
                let options = if shrinking { &*shrink } else { &*plain };
                let input =
                    TensorRef::from_array_view(([1usize, h as usize, w as usize, 3], rgb)).unwrap();
                let out = session
                    .run_with_options(ort::inputs!["image" => input], options)
                    .unwrap();
                let (_, values) = out["density"].try_extract_tensor::<f32>().unwrap();
                std::hint::black_box(values.iter().sum::<f32>());
            }
        }
    }
}

fn runs() -> usize {
    std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3)
}

/// The model as every mode runs it: `BENCH_MODEL`, at the small size, CPU provider.
fn settings() -> ModelSettings {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let lib = std::env::var_os("ORT_DYLIB_PATH").expect("set ORT_DYLIB_PATH");
    let small = size_of("BENCH_SMALL", (640, 360));
    ModelSettings {
        path: std::env::var_os("BENCH_MODEL")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("models/out/csrnet.onnx")),
        input_width: small.0,
        input_height: small.1,
        execution_providers: vec![ExecutionProviderKind::Cpu],
        onnxruntime_library: Some(PathBuf::from(&lib)),
        // A float model by default; BENCH_PRECISION=int8 when BENCH_MODEL is an INT8 twin (every
        // mode runs the file given: skycountd's would otherwise pick the twin beside a float model).
        precision: std::env::var("BENCH_PRECISION")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(Precision::Fp32),
        ..ModelSettings::default()
    }
}

/// A session of `settings.path` on the CPU provider, without skycountd's model layer.
fn bare_session(settings: &ModelSettings, arena: bool, pattern: bool) -> Session {
    let env = skycountd::infer::environment(settings).expect("ONNX Runtime");
    Session::builder(env)
        .and_then(|b| Ok(b.with_intra_threads(settings.threads)?))
        .and_then(|b| Ok(b.with_memory_pattern(pattern)?))
        .and_then(|b| {
            Ok(b.with_execution_providers([ep::CPU::default()
                .with_arena_allocator(arena)
                .build()])?)
        })
        .and_then(|mut b| b.commit_from_file(&settings.path))
        .expect("session")
}

fn bare(session: Session, every: bool, on_smaller: bool) -> Runner {
    let mut shrink = RunOptions::new().unwrap();
    shrink
        .set("memory.enable_memory_arena_shrinkage", "cpu:0")
        .unwrap();
    Runner::Bare {
        session,
        plain: RunOptions::new().unwrap(),
        shrink,
        every,
        on_smaller,
        last: 0,
    }
}

/// One mode, in this process: prints `figures <ms before> <MiB after small> <MiB peak> <MiB
/// back> <ms after>`.
fn measure(mode: &str) {
    let (small, large) = (
        size_of("BENCH_SMALL", (640, 360)),
        size_of("BENCH_LARGE", (1920, 1080)),
    );
    let runs = runs();
    let settings = settings();
    let mut runner = if mode == "skycountd" {
        Runner::Daemon(Box::new(Model::load(&settings).expect("model")))
    } else {
        let arena = !mode.starts_with("no arena");
        let pattern = mode != "no arena, no pattern";
        bare(
            bare_session(&settings, arena, pattern),
            mode == "shrink every run",
            mode == "shrink on a smaller size",
        )
    };
    let (small_rgb, large_rgb) = (picture(small.0, small.1), picture(large.0, large.1));
    let timed = |runner: &mut Runner| -> f64 {
        let mut ms = Vec::new();
        for _ in 0..runs {
            let started = Instant::now();
            runner.run(&small_rgb, small.0, small.1);
            ms.push(started.elapsed().as_secs_f64() * 1e3);
        }
        median(&mut ms)
    };
    let before = timed(&mut runner);
    let settled = status_mib("VmRSS");
    runner.run(&large_rgb, large.0, large.1);
    let peak = status_mib("VmHWM");
    let after = timed(&mut runner);
    let back = status_mib("VmRSS");
    println!("figures {before:.1} {settled:.1} {peak:.1} {back:.1} {after:.1}");
}

/// Shrinking after every run against never, in turns: prints `interleaved <rounds> <ms never>
/// <ms every>`.
fn interleaved() {
    let settings = settings();
    let small = size_of("BENCH_SMALL", (640, 360));
    let rounds = runs() * 4;
    let mut never = bare(bare_session(&settings, true, true), false, false);
    let mut every = bare(bare_session(&settings, true, true), true, false);
    let rgb = picture(small.0, small.1);
    // One run each first: the arenas and kernels settle, as they have on a running box.
    never.run(&rgb, small.0, small.1);
    every.run(&rgb, small.0, small.1);
    let (mut t_never, mut t_every) = (Vec::new(), Vec::new());
    for round in 0..rounds {
        let mut order = [(&mut never, &mut t_never), (&mut every, &mut t_every)];
        if round % 2 == 1 {
            order.reverse();
        }
        for (runner, times) in order {
            let started = Instant::now();
            runner.run(&rgb, small.0, small.1);
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
    }
    println!(
        "interleaved {rounds} {:.1} {:.1}",
        median(&mut t_never),
        median(&mut t_every)
    );
}
