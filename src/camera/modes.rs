//! Which of a camera's modes to use: the pure half of opening a V4L2 camera, so the rule is
//! tested without a device. [`crate::hw::camera`] enumerates what the camera offers and asks
//! [`choose`].
//!
//! The rule: the size nearest the configured one (in scale and shape, so 800×600 asked of a
//! camera with 640×480 and 1280×720 gives 640×480), then the configured pixel format, then the
//! others we decode (YUYV, MJPEG, NV12), then the larger size.

use std::fmt;

use super::PixelFormat;

/// The sizes a camera offers for one pixel format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sizes {
    Discrete(Vec<(u32, u32)>),
    /// Every size from `min` to `max` in `step`s (V4L2 stepwise or continuous).
    Stepwise {
        min: (u32, u32),
        max: (u32, u32),
        step: (u32, u32),
    },
}

/// One pixel format a camera offers, with its sizes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub format: PixelFormat,
    pub sizes: Sizes,
}

/// The mode to ask the camera for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Choice {
    pub format: PixelFormat,
    pub width: u32,
    pub height: u32,
}

impl fmt::Display for Choice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}x{}", self.format.name(), self.width, self.height)
    }
}

impl fmt::Display for Sizes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sizes::Discrete(list) => {
                let names: Vec<String> = list.iter().map(|(w, h)| format!("{w}x{h}")).collect();
                f.write_str(&names.join(" "))
            }
            Sizes::Stepwise { min, max, step } => write!(
                f,
                "{}x{}..{}x{} step {}x{}",
                min.0, min.1, max.0, max.1, step.0, step.1
            ),
        }
    }
}

/// The offered size of `sizes` nearest `(width, height)`.
fn nearest(sizes: &Sizes, width: u32, height: u32) -> Option<(u32, u32)> {
    match sizes {
        Sizes::Discrete(list) => list
            .iter()
            .copied()
            .filter(|&(w, h)| w > 0 && h > 0)
            .min_by(|&a, &b| {
                size_cost(a, width, height)
                    .total_cmp(&size_cost(b, width, height))
                    .then((b.0 * b.1).cmp(&(a.0 * a.1)))
            }),
        Sizes::Stepwise { min, max, step } => {
            let fit = |want: u32, lo: u32, hi: u32, step: u32| {
                let step = step.max(1);
                let clamped = want.clamp(lo, hi.max(lo));
                let k = (clamped - lo + step / 2) / step;
                (lo + k * step).min(hi.max(lo))
            };
            let w = fit(width, min.0, max.0, step.0);
            let h = fit(height, min.1, max.1, step.1);
            (w > 0 && h > 0).then_some((w, h))
        }
    }
}

/// How far a size is from the wanted one: |ln(w/W)| + |ln(h/H)|, so doubling and halving
/// count the same and a wrong shape costs as much as a wrong scale.
fn size_cost((w, h): (u32, u32), width: u32, height: u32) -> f64 {
    let ratio = |a: u32, b: u32| (f64::from(a) / f64::from(b.max(1))).ln().abs();
    ratio(w, width) + ratio(h, height)
}

/// Preference among formats at the same size: the configured one, then YUYV (exact and
/// cheap), MJPEG, NV12.
fn format_rank(format: PixelFormat, wanted: PixelFormat) -> u8 {
    if format == wanted {
        return 0;
    }
    match format {
        PixelFormat::Yuyv => 1,
        PixelFormat::Mjpeg => 2,
        PixelFormat::Nv12 => 3,
    }
}

/// The mode to use, or `None` when the camera offers no format we decode.
pub fn choose(offers: &[Offer], wanted: PixelFormat, width: u32, height: u32) -> Option<Choice> {
    offers
        .iter()
        .filter_map(|o| {
            let (w, h) = nearest(&o.sizes, width, height)?;
            Some(Choice {
                format: o.format,
                width: w,
                height: h,
            })
        })
        .min_by(|a, b| {
            // Sizes within 1% count as equal, so format preference decides between them.
            let ca = (size_cost((a.width, a.height), width, height) * 100.0).round();
            let cb = (size_cost((b.width, b.height), width, height) * 100.0).round();
            ca.total_cmp(&cb)
                .then(format_rank(a.format, wanted).cmp(&format_rank(b.format, wanted)))
                .then((b.width * b.height).cmp(&(a.width * a.height)))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn discrete(format: PixelFormat, sizes: &[(u32, u32)]) -> Offer {
        Offer {
            format,
            sizes: Sizes::Discrete(sizes.to_vec()),
        }
    }

    #[test]
    fn exact_mode_in_the_configured_format_wins() {
        let offers = [
            discrete(PixelFormat::Mjpeg, &[(640, 480), (1280, 720)]),
            discrete(PixelFormat::Yuyv, &[(640, 480), (1280, 720)]),
        ];
        let c = choose(&offers, PixelFormat::Yuyv, 640, 480).unwrap();
        assert_eq!((c.format, c.width, c.height), (PixelFormat::Yuyv, 640, 480));
        let c = choose(&offers, PixelFormat::Mjpeg, 1280, 720).unwrap();
        assert_eq!(
            (c.format, c.width, c.height),
            (PixelFormat::Mjpeg, 1280, 720)
        );
    }

    #[test]
    fn sizes_the_camera_lacks_get_the_nearest() {
        let offers = [discrete(
            PixelFormat::Yuyv,
            &[
                (320, 180),
                (640, 360),
                (640, 480),
                (1280, 720),
                (1920, 1080),
            ],
        )];
        let pick = |w, h| {
            let c = choose(&offers, PixelFormat::Yuyv, w, h).unwrap();
            (c.width, c.height)
        };
        assert_eq!(pick(320, 240), (320, 180));
        assert_eq!(pick(800, 600), (640, 480));
        assert_eq!(pick(1024, 768), (1280, 720));
        assert_eq!(pick(4000, 3000), (1920, 1080));
    }

    #[test]
    fn a_camera_without_the_configured_format_opens_in_another() {
        // An MJPEG-only camera asked for YUYV, and NV12 only.
        let offers = [discrete(PixelFormat::Mjpeg, &[(640, 480)])];
        let c = choose(&offers, PixelFormat::Yuyv, 640, 480).unwrap();
        assert_eq!(c.format, PixelFormat::Mjpeg);
        let offers = [discrete(PixelFormat::Nv12, &[(1280, 720)])];
        let c = choose(&offers, PixelFormat::Yuyv, 640, 480).unwrap();
        assert_eq!(
            c,
            Choice {
                format: PixelFormat::Nv12,
                width: 1280,
                height: 720
            }
        );
        assert_eq!(choose(&[], PixelFormat::Yuyv, 640, 480), None);
    }

    #[test]
    fn nearer_size_beats_preferred_format() {
        let offers = [
            discrete(PixelFormat::Yuyv, &[(320, 240)]),
            discrete(PixelFormat::Mjpeg, &[(640, 480)]),
        ];
        let c = choose(&offers, PixelFormat::Yuyv, 640, 480).unwrap();
        assert_eq!(c.format, PixelFormat::Mjpeg);
    }

    #[test]
    fn stepwise_sizes_are_clamped_and_rounded_to_the_step() {
        let offers = [Offer {
            format: PixelFormat::Yuyv,
            sizes: Sizes::Stepwise {
                min: (16, 16),
                max: (1920, 1080),
                step: (16, 8),
            },
        }];
        let c = choose(&offers, PixelFormat::Yuyv, 642, 480).unwrap();
        assert_eq!((c.width, c.height), (640, 480));
        let c = choose(&offers, PixelFormat::Yuyv, 4000, 3000).unwrap();
        assert_eq!((c.width, c.height), (1920, 1080));
        assert_eq!(offers[0].sizes.to_string(), "16x16..1920x1080 step 16x8");
    }
}
