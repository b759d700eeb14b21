//! Sample: the newest decoded frame wins, and several streams take turns.
//!
//! The decoder runs at the stream's pace (30 frames a second); the model runs at its own (one
//! frame every few hundred milliseconds on a CPU). Between them sits a one-frame slot: the decoder
//! [`put`](LatestFrame::put)s every frame, replacing any frame the model has not taken yet (that
//! frame is *skipped* and counted), and the model takes whatever is newest when it is free. So
//! the model never slows the stream, nothing queues up, and the picture the model analyses is
//! never older than one inference.
//!
//! With several drones there is one slot per stream (a lane of [`Lanes`]) and still one model:
//! [`Lanes::take_next`] serves the lanes in turn, so each of N streams gets about one analysis
//! in N and its picture is never older than N inferences.
//!
//! ```text
//!   decoder A ──put──▶ lane A ─┐
//!   decoder B ──put──▶ lane B ─┼──take_next (A, B, C, A, …)──▶ model
//!   decoder C ──put──▶ lane C ─┘
//! ```

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};
use std::time::{Duration, Instant};

/// The pixels of one frame: packed or strided RGB rows, however the edge holds them (a mapped
/// GStreamer buffer, or a `Vec<u8>` in tests). No copy is made to pass it along.
pub type Pixels = Arc<dyn AsRef<[u8]> + Send + Sync>;

/// One decoded, scaled RGB frame.
#[derive(Clone)]
pub struct Frame {
    pub width: u32,
    pub height: u32,
    /// Bytes from the start of one row to the next (at least `width * 3`).
    pub stride: usize,
    pub pixels: Pixels,
    /// The frame's stream time, when the stream has one.
    pub pts_ms: Option<u64>,
    /// When the decoder handed the frame over: staleness is measured from here.
    pub decoded_at: Instant,
    /// From the demo recording, not the drone.
    pub demo: bool,
    /// The stream it came from: set by the lane it was put in.
    pub stream: StreamId,
}

impl std::fmt::Debug for Frame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Frame")
            .field("width", &self.width)
            .field("height", &self.height)
            .field("stride", &self.stride)
            .field("pts_ms", &self.pts_ms)
            .finish_non_exhaustive()
    }
}

impl Frame {
    /// A frame over tightly packed RGB bytes.
    pub fn packed(width: u32, height: u32, rgb: Vec<u8>) -> Self {
        assert_eq!(rgb.len(), width as usize * height as usize * 3);
        Self {
            width,
            height,
            stride: width as usize * 3,
            pixels: Arc::new(rgb),
            pts_ms: None,
            decoded_at: Instant::now(),
            demo: false,
            stream: StreamId::unset(),
        }
    }

    /// The RGB bytes as `height` rows of `width * 3`, without padding. Borrowed when the rows are
    /// already packed (the usual case); copied once into `scratch` when they are not.
    pub fn packed_rgb<'a>(&'a self, scratch: &'a mut Vec<u8>) -> &'a [u8] {
        let row = self.width as usize * 3;
        let data = (*self.pixels).as_ref();
        if self.stride == row {
            return &data[..row * self.height as usize];
        }
        scratch.clear();
        for y in 0..self.height as usize {
            scratch.extend_from_slice(&data[y * self.stride..y * self.stride + row]);
        }
        scratch
    }
}

/// A stream's name inside skycountd: the path's key (`live_drone`, see `store::stream_key`).
/// Every frame, analysis and event of that stream carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct StreamId(Arc<str>);

impl serde::Serialize for StreamId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl StreamId {
    pub fn new(name: impl AsRef<str>) -> Self {
        Self(Arc::from(name.as_ref()))
    }

    /// The name of a frame not yet put in a lane (the lane names it): shared, so that a decoder
    /// making 30 frames a second allocates no name for each.
    pub fn unset() -> Self {
        static UNSET: std::sync::LazyLock<StreamId> =
            std::sync::LazyLock::new(|| StreamId::new("default"));
        UNSET.clone()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One stream's slot (its name is on its handle, [`LatestFrame`], and on every frame put in it).
struct Lane {
    /// Tells this lane from a later one of the same stream (a stream that ended and came back).
    key: u64,
    frame: Option<Frame>,
    closed: bool,
}

#[derive(Default)]
struct Slots {
    lanes: Vec<Lane>,
    /// Where the next turn starts looking: the lane after the one served last.
    next: usize,
    last_key: u64,
}

impl Slots {
    fn lane(&mut self, key: u64) -> Option<&mut Lane> {
        self.lanes.iter_mut().find(|l| l.key == key)
    }

    /// Every lane is closed and has nothing left to take.
    fn done(&self) -> bool {
        self.lanes.iter().all(|l| l.closed && l.frame.is_none())
    }
}

/// The one-frame slots of every stream, taken in turns by the one model thread.
///
/// Each stream's decoder puts into its own lane ([`LatestFrame`]); the model takes with
/// [`Lanes::take_next`], which serves the lanes round-robin: starting after the lane it served
/// last, it takes the first lane with a frame waiting. While every stream has a frame waiting
/// (a decoder at 30 frames a second always has, next to a model that takes hundreds of
/// milliseconds), N streams get one analysis in N each, and a frame never waits longer than
/// the N - 1 analyses of the others: no stream starves, and the staleness of each is N times
/// one inference at most. A stream with no frame (stalled, reconnecting) is skipped and costs
/// the others nothing.
#[derive(Default)]
pub struct Lanes {
    slots: Mutex<Slots>,
    ready: Condvar,
}

/// The slot between one stream's decoder and the model: a handle on its lane in [`Lanes`].
pub struct LatestFrame {
    lanes: Arc<Lanes>,
    key: u64,
    id: StreamId,
}

/// What [`LatestFrame::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The slot was empty.
    Stored,
    /// A frame the model had not taken yet was replaced: it is skipped.
    ReplacedUnanalysed,
    /// The stream was removed: nobody takes its frames any more.
    Gone,
}

impl Lanes {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A new lane for stream `id`, served from the next turn on.
    pub fn add(self: &Arc<Self>, id: StreamId) -> Arc<LatestFrame> {
        let mut slots = self.slots.lock();
        slots.last_key += 1;
        let key = slots.last_key;
        slots.lanes.push(Lane {
            key,
            frame: None,
            closed: false,
        });
        Arc::new(LatestFrame {
            lanes: self.clone(),
            key,
            id,
        })
    }

    /// Removes a lane and any frame in it; its handle's puts are dropped from now on.
    pub fn remove(&self, lane: &LatestFrame) {
        let mut slots = self.slots.lock();
        if let Some(i) = slots.lanes.iter().position(|l| l.key == lane.key) {
            slots.lanes.remove(i);
            if slots.next > i {
                slots.next -= 1;
            }
        }
        drop(slots);
        self.ready.notify_all();
    }

    /// Waits up to `timeout` for a frame in any lane and takes the newest of the next lane in
    /// turn. `None` on time-out, or when every lane is closed and empty.
    pub fn take_next(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut slots = self.slots.lock();
        loop {
            let n = slots.lanes.len();
            for step in 0..n {
                let i = (slots.next + step) % n;
                if let Some(frame) = slots.lanes[i].frame.take() {
                    slots.next = (i + 1) % n;
                    return Some(frame);
                }
            }
            if slots.done() {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.ready.wait_for(&mut slots, left);
        }
    }

    /// Every lane is closed and empty: no frame will come any more.
    pub fn is_done(&self) -> bool {
        self.slots.lock().done()
    }

    /// Closes every lane: the taker wakes for good (shutdown).
    pub fn close_all(&self) {
        for lane in &mut self.slots.lock().lanes {
            lane.closed = true;
        }
        self.ready.notify_all();
    }
}

impl LatestFrame {
    /// A slot of its own, not shared with other streams (one stream; tests).
    pub fn new() -> Arc<Self> {
        Lanes::new().add(StreamId::new("default"))
    }

    /// The stream this lane is for.
    pub fn stream(&self) -> StreamId {
        self.id.clone()
    }

    /// Offers the newest frame, replacing any older one not yet taken. The frame is marked as
    /// this lane's stream's.
    pub fn put(&self, mut frame: Frame) -> Put {
        let mut slots = self.lanes.slots.lock();
        let Some(lane) = slots.lane(self.key) else {
            return Put::Gone;
        };
        frame.stream = self.id.clone();
        let replaced = lane.frame.replace(frame).is_some();
        drop(slots);
        self.lanes.ready.notify_all();
        if replaced {
            Put::ReplacedUnanalysed
        } else {
            Put::Stored
        }
    }

    /// Waits up to `timeout` for a frame of this lane alone and takes it. `None` on time-out,
    /// when closed, or when the lane was removed.
    pub fn take(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut slots = self.lanes.slots.lock();
        loop {
            let lane = slots.lane(self.key)?;
            if let Some(f) = lane.frame.take() {
                return Some(f);
            }
            if lane.closed {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.lanes.ready.wait_for(&mut slots, left);
        }
    }

    /// Drops any waiting frame (the stream it came from is gone).
    pub fn clear(&self) {
        if let Some(lane) = self.lanes.slots.lock().lane(self.key) {
            lane.frame = None;
        }
    }

    /// Whether [`close`](Self::close) was called (or the lane was removed).
    pub fn is_closed(&self) -> bool {
        self.lanes
            .slots
            .lock()
            .lane(self.key)
            .is_none_or(|l| l.closed)
    }

    /// No more frames will come from this stream (the end of a file, shutdown): the model takes
    /// what is waiting, and its wait ends once every lane is closed and empty.
    pub fn close(&self) {
        if let Some(lane) = self.lanes.slots.lock().lane(self.key) {
            lane.closed = true;
        }
        self.lanes.ready.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8) -> Frame {
        Frame::packed(2, 1, vec![tag; 6])
    }

    fn tag(f: &Frame) -> u8 {
        (*f.pixels).as_ref()[0]
    }

    #[test]
    fn newest_frame_wins_and_older_ones_are_counted_skipped() {
        let slot = LatestFrame::new();
        assert_eq!(slot.put(frame(1)), Put::Stored);
        assert_eq!(slot.put(frame(2)), Put::ReplacedUnanalysed);
        assert_eq!(slot.put(frame(3)), Put::ReplacedUnanalysed);
        let got = slot.take(Duration::ZERO).unwrap();
        assert_eq!(tag(&got), 3, "the model gets the newest frame");
        assert!(
            slot.take(Duration::from_millis(5)).is_none(),
            "and only once"
        );
        assert_eq!(
            slot.put(frame(4)),
            Put::Stored,
            "an empty slot skips nothing"
        );
    }

    #[test]
    fn a_slow_consumer_never_falls_behind_a_fast_producer() {
        let slot = LatestFrame::new();
        let producer = {
            let slot = slot.clone();
            std::thread::spawn(move || {
                let mut skipped = 0;
                for i in 0..=200u8 {
                    if slot.put(frame(i)) == Put::ReplacedUnanalysed {
                        skipped += 1;
                    }
                    std::thread::sleep(Duration::from_micros(200));
                }
                skipped
            })
        };
        let mut seen = Vec::new();
        while let Some(f) = slot.take(Duration::from_millis(200)) {
            seen.push(tag(&f));
            std::thread::sleep(Duration::from_millis(5)); // a "model" 25x slower than the stream
        }
        let skipped = producer.join().unwrap();
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "frames only move forward"
        );
        assert_eq!(*seen.last().unwrap(), 200, "the last frame is analysed");
        assert_eq!(
            seen.len() + skipped,
            201,
            "every frame is analysed or skipped"
        );
        assert!(
            skipped > 100,
            "most frames are skipped, not queued: {skipped}"
        );
    }

    #[test]
    fn close_wakes_a_waiting_consumer() {
        let slot = LatestFrame::new();
        let waiter = {
            let slot = slot.clone();
            std::thread::spawn(move || slot.take(Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        slot.close();
        assert!(waiter.join().unwrap().is_none());
    }

    #[test]
    fn strided_rows_are_packed_once() {
        // 2x2 RGB with 8-byte rows (2 bytes of padding).
        let data = vec![1, 2, 3, 4, 5, 6, 0, 0, 7, 8, 9, 10, 11, 12, 0, 0];
        let f = Frame {
            stride: 8,
            ..Frame::packed(2, 2, vec![0; 12])
        };
        let f = Frame {
            pixels: Arc::new(data),
            ..f
        };
        let mut scratch = Vec::new();
        assert_eq!(
            f.packed_rgb(&mut scratch),
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]
        );
        let packed = Frame::packed(2, 1, vec![9; 6]);
        let mut unused = Vec::new();
        assert_eq!(packed.packed_rgb(&mut unused), &[9; 6]);
        assert!(unused.is_empty(), "packed rows are borrowed, not copied");
    }

    fn lanes_of(lanes: &Arc<Lanes>, names: &[&str]) -> Vec<Arc<LatestFrame>> {
        names.iter().map(|n| lanes.add(StreamId::new(n))).collect()
    }

    #[test]
    fn streams_with_frames_waiting_take_equal_turns() {
        let lanes = Lanes::new();
        let slots = lanes_of(&lanes, &["a", "b", "c"]);
        let mut served = std::collections::HashMap::<String, usize>::new();
        for round in 0..30u8 {
            // Every decoder is far faster than the model: each lane always has a frame.
            for s in &slots {
                s.put(frame(round));
            }
            let f = lanes.take_next(Duration::ZERO).unwrap();
            assert_eq!(tag(&f), round, "the newest frame of the lane in turn");
            *served.entry(f.stream.to_string()).or_default() += 1;
        }
        assert_eq!(served["a"], 10);
        assert_eq!(served["b"], 10);
        assert_eq!(served["c"], 10);
    }

    #[test]
    fn a_lane_with_no_frame_costs_the_others_nothing() {
        let lanes = Lanes::new();
        let slots = lanes_of(&lanes, &["a", "stalled", "c"]);
        let mut order = Vec::new();
        for round in 0..4u8 {
            slots[0].put(frame(round));
            slots[2].put(frame(round));
            order.push(lanes.take_next(Duration::ZERO).unwrap().stream.to_string());
        }
        assert_eq!(order, ["a", "c", "a", "c"]);
        // The stalled stream comes back: it is served at its turn, not after a backlog.
        slots[1].put(frame(9));
        slots[0].put(frame(9));
        let next: Vec<String> = (0..2)
            .map(|_| lanes.take_next(Duration::ZERO).unwrap().stream.to_string())
            .collect();
        assert_eq!(next, ["a", "stalled"]);
    }

    #[test]
    fn a_waiting_model_wakes_for_any_lane() {
        let lanes = Lanes::new();
        let slots = lanes_of(&lanes, &["a", "b"]);
        let waiter = {
            let lanes = lanes.clone();
            std::thread::spawn(move || lanes.take_next(Duration::from_secs(10)))
        };
        std::thread::sleep(Duration::from_millis(20));
        slots[1].put(frame(7));
        let f = waiter.join().unwrap().unwrap();
        assert_eq!((f.stream.as_str(), tag(&f)), ("b", 7));
    }

    #[test]
    fn a_removed_stream_is_gone_and_a_new_one_of_the_same_name_starts_empty() {
        let lanes = Lanes::new();
        let old = lanes.add(StreamId::new("north"));
        let other = lanes.add(StreamId::new("south"));
        old.put(frame(1));
        lanes.remove(&old);
        assert_eq!(
            old.put(frame(2)),
            Put::Gone,
            "a late frame of the old decoder"
        );
        assert!(old.is_closed());
        let again = lanes.add(StreamId::new("north"));
        assert!(
            lanes.take_next(Duration::ZERO).is_none(),
            "nothing left over"
        );
        again.put(frame(3));
        other.put(frame(4));
        let mut got: Vec<(String, u8)> = (0..2)
            .map(|_| {
                let f = lanes.take_next(Duration::ZERO).unwrap();
                (f.stream.to_string(), tag(&f))
            })
            .collect();
        got.sort();
        assert_eq!(got, [("north".into(), 3), ("south".into(), 4)]);
    }

    #[test]
    fn the_model_stops_waiting_once_every_lane_is_closed_and_empty() {
        let lanes = Lanes::new();
        let slots = lanes_of(&lanes, &["a", "b"]);
        slots[0].put(frame(1));
        slots[0].close();
        assert!(!lanes.is_done(), "b may still send");
        slots[1].close();
        assert!(!lanes.is_done(), "a's last frame is still to take");
        assert_eq!(tag(&lanes.take_next(Duration::ZERO).unwrap()), 1);
        assert!(lanes.is_done());
        let started = Instant::now();
        assert!(lanes.take_next(Duration::from_secs(10)).is_none());
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "no wait when done"
        );
    }
}
