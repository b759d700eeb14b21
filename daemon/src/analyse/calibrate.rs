//! Calibrate: the analysis scale from the people an operator tapped in one box.
//!
//! The count CSRNet gives depends on how large people look to it, and from a drone that varies
//! from a few pixels to a few dozen. The operator freezes a frame, draws a box over part of the
//! crowd and taps the people in it. What those taps tell most reliably is *how far apart people
//! stand*: the median distance from each tapped person to the nearest other. Scaling the frame so
//! that this spacing becomes [`SPACING_TARGET_PX`] analysis pixels puts people at the size the
//! network counts best. The rule and its constant were measured by replaying boxes of
//! ground-truth people on the DroneCrowd frames, leave-one-sequence-out (docs/accuracy.md), against
//! the alternatives: matching the model's count in the box to the taps (the box's scene rarely
//! stands for the whole frame: worse), and multiplying by taps / model count (worse still). So no
//! factor is applied (`factor` stays 1); the model's count in the box at the chosen scale is
//! reported as the agreement.
//!
//! Nothing is applied by computing it: the operator gets a [`judge`]ment first (good, doubtful or
//! refused, with the reason and what to do, from the replay's figures) and a preview of the whole
//! frame's count, then applies it or not. A calibration whose band would be wider than the
//! uncalibrated band of the model in use says less than no calibration: it is refused, and one
//! kept from before (or made for another model) is applied without being called calibrated.

use crate::wire::{Calibration, Verdict, VerdictLevel};

/// Analysis pixels between neighbouring people at which the stock CSRNet counts best on drone
/// footage (fitted leave-one-sequence-out on shared/testdata/drone: docs/accuracy.md).
pub const SPACING_TARGET_PX: f64 = 9.6;

/// The rule's typical whole-frame relative error, from the same replay (docs/accuracy.md): the
/// band of every calibrated count is widened by it.
pub const CALIBRATED_ERROR: f64 = 0.3;

/// When the model's count in the box is within this ratio of the taps, the calibration is
/// trusted to ±[`CHECKED_ERROR`] (or the model's own calibrated range); outside it, that range is
/// divided by the ratio too ([`range_for`]; the count to the count / ratio held 93 % of the truths
/// in the stock model's replay on the drone frames, too few for the drone model: docs/accuracy.md).
pub const CHECK_RATIO: (f64, f64) = (0.67, 1.5);
pub const CHECKED_ERROR: f64 = 0.2;
/// The stock model's band when the box check agrees, as multiples of the count: ±[`CHECKED_ERROR`].
/// A model's card may measure its own (`skycount.calibrated_range`: [`range_for`]).
pub const CHECKED_RANGE: (f64, f64) = (1.0 - CHECKED_ERROR, 1.0 + CHECKED_ERROR);

/// Fewer taps than this make a calibration doubtful: the replay of docs/accuracy.md measured
/// boxes of 10, 25 and 40 people (35 %, 31 % and 29 % whole-frame error; the box check passed
/// with 16 % at N = 10), none smaller, and the dashboard asks for 10 to 40.
pub const GOOD_TAPS: usize = 10;

/// How wide a range is, as the ratio of its ends: a band of 0.5 to 2 times the count is 4
/// times wide, ±20 % is 1.5.
pub fn width(range: (f64, f64)) -> f64 {
    if range.0 <= 0.0 {
        return f64::INFINITY;
    }
    range.1 / range.0
}

/// Whether a calibration's `range` says less than no calibration: wider than `uncalibrated`.
pub fn wider_than(range: [f64; 2], uncalibrated: (f64, f64)) -> bool {
    width((range[0], range[1])) > width(uncalibrated) + 1e-9
}

/// The verdict on a calibration of `taps` people of which the model counts `model_in_box`, whose
/// band is `range` (from [`range_for`]), for a model whose uncalibrated band is `uncalibrated`
/// (docs/accuracy.md, "Operator calibration"):
/// - **refused** when `range` is wider than `uncalibrated`: the box check says the calibration
///   knows less than the model alone;
/// - **doubtful** when the box check fails (the model counts under 0.67 or over 1.5 times the
///   taps: whole-frame errors of 31 to 60 % in the replay, the band widened to hold the truth) or
///   fewer than [`GOOD_TAPS`] people were tapped;
/// - **good** otherwise (7 % mean whole-frame error at N = 40, 16 % at N = 10; the band ±20 %).
pub fn judge(taps: usize, model_in_box: f64, range: [f64; 2], uncalibrated: (f64, f64)) -> Verdict {
    let n = taps;
    let m = model_in_box.max(0.0);
    let q = m / (taps.max(1) as f64);
    let times = |v: f64| {
        let digits = if v < 0.095 {
            format!("{v:.2}")
        } else {
            format!("{v:.1}")
        };
        format!("{}×", digits.trim_end_matches(".0"))
    };
    let spread = format!(
        "between {} and {} the count",
        times(range[0]),
        times(range[1])
    );
    if wider_than(range, uncalibrated) {
        let (reason, advice) = if q < 1.0 {
            (
                if m < 0.5 {
                    format!("The model sees nobody in your box, where you tapped {n} people.")
                } else {
                    format!("The model finds only {m:.0} people in your box, where you tapped {n}: most taps are not on people it can see.")
                },
                "Tap only people (zoom in to see them), in a part of the crowd where they are clear. If every tap was on a person, the people here are too small for the model: keep counting uncalibrated.".to_string(),
            )
        } else {
            (
                format!("The model counts {m:.0} people in your box, but you tapped {n}: many people in it are not tapped."),
                "Tap every person inside the box (zoom in), or draw a smaller box.".to_string(),
            )
        };
        return Verdict {
            level: VerdictLevel::Refused,
            reason: format!(
                "{reason} The truth would be expected {spread}: no surer than without calibration ({} to {}).",
                times(uncalibrated.0),
                times(uncalibrated.1)
            ),
            advice,
        };
    }
    let agreement = (1.0 - (m - n as f64).abs() / n.max(1) as f64).max(0.0);
    if !(CHECK_RATIO.0..=CHECK_RATIO.1).contains(&q) {
        let (reason, advice) = if q < 1.0 {
            (
                format!("The model finds {m:.0} of the {n} people you tapped ({:.0} % agreement).", agreement * 100.0),
                "Check that every tap is on a person; a box where people are clearer agrees better.",
            )
        } else {
            (
                format!("The model counts {m:.0} people in your box, where you tapped {n} ({:.0} % agreement).", agreement * 100.0),
                "Tap every person inside the box.",
            )
        };
        return Verdict {
            level: VerdictLevel::Doubtful,
            reason: format!("{reason} The count will be uncertain: the truth {spread}."),
            advice: advice.into(),
        };
    }
    if n < GOOD_TAPS {
        return Verdict {
            level: VerdictLevel::Doubtful,
            reason: format!(
                "Only {n} people tapped: the box holds too few people to set the scale well (10 to 40 are best)."
            ),
            advice: "Tap more people: draw the box over a denser part of the crowd.".into(),
        };
    }
    Verdict {
        level: VerdictLevel::Good,
        reason: format!(
            "The model counts {m:.0} people in your box, where you tapped {n} ({:.0} % agreement): the truth is expected {spread}.",
            agreement * 100.0
        ),
        advice: "Apply it.".into(),
    }
}

/// Where the truth is expected, as multiples of the count, from the box check `q` (the model's
/// count in the box over the taps) and the model's `checked` range (where the truth lay when the
/// box check agreed: [`CHECKED_RANGE`] for the stock model, its card's
/// `skycount.calibrated_range` for another). When the check disagrees, the model is off by 1 / q
/// in the box and the rest of the frame is as uncertain as when it agrees: the band is `checked`
/// divided by q, joined with `checked` itself (the box may not be like the rest of the frame), at
/// most 10 times the count (or `checked`'s top, if that is higher).
pub fn range_for(q: f64, checked: (f64, f64)) -> [f64; 2] {
    let (lo, hi) = checked;
    let top = hi.max(10.0);
    if !q.is_finite() || q <= 0.0 {
        // The model saw nobody where people were tapped: it cannot say how many there are.
        return [lo, top];
    }
    if (CHECK_RATIO.0..=CHECK_RATIO.1).contains(&q) {
        return [lo, hi];
    }
    [lo.min(lo / q), hi.max(hi / q).min(top)]
}

/// Scales the rule may choose, as fractions of the frame's size.
pub const SCALE_MIN: f64 = 0.1;
pub const SCALE_MAX: f64 = 2.0;

/// Scales are rounded to this step so that nearby calibrations share one analysis size.
const SCALE_STEP: f64 = 1.0 / 32.0;

pub const MIN_TAPS: usize = 5;
/// Enough to tap every person of a dense frame (a whole-frame annotation for fine-tuning).
pub const MAX_TAPS: usize = 1000;

/// What the operator sends: the frozen frame, the box and the taps, in the frame's pixels.
#[derive(Debug, Clone, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct Request {
    pub frame_id: String,
    /// x, y, width, height.
    #[serde(rename = "box")]
    pub area: [f64; 4],
    pub taps: Vec<[f64; 2]>,
}

/// Checks a request against the frame it names; says what is wrong and what to do.
pub fn validate(req: &Request, frame_w: u32, frame_h: u32) -> Result<(), String> {
    check_shape(req)?;
    check_in_frame(req, frame_w, frame_h)
}

/// Checks what a request says on its own: a box with a size, [`MIN_TAPS`] to [`MAX_TAPS`] taps,
/// each one inside the box. It needs no frame, so a bad request is refused before the frozen
/// frame is read or decoded and before the model is asked (both take seconds on a small box).
pub fn check_shape(req: &Request) -> Result<(), String> {
    let [x, y, w, h] = req.area;
    if !req.area.iter().all(|v| v.is_finite()) || w < 8.0 || h < 8.0 {
        return Err("the box is empty: drag a box over part of the crowd".into());
    }
    if !(MIN_TAPS..=MAX_TAPS).contains(&req.taps.len()) {
        return Err(format!(
            "{} taps: tap {MIN_TAPS} to {MAX_TAPS} people in the box (10 to 40 is best)",
            req.taps.len()
        ));
    }
    if let Some(t) = req.taps.iter().find(|t| {
        !t.iter().all(|v| v.is_finite()) || t[0] < x || t[0] > x + w || t[1] < y || t[1] > y + h
    }) {
        return Err(format!(
            "the tap at {:.0},{:.0} is outside the box: tap only people inside it",
            t[0], t[1]
        ));
    }
    Ok(())
}

/// Checks that the request's box lies in a `frame_w × frame_h` frame (its size is known from
/// the frozen frame's header, without decoding it).
pub fn check_in_frame(req: &Request, frame_w: u32, frame_h: u32) -> Result<(), String> {
    let [x, y, w, h] = req.area;
    if x < 0.0 || y < 0.0 || x + w > f64::from(frame_w) + 0.5 || y + h > f64::from(frame_h) + 0.5 {
        return Err(format!(
            "the box {x:.0},{y:.0} {w:.0}x{h:.0} leaves the {frame_w}x{frame_h} frame"
        ));
    }
    Ok(())
}

/// The median distance from each tap to its nearest other tap, in the frame's pixels.
pub fn spacing(taps: &[[f64; 2]]) -> f64 {
    let mut nearest: Vec<f64> = taps
        .iter()
        .enumerate()
        .map(|(i, a)| {
            taps.iter()
                .enumerate()
                .filter(|(j, _)| *j != i)
                .map(|(_, b)| ((a[0] - b[0]).powi(2) + (a[1] - b[1]).powi(2)).sqrt())
                .fold(f64::INFINITY, f64::min)
        })
        .filter(|d| d.is_finite())
        .collect();
    if nearest.is_empty() {
        return f64::NAN;
    }
    nearest.sort_by(f64::total_cmp);
    let n = nearest.len();
    if n % 2 == 1 {
        nearest[n / 2]
    } else {
        (nearest[n / 2 - 1] + nearest[n / 2]) / 2.0
    }
}

/// The scale at which people `spacing_px` apart in the frame stand [`SPACING_TARGET_PX`] apart
/// (the stock model's target).
pub fn scale_for(spacing_px: f64) -> f64 {
    scale_for_target(spacing_px, SPACING_TARGET_PX)
}

/// The scale at which people `spacing_px` apart in the frame stand `target_px` apart (a model's
/// own target, from its card).
pub fn scale_for_target(spacing_px: f64, target_px: f64) -> f64 {
    if !spacing_px.is_finite() || spacing_px <= 0.0 {
        return SCALE_MAX;
    }
    let s = (target_px / spacing_px).clamp(SCALE_MIN, SCALE_MAX);
    ((s / SCALE_STEP).round() * SCALE_STEP).clamp(SCALE_MIN, SCALE_MAX)
}

/// The region of the frame the model sees to count the box: the box with context around it.
pub fn context_region(area: [f64; 4], frame_w: u32, frame_h: u32) -> (u32, u32, u32, u32) {
    let [x, y, w, h] = area;
    let margin = (w.max(h) * 0.25).max(64.0);
    let x0 = (x - margin).max(0.0).floor() as u32;
    let y0 = (y - margin).max(0.0).floor() as u32;
    let x1 = ((x + w + margin).ceil() as u32).min(frame_w);
    let y1 = ((y + h + margin).ceil() as u32).min(frame_h);
    (x0, y0, x1 - x0, y1 - y0)
}

/// The density inside `area` (frame pixels) of a map made of `region` (frame pixels) resized to
/// `map_w*8 × map_h*8`. Cells are weighted by how much of them the box covers.
pub fn sum_in_box(
    values: &[f32],
    map_w: usize,
    map_h: usize,
    region: (u32, u32, u32, u32),
    analysed: (u32, u32),
    area: [f64; 4],
) -> f64 {
    // Frame pixels per density cell, along each axis.
    let cell_x = f64::from(region.2) / f64::from(analysed.0) * 8.0;
    let cell_y = f64::from(region.3) / f64::from(analysed.1) * 8.0;
    let [bx, by, bw, bh] = area;
    let (bx, by) = (bx - f64::from(region.0), by - f64::from(region.1));
    let overlap = |a0: f64, a1: f64, b0: f64, b1: f64| (a1.min(b1) - a0.max(b0)).max(0.0);
    let mut sum = 0.0;
    for cy in 0..map_h {
        let fy = overlap(cy as f64 * cell_y, (cy + 1) as f64 * cell_y, by, by + bh) / cell_y;
        if fy == 0.0 {
            continue;
        }
        for cx in 0..map_w {
            let fx = overlap(cx as f64 * cell_x, (cx + 1) as f64 * cell_x, bx, bx + bw) / cell_x;
            sum += f64::from(values[cy * map_w + cx]) * fx * fy;
        }
    }
    sum
}

/// The calibration from a validated request and the model's count in the box at the chosen
/// scale (made by the caller, who holds the model), judged for a model whose uncalibrated band
/// is `uncalibrated`.
pub fn finish(
    req: &Request,
    (frame_w, frame_h): (u32, u32),
    scale: f64,
    model_in_box: f64,
    checked: (f64, f64),
    uncalibrated: (f64, f64),
    at_ms: u64,
) -> Calibration {
    let taps = req.taps.len() as f64;
    let agreement = (1.0 - (model_in_box - taps).abs() / taps).max(0.0);
    let (w, h) = super::size_at(frame_w, frame_h, scale, u32::MAX);
    let range = range_for(model_in_box / taps, checked);
    Calibration {
        at_ms,
        scale,
        factor: 1.0,
        frame_width: frame_w,
        frame_height: frame_h,
        area: req.area.map(|v| v.round().max(0.0) as u32),
        taps: req.taps.len() as u32,
        spacing_px: spacing(&req.taps),
        model_in_box,
        agreement,
        expected_error: CALIBRATED_ERROR,
        range,
        verdict: Some(judge(req.taps.len(), model_in_box, range, uncalibrated)),
        frame_id: req.frame_id.clone(),
        message: format!(
            "scale {w}x{h}, factor 1.00, agreement in your box {:.0} % ({:.0} counted, {} tapped)",
            agreement * 100.0,
            model_in_box,
            req.taps.len()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grid_taps(x0: f64, y0: f64, step: f64, n: usize) -> Vec<[f64; 2]> {
        (0..n)
            .map(|i| [x0 + (i % 5) as f64 * step, y0 + (i / 5) as f64 * step])
            .collect()
    }

    #[test]
    fn the_spacing_of_the_taps_sets_the_scale() {
        // People 30 px apart in the frame (low altitude): scaled down to ~9.6 px apart.
        let taps = grid_taps(100.0, 100.0, 30.0, 20);
        assert!((spacing(&taps) - 30.0).abs() < 1e-9);
        assert!(
            (scale_for(30.0) - 0.3125).abs() < 1e-9,
            "{}",
            scale_for(30.0)
        );
        // 7 px apart (high altitude): upsampled.
        assert!((scale_for(7.0) - 1.375).abs() < 1e-9, "{}", scale_for(7.0));
        // Absurd spacings are clamped.
        assert_eq!(scale_for(1.0), SCALE_MAX);
        assert_eq!(scale_for(1000.0), SCALE_MIN);
        assert_eq!(scale_for(f64::NAN), SCALE_MAX);
    }

    #[test]
    fn requests_are_checked_against_the_frame() {
        let ok = Request {
            frame_id: "a".into(),
            area: [90.0, 90.0, 200.0, 120.0],
            taps: grid_taps(100.0, 100.0, 30.0, 20),
        };
        assert_eq!(validate(&ok, 1920, 1080), Ok(()));
        let with = |f: &dyn Fn(&mut Request)| {
            let mut r = ok.clone();
            f(&mut r);
            validate(&r, 1920, 1080).unwrap_err()
        };
        assert!(with(&|r| r.taps.truncate(3)).contains("tap 5 to 1000"));
        assert!(with(&|r| r.taps.push([10.0, 10.0])).contains("outside the box"));
        assert!(with(&|r| r.area = [0.0, 0.0, 0.0, 0.0]).contains("empty"));
        assert!(with(&|r| r.taps[0] = [f64::NAN, 1.0]).contains("outside the box"));
        // The shape alone, without the frame: all but the box leaving the frame.
        let shape = |f: &dyn Fn(&mut Request)| {
            let mut r = ok.clone();
            f(&mut r);
            check_shape(&r)
        };
        assert!(shape(&|r| r.taps = grid_taps(100.0, 100.0, 0.1, 1001))
            .unwrap_err()
            .contains("1001 taps"));
        assert!(shape(&|r| r.area = [f64::INFINITY, 0.0, 9.0, 9.0]).is_err());
        let off_the_frame = |r: &mut Request| {
            r.area = [1800.0, 90.0, 200.0, 120.0];
            r.taps = grid_taps(1810.0, 100.0, 30.0, 20);
        };
        assert_eq!(
            shape(&off_the_frame),
            Ok(()),
            "the frame's size is not known here"
        );
        let mut r = ok.clone();
        off_the_frame(&mut r);
        assert!(validate(&r, 1920, 1080).unwrap_err().contains("leaves"));
        assert!(check_in_frame(&ok, 200, 200)
            .unwrap_err()
            .contains("200x200 frame"));
    }

    #[test]
    fn the_count_in_the_box_weighs_cells_by_their_overlap() {
        // A 4x4 map of ones made from a 64x64 region at (100, 100) analysed at 32x32: each cell
        // covers 16x16 frame pixels.
        let values = vec![1.0f32; 16];
        let region = (100, 100, 64, 64);
        let full = sum_in_box(&values, 4, 4, region, (32, 32), [100.0, 100.0, 64.0, 64.0]);
        assert!((full - 16.0).abs() < 1e-9);
        let quarter = sum_in_box(&values, 4, 4, region, (32, 32), [100.0, 100.0, 32.0, 32.0]);
        assert!((quarter - 4.0).abs() < 1e-9);
        let half_cell = sum_in_box(&values, 4, 4, region, (32, 32), [108.0, 100.0, 16.0, 16.0]);
        assert!(
            (half_cell - 1.0).abs() < 1e-9,
            "two half cells: {half_cell}"
        );
    }

    #[test]
    fn the_box_check_sets_the_band() {
        let stock = CHECKED_RANGE;
        assert_eq!(range_for(1.0, stock), [0.8, 1.2]);
        assert_eq!(range_for(1.4, stock), [0.8, 1.2]);
        assert_eq!(
            range_for(0.25, stock),
            [0.8, 4.8],
            "the model counts a quarter of the taps: ±20 % of four times the count"
        );
        assert_eq!(
            range_for(2.0, stock),
            [0.4, 1.2],
            "it counts twice the taps"
        );
        assert_eq!(range_for(0.0, stock), [0.8, 10.0]);
        // A model whose card measured a wider, lopsided band when the check agrees (one that
        // undercounts): that band, divided by q beyond it.
        let card = (0.75, 2.5);
        assert_eq!(range_for(1.0, card), [0.75, 2.5]);
        assert_eq!(range_for(0.5, card), [0.75, 5.0]);
        assert_eq!(range_for(2.0, card), [0.375, 2.5]);
        assert_eq!(range_for(0.125, card), [0.75, 10.0], "at most 10 times");
        assert_eq!(range_for(0.05, (0.5, 12.0)), [0.5, 12.0]);
        assert_eq!(range_for(0.0, card), [0.75, 10.0]);
    }

    #[test]
    fn the_message_says_what_was_set() {
        let req = Request {
            frame_id: "f1".into(),
            area: [0.0, 0.0, 100.0, 100.0],
            taps: grid_taps(10.0, 10.0, 10.0, 20),
        };
        let c = finish(&req, (1920, 1080), 0.5, 19.0, CHECKED_RANGE, (0.5, 2.0), 7);
        assert_eq!(c.agreement, 0.95);
        assert_eq!(c.factor, 1.0);
        assert!(c
            .message
            .starts_with("scale 960x536, factor 1.00, agreement in your box 95 %"));
        assert_eq!(c.area, [0, 0, 100, 100]);
        assert_eq!(c.verdict.unwrap().level, VerdictLevel::Good);
    }

    /// The cases of issue 23, judged against the stock model's uncalibrated band (0.5 to 2).
    #[test]
    fn the_verdict_follows_the_box_check_and_the_taps() {
        let judged = |taps: usize, m: f64| {
            let range = range_for(m / taps as f64, CHECKED_RANGE);
            judge(taps, m, range, (0.5, 2.0))
        };
        // Twelve careless taps, mostly on pavement: the model counts 2. Its band (0.8 to 7.2
        // times the count) is wider than uncalibrated (0.5 to 2): refused, and why.
        let careless = judged(12, 2.0);
        assert_eq!(careless.level, VerdictLevel::Refused, "{careless:?}");
        assert!(
            careless
                .reason
                .contains("only 2 people in your box, where you tapped 12"),
            "{}",
            careless.reason
        );
        assert!(
            careless.advice.contains("Tap only people"),
            "{}",
            careless.advice
        );
        // A careful 15-tap calibration with 77 % agreement: good, ±20 %.
        let careful = judged(15, 15.0 * 0.77);
        assert_eq!(careful.level, VerdictLevel::Good, "{careful:?}");
        assert!(
            careful.reason.contains("between 0.8× and 1.2× the count"),
            "{}",
            careful.reason
        );
        // Few taps that agree: doubtful, "tap more".
        let few = judged(6, 6.0);
        assert_eq!(few.level, VerdictLevel::Doubtful);
        assert!(few.advice.starts_with("Tap more people"), "{}", few.advice);
        // The box check fails but the band stays narrower than uncalibrated: doubtful.
        let half = judged(20, 10.0);
        assert_eq!(half.level, VerdictLevel::Doubtful);
        assert!(
            half.reason.contains("between 0.8× and 2.4× the count"),
            "{}",
            half.reason
        );
        // Many people not tapped: the model counts 4 times the taps.
        let untapped = judged(10, 40.0);
        assert_eq!(untapped.level, VerdictLevel::Refused);
        assert!(
            untapped.advice.starts_with("Tap every person"),
            "{}",
            untapped.advice
        );
        assert_eq!(judged(10, 0.0).level, VerdictLevel::Refused);
        // Multiples under 0.1 keep two digits (not "0×").
        let tiny = judge(10, 40.0, [0.05, 1.2], (0.5, 2.0));
        assert!(
            tiny.reason.contains("between 0.05× and 1.2× the count"),
            "{}",
            tiny.reason
        );
        // The edges: a band exactly as wide as uncalibrated is not wider.
        assert!(!wider_than([0.5, 2.0], (0.5, 2.0)));
        assert!(wider_than([0.8, 4.0], (0.5, 2.0)));
        // A model whose card declares a narrower uncalibrated band refuses sooner.
        assert_eq!(
            judge(20, 10.0, range_for(0.5, CHECKED_RANGE), (0.8, 1.25)).level,
            VerdictLevel::Refused
        );
    }
}
