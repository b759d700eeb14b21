//! Which decoder, and how its pictures reach the model's size: plain Rust, no GStreamer.
//!
//! The choice is made by asking the GStreamer registry which elements exist (the caller passes
//! that question in as a function), in order of preference: NVIDIA's V4L2 decoder on Jetson,
//! the stateless/stateful V4L2 decoders of the Raspberry Pi, VA-API, and libav in software last.
//! Each decoder comes with the scaler that suits it, so frames are scaled to the model's input
//! size in hardware where the platform has some, and never in per-pixel Rust loops.

use std::fmt;

/// The video codecs skycountd decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    H264,
    H265,
}

impl Codec {
    /// From a GStreamer caps name such as `video/x-h264`.
    pub fn from_caps_name(name: &str) -> Option<Self> {
        match name {
            "video/x-h264" => Some(Self::H264),
            "video/x-h265" => Some(Self::H265),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::H264 => "h264",
            Self::H265 => "h265",
        }
    }

    fn parser(self) -> &'static str {
        match self {
            Self::H264 => "h264parse",
            Self::H265 => "h265parse",
        }
    }
}

impl fmt::Display for Codec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How decoded pictures are scaled and converted to packed RGB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Scaler {
    /// Jetson: nvvidconv scales in the VIC out of NVMM memory into RGBA.
    NvVidConv,
    /// Raspberry Pi: v4l2convert scales in the ISP.
    V4l2Convert,
    /// VA-API post-processing (the `va` plugin).
    VaPostProc,
    /// The older gstreamer-vaapi post-processing.
    VaapiPostProc,
    /// videoscale + videoconvert on the CPU.
    Software,
}

/// A decoder and the pipeline fragment that turns coded video into RGB frames of the model's size.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecoderPlan {
    pub codec: Codec,
    /// The GStreamer element that decodes.
    pub decoder: String,
    pub hardware: bool,
    scaler: Scaler,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectError {
    #[error("no {codec} decoder is installed (looked for {tried}): install gstreamer1.0-libav for software decoding, or your platform's hardware decoder plugin")]
    NoneAvailable { codec: Codec, tried: String },
    #[error("decode.decoder = {name:?} is not a GStreamer element on this system: use \"auto\" or one of the installed decoders (gst-inspect-1.0 | grep -i {codec})")]
    NotInstalled { name: String, codec: Codec },
}

/// Candidates for `codec` in order of preference.
pub fn candidates(codec: Codec) -> &'static [&'static str] {
    match codec {
        Codec::H264 => &[
            "nvv4l2decoder",
            "v4l2slh264dec",
            "v4l2h264dec",
            "vah264dec",
            "vaapih264dec",
            "avdec_h264",
        ],
        Codec::H265 => &[
            "nvv4l2decoder",
            "v4l2slh265dec",
            "v4l2h265dec",
            "vah265dec",
            "vaapih265dec",
            "avdec_h265",
        ],
    }
}

fn scaler_for(decoder: &str, exists: &dyn Fn(&str) -> bool) -> Scaler {
    let wanted = match decoder {
        "nvv4l2decoder" => Some((Scaler::NvVidConv, "nvvidconv")),
        d if d.starts_with("v4l2") => Some((Scaler::V4l2Convert, "v4l2convert")),
        d if d.starts_with("vaapi") => Some((Scaler::VaapiPostProc, "vaapipostproc")),
        d if d.starts_with("va") => Some((Scaler::VaPostProc, "vapostproc")),
        _ => None,
    };
    match wanted {
        Some((scaler, element)) if exists(element) => scaler,
        _ => Scaler::Software,
    }
}

/// Chooses the decoder for `codec`. `setting` is `decode.decoder` ("auto" or an element name);
/// `exists` asks the registry; decoders in `excluded` failed earlier in this run and are passed
/// over.
pub fn choose(
    codec: Codec,
    setting: &str,
    exists: &dyn Fn(&str) -> bool,
    excluded: &[String],
) -> Result<DecoderPlan, SelectError> {
    let decoder = if setting != "auto" {
        if !exists(setting) {
            return Err(SelectError::NotInstalled {
                name: setting.into(),
                codec,
            });
        }
        setting.to_string()
    } else {
        candidates(codec)
            .iter()
            .find(|c| exists(c) && !excluded.iter().any(|e| e == *c))
            .ok_or_else(|| SelectError::NoneAvailable {
                codec,
                tried: candidates(codec).join(", "),
            })?
            .to_string()
    };
    Ok(DecoderPlan {
        codec,
        hardware: !decoder.starts_with("avdec_") && decoder != "openh264dec",
        scaler: scaler_for(&decoder, exists),
        decoder,
    })
}

impl DecoderPlan {
    /// The gst-launch description of parse → decode → (scale) → packed RGB: at `size` when
    /// given (scaled in hardware where the platform has a scaler), else at the stream's own size.
    pub fn description(&self, size: Option<(u32, u32)>) -> String {
        let parse = self.codec.parser();
        let dec = &self.decoder;
        let dims = size
            .map(|(w, h)| format!(",width={w},height={h}"))
            .unwrap_or_default();
        // Caps are spelled as capsfilter elements: a bare caps string cannot end a bin description.
        let rgb = format!("capsfilter caps=video/x-raw,format=RGB{dims}");
        let sized = format!("capsfilter caps=video/x-raw{dims}");
        match self.scaler {
            Scaler::NvVidConv => format!(
                "{parse} ! {dec} ! nvvidconv ! capsfilter caps=video/x-raw,format=RGBA{dims} ! videoconvert ! {rgb}"
            ),
            Scaler::V4l2Convert if size.is_some() => {
                format!("{parse} ! {dec} ! v4l2convert ! {sized} ! videoconvert ! {rgb}")
            }
            Scaler::VaPostProc if size.is_some() => {
                format!("{parse} ! {dec} ! vapostproc ! {sized} ! videoconvert ! {rgb}")
            }
            Scaler::VaapiPostProc => match size {
                Some((w, h)) => format!(
                    "{parse} ! {dec} ! vaapipostproc width={w} height={h} ! videoconvert ! {rgb}"
                ),
                None => format!("{parse} ! {dec} ! vaapipostproc ! videoconvert ! {rgb}"),
            },
            Scaler::Software if size.is_some() => {
                format!("{parse} ! {dec} ! videoscale ! videoconvert ! {rgb}")
            }
            // Native size: the decoder's pictures are only converted to RGB.
            Scaler::V4l2Convert | Scaler::VaPostProc | Scaler::Software => {
                format!("{parse} ! {dec} ! videoconvert ! {rgb}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry(names: &'static [&'static str]) -> impl Fn(&str) -> bool {
        move |n| names.contains(&n)
    }

    #[test]
    fn jetson_uses_nvv4l2decoder_and_scales_in_the_vic() {
        let exists = registry(&["nvv4l2decoder", "nvvidconv", "avdec_h264", "avdec_h265"]);
        let p = choose(Codec::H264, "auto", &exists, &[]).unwrap();
        assert_eq!(p.decoder, "nvv4l2decoder");
        assert!(p.hardware);
        let d = p.description(Some((640, 360)));
        assert!(d.starts_with("h264parse ! nvv4l2decoder ! nvvidconv ! capsfilter caps=video/x-raw,format=RGBA,width=640,height=360"), "{d}");
        assert!(d.ends_with("capsfilter caps=video/x-raw,format=RGB,width=640,height=360"));
        let p = choose(Codec::H265, "auto", &exists, &[]).unwrap();
        assert!(p
            .description(Some((8, 8)))
            .starts_with("h265parse ! nvv4l2decoder"));
        let native = p.description(None);
        assert!(
            native.contains("nvvidconv ! capsfilter caps=video/x-raw,format=RGBA ! videoconvert")
                && native.ends_with("format=RGB"),
            "{native}"
        );
    }

    #[test]
    fn raspberry_pi_4_uses_v4l2_and_its_converter() {
        let exists = registry(&["v4l2h264dec", "v4l2convert", "avdec_h264"]);
        let p = choose(Codec::H264, "auto", &exists, &[]).unwrap();
        assert_eq!(p.decoder, "v4l2h264dec");
        assert!(p
            .description(Some((640, 360)))
            .contains("v4l2convert ! capsfilter caps=video/x-raw,width=640,height=360"));
        // No H.265 hardware decoder: software.
        let exists = registry(&["v4l2h264dec", "v4l2convert", "avdec_h265"]);
        let p = choose(Codec::H265, "auto", &exists, &[]).unwrap();
        assert_eq!(p.decoder, "avdec_h265");
        assert!(!p.hardware);
    }

    #[test]
    fn va_api_comes_before_software_and_software_is_last() {
        let exists = registry(&["vah264dec", "vapostproc", "avdec_h264"]);
        assert_eq!(
            choose(Codec::H264, "auto", &exists, &[]).unwrap().decoder,
            "vah264dec"
        );
        let exists = registry(&["avdec_h264"]);
        let p = choose(Codec::H264, "auto", &exists, &[]).unwrap();
        assert_eq!(p.decoder, "avdec_h264");
        assert_eq!(
            p.description(Some((640, 360))),
            "h264parse ! avdec_h264 ! videoscale ! videoconvert ! capsfilter caps=video/x-raw,format=RGB,width=640,height=360"
        );
        assert_eq!(
            p.description(None),
            "h264parse ! avdec_h264 ! videoconvert ! capsfilter caps=video/x-raw,format=RGB"
        );
    }

    #[test]
    fn a_decoder_that_failed_is_passed_over() {
        let exists = registry(&["v4l2h264dec", "avdec_h264"]);
        let p = choose(Codec::H264, "auto", &exists, &["v4l2h264dec".into()]).unwrap();
        assert_eq!(p.decoder, "avdec_h264");
    }

    #[test]
    fn configured_decoder_overrides_and_must_exist() {
        let exists = registry(&["nvv4l2decoder", "avdec_h264"]);
        let p = choose(Codec::H264, "avdec_h264", &exists, &[]).unwrap();
        assert_eq!(p.decoder, "avdec_h264");
        let e = choose(Codec::H264, "mydec", &exists, &[]).unwrap_err();
        assert!(e
            .to_string()
            .contains("\"mydec\" is not a GStreamer element"));
    }

    #[test]
    fn nothing_installed_is_a_clear_error() {
        let e = choose(Codec::H265, "auto", &registry(&[]), &[]).unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("no h265 decoder"), "{msg}");
        assert!(msg.contains("gstreamer1.0-libav"), "{msg}");
    }

    #[test]
    fn codecs_from_caps() {
        assert_eq!(Codec::from_caps_name("video/x-h264"), Some(Codec::H264));
        assert_eq!(Codec::from_caps_name("video/x-h265"), Some(Codec::H265));
        assert_eq!(Codec::from_caps_name("video/x-vp8"), None);
    }
}
