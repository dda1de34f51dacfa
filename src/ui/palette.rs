//! Colours of the screens, per pixel format.
//!
//! Screens are generic over [`Palette`]: a colour panel maps each role to a colour, the
//! monochrome OLED maps "ink" roles to `On` and "paper" roles to `Off` (inverted bars for
//! headers and badges).

use embedded_graphics::pixelcolor::{BinaryColor, PixelColor, Rgb565, Rgb888};

/// The colour roles a screen uses.
pub trait Palette: PixelColor {
    /// Screen background.
    const BACKGROUND: Self;
    /// Normal text.
    const TEXT: Self;
    /// Secondary text (basis, nearest case).
    const MUTED: Self;
    /// Header bar fill.
    const HEADER_BG: Self;
    /// Header bar text.
    const HEADER_TEXT: Self;
    /// Rank numbers, frame outlines.
    const ACCENT: Self;
    /// Good state (self-test ok, face ready).
    const OK: Self;
    /// Caution (pending, guidance, disclaimer).
    const WARN: Self;
    /// Failure (self-test failed, error header).
    const BAD: Self;
    /// Text drawn on a `BAD` fill.
    const ON_BAD: Self;
    /// DEMO badge fill.
    const DEMO_BG: Self;
    /// DEMO badge text.
    const DEMO_TEXT: Self;
    /// Thin separators.
    const RULE: Self;

    /// Colour bars of the panel test pattern, left to right.
    fn test_bars() -> [Self; 8];
    /// Corner markers of the test pattern: top-left, top-right, bottom-left, bottom-right.
    fn test_corners() -> [Self; 4];
    /// A camera picture pixel; `None` on panels that do not draw pictures (monochrome).
    fn picture(rgb: [u8; 3]) -> Option<Self>;
}

macro_rules! rgb_palette {
    ($t:ty, $conv:expr) => {
        impl Palette for $t {
            const BACKGROUND: Self = $conv(0, 0, 0);
            const TEXT: Self = $conv(255, 255, 255);
            const MUTED: Self = $conv(170, 178, 189);
            const HEADER_BG: Self = $conv(24, 56, 104);
            const HEADER_TEXT: Self = $conv(255, 255, 255);
            const ACCENT: Self = $conv(96, 176, 255);
            const OK: Self = $conv(64, 208, 96);
            const WARN: Self = $conv(255, 200, 48);
            const BAD: Self = $conv(224, 48, 40);
            const ON_BAD: Self = $conv(255, 255, 255);
            const DEMO_BG: Self = $conv(255, 136, 0);
            const DEMO_TEXT: Self = $conv(0, 0, 0);
            const RULE: Self = $conv(88, 96, 112);

            fn test_bars() -> [Self; 8] {
                [
                    $conv(255, 255, 255),
                    $conv(255, 255, 0),
                    $conv(0, 255, 255),
                    $conv(0, 255, 0),
                    $conv(255, 0, 255),
                    $conv(255, 0, 0),
                    $conv(0, 0, 255),
                    $conv(0, 0, 0),
                ]
            }

            fn picture([r, g, b]: [u8; 3]) -> Option<Self> {
                Some($conv(r, g, b))
            }

            fn test_corners() -> [Self; 4] {
                [
                    $conv(255, 0, 0),
                    $conv(0, 255, 0),
                    $conv(0, 0, 255),
                    $conv(255, 255, 255),
                ]
            }
        }
    };
}

const fn rgb565(r: u8, g: u8, b: u8) -> Rgb565 {
    Rgb565::new(r >> 3, g >> 2, b >> 3)
}

const fn rgb888(r: u8, g: u8, b: u8) -> Rgb888 {
    Rgb888::new(r, g, b)
}

rgb_palette!(Rgb565, rgb565);
rgb_palette!(Rgb888, rgb888);

impl Palette for BinaryColor {
    const BACKGROUND: Self = BinaryColor::Off;
    const TEXT: Self = BinaryColor::On;
    const MUTED: Self = BinaryColor::On;
    const HEADER_BG: Self = BinaryColor::On;
    const HEADER_TEXT: Self = BinaryColor::Off;
    const ACCENT: Self = BinaryColor::On;
    const OK: Self = BinaryColor::On;
    const WARN: Self = BinaryColor::On;
    const BAD: Self = BinaryColor::On;
    const ON_BAD: Self = BinaryColor::Off;
    // The badge sits in the (lit) header bar: a dark box with lit text.
    const DEMO_BG: Self = BinaryColor::Off;
    const DEMO_TEXT: Self = BinaryColor::On;
    const RULE: Self = BinaryColor::On;

    fn test_bars() -> [Self; 8] {
        use BinaryColor::{Off, On};
        [On, Off, On, Off, On, Off, On, Off]
    }

    fn test_corners() -> [Self; 4] {
        [BinaryColor::On; 4]
    }

    fn picture(_: [u8; 3]) -> Option<Self> {
        None
    }
}
