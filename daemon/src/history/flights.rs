//! Flights: cutting the stream of analyses into the drone's flights, from timestamps alone.
//!
//! A flight begins with the first analysis of the drone's stream and ends once none has come
//! for `gap_ms` *while skycountd was watching* (the drone landed, or its link is gone for good).
//! The time skycountd itself was down (a restart, a reboot) does not count: it says nothing about
//! the drone, so a flight a restart interrupted goes on with the quiet time it had before
//! ([`Flights::resume`]). It keeps its peak: the highest *smoothed* count (the median of the last
//! `analysis.smooth_ms`), so that one noisy frame is not a flight's peak. The demo recording,
//! analysed while no drone streams, is no flight.
//!
//! [`Flights`] is plain data driven by the times it is given ([`Flights::analysis`],
//! [`Flights::tick`]); the recorder feeds it the analyses' wall-clock times and the clock, and
//! tests feed it whatever times they like.

use super::db::FlightRow;

/// What a new analysis did to the flights.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    /// The flight that ended before this analysis began a new one (a gap longer than `gap_ms`).
    pub ended: Option<FlightRow>,
    /// This analysis is the current flight's new peak.
    pub new_peak: bool,
}

/// The flight going on, if any, and when one ends.
#[derive(Debug, Clone)]
pub struct Flights {
    stream: String,
    gap_ms: u64,
    current: Option<FlightRow>,
    /// Since when the flight going on has had no analysis, as the watched time goes: its last
    /// analysis's time, or later after a restart (the time skycountd was down is left out).
    quiet_since_ms: u64,
}

impl Flights {
    pub fn new(stream: String, gap_ms: u64) -> Self {
        Self {
            stream,
            gap_ms,
            current: None,
            quiet_since_ms: 0,
        }
    }

    /// The flight going on.
    pub fn current(&self) -> Option<&FlightRow> {
        self.current.as_ref()
    }

    /// Takes in an analysis made at `t_ms` with this smoothed count.
    pub fn analysis(&mut self, t_ms: u64, smoothed: f64) -> Step {
        let ended = self.tick(t_ms);
        if self.current.is_none() {
            self.quiet_since_ms = t_ms;
        }
        let f = self.current.get_or_insert_with(|| FlightRow {
            stream: self.stream.clone(),
            start_ms: t_ms,
            last_ms: t_ms,
            end_ms: None,
            peak: smoothed,
            peak_ms: t_ms,
        });
        // Clocks may step back (NTP on a box that booted without one): never before the start.
        f.last_ms = f.last_ms.max(t_ms);
        self.quiet_since_ms = self.quiet_since_ms.max(t_ms);
        let new_peak = smoothed > f.peak || (f.start_ms == t_ms && f.peak_ms == t_ms);
        if smoothed > f.peak {
            f.peak = smoothed;
            f.peak_ms = t_ms;
        }
        Step { ended, new_peak }
    }

    /// Goes on with a flight a restart interrupted (the database's open one) at `now_ms`: it had
    /// gone `quiet_ms` without an analysis while the skycountd before watched; the time between
    /// is not counted against the gap.
    pub fn resume(&mut self, flight: FlightRow, quiet_ms: u64, now_ms: u64) {
        self.quiet_since_ms = now_ms.saturating_sub(quiet_ms);
        self.current = Some(flight);
    }

    /// The clock read `now_ms`: ends the flight (and gives it) when its gap has passed.
    pub fn tick(&mut self, now_ms: u64) -> Option<FlightRow> {
        let over =
            self.current.is_some() && now_ms.saturating_sub(self.quiet_since_ms) >= self.gap_ms;
        if !over {
            return None;
        }
        let mut f = self.current.take()?;
        f.end_ms = Some(f.last_ms);
        Some(f)
    }

    /// Ends the flight going on now (the daemon stops): it ends at its last analysis.
    pub fn finish(&mut self) -> Option<FlightRow> {
        let mut f = self.current.take()?;
        f.end_ms = Some(f.last_ms);
        Some(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flight_runs_from_the_first_analysis_until_the_gap_has_passed() {
        let mut f = Flights::new("live_drone".into(), 10_000);
        assert!(f.tick(0).is_none(), "no flight, nothing ends");
        let s = f.analysis(1_000, 2.0);
        assert_eq!(s.ended, None);
        assert!(s.new_peak, "the first analysis is the first peak");
        assert!(f.analysis(2_000, 5.0).new_peak);
        assert!(!f.analysis(3_000, 4.0).new_peak);
        // The drone is gone: 9.999 s after the last analysis the flight goes on...
        assert!(f.tick(12_999).is_none());
        // ...at 10 s it ends, at its last analysis.
        let ended = f.tick(13_000).expect("ended");
        assert_eq!(
            ended,
            FlightRow {
                stream: "live_drone".into(),
                start_ms: 1_000,
                last_ms: 3_000,
                end_ms: Some(3_000),
                peak: 5.0,
                peak_ms: 2_000,
            }
        );
        assert!(f.current().is_none());
        assert!(f.tick(20_000).is_none());
    }

    #[test]
    fn an_analysis_after_a_long_gap_ends_the_old_flight_and_begins_a_new_one() {
        let mut f = Flights::new("s".into(), 5_000);
        f.analysis(0, 1.0);
        f.analysis(4_000, 1.0);
        // A short gap (a stall, a reconnection) is the same flight.
        let s = f.analysis(8_999, 3.0);
        assert_eq!(s.ended, None);
        assert_eq!(f.current().unwrap().start_ms, 0);
        // No tick came in between (the recorder was busy): the analysis itself ends it.
        let s = f.analysis(20_000, 0.5);
        let ended = s.ended.expect("the old flight ended");
        assert_eq!(
            (ended.start_ms, ended.end_ms, ended.peak),
            (0, Some(8_999), 3.0)
        );
        let cur = f.current().unwrap();
        assert_eq!((cur.start_ms, cur.peak, cur.peak_ms), (20_000, 0.5, 20_000));
        assert!(s.new_peak);
    }

    #[test]
    fn a_restart_shorter_than_the_gap_is_the_same_flight() {
        // flight_gap_s = 30: the last analysis at 10 s, skycountd stopped at 16 s (6 s without an
        // analysis, a slow box), back at 31 s, its first analysis at 40 s: 30 s after the last
        // one, but only 6 + 9 = 15 s watched without an analysis.
        let mut f = Flights::new("s".into(), 30_000);
        f.analysis(0, 5.0);
        f.analysis(10_000, 7.0);
        let open = f.current().cloned().unwrap();
        let mut again = Flights::new("s".into(), 30_000);
        again.resume(open, 16_000 - 10_000, 31_000);
        assert!(again.tick(39_999).is_none());
        let s = again.analysis(40_000, 6.0);
        assert_eq!(s.ended, None, "one flight across the restart");
        let cur = again.current().unwrap();
        assert_eq!((cur.start_ms, cur.last_ms, cur.peak), (0, 40_000, 7.0));
        // Watched time still ends it: 30 s without an analysis after the restart's first one.
        assert!(again.tick(69_999).is_none());
        assert_eq!(again.tick(70_000).unwrap().end_ms, Some(40_000));
        // A flight resumed with 25 s quiet already: 5 s more of watching end it.
        let mut late = Flights::new("s".into(), 30_000);
        late.resume(f.current().cloned().unwrap(), 25_000, 100_000);
        assert!(late.tick(104_999).is_none());
        assert_eq!(late.tick(105_000).unwrap().end_ms, Some(10_000));
    }

    #[test]
    fn a_clock_stepping_back_never_moves_the_flight_back() {
        let mut f = Flights::new("s".into(), 5_000);
        f.analysis(10_000, 1.0);
        f.analysis(9_000, 2.0);
        let cur = f.current().unwrap();
        assert_eq!((cur.start_ms, cur.last_ms, cur.peak), (10_000, 10_000, 2.0));
        let done = f.finish().unwrap();
        assert_eq!(done.end_ms, Some(10_000));
        assert!(f.finish().is_none());
    }
}
