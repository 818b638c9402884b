//! Hostile input, systematically: every server function, form and HTTP
//! endpoint gets a table of hostile values in each of its fields. Whatever
//! comes in, the answer is never a 5xx (nor a panic), no header is injected,
//! nothing the rules refuse is stored, and whatever is stored and shown is
//! escaped on every page that renders it. The tables and their loops live
//! in hostile/.

mod common;

/// Failed checks of the running test, reported together at its end so that
/// one run names every field and payload that failed, not just the first.
/// Each test opens a `Verdict` before its first check; the verdict panics
/// with every recorded failure when it goes out of scope, so no test can
/// forget to report them, and a check made with no verdict open fails at once.
mod verdict {
    use std::cell::RefCell;
    use std::marker::PhantomData;

    thread_local! {
        /// The open verdict's failures; `None` while no verdict is open.
        static FAILED: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    /// The checks of one test, delivered when it is dropped. Failures are
    /// kept per thread, so it may not leave the thread that opened it.
    #[must_use = "bind it for the whole test (`let _verdict = …`): it reports when dropped"]
    pub struct Verdict {
        on_this_thread: PhantomData<*const ()>,
    }

    impl Verdict {
        pub fn open() -> Self {
            FAILED.with(|f| {
                let mut failed = f.borrow_mut();
                assert!(failed.is_none(), "a verdict is already open on this thread");
                *failed = Some(Vec::new());
            });
            Self {
                on_this_thread: PhantomData,
            }
        }
    }

    impl Drop for Verdict {
        fn drop(&mut self) {
            let failed = FAILED.with(|f| f.borrow_mut().take()).unwrap_or_default();
            if failed.is_empty() {
                return;
            }
            let shown: Vec<&str> = failed.iter().take(60).map(String::as_str).collect();
            let report = format!("{} failed checks:\n{}", failed.len(), shown.join("\n"));
            if std::thread::panicking() {
                // The test already fails; a second panic would abort the run.
                eprintln!("{report}");
            } else {
                panic!("{report}");
            }
        }
    }

    pub fn record(failure: String) {
        let unheard = FAILED.with(|f| match f.borrow_mut().as_mut() {
            Some(failed) => {
                failed.push(failure);
                None
            }
            None => Some(failure),
        });
        if let Some(failure) = unheard {
            panic!("a check failed with no verdict open: {failure}");
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
#[path = "hostile/settings.rs"]
mod settings;
#[path = "hostile/support.rs"]
mod support;

use forms::*;
use http::*;
use pages::*;
use settings::*;
use verdict::Verdict;

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

#[test]
#[should_panic(expected = "1 failed checks:\nthree")]
fn a_verdict_fails_its_test_with_the_failures_it_heard() {
    let _verdict = Verdict::open();
    check_eq!(1 + 2, 3, "three");
    check_eq!(1 + 1, 3, "three");
}

#[test]
#[should_panic(expected = "a check failed with no verdict open: unheard")]
fn a_check_with_no_verdict_open_fails_at_once() {
    check!(false, "unheard");
}
