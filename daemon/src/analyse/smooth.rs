//! Smooth: the count a person should read, and how sure it is.
//!
//! One analysis is noisy (a crowd moves, the drone drifts); a bare number with decimals promises
//! what the box cannot keep. So each analysis carries, beside its own count, the median of the
//! counts of the last `analysis.smooth_ms` and a band: the range those counts span, widened by the
//! range the truth is expected in, as multiples of the count (the calibration's box check, or the
//! uncalibrated range of docs/accuracy.md).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Counts over a sliding window of time.
#[derive(Debug, Clone)]
pub struct Smoother {
    window: Duration,
    samples: VecDeque<(Instant, f64)>,
}

/// What [`Smoother::add`] gives back.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Smoothed {
    pub median: f64,
    pub band: (f64, f64),
}

impl Smoother {
    pub fn new(window: Duration) -> Self {
        Self {
            window,
            samples: VecDeque::new(),
        }
    }

    /// Forgets everything (the scene changed: a new calibration, new masks, a new stream).
    pub fn reset(&mut self) {
        self.samples.clear();
    }

    /// Adds a count made at `at`; `range` is where the truth is expected, as multiples of the
    /// count (e.g. `(0.8, 1.2)`).
    pub fn add(&mut self, at: Instant, count: f64, range: (f64, f64)) -> Smoothed {
        self.samples.push_back((at, count));
        while self
            .samples
            .front()
            .is_some_and(|(t, _)| at.saturating_duration_since(*t) > self.window)
        {
            self.samples.pop_front();
        }
        let mut counts: Vec<f64> = self.samples.iter().map(|s| s.1).collect();
        counts.sort_by(f64::total_cmp);
        let n = counts.len();
        let median = if n % 2 == 1 {
            counts[n / 2]
        } else {
            (counts[n / 2 - 1] + counts[n / 2]) / 2.0
        };
        let (lo, hi) = (counts[0], counts[n - 1]);
        Smoothed {
            median,
            band: ((lo * range.0.min(1.0)).max(0.0), hi * range.1.max(1.0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_median_of_the_window_and_the_band_it_spans() {
        let t0 = Instant::now();
        let mut s = Smoother::new(Duration::from_secs(10));
        let ms = |m| t0 + Duration::from_millis(m);
        s.add(ms(0), 100.0, (1.0, 1.0));
        s.add(ms(1000), 300.0, (1.0, 1.0)); // one noisy analysis
        let r = s.add(ms(2000), 110.0, (1.0, 1.0));
        assert_eq!(r.median, 110.0);
        assert_eq!(r.band, (100.0, 300.0));
        // Eleven seconds later the first ones have left the window.
        let r = s.add(ms(12_500), 120.0, (1.0, 1.0));
        assert_eq!(r.median, 120.0);
        assert_eq!(r.band, (120.0, 120.0));
    }

    #[test]
    fn the_expected_range_widens_the_band() {
        let mut s = Smoother::new(Duration::from_secs(10));
        let r = s.add(Instant::now(), 200.0, (0.75, 1.25));
        assert_eq!(r.median, 200.0);
        assert_eq!(r.band, (150.0, 250.0));
        s.reset();
        // A box check that says the model undercounts by half: the truth lies above.
        let r = s.add(Instant::now(), 100.0, (1.0, 2.0));
        assert_eq!(r.band, (100.0, 200.0));
        s.reset();
        let r = s.add(Instant::now(), 10.0, (-1.0, 1.0));
        assert_eq!(r.band.0, 0.0, "never below zero");
    }
}
