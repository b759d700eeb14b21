//! The GStreamer edge: one pipeline attached to one source, handing RGB frames to a callback.
//!
//! ```text
//! rtmp2src | rtspsrc | filesrc ─▶ parsebin ─▶ queue ! <codec>parse ! <decoder> ! RGB ─▶ appsink
//!                                    └──▶ (audio, data) fakesink
//! ```
//!
//! `parsebin` finds the container and the codec; when its video pad appears the decoder is chosen
//! ([`super::select`]) and the decode branch is added. A video track that is neither H.264 nor
//! H.265 is reported as such instead of failing somewhere inside GStreamer, and so is a stream with
//! no video at all (audio alone, or motion JPEG over RTSP), naming what it carries. Everything about state,
//! retries and timing lives in the supervisor ([`super`]); this file only builds and reads the
//! pipeline.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use super::select::{self, Codec};
use super::{AttachError, AttachOptions, Attached, FrameSink, PipelineEvent as Event, Source};
use crate::sample::Frame;
use crate::source::SourceUrl;

/// The bus message posted when the first frame arrives.
const FIRST_FRAME: &str = "skycount-first-frame";

/// The GStreamer implementation of the supervisor's [`Source`] seam.
pub struct GstSource;

impl Source for GstSource {
    fn attach(
        &mut self,
        url: &SourceUrl,
        opts: &AttachOptions,
        sink: FrameSink,
    ) -> Result<Box<dyn Attached>, AttachError> {
        Ok(Box::new(attach(url, opts, sink)?))
    }
}

/// A running GStreamer pipeline. Dropping it stops it.
pub struct Pipeline {
    pipeline: gst::Pipeline,
    events: mpsc::Receiver<Event>,
    frames: Arc<AtomicU64>,
}

fn make(name: &'static str) -> Result<gst::Element, AttachError> {
    gst::ElementFactory::make(name)
        .build()
        .map_err(|_| AttachError::MissingElement(name))
}

/// Whether the registry has an element of this name.
pub fn element_exists(name: &str) -> bool {
    gst::ElementFactory::find(name).is_some()
}

/// Builds and starts a pipeline reading `url`; frames go to `sink`.
pub fn attach(
    url: &SourceUrl,
    opts: &AttachOptions,
    sink: FrameSink,
) -> Result<Pipeline, AttachError> {
    let pipeline = gst::Pipeline::with_name("skycount-source");
    let (tx, events) = mpsc::channel();
    let tx = Arc::new(Mutex::new(tx));
    let frames = Arc::new(AtomicU64::new(0));

    let parse = make("parsebin")?;
    let mut caps = gst_video::VideoCapsBuilder::new().format(gst_video::VideoFormat::Rgb);
    if let Some((w, h)) = opts.size {
        caps = caps.width(w as i32).height(h as i32);
    }
    let appsink = gst_app::AppSink::builder()
        .name("frames")
        .caps(&caps.build())
        .max_buffers(2)
        .drop(true)
        // Live sources are taken as fast as they arrive; a file is paced like the flight it records.
        .sync(!url.is_live())
        .build();
    pipeline
        .add_many([&parse, appsink.upcast_ref()])
        .map_err(|e| start_error(url, e))?;

    let source = match url {
        SourceUrl::Rtmp(u) => {
            let src = if element_exists("rtmp2src") {
                make("rtmp2src")?
            } else {
                make("rtmpsrc")?
            };
            src.set_property("location", u);
            src
        }
        SourceUrl::Rtsp(u) => {
            let src = make("rtspsrc")?;
            src.set_property("location", u);
            src.set_property("latency", opts.rtsp_latency_ms);
            // Interleaved over the RTSP connection: no UDP ports to open or lose (MediaMTX on the
            // box is configured for TCP only).
            src.set_property_from_str("protocols", "tcp");
            src
        }
        SourceUrl::File(p) => {
            let src = make("filesrc")?;
            src.set_property("location", p.to_string_lossy().as_ref());
            src
        }
    };
    pipeline.add(&source).map_err(|e| start_error(url, e))?;
    let tracks = Tracks::new(tx.clone());
    if matches!(url, SourceUrl::Rtsp(_)) {
        // rtspsrc has a pad per media: video goes to parsebin, the rest is dropped.
        let pipeline_weak = pipeline.downgrade();
        let parse_weak = parse.downgrade();
        let seen = tracks.clone();
        source.connect_pad_added(move |_, pad| {
            let (Some(pipeline), Some(parse)) = (pipeline_weak.upgrade(), parse_weak.upgrade())
            else {
                return;
            };
            let caps = pad.current_caps();
            let field = |name: &str| {
                caps.as_ref()
                    .and_then(|c| c.structure(0).and_then(|s| s.get::<String>(name).ok()))
                    .unwrap_or_default()
            };
            let (media, encoding) = (field("media"), field("encoding-name"));
            seen.add(&format!("{media} {encoding}"));
            let parse_sink = parse.static_pad("sink").expect("parsebin has a sink pad");
            if media == "video" && !parse_sink.is_linked() {
                seen.video();
                let _ = pad.link(&parse_sink);
            } else {
                discard(&pipeline, pad);
            }
        });
        // After the last media of the session: none was video.
        let seen = tracks.clone();
        source.connect_no_more_pads(move |_| seen.no_video_if_none());
    } else {
        source.link(&parse).map_err(|e| start_error(url, e))?;
        // A demuxer's pads, as it finds them: a live stream with audio and no video is told at
        // once (parsebin itself waits for the demuxer to give up on video, which flvdemux does
        // only after 6 s of audio, after the supervisor has given up on the silent pipeline).
        let seen = tracks.clone();
        pipeline.connect_deep_element_added(move |_, _, element| {
            let is_demuxer = element
                .factory()
                .is_some_and(|f| f.klass().contains("Demux"));
            if !is_demuxer {
                return;
            }
            let seen = seen.clone();
            element.connect_pad_added(move |_, pad| {
                let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
                let name = caps
                    .structure(0)
                    .map(|s| s.name().to_string())
                    .unwrap_or_default();
                seen.add(&name);
                if is_video_caps(&name) {
                    seen.video();
                } else {
                    seen.watch_other(pad);
                }
            });
        });
    }

    {
        let pipeline_weak = pipeline.downgrade();
        let appsink = appsink.clone();
        let opts = opts.clone();
        let tx = tx.clone();
        let tracks = tracks.clone();
        parse.connect_pad_added(move |_, pad| {
            let Some(pipeline) = pipeline_weak.upgrade() else {
                return;
            };
            let send = |e| {
                let _ = tx.lock().map(|t| t.send(e));
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let name = caps
                .structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            if !is_video_caps(&name) {
                // Without a demuxer (a bare subtitle or audio file) parsebin's pads are the
                // stream's only tracks: what they are, and their end, tell "no video".
                tracks.add(&name);
                tracks.watch_other(pad);
                discard(&pipeline, pad);
                return;
            }
            let Some(codec) = Codec::from_caps_name(&name) else {
                send(Event::Unsupported(format!(
                    "the video is {}, not H.264 or H.265: set the drone app's (or camera's) \
                     encoder to H.264",
                    video_name(&name)
                )));
                discard(&pipeline, pad);
                return;
            };
            if appsink.static_pad("sink").is_some_and(|p| p.is_linked()) {
                // A second video track: one is enough.
                discard(&pipeline, pad);
                return;
            }
            let plan = match select::choose(codec, &opts.decoder, &element_exists, &opts.excluded) {
                Ok(p) => p,
                Err(e) => {
                    send(Event::Unsupported(e.to_string()));
                    discard(&pipeline, pad);
                    return;
                }
            };
            let description = format!("queue max-size-buffers=8 ! {}", plan.description(opts.size));
            let set_up = |e: &dyn std::fmt::Display| {
                format!("cannot set up the decoder {}: {e}", plan.decoder)
            };
            let linked = gst::parse::bin_from_description(&description, true)
                .map_err(|e| set_up(&e))
                .and_then(|bin| {
                    pipeline.add(&bin).map_err(|e| set_up(&e))?;
                    bin.link(&appsink).map_err(|e| set_up(&e))?;
                    let sink = bin
                        .static_pad("sink")
                        .ok_or_else(|| set_up(&"the decode branch has no sink pad"))?;
                    pad.link(&sink)
                        .map_err(|e| refused_link(e, &caps, &plan.decoder))?;
                    bin.sync_state_with_parent().map_err(|e| set_up(&e))?;
                    Ok(())
                });
            match linked {
                Ok(()) => send(Event::Decoding {
                    codec,
                    decoder: plan.decoder.clone(),
                    hardware: plan.hardware,
                }),
                Err(e) => send(Event::Error {
                    message: e,
                    element: Some(plan.decoder.clone()),
                }),
            }
        });
    }
    {
        let tracks = tracks.clone();
        let appsink_weak = appsink.downgrade();
        parse.connect_no_more_pads(move |_| {
            let linked = appsink_weak
                .upgrade()
                .and_then(|a| a.static_pad("sink"))
                .is_some_and(|p| p.is_linked());
            if !linked {
                tracks.no_video_if_none();
            }
        });
    }

    {
        let frames = frames.clone();
        appsink.set_callbacks(
            gst_app::AppSinkCallbacks::builder()
                .new_sample(move |appsink| {
                    let sample = appsink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                    if let Some(frame) = to_frame(&sample) {
                        if frames.fetch_add(1, Ordering::Relaxed) == 0 {
                            // Wake the supervisor at once: the stream is live now, not at its next tick.
                            let _ = appsink.post_message(gst::message::Application::new(
                                gst::Structure::new_empty(FIRST_FRAME),
                            ));
                        }
                        sink(frame);
                    }
                    Ok(gst::FlowSuccess::Ok)
                })
                .build(),
        );
    }

    pipeline
        .set_state(gst::State::Playing)
        .map_err(|_| AttachError::Start {
            url: url.redacted(),
            reason: first_error(&pipeline).unwrap_or_else(|| "the pipeline did not start".into()),
        })?;
    Ok(Pipeline {
        pipeline,
        events,
        frames,
    })
}

/// Whether a pad with these caps carries pictures: video, or motion JPEG's `image/jpeg`.
fn is_video_caps(name: &str) -> bool {
    name.starts_with("video/") || name == "image/jpeg"
}

/// A video format by the name a person knows it by.
fn video_name(caps: &str) -> String {
    match caps {
        "image/jpeg" => "MJPEG (motion JPEG)".into(),
        "video/mpeg" => "MPEG-1/2/4 Part 2".into(),
        other => other.trim_start_matches("video/x-").to_string(),
    }
}

/// A track that is not video, by the name a person knows it by: "audio (AAC or MP3)",
/// "subtitles", or its media type when it is neither.
fn track_name(caps: &str) -> String {
    let caps = caps.trim();
    let audio = |codec: &str| match codec {
        "audio/mpeg" | "mpeg" => "audio (AAC or MP3)".to_string(),
        c => format!(
            "audio ({})",
            c.trim_start_matches("audio/x-").trim_start_matches("x-")
        ),
    };
    if caps.starts_with("audio/") {
        audio(caps)
    } else if let Some(codec) = caps.strip_prefix("audio ") {
        // rtspsrc's "media encoding-name"
        audio(codec)
    } else if caps.starts_with("text/")
        || caps.starts_with("subpicture/")
        || caps.starts_with("application/x-sub")
        || caps.contains("subtitle")
        || caps.contains("ssa")
    {
        "subtitles".to_string()
    } else {
        caps.trim_start_matches("application/x-").to_string()
    }
}

/// Why the decoder would not take a video pad, in words: the format the stream declared and the
/// decoder that refused it (GStreamer's own word for it is "Noformat").
fn refused_link(e: gst::PadLinkError, caps: &gst::Caps, decoder: &str) -> String {
    let s = caps.structure(0);
    let field = |name: &str| s.and_then(|s| s.get::<i32>(name).ok());
    let format = match (field("width"), field("height")) {
        (Some(w), Some(h)) => format!(
            "{} video of {w}x{h} pictures",
            video_name(s.map(|s| s.name().as_str()).unwrap_or_default())
        ),
        _ => format!(
            "{} video",
            video_name(s.map(|s| s.name().as_str()).unwrap_or_default())
        ),
    };
    match e {
        gst::PadLinkError::Noformat => format!(
            "the decoder {decoder} refuses this stream: it says it is {format}, which the \
             decoder cannot take (the recording may be damaged; the drone app's own H.264, 720p \
             to 4K, works)"
        ),
        other => format!("cannot set up the decoder {decoder} for {format}: {other:?}"),
    }
}

/// How much of another track (audio, subtitles), in the stream's own time, shows that no video is
/// coming: a drone app interleaves its video with its audio within a frame or two.
const OTHER_TRACKS_WITHOUT_VIDEO: gst::ClockTime = gst::ClockTime::from_mseconds(1500);

/// The tracks an attached stream turned out to have, to say what it is when it has no video.
#[derive(Clone)]
struct Tracks {
    inner: Arc<Mutex<TracksSeen>>,
    tx: Arc<Mutex<mpsc::Sender<Event>>>,
}

#[derive(Default)]
struct TracksSeen {
    names: Vec<String>,
    video: bool,
    /// The "no video" report was sent (once per pipeline).
    told: bool,
}

impl Tracks {
    fn new(tx: Arc<Mutex<mpsc::Sender<Event>>>) -> Self {
        Self {
            inner: Arc::default(),
            tx,
        }
    }

    fn add(&self, name: &str) {
        let mut t = self.inner.lock().expect("tracks lock");
        if t.names.len() < 8 && !t.names.iter().any(|n| n == name) {
            t.names.push(name.to_string());
        }
    }

    fn video(&self) {
        self.inner.lock().expect("tracks lock").video = true;
    }

    /// Reports the stream as unsupported, naming its tracks, unless a video track was found.
    fn no_video_if_none(&self) {
        let message = {
            let mut t = self.inner.lock().expect("tracks lock");
            if t.video || t.told {
                return;
            }
            t.told = true;
            let mut others: Vec<String> = Vec::new();
            for name in t.names.iter().map(|n| track_name(n)) {
                if !others.contains(&name) {
                    others.push(name);
                }
            }
            if others.is_empty() {
                "the stream has no video track: skycount counts people in the video; send \
                 H.264 video (turn the camera's video on in the drone app)"
                    .to_string()
            } else {
                format!(
                    "the stream has no video track, only {}: skycount counts people in the \
                     video; send H.264 video (turn the camera's video on in the drone app)",
                    others.join(" and ")
                )
            }
        };
        let _ = self.tx.lock().map(|t| t.send(Event::Unsupported(message)));
    }

    /// Watches a track that is not video (audio, subtitles, data): once it has carried
    /// [`OTHER_TRACKS_WITHOUT_VIDEO`] of its own time, or ended, and no video track has appeared, the
    /// stream is reported as having none.
    fn watch_other(&self, pad: &gst::Pad) {
        let tracks = self.clone();
        let first: Mutex<Option<gst::ClockTime>> = Mutex::new(None);
        let types = gst::PadProbeType::BUFFER | gst::PadProbeType::EVENT_DOWNSTREAM;
        pad.add_probe(types, move |_, info| {
            if let Some(gst::PadProbeData::Event(e)) = &info.data {
                if e.type_() == gst::EventType::Eos {
                    // A short recording without video ends before the time above.
                    tracks.no_video_if_none();
                    return gst::PadProbeReturn::Remove;
                }
                return gst::PadProbeReturn::Ok;
            }
            let Some(ts) = info.buffer().and_then(|b| b.dts_or_pts()) else {
                return gst::PadProbeReturn::Ok;
            };
            let start = *first.lock().expect("probe lock").get_or_insert(ts);
            if ts.saturating_sub(start) < OTHER_TRACKS_WITHOUT_VIDEO {
                return gst::PadProbeReturn::Ok;
            }
            tracks.no_video_if_none();
            gst::PadProbeReturn::Remove
        });
    }
}

fn start_error(url: &SourceUrl, e: impl std::fmt::Display) -> AttachError {
    AttachError::Start {
        url: url.redacted(),
        reason: e.to_string(),
    }
}

/// Sends a pad we do not use into a fakesink so that it does not stop the others.
fn discard(pipeline: &gst::Pipeline, pad: &gst::Pad) {
    let Ok(sink) = gst::ElementFactory::make("fakesink")
        .property("sync", false)
        .property("async", false)
        .build()
    else {
        return;
    };
    if pipeline.add(&sink).is_ok() {
        if let Some(sink_pad) = sink.static_pad("sink") {
            let _ = pad.link(&sink_pad);
        }
        let _ = sink.sync_state_with_parent();
    }
}

/// Wraps a decoded sample as a [`Frame`] without copying its pixels.
fn to_frame(sample: &gst::Sample) -> Option<Frame> {
    let info = gst_video::VideoInfo::from_caps(sample.caps()?).ok()?;
    let buffer = sample.buffer_owned()?;
    let pts_ms = buffer.pts().map(|t| t.mseconds());
    let mapped = buffer.into_mapped_buffer_readable().ok()?;
    Some(Frame {
        width: info.width(),
        height: info.height(),
        stride: info.stride()[0] as usize,
        pixels: Arc::new(mapped),
        pts_ms,
        decoded_at: Instant::now(),
        demo: false,
        // The lane the frame is put in says whose it is.
        stream: crate::sample::StreamId::unset(),
    })
}

fn first_error(pipeline: &gst::Pipeline) -> Option<String> {
    let bus = pipeline.bus()?;
    while let Some(msg) = bus.pop() {
        if let gst::MessageView::Error(e) = msg.view() {
            return Some(e.error().to_string());
        }
    }
    None
}

impl Attached for Pipeline {
    fn frames(&self) -> u64 {
        self.frames.load(Ordering::Relaxed)
    }

    fn next_event(&self, timeout: std::time::Duration) -> Option<Event> {
        if let Ok(e) = self.events.try_recv() {
            return Some(e);
        }
        let bus = self.pipeline.bus()?;
        let types = [
            gst::MessageType::Error,
            gst::MessageType::Eos,
            gst::MessageType::Warning,
            gst::MessageType::Application,
        ];
        // gstreamer-rs' timed_pop_filtered gives up before popping anything when the timeout is
        // zero: poll with pop_filtered instead.
        let msg = if timeout.is_zero() {
            bus.pop_filtered(&types)
        } else {
            bus.timed_pop_filtered(
                gst::ClockTime::from_mseconds(timeout.as_millis() as u64),
                &types,
            )
        };
        if let Ok(e) = self.events.try_recv() {
            return Some(e);
        }
        match msg?.view() {
            gst::MessageView::Error(e) => Some(Event::Error {
                message: match e.debug() {
                    Some(d) if log::log_enabled!(log::Level::Debug) => {
                        format!("{} ({d})", e.error())
                    }
                    _ => e.error().to_string(),
                },
                element: e.src().map(|s| s.name().to_string()),
            }),
            gst::MessageView::Eos(_) => Some(Event::Eos),
            // The supervisor reads the frame counter; this only woke it.
            gst::MessageView::Application(_) => None,
            gst::MessageView::Warning(w) => {
                log::debug!(
                    "GStreamer warning from {}: {}",
                    w.src().map(|s| s.name().to_string()).unwrap_or_default(),
                    w.error()
                );
                None
            }
            _ => None,
        }
    }

    fn rewind(&self) -> bool {
        self.pipeline
            .seek_simple(
                gst::SeekFlags::FLUSH | gst::SeekFlags::KEY_UNIT,
                gst::ClockTime::ZERO,
            )
            .is_ok()
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

/// Initialises GStreamer once, with a clear error when it cannot.
pub fn init() -> Result<(), String> {
    gst::init().map_err(|e| format!("GStreamer cannot start: {e}"))
}

#[cfg(test)]
mod tests {
    use super::track_name;

    #[test]
    fn tracks_that_are_not_video_are_named_for_a_person() {
        assert_eq!(track_name("audio/mpeg"), "audio (AAC or MP3)");
        assert_eq!(track_name("audio/x-opus"), "audio (opus)");
        assert_eq!(track_name("audio MPEG4-GENERIC"), "audio (MPEG4-GENERIC)");
        assert_eq!(track_name("application/x-subtitle"), "subtitles");
        assert_eq!(track_name("text/x-raw"), "subtitles");
        assert_eq!(track_name("application/x-ssa"), "subtitles");
        assert_eq!(track_name("application/x-rtp-data"), "rtp-data");
    }
}
