//! Decode: keeps a GStreamer pipeline attached to the source and feeds the newest frame to the
//! model.
//!
//! The supervisor runs on its own thread. It attaches a pipeline ([`pipeline`]), watches what it
//! says and the time since the last frame, and, when the stream fails, ends or stalls for too
//! long, tears it down and attaches again after a capped backoff. It never gives up and never
//! takes the daemon down: a drone that lands and takes off again is the normal case.
//!
//! Every decoded frame goes into the [`LatestFrame`] slot; one that replaces a frame the model did
//! not take is counted as skipped.

pub mod pipeline;
pub mod select;

use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::config::SourceSettings;
use crate::publish::hub::{unix_ms, Hub, StreamReport};
use crate::sample::{LatestFrame, Put};
use crate::source::{Backoff, SourceUrl, StreamState, StreamTracker, Verdict};
use pipeline::{AttachOptions, Event};

/// How often the supervisor looks at the clock when GStreamer is quiet.
const TICK: Duration = Duration::from_millis(100);

/// Everything the supervisor needs; replaced as a whole on reload.
#[derive(Debug, Clone)]
pub struct DecodeOptions {
    pub source: SourceSettings,
    pub decoder: String,
    pub width: u32,
    pub height: u32,
    /// Stop at the end of a file instead of looping (the `analyze` command).
    pub stop_at_end: bool,
}

/// Messages to a running supervisor.
pub enum Control {
    /// Attach again with these options.
    Reload(DecodeOptions),
    Stop,
}

/// Initialises GStreamer once, with a clear error when it cannot.
pub fn init() -> Result<(), String> {
    gstreamer::init().map_err(|e| format!("GStreamer cannot start: {e}"))
}

/// Where the pipeline puts each decoded frame: the one-frame slot, counting frames decoded and
/// frames replaced before the model took them (skipped). Demo frames are marked as such.
fn counting_sink(slot: &Arc<LatestFrame>, hub: &Arc<Hub>, demo: bool) -> pipeline::FrameSink {
    let (slot, hub) = (slot.clone(), hub.clone());
    Arc::new(move |mut frame: crate::sample::Frame| {
        frame.demo = demo;
        hub.metrics.frames_decoded.inc();
        if slot.put(frame) == Put::ReplacedUnanalysed {
            hub.metrics.frames_skipped.inc();
        }
    })
}

/// Runs until told to stop (or, with `stop_at_end`, until a file ends).
pub fn supervise(
    mut opts: DecodeOptions,
    slot: Arc<LatestFrame>,
    hub: Arc<Hub>,
    control: Receiver<Control>,
) {
    let mut excluded: Vec<String> = Vec::new();
    'reload: loop {
        let url = match opts
            .source
            .url
            .url()
            .cloned()
            .ok_or("source.url is auto: unresolved")
        {
            Ok(u) => u,
            Err(e) => {
                // Config validation refuses this; a reload may still bring it.
                log::error!("{e}");
                match control.recv() {
                    Ok(Control::Reload(o)) => {
                        opts = o;
                        continue 'reload;
                    }
                    _ => return,
                }
            }
        };
        let ms = Duration::from_millis;
        let mut tracker = StreamTracker::new(
            Instant::now(),
            ms(opts.source.stall_ms),
            ms(opts.source.reconnect_after_ms),
        );
        let mut backoff = Backoff::new(
            ms(opts.source.backoff_initial_ms),
            ms(opts.source.backoff_max_ms),
        );
        let mut decoding: Option<(String, String)> = None;
        let mut demo = Demo::new(&opts);
        let report = |tracker: &StreamTracker, decoding: &Option<(String, String)>, demo: &Demo| {
            hub.set_stream(StreamReport {
                demo: demo.running(),
                state: tracker.state(),
                state_since_ms: unix_ms(
                    SystemTime::now() - Instant::now().saturating_duration_since(tracker.since()),
                ),
                error: tracker.error().map(str::to_owned),
                source: url.redacted(),
                decoder: decoding.as_ref().map(|d| d.0.clone()),
                codec: decoding.as_ref().map(|d| d.1.clone()),
            })
        };
        report(&tracker, &decoding, &demo);
        log::info!("reading {url}");

        loop {
            // Attach.
            tracker.attaching(Instant::now());
            let sink = counting_sink(&slot, &hub, false);
            let attach_opts = AttachOptions {
                width: opts.width,
                height: opts.height,
                decoder: opts.decoder.clone(),
                excluded: excluded.clone(),
                rtsp_latency_ms: opts.source.rtsp_latency_ms,
            };
            let mut seen_frames = 0;
            match pipeline::attach(&url, &attach_opts, sink) {
                Err(e) => {
                    tracker.failed(Instant::now(), e.to_string());
                    report(&tracker, &decoding, &demo);
                }
                Ok(p) => loop {
                    let event = p.next_event(TICK);
                    let now = Instant::now();
                    let frames = p.frames();
                    if frames != seen_frames {
                        seen_frames = frames;
                        tracker.frame(now);
                        backoff.reset();
                    }
                    let mut leave = false;
                    match event {
                        Some(Event::Decoding {
                            codec,
                            decoder,
                            hardware,
                        }) => {
                            log::info!(
                                "decoding {codec} with {decoder} ({})",
                                if hardware { "hardware" } else { "software" }
                            );
                            decoding = Some((decoder, codec.to_string()));
                        }
                        Some(Event::Unsupported(why)) => {
                            tracker.failed(now, why);
                            leave = true;
                        }
                        Some(Event::Error { message, element }) => {
                            // A hardware decoder that fails is not tried again in this run.
                            if let (Some(el), Some((dec, _))) = (&element, &decoding) {
                                if el.starts_with(dec.as_str())
                                    && opts.decoder == "auto"
                                    && !dec.starts_with("avdec_")
                                {
                                    log::warn!(
                                        "decoder {dec} failed ({message}); trying the next one"
                                    );
                                    excluded.push(dec.clone());
                                }
                            }
                            let hint = match url {
                                SourceUrl::File(_) => {
                                    " (is it a video recording, MP4/MKV/FLV/TS with H.264 or H.265?)"
                                }
                                _ => "",
                            };
                            tracker.failed(now, format!("{url}: {message}{hint}"));
                            leave = true;
                        }
                        Some(Event::Eos) => match &url {
                            SourceUrl::File(_) if opts.stop_at_end => {
                                log::info!("{url} ended");
                                return;
                            }
                            SourceUrl::File(_) if opts.source.loop_file && p.rewind() => {
                                log::debug!("{url} ended: starting again");
                            }
                            _ => {
                                tracker.failed(now, "the stream ended".to_string());
                                leave = true;
                            }
                        },
                        None => {}
                    }
                    if !leave && tracker.tick(now) == Verdict::Reattach {
                        leave = true;
                    }
                    // The media server saw a drone (re)appear: a reader still attached to its
                    // old session would wait for frames that never come (MediaMTX issue 5242).
                    if hub.take_reattach_request() && tracker.state() != StreamState::Live {
                        log::info!("the media server has a new publisher: attaching now");
                        backoff.reset();
                        leave = true;
                    }
                    demo.manage(&tracker, now, &slot, &hub);
                    report(&tracker, &decoding, &demo);
                    if leave {
                        break;
                    }
                    match control.try_recv() {
                        Ok(Control::Stop) | Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                            return
                        }
                        Ok(Control::Reload(o)) => {
                            opts = o;
                            continue 'reload;
                        }
                        Err(_) => {}
                    }
                },
            }
            report(&tracker, &decoding, &demo);
            if opts.stop_at_end && matches!(url, SourceUrl::File(_)) {
                // A file that fails will fail again: the `analyze` command stops here.
                log::error!(
                    "{}",
                    tracker.error().unwrap_or("the file could not be read")
                );
                return;
            }
            // Detached: the frame waiting in the slot belongs to a stream that is gone.
            slot.clear();
            hub.metrics.reattaches.inc();
            let wait = backoff.next_delay();
            log::debug!(
                "attaching to {url} again in {} ms ({})",
                wait.as_millis(),
                tracker.error().unwrap_or("no frames")
            );
            // Wait, but keep ticking so stalled becomes reconnecting on time.
            let until = Instant::now() + wait;
            loop {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                match control.recv_timeout(left.min(TICK)) {
                    Ok(Control::Stop) | Err(RecvTimeoutError::Disconnected) => return,
                    Ok(Control::Reload(o)) => {
                        opts = o;
                        continue 'reload;
                    }
                    Err(RecvTimeoutError::Timeout) => {
                        let now = Instant::now();
                        if hub.take_reattach_request() {
                            log::info!("the media server has a new publisher: attaching now");
                            backoff.reset();
                            break;
                        }
                        tracker.tick(now);
                        demo.manage(&tracker, now, &slot, &hub);
                        report(&tracker, &decoding, &demo);
                    }
                }
            }
        }
    }
}

/// The demo recording, analysed while the source gives no frames (when `source.demo_url` is
/// set). It stops the moment the source is live again.
struct Demo {
    url: Option<SourceUrl>,
    after: Duration,
    width: u32,
    height: u32,
    pipeline: Option<pipeline::Attached>,
    /// When the demo last failed, so that a broken recording is not retried at every tick.
    failed_at: Option<Instant>,
}

impl Demo {
    fn new(opts: &DecodeOptions) -> Self {
        let url = opts.source.demo_url.clone();
        Self {
            url,
            after: Duration::from_millis(opts.source.demo_after_ms),
            width: opts.width,
            height: opts.height,
            pipeline: None,
            failed_at: None,
        }
    }

    fn running(&self) -> bool {
        self.pipeline.is_some()
    }

    /// Starts, keeps, loops or stops the demo as the source's state asks.
    fn manage(
        &mut self,
        tracker: &StreamTracker,
        now: Instant,
        slot: &Arc<LatestFrame>,
        hub: &Arc<Hub>,
    ) {
        let Some(url) = &self.url else {
            return;
        };
        if tracker.state() == crate::source::StreamState::Live {
            if self.pipeline.take().is_some() {
                log::info!("the drone's stream is back: demo stopped");
                slot.clear();
            }
            return;
        }
        if let Some(p) = &self.pipeline {
            match p.next_event(Duration::ZERO) {
                Some(Event::Eos) if p.rewind() => {}
                Some(Event::Eos) | Some(Event::Error { .. }) | Some(Event::Unsupported(_)) => {
                    log::warn!("the demo recording {url} failed; trying it again in a minute");
                    self.pipeline = None;
                    self.failed_at = Some(now);
                }
                _ => {}
            }
            return;
        }
        let retry_ok = self
            .failed_at
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(60));
        if tracker.quiet_for(now) < self.after || !retry_ok {
            return;
        }
        let sink = counting_sink(slot, hub, true);
        let opts = AttachOptions {
            width: self.width,
            height: self.height,
            decoder: "auto".into(),
            excluded: Vec::new(),
            rtsp_latency_ms: 0,
        };
        match pipeline::attach(url, &opts, sink) {
            Ok(p) => {
                log::info!(
                    "no drone for {} s: analysing the demo recording {url}",
                    self.after.as_secs()
                );
                self.pipeline = Some(p);
            }
            Err(e) => {
                log::warn!("cannot play the demo recording: {e}");
                self.failed_at = Some(now);
            }
        }
    }
}
