//! Resize: packed RGB pictures to the analysis size (bilinear, area-aware when shrinking), and
//! crops out of them. `fast_image_resize` does the pixel work (SIMD); nothing here loops over
//! pixels but the crop's row copies.

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{FilterType, PixelType, ResizeAlg, ResizeOptions, Resizer};

/// A packed RGB picture.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rgb {
    pub width: u32,
    pub height: u32,
    pub data: Vec<u8>,
}

/// Resizes packed RGB rows; the same size is a copy-free no-op for the caller to skip.
pub fn resize(
    resizer: &mut Resizer,
    rgb: &[u8],
    width: u32,
    height: u32,
    to: (u32, u32),
) -> Result<Rgb, String> {
    let src = ImageRef::new(width, height, rgb, PixelType::U8x3)
        .map_err(|e| format!("a {width}x{height} frame of {} bytes: {e}", rgb.len()))?;
    let mut dst = Image::new(to.0, to.1, PixelType::U8x3);
    resizer
        .resize(
            &src,
            &mut dst,
            &ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Bilinear)),
        )
        .map_err(|e| format!("cannot resize {width}x{height} to {}x{}: {e}", to.0, to.1))?;
    Ok(Rgb {
        width: to.0,
        height: to.1,
        data: dst.into_vec(),
    })
}

/// The pixels of `[x, x+w) × [y, y+h)` (clamped to the picture).
pub fn crop(rgb: &[u8], width: u32, height: u32, (x, y, w, h): (u32, u32, u32, u32)) -> Rgb {
    let x = x.min(width);
    let y = y.min(height);
    let w = w.min(width - x);
    let h = h.min(height - y);
    let mut data = Vec::with_capacity((w * h * 3) as usize);
    for row in y..y + h {
        let start = ((row * width + x) * 3) as usize;
        data.extend_from_slice(&rgb[start..start + (w * 3) as usize]);
    }
    Rgb {
        width: w,
        height: h,
        data,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_picture_stays_flat_at_any_size() {
        let rgb = [10u8, 120, 250].repeat(64 * 36);
        let mut r = Resizer::new();
        for to in [(32, 18), (128, 72), (64, 36), (40, 24)] {
            let out = resize(&mut r, &rgb, 64, 36, to).unwrap();
            assert_eq!((out.width, out.height), to);
            assert_eq!(out.data.len(), (to.0 * to.1 * 3) as usize);
            assert!(out.data.chunks(3).all(|p| p == [10, 120, 250]), "{to:?}");
        }
    }

    #[test]
    fn a_short_buffer_is_an_error_not_a_panic() {
        let mut r = Resizer::new();
        let err = resize(&mut r, &[0; 10], 64, 36, (32, 18)).unwrap_err();
        assert!(err.contains("64x36"), "{err}");
    }

    #[test]
    fn crops_are_clamped_to_the_picture() {
        let rgb: Vec<u8> = (0..4 * 3 * 3).map(|i| i as u8).collect(); // 4x3
        let c = crop(&rgb, 4, 3, (2, 1, 10, 10));
        assert_eq!((c.width, c.height), (2, 2));
        assert_eq!(&c.data[..6], &rgb[(4 + 2) * 3..(4 + 4) * 3]);
    }
}
