//! Sample: the newest decoded frame wins.
//!
//! The decoder runs at the stream's pace (30 frames a second); the model runs at its own (one
//! frame every few hundred milliseconds on a CPU). Between them sits a one-frame slot: the decoder
//! [`put`](LatestFrame::put)s every frame, replacing any frame the model has not taken yet (that
//! frame is *skipped* and counted), and the model [`take`](LatestFrame::take)s whatever is newest
//! when it is free. So the model never slows the stream, nothing queues up, and the picture the
//! model analyses is never older than one inference.

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

#[derive(Default)]
struct Slot {
    frame: Option<Frame>,
    closed: bool,
}

/// The one-frame slot between the decoder and the model.
#[derive(Default)]
pub struct LatestFrame {
    slot: Mutex<Slot>,
    ready: Condvar,
}

/// What [`LatestFrame::put`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Put {
    /// The slot was empty.
    Stored,
    /// A frame the model had not taken yet was replaced: it is skipped.
    ReplacedUnanalysed,
}

impl LatestFrame {
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Offers the newest frame, replacing any older one not yet taken.
    pub fn put(&self, frame: Frame) -> Put {
        let mut slot = self.slot.lock();
        let replaced = slot.frame.replace(frame).is_some();
        drop(slot);
        self.ready.notify_one();
        if replaced {
            Put::ReplacedUnanalysed
        } else {
            Put::Stored
        }
    }

    /// Waits up to `timeout` for a frame and takes the newest. `None` on time-out or when closed.
    pub fn take(&self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        let mut slot = self.slot.lock();
        loop {
            if let Some(f) = slot.frame.take() {
                return Some(f);
            }
            if slot.closed {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            self.ready.wait_for(&mut slot, left);
        }
    }

    /// Drops any waiting frame (the stream it came from is gone).
    pub fn clear(&self) {
        self.slot.lock().frame = None;
    }

    /// Whether [`close`](Self::close) was called.
    pub fn is_closed(&self) -> bool {
        self.slot.lock().closed
    }

    /// Wakes the taker for good: used at shutdown and at the end of a file.
    pub fn close(&self) {
        self.slot.lock().closed = true;
        self.ready.notify_all();
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
}
