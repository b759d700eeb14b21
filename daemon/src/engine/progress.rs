//! Progress: whether the engine's threads are doing their work, for the systemd watchdog.
//!
//! A thread that exists is not a thread that works: a GStreamer call that never returns (a FIFO
//! that nobody writes, a pipeline that deadlocks while being torn down) or a model run that hangs
//! leaves the thread alive and the daemon useless. So each thread beats at every turn of its loop
//! and says what it is doing; the watchdog is fed only while every beat is recent enough for what
//! the thread said it was doing:
//!
//! | thread | doing | may be silent for |
//! | --- | --- | --- |
//! | source | watching a pipeline, waiting out a backoff, waiting for a drone | [`Limits::source`] |
//! | model | waiting for a frame | [`Limits::model_idle`] |
//! | model | running the model on one frame | the longer of [`Limits::model_run`] and 10 × the last run |
//! | model | loading a model (a TensorRT engine can take minutes to build) | [`Limits::model_load`] |
//!
//! Waiting for a drone, a reconnect in its backoff, a long model run: all legitimate, all fed.
//! The rule is [`verdict`], a plain function of the beats and the clock.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::time::{Duration, Instant};

/// What the model thread is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelPhase {
    Idle = 0,
    Running = 1,
    Loading = 2,
}

/// How long each kind of silence may last.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub source: Duration,
    pub model_idle: Duration,
    pub model_run: Duration,
    pub model_load: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            source: Duration::from_secs(10),
            model_idle: Duration::from_secs(10),
            model_run: Duration::from_secs(60),
            model_load: Duration::from_secs(30 * 60),
        }
    }
}

impl Limits {
    /// For a watchdog that must hear from skycountd every `watchdog` (systemd's `WatchdogSec`):
    /// a loop that turns every 100 to 200 ms may be silent for that long, between 2 and 10 s.
    pub fn for_watchdog(watchdog: Duration) -> Self {
        let quiet = watchdog.clamp(Duration::from_secs(2), Duration::from_secs(10));
        Self {
            source: quiet,
            model_idle: quiet,
            ..Self::default()
        }
    }
}

/// The beats, shared by the threads (writers) and the watchdog (reader). Times are milliseconds
/// since `origin`.
#[derive(Debug)]
pub struct Progress {
    origin: Instant,
    source_beat: AtomicU64,
    model_beat: AtomicU64,
    model_phase: AtomicU8,
    last_run_ms: AtomicU64,
}

/// One reading of the beats.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Beats {
    pub source_quiet: Duration,
    pub model_quiet: Duration,
    pub model_phase: ModelPhase,
    pub last_run: Duration,
}

impl Progress {
    pub fn new(now: Instant) -> Self {
        Self {
            origin: now,
            source_beat: AtomicU64::new(0),
            model_beat: AtomicU64::new(0),
            model_phase: AtomicU8::new(ModelPhase::Loading as u8),
            last_run_ms: AtomicU64::new(0),
        }
    }

    fn ms(&self, now: Instant) -> u64 {
        now.saturating_duration_since(self.origin).as_millis() as u64
    }

    /// The source thread is turning its loop.
    pub fn source_beat(&self, now: Instant) {
        self.source_beat.store(self.ms(now), Ordering::Relaxed);
    }

    /// The model thread is turning its loop and about to do `phase`.
    pub fn model_beat(&self, now: Instant, phase: ModelPhase) {
        self.model_beat.store(self.ms(now), Ordering::Relaxed);
        self.model_phase.store(phase as u8, Ordering::Relaxed);
    }

    /// A model run finished and took `took`.
    pub fn model_ran(&self, now: Instant, took: Duration) {
        self.last_run_ms
            .store(took.as_millis() as u64, Ordering::Relaxed);
        self.model_beat(now, ModelPhase::Idle);
    }

    pub fn read(&self, now: Instant) -> Beats {
        let quiet = |beat: &AtomicU64| {
            Duration::from_millis(self.ms(now).saturating_sub(beat.load(Ordering::Relaxed)))
        };
        Beats {
            source_quiet: quiet(&self.source_beat),
            model_quiet: quiet(&self.model_beat),
            model_phase: match self.model_phase.load(Ordering::Relaxed) {
                0 => ModelPhase::Idle,
                1 => ModelPhase::Running,
                _ => ModelPhase::Loading,
            },
            last_run: Duration::from_millis(self.last_run_ms.load(Ordering::Relaxed)),
        }
    }
}

/// `Ok` while both threads make progress; otherwise which one is stuck, in words.
pub fn verdict(beats: &Beats, limits: &Limits) -> Result<(), String> {
    if beats.source_quiet > limits.source {
        return Err(format!(
            "the source thread has not moved for {} s (a GStreamer call that does not return?)",
            beats.source_quiet.as_secs()
        ));
    }
    let (allowed, doing) = match beats.model_phase {
        ModelPhase::Idle => (limits.model_idle, "waiting for a frame"),
        ModelPhase::Running => (
            limits.model_run.max(beats.last_run * 10),
            "in one model run",
        ),
        ModelPhase::Loading => (limits.model_load, "loading the model"),
    };
    if beats.model_quiet > allowed {
        return Err(format!(
            "the model thread has been {doing} for {} s",
            beats.model_quiet.as_secs()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(secs: u64) -> Duration {
        Duration::from_secs(secs)
    }

    #[test]
    fn beating_threads_feed_the_watchdog_whatever_the_stream_does() {
        let t0 = Instant::now();
        let p = Progress::new(t0);
        // Waiting for a drone for an hour: the source loop still turns every 100 ms.
        for i in 0..36_000u64 {
            let now = t0 + Duration::from_millis(i * 100);
            p.source_beat(now);
            p.model_beat(now, ModelPhase::Idle);
        }
        let now = t0 + Duration::from_millis(36_000 * 100);
        assert_eq!(verdict(&p.read(now), &Limits::default()), Ok(()));
    }

    #[test]
    fn a_source_thread_stuck_in_a_call_starves_the_watchdog() {
        let t0 = Instant::now();
        let p = Progress::new(t0);
        p.source_beat(t0);
        p.model_beat(t0 + s(11), ModelPhase::Idle);
        assert_eq!(verdict(&p.read(t0 + s(9)), &Limits::default()), Ok(()));
        let err = verdict(&p.read(t0 + s(11)), &Limits::default()).unwrap_err();
        assert!(err.contains("source thread"), "{err}");
    }

    #[test]
    fn a_long_model_run_is_legitimate_a_hung_one_is_not() {
        let t0 = Instant::now();
        let limits = Limits::default();
        let p = Progress::new(t0);
        // Runs of 20 s each (a big analysis scale on a small CPU): 10x that is allowed.
        p.model_ran(t0, s(20));
        p.model_beat(t0, ModelPhase::Running);
        let at = |secs| {
            p.source_beat(t0 + s(secs));
            verdict(&p.read(t0 + s(secs)), &limits)
        };
        assert_eq!(at(150), Ok(()));
        assert!(at(201).unwrap_err().contains("in one model run"));
    }

    #[test]
    fn limits_follow_the_watchdog_within_bounds() {
        assert_eq!(Limits::for_watchdog(s(30)).source, s(10));
        assert_eq!(Limits::for_watchdog(s(4)).model_idle, s(4));
        assert_eq!(
            Limits::for_watchdog(Duration::from_millis(400)).source,
            s(2)
        );
        assert_eq!(
            Limits::for_watchdog(s(4)).model_load,
            Limits::default().model_load
        );
    }

    #[test]
    fn loading_may_take_minutes_but_idling_may_not() {
        let t0 = Instant::now();
        let limits = Limits::default();
        let p = Progress::new(t0);
        p.model_beat(t0, ModelPhase::Loading);
        p.source_beat(t0 + s(600));
        assert_eq!(verdict(&p.read(t0 + s(600)), &limits), Ok(()));
        p.model_beat(t0 + s(600), ModelPhase::Idle);
        p.source_beat(t0 + s(620));
        let err = verdict(&p.read(t0 + s(620)), &limits).unwrap_err();
        assert!(err.contains("waiting for a frame"), "{err}");
    }
}
