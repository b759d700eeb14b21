//! The `skycountd` command line. See the crate docs in `lib.rs` for how the pieces fit.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use skycountd::commands::{analyze, eval, run};
use skycountd::config::Precision;
use skycountd::{config, hotspot, mediamtx, service};

#[derive(Parser)]
#[command(
    name = "skycountd",
    version,
    about = "Crowd counts and density heatmaps from a drone's live video"
)]
struct Cli {
    /// The configuration file [default: /etc/skycount/skycount.toml, when it exists]
    #[arg(long, short, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Run the daemon (the default)
    Run,
    /// Validate the configuration and print the effective result
    CheckConfig,
    /// Write MediaMTX's configuration (mediamtx.yml) from this one
    RenderMediamtx {
        /// Where to write it [default: mediamtx.config_out]; "-" prints it
        #[arg(long, value_name = "PATH")]
        out: Option<PathBuf>,
        /// Generate and keep the stream key when there is none yet (skycountd does on start)
        #[arg(long)]
        create_key: bool,
    },
    /// Write the hotspot's hostapd.conf, dnsmasq.conf, login banner and systemd-networkd .network
    /// file (generating the passphrase on first use when hotspot.passphrase is empty)
    RenderHotspot {
        /// Directory for hostapd.conf and dnsmasq.conf
        #[arg(long, value_name = "DIR", default_value = "/run/skycount-hotspot")]
        out_dir: PathBuf,
        /// Directory for the .network file ("none" to skip it)
        #[arg(long, value_name = "DIR", default_value = "/run/systemd/network")]
        network_dir: PathBuf,
    },
    /// Exit 0 when [hotspot] is enabled, 1 when not (for systemd's ExecCondition=)
    HotspotEnabled,
    /// After a boot: wait for skycountd to be healthy, then mark the running slot good; a freshly
    /// updated slot that is not healthy in time is marked bad and the command exits 1 (its unit
    /// reboots into the other slot). See docs/update.md.
    ConfirmBoot,
    /// Print the RTMP URL the pilot publishes to, key included
    PilotUrl {
        /// The box's address as the pilot's phone reaches it [default: the hotspot's]
        #[arg(long)]
        host: Option<String>,
    },
    /// Measure the count against annotated images (manifest.csv + gt_points.json) through the
    /// daemon's own analysis path; prints a Markdown table (or JSON lines with --json)
    Eval {
        /// manifest.csv files (columns file, gt_count; gt_points.json beside them)
        #[arg(required = true, value_name = "MANIFEST")]
        manifests: Vec<PathBuf>,
        /// default, scale:S, size:WxH or calibrated:N (repeat for several)
        #[arg(long = "mode", value_name = "MODE", default_value = "default")]
        modes: Vec<eval::Mode>,
        /// Calibration boxes replayed per image, for calibrated:N
        #[arg(long, default_value_t = 10)]
        boxes: usize,
        /// Seed of the boxes' placement
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Only images whose file name contains this (repeat for several)
        #[arg(long, value_name = "TEXT")]
        only: Vec<String>,
        /// Exit 1 when a mode's mean absolute relative error over all images is above this (%)
        #[arg(long, value_name = "PERCENT")]
        max_error: Option<f64>,
        /// JSON lines instead of Markdown
        #[arg(long)]
        json: bool,
        /// Also count at half and twice the default size and report how much the count moves
        #[arg(long)]
        consistency: bool,
        /// The model to use instead of model.path
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
        /// model.precision for this run: auto, fp32 or int8
        #[arg(long, value_name = "PRECISION")]
        precision: Option<Precision>,
        /// Analyse again with model.precision set to this (e.g. fp32) and report the drift
        #[arg(long, value_name = "PRECISION")]
        against: Option<Precision>,
        /// With --against: exit 1 when a set's mean drift is above this (%)
        #[arg(long, value_name = "PERCENT", requires = "against")]
        max_drift: Option<f64>,
        /// With --against: exit 1 when an image with >= 20 people drifts by more (%)
        #[arg(long, value_name = "PERCENT", requires = "against")]
        max_image_drift: Option<f64>,
        /// With --against: exit 1 when a set's error against the truth grows by more (points)
        #[arg(long, value_name = "POINTS", requires = "against")]
        max_error_increase: Option<f64>,
    },
    /// Analyse still images or a stream and print one JSON line per analysis
    Analyze {
        /// Images, or streams (rtmp://, rtsp://, file:// or video files): several streams are
        /// analysed at once, taking turns on the model (at most analysis.max_streams)
        #[arg(required = true, value_name = "IMAGE|URL")]
        inputs: Vec<String>,
        /// Scale still images to WIDTHxHEIGHT first (default: their own size)
        #[arg(long, value_name = "WxH", value_parser = parse_size)]
        size: Option<(u32, u32)>,
        /// Stop after this many analyses of each stream
        #[arg(long)]
        max: Option<u64>,
        /// The model to use instead of model.path
        #[arg(long, value_name = "PATH")]
        model: Option<PathBuf>,
    },
}

fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let (w, h) = s
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{s:?} is not a size: use WIDTHxHEIGHT, e.g. 640x360"))?;
    let parse = |v: &str| {
        v.trim()
            .parse::<u32>()
            .ok()
            .filter(|n| (8..=8192).contains(n))
            .ok_or_else(|| format!("{v:?} is not a size in pixels (8 to 8192)"))
    };
    Ok((parse(w)?, parse(h)?))
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let (settings, origin) = match config::load(cli.config.as_deref()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("skycountd: {e}");
            return ExitCode::from(2);
        }
    };
    service::init_logging(settings.log.level.as_str());
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("skycountd: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = match cli.command.unwrap_or(Command::Run) {
        Command::Run => {
            match &origin.file {
                Some(f) => log::info!("configuration from {}", f.display()),
                None => log::info!("no configuration file: using the built-in defaults"),
            }
            runtime.block_on(run::run(cli.config, settings))
        }
        Command::CheckConfig => {
            match &origin.file {
                Some(f) => println!("# {} is valid; the effective configuration:", f.display()),
                None => println!("# no configuration file; the built-in defaults:"),
            }
            print!("{}", settings.to_toml_redacted());
            Ok(())
        }
        Command::RenderMediamtx { out, create_key } => {
            render_mediamtx(&settings, &origin, out, create_key)
        }
        Command::RenderHotspot {
            out_dir,
            network_dir,
        } => {
            let network_dir = (network_dir.as_os_str() != "none").then_some(network_dir);
            render_hotspot(&settings, &origin, &out_dir, network_dir.as_deref())
        }
        Command::HotspotEnabled => {
            return if settings.hotspot.enabled {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
        }
        Command::PilotUrl { host } => pilot_url(&settings, host),
        Command::ConfirmBoot => {
            return match skycountd::update::confirm::run(&settings) {
                Ok(true) => ExitCode::SUCCESS,
                Ok(false) => ExitCode::from(1),
                Err(e) => {
                    eprintln!("skycountd: confirm-boot: {e:#}");
                    ExitCode::from(2)
                }
            };
        }
        Command::Eval {
            manifests,
            modes,
            boxes,
            seed,
            only,
            max_error,
            json,
            consistency,
            model,
            precision,
            against,
            max_drift,
            max_image_drift,
            max_error_increase,
        } => {
            let mut settings = with_model(settings, model);
            if let Some(p) = precision {
                settings.model.precision = p;
            }
            let opts = eval::EvalOptions {
                manifests,
                modes,
                boxes,
                seed,
                only,
                max_error,
                json,
                consistency,
                against,
                limits: eval::DriftLimits {
                    mean: max_drift,
                    image: max_image_drift,
                    error_increase: max_error_increase,
                },
            };
            eval::run(&settings, &opts).map(|_| ())
        }
        Command::Analyze {
            inputs,
            size,
            max,
            model,
        } => {
            let settings = with_model(settings, model);
            run_analyze(&runtime, &settings, &inputs, size, max)
        }
    };
    // A thread wedged in a call that never returns (the engine leaves it behind at shutdown)
    // must not hold the process open: do not wait for blocking tasks joining it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skycountd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The settings with `--model` in place of `model.path`, when given.
fn with_model(mut settings: config::Settings, model: Option<PathBuf>) -> config::Settings {
    if let Some(m) = model {
        settings.model.path = m;
    }
    settings
}

fn origin_name(origin: &config::Origin) -> String {
    match &origin.file {
        Some(f) => f.display().to_string(),
        None => "the built-in defaults".into(),
    }
}

fn render_mediamtx(
    settings: &config::Settings,
    origin: &config::Origin,
    out: Option<PathBuf>,
    create_key: bool,
) -> anyhow::Result<()> {
    let key = mediamtx::key::resolve(&settings.stream, create_key).map_err(anyhow::Error::msg)?;
    let hosts = mediamtx::render::webrtc_hosts(settings, &mediamtx::render::interface_addresses());
    let yaml = mediamtx::render::render(settings, &key, &hosts, &origin_name(origin));
    let out = out.unwrap_or_else(|| settings.mediamtx.config_out.clone());
    if out.as_os_str() == "-" {
        print!("{yaml}");
        return Ok(());
    }
    // It holds credentials (hashed): for MediaMTX's user and group only.
    hotspot::write_file(&out, &yaml, 0o640).map_err(anyhow::Error::msg)?;
    eprintln!(
        "skycountd: wrote {} (MediaMTX {}; WebRTC hosts: {})",
        out.display(),
        mediamtx::PINNED_VERSION,
        if hosts.is_empty() {
            "interfaces only".to_string()
        } else {
            hosts.join(", ")
        }
    );
    Ok(())
}

fn render_hotspot(
    settings: &config::Settings,
    origin: &config::Origin,
    out_dir: &std::path::Path,
    network_dir: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    if !settings.hotspot.enabled {
        eprintln!(
            "skycountd: [hotspot] is not enabled in {}: nothing rendered",
            origin_name(origin)
        );
        return Ok(());
    }
    let h = &settings.hotspot;
    let files = hotspot::render_all(
        h,
        &origin_name(origin),
        settings.server.listen.port(),
        out_dir,
        network_dir,
    )
    .map_err(anyhow::Error::msg)?;
    for f in files {
        eprintln!("skycountd: wrote {}", f.display());
    }
    // The name, and where the passphrase is, for the journal; the passphrase itself only in the
    // root-only files (and the console's banner).
    eprintln!(
        "skycountd: hotspot {:?} on {}, passphrase {}",
        h.ssid,
        h.interface,
        if h.passphrase.is_empty() {
            format!("kept in {}", h.passphrase_file.display())
        } else {
            "from hotspot.passphrase".to_string()
        }
    );
    Ok(())
}

fn pilot_url(settings: &config::Settings, host: Option<String>) -> anyhow::Result<()> {
    let key = mediamtx::key::resolve(&settings.stream, false).map_err(anyhow::Error::msg)?;
    let host = host
        .or_else(|| {
            settings
                .hotspot
                .enabled
                .then(|| settings.hotspot.box_addr().to_string())
        })
        .unwrap_or_else(|| "<box address>".into());
    let access = skycountd::publish::server::StreamAccess::from_settings(settings, Ok(key));
    println!(
        "{}",
        // Whoever can run this on the box may read the key file: the operator's view.
        skycountd::publish::server::stream_info(&access, &host, true)
            .rtmp_url
            .unwrap_or_default()
    );
    Ok(())
}

fn run_analyze(
    runtime: &tokio::runtime::Runtime,
    settings: &config::Settings,
    inputs: &[String],
    size: Option<(u32, u32)>,
    max: Option<u64>,
) -> anyhow::Result<()> {
    let classified = inputs
        .iter()
        .map(|i| analyze::Input::classify(i))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut images = Vec::new();
    let mut streams = Vec::new();
    for input in classified {
        match input {
            analyze::Input::Image(p) => images.push(p),
            analyze::Input::Stream(u) => streams.push(u),
        }
    }
    if !images.is_empty() {
        analyze::images(settings, &images, size)?;
    }
    if !streams.is_empty() {
        runtime.block_on(analyze::streams(settings, &streams, max))?;
    }
    Ok(())
}
