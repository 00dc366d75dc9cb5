//! Progress on stderr while a person watches.

use std::io::IsTerminal;

/// A progress bar on stderr when it is a terminal and more than a few packets are pending.
#[derive(Default)]
pub(super) struct ProgressBar {
    bar: std::cell::RefCell<Option<indicatif::ProgressBar>>,
}

impl ProgressBar {
    pub(super) fn tick(&self, done: u64, total: u64, serial: u64, rows: u64) {
        if total <= 3 || !std::io::stderr().is_terminal() {
            return;
        }
        let mut bar = self.bar.borrow_mut();
        let bar = bar.get_or_insert_with(|| {
            let bar = indicatif::ProgressBar::new(total);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{bar:40} {pos}/{len} packets, {msg} ({eta} left)",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_position(done);
        bar.set_message(format!("packet {serial} ({rows} rows)"));
    }

    pub(super) fn finish(&self) {
        if let Some(bar) = self.bar.borrow_mut().take() {
            bar.finish_and_clear();
        }
    }
}
