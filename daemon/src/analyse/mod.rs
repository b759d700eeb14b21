//! Analyse: from a decoded frame to the count a person reads.
//!
//! ```text
//!  frame (native size) ─▶ analysis size ─▶ resize ─▶ tiles ─▶ model ─▶ stitch ─▶ masks ─▶ factor
//!                          (calibration,                                              │
//!                           analysis.scale,                         count, grid ◀─────┤
//!                           model.input_*)                          smoothed + band ◀─┤
//!                                                                     zone counts ◀───┘
//! ```
//!
//! The zones' counts ([`zones`]) come from the same masked map; whether a zone's count has held
//! above its limit is the model thread's business after the analysis ([`alerts`]), since it needs
//! the analyses over time and says so in events.
//!
//! CSRNet outputs a density map at one eighth of its input size; each value is "people in this
//! cell", so the count is the map's sum. How many people the map holds depends strongly on the
//! *analysis size*: the network counts well only when people look about as large as in its training
//! photos (docs/accuracy.md). So the size is chosen per stream: by the operator's calibration
//! ([`calibrate`]), else `analysis.scale`, else the scale the model's card asks for, else the size
//! that holds `model.input_width × input_height` pixels with the frame's own aspect.
//!
//! [`Analyser`] does it all for one frame and is used alike by the daemon's model thread, by
//! `skycountd analyze` and by `skycountd eval`: what is measured is what runs. It holds no model:
//! the model comes in through [`DensityModel`], so tests drive it with a fake.

pub mod alerts;
pub mod calibrate;
pub mod grid;
pub mod mask;
pub mod motion;
pub mod polygon;
pub mod resize;
pub mod smooth;
pub mod tiles;
pub mod zones;

use std::time::{Duration, Instant, SystemTime};

use fast_image_resize::Resizer;

use crate::infer::{DensityMap, ModelError};
use crate::sample::Frame;
use crate::wire::{unix_ms, Analysis, Calibration, CalibrationPreview, FrameCount, Mask};
use smooth::Smoother;
use tiles::{cells_floor, Plan};
use zones::Zoner;

/// Where the truth lies without calibration, as multiples of the count, for the band, for a model
/// whose card does not say (the stock model): on the drone frames at the default size the count was
/// 5 % to 203 % of the truth (docs/accuracy.md).
pub const UNCALIBRATED_RANGE: (f64, f64) = (0.5, 2.0);

/// How the model in use is to be used and trusted: what its card says, else the stock model's
/// figures (docs/accuracy.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ModelProfile {
    /// The analysis scale it asks for, when nothing else sets one.
    pub scale: Option<f64>,
    /// Where the truth lies around its uncalibrated count, as multiples of it.
    pub uncalibrated_range: (f64, f64),
    /// Where the truth lies around a calibrated count whose box check agreed, as multiples of it.
    pub calibrated_range: (f64, f64),
    /// The spacing of neighbouring people, in analysis pixels, calibration scales the taps to.
    pub spacing_target_px: f64,
}

impl Default for ModelProfile {
    fn default() -> Self {
        Self {
            scale: None,
            uncalibrated_range: UNCALIBRATED_RANGE,
            calibrated_range: calibrate::CHECKED_RANGE,
            spacing_target_px: calibrate::SPACING_TARGET_PX,
        }
    }
}

impl From<&crate::infer::ModelInfo> for ModelProfile {
    fn from(info: &crate::infer::ModelInfo) -> Self {
        let stock = Self::default();
        Self {
            scale: info.analysis_scale,
            uncalibrated_range: info.uncalibrated_range.unwrap_or(stock.uncalibrated_range),
            calibrated_range: info.calibrated_range.unwrap_or(stock.calibrated_range),
            spacing_target_px: info.spacing_target_px.unwrap_or(stock.spacing_target_px),
        }
    }
}

/// Anything that turns packed RGB into a density map: the ONNX Runtime model, or a test's fake.
pub trait DensityModel {
    fn density(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<(DensityMap, Duration), ModelError>;
}

impl DensityModel for crate::infer::Model {
    fn density(
        &mut self,
        rgb: &[u8],
        width: u32,
        height: u32,
    ) -> Result<(DensityMap, Duration), ModelError> {
        self.run(rgb, width, height)
    }
}

/// How the analyser runs; from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// `model.input_width × input_height`: the size when nothing else says.
    pub default_size: (u32, u32),
    /// `analysis.scale` (0: use `default_size`).
    pub scale: f64,
    pub max_width: u32,
    /// `analysis.tile_width × tile_height`, when set.
    pub tile: Option<(u32, u32)>,
    pub tile_margin: u32,
    /// The viewers' density grid, cells across and down.
    pub grid: (u32, u32),
    pub smooth: Duration,
}

impl Options {
    pub fn from_settings(s: &crate::config::Settings) -> Self {
        let a = &s.analysis;
        Self {
            default_size: (s.model.input_width, s.model.input_height),
            scale: a.scale,
            max_width: a.max_width,
            tile: (a.tile_width > 0 && a.tile_height > 0).then_some((a.tile_width, a.tile_height)),
            tile_margin: a.tile_margin,
            grid: (a.grid_width, a.grid_height),
            smooth: Duration::from_millis(a.smooth_ms),
        }
    }
}

/// What the operator set for one stream path: kept on disk, applied to every analysis.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Setup {
    pub calibration: Option<Calibration>,
    #[serde(default)]
    pub masks: Vec<Mask>,
    #[serde(default)]
    pub zones: Vec<crate::wire::Zone>,
    /// The name the operator gave the stream's drone (the dashboard's strip shows it; none: its
    /// path's last part).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The analysis size for a `frame_w × frame_h` frame at `scale` (a fraction of the frame's size):
/// whole density cells, at least one, at most `max_width` wide (keeping the aspect).
pub fn size_at(frame_w: u32, frame_h: u32, scale: f64, max_width: u32) -> (u32, u32) {
    let scale = scale.min(f64::from(max_width) / f64::from(frame_w.max(1)));
    let w = (f64::from(frame_w) * scale).round() as u32;
    let h = (f64::from(frame_h) * scale).round() as u32;
    (cells_floor(w), cells_floor(h))
}

/// The scale at which a `frame_w × frame_h` frame holds as many pixels as `budget` (width × height),
/// its aspect kept: a 16:9 frame at a 640×360 budget is analysed at 640×360, a 4:3 one at 552×416,
/// a portrait one at 360×640, never squeezed.
pub fn budget_scale(frame_w: u32, frame_h: u32, budget: (u32, u32)) -> f64 {
    let pixels = f64::from(budget.0) * f64::from(budget.1);
    (pixels / (f64::from(frame_w.max(1)) * f64::from(frame_h.max(1)))).sqrt()
}

/// A density map for one picture at one size, and what it took.
#[derive(Debug, Clone)]
pub struct Density {
    pub map: DensityMap,
    pub size: (u32, u32),
    pub tiles: u32,
    /// The model's time alone, all tiles together.
    pub took: Duration,
}

/// Runs a model on pictures at any analysis size; see the module docs.
pub struct Analyser {
    opts: Options,
    setup: Setup,
    resizer: Resizer,
    scratch: Vec<u8>,
    tile: Vec<u8>,
    /// Mask weights for the last map size.
    mask_weights: Option<((usize, usize), Vec<f32>)>,
    zoner: Zoner,
    smoother: Smoother,
    seq: u64,
    /// What the running model's card says (its scale, band and calibration target).
    model: ModelProfile,
    /// Whether the camera moves (zones are paused while it does).
    motion: motion::Tracker,
    /// The last frame's size and whether it was the demo's: a change is a new scene.
    scene: Option<(u32, u32, bool)>,
}

impl Analyser {
    pub fn new(opts: Options, setup: Setup) -> Self {
        Self {
            zoner: Zoner::new(setup.zones.clone()),
            smoother: Smoother::new(opts.smooth),
            opts,
            setup,
            resizer: Resizer::new(),
            scratch: Vec::new(),
            tile: Vec::new(),
            mask_weights: None,
            seq: 0,
            model: ModelProfile::default(),
            motion: motion::Tracker::new(),
            scene: None,
        }
    }

    /// What the model in use says of itself (its card): the analysis scale it asks for (applied
    /// when neither a calibration nor `analysis.scale` sets one), the band of its uncalibrated
    /// count, the spacing calibration aims at.
    pub fn set_model(&mut self, info: &crate::infer::ModelInfo) {
        self.set_profile(ModelProfile::from(info));
    }

    pub fn set_profile(&mut self, profile: ModelProfile) {
        if profile != self.model {
            self.smoother.reset();
        }
        self.model = profile;
    }

    /// Where the truth lies around an uncalibrated count of the model in use, as multiples of it.
    pub fn uncalibrated_range(&self) -> (f64, f64) {
        self.model.uncalibrated_range
    }

    /// New options (a reload); the smoothing starts again when what is counted changed.
    pub fn set_options(&mut self, opts: Options) {
        if opts.scale != self.opts.scale || opts.default_size != self.opts.default_size {
            self.smoother.reset();
        }
        self.smoother = Smoother::new(opts.smooth);
        self.opts = opts;
    }

    /// A new calibration, masks or zones: applied from the next frame. The smoothing starts again
    /// when what the total counts changed (zones alone do not change it).
    pub fn set_setup(&mut self, setup: Setup) {
        if setup == self.setup {
            return;
        }
        if setup.calibration != self.setup.calibration || setup.masks != self.setup.masks {
            self.smoother.reset();
            self.mask_weights = None;
        }
        if setup.zones != self.setup.zones {
            self.zoner = Zoner::new(setup.zones.clone());
            // The zones are for the view the camera has now.
            self.motion.zones_changed();
        }
        self.setup = setup;
    }

    /// The analysis size for a frame: the calibration's, else `analysis.scale`'s, else the model's.
    pub fn size_for(&self, frame_w: u32, frame_h: u32) -> (u32, u32) {
        let o = &self.opts;
        if let Some(c) = &self.setup.calibration {
            return size_at(frame_w, frame_h, c.scale, o.max_width);
        }
        if o.scale > 0.0 {
            return size_at(frame_w, frame_h, o.scale, o.max_width);
        }
        if let Some(s) = self.model.scale {
            return size_at(frame_w, frame_h, s, o.max_width);
        }
        size_at(
            frame_w,
            frame_h,
            budget_scale(frame_w, frame_h, o.default_size),
            o.max_width,
        )
    }

    /// The model's density map of packed RGB rows resized to `size`, in tiles when configured.
    pub fn density(
        &mut self,
        model: &mut dyn DensityModel,
        rgb: &[u8],
        width: u32,
        height: u32,
        size: (u32, u32),
    ) -> Result<Density, ModelError> {
        let resized;
        let pixels = if (width, height) == size {
            rgb
        } else {
            resized =
                resize::resize(&mut self.resizer, rgb, width, height, size).map_err(|reason| {
                    ModelError::Run {
                        width,
                        height,
                        reason,
                    }
                })?;
            &resized.data
        };
        let plan = Plan::new(size.0, size.1, self.opts.tile, self.opts.tile_margin);
        if plan.tiles.len() == 1 && (plan.tile_w, plan.tile_h) == size {
            let (map, took) = model.density(pixels, size.0, size.1)?;
            return Ok(Density {
                map,
                size,
                tiles: 1,
                took,
            });
        }
        let (cw, ch) = (
            (size.0 / tiles::CELL) as usize,
            (size.1 / tiles::CELL) as usize,
        );
        let mut values = vec![0f32; cw * ch];
        let mut took = Duration::ZERO;
        for t in &plan.tiles {
            plan.tile_pixels(pixels, t, &mut self.tile);
            let (map, d) = model.density(&self.tile, plan.tile_w, plan.tile_h)?;
            took += d;
            plan.stitch(t, &map.values, map.width, map.height, &mut values);
        }
        Ok(Density {
            map: DensityMap {
                width: cw,
                height: ch,
                values,
            },
            size,
            tiles: plan.tiles.len() as u32,
            took,
        })
    }

    /// Zeroes the density under the masks.
    fn mask(&mut self, map: &mut DensityMap) {
        if self.setup.masks.is_empty() {
            return;
        }
        let dims = (map.width, map.height);
        if self.mask_weights.as_ref().map(|(d, _)| *d) != Some(dims) {
            self.mask_weights = Some((dims, mask::weights(&self.setup.masks, dims.0, dims.1)));
        }
        if let Some((_, w)) = &self.mask_weights {
            mask::apply(map, w);
        }
    }

    /// A calibration from the operator's taps on a frozen frame (packed RGB at its native
    /// size): the scale from the taps' spacing, and the model's count in the box at that scale.
    pub fn calibrate(
        &mut self,
        model: &mut dyn DensityModel,
        rgb: &[u8],
        width: u32,
        height: u32,
        req: &calibrate::Request,
    ) -> Result<Calibration, String> {
        calibrate::validate(req, width, height)?;
        let scale = calibrate::scale_for_target(
            calibrate::spacing(&req.taps),
            self.model.spacing_target_px,
        );
        let region = calibrate::context_region(req.area, width, height);
        let crop = resize::crop(rgb, width, height, region);
        let size = (
            cells_floor((f64::from(crop.width) * scale).round() as u32),
            cells_floor((f64::from(crop.height) * scale).round() as u32),
        );
        let d = self
            .density(model, &crop.data, crop.width, crop.height, size)
            .map_err(|e| e.to_string())?;
        let in_box = calibrate::sum_in_box(
            &d.map.values,
            d.map.width,
            d.map.height,
            region,
            d.size,
            req.area,
        );
        Ok(calibrate::finish(
            req,
            (width, height),
            scale,
            in_box,
            self.model.calibrated_range,
            self.model.uncalibrated_range,
            unix_ms(SystemTime::now()),
        ))
    }

    /// What the whole frame (packed RGB at its native size) counts at the analysis size in use
    /// now and at `proposed`'s, masks applied: one model run at each size.
    pub fn preview(
        &mut self,
        model: &mut dyn DensityModel,
        rgb: &[u8],
        width: u32,
        height: u32,
        proposed: &Calibration,
    ) -> Result<CalibrationPreview, ModelError> {
        let now = self.size_for(width, height);
        let (factor, range, calibrated) = self.trust(self.setup.calibration.as_ref());
        let now = self.frame_count(model, rgb, (width, height), now, factor, range, calibrated)?;
        let size = size_at(width, height, proposed.scale, self.opts.max_width);
        let (factor, range, calibrated) = self.trust(Some(proposed));
        let proposed =
            self.frame_count(model, rgb, (width, height), size, factor, range, calibrated)?;
        Ok(CalibrationPreview { now, proposed })
    }

    /// One frame counted at `size`, masks and `factor` applied, its band `range` times the count.
    #[allow(clippy::too_many_arguments)]
    fn frame_count(
        &mut self,
        model: &mut dyn DensityModel,
        rgb: &[u8],
        (width, height): (u32, u32),
        size: (u32, u32),
        factor: f64,
        range: (f64, f64),
        calibrated: bool,
    ) -> Result<FrameCount, ModelError> {
        let mut d = self.density(model, rgb, width, height, size)?;
        self.mask(&mut d.map);
        let count = d.map.count() * factor;
        Ok(FrameCount {
            count,
            band: [count * range.0.min(1.0), count * range.1.max(1.0)],
            width: d.size.0,
            height: d.size.1,
            calibrated,
        })
    }

    /// How a count made with `calibration` is to be read: its factor, the range its truth lies
    /// in, and whether it may be called calibrated (a calibration whose band is wider than the
    /// uncalibrated one of the model in use is applied, but not called calibrated).
    fn trust(&self, calibration: Option<&Calibration>) -> (f64, (f64, f64), bool) {
        let uncalibrated = self.model.uncalibrated_range;
        match calibration {
            Some(c) => (
                c.factor,
                (c.range[0], c.range[1]),
                !calibrate::wider_than(c.range, uncalibrated),
            ),
            None => (1.0, uncalibrated, false),
        }
    }

    /// One frame, analysed: the `analysis` event.
    pub fn analyse(
        &mut self,
        model: &mut dyn DensityModel,
        frame: &Frame,
    ) -> Result<Analysis, ModelError> {
        let size = self.size_for(frame.width, frame.height);
        // Another stream (its size) or the demo recording coming or going: a new scene, whose
        // first still view is the one the zones are taken to be drawn on.
        let scene = (frame.width, frame.height, frame.demo);
        if self.scene.replace(scene).is_some_and(|s| s != scene) {
            self.motion.reset();
        }
        let mut scratch = std::mem::take(&mut self.scratch);
        let (result, camera) = {
            let rgb = frame.packed_rgb(&mut scratch);
            let camera = self
                .motion
                .observe(rgb, frame.width, frame.height, Instant::now());
            (
                self.density(model, rgb, frame.width, frame.height, size),
                camera,
            )
        };
        self.scratch = scratch;
        let Density {
            mut map,
            size,
            tiles,
            took,
        } = result?;
        self.mask(&mut map);
        let raw = map.count();
        let (factor, range, calibrated) = self.trust(self.setup.calibration.as_ref());
        let count = raw * factor;
        let smoothed = self.smoother.add(Instant::now(), count, range);
        self.seq += 1;
        Ok(Analysis {
            stream: frame.stream.clone(),
            seq: self.seq,
            count,
            inference_ms: took.as_secs_f64() * 1000.0,
            staleness_ms: frame.decoded_at.elapsed().as_secs_f64() * 1000.0,
            frame_pts_ms: frame.pts_ms,
            wall_time_ms: unix_ms(SystemTime::now()),
            input_width: size.0,
            input_height: size.1,
            frame_width: frame.width,
            frame_height: frame.height,
            tiles,
            raw_count: raw,
            smoothed: smoothed.median,
            band: [smoothed.band.0, smoothed.band.1],
            zones: self.zoner.count(&map, factor, count),
            calibrated,
            demo: frame.demo,
            camera,
            density: map.to_grid(self.opts.grid.0, self.opts.grid.1),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A "model" whose density is the mean red value of each 8×8 block / 255: a picture whose red
    /// is 255 where people stand and 0 elsewhere counts one per block of people.
    pub(crate) struct Redness {
        pub runs: Vec<(u32, u32)>,
    }

    impl DensityModel for Redness {
        fn density(
            &mut self,
            rgb: &[u8],
            width: u32,
            height: u32,
        ) -> Result<(DensityMap, Duration), ModelError> {
            self.runs.push((width, height));
            let (w, h) = ((width / 8) as usize, (height / 8) as usize);
            let mut values = vec![0f32; w * h];
            for y in 0..h * 8 {
                for x in 0..w * 8 {
                    let r = rgb[(y * width as usize + x) * 3];
                    values[(y / 8) * w + x / 8] += f32::from(r) / 255.0 / 64.0;
                }
            }
            Ok((
                DensityMap {
                    width: w,
                    height: h,
                    values,
                },
                Duration::from_millis(1),
            ))
        }
    }

    fn options() -> Options {
        Options {
            default_size: (64, 32),
            scale: 0.0,
            max_width: 3840,
            tile: None,
            tile_margin: 16,
            grid: (8, 4),
            smooth: Duration::from_secs(10),
        }
    }

    /// A frame with a red square of `side` pixels at (x, y).
    fn frame(w: u32, h: u32, (x, y, side): (u32, u32, u32)) -> Frame {
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for yy in y..y + side {
            for xx in x..x + side {
                rgb[((yy * w + xx) * 3) as usize] = 255;
            }
        }
        Frame::packed(w, h, rgb)
    }

    fn calibration(scale: f64, factor: f64) -> Calibration {
        Calibration {
            at_ms: 0,
            scale,
            factor,
            frame_width: 256,
            frame_height: 128,
            area: [0, 0, 10, 10],
            taps: 10,
            spacing_px: 10.0,
            model_in_box: 10.0,
            agreement: 1.0,
            expected_error: 0.2,
            range: [0.8, 1.2],
            frame_id: "f".into(),
            message: String::new(),
            verdict: None,
        }
    }

    #[test]
    fn calibration_sets_the_scale_from_the_taps_and_counts_the_box() {
        // People (8x8 red blocks) every 32 px in a 1024x512 frame: tapped in a box of 5x4.
        let (w, h) = (1024u32, 512u32);
        let mut rgb = vec![0u8; (w * h * 3) as usize];
        for py in (0..h).step_by(32) {
            for px in (0..w).step_by(32) {
                for y in py..py + 8 {
                    for x in px..px + 8 {
                        rgb[((y * w + x) * 3) as usize] = 255;
                    }
                }
            }
        }
        let taps: Vec<[f64; 2]> = (0..20)
            .map(|i| {
                [
                    320.0 + 4.0 + (i % 5) as f64 * 32.0,
                    128.0 + 4.0 + (i / 5) as f64 * 32.0,
                ]
            })
            .collect();
        let req = calibrate::Request {
            frame_id: "f".into(),
            area: [316.0, 124.0, 160.0, 128.0],
            taps,
        };
        let mut a = Analyser::new(options(), Setup::default());
        let mut m = Redness { runs: vec![] };
        let c = a.calibrate(&mut m, &rgb, w, h, &req).unwrap();
        assert_eq!(c.scale, 0.3125, "9.6 / 32, on the 1/32 ladder");
        // The fake model counts red area (64 px per person at scale 1), so at this scale it sees
        // 20 people as 20 * 0.3125^2: what matters here is that the box, and only the box, is summed.
        let expected = 20.0 * 0.3125f64.powi(2);
        assert!(
            (c.model_in_box - expected).abs() < 0.15 * expected,
            "{}",
            c.model_in_box
        );
        assert!(
            c.agreement < 0.2,
            "the operator is told the model disagrees: {c:?}"
        );
        assert_eq!(m.runs.len(), 1, "one run on the box and its context");
        let bad = calibrate::Request {
            taps: vec![[0.0, 0.0]; 3],
            ..req
        };
        assert!(a.calibrate(&mut m, &rgb, w, h, &bad).is_err());
    }

    #[test]
    fn a_calibration_wider_than_uncalibrated_is_not_called_calibrated_and_a_preview_counts_both() {
        let f = frame(256, 128, (0, 0, 128));
        let mut a = Analyser::new(
            Options {
                scale: 1.0,
                ..options()
            },
            Setup::default(),
        );
        let mut m = Redness { runs: vec![] };
        // The box check of a careless calibration: 0.8 to 6 times the count, wider than the
        // stock model's 0.5 to 2.
        let careless = Calibration {
            range: [0.8, 6.0],
            ..calibration(0.5, 1.0)
        };
        a.set_setup(Setup {
            calibration: Some(careless.clone()),
            ..Setup::default()
        });
        let x = a.analyse(&mut m, &f).unwrap();
        assert!(!x.calibrated, "applied, but not called calibrated");
        assert_eq!(
            (x.input_width, x.input_height),
            (128, 64),
            "its scale applies"
        );
        assert!(
            (x.band[1] / x.count - 6.0).abs() < 1e-6,
            "its band is honest: {:?}",
            x.band
        );
        let good = calibration(0.25, 1.0);
        a.set_setup(Setup {
            calibration: Some(good.clone()),
            ..Setup::default()
        });
        assert!(a.analyse(&mut m, &f).unwrap().calibrated);
        // A model whose card declares a narrower uncalibrated band than 0.8 to 1.2: the same
        // calibration is no longer called calibrated.
        a.set_profile(ModelProfile {
            uncalibrated_range: (0.9, 1.1),
            ..ModelProfile::default()
        });
        assert!(!a.analyse(&mut m, &f).unwrap().calibrated);
        a.set_profile(ModelProfile::default());
        // The preview: the whole frame now (the good calibration, 64x32) and at the careless
        // one's scale (128x64), each with its band.
        let rgb = f.packed_rgb(&mut Vec::new()).to_vec();
        let p = a.preview(&mut m, &rgb, 256, 128, &careless).unwrap();
        assert_eq!(
            (p.now.width, p.now.height, p.now.calibrated),
            (64, 32, true)
        );
        assert_eq!((p.proposed.width, p.proposed.height), (128, 64));
        assert!(!p.proposed.calibrated);
        assert!((p.proposed.band[1] - 6.0 * p.proposed.count).abs() < 1e-6);
        assert!((p.now.band[0] - 0.8 * p.now.count).abs() < 1e-6);
        // What the fake counts scales with the area: a quarter at half the size.
        assert!(
            (p.now.count - p.proposed.count / 4.0).abs() < 0.05 * p.now.count + 1e-6,
            "{p:?}"
        );
    }

    #[test]
    fn the_size_comes_from_calibration_then_scale_then_the_model_size() {
        let mut a = Analyser::new(options(), Setup::default());
        // 64x32 is a budget of 2048 pixels, spent with the frame's own aspect.
        assert_eq!(a.size_for(1920, 1080), (56, 32));
        let budget = Options {
            default_size: (640, 360),
            ..options()
        };
        a.set_options(budget.clone());
        assert_eq!(a.size_for(1920, 1080), (640, 360), "16:9 as before");
        assert_eq!(a.size_for(1280, 720), (640, 360));
        assert_eq!(a.size_for(1440, 1080), (552, 416), "4:3 is not squeezed");
        assert_eq!(
            a.size_for(1080, 1920),
            (360, 640),
            "nor is a portrait frame"
        );
        assert_eq!(
            a.size_for(320, 180),
            (640, 360),
            "a small frame is upsampled to the budget"
        );
        a.set_options(Options {
            scale: 0.5,
            ..options()
        });
        assert_eq!(a.size_for(1920, 1080), (960, 536));
        a.set_setup(Setup {
            calibration: Some(calibration(1.5, 1.0)),
            ..Setup::default()
        });
        assert_eq!(a.size_for(1920, 1080), (2880, 1616));
        // Capped by max_width, aspect kept.
        a.set_options(Options {
            max_width: 2000,
            ..options()
        });
        assert_eq!(a.size_for(1920, 1080), (2000, 1120));
    }

    #[test]
    fn a_model_that_asks_for_a_scale_gets_it_unless_the_operator_set_one() {
        let mut a = Analyser::new(options(), Setup::default());
        let default = a.size_for(1920, 1080);
        a.set_profile(ModelProfile {
            scale: Some(0.25),
            ..ModelProfile::default()
        });
        assert_eq!(a.size_for(1920, 1080), (480, 264));
        a.set_options(Options {
            scale: 0.5,
            ..options()
        });
        assert_eq!(a.size_for(1920, 1080), (960, 536), "analysis.scale wins");
        a.set_options(options());
        a.set_setup(Setup {
            calibration: Some(calibration(1.5, 1.0)),
            ..Setup::default()
        });
        assert_eq!(a.size_for(1920, 1080), (2880, 1616), "a calibration wins");
        a.set_setup(Setup::default());
        a.set_profile(ModelProfile::default());
        assert_eq!(a.size_for(1920, 1080), default);
    }

    #[test]
    fn tiles_count_what_one_run_counts() {
        let f = frame(512, 256, (100, 60, 120));
        let mut whole = Analyser::new(
            Options {
                scale: 1.0,
                ..options()
            },
            Setup::default(),
        );
        let mut tiled = Analyser::new(
            Options {
                scale: 1.0,
                tile: Some((128, 96)),
                ..options()
            },
            Setup::default(),
        );
        let mut m1 = Redness { runs: vec![] };
        let mut m2 = Redness { runs: vec![] };
        let a = whole.analyse(&mut m1, &f).unwrap();
        let b = tiled.analyse(&mut m2, &f).unwrap();
        assert!((a.count - 225.0).abs() < 1e-3, "{}", a.count);
        assert!(
            (a.count - b.count).abs() < 1e-3,
            "{} vs {}",
            a.count,
            b.count
        );
        assert!(
            b.tiles > 4 && m2.runs.iter().all(|&r| r == (128, 96)),
            "{:?}",
            m2.runs
        );
        assert_eq!((b.input_width, b.input_height), (512, 256));
        assert_eq!((b.frame_width, b.frame_height), (512, 256));
    }

    #[test]
    fn masks_and_the_factor_apply_and_the_band_is_honest() {
        let f = frame(256, 128, (0, 0, 128)); // the whole left half
        let mut a = Analyser::new(
            Options {
                scale: 1.0,
                ..options()
            },
            Setup::default(),
        );
        let mut m = Redness { runs: vec![] };
        let plain = a.analyse(&mut m, &f).unwrap();
        assert!((plain.count - 256.0).abs() < 1e-3);
        assert!(!plain.calibrated);
        assert_eq!(plain.smoothed, plain.count);
        assert!(
            plain.band[0] < plain.count && plain.band[1] > plain.count,
            "uncalibrated: wide"
        );

        a.set_setup(Setup {
            calibration: Some(calibration(1.0, 2.0)),
            masks: vec![Mask {
                name: "left quarter".into(),
                points: vec![[0.0, 0.0], [0.25, 0.0], [0.25, 1.0], [0.0, 1.0]],
            }],
            ..Setup::default()
        });
        let masked = a.analyse(&mut m, &f).unwrap();
        assert!(
            (masked.raw_count - 128.0).abs() < 1e-3,
            "{}",
            masked.raw_count
        );
        assert!((masked.count - 256.0).abs() < 1e-3, "factor 2");
        assert!(masked.calibrated);
        assert_eq!(masked.smoothed, masked.count, "smoothing restarted");
        assert!((masked.band[0] - 256.0 * 0.8).abs() < 1e-6);
        // The heatmap has nothing under the mask.
        assert_eq!(masked.density.data[0], 0);

        // Zones: counted on the masked map, with the factor; a new zone leaves the smoothing be.
        let mut setup = a.setup.clone();
        setup.zones = vec![
            crate::wire::Zone {
                name: "whole".into(),
                points: vec![[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]],
                limit: Some(100),
            },
            crate::wire::Zone {
                name: "left half".into(),
                points: vec![[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
                limit: None,
            },
        ];
        a.set_setup(setup);
        let zoned = a.analyse(&mut m, &f).unwrap();
        assert_eq!(zoned.zones.len(), 2);
        assert!(
            (zoned.zones[0].count - zoned.count).abs() < 1e-6,
            "{:?}",
            zoned.zones
        );
        assert!(
            (zoned.zones[1].count - 256.0).abs() < 1e-3,
            "masked quarter not counted"
        );
        assert_eq!(zoned.zones[0].limit, Some(100));
        assert_ne!(zoned.seq, masked.seq);
    }
}
