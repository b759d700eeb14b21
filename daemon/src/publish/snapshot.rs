//! JPEG: the last analysed frame encoded for viewers whose browser cannot play WebRTC, and the
//! HTTP answers that carry a JPEG (the live snapshot, frozen frames, a flight's peak).

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};

use crate::sample::Frame;

/// A JPEG answer with its `Cache-Control` (`no-store` for the live snapshot, `private,
/// max-age=3600` for frames that never change: frozen frames, a flight's peak).
pub fn jpeg_response(jpeg: impl Into<Body>, cache_control: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/jpeg")),
            (
                header::CACHE_CONTROL,
                HeaderValue::from_static(cache_control),
            ),
        ],
        jpeg.into(),
    )
        .into_response()
}

/// The hub's cached JPEG as a response body, shared with the cache rather than copied for each
/// viewer.
pub fn shared_body(jpeg: Arc<Vec<u8>>) -> Body {
    struct Shared(Arc<Vec<u8>>);
    impl AsRef<[u8]> for Shared {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    Body::from(Bytes::from_owner(Shared(jpeg)))
}

/// JPEG quality of snapshots: small enough for a phone on a busy hotspot.
const QUALITY: u8 = 80;

pub fn encode_jpeg(frame: &Frame) -> Result<Vec<u8>, String> {
    let mut scratch = Vec::new();
    let rgb = frame.packed_rgb(&mut scratch);
    let mut out = Vec::with_capacity(rgb.len() / 8);
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, QUALITY)
        .encode(
            rgb,
            frame.width,
            frame.height,
            image::ExtendedColorType::Rgb8,
        )
        .map_err(|e| format!("cannot encode the snapshot: {e}"))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_decodable_jpeg_of_the_frame() {
        let (w, h) = (64u32, 32u32);
        let rgb: Vec<u8> = (0..w * h)
            .flat_map(|i| [(i % 256) as u8, 128, 200])
            .collect();
        let jpeg = encode_jpeg(&Frame::packed(w, h, rgb)).unwrap();
        assert_eq!(&jpeg[..2], &[0xFF, 0xD8]);
        let back = image::load_from_memory(&jpeg).unwrap();
        assert_eq!((back.width(), back.height()), (w, h));
    }
}
