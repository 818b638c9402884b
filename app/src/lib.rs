#![recursion_limit = "256"]
//! Keyport's application crate: the portal's pages (`ui`), the server
//! functions behind them (`api`) and, on the server only, the business rules
//! and storage (`domain`).

pub mod api;
#[cfg(feature = "ssr")]
pub mod domain;
pub mod time;
pub mod ui;
