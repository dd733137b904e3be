//! The admin console: a front end beside `http/` for the people who run tessera.
//! (This file is completed by the console frame; here: the pieces its pages share.)

pub mod svg;
pub mod when;
