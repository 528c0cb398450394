//! A small pool of scoped threads for work that is mostly waiting (network
//! transfers): items are handed out in order to at most `workers` threads;
//! the first failure stops the hand-out and is the result.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use crate::error::{Error, Result};

/// Run `work` on every item, `workers` at a time; returns how many items
/// `work` counted (returned `true` for), or the first error.
pub fn count_each<T: Sync>(
    items: &[T],
    workers: usize,
    work: impl Fn(&T) -> Result<bool> + Sync,
) -> Result<usize> {
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let counted = AtomicUsize::new(0);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..workers.clamp(1, items.len().max(1)) {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= items.len() || failed.load(Ordering::SeqCst) {
                    return;
                }
                match work(&items[i]) {
                    Ok(true) => {
                        counted.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(false) => {}
                    Err(e) => {
                        failed.store(true, Ordering::SeqCst);
                        // A poisoned slot means another worker panicked;
                        // that panic ends the scope anyway.
                        if let Ok(mut slot) = first_error.lock() {
                            slot.get_or_insert(e);
                        }
                        return;
                    }
                }
            });
        }
    });
    match first_error.into_inner().ok().flatten() {
        Some(e) => Err(e),
        None => Ok(counted.into_inner()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_and_stops_at_the_first_error() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(count_each(&items, 4, |i| Ok(i % 2 == 0)).unwrap(), 25);
        let err = count_each(&items, 3, |i| {
            if *i == 7 {
                Err(Error::invalid("seven"))
            } else {
                Ok(true)
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "seven");
        assert_eq!(count_each(&Vec::<u32>::new(), 4, |_| Ok(true)).unwrap(), 0);
    }
}
