//! Hostile input, systematically: every server function, form and HTTP
//! endpoint gets a table of hostile values in each of its fields. Whatever
//! comes in, the answer is never a 5xx (nor a panic), no header is injected,
//! nothing the rules refuse is stored, and whatever is stored and shown is
//! escaped on every page that renders it. The tables and their loops live
//! in hostile/.

mod common;

/// Failed checks of the running test, reported together at its end so that
/// one run names every field and payload that failed, not just the first.
mod verdict {
    use std::cell::RefCell;

    thread_local! {
        static FAILED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
    }

    pub fn record(failure: String) {
        FAILED.with(|f| f.borrow_mut().push(failure));
    }

    /// Panics with every failure recorded so far.
    pub fn deliver() {
        let failed = FAILED.with(|f| std::mem::take(&mut *f.borrow_mut()));
        if !failed.is_empty() {
            let shown: Vec<&str> = failed.iter().take(60).map(String::as_str).collect();
            panic!("{} failed checks:\n{}", failed.len(), shown.join("\n"));
        }
    }
}

macro_rules! check {
    ($cond:expr, $($arg:tt)+) => {
        if !$cond {
            $crate::verdict::record(format!($($arg)+));
        }
    };
    ($cond:expr) => {
        if !$cond {
            $crate::verdict::record(stringify!($cond).to_string());
        }
    };
}

macro_rules! check_eq {
    ($left:expr, $right:expr, $($arg:tt)+) => {
        match (&$left, &$right) {
            (l, r) if l != r => $crate::verdict::record(format!("{}: {:?} != {:?}", format!($($arg)+), l, r)),
            _ => {}
        }
    };
    ($left:expr, $right:expr) => {
        check_eq!($left, $right, "{}", stringify!($left))
    };
}

#[path = "hostile/forms.rs"]
mod forms;
#[path = "hostile/http.rs"]
mod http;
#[path = "hostile/pages.rs"]
mod pages;
#[path = "hostile/support.rs"]
mod support;

use forms::*;
use http::*;
use pages::*;

on_both_engines!(
    server_functions_survive_hostile_fields,
    sign_in_setup_and_welcome_survive_hostile_fields,
    application_settings_store_only_what_the_rules_accept,
    multipart_bodies_survive_hostile_encodings,
    the_authorization_flow_survives_hostile_requests,
    oauth_endpoints_answer_hostile_requests_with_4xx,
    the_management_api_answers_hostile_json_with_4xx,
    pages_survive_hostile_paths_and_queries,
    oversized_bodies_are_refused_with_413,
    ten_thousand_ticked_boxes_are_refused_whole,
    accepted_markup_is_escaped_on_every_page,
);
