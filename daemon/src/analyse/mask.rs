//! Masks: areas the operator does not want counted (roofs, trees, water, stalls).
//!
//! A mask is a polygon in fractions of the frame (0..1 on both axes), so it holds whatever size
//! the stream or the analysis has. The density inside is zeroed before the count and the heatmap:
//! each density cell is weighted by the share of it that lies outside every mask (4×4 samples per
//! cell), so a mask edge through a cell removes part of it, not all or nothing.

use crate::infer::DensityMap;
pub use crate::wire::Mask;

/// Limits the API checks (docs/api.md).
pub const MAX_MASKS: usize = 32;
pub const MAX_POINTS: usize = 64;
const MAX_NAME: usize = 64;

/// Checks a list of masks the way the API promises; says which one is wrong and how.
pub fn validate(masks: &[Mask]) -> Result<(), String> {
    if masks.len() > MAX_MASKS {
        return Err(format!(
            "{} masks: at most {MAX_MASKS} are kept",
            masks.len()
        ));
    }
    for (i, m) in masks.iter().enumerate() {
        let which = format!("mask {} ({:?})", i + 1, m.name);
        let name = m.name.trim();
        if name.is_empty() || name.chars().count() > MAX_NAME || name.chars().any(char::is_control)
        {
            return Err(format!(
                "{which}: give it a name of 1 to {MAX_NAME} printable characters"
            ));
        }
        if masks[..i].iter().any(|o| o.name.trim() == name) {
            return Err(format!("{which}: another mask has this name"));
        }
        if !(3..=MAX_POINTS).contains(&m.points.len()) {
            return Err(format!(
                "{which}: {} points; a mask has 3 to {MAX_POINTS}",
                m.points.len()
            ));
        }
        if let Some(p) = m
            .points
            .iter()
            .find(|p| !p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)))
        {
            return Err(format!(
                "{which}: the point {p:?} is outside the frame (use fractions 0 to 1)"
            ));
        }
        if area(&m.points).abs() < 1e-6 {
            return Err(format!("{which}: it covers no area"));
        }
    }
    Ok(())
}

/// The polygon's signed area (shoelace), in frame fractions squared.
fn area(points: &[[f64; 2]]) -> f64 {
    let n = points.len();
    (0..n)
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

/// Whether `(x, y)` lies inside the polygon (even-odd rule).
fn inside(points: &[[f64; 2]], x: f64, y: f64) -> bool {
    let mut inside = false;
    let n = points.len();
    let mut j = n - 1;
    for i in 0..n {
        let (pi, pj) = (points[i], points[j]);
        if (pi[1] > y) != (pj[1] > y) && x < (pj[0] - pi[0]) * (y - pi[1]) / (pj[1] - pi[1]) + pi[0]
        {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// The share of each cell of a `width × height` map left outside every mask (1: counted).
pub fn weights(masks: &[Mask], width: usize, height: usize) -> Vec<f32> {
    const S: usize = 4;
    let mut w = vec![1.0f32; width * height];
    if masks.is_empty() {
        return w;
    }
    for cy in 0..height {
        for cx in 0..width {
            let mut outside = 0;
            for sy in 0..S {
                for sx in 0..S {
                    let x = (cx as f64 + (sx as f64 + 0.5) / S as f64) / width as f64;
                    let y = (cy as f64 + (sy as f64 + 0.5) / S as f64) / height as f64;
                    if !masks.iter().any(|m| inside(&m.points, x, y)) {
                        outside += 1;
                    }
                }
            }
            w[cy * width + cx] = outside as f32 / (S * S) as f32;
        }
    }
    w
}

/// Zeroes the density under the masks (weights from [`weights`] for the map's size).
pub fn apply(map: &mut DensityMap, weights: &[f32]) {
    for (v, w) in map.values.iter_mut().zip(weights) {
        *v *= w;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask(name: &str, points: &[[f64; 2]]) -> Mask {
        Mask {
            name: name.into(),
            points: points.to_vec(),
        }
    }

    fn ones(w: usize, h: usize) -> DensityMap {
        DensityMap {
            width: w,
            height: h,
            values: vec![1.0; w * h],
        }
    }

    #[test]
    fn a_mask_over_the_left_half_removes_half_the_count() {
        let m = [mask(
            "left",
            &[[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]],
        )];
        let mut d = ones(80, 45);
        apply(&mut d, &weights(&m, 80, 45));
        assert!((d.count() - 40.0 * 45.0).abs() < 1e-3, "{}", d.count());
        assert_eq!(d.values[0], 0.0);
        assert_eq!(d.values[79], 1.0);
    }

    #[test]
    fn concave_polygons_and_edges_through_cells() {
        // An L shape: the top-right quarter is not in it.
        let l = [mask(
            "L",
            &[
                [0.0, 0.0],
                [0.5, 0.0],
                [0.5, 0.5],
                [1.0, 0.5],
                [1.0, 1.0],
                [0.0, 1.0],
            ],
        )];
        let mut d = ones(8, 8);
        apply(&mut d, &weights(&l, 8, 8));
        assert!((d.count() - 16.0).abs() < 1e-3, "{}", d.count());
        // An edge through the middle of a column of cells removes half of each.
        let half = [mask(
            "strip",
            &[[0.0, 0.0], [0.0625, 0.0], [0.0625, 1.0], [0.0, 1.0]],
        )];
        let w = weights(&half, 8, 8);
        assert!((w[0] - 0.5).abs() < 1e-6, "{}", w[0]);
    }

    #[test]
    fn overlapping_masks_remove_once() {
        let a = mask("a", &[[0.0, 0.0], [0.6, 0.0], [0.6, 1.0], [0.0, 1.0]]);
        let b = mask("b", &[[0.4, 0.0], [1.0, 0.0], [1.0, 1.0], [0.4, 1.0]]);
        let mut d = ones(10, 10);
        apply(&mut d, &weights(&[a, b], 10, 10));
        assert!(d.count().abs() < 1e-6);
    }

    #[test]
    fn bad_masks_are_refused_with_a_reason() {
        let square = [[0.1, 0.1], [0.2, 0.1], [0.2, 0.2], [0.1, 0.2]];
        assert!(validate(&[mask("ok", &square)]).is_ok());
        let cases = [
            (vec![mask("", &square)], "name"),
            (
                vec![mask("a", &square), mask(" a ", &square)],
                "another mask",
            ),
            (vec![mask("a", &square[..2])], "3 to"),
            (
                vec![mask("a", &[[0.1, 0.1], [1.5, 0.1], [0.2, 0.2]])],
                "outside the frame",
            ),
            (
                vec![mask("a", &[[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]])],
                "no area",
            ),
            (
                vec![mask("a", &[[f64::NAN, 0.1], [0.2, 0.2], [0.3, 0.1]])],
                "outside the frame",
            ),
        ];
        for (masks, want) in cases {
            let err = validate(&masks).unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
        let many: Vec<Mask> = (0..33).map(|i| mask(&i.to_string(), &square)).collect();
        assert!(validate(&many).unwrap_err().contains("at most 32"));
    }
}
