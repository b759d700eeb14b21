//! Motion: whether the drone's camera moves, from a cheap global estimate between analysed frames.
//!
//! Zones and masks are drawn on the picture, not on the ground: they cover what they were drawn on
//! only while the drone hovers. When it pans, a zone slides over other ground and its count swings
//! with the camera. So each analysed frame is shrunk to a small grey thumbnail ([`THUMB`]), and
//! phase correlation (the peak of the inverse FFT of the normalised cross-power spectrum; `rustfft`
//! does the transforms) gives how far the picture moved since the previous analysis, and how far it
//! is from the view the zones were set on:
//!
//! ```text
//!  frame ─▶ 128×72 grey ─▶ window, FFT ─┬─ × previous ─▶ shift since the last analysis ─▶ moving?
//!                                       └─ × the zones' view ─▶ offset from it ───────────▶ away?
//! ```
//!
//! - **moving**: the picture moved faster than [`MOVING_SPEED`] (frame widths per second), or by
//!   more than [`JUMP`] at once, or the two thumbnails no longer match (the camera turned, zoomed
//!   or panned more than the thumbnail between two analyses). It stays moving until the camera
//!   has been still for [`SETTLE`].
//! - **away**: the view is more than [`AWAY`] of the frame from the one the zones were set on (the
//!   first still view after they changed, or after skycountd started), or no longer matches it:
//!   the drone panned and stayed. It ends when the drone comes back, or when the operator saves the
//!   zones again for the view it now has.
//!
//! While either holds, zones are paused: their alerts are held, history keeps no zone counts, and
//! the dashboard says "camera moving: zones paused". A picture with too little texture to match
//! (a flat test pattern, a frame of sky) is not judged: [`Camera::judged`] is false and nothing is
//! paused. Plain Rust driven by the times passed in; tests shift synthetic pictures.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fast_image_resize::Resizer;
use rustfft::num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::wire::Camera;

/// The thumbnail's size: 16:9, small enough for a fraction of a millisecond per transform.
pub const THUMB: (usize, usize) = (128, 72);

/// Frame widths per second above which the camera is moving (a slow pan crosses the picture in
/// half a minute; a hovering drone's drift is far slower).
pub const MOVING_SPEED: f64 = 0.03;
/// The speed is measured over at least this long (the analyses of the last second and more), so
/// that a pixel of jitter between two analyses a tenth of a second apart is no pan.
pub const SPEED_SPAN: Duration = Duration::from_secs(1);
/// Shifts under this fraction of the frame over [`SPEED_SPAN`] are never called moving.
pub const MIN_SHIFT: f64 = 0.006;
/// A shift over this fraction of the frame between two analyses is moving at any speed.
pub const JUMP: f64 = 0.03;
/// How far (fraction of the frame) the view may be from the zones' view before zones pause: a
/// zone a fifth of the picture wide is then misplaced by at most a quarter of its width.
pub const AWAY: f64 = 0.05;
/// The correlation peak under which two pictures are not the same scene shifted. Measured on the
/// drone frames of shared/testdata (`cargo test --features integration --test motion`): 0.975 to
/// 0.995 between frames of one hovering sequence seconds apart, 0.82 to 0.96 for a view shifted
/// by 0.6 to 9 % of the frame, 0.050 to 0.061 between different scenes.
pub const MIN_PEAK: f32 = 0.1;
/// Share of the thumbnail that must show texture (a step of [`TEXTURE_STEP`] grey levels to a
/// neighbour) for a judgement.
pub const MIN_TEXTURE: f64 = 0.15;
const TEXTURE_STEP: f32 = 4.0;
/// How long the camera must be still before zones count again.
pub const SETTLE: Duration = Duration::from_secs(2);

/// A thumbnail ready to be compared: its windowed spectrum, and whether it has texture enough.
#[derive(Clone)]
pub struct Thumb {
    spectrum: Vec<Complex32>,
    /// The share of the thumbnail that shows texture.
    texture: f64,
    textured: bool,
}

/// A global shift between two thumbnails, in thumbnail pixels, and how well they matched.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Shift {
    /// How far the picture's content moved from the first thumbnail to the second (positive:
    /// right and down).
    pub dx: f64,
    pub dy: f64,
    /// The correlation peak: 1 for the same picture shifted, near 0 for unrelated ones.
    pub peak: f32,
}

/// The FFTs of one thumbnail size, planned once.
struct Transforms {
    row: Arc<dyn Fft<f32>>,
    col: Arc<dyn Fft<f32>>,
    row_inv: Arc<dyn Fft<f32>>,
    col_inv: Arc<dyn Fft<f32>>,
    window: Vec<f32>,
}

impl Transforms {
    fn new() -> Self {
        let (w, h) = THUMB;
        let mut p = FftPlanner::new();
        let hann = |i: usize, n: usize| {
            0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / (n - 1) as f32).cos()
        };
        Self {
            row: p.plan_fft_forward(w),
            col: p.plan_fft_forward(h),
            row_inv: p.plan_fft_inverse(w),
            col_inv: p.plan_fft_inverse(h),
            window: (0..w * h)
                .map(|i| hann(i % w, w) * hann(i / w, h))
                .collect(),
        }
    }

    /// 2-D transform in place: every row, then every column.
    fn fft2(&self, data: &mut [Complex32], inverse: bool) {
        let (w, h) = THUMB;
        let (row, col) = if inverse {
            (&self.row_inv, &self.col_inv)
        } else {
            (&self.row, &self.col)
        };
        for r in data.chunks_exact_mut(w) {
            row.process(r);
        }
        let mut column = vec![Complex32::default(); h];
        for x in 0..w {
            for y in 0..h {
                column[y] = data[y * w + x];
            }
            col.process(&mut column);
            for y in 0..h {
                data[y * w + x] = column[y];
            }
        }
    }

    /// The thumbnail of grey values (`THUMB`, row-major) made ready to compare.
    fn prepare(&self, grey: &[f32]) -> Thumb {
        let (w, h) = THUMB;
        let mut steps = 0usize;
        for y in 0..h - 1 {
            for x in 0..w - 1 {
                let v = grey[y * w + x];
                if (grey[y * w + x + 1] - v).abs() + (grey[(y + 1) * w + x] - v).abs()
                    > TEXTURE_STEP
                {
                    steps += 1;
                }
            }
        }
        let mean = grey.iter().sum::<f32>() / grey.len() as f32;
        let mut spectrum: Vec<Complex32> = grey
            .iter()
            .zip(&self.window)
            .map(|(v, k)| Complex32::new((v - mean) * k, 0.0))
            .collect();
        self.fft2(&mut spectrum, false);
        let texture = steps as f64 / ((w - 1) * (h - 1)) as f64;
        Thumb {
            spectrum,
            texture,
            textured: texture >= MIN_TEXTURE,
        }
    }

    /// How far `b`'s content moved from `a`'s (phase correlation, the peak refined to a fraction
    /// of a pixel by a parabola through its neighbours).
    fn shift(&self, a: &Thumb, b: &Thumb) -> Shift {
        let (w, h) = THUMB;
        let mut cross: Vec<Complex32> = b
            .spectrum
            .iter()
            .zip(&a.spectrum)
            .map(|(fb, fa)| {
                let c = fb * fa.conj();
                let n = c.norm();
                if n > 1e-12 {
                    c / n
                } else {
                    Complex32::default()
                }
            })
            .collect();
        self.fft2(&mut cross, true);
        let n = (w * h) as f32;
        let (mut best, mut at) = (f32::MIN, 0);
        for (i, c) in cross.iter().enumerate() {
            if c.re > best {
                best = c.re;
                at = i;
            }
        }
        let (px, py) = (at % w, at / w);
        let value = |x: usize, y: usize| cross[(y % h) * w + (x % w)].re;
        let refine = |l: f32, c: f32, r: f32| {
            let d = l - 2.0 * c + r;
            if d.abs() < 1e-9 {
                0.0
            } else {
                f64::from(((l - r) / (2.0 * d)).clamp(-0.5, 0.5))
            }
        };
        let fx = refine(value(px + w - 1, py), best, value(px + 1, py));
        let fy = refine(value(px, py + h - 1), best, value(px, py + 1));
        let wrap = |p: usize, n: usize| {
            if p > n / 2 {
                p as f64 - n as f64
            } else {
                p as f64
            }
        };
        Shift {
            dx: wrap(px, w) + fx,
            dy: wrap(py, h) + fy,
            peak: best / n,
        }
    }
}

/// Two pictures (packed RGB, any size each) compared as the tracker compares analysed frames:
/// the shift from `a` to `b` in fractions of the frame, the correlation peak, and the share of
/// each thumbnail that shows texture (for measuring the thresholds on real footage).
pub fn compare(a: (&[u8], u32, u32), b: (&[u8], u32, u32)) -> Result<(Shift, f64, f64), String> {
    let fft = Transforms::new();
    let mut resizer = Resizer::new();
    let mut thumb = |(rgb, w, h): (&[u8], u32, u32)| {
        super::resize::resize(&mut resizer, rgb, w, h, (THUMB.0 as u32, THUMB.1 as u32))
            .map(|small| fft.prepare(&grey(&small.data)))
    };
    let (ta, tb) = (thumb(a)?, thumb(b)?);
    let s = fft.shift(&ta, &tb);
    Ok((
        Shift {
            dx: s.dx / THUMB.0 as f64,
            dy: s.dy / THUMB.1 as f64,
            peak: s.peak,
        },
        ta.texture,
        tb.texture,
    ))
}

/// Grey values of packed RGB already at the thumbnail's size.
fn grey(rgb: &[u8]) -> Vec<f32> {
    rgb.chunks_exact(3)
        .map(|p| 0.299 * f32::from(p[0]) + 0.587 * f32::from(p[1]) + 0.114 * f32::from(p[2]))
        .collect()
}

/// The camera's state over the analyses of one stream; see the module docs.
pub struct Tracker {
    fft: Transforms,
    resizer: Resizer,
    prev: Option<(Thumb, Instant)>,
    /// Where the picture has been, summed from the shifts between analyses (fractions of the
    /// frame's width), over the last few seconds: the speed is measured on it.
    track: VecDeque<(Instant, [f64; 2])>,
    /// The view the zones were set on; `None` until the next still, textured view.
    reference: Option<Thumb>,
    moving: bool,
    still_since: Option<Instant>,
}

impl Default for Tracker {
    fn default() -> Self {
        Self::new()
    }
}

impl Tracker {
    pub fn new() -> Self {
        Self {
            fft: Transforms::new(),
            resizer: Resizer::new(),
            prev: None,
            track: VecDeque::new(),
            reference: None,
            moving: false,
            still_since: None,
        }
    }

    /// The zones changed: the view they are for is the next still one.
    pub fn zones_changed(&mut self) {
        self.reference = None;
    }

    /// A new stream (or the demo): nothing before it counts.
    pub fn reset(&mut self) {
        self.prev = None;
        self.track.clear();
        self.reference = None;
        self.moving = false;
        self.still_since = None;
    }

    /// One analysed frame (packed RGB at any size), made at `at`.
    pub fn observe(&mut self, rgb: &[u8], width: u32, height: u32, at: Instant) -> Camera {
        let (w, h) = THUMB;
        let Ok(small) =
            super::resize::resize(&mut self.resizer, rgb, width, height, (w as u32, h as u32))
        else {
            return Camera::UNKNOWN;
        };
        self.observe_thumb(&grey(&small.data), at)
    }

    /// One thumbnail of grey values ([`THUMB`], row-major), made at `at`.
    pub fn observe_thumb(&mut self, grey: &[f32], at: Instant) -> Camera {
        let thumb = self.fft.prepare(grey);
        let prev = self.prev.replace((thumb.clone(), at));
        if !thumb.textured {
            self.moving = false;
            self.still_since = None;
            self.track.clear();
            return Camera::UNKNOWN;
        }
        let mut speed = 0.0;
        let mut moving_now = false;
        match prev.filter(|(p, _)| p.textured) {
            Some((p, _)) => {
                let s = self.fft.shift(&p, &thumb);
                let step = [s.dx / THUMB.0 as f64, s.dy / THUMB.0 as f64];
                let [x, y] = self.track.back().map_or([0.0, 0.0], |(_, xy)| *xy);
                self.track.push_back((at, [x + step[0], y + step[1]]));
                while self
                    .track
                    .front()
                    .is_some_and(|(t, _)| at.saturating_duration_since(*t) > 3 * SPEED_SPAN)
                {
                    self.track.pop_front();
                }
                // From the newest position at least SPEED_SPAN old (or the oldest kept).
                let (t0, [x0, y0]) = self
                    .track
                    .iter()
                    .rev()
                    .find(|(t, _)| at.saturating_duration_since(*t) >= SPEED_SPAN)
                    .or(self.track.front())
                    .copied()
                    .unwrap_or((at, [0.0, 0.0]));
                let [x1, y1] = self.track.back().map_or([0.0, 0.0], |(_, xy)| *xy);
                let moved = (x1 - x0).hypot(y1 - y0);
                let dt = at.saturating_duration_since(t0).as_secs_f64();
                speed = if dt > 0.0 { moved / dt } else { 0.0 };
                let jump = step[0].hypot(step[1]);
                moving_now = s.peak < MIN_PEAK
                    || jump > JUMP
                    || (moved > MIN_SHIFT
                        && dt >= SPEED_SPAN.as_secs_f64() / 2.0
                        && speed > MOVING_SPEED);
            }
            None => {
                self.track.clear();
                self.track.push_back((at, [0.0, 0.0]));
            }
        }
        if moving_now {
            self.moving = true;
            self.still_since = None;
        } else if self.moving {
            let since = *self.still_since.get_or_insert(at);
            if at.saturating_duration_since(since) >= SETTLE {
                self.moving = false;
                self.still_since = None;
            }
        }
        let offset = match &self.reference {
            None if !self.moving => {
                self.reference = Some(thumb);
                Some([0.0, 0.0])
            }
            None => None,
            Some(r) => {
                let s = self.fft.shift(r, &thumb);
                (s.peak >= MIN_PEAK).then(|| [s.dx / THUMB.0 as f64, s.dy / THUMB.1 as f64])
            }
        };
        let away = self.reference.is_some()
            && offset.is_none_or(|[x, y]| x.abs() > AWAY || y.abs() > AWAY);
        Camera {
            judged: true,
            moving: self.moving,
            away,
            zones_paused: self.moving || away,
            speed,
            offset,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A textured "aerial" picture: smooth blotches (ground, roofs) and small bright dots
    /// (people), `W × H` grey, seeded.
    fn scene(w: usize, h: usize, seed: u64) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % 10_000) as f32 / 10_000.0
        };
        let blobs: Vec<(f32, f32, f32, f32)> = (0..40)
            .map(|_| {
                (
                    rnd() * w as f32,
                    rnd() * h as f32,
                    10.0 + rnd() * 40.0,
                    rnd() * 120.0,
                )
            })
            .collect();
        let dots: Vec<(f32, f32)> = (0..600)
            .map(|_| (rnd() * w as f32, rnd() * h as f32))
            .collect();
        let mut img: Vec<f32> = (0..w * h).map(|_| 60.0 + 16.0 * rnd()).collect();
        for (i, v) in img.iter_mut().enumerate() {
            let (px, py) = ((i % w) as f32, (i / w) as f32);
            for &(bx, by, r, a) in &blobs {
                let d2 = (px - bx).powi(2) + (py - by).powi(2);
                *v += a * (-d2 / (2.0 * r * r)).exp();
            }
        }
        for &(dx, dy) in &dots {
            let (cx, cy) = (dx as usize, dy as usize);
            for y in cy.saturating_sub(1)..(cy + 2).min(h) {
                for x in cx.saturating_sub(1)..(cx + 2).min(w) {
                    img[y * w + x] = 230.0;
                }
            }
        }
        img
    }

    /// The thumbnail-sized window of a large scene, its top-left at (x, y) (whole pixels).
    fn view(big: &[f32], bw: usize, x: usize, y: usize) -> Vec<f32> {
        let (w, h) = THUMB;
        (0..h)
            .flat_map(|r| big[(y + r) * bw + x..(y + r) * bw + x + w].to_vec())
            .collect()
    }

    const BW: usize = 400;
    const BH: usize = 300;

    #[test]
    fn phase_correlation_finds_a_known_shift() {
        let big = scene(BW, BH, 7);
        let fft = Transforms::new();
        let a = fft.prepare(&view(&big, BW, 100, 100));
        for (dx, dy) in [(0i64, 0i64), (5, 0), (-7, 3), (20, -11), (-40, 25)] {
            // The camera moves by (-dx, -dy): the content moves by (dx, dy).
            let b = fft.prepare(&view(&big, BW, (100 - dx) as usize, (100 - dy) as usize));
            let s = fft.shift(&a, &b);
            assert!(
                (s.dx - dx as f64).abs() < 0.6 && (s.dy - dy as f64).abs() < 0.6,
                "shift ({dx}, {dy}) estimated as {s:?}"
            );
            assert!(s.peak > MIN_PEAK, "{s:?}");
        }
        // Another place altogether: no peak to speak of.
        let other = fft.prepare(&view(&scene(BW, BH, 99), BW, 10, 10));
        let s = fft.shift(&a, &other);
        assert!(s.peak < MIN_PEAK, "unrelated views matched: {s:?}");
    }

    #[test]
    fn a_pan_pauses_the_zones_until_the_camera_is_back_and_still() {
        let big = scene(BW, BH, 3);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let mut t = Tracker::new();
        // Hovering: two analyses a second, a tenth of a pixel of jitter.
        let mut x = 100;
        for i in 0..6 {
            let c = t.observe_thumb(&view(&big, BW, x, 100), at(i * 500));
            assert!(c.judged && !c.zones_paused, "hovering: {c:?}");
        }
        // A slow pan: 3 thumbnail pixels (2.3 % of the width, under a jump) per half second,
        // 4.7 % a second: moving from its second analysis on (the speed is taken over 1 s).
        for i in 6..30 {
            x += 3;
            let c = t.observe_thumb(&view(&big, BW, x, 100), at(i * 500));
            if i > 6 {
                assert!(c.moving && c.zones_paused, "panning at analysis {i}: {c:?}");
                assert!((c.speed - 3.0 / 128.0 / 0.5).abs() < 0.01, "{c:?}");
            }
        }
        // Still, far from the zones' view: no longer moving after SETTLE, but away.
        let mut last = Camera::UNKNOWN;
        for i in 30..40 {
            last = t.observe_thumb(&view(&big, BW, x, 100), at(i * 500));
        }
        assert!(!last.moving && last.away && last.zones_paused, "{last:?}");
        assert!(
            last.offset.is_none(),
            "72 px away: no longer the same view: {last:?}"
        );
        // Back over the zones' view: zones count again once it is still.
        for i in 40..50 {
            last = t.observe_thumb(&view(&big, BW, 101, 100), at(i * 500));
        }
        assert!(!last.zones_paused, "{last:?}");
        let [ox, oy] = last.offset.unwrap();
        assert!(
            (ox * 128.0 + 1.0).abs() < 0.6 && oy.abs() < 0.01,
            "{last:?}"
        );
        // The operator saves the zones where the drone now hovers: that is their view.
        for i in 50..60 {
            last = t.observe_thumb(&view(&big, BW, 200, 150), at(i * 500));
        }
        assert!(last.away);
        t.zones_changed();
        last = t.observe_thumb(&view(&big, BW, 200, 150), at(60 * 500));
        assert!(!last.zones_paused, "{last:?}");
    }

    #[test]
    fn a_slow_drift_is_hovering_and_a_jump_is_moving() {
        let big = scene(BW, BH, 5);
        let t0 = Instant::now();
        let mut t = Tracker::new();
        // Ten analyses a second, one pixel every second (0.8 % of the width per second).
        for i in 0..30u64 {
            let x = 100 + (i / 10) as usize;
            let c = t.observe_thumb(&view(&big, BW, x, 100), t0 + Duration::from_millis(i * 100));
            assert!(!c.moving, "drift at {i}: {c:?}");
        }
        // A jump of 6 pixels between two analyses 2 s apart: 2.3 % per second, but 4.7 % at once.
        let c = t.observe_thumb(&view(&big, BW, 108, 100), t0 + Duration::from_secs(5));
        assert!(c.moving, "{c:?}");
    }

    #[test]
    fn a_flat_picture_is_not_judged_and_pauses_nothing() {
        let mut t = Tracker::new();
        let flat = vec![20.0f32; THUMB.0 * THUMB.1];
        // A ball on black (the test pattern): a few textured pixels only.
        let mut ball = flat.clone();
        for y in 30..40 {
            for x in 60..70 {
                ball[y * THUMB.0 + x] = 255.0;
            }
        }
        let t0 = Instant::now();
        for (i, g) in [&flat, &ball, &flat, &ball].into_iter().enumerate() {
            let c = t.observe_thumb(g, t0 + Duration::from_millis(i as u64 * 300));
            assert_eq!(c, Camera::UNKNOWN);
        }
    }

    #[test]
    fn frames_of_any_size_are_shrunk_first() {
        let big = scene(BW, BH, 11);
        let mut rgb = Vec::with_capacity(BW * BH * 3);
        for v in &big {
            let g = v.clamp(0.0, 255.0) as u8;
            rgb.extend_from_slice(&[g, g, g]);
        }
        let mut t = Tracker::new();
        let c = t.observe(&rgb, BW as u32, BH as u32, Instant::now());
        assert!(c.judged && !c.zones_paused, "{c:?}");
    }
}
