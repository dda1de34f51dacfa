//! Screens: pure functions from a [`view::View`] to an embedded-graphics `DrawTarget`.
//! No I/O, no clock: the app decides what to show, these functions only draw it.
//!
//! ```
//! use embedded_graphics::{pixelcolor::Rgb565, prelude::*};
//! use gestaltcam::display::FrameBuffer;
//! use gestaltcam::ui::{self, view::View, Layout};
//!
//! let mut fb = FrameBuffer::<Rgb565>::new(240, 240);
//! let layout = Layout::new(fb.size());
//! ui::draw(&View::Analysing { photos: 2, progress: None }, &layout, &mut fb).unwrap();
//! ```
//!
//! Every screen is generic over the [`Palette`] of its pixel format, so the same code draws
//! the colour ST7789 panels (`Rgb565`) and the monochrome SSD1306 (`BinaryColor`). Small
//! panels (under 160 px in either direction) get the [`LayoutStyle::Compact`] layout.
//! All text is fitted (wrapped, abbreviated or truncated) so that it never crosses the
//! panel edge.

pub mod palette;
mod screens;
pub mod text;
pub mod view;
pub mod widgets;

use embedded_graphics::{mono_font::MonoFont, prelude::*};

pub use palette::Palette;
pub use screens::test_pattern;

use view::View;

/// Which arrangement of the screens a panel gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayoutStyle {
    /// Colour panels of 240 px and more: two candidates per page, large names.
    Full,
    /// Small panels such as the 128×64 OLED: one candidate per page, small fonts.
    Compact,
}

/// Fonts of one layout style.
#[derive(Debug, Clone, Copy)]
pub struct Fonts {
    /// Header bar.
    pub header: &'static MonoFont<'static>,
    /// Big words (screen titles).
    pub large: &'static MonoFont<'static>,
    /// Syndrome names on the results screen.
    pub name: &'static MonoFont<'static>,
    /// Body text.
    pub body: &'static MonoFont<'static>,
    /// Basis, nearest case, footnotes.
    pub small: &'static MonoFont<'static>,
}

/// Geometry of the panel the screens are drawn for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    /// Panel size in pixels (after rotation).
    pub size: Size,
    pub style: LayoutStyle,
}

impl Layout {
    /// The layout for a panel of this size: compact below 160 px in either direction.
    pub fn new(size: Size) -> Self {
        let style = if size.width < 160 || size.height < 160 {
            LayoutStyle::Compact
        } else {
            LayoutStyle::Full
        };
        Layout { size, style }
    }

    /// The layout for whatever `target` reports as its size.
    pub fn for_target<D: OriginDimensions>(target: &D) -> Self {
        Self::new(target.size())
    }

    /// Fonts used by this layout.
    pub fn fonts(&self) -> Fonts {
        use embedded_graphics::mono_font::iso_8859_1 as f;
        match self.style {
            LayoutStyle::Full => Fonts {
                header: &f::FONT_9X18_BOLD,
                large: &f::FONT_10X20,
                name: &f::FONT_10X20,
                body: &f::FONT_7X13,
                small: &f::FONT_6X10,
            },
            LayoutStyle::Compact => Fonts {
                header: &f::FONT_6X10,
                large: &f::FONT_6X10,
                name: &f::FONT_6X9,
                body: &f::FONT_5X8,
                small: &f::FONT_4X6,
            },
        }
    }

    /// The result-code screen's room: the widest QR code (modules a side, quiet zone not
    /// counted) it draws with modules of at least [`Layout::code_module_px`] pixels. The large
    /// layout keeps a 4-module quiet zone and a hint line below the code; the small one uses
    /// the whole panel height and keeps at least one module of quiet zone above and below.
    pub fn code_room(&self) -> u32 {
        let px = self.code_module_px();
        match self.style {
            LayoutStyle::Full => {
                let hint = widgets::line_height(self.fonts().small) + 2;
                let side = self.size.width.min(self.size.height.saturating_sub(hint));
                (side / px).saturating_sub(2 * screens::QUIET)
            }
            LayoutStyle::Compact => (self.size.height / px).saturating_sub(2),
        }
    }

    /// The smallest QR module this layout draws, in pixels: 3 on the colour panels, 2 on the
    /// small OLED.
    pub fn code_module_px(&self) -> u32 {
        match self.style {
            LayoutStyle::Full => 3,
            LayoutStyle::Compact => 2,
        }
    }

    /// Candidates the result code lists at most: the small panel's code holds one.
    pub fn code_candidates(&self) -> usize {
        match self.style {
            LayoutStyle::Full => 3,
            LayoutStyle::Compact => 1,
        }
    }

    /// Candidates that fit on one results page: the most the app puts on a page
    /// (`app::AppContext::for_panel`; the configuration may only lower it).
    pub fn candidates_per_page(&self) -> usize {
        match self.style {
            LayoutStyle::Compact => 1,
            LayoutStyle::Full if self.size.height >= 320 => 3,
            LayoutStyle::Full => 2,
        }
    }
}

/// Draw `view` onto `target` laid out for `layout`. Clears the whole target first.
///
/// Pure: no I/O and no clock; the same view gives the same pixels.
pub fn draw<C, D>(view: &View, layout: &Layout, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    screens::draw_view(view, layout, target)
}
