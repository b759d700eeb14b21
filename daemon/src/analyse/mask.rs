//! Masks: areas the operator does not want counted (roofs, trees, water, stalls).
//!
//! A mask is a polygon in fractions of the frame (0..1 on both axes), so it holds whatever size
//! the stream or the analysis has; its checks and geometry are [`super::polygon`]'s, shared with
//! zones. The density inside is zeroed before the count and the heatmap: each density cell is
//! weighted by the share of it that lies outside every mask, so a mask edge through a cell removes
//! part of it, not all or nothing.

use super::polygon;
use crate::infer::DensityMap;
pub use crate::wire::Mask;

/// Limits the API checks (docs/api.md).
pub const MAX_MASKS: usize = 32;

/// Checks a list of masks the way the API promises; says which one is wrong and how.
pub fn validate(masks: &[Mask]) -> Result<(), String> {
    polygon::validate(masks, "mask", MAX_MASKS)
}

/// The share of each cell of a `width × height` map left outside every mask (1: counted).
pub fn weights(masks: &[Mask], width: usize, height: usize) -> Vec<f32> {
    let shapes: Vec<&[[f64; 2]]> = masks.iter().map(|m| m.points.as_slice()).collect();
    polygon::coverage(&shapes, width, height)
        .into_iter()
        .map(|c| 1.0 - c)
        .collect()
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
                vec![mask("a", &[[0.1, 0.1], [0.6, 0.5], [0.6, 0.1], [0.1, 0.3]])],
                "cross",
            ),
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
        let err = validate(&[mask("roof\u{202e}", &square)]).unwrap_err();
        assert!(err.contains("U+202E"), "{err}");
    }
}
