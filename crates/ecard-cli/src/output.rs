//! How `ecard` talks to people: errors with their cause chain and a `help:` line, JSON for scripts.

/// A piece of advice attached to an error: the one thing the person should do next. The library
/// error stays as it is; this layer knows what the person can do about it (ripgrep's `suggest_*`).
#[derive(Debug)]
pub struct Help(pub String);

impl std::fmt::Display for Help {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Help {}

/// Prints `error: ...` with the cause chain, then the `help:` line when the chain carries one.
pub fn print_error(e: &anyhow::Error) {
    // anyhow finds a context of type `Help` at any depth; the chain only shows its text, so the
    // help is recognised there by that text and printed last.
    let help = e.downcast_ref::<Help>().map(|h| h.0.clone());
    let mut first = true;
    for cause in e.chain() {
        let text = cause.to_string();
        if help.as_deref() == Some(text.as_str()) {
            continue;
        }
        if first {
            eprintln!("error: {text}");
            first = false;
        } else {
            eprintln!("  caused by: {text}");
        }
    }
    if let Some(h) = help {
        eprintln!("help: {h}");
    }
}

/// Adds advice to an error: `result.help("put a blank card in the reader")`.
pub trait WithHelp<T> {
    /// Attaches `help` as the outermost context, printed as a `help:` line.
    fn help(self, help: impl Into<String>) -> anyhow::Result<T>;
}

impl<T, E> WithHelp<T> for Result<T, E>
where
    E: Into<anyhow::Error>,
{
    fn help(self, help: impl Into<String>) -> anyhow::Result<T> {
        self.map_err(|e| e.into().context(Help(help.into())))
    }
}

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &impl serde::Serialize) -> anyhow::Result<()> {
    let text = serde_json::to_string_pretty(value)?;
    write_line(format_args!("{text}"));
    Ok(())
}

/// Writes one line to stdout. A reader that went away (`ecard readers | head -1`) is not an error
/// (ripgrep's rule): the command ends quietly with success, as `println!` would not (it panics).
pub fn write_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_fmt(args).and_then(|()| out.write_all(b"\n")) {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        eprintln!("error: cannot write to standard output: {e}");
        std::process::exit(3);
    }
}

/// `println!` for command output, through [`write_line`].
#[macro_export]
macro_rules! out {
    () => {
        $crate::output::write_line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::write_line(format_args!($($arg)*))
    };
}
