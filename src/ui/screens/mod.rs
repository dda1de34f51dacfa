//! The screens, one file per family. Each is a method of [`frame::Screen`]: it opens the
//! screen (header bar, and for the result screens the disclaimer and basis footer) and
//! draws into the area below the header.

mod bulletin;
mod frame;
mod notices;
mod pattern;
mod progress;
mod question;
mod results;
mod startup;
mod viewfinder;

use embedded_graphics::prelude::*;

use super::{view::View, Layout, Palette};
use frame::Screen;
use viewfinder::Viewfinder;

pub use pattern::test_pattern;

/// Clears `target` and draws `view` on it, laid out for `layout`.
pub(super) fn draw_view<C, D>(view: &View, layout: &Layout, target: &mut D) -> Result<(), D::Error>
where
    C: Palette,
    D: DrawTarget<Color = C>,
{
    target.clear(C::BACKGROUND)?;
    let mut screen = Screen::new(layout, target);
    match view {
        View::Blank => Ok(()),
        View::Starting { checks } => screen.starting(checks),
        View::Preview {
            face_box,
            guidance,
            photos_taken,
            photos_wanted,
            not_taken,
            picture,
        } => screen.preview(Viewfinder {
            face_box: *face_box,
            guidance: *guidance,
            taken: *photos_taken,
            wanted: *photos_wanted,
            not_taken: *not_taken,
            picture: picture.as_ref(),
        }),
        View::Capturing { photo, of } => screen.capturing(*photo, *of),
        View::Analysing { photos } => screen.analysing(*photos),
        View::Results {
            candidates,
            page,
            pages,
            basis,
            questions_next,
            ..
        } => screen.results(candidates, (*page, *pages), *questions_next, basis),
        View::Question {
            number,
            max,
            question,
            basis,
        } => screen.question((*number, *max), question, basis),
        View::NoCloseMatch { basis } => screen.no_close_match(basis),
        View::Error { kind, technical } => screen.error(*kind, technical),
        View::Notice {
            accepted,
            text,
            next,
        } => screen.notice(*accepted, text, next),
    }
}
