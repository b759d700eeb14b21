//! The `skycountd` command line. See the crate docs in `lib.rs` for how the pieces fit.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use skycountd::{analyze, config, daemon, service};

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
    /// Analyse still images or a stream and print one JSON line per analysis
    Analyze {
        /// Images, or one stream: rtmp://, rtsp://, file:// or a video file
        #[arg(required = true, value_name = "IMAGE|URL")]
        inputs: Vec<String>,
        /// Scale still images to WIDTHxHEIGHT first (default: their own size)
        #[arg(long, value_name = "WxH", value_parser = parse_size)]
        size: Option<(u32, u32)>,
        /// Stop a stream after this many analyses
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
    service::init_logging(&settings.log.level);
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
            runtime.block_on(daemon::run(cli.config, settings))
        }
        Command::CheckConfig => {
            match &origin.file {
                Some(f) => println!("# {} is valid; the effective configuration:", f.display()),
                None => println!("# no configuration file; the built-in defaults:"),
            }
            print!("{}", settings.to_toml());
            Ok(())
        }
        Command::Analyze {
            inputs,
            size,
            max,
            model,
        } => {
            let mut settings = settings;
            if let Some(m) = model {
                settings.model.path = m;
            }
            run_analyze(&runtime, &settings, &inputs, size, max)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("skycountd: {e:#}");
            ExitCode::FAILURE
        }
    }
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
    for url in streams {
        runtime.block_on(analyze::stream(settings, &url, max))?;
    }
    Ok(())
}
