//! Camera motion (`analyse::motion`) on real drone footage: the frames of `../shared/testdata/drone`
//! (DroneCrowd, a hovering drone over a crowd; frames of one sequence are seconds apart).
//!
//! - Frames of one sequence (people move, the camera hovers) match, with a shift under the
//!   tracker's jitter and a peak above `MIN_PEAK`; frames of different sequences do not.
//! - A frame's view shifted by a known amount (crops of the 1920x1080 frame) is found within a
//!   fraction of a percent, and a pan over it pauses zones until the view is back and still.
//!
//! Prints the figures the thresholds in `daemon/src/analyse/motion.rs` come from:
//!
//!   cargo test --features integration --test motion -- --nocapture

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use skycountd::analyse::motion::{self, Tracker};

fn drone_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/testdata/drone")
}

/// A frame of the drone test data, decoded once (decoding 1920x1080 takes a while in debug).
fn load(name: &str) -> Arc<image::RgbImage> {
    static CACHE: OnceLock<Mutex<HashMap<String, Arc<image::RgbImage>>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(img) = cache.lock().unwrap().get(name) {
        return img.clone();
    }
    let path = drone_dir().join(name);
    let img = Arc::new(
        image::open(&path)
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e}: the drone test data sits beside the repository in ../shared",
                    path.display()
                )
            })
            .to_rgb8(),
    );
    cache.lock().unwrap().insert(name.to_string(), img.clone());
    img
}

fn crop(img: &image::RgbImage, x: u32, y: u32, w: u32, h: u32) -> image::RgbImage {
    image::imageops::crop_imm(img, x, y, w, h).to_image()
}

fn rgb(img: &image::RgbImage) -> (&[u8], u32, u32) {
    (img.as_raw(), img.width(), img.height())
}

const SEQUENCES: &[&[&str]] = &[
    &[
        "dronecrowd_seq001_1.jpg",
        "dronecrowd_seq001_2.jpg",
        "dronecrowd_seq001_3.jpg",
        "dronecrowd_seq001_4.jpg",
    ],
    &[
        "dronecrowd_seq011_1.jpg",
        "dronecrowd_seq011_4.jpg",
        "dronecrowd_seq011_8.jpg",
        "dronecrowd_seq011_12.jpg",
    ],
    &["dronecrowd_seq112_8.jpg", "dronecrowd_seq112_12.jpg"],
    &["dronecrowd_seq023_1.jpg"],
];

#[test]
fn a_hovering_drone_matches_itself_and_no_other_scene() {
    let mut same_peaks = Vec::new();
    for seq in SEQUENCES {
        for pair in seq.windows(2) {
            let (a, b) = (load(pair[0]), load(pair[1]));
            let (s, ta, tb) = motion::compare(rgb(&a), rgb(&b)).unwrap();
            println!(
                "{} → {}: shift {:+.4}, {:+.4} of the frame, peak {:.3}, texture {:.2} / {:.2}",
                pair[0], pair[1], s.dx, s.dy, s.peak, ta, tb
            );
            assert!(ta >= motion::MIN_TEXTURE && tb >= motion::MIN_TEXTURE);
            assert!(s.peak >= motion::MIN_PEAK, "{pair:?}: {s:?}");
            assert!(
                s.dx.hypot(s.dy) < motion::AWAY,
                "{pair:?}: a hovering drone, the view moved {s:?}"
            );
            same_peaks.push(s.peak);
        }
    }
    let mut other_peaks = Vec::new();
    for (i, a) in SEQUENCES.iter().enumerate() {
        for b in &SEQUENCES[i + 1..] {
            let (s, _, _) = motion::compare(rgb(&load(a[0])), rgb(&load(b[0]))).unwrap();
            println!("{} vs {}: peak {:.3}", a[0], b[0], s.peak);
            assert!(
                s.peak < motion::MIN_PEAK,
                "{} and {} matched: {s:?}",
                a[0],
                b[0]
            );
            other_peaks.push(s.peak);
        }
    }
    let range = |v: &[f32]| {
        (
            v.iter().copied().fold(f32::MAX, f32::min),
            v.iter().copied().fold(f32::MIN, f32::max),
        )
    };
    println!(
        "peaks: one scene {:.3?}, different scenes {:.3?} (MIN_PEAK {})",
        range(&same_peaks),
        range(&other_peaks),
        motion::MIN_PEAK
    );
}

#[test]
fn a_known_shift_is_found_and_a_pan_pauses_the_zones() {
    let frame = load("dronecrowd_seq112_8.jpg");
    let (w, h) = (1280, 720);
    let base = crop(&frame, 200, 180, w, h);
    for (dx, dy) in [(8i64, 0i64), (-40, 20), (120, -60)] {
        // The camera moves by (dx, dy): the content moves by (-dx, -dy).
        let moved = crop(&frame, (200 + dx) as u32, (180 + dy) as u32, w, h);
        let (s, _, _) = motion::compare(rgb(&base), rgb(&moved)).unwrap();
        let want = (-(dx as f64) / f64::from(w), -(dy as f64) / f64::from(h));
        println!(
            "camera moved {dx}, {dy} px: found {:+.4}, {:+.4} (want {:+.4}, {:+.4}), peak {:.3}",
            s.dx, s.dy, want.0, want.1, s.peak
        );
        assert!(
            (s.dx - want.0).abs() < 0.004 && (s.dy - want.1).abs() < 0.006,
            "{dx}, {dy}: {s:?}"
        );
    }
    // One analysis a second: hovering, a pan of 5 % of the width a second to the right, hovering
    // there, back, then hovering where the zones were set.
    let t0 = Instant::now();
    let mut t = Tracker::new();
    let mut states = Vec::new();
    let xs: Vec<u32> = [200; 4]
        .into_iter()
        .chain((1..=6).map(|i| 200 + i * 64))
        .chain([584; 5])
        .chain((1..=6).map(|i| 584 - i * 64))
        .chain([200; 5])
        .collect();
    for (i, x) in xs.iter().enumerate() {
        let view = crop(&frame, *x, 180, w, h);
        let c = t.observe(view.as_raw(), w, h, t0 + Duration::from_secs(i as u64));
        states.push(if c.moving {
            'M'
        } else if c.away {
            'A'
        } else {
            '.'
        });
        assert!(c.judged, "{c:?}");
    }
    let states: String = states.into_iter().collect();
    println!("x: {xs:?}\nstates: {states} (M moving, A away from the zones' view, . counting)");
    assert!(states.starts_with("...."), "{states}");
    assert!(states[4..10].chars().all(|c| c == 'M'), "{states}");
    assert!(states[10..15].contains('A'), "{states}");
    assert!(states.ends_with('.'), "{states}");
}
