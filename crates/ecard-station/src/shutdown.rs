//! Graceful shutdown, as mini-redis does it: one broadcast asks every task to stop at a safe
//! point; each task holds a clone of an mpsc sender, and the server knows all have stopped when
//! the channel closes. A lane finishes or spoils the card it holds before it stops.

use tokio::sync::broadcast;

/// Listens for the shutdown signal.
#[derive(Debug)]
pub(crate) struct Shutdown {
    is_shutdown: bool,
    notify: broadcast::Receiver<()>,
}

impl Shutdown {
    pub(crate) fn new(notify: broadcast::Receiver<()>) -> Shutdown {
        Shutdown {
            is_shutdown: false,
            notify,
        }
    }

    pub(crate) fn is_shutdown(&self) -> bool {
        self.is_shutdown
    }

    /// Waits for the signal (returns at once if it was already received).
    pub(crate) async fn recv(&mut self) {
        if self.is_shutdown {
            return;
        }
        // Lagged or closed both mean the sender is gone or has spoken: stop.
        let _ = self.notify.recv().await;
        self.is_shutdown = true;
    }
}
