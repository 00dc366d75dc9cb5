//! Progress on stderr while a person watches: rows (and bytes) of a running apply, import or
//! export, read from the work's [`Tally`] by a thread. Never on a pipe or a file, never with -q.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::tally::Tally;

/// Whether progress may be drawn: stderr is a terminal and the log is not quiet.
pub(super) fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

struct Shared {
    tally: Arc<Tally>,
    finished: AtomicBool,
    message: Mutex<String>,
    bar: Mutex<Option<indicatif::ProgressBar>>,
}

impl Shared {
    /// Shows what the tally says, creating the bar once there is something to show.
    fn draw(&self) {
        let (rows, total) = (self.tally.rows(), self.tally.total_rows());
        if rows == 0 && total == 0 {
            return;
        }
        let mut bar = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let bar = bar.get_or_insert_with(|| {
            let (bar, template) = if total > 0 {
                (
                    indicatif::ProgressBar::new(total),
                    "{bar:40} {pos}/{len} rows, {msg} ({eta} left)",
                )
            } else {
                (
                    indicatif::ProgressBar::new_spinner(),
                    "{spinner} {pos} rows, {msg}",
                )
            };
            bar.set_style(
                indicatif::ProgressStyle::with_template(template)
                    .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            bar
        });
        bar.set_position(rows);
        let message = self.message.lock().unwrap_or_else(|e| e.into_inner());
        bar.set_message(format!(
            "{}{}{}",
            indicatif::HumanBytes(self.tally.bytes()),
            if message.is_empty() { "" } else { ", " },
            message
        ));
    }
}

/// A rows bar over one piece of work; does nothing unless `show`.
pub(super) struct ProgressBar {
    shared: Option<Arc<Shared>>,
    thread: Option<JoinHandle<()>>,
}

impl ProgressBar {
    pub(super) fn start(tally: &Arc<Tally>, show: bool) -> ProgressBar {
        if !show {
            return ProgressBar {
                shared: None,
                thread: None,
            };
        }
        let shared = Arc::new(Shared {
            tally: Arc::clone(tally),
            finished: AtomicBool::new(false),
            message: Mutex::new(String::new()),
            bar: Mutex::new(None),
        });
        let ticker = Arc::clone(&shared);
        let thread = std::thread::Builder::new()
            .name("progress".into())
            .spawn(move || {
                while !ticker.finished.load(Ordering::SeqCst) {
                    ticker.draw();
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
            .ok();
        ProgressBar {
            shared: Some(shared),
            thread,
        }
    }

    /// What the work is at (a packet, a table), shown after the counts.
    pub(super) fn message(&self, text: String) {
        if let Some(shared) = &self.shared {
            *shared.message.lock().unwrap_or_else(|e| e.into_inner()) = text;
        }
    }

    /// Stops the display and clears it (after one last drawing, so that even work quicker than
    /// the ticker is shown once).
    pub(super) fn finish(mut self) {
        let Some(shared) = self.shared.take() else {
            return;
        };
        shared.finished.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        shared.draw();
        let bar = shared.bar.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }
}
