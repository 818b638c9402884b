//! The browser entry point: hydrates the server-rendered page. The pages
//! come in chunks of their own, one per section (`cargo leptos --split`,
//! `app/src/ui/mod.rs`), loaded when the first page of it is shown.

use std::panic::PanicHookInfo;

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    std::panic::set_hook(Box::new(on_panic));
    leptos::mount::hydrate_lazy(app::ui::App);
}

/// How long a page must have been open before a chunk that fails to load is
/// taken for one of an older build.
const STALE_AFTER_MS: f64 = 10_000.0;

/// Reports the panic in the console. A page chunk that cannot be loaded into
/// a tab opened a while ago belongs to an older build (Keyport was upgraded
/// meanwhile, and the chunks are named per build): the page starts over with
/// the new one. A chunk missing right after loading is not retried, so that
/// a broken build cannot reload for ever.
fn on_panic(info: &PanicHookInfo) {
    console_error_panic_hook::hook(info);
    let window = leptos::prelude::window();
    let open_for = window.performance().map_or(0.0, |p| p.now());
    if info.to_string().contains("load callback should succeed") && open_for > STALE_AFTER_MS {
        let _ = window.location().reload();
    }
}
