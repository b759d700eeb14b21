//! Events: how the stages tell the rest of skycountd what happened.
//!
//! The stages (the decode supervisor, the model thread, the MediaMTX watch) know nothing of who
//! listens. Each holds an [`EventSink`] and emits typed [`Event`]s into one channel; whoever runs
//! the engine reads them in order. `skycountd run` builds the live state that viewers see
//! (`publish::hub`) from them; `skycountd analyze` prints the analyses.
//!
//! ```text
//!   decode supervisor ─┐
//!   model thread ──────┼──▶ EventSink ──▶ channel ──▶ run: Hub (status, metrics, Socket.IO)
//!   MediaMTX watch ────┘                            └▶ analyze: one JSON line per analysis
//! ```
//!
//! The channel closes when every stage holding a sink has ended, which is how `analyze` knows a
//! recording is done. Sending never blocks a stage: a sink whose reader is gone drops the event.

use std::sync::Arc;

use tokio::sync::mpsc;

use crate::sample::{Frame, StreamId};
use crate::wire::{Analysis, MediaMtxReport, ModelReport, StreamReport};

/// Something a stage did or saw.
#[derive(Debug)]
pub enum Event {
    /// A stream's decoder handed over a frame; `replaced` when it replaced one the model never
    /// took (that one is skipped).
    FrameDecoded { stream: StreamId, replaced: bool },
    /// A stream's source pipeline was torn down to attach again.
    Reattaching { stream: StreamId },
    /// A stream's state, decoder or error changed.
    Stream {
        stream: StreamId,
        report: StreamReport,
    },
    /// The model was loaded, failed to load, or a reload was refused.
    Model(ModelReport),
    /// The model analysed a frame (of the stream `analysis.stream`).
    Analysed {
        analysis: Arc<Analysis>,
        frame: Frame,
    },
    /// What the operator set (calibration, masks), kept and applied from the next analysis on.
    Setup(crate::analyse::Setup),
    /// A zone's alert was raised, cleared or acknowledged (the whole alert as it is now).
    Alert(crate::wire::Alert),
    /// What MediaMTX says about the drone's stream.
    MediaMtx(MediaMtxReport),
    /// The paths that have a publisher on MediaMTX now (the roster's input: `engine::roster`).
    Published(Vec<String>),
    /// MediaMTX has a new publisher: the decoder should attach now instead of waiting out its
    /// backoff (a reader still attached to the old session waits for nothing; MediaMTX 5242).
    PublisherChanged,
}

impl Event {
    /// The name of the stream the event is about; `None` for what concerns them all (the
    /// model, MediaMTX, the operator's setup).
    pub fn stream(&self) -> Option<&str> {
        match self {
            Event::FrameDecoded { stream, .. }
            | Event::Reattaching { stream }
            | Event::Stream { stream, .. } => Some(stream.as_str()),
            Event::Analysed { analysis, .. } => Some(analysis.stream.as_str()),
            Event::Alert(alert) => Some(&alert.stream),
            Event::Model(_)
            | Event::Setup(_)
            | Event::MediaMtx(_)
            | Event::Published(_)
            | Event::PublisherChanged => None,
        }
    }
}

/// Where a stage sends its events. Cheap to clone; never blocks.
#[derive(Debug, Clone)]
pub struct EventSink(mpsc::UnboundedSender<Event>);

/// The reading end.
pub type Events = mpsc::UnboundedReceiver<Event>;

/// A new channel.
pub fn channel() -> (EventSink, Events) {
    let (tx, rx) = mpsc::unbounded_channel();
    (EventSink(tx), rx)
}

/// A sink that does not keep the channel open (the engine's, for streams it adds later).
#[derive(Debug, Clone)]
pub struct WeakEventSink(mpsc::WeakUnboundedSender<Event>);

impl WeakEventSink {
    /// A sink again, unless every stage holding one has ended.
    pub fn upgrade(&self) -> Option<EventSink> {
        self.0.upgrade().map(EventSink)
    }
}

impl EventSink {
    pub fn downgrade(&self) -> WeakEventSink {
        WeakEventSink(self.0.downgrade())
    }

    pub fn emit(&self, event: Event) {
        // The reader is gone only when skycountd is stopping: nothing left to tell.
        let _ = self.0.send(event);
    }
}
