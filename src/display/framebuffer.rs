//! An in-memory framebuffer that any screen can draw into and that saves as PNG.

use std::path::Path;

use embedded_graphics::{
    pixelcolor::{BinaryColor, Rgb565, Rgb888},
    prelude::*,
};

use super::DisplayError;

/// A `width × height` framebuffer of colour `C`, row-major. Drawing outside it is clipped.
///
/// Used by the laptop demo and the golden-image tests, and as the back buffer of the ST7789
/// panels (the whole frame goes out in one address window, so there is no flicker).
#[derive(Debug, Clone, PartialEq)]
pub struct FrameBuffer<C: PixelColor> {
    size: Size,
    pixels: Vec<C>,
}

/// The colour PNG display (ST7789-like, RGB565).
pub type PngDisplay = FrameBuffer<Rgb565>;
/// The monochrome PNG display (SSD1306-like); saved as white on black.
pub type MonoPngDisplay = FrameBuffer<BinaryColor>;

impl<C: PixelColor + Default> FrameBuffer<C> {
    /// A framebuffer filled with `C::default()` (black / off).
    pub fn new(width: u32, height: u32) -> Self {
        Self::filled(width, height, C::default())
    }
}

impl<C: PixelColor> FrameBuffer<C> {
    /// A framebuffer filled with `color`.
    pub fn filled(width: u32, height: u32, color: C) -> Self {
        let n = width as usize * height as usize;
        FrameBuffer {
            size: Size::new(width, height),
            pixels: vec![color; n],
        }
    }

    /// The pixel at `(x, y)`, `None` outside.
    pub fn pixel(&self, x: u32, y: u32) -> Option<C> {
        if x < self.size.width && y < self.size.height {
            self.pixels
                .get(y as usize * self.size.width as usize + x as usize)
                .copied()
        } else {
            None
        }
    }

    /// All pixels, row by row from the top-left.
    pub fn pixels(&self) -> &[C] {
        &self.pixels
    }
}

impl<C: PixelColor + Into<Rgb888>> FrameBuffer<C> {
    /// The frame as an 8-bit RGB image.
    pub fn to_rgb_image(&self) -> image::RgbImage {
        let mut raw = Vec::with_capacity(self.pixels.len() * 3);
        for &p in &self.pixels {
            let c: Rgb888 = p.into();
            raw.extend_from_slice(&[c.r(), c.g(), c.b()]);
        }
        image::RgbImage::from_raw(self.size.width, self.size.height, raw)
            .unwrap_or_else(|| image::RgbImage::new(self.size.width, self.size.height))
    }

    /// Encode the frame as PNG bytes.
    pub fn encode_png(&self) -> Result<Vec<u8>, DisplayError> {
        let mut out = std::io::Cursor::new(Vec::new());
        self.to_rgb_image()
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(|source| DisplayError::Png { path: None, source })?;
        Ok(out.into_inner())
    }

    /// Save the frame as a PNG file.
    pub fn save_png(&self, path: impl AsRef<Path>) -> Result<(), DisplayError> {
        let path = path.as_ref();
        self.to_rgb_image()
            .save_with_format(path, image::ImageFormat::Png)
            .map_err(|source| DisplayError::Png {
                path: Some(path.to_path_buf()),
                source,
            })
    }
}

impl<C: PixelColor> OriginDimensions for FrameBuffer<C> {
    fn size(&self) -> Size {
        self.size
    }
}

impl<C: PixelColor> DrawTarget for FrameBuffer<C> {
    type Color = C;
    type Error = core::convert::Infallible;

    fn draw_iter<I>(&mut self, pixels: I) -> Result<(), Self::Error>
    where
        I: IntoIterator<Item = Pixel<Self::Color>>,
    {
        let (w, h) = (self.size.width as i32, self.size.height as i32);
        for Pixel(p, c) in pixels {
            if p.x >= 0 && p.y >= 0 && p.x < w && p.y < h {
                let i = p.y as usize * w as usize + p.x as usize;
                if let Some(slot) = self.pixels.get_mut(i) {
                    *slot = c;
                }
            }
        }
        Ok(())
    }

    fn clear(&mut self, color: Self::Color) -> Result<(), Self::Error> {
        self.pixels.fill(color);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_graphics::primitives::{PrimitiveStyle, Rectangle};

    #[test]
    fn draws_clip_and_convert() {
        let mut fb = PngDisplay::new(4, 3);
        Rectangle::new(Point::new(2, 1), Size::new(10, 10))
            .into_styled(PrimitiveStyle::with_fill(Rgb565::RED))
            .draw(&mut fb)
            .unwrap();
        assert_eq!(fb.pixel(3, 2), Some(Rgb565::RED));
        assert_eq!(fb.pixel(1, 2), Some(Rgb565::BLACK));
        assert_eq!(fb.pixel(4, 0), None);
        let img = fb.to_rgb_image();
        assert_eq!(img.dimensions(), (4, 3));
        assert_eq!(img.get_pixel(3, 2).0, [255, 0, 0]);
        let png = fb.encode_png().unwrap();
        assert_eq!(&png[1..4], b"PNG");
    }

    #[test]
    fn mono_saves_white_on_black() {
        let mut fb = MonoPngDisplay::new(2, 1);
        Pixel(Point::new(1, 0), BinaryColor::On)
            .draw(&mut fb)
            .unwrap();
        let img = fb.to_rgb_image();
        assert_eq!(img.get_pixel(0, 0).0, [0, 0, 0]);
        assert_eq!(img.get_pixel(1, 0).0, [255, 255, 255]);
    }
}
