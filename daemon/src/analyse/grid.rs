//! The density grid viewers get: the model's map resampled by area (so the grid sums to the same
//! count) and quantised to bytes relative to its densest cell. 80×45 cells are 3.6 kB, cheap to
//! send to every phone at every analysis.

use crate::infer::DensityMap;
use crate::wire::DensityGrid;

impl DensityMap {
    /// People in the picture: the sum of the map.
    pub fn count(&self) -> f64 {
        self.values.iter().map(|&v| f64::from(v)).sum()
    }

    /// The map resampled to `grid_w × grid_h` (at most its own size) by area, so the grid sums
    /// to the same count, and quantised.
    pub fn to_grid(&self, grid_w: u32, grid_h: u32) -> DensityGrid {
        let gw = (grid_w as usize).clamp(1, self.width.max(1));
        let gh = (grid_h as usize).clamp(1, self.height.max(1));
        if self.width == 0 || self.height == 0 {
            return DensityGrid {
                width: gw as u32,
                height: gh as u32,
                max: 0.0,
                data: vec![0; gw * gh],
            };
        }
        // Resample rows first (width → gw), then columns (height → gh).
        let xs = weights(self.width, gw);
        let ys = weights(self.height, gh);
        let mut rows = vec![0f64; self.height * gw];
        for y in 0..self.height {
            let src = &self.values[y * self.width..(y + 1) * self.width];
            let dst = &mut rows[y * gw..(y + 1) * gw];
            for &(sx, gx, w) in &xs {
                dst[gx] += f64::from(src[sx]) * w;
            }
        }
        let mut cells = vec![0f64; gh * gw];
        for &(sy, gy, w) in &ys {
            for gx in 0..gw {
                cells[gy * gw + gx] += rows[sy * gw + gx] * w;
            }
        }
        let max = cells.iter().copied().fold(0f64, f64::max);
        let data = cells
            .iter()
            .map(|&c| {
                if max > 0.0 {
                    (c.max(0.0) / max * 255.0).round() as u8
                } else {
                    0
                }
            })
            .collect();
        DensityGrid {
            width: gw as u32,
            height: gh as u32,
            max: max as f32,
            data,
        }
    }
}

/// How much of each source cell falls into each destination cell, along one axis:
/// `(source index, destination index, fraction)`.
fn weights(src: usize, dst: usize) -> Vec<(usize, usize, f64)> {
    let scale = dst as f64 / src as f64; // destination cells per source cell
    let mut out = Vec::with_capacity(src + dst);
    for s in 0..src {
        let (a, b) = (s as f64 * scale, (s + 1) as f64 * scale);
        let mut d = a.floor() as usize;
        while (d as f64) < b && d < dst {
            let overlap = (b.min((d + 1) as f64) - a.max(d as f64)) / scale;
            if overlap > 1e-12 {
                out.push((s, d, overlap));
            }
            d += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(width: usize, height: usize, f: impl Fn(usize, usize) -> f32) -> DensityMap {
        let values = (0..height)
            .flat_map(|y| (0..width).map(move |x| (x, y)))
            .map(|(x, y)| f(x, y))
            .collect();
        DensityMap {
            width,
            height,
            values,
        }
    }

    fn grid_sum(g: &DensityGrid) -> f64 {
        g.data
            .iter()
            .map(|&b| f64::from(b) / 255.0 * f64::from(g.max))
            .sum()
    }

    #[test]
    fn count_is_the_sum() {
        let m = map(4, 3, |x, y| (x + y) as f32 * 0.5);
        assert!((m.count() - 15.0).abs() < 1e-9);
    }

    #[test]
    fn downsampling_keeps_the_count_for_uneven_ratios() {
        let m = map(80, 45, |x, y| ((x * 7 + y * 3) % 11) as f32 * 0.01);
        for (gw, gh) in [(80, 45), (64, 36), (33, 17), (7, 5), (1, 1)] {
            let g = m.to_grid(gw, gh);
            assert_eq!((g.width, g.height), (gw, gh));
            assert_eq!(g.data.len(), (gw * gh) as usize);
            let err = (grid_sum(&g) - m.count()).abs() / m.count();
            // Quantisation to 8 bits costs at most half a step per cell.
            assert!(err < 0.01, "{gw}x{gh}: {err}");
        }
    }

    #[test]
    fn grid_never_exceeds_the_map_and_keeps_hot_spots_in_place() {
        // One hot cell at the bottom-right quarter.
        let m = map(40, 20, |x, y| if x == 35 && y == 15 { 2.0 } else { 0.0 });
        let g = m.to_grid(80, 45);
        assert_eq!((g.width, g.height), (40, 20), "clamped to the map's size");
        let g = m.to_grid(4, 2);
        assert_eq!(g.max, 2.0);
        assert_eq!(g.data, vec![0, 0, 0, 0, 0, 0, 0, 255]);
    }

    #[test]
    fn empty_and_negative_maps_quantise_to_zero() {
        let g = map(8, 8, |_, _| 0.0).to_grid(4, 4);
        assert_eq!(g.max, 0.0);
        assert!(g.data.iter().all(|&b| b == 0));
        let g = map(2, 1, |x, _| if x == 0 { -1.0 } else { 1.0 }).to_grid(2, 1);
        assert_eq!(g.data, vec![0, 255], "negative noise is drawn as nothing");
    }
}
