//! What the integration tests share: a real RTMP server (nginx with the RTMP module), a real
//! GStreamer publisher, and the real `skycountd` binary, all on loopback, all stopped on drop.
//!
//! The tests need what `scripts/setup.sh` installs: nginx + libnginx-mod-rtmp, GStreamer with
//! x264, the models built by `models/make.sh` and `ORT_DYLIB_PATH` pointing at libonnxruntime.
//! When something is missing they fail and say what to run, rather than pass without testing.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The small random-weights model with CSRNet's layer shapes (fast).
pub fn tiny_model() -> PathBuf {
    let p = repo_root().join("models/out/csrnet-tiny.onnx");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (or models/make.sh)",
        p.display()
    );
    p
}

/// The real CSRNet model.
pub fn real_model() -> PathBuf {
    let p = repo_root().join("models/out/csrnet.onnx");
    assert!(
        p.exists(),
        "{} is missing: run scripts/setup.sh (or models/make.sh)",
        p.display()
    );
    p
}

/// libonnxruntime, from `ORT_DYLIB_PATH` (scripts/test.sh sets it).
pub fn onnxruntime() -> PathBuf {
    let p = std::env::var_os("ORT_DYLIB_PATH")
        .map(PathBuf::from)
        .expect("ORT_DYLIB_PATH is not set: run the tests through scripts/test.sh, or export ORT_DYLIB_PATH=$(.venv/bin/python models/ort_lib.py)");
    assert!(p.exists(), "ORT_DYLIB_PATH={} does not exist", p.display());
    p
}

/// A process's resident memory in MiB (NaN when it is gone), for the benches' figures.
pub fn rss_mib(pid: u32) -> f64 {
    proc_mib(pid, "VmRSS")
}

/// A memory figure of `/proc/<pid>/status` in MiB (`VmRSS`, `VmHWM`: the peak since the start,
/// or since `5` was written to `/proc/<pid>/clear_refs`); NaN when there is none.
pub fn proc_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches(" kB").parse::<f64>().ok())
        })
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// The first line of an HTTP answer read from `s` (its status line), or "" when none came.
pub fn status_line(s: &mut std::net::TcpStream) -> String {
    use std::io::Read as _;
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

/// A recording of `frames` frames of GStreamer's snow at `width`x`height`, 15 fps, H.264 without
/// B-frames, one key frame a second, in an MP4 file in `dir` (a daemon's looping source). Snow
/// never looks like the frame before: to the motion estimate the camera is never still, and zones
/// stay paused; [`still_recording`] is a hovering camera.
pub fn recording(dir: &Path, width: u32, height: u32, frames: u32) -> PathBuf {
    recording_of(
        dir,
        "snow",
        &format!("flight-{width}x{height}"),
        width,
        height,
        frames,
    )
}

/// As [`recording`], of GStreamer's "ball" (a ball moving over a still background): the view of a
/// hovering drone, under which zones count and alert.
pub fn still_recording(dir: &Path, width: u32, height: u32, frames: u32) -> PathBuf {
    recording_of(
        dir,
        "ball",
        &format!("hover-{width}x{height}"),
        width,
        height,
        frames,
    )
}

/// The file's name (`name`.mp4) names the stream path, and so its folder in `analysis.state_dir`.
fn recording_of(
    dir: &Path,
    pattern: &str,
    name: &str,
    width: u32,
    height: u32,
    frames: u32,
) -> PathBuf {
    let clip = dir.join(format!("{name}.mp4"));
    gst_launch(&format!(
        "videotestsrc num-buffers={frames} pattern={pattern} ! video/x-raw,width={width},height={height},framerate=15/1 ! x264enc bframes=0 key-int-max=15 speed-preset=ultrafast ! h264parse ! mp4mux ! filesink location={}",
        clip.display()
    ));
    clip
}

/// A history database at `path` holding one ended flight of `rows` analyses half a second apart
/// (a day at two a second is 172800), `zones` zones each as the recorder keeps them.
pub fn long_flight(path: &Path, rows: u64, zones: usize) {
    use skycountd::history::db::{self, AnalysisRow, Batch, FlightRow};
    let mut conn = db::open(path).unwrap();
    let zones = serde_json::Value::Array(
        (0..zones)
            .map(|z| {
                serde_json::json!({"name": format!("zone number {z}"), "count": 12.25,
                    "share": 0.0625, "limit": 300, "alerting": false})
            })
            .collect(),
    )
    .to_string();
    let t0 = 1_800_000_000_000u64;
    let flight = FlightRow {
        stream: "live_drone".into(),
        start_ms: t0,
        last_ms: t0 + rows * 500,
        end_ms: Some(t0 + rows * 500),
        peak: 250.0,
        peak_ms: t0,
    };
    for first in (0..rows).step_by(10_000) {
        let batch = Batch {
            flight: Some(flight.clone()),
            analyses: (first..(first + 10_000).min(rows))
                .map(|i| AnalysisRow {
                    t_ms: t0 + i * 500,
                    count: 196.0 + (i % 7) as f64,
                    smoothed: 198.5,
                    band: [99.25, 397.0],
                    calibrated: true,
                    state: "live".into(),
                    zones: zones.clone(),
                })
                .collect(),
            ..Batch::default()
        };
        db::write(&mut conn, &batch).unwrap();
    }
}

/// An HTTP client for the tests: 4xx and 5xx answers come back as answers (the tests check
/// them), and no request waits longer than a minute.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// `[operator]` for a test: `passphrase`, its hash and banner kept in `state`.
pub fn operator_section(passphrase: &str, state: &Path) -> String {
    format!(
        "[operator]\npassphrase = \"{passphrase}\"\nhash_file = \"{0}/operator.phc\"\nbanner_file = \"{0}/operator.issue\"\nsessions_file = \"{0}/operator.sessions\"\n",
        state.display()
    )
}

/// Signs in as the operator: the `Cookie` header to send with operator requests.
pub fn sign_in(d: &Daemon, passphrase: &str) -> String {
    sign_in_at(&d.base(), passphrase)
}

/// Signs in as the operator at `base` (`http://127.0.0.1:PORT`): the `Cookie` header to send.
pub fn sign_in_at(base: &str, passphrase: &str) -> String {
    let mut res = agent()
        .post(&format!("{base}/api/auth/login"))
        .header("Content-Type", "application/json")
        .send(serde_json::json!({ "passphrase": passphrase }).to_string())
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        200,
        "signing in: {:?}",
        res.body_mut().read_to_string()
    );
    let cookie = res
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .expect("a session cookie");
    cookie.split(';').next().unwrap().to_string()
}

/// The environment variable `name` parsed, or `default` (the benches' settings).
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Polls `f` every 50 ms until it gives `Some`, for at most `limit`.
pub fn wait_for<T>(limit: Duration, mut f: impl FnMut() -> Option<T>) -> Option<T> {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return Some(v);
        }
        if Instant::now() >= end {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A child process killed when dropped.
pub struct Proc {
    pub child: Child,
    pub name: &'static str,
}

impl Proc {
    pub fn alive(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits up to `limit`; returns the exit status and how long it took.
    pub fn terminate(&mut self, limit: Duration) -> Option<(std::process::ExitStatus, Duration)> {
        let started = Instant::now();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        wait_for(limit, || self.child.try_wait().ok().flatten()).map(|s| (s, started.elapsed()))
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// nginx with the RTMP module, on a loopback port, application `live`.
pub struct RtmpServer {
    pub port: u16,
    _proc: Proc,
    _dir: tempfile::TempDir,
}

impl RtmpServer {
    pub fn start() -> Self {
        let module = ["/usr/lib/nginx/modules/ngx_rtmp_module.so"]
            .into_iter()
            .find(|p| Path::new(p).exists())
            .expect("nginx's RTMP module is missing: apt-get install nginx libnginx-mod-rtmp (scripts/setup.sh)");
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let conf = dir.path().join("nginx.conf");
        std::fs::write(
            &conf,
            format!(
                "load_module {module};\n\
                 daemon off;\nmaster_process off;\nworker_processes 1;\n\
                 pid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
                 events {{ worker_connections 64; }}\n\
                 rtmp {{ server {{ listen 127.0.0.1:{port}; chunk_size 4096;\n\
                   application live {{ live on; record off; }} }} }}\n",
                d = dir.path().display()
            ),
        )
        .unwrap();
        let child = Command::new("nginx")
            .arg("-c")
            .arg(&conf)
            .arg("-p")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect(
                "cannot start nginx: apt-get install nginx libnginx-mod-rtmp (scripts/setup.sh)",
            );
        let proc = Proc {
            child,
            name: "nginx",
        };
        wait_for(Duration::from_secs(10), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).ok()
        })
        .expect("nginx did not start listening");
        Self {
            port,
            _proc: proc,
            _dir: dir,
        }
    }

    pub fn url(&self, stream: &str) -> String {
        format!("rtmp://127.0.0.1:{}/live/{stream}", self.port)
    }

    /// How many times a publisher has started publishing so far (nginx-rtmp logs each
    /// `publish: name=...` at info): the moment a stream has really reached the server, which on
    /// a busy machine can be seconds after its publisher process was started.
    pub fn publishes(&self) -> usize {
        std::fs::read_to_string(self._dir.path().join("error.log"))
            .map(|log| log.matches("publish: name=").count())
            .unwrap_or(0)
    }
}

/// A live H.264 stream published with GStreamer (x264, 1 s GOP, no B-frames, like a drone app).
pub fn publish(url: &str, width: u32, height: u32, fps: u32) -> Proc {
    let pipeline = format!(
        "videotestsrc is-live=true pattern=ball ! video/x-raw,width={width},height={height},framerate={fps}/1 \
         ! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={fps} bframes=0 \
         ! video/x-h264,profile=baseline ! h264parse ! flvmux streamable=true ! rtmp2sink location={url}"
    );
    let child = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect(
            "cannot start gst-launch-1.0: apt-get install gstreamer1.0-tools (scripts/setup.sh)",
        );
    Proc {
        child,
        name: "publisher",
    }
}

/// A configuration file for skycountd in a temporary directory.
pub struct Daemon {
    pub proc: Proc,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

pub fn write_config(dir: &Path, toml: &str) -> PathBuf {
    let path = dir.join("skycount.toml");
    let mut f = std::fs::File::create(&path).unwrap();
    f.write_all(toml.as_bytes()).unwrap();
    path
}

/// The base configuration of the tests: tiny model, small frames, loopback only.
pub fn test_config(source_url: &str, port: u16, model: &Path, extra: &str) -> String {
    format!(
        "[source]\nurl = \"{source_url}\"\nstall_ms = 1000\nreconnect_after_ms = 2000\n\
         backoff_initial_ms = 200\nbackoff_max_ms = 1000\n\
         [model]\npath = \"{}\"\ninput_width = 320\ninput_height = 176\nexecution_providers = [\"cpu\"]\nthreads = 1\n\
         [analysis]\ngrid_width = 40\ngrid_height = 22\n\
         [server]\nlisten = \"127.0.0.1:{port}\"\nweb_dir = \"/nonexistent/web\"\n\
         [mediamtx]\nwatch = false\n{extra}",
        model.display()
    )
}

/// The skycountd under test: cargo's build of it, or `SKYCOUNTD_BIN` (a copy that a long
/// benchmark keeps while other builds replace cargo's).
pub fn bin() -> Command {
    let exe =
        std::env::var_os("SKYCOUNTD_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_skycountd").into());
    let mut c = Command::new(exe);
    c.env("ORT_DYLIB_PATH", onnxruntime());
    c.env_remove("NOTIFY_SOCKET");
    c.env_remove("JOURNAL_STREAM");
    c
}

impl Daemon {
    pub fn start(config: &str) -> Self {
        Self::start_with(config, |_| {})
    }

    pub fn start_with(config: &str, tweak: impl FnOnce(&mut Command)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port: u16 = config
            .lines()
            .find_map(|l| l.strip_prefix("listen = \"127.0.0.1:"))
            .and_then(|r| r.trim_end_matches('"').parse().ok())
            .expect("test configs listen on 127.0.0.1:PORT");
        let path = write_config(dir.path(), config);
        let mut cmd = bin();
        cmd.arg("--config").arg(&path).arg("run");
        cmd.env(
            "RUST_LOG",
            std::env::var("RUST_LOG").unwrap_or_else(|_| "info".into()),
        );
        cmd.stdout(Stdio::null()).stderr(Stdio::inherit());
        // The flight history in the test's directory, not the machine's /var/lib/skycount.
        cmd.env("SKYCOUNT_HISTORY__PATH", dir.path().join("history.sqlite"));
        tweak(&mut cmd);
        let child = cmd.spawn().expect("cannot start skycountd");
        let proc = Proc {
            child,
            name: "skycountd",
        };
        let d = Self { proc, port, dir };
        wait_for(Duration::from_secs(15), || d.get("/api/status").ok())
            .expect("skycountd did not start serving");
        d
    }

    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// GET a path: (status code, body).
    pub fn get(&self, path: &str) -> Result<(u16, Vec<u8>), String> {
        http_get(self.port, path)
    }

    pub fn get_json(&self, path: &str) -> serde_json::Value {
        let (code, body) = self.get(path).unwrap();
        serde_json::from_slice(&body).unwrap_or_else(|e| panic!("{path} ({code}) is not JSON: {e}"))
    }

    pub fn status(&self) -> serde_json::Value {
        self.get_json("/api/status")
    }
}

/// GET `http://127.0.0.1:{port}{path}`: (status code, body). Error statuses are answers too.
pub fn http_get(port: u16, path: &str) -> Result<(u16, Vec<u8>), String> {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into();
    let mut response = agent
        .get(&format!("http://127.0.0.1:{port}{path}"))
        .call()
        .map_err(|e| e.to_string())?;
    let code = response.status().as_u16();
    let body = response
        .body_mut()
        .read_to_vec()
        .map_err(|e| e.to_string())?;
    Ok((code, body))
}

/// Runs `skycountd analyze` and returns its output.
pub fn analyze(args: &[&str], tweak: impl FnOnce(&mut Command)) -> Output {
    let mut cmd = bin();
    cmd.arg("analyze").args(args);
    tweak(&mut cmd);
    cmd.output().expect("cannot run skycountd analyze")
}

pub fn gst_launch(pipeline: &str) {
    let ok = Command::new("gst-launch-1.0")
        .arg("-q")
        .args(pipeline.split_whitespace())
        .stdout(Stdio::null())
        .status()
        .expect("cannot run gst-launch-1.0")
        .success();
    assert!(ok, "gst-launch-1.0 {pipeline} failed");
}

pub use skycountd::decode::select::Codec;

/// The status names a decoder the platform may choose for `codec` (libav here, a hardware one on
/// a Jetson or a Raspberry Pi).
pub fn assert_decoder_for(status: &serde_json::Value, codec: Codec) {
    let decoder = status["decoder"].as_str().unwrap_or_default();
    assert!(
        skycountd::decode::select::candidates(codec).contains(&decoder),
        "{decoder:?} is not a {codec} decoder: {status}"
    );
}

/// The status names one of the execution providers skycountd knows.
pub fn assert_provider(status: &serde_json::Value) {
    let provider = status["execution_provider"].as_str().unwrap_or_default();
    assert!(
        ["tensorrt", "cuda", "cpu"].contains(&provider),
        "{provider:?}: {status}"
    );
}

/// A real RTSP server (gst-rtsp-server, tests/rtsp_server.py) serving `media` (a gst-launch
/// description ending in `pay0`; the script's H.264 test pattern when `None`) at `/live/drone`:
/// the server and the URL to read.
pub fn rtsp_server(media: Option<&str>) -> (Proc, String) {
    let port = free_port();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/rtsp_server.py");
    let mut cmd = Command::new("/usr/bin/python3");
    cmd.arg(&script).arg(port.to_string());
    if let Some(m) = media {
        cmd.arg(m);
    }
    let child = cmd.stdout(Stdio::null()).spawn().expect(
        "cannot start the RTSP server: apt-get install python3-gi gir1.2-gst-rtsp-server-1.0",
    );
    let server = Proc {
        child,
        name: "rtsp-server",
    };
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("the RTSP server did not start");
    (server, format!("rtsp://127.0.0.1:{port}/live/drone"))
}

// ---------------------------------------------------------------------------------------------
// Software updates: the RAUC test bed (scripts/rauc-testbed) and uploads of bundles.

pub fn testbed_script() -> PathBuf {
    repo_root().join("scripts/rauc-testbed/testbed.sh")
}

/// A test bed (`testbed.sh up`), taken down when dropped.
pub struct Testbed {
    pub dir: tempfile::TempDir,
    pub env: BTreeMap<String, String>,
}

impl Testbed {
    pub fn up() -> Self {
        Self::up_with(&[])
    }

    /// [`Testbed::up`] with environment variables for testbed.sh (TESTBED_SLOT_MB).
    pub fn up_with(env: &[(&str, &str)]) -> Self {
        assert!(
            std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").unwrap()) == 0,
            "the update tests need root: RAUC's service mounts bundles and writes the slots \
             (scripts/test.sh runs them as root)"
        );
        let dir = tempfile::tempdir().unwrap();
        let out = Command::new(testbed_script())
            .arg("up")
            .arg(dir.path())
            .envs(env.iter().copied())
            .output()
            .expect("cannot run scripts/rauc-testbed/testbed.sh");
        assert!(
            out.status.success(),
            "testbed.sh up failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let mut tb = Self {
            dir,
            env: BTreeMap::new(),
        };
        tb.read_env();
        println!("{}", String::from_utf8_lossy(&out.stdout).trim());
        tb
    }

    pub fn read_env(&mut self) {
        self.env = std::fs::read_to_string(self.dir.path().join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new(testbed_script())
            .args(&args[..1])
            .arg(self.dir.path())
            .args(&args[1..])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "testbed.sh {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    /// A bundle of VERSION signed by `signer` (dev, stranger, none).
    pub fn bundle(
        &self,
        version: &str,
        compatible: &str,
        signer: &str,
        payload_kb: u32,
    ) -> PathBuf {
        let out = self.path(&format!("{version}-{signer}-{compatible}.raucb"));
        self.run(&[
            "bundle",
            out.to_str().unwrap(),
            version,
            compatible,
            signer,
            &payload_kb.to_string(),
        ]);
        out
    }

    pub fn good_bundle(&self, version: &str) -> PathBuf {
        self.bundle(version, "skycount-testbed", "dev", 256)
    }

    /// A power cycle: prints the slot the bootloader started.
    pub fn reboot(&mut self) -> String {
        let slot = self.run(&["reboot"]);
        self.read_env();
        slot
    }

    /// The bootloader's state (BOOT_ORDER, BOOT_A_LEFT, BOOT_B_LEFT).
    pub fn bootloader(&self) -> BTreeMap<String, String> {
        std::fs::read_to_string(self.path("bootloader.env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Every call RAUC (and the test's power-ons) made to the bootloader, in order.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(self.path("bootloader.log"))
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    }

    /// The calls that change the bootloader's state.
    pub fn writes(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("set-"))
            .collect()
    }

    /// sha256 of a slot device's first `len` bytes (all of it when `None`).
    pub fn slot_sha(&self, slot: &str, len: Option<u64>) -> String {
        use sha2::Digest as _;
        let dev = &self.env[&format!("SLOT_{slot}")];
        let f = std::fs::File::open(dev).unwrap();
        let mut h = sha2::Sha256::new();
        let mut r: Box<dyn std::io::Read> = match len {
            Some(n) => Box::new(f.take(n)),
            None => Box::new(f),
        };
        std::io::copy(&mut r, &mut h).unwrap();
        format!("{:x}", h.finalize())
    }

    pub fn envs(&self) -> Vec<(String, String)> {
        [
            "DBUS_STARTER_BUS_TYPE",
            "DBUS_SESSION_BUS_ADDRESS",
            "RAUC_TESTBED",
        ]
        .iter()
        .map(|k| (k.to_string(), self.env[*k].clone()))
        .collect()
    }
}

impl Drop for Testbed {
    fn drop(&mut self) {
        let _ = Command::new(testbed_script())
            .arg("down")
            .arg(self.dir.path())
            .status();
    }
}

/// PUT a bundle as the operator (`cookie` empty: as a viewer), with its length declared or
/// (`chunked`) without: (status, JSON answer). The daemon may answer before the body is all
/// sent (a refusal): the rest is not sent.
pub fn put_bundle(
    d: &Daemon,
    cookie: &str,
    name: &str,
    body: &[u8],
    chunked: bool,
) -> (u16, Value) {
    use std::io::Write as _;
    let name: String = name.replace(' ', "%20");
    let mut s = std::net::TcpStream::connect(("127.0.0.1", d.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let length = if chunked {
        "Transfer-Encoding: chunked".to_string()
    } else {
        format!("Content-Length: {}", body.len())
    };
    let head = format!(
        "PUT /api/operator/update/bundle?name={name} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nCookie: {cookie}\r\n{length}\r\nConnection: close\r\n\r\n",
        d.port
    );
    let mut sent = s.write_all(head.as_bytes()).is_ok();
    for c in body.chunks(256 * 1024) {
        if !sent {
            break;
        }
        sent = if chunked {
            write!(s, "{:x}\r\n", c.len()).is_ok()
                && s.write_all(c).is_ok()
                && s.write_all(b"\r\n").is_ok()
        } else {
            s.write_all(c).is_ok()
        };
    }
    if sent && chunked {
        let _ = s.write_all(b"0\r\n\r\n");
    }
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer).into_owned();
    let code = text
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no HTTP answer to the upload: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b)
        .unwrap_or_default();
    (
        code,
        serde_json::from_str(body).unwrap_or(Value::String(body.to_string())),
    )
}

/// Serves `app` on a free loopback port from a thread of its own (a stand-in for another
/// program's HTTP API, e.g. MediaMTX's); the address it listens on.
pub fn serve_router(app: axum::Router) -> std::net::SocketAddr {
    let std_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    std_listener.set_nonblocking(true).unwrap();
    let addr = std_listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(std_listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    addr
}

// ---------------------------------------------------------------------------------------------
// MQTT: a real broker (Debian's mosquitto) on loopback, and what a fresh client reads from it.

/// mosquitto on `127.0.0.1:port`, anonymous, keeping sessions on disk in `dir` (so that a
/// subscriber's session outlives a restart, like a real broker's with persistence on).
pub fn mosquitto(port: u16, dir: &Path, extra: &str) -> Proc {
    mosquitto_with(
        dir,
        &format!("listener {port} 127.0.0.1\nallow_anonymous true\n{extra}"),
        port,
    )
}

/// mosquitto with `listeners` (and what else the test needs), persistence in `dir`; waits for
/// `port` to listen.
pub fn mosquitto_with(dir: &Path, listeners: &str, port: u16) -> Proc {
    // mosquitto started as root drops to its own user, which must be able to write here.
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let conf = dir.join("mosquitto.conf");
    std::fs::write(
        &conf,
        format!(
            "persistence true\npersistence_location {}/\nautosave_interval 1\n\
             log_dest stderr\nlog_type error\nlog_type warning\n{listeners}",
            dir.display()
        ),
    )
    .unwrap();
    let child = Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect(
            "cannot start mosquitto: apt-get install mosquitto (scripts/debian-test-packages.txt)",
        );
    let proc = Proc {
        child,
        name: "mosquitto",
    };
    wait_for(Duration::from_secs(10), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).ok()
    })
    .expect("mosquitto did not start listening");
    proc
}

/// The retained message on `topic`, as a fresh client sees it.
pub fn retained(port: u16, topic: &str) -> Option<String> {
    let mut opts = rumqttc::MqttOptions::new(format!("reader-{}", free_port()), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut connection) = rumqttc::Client::new(opts, 10);
    client.subscribe(topic, rumqttc::QoS::AtLeastOnce).unwrap();
    let end = Instant::now() + Duration::from_secs(5);
    let mut suback = false;
    while Instant::now() < end {
        match connection.recv_timeout(Duration::from_millis(500)) {
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) if p.topic == topic => {
                return Some(String::from_utf8_lossy(&p.payload).into_owned());
            }
            Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)))) => suback = true,
            // Retained messages come right after the SubAck; nothing by then: none.
            Err(_) if suback => return None,
            _ => {}
        }
    }
    None
}

/// The first message on `topic` (a filter: `+` and `#` allowed) a fresh client receives within
/// `limit`, retained or new: (its topic, its payload).
pub fn first_message(port: u16, topic: &str, limit: Duration) -> Option<(String, String)> {
    let mut opts = rumqttc::MqttOptions::new(format!("first-{}", free_port()), "127.0.0.1", port);
    opts.set_keep_alive(Duration::from_secs(5));
    let (client, mut connection) = rumqttc::Client::new(opts, 10);
    client.subscribe(topic, rumqttc::QoS::AtLeastOnce).unwrap();
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if let Ok(Ok(rumqttc::Event::Incoming(rumqttc::Packet::Publish(p)))) =
            connection.recv_timeout(Duration::from_millis(500))
        {
            return Some((p.topic, String::from_utf8_lossy(&p.payload).into_owned()));
        }
    }
    None
}
