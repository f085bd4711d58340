//! Live progress of the demo: a bar per phase and lines above it (faults, recoveries) on a
//! terminal; plain lines when the output is not a terminal. With `--json` it goes to stderr,
//! so stdout holds only the report.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Where progress goes and how.
pub(super) struct Progress {
    bars: Option<MultiProgress>,
    to_stderr: bool,
    started: Instant,
}

impl Progress {
    pub(super) fn new(to_stderr: bool) -> Progress {
        let terminal = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let bars = terminal.then(|| {
            let target = if to_stderr {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::stdout()
            };
            MultiProgress::with_draw_target(target)
        });
        Progress {
            bars,
            to_stderr,
            started: Instant::now(),
        }
    }

    /// A line, with the time since the demo started.
    pub(super) fn line(&self, text: &str) {
        let stamp = self.started.elapsed().as_secs_f64();
        let text = format!("{stamp:6.1}s  {text}");
        match &self.bars {
            Some(bars) => {
                let _ = bars.println(text);
            }
            None => self.plain(&text),
        }
    }

    fn plain(&self, text: &str) {
        if self.to_stderr {
            let _ = writeln!(std::io::stderr().lock(), "{text}");
        } else {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{text}");
            let _ = out.flush();
        }
    }

    /// A new phase with `len` steps of `unit` (a bar on a terminal, a line otherwise).
    pub(super) fn phase(&self, name: &str, len: u64, unit: &str) -> Phase {
        let bar = self.bars.as_ref().map(|bars| {
            let bar = bars.add(ProgressBar::new(len));
            let template =
                format!("{name:>8} [{{bar:30.cyan/blue}}] {{pos}}/{{len}} {unit}  {{msg}}");
            if let Ok(style) = ProgressStyle::with_template(&template) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        if bar.is_none() {
            self.line(&format!("{name}: started"));
        }
        Phase {
            bar,
            name: name.to_owned(),
        }
    }
}

/// One phase's bar.
pub(super) struct Phase {
    bar: Option<ProgressBar>,
    name: String,
}

impl Phase {
    pub(super) fn set(&self, position: u64) {
        if let Some(bar) = &self.bar {
            bar.set_position(position);
        }
    }

    /// What is going on now (the fault in force, what is awaited).
    pub(super) fn message(&self, message: impl Into<String>) {
        if let Some(bar) = &self.bar {
            bar.set_message(message.into());
        }
    }

    /// Ends the phase with a summary.
    pub(super) fn finish(self, progress: &Progress, summary: &str) {
        match self.bar {
            Some(bar) => {
                bar.finish_with_message(summary.to_owned());
            }
            None => progress.line(&format!("{}: {summary}", self.name)),
        }
    }
}
