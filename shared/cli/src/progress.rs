//! Progress on stderr while a run works: a spinner with the records read so far during the
//! poll, then a bar over the pairs to reconcile. Hidden when stderr is not a terminal or the
//! output is JSON. Counts only, never a value.

use crate::systems::ReadCounts;
use contact_sync_pipeline::cycle::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::time::Duration;

pub struct Display {
    spinner: ProgressBar,
    bar: ProgressBar,
    ticker: Option<tokio::task::JoinHandle<()>>,
}

impl Display {
    /// Starts the poll spinner; `visible` false draws nothing at all.
    pub fn start(visible: bool, read: ReadCounts) -> Display {
        let shown = visible && std::io::stderr().is_terminal();
        let target = || {
            if shown {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::hidden()
            }
        };
        let spinner = ProgressBar::with_draw_target(None, target());
        spinner.set_style(
            ProgressStyle::with_template("{spinner} polling {msg} ({elapsed})")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        let bar = ProgressBar::with_draw_target(Some(0), target());
        bar.set_style(
            ProgressStyle::with_template(
                "reconciling [{bar:30}] {pos}/{len} pairs ({per_sec}, {eta} left)",
            )
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        let ticker = shown.then(|| {
            spinner.enable_steady_tick(Duration::from_millis(120));
            let spinner = spinner.clone();
            tokio::spawn(async move {
                loop {
                    let (sf, gz) = read.get();
                    spinner.set_message(format!(
                        "Salesforce: {sf} records read, Genesys: {gz} scanned"
                    ));
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            })
        });
        Display {
            spinner,
            bar,
            ticker,
        }
    }

    /// Follows the cycle.
    pub fn on(&self, progress: Progress) {
        match progress {
            Progress::Polled { pairs, .. } => {
                self.stop_spinner();
                self.bar.set_length(pairs);
                self.bar.reset_elapsed();
            }
            Progress::Batch { pairs, .. } => self.bar.set_position(pairs),
        }
    }

    /// Says something above the bars without breaking them.
    pub fn note(&self, line: &str) {
        self.bar.suspend(|| eprintln!("{line}"));
    }

    fn stop_spinner(&self) {
        if let Some(ticker) = &self.ticker {
            ticker.abort();
        }
        self.spinner.finish_and_clear();
    }

    pub fn finish(&self) {
        self.stop_spinner();
        self.bar.finish_and_clear();
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        self.finish();
    }
}
