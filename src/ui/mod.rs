//! Screens: pure functions from a [`view::View`] to an embedded-graphics `DrawTarget`.
//! No I/O, no clock: the app decides what to show, these functions only draw it.

pub mod view;
