//! Decode: keeps a pipeline attached to the source and feeds the newest frame to the model.
//!
//! The [`supervise`] loop runs on its own thread (the engine's "source" thread). It attaches a
//! pipeline through the [`Source`] seam, watches what the pipeline says and the time since its last
//! frame, and, when the stream fails, ends or stalls for too long, tears it down and attaches again
//! after a capped backoff. It never gives up and never takes the daemon down: a drone that lands
//! and takes off again is the normal case.
//!
//! ```text
//!        ┌──────────── attach (Source) ◀────────── backoff wait ◀─┐
//!        ▼                                                       │
//!   watch the pipeline: frames? events? the clock? ── fails, ends, stalls ──┘
//!        │ every frame
//!        ▼
//!   LatestFrame slot (newest wins)      Event::Stream / FrameDecoded / Reattaching ──▶ events
//! ```
//!
//! The state machine itself ([`crate::source::StreamTracker`]) is plain Rust; the GStreamer edge
//! is [`pipeline::GstSource`]. Tests drive this loop with a fake [`Source`].

pub mod pipeline;
pub mod select;

use std::sync::mpsc::{Receiver, RecvTimeoutError, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use crate::event::{Event, EventSink};
use crate::sample::{Frame, LatestFrame, Put, StreamId};
use crate::source::{Backoff, SourceUrl, StreamState, StreamTracker, Verdict};
use crate::wire::{unix_ms, StreamReport};
use select::Codec;

/// How often the supervisor looks at the clock when the pipeline is quiet.
const TICK: Duration = Duration::from_millis(100);

/// How long a file may take to deliver its first frame before it counts as stalled.
const FILE_START: Duration = Duration::from_secs(30);

/// How long a broken demo recording rests before it is tried again.
const DEMO_RETRY: Duration = Duration::from_secs(60);

/// Everything the supervisor needs; replaced as a whole on reload.
#[derive(Debug, Clone, PartialEq)]
pub struct DecodeOptions {
    /// The effective source (`auto` already resolved).
    pub url: SourceUrl,
    /// Analysed while the source gives no frames.
    pub demo: Option<SourceUrl>,
    /// How long the source must be quiet before the demo starts.
    pub demo_after: Duration,
    pub stall: Duration,
    pub reconnect_after: Duration,
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
    /// Start a file again at its end (a recorded flight as a stand-in for a live stream).
    pub loop_file: bool,
    pub rtsp_latency_ms: u32,
    /// `decode.decoder`: "auto" or an element name.
    pub decoder: String,
    /// Stop at the end of a file instead of looping (the `analyze` command).
    pub stop_at_end: bool,
}

/// What the pipeline needs to know to attach.
#[derive(Debug, Clone)]
pub struct AttachOptions {
    /// Frames at this size; `None`: the stream's own (what the engine asks for, so that the
    /// analysis can choose any size and the operator freezes full-resolution frames).
    pub size: Option<(u32, u32)>,
    /// `decode.decoder`: "auto" or an element name.
    pub decoder: String,
    /// Decoders that failed earlier in this run.
    pub excluded: Vec<String>,
    pub rtsp_latency_ms: u32,
}

/// What an attached pipeline tells the supervisor, besides frames.
#[derive(Debug, Clone, PartialEq)]
pub enum PipelineEvent {
    /// The video track was found and its decoder chosen.
    Decoding {
        codec: Codec,
        decoder: String,
        hardware: bool,
    },
    /// The stream cannot be decoded: the message says why, in the viewer's words.
    Unsupported(String),
    /// The pipeline reported an error: the message, and the element it came from.
    Error {
        message: String,
        element: Option<String>,
    },
    /// The source ended.
    Eos,
}

#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error("GStreamer element {0} is missing: install the GStreamer plugins listed in the README (scripts/debian-packages.txt)")]
    MissingElement(&'static str),
    #[error("cannot start reading {url}: {reason}")]
    Start { url: String, reason: String },
}

/// Receives every decoded frame, on the pipeline's streaming thread.
pub type FrameSink = Arc<dyn Fn(Frame) + Send + Sync>;

/// The seam between the supervisor and the media framework: attaches pipelines.
pub trait Source {
    fn attach(
        &mut self,
        url: &SourceUrl,
        opts: &AttachOptions,
        sink: FrameSink,
    ) -> Result<Box<dyn Attached>, AttachError>;
}

/// A running pipeline. Dropping it stops it.
pub trait Attached {
    /// Frames delivered since this pipeline started.
    fn frames(&self) -> u64;
    /// Waits up to `timeout` for the next thing the pipeline has to say.
    fn next_event(&self, timeout: Duration) -> Option<PipelineEvent>;
    /// Starts a file source again from its beginning; false when it cannot.
    fn rewind(&self) -> bool;
}

/// Messages to a running supervisor.
#[derive(Debug)]
pub enum Control {
    /// Attach again with these options.
    Reload(DecodeOptions),
    /// A drone (re)appeared on the media server: attach now unless frames are flowing.
    Reattach,
}

/// What the supervisor shares with the engine around it.
pub struct Stage {
    /// Which stream this is: every event says it.
    pub stream: StreamId,
    pub slot: Arc<LatestFrame>,
    pub events: EventSink,
    pub control: Receiver<Control>,
    pub cancel: CancellationToken,
    /// Called at every turn of the loop: the engine's proof that this thread is not stuck.
    pub heartbeat: Box<dyn Fn() + Send>,
}

/// Why a run of the loop ended.
enum Exit {
    Stop,
    Reload(DecodeOptions),
}

/// Runs until cancelled (or, with `stop_at_end`, until a file ends or fails).
pub fn supervise(source: &mut dyn Source, mut opts: DecodeOptions, stage: &Stage) {
    let mut excluded = Vec::new();
    loop {
        let mut run = Run::new(&opts, stage);
        match run.go(source, &mut excluded) {
            Exit::Stop => return,
            Exit::Reload(o) => {
                log::info!("source settings changed: attaching again");
                opts = o;
            }
        }
    }
}

/// The decoder and codec of the pipeline in use.
#[derive(Debug, Clone, PartialEq)]
struct Decoding {
    decoder: String,
    codec: Codec,
}

/// One configuration's life: attach, watch, wait, attach again.
struct Run<'a> {
    opts: &'a DecodeOptions,
    stage: &'a Stage,
    tracker: StreamTracker,
    backoff: Backoff,
    decoding: Option<Decoding>,
    demo: Demo,
    /// The last report sent, and the wall-clock time of its state's start.
    reported: Option<StreamReport>,
    since: (Instant, u64),
}

impl<'a> Run<'a> {
    fn new(opts: &'a DecodeOptions, stage: &'a Stage) -> Self {
        let now = Instant::now();
        Self {
            opts,
            stage,
            tracker: StreamTracker::new(now, opts.stall, opts.reconnect_after),
            backoff: Backoff::new(opts.backoff_initial, opts.backoff_max),
            decoding: None,
            demo: Demo::new(opts),
            reported: None,
            since: (now, unix_ms(SystemTime::now())),
        }
    }

    /// Tells the listeners about the stream when anything about it changed.
    fn report(&mut self) {
        if self.tracker.since() != self.since.0 {
            let ago = Instant::now().saturating_duration_since(self.tracker.since());
            self.since = (self.tracker.since(), unix_ms(SystemTime::now() - ago));
        }
        let report = StreamReport {
            demo: self.demo.running(),
            state: self.tracker.state(),
            state_since_ms: self.since.1,
            error: self.tracker.error().map(str::to_owned),
            source: self.opts.url.redacted(),
            decoder: self.decoding.as_ref().map(|d| d.decoder.clone()),
            codec: self.decoding.as_ref().map(|d| d.codec.to_string()),
        };
        if self.reported.as_ref() != Some(&report) {
            self.reported = Some(report.clone());
            self.stage.events.emit(Event::Stream {
                stream: self.stage.stream.clone(),
                report,
            });
        }
    }

    /// At every tick: the demo follows the stream's state, and the listeners hear of changes.
    fn keep_up(&mut self, now: Instant, source: &mut dyn Source) {
        self.demo.manage(
            &self.tracker,
            now,
            source,
            &self.stage.slot,
            &self.stage.events,
        );
        self.report();
    }

    /// What the control channel and the cancellation token say, without waiting.
    fn poll_control(&self) -> Option<Exit> {
        if self.stage.cancel.is_cancelled() {
            return Some(Exit::Stop);
        }
        match self.stage.control.try_recv() {
            Ok(Control::Reload(o)) => Some(Exit::Reload(o)),
            Ok(Control::Reattach) => {
                // Attaching again while frames flow would only lose frames.
                None
            }
            Err(TryRecvError::Empty) => None,
            Err(TryRecvError::Disconnected) => Some(Exit::Stop),
        }
    }

    fn go(&mut self, source: &mut dyn Source, excluded: &mut Vec<String>) -> Exit {
        let url = self.opts.url.clone();
        self.report();
        log::info!("reading {url}");
        loop {
            (self.stage.heartbeat)();
            if let Some(exit) = self.poll_control() {
                return exit;
            }
            // What the previous stream was decoded with says nothing about the next one.
            self.decoding = None;
            let attach_opts = AttachOptions {
                size: None,
                decoder: self.opts.decoder.clone(),
                excluded: excluded.clone(),
                rtsp_latency_ms: self.opts.rtsp_latency_ms,
            };
            let sink = counting_sink(&self.stage.slot, &self.stage.events, false);
            match source.attach(&url, &attach_opts, sink) {
                Err(e) => {
                    self.tracker.failed(Instant::now(), e.to_string());
                }
                Ok(pipeline) => {
                    // The pipeline's time to deliver starts now: starting it can take seconds
                    // on a loaded machine (plugins loading), which must not count as silence.
                    self.tracker.attaching(Instant::now());
                    if let Some(exit) = self.watch(source, &*pipeline, excluded) {
                        return exit;
                    }
                }
            }
            self.report();
            if self.opts.stop_at_end && matches!(url, SourceUrl::File(_)) {
                // A file that fails will fail again: the `analyze` command stops here.
                log::error!(
                    "{}",
                    self.tracker.error().unwrap_or("the file could not be read")
                );
                return Exit::Stop;
            }
            // Detached: the frame waiting in the slot belongs to a stream that is gone.
            self.stage.slot.clear();
            self.stage.events.emit(Event::Reattaching {
                stream: self.stage.stream.clone(),
            });
            if let Some(exit) = self.wait_backoff(source) {
                return exit;
            }
        }
    }

    /// Watches an attached pipeline until it must be replaced (`None`) or the run ends.
    fn watch(
        &mut self,
        source: &mut dyn Source,
        pipeline: &dyn Attached,
        excluded: &mut Vec<String>,
    ) -> Option<Exit> {
        let url = &self.opts.url;
        let mut seen_frames = 0;
        let started = Instant::now();
        loop {
            (self.stage.heartbeat)();
            let event = pipeline.next_event(TICK);
            let now = Instant::now();
            let frames = pipeline.frames();
            if frames != seen_frames {
                seen_frames = frames;
                self.tracker.frame(now);
                self.backoff.reset();
            }
            let mut leave = false;
            match event {
                Some(PipelineEvent::Decoding {
                    codec,
                    decoder,
                    hardware,
                }) => {
                    log::info!(
                        "decoding {codec} with {decoder} ({})",
                        if hardware { "hardware" } else { "software" }
                    );
                    self.decoding = Some(Decoding { decoder, codec });
                }
                Some(PipelineEvent::Unsupported(why)) => {
                    self.tracker.failed(now, why);
                    leave = true;
                }
                Some(PipelineEvent::Error { message, element }) => {
                    // A hardware decoder that fails is not tried again in this run.
                    if let (Some(el), Some(d)) = (&element, &self.decoding) {
                        if el.starts_with(d.decoder.as_str())
                            && self.opts.decoder == "auto"
                            && !d.decoder.starts_with("avdec_")
                        {
                            log::warn!(
                                "decoder {} failed ({message}); trying the next one",
                                d.decoder
                            );
                            excluded.push(d.decoder.clone());
                        }
                    }
                    let hint = match url {
                        SourceUrl::File(_) => {
                            " (is it a video recording, MP4/MKV/FLV/TS with H.264 or H.265?)"
                        }
                        _ => "",
                    };
                    self.tracker.failed(now, format!("{url}: {message}{hint}"));
                    leave = true;
                }
                Some(PipelineEvent::Eos) => match url {
                    SourceUrl::File(_) if self.opts.stop_at_end => {
                        log::info!("{url} ended");
                        return Some(Exit::Stop);
                    }
                    SourceUrl::File(_) if self.opts.loop_file && pipeline.rewind() => {
                        log::debug!("{url} ended: starting again");
                    }
                    _ => {
                        self.tracker.failed(now, "the stream ended");
                        leave = true;
                    }
                },
                None => {}
            }
            if !leave && self.tracker.tick(now) == Verdict::Reattach {
                // A file that has not delivered yet is starting, not stalled: a loaded machine can
                // take seconds to load the plugins and preroll it. Its errors and its end still
                // end it at once.
                let starting = matches!(url, SourceUrl::File(_))
                    && seen_frames == 0
                    && now.saturating_duration_since(started) < FILE_START;
                leave = !starting;
            }
            self.keep_up(now, source);
            if leave {
                return None;
            }
            if self.stage.cancel.is_cancelled() {
                return Some(Exit::Stop);
            }
            match self.stage.control.try_recv() {
                Ok(Control::Reload(o)) => return Some(Exit::Reload(o)),
                Ok(Control::Reattach) if self.tracker.state() != StreamState::Live => {
                    // The media server saw a drone (re)appear: a reader still attached to its
                    // old session would wait for frames that never come (MediaMTX issue 5242).
                    log::info!("the media server has a new publisher: attaching now");
                    self.backoff.reset();
                    return None;
                }
                Ok(Control::Reattach) | Err(TryRecvError::Empty) => {}
                Err(TryRecvError::Disconnected) => return Some(Exit::Stop),
            }
        }
    }

    /// Waits out the backoff, ticking so that stalled becomes reconnecting on time. `None` when
    /// it is time to attach again.
    fn wait_backoff(&mut self, source: &mut dyn Source) -> Option<Exit> {
        let wait = self.backoff.next_delay();
        log::debug!(
            "attaching to {} again in {} ms ({})",
            self.opts.url,
            wait.as_millis(),
            self.tracker.error().unwrap_or("no frames")
        );
        let until = Instant::now() + wait;
        loop {
            (self.stage.heartbeat)();
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            if self.stage.cancel.is_cancelled() {
                return Some(Exit::Stop);
            }
            match self.stage.control.recv_timeout(left.min(TICK)) {
                Err(RecvTimeoutError::Disconnected) => return Some(Exit::Stop),
                Ok(Control::Reload(o)) => return Some(Exit::Reload(o)),
                Ok(Control::Reattach) => {
                    log::info!("the media server has a new publisher: attaching now");
                    self.backoff.reset();
                    return None;
                }
                Err(RecvTimeoutError::Timeout) => {
                    let now = Instant::now();
                    self.tracker.tick(now);
                    self.keep_up(now, source);
                }
            }
        }
    }
}

/// Where a pipeline puts each decoded frame: the one-frame slot. Each frame is announced, and
/// whether it replaced one the model never took (skipped). Demo frames are marked as such.
fn counting_sink(slot: &Arc<LatestFrame>, events: &EventSink, demo: bool) -> FrameSink {
    let (slot, events) = (slot.clone(), events.clone());
    Arc::new(move |mut frame: Frame| {
        frame.demo = demo;
        let put = slot.put(frame);
        if put != Put::Gone {
            events.emit(Event::FrameDecoded {
                stream: slot.stream(),
                replaced: put == Put::ReplacedUnanalysed,
            });
        }
    })
}

/// The demo recording, analysed while the source gives no frames (when `source.demo_url` is
/// set). It stops the moment the source is live again.
struct Demo {
    url: Option<SourceUrl>,
    after: Duration,
    pipeline: Option<Box<dyn Attached>>,
    /// When the demo last failed, so that a broken recording is not retried at every tick.
    failed_at: Option<Instant>,
}

impl Demo {
    fn new(opts: &DecodeOptions) -> Self {
        Self {
            url: opts.demo.clone(),
            after: opts.demo_after,
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
        source: &mut dyn Source,
        slot: &Arc<LatestFrame>,
        events: &EventSink,
    ) {
        let Some(url) = &self.url else {
            return;
        };
        if tracker.state() == StreamState::Live {
            if self.pipeline.take().is_some() {
                log::info!("the drone's stream is back: demo stopped");
                slot.clear();
            }
            return;
        }
        if let Some(p) = &self.pipeline {
            match p.next_event(Duration::ZERO) {
                Some(PipelineEvent::Eos) if p.rewind() => {}
                Some(PipelineEvent::Eos)
                | Some(PipelineEvent::Error { .. })
                | Some(PipelineEvent::Unsupported(_)) => {
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
            .is_none_or(|t| now.saturating_duration_since(t) >= DEMO_RETRY);
        if tracker.quiet_for(now) < self.after || !retry_ok {
            return;
        }
        let opts = AttachOptions {
            size: None,
            decoder: "auto".into(),
            excluded: Vec::new(),
            rtsp_latency_ms: 0,
        };
        match source.attach(url, &opts, counting_sink(slot, events, true)) {
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

#[cfg(test)]
mod tests {
    //! The supervisor driven by a fake source: scripted pipelines that deliver frames, fail, end
    //! or say nothing, on real (short) time.

    use std::collections::VecDeque;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::{mpsc, Mutex};

    use super::*;

    /// What one attached fake pipeline does.
    #[derive(Clone)]
    enum Script {
        /// Delivers a frame at every `next_event`, forever.
        Frames,
        /// Delivers `n` frames, then says nothing.
        FramesThenSilence(u64),
        /// Delivers `n` frames, then fails with this message.
        FramesThenError(u64, &'static str),
        /// Delivers `n` frames, then ends.
        FramesThenEos(u64),
        /// The video is not something the decoder takes.
        Unsupported,
        /// Nothing for this long after attaching, then frames forever.
        SilentThenFrames(Duration),
    }

    struct FakePipeline {
        script: Script,
        since: Instant,
        sink: FrameSink,
        frames: AtomicU64,
        said_decoding: std::sync::atomic::AtomicBool,
    }

    impl Attached for FakePipeline {
        fn frames(&self) -> u64 {
            self.frames.load(Ordering::Relaxed)
        }

        fn next_event(&self, timeout: Duration) -> Option<PipelineEvent> {
            std::thread::sleep(timeout.min(Duration::from_millis(5)));
            if !self.said_decoding.swap(true, Ordering::Relaxed) {
                if matches!(self.script, Script::Unsupported) {
                    return Some(PipelineEvent::Unsupported("not H.264".into()));
                }
                return Some(PipelineEvent::Decoding {
                    codec: Codec::H264,
                    decoder: "fakedec".into(),
                    hardware: false,
                });
            }
            let n = self.frames();
            let limit = match self.script {
                Script::Frames => u64::MAX,
                Script::SilentThenFrames(d) if self.since.elapsed() < d => 0,
                Script::SilentThenFrames(_) => u64::MAX,
                Script::FramesThenSilence(n)
                | Script::FramesThenError(n, _)
                | Script::FramesThenEos(n) => n,
                Script::Unsupported => 0,
            };
            if n < limit {
                self.frames.fetch_add(1, Ordering::Relaxed);
                (self.sink)(Frame::packed(1, 1, vec![n as u8; 3]));
                return None;
            }
            match self.script {
                Script::FramesThenError(_, m) => Some(PipelineEvent::Error {
                    message: m.into(),
                    element: None,
                }),
                Script::FramesThenEos(_) => Some(PipelineEvent::Eos),
                _ => None,
            }
        }

        fn rewind(&self) -> bool {
            false
        }
    }

    /// Attaches the scripted pipelines in order; the last one is repeated. Records each attach.
    #[derive(Clone)]
    struct FakeSource {
        scripts: Arc<Mutex<VecDeque<Script>>>,
        attached: Arc<Mutex<Vec<(String, Instant)>>>,
        /// How long each attach takes (a loaded machine loading plugins).
        delay: Duration,
    }

    impl FakeSource {
        fn new(scripts: &[Script]) -> Self {
            Self {
                scripts: Arc::new(Mutex::new(scripts.iter().cloned().collect())),
                attached: Arc::default(),
                delay: Duration::ZERO,
            }
        }

        fn attaches(&self) -> usize {
            self.attached.lock().unwrap().len()
        }
    }

    impl Source for FakeSource {
        fn attach(
            &mut self,
            url: &SourceUrl,
            _opts: &AttachOptions,
            sink: FrameSink,
        ) -> Result<Box<dyn Attached>, AttachError> {
            std::thread::sleep(self.delay);
            self.attached
                .lock()
                .unwrap()
                .push((url.redacted(), Instant::now()));
            let mut scripts = self.scripts.lock().unwrap();
            let script = if scripts.len() > 1 {
                scripts.pop_front().unwrap()
            } else {
                scripts
                    .front()
                    .cloned()
                    .unwrap_or(Script::FramesThenSilence(0))
            };
            Ok(Box::new(FakePipeline {
                script,
                since: Instant::now(),
                sink,
                frames: AtomicU64::new(0),
                said_decoding: Default::default(),
            }))
        }
    }

    fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + limit;
        while Instant::now() < end {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        f()
    }

    fn options(url: &str) -> DecodeOptions {
        DecodeOptions {
            url: SourceUrl::parse(url).unwrap(),
            demo: None,
            demo_after: Duration::from_millis(300),
            stall: Duration::from_millis(150),
            reconnect_after: Duration::from_millis(300),
            backoff_initial: Duration::from_millis(20),
            backoff_max: Duration::from_millis(80),
            loop_file: false,
            rtsp_latency_ms: 0,
            decoder: "auto".into(),
            stop_at_end: false,
        }
    }

    struct Harness {
        events: crate::event::Events,
        control: mpsc::Sender<Control>,
        cancel: CancellationToken,
        thread: std::thread::JoinHandle<()>,
        slot: Arc<LatestFrame>,
    }

    fn start(source: FakeSource, opts: DecodeOptions) -> Harness {
        let (sink, events) = crate::event::channel();
        let (control, control_rx) = mpsc::channel();
        let cancel = CancellationToken::new();
        let slot = LatestFrame::new();
        let stage = Stage {
            stream: StreamId::new("default"),
            slot: slot.clone(),
            events: sink,
            control: control_rx,
            cancel: cancel.clone(),
            heartbeat: Box::new(|| {}),
        };
        let mut source = source;
        let thread = std::thread::spawn(move || supervise(&mut source, opts, &stage));
        Harness {
            events,
            control,
            cancel,
            thread,
            slot,
        }
    }

    impl Harness {
        /// Reads events until `until` says stop or `limit` passes; returns the stream reports.
        fn reports_until(
            &mut self,
            limit: Duration,
            mut until: impl FnMut(&StreamReport) -> bool,
        ) -> Vec<StreamReport> {
            let end = Instant::now() + limit;
            let mut seen = Vec::new();
            while Instant::now() < end {
                match self.events.try_recv() {
                    Ok(Event::Stream { report: r, .. }) => {
                        let done = until(&r);
                        seen.push(r);
                        if done {
                            return seen;
                        }
                    }
                    Ok(_) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(2)),
                }
            }
            panic!(
                "not seen within {limit:?}; reports: {:#?}",
                seen.iter()
                    .map(|r| (r.state, r.error.clone()))
                    .collect::<Vec<_>>()
            );
        }

        fn stop(self) {
            self.cancel.cancel();
            let started = Instant::now();
            self.thread.join().unwrap();
            assert!(started.elapsed() < Duration::from_secs(1), "stops promptly");
        }
    }

    #[test]
    fn frames_make_the_stream_live_and_fill_the_slot() {
        let source = FakeSource::new(&[Script::Frames]);
        let mut h = start(source.clone(), options("rtmp://box/live/drone"));
        let seen = h.reports_until(Duration::from_secs(5), |r| r.state == StreamState::Live);
        assert_eq!(seen[0].state, StreamState::Waiting);
        let live = seen.last().unwrap();
        assert_eq!(live.decoder.as_deref(), Some("fakedec"));
        assert_eq!(live.codec.as_deref(), Some("h264"));
        assert!(h.slot.take(Duration::from_secs(1)).is_some());
        assert_eq!(source.attaches(), 1);
        h.stop();
    }

    #[test]
    fn a_failing_stream_is_reported_and_attached_again_with_backoff() {
        let source = FakeSource::new(&[
            Script::FramesThenError(3, "connection reset"),
            Script::Frames,
        ]);
        let mut h = start(source.clone(), options("rtmp://box/live/drone"));
        h.reports_until(Duration::from_secs(5), |r| r.state == StreamState::Live);
        let seen = h.reports_until(Duration::from_secs(5), |r| {
            r.error
                .as_deref()
                .is_some_and(|e| e.contains("connection reset"))
        });
        assert_eq!(seen.last().unwrap().state, StreamState::Stalled);
        h.reports_until(Duration::from_secs(5), |r| {
            r.state == StreamState::Live && r.error.is_none()
        });
        assert_eq!(source.attaches(), 2, "attached again once");
        h.stop();
    }

    #[test]
    fn a_silent_pipeline_goes_stalled_then_reconnecting_and_is_replaced() {
        let source = FakeSource::new(&[Script::FramesThenSilence(2), Script::FramesThenSilence(0)]);
        let mut h = start(source.clone(), options("rtsp://box/live/drone"));
        h.reports_until(Duration::from_secs(5), |r| r.state == StreamState::Live);
        h.reports_until(Duration::from_secs(5), |r| r.state == StreamState::Stalled);
        let seen = h.reports_until(Duration::from_secs(5), |r| {
            r.state == StreamState::Reconnecting
        });
        assert!(seen
            .last()
            .unwrap()
            .error
            .as_deref()
            .unwrap()
            .contains("no frame for"));
        // The silent pipeline was replaced, and the next one (also silent) too, with backoff.
        let ok = eventually(Duration::from_secs(5), || source.attaches() >= 3);
        assert!(ok, "attaches: {}", source.attaches());
        h.stop();
    }

    #[test]
    fn an_unsupported_stream_says_why_and_the_decoder_is_forgotten() {
        let source = FakeSource::new(&[Script::FramesThenEos(2), Script::Unsupported]);
        let mut h = start(source, options("rtmp://box/live/drone"));
        h.reports_until(Duration::from_secs(5), |r| r.decoder.is_some());
        let seen = h.reports_until(Duration::from_secs(5), |r| {
            r.error.as_deref() == Some("not H.264")
        });
        assert_eq!(
            seen.last().unwrap().decoder,
            None,
            "the previous stream's decoder is not reported for this one"
        );
        h.stop();
    }

    #[test]
    fn a_reattach_request_skips_the_backoff_but_never_interrupts_live_frames() {
        let mut opts = options("rtsp://box/live/drone");
        opts.backoff_initial = Duration::from_secs(30);
        opts.backoff_max = Duration::from_secs(30);
        let source = FakeSource::new(&[Script::FramesThenError(1, "gone"), Script::Frames]);
        let mut h = start(source.clone(), opts);
        h.reports_until(Duration::from_secs(5), |r| r.error.is_some());
        // Waiting 30 s of backoff now; a new publisher cuts it short.
        h.control.send(Control::Reattach).unwrap();
        h.reports_until(Duration::from_secs(5), |r| {
            r.state == StreamState::Live && r.error.is_none()
        });
        assert_eq!(source.attaches(), 2);
        // Live: a request is ignored.
        h.control.send(Control::Reattach).unwrap();
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(source.attaches(), 2, "a live pipeline is kept");
        h.stop();
    }

    #[test]
    fn a_reload_attaches_the_new_source() {
        let source = FakeSource::new(&[Script::Frames]);
        let mut h = start(source.clone(), options("rtmp://old/live/drone"));
        h.reports_until(Duration::from_secs(5), |r| r.state == StreamState::Live);
        h.control
            .send(Control::Reload(options("rtmp://new/live/drone")))
            .unwrap();
        h.reports_until(Duration::from_secs(5), |r| {
            r.source == "rtmp://new/live/drone" && r.state == StreamState::Live
        });
        let attached = source.attached.lock().unwrap().clone();
        assert_eq!(attached.last().unwrap().0, "rtmp://new/live/drone");
        h.stop();
    }

    #[test]
    fn the_demo_stands_in_while_the_source_is_quiet_and_stops_when_it_is_back() {
        let mut opts = options("rtmp://box/live/drone");
        opts.demo = Some(SourceUrl::parse("file:///demo.mp4").unwrap());
        opts.demo_after = Duration::from_millis(100);
        // The drone: nothing at first, then frames from the fourth attach on.
        let mut scripts = vec![Script::FramesThenSilence(0); 3];
        scripts.push(Script::Frames);
        let source = FakeSource::new(&scripts);
        let mut h = start(source.clone(), opts);
        let seen = h.reports_until(Duration::from_secs(5), |r| r.demo);
        assert_eq!(seen.last().unwrap().state, StreamState::Waiting);
        let seen = h.reports_until(Duration::from_secs(10), |r| {
            r.state == StreamState::Live && !r.demo
        });
        assert!(!seen.last().unwrap().demo);
        assert!(source
            .attached
            .lock()
            .unwrap()
            .iter()
            .any(|(u, _)| u == "file:///demo.mp4"));
        h.stop();
    }

    #[test]
    fn a_slow_start_is_not_silence() {
        // Attaching takes longer than reconnect_after (300 ms): the pipeline still gets its chance.
        let mut source = FakeSource::new(&[Script::FramesThenEos(3)]);
        source.delay = Duration::from_millis(500);
        let mut opts = options("file:///flight.mp4");
        opts.stop_at_end = true;
        let mut h = start(source.clone(), opts);
        h.reports_until(Duration::from_secs(5), |r| r.state == StreamState::Live);
        h.thread.join().unwrap();
        assert_eq!(source.attaches(), 1, "not replaced for starting slowly");
        assert!(
            h.slot.take(Duration::ZERO).is_some(),
            "its frames reached the slot"
        );
    }

    #[test]
    fn a_file_slow_to_deliver_its_first_frame_is_waited_for() {
        // Silent for 4 polls of the fake (> reconnect_after 300 ms), then frames: not abandoned.
        let source = FakeSource::new(&[Script::SilentThenFrames(Duration::from_millis(600))]);
        let mut opts = options("file:///flight.mp4");
        opts.stop_at_end = true;
        let mut h = start(source.clone(), opts);
        h.reports_until(Duration::from_secs(5), |r| r.state == StreamState::Live);
        assert_eq!(source.attaches(), 1);
        h.stop();
    }

    #[test]
    fn a_file_that_ends_stops_the_analyze_command() {
        let mut opts = options("file:///flight.mp4");
        opts.stop_at_end = true;
        let source = FakeSource::new(&[Script::FramesThenEos(5)]);
        let h = start(source, opts);
        let started = Instant::now();
        h.thread.join().unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
