//! Tiles: one big analysis as several model runs of a fixed size, stitched without seams.
//!
//! Some execution providers want one fixed input shape (a TensorRT engine is built for it), and
//! analysing a 4K picture in one run needs gigabytes for the first layers' activations. So a
//! picture larger than a tile is cut into tiles of exactly the tile's size that overlap by a margin:
//!
//! ```text
//!   ┌───────┬───────┬──┐   each pixel belongs to exactly one tile's *core* (the solid grid);
//!   │ core  │ core  │  │   a tile is its core grown by `margin` on every side (clamped to the
//!   ├───────┼───────┼──┤   picture, then shifted to keep the tile's size), so the model sees
//!   │ core  │ core  │  │   context around every core. Only each core's part of a tile's density
//!   └───────┴───────┴──┘   map is kept: nobody on a border is counted twice or lost.
//! ```
//!
//! The density map is 1/8 of the input, so every size and offset here is a multiple of 8 and a
//! core's cells line up with the whole picture's. A picture smaller than a tile is padded (black)
//! to the tile's size; the padding lies outside every core.

/// Pixels per density cell along each axis (CSRNet's three 2×2 pools).
pub const CELL: u32 = 8;

/// One tile: where it reads from the picture and which of its density cells it keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tile {
    /// The tile's top-left corner in the picture, in pixels (may leave the picture when padded).
    pub x: u32,
    pub y: u32,
    /// The core in the picture's density cells: `[cx0, cx1) × [cy0, cy1)`.
    pub core: (u32, u32, u32, u32),
}

/// How a `width × height` picture (multiples of 8) is cut into `tile_w × tile_h` tiles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub width: u32,
    pub height: u32,
    pub tile_w: u32,
    pub tile_h: u32,
    pub tiles: Vec<Tile>,
}

/// Rounds down to a multiple of [`CELL`], at least one cell.
pub fn cells_floor(v: u32) -> u32 {
    (v / CELL).max(1) * CELL
}

/// Cuts one axis of `len` pixels into cores no longer than `tile - 2 margin` (at least one
/// cell), and places a tile of `tile` pixels around each. Returns `(tile start, core start, core
/// end)` in pixels.
fn axis(len: u32, tile: u32, margin: u32) -> Vec<(u32, u32, u32)> {
    if len <= tile {
        return vec![(0, 0, len)];
    }
    let core_max = tile.saturating_sub(2 * margin).max(CELL);
    let n = len.div_ceil(core_max);
    // Spread the cores evenly, on cell boundaries.
    let cells = len / CELL;
    (0..n)
        .map(|i| {
            let c0 = cells * i / n * CELL;
            let c1 = if i + 1 == n {
                len
            } else {
                cells * (i + 1) / n * CELL
            };
            let start = c0.saturating_sub(margin).min(len - tile);
            (start, c0, c1)
        })
        .collect()
}

impl Plan {
    /// The plan for a picture; with no tile size (`None`) the picture is one run.
    pub fn new(width: u32, height: u32, tile: Option<(u32, u32)>, margin: u32) -> Self {
        let (tile_w, tile_h) = tile.unwrap_or((width, height));
        let margin = margin / CELL * CELL;
        let xs = axis(width, tile_w, margin);
        let ys = axis(height, tile_h, margin);
        let mut tiles = Vec::with_capacity(xs.len() * ys.len());
        for &(y, cy0, cy1) in &ys {
            for &(x, cx0, cx1) in &xs {
                tiles.push(Tile {
                    x,
                    y,
                    core: (cx0 / CELL, cx1 / CELL, cy0 / CELL, cy1 / CELL),
                });
            }
        }
        Self {
            width,
            height,
            tile_w,
            tile_h,
            tiles,
        }
    }

    /// Copies one tile's pixels out of packed RGB rows, padding with black where the tile
    /// leaves the picture.
    pub fn tile_pixels(&self, rgb: &[u8], tile: &Tile, out: &mut Vec<u8>) {
        let (w, h) = (self.width as usize, self.height as usize);
        let (tw, th) = (self.tile_w as usize, self.tile_h as usize);
        out.clear();
        out.resize(tw * th * 3, 0);
        let (x0, y0) = (tile.x as usize, tile.y as usize);
        let cols = tw.min(w.saturating_sub(x0));
        for row in 0..th.min(h.saturating_sub(y0)) {
            let src = ((y0 + row) * w + x0) * 3;
            out[row * tw * 3..(row * tw + cols) * 3].copy_from_slice(&rgb[src..src + cols * 3]);
        }
    }

    /// Adds one tile's density map (`map_w × map_h` cells) into the picture's map: only the
    /// tile's core.
    pub fn stitch(&self, tile: &Tile, map: &[f32], map_w: usize, map_h: usize, into: &mut [f32]) {
        let out_w = (self.width / CELL) as usize;
        let (cx0, cx1, cy0, cy1) = tile.core;
        let (tx, ty) = ((tile.x / CELL) as usize, (tile.y / CELL) as usize);
        for cy in cy0 as usize..cy1 as usize {
            let my = cy - ty;
            if my >= map_h {
                continue;
            }
            for cx in cx0 as usize..cx1 as usize {
                let mx = cx - tx;
                if mx < map_w {
                    into[cy * out_w + cx] = map[my * map_w + mx];
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every density cell of the picture is in exactly one core.
    fn assert_partition(plan: &Plan) {
        let (cw, ch) = ((plan.width / CELL) as usize, (plan.height / CELL) as usize);
        let mut owners = vec![0u8; cw * ch];
        for t in &plan.tiles {
            let (x0, x1, y0, y1) = t.core;
            assert!(
                t.x / CELL <= x0 && x1 <= (t.x + plan.tile_w) / CELL,
                "{t:?}"
            );
            assert!(
                t.y / CELL <= y0 && y1 <= (t.y + plan.tile_h) / CELL,
                "{t:?}"
            );
            for y in y0..y1 {
                for x in x0..x1 {
                    owners[y as usize * cw + x as usize] += 1;
                }
            }
        }
        assert!(owners.iter().all(|&o| o == 1), "{plan:?}");
    }

    #[test]
    fn cores_partition_the_picture_for_any_size() {
        for (w, h) in [
            (640, 360),
            (1920, 1080),
            (2560, 1440),
            (3840, 2160),
            (1288, 728),
            (8, 8),
        ] {
            for tile in [None, Some((640, 360)), Some((1280, 720)), Some((960, 544))] {
                let plan = Plan::new(cells_floor(w), cells_floor(h), tile, 64);
                assert_partition(&plan);
                if let Some((tw, th)) = tile {
                    assert_eq!((plan.tile_w, plan.tile_h), (tw, th), "fixed shape");
                }
            }
        }
    }

    #[test]
    fn tiles_overlap_by_the_margin_where_they_meet() {
        let plan = Plan::new(3840, 2160, Some((1280, 720)), 64);
        assert!(plan.tiles.len() >= 9, "{}", plan.tiles.len());
        for t in &plan.tiles {
            let (x0, ..) = t.core;
            if x0 > 0 {
                assert!(x0 * CELL - t.x >= 64, "context left of the core: {t:?}");
            }
            assert!(
                t.x + plan.tile_w <= 3840 && t.y + plan.tile_h <= 2160,
                "inside: {t:?}"
            );
        }
    }

    #[test]
    fn stitching_a_map_cut_into_tiles_gives_it_back() {
        // A "model" whose density is a pure function of the pixel position: stitching must put
        // every cell back where it was, whatever the tiling.
        let (w, h) = (1920u32, 1080u32);
        let truth = |x: usize, y: usize| (x * 7 + y * 13) as f32;
        let plan = Plan::new(w, h, Some((640, 360)), 64);
        let mut out = vec![-1.0; (w / 8 * (h / 8)) as usize];
        for t in &plan.tiles {
            let (mw, mh) = ((plan.tile_w / 8) as usize, (plan.tile_h / 8) as usize);
            let map: Vec<f32> = (0..mh)
                .flat_map(|y| (0..mw).map(move |x| (x, y)))
                .map(|(x, y)| truth(x + (t.x / 8) as usize, y + (t.y / 8) as usize))
                .collect();
            plan.stitch(t, &map, mw, mh, &mut out);
        }
        for (i, v) in out.iter().enumerate() {
            let (x, y) = (i % (w / 8) as usize, i / (w / 8) as usize);
            assert_eq!(*v, truth(x, y), "cell {x},{y}");
        }
    }

    #[test]
    fn a_small_picture_is_padded_to_the_tile() {
        let plan = Plan::new(16, 8, Some((32, 16)), 8);
        assert_eq!(plan.tiles.len(), 1);
        let rgb: Vec<u8> = (0..16 * 8 * 3).map(|i| (i % 251) as u8 + 1).collect();
        let mut out = Vec::new();
        plan.tile_pixels(&rgb, &plan.tiles[0], &mut out);
        assert_eq!(out.len(), 32 * 16 * 3);
        assert_eq!(&out[..16 * 3], &rgb[..16 * 3], "first row copied");
        assert!(out[16 * 3..32 * 3].iter().all(|&b| b == 0), "padded right");
        assert!(out[32 * 3 * 8..].iter().all(|&b| b == 0), "padded below");
    }
}
