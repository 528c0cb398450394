//! Work spread over a few threads: the same fallible step on every item of
//! a list (staging an archive's files, syncing blobs, a pull's downloads, a
//! push's uploads), items taken in order
//! by whichever thread is free. After the first failure no thread starts a
//! new item; the steps already running finish, and that failure is the
//! result. A thread that finds no item left gives its core to the others
//! ([`Spare`]), for a step that can use a second thread.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::error::{Error, Kind, Result};

/// The threads worth running for CPU-bound steps: one per core, at most
/// `max`, at least one.
pub fn cores(max: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, max.max(1))
}

/// Cores nobody uses: a step that can split its work takes one for a
/// second thread, and gives it back when that thread ends.
#[derive(Debug, Default)]
pub struct Spare(AtomicUsize);

impl Spare {
    /// `cores` cores to spare.
    pub fn new(cores: usize) -> Spare {
        Spare(AtomicUsize::new(cores))
    }

    /// Take a core, if one is spare.
    pub fn take(&self) -> bool {
        self.0
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .is_ok()
    }

    /// Give a core back.
    pub fn give(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

/// Run `step` on every item on up to `threads` threads (this one among
/// them); returns the results in the items' order, or the first failure.
/// Each thread that finds no item left gives its core to `spare`.
pub fn map<T, R, F>(items: &[T], threads: usize, spare: &Spare, step: F) -> Result<Vec<R>>
where
    T: Sync,
    R: Send,
    F: Fn(&T) -> Result<R> + Sync,
{
    let next = AtomicUsize::new(0);
    let failed = AtomicBool::new(false);
    let work = || -> Result<Vec<(usize, R)>> {
        let mut done = Vec::new();
        while !failed.load(Ordering::Relaxed) {
            let index = next.fetch_add(1, Ordering::Relaxed);
            let Some(item) = items.get(index) else {
                spare.give();
                break;
            };
            match step(item) {
                Ok(result) => done.push((index, result)),
                Err(e) => {
                    failed.store(true, Ordering::Relaxed);
                    return Err(e);
                }
            }
        }
        Ok(done)
    };
    let threads = threads.clamp(1, items.len().max(1));
    let outcomes: Vec<Result<Vec<(usize, R)>>> = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut outcomes = vec![work()];
        for helper in helpers {
            outcomes.push(
                helper
                    .join()
                    .unwrap_or_else(|_| Err(Error::new(Kind::Io, "a worker thread failed"))),
            );
        }
        outcomes
    });
    let mut results = Vec::with_capacity(items.len());
    for outcome in outcomes {
        results.extend(outcome?);
    }
    results.sort_by_key(|(index, _)| *index);
    Ok(results.into_iter().map(|(_, r)| r).collect())
}

/// Run `step` on every item, `workers` at a time; returns how many items
/// `step` counted (returned `true` for), or the first failure.
pub fn count_each<T: Sync>(
    items: &[T],
    workers: usize,
    step: impl Fn(&T) -> Result<bool> + Sync,
) -> Result<usize> {
    let counted = map(items, workers, &Spare::default(), step)?;
    Ok(counted.into_iter().filter(|&c| c).count())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_and_stops_at_a_failure() {
        let items: Vec<u32> = (0..100).collect();
        let spare = Spare::default();
        let doubled = map(&items, 3, &spare, |n| Ok(n * 2)).unwrap();
        assert!(spare.take() && spare.take() && spare.take() && !spare.take());
        assert_eq!(doubled, items.iter().map(|n| n * 2).collect::<Vec<_>>());
        let started = AtomicUsize::new(0);
        let err = map(&items, 1, &spare, |n| {
            started.fetch_add(1, Ordering::Relaxed);
            if *n == 10 {
                Err(Error::invalid("ten"))
            } else {
                Ok(*n)
            }
        })
        .unwrap_err();
        assert_eq!(err.to_string(), "ten");
        assert_eq!(
            started.load(Ordering::Relaxed),
            11,
            "nothing starts after a failure"
        );
        assert!(map(&Vec::<u32>::new(), 4, &spare, |n| Ok(*n))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn counts() {
        let items: Vec<u32> = (0..50).collect();
        assert_eq!(count_each(&items, 4, |i| Ok(i % 2 == 0)).unwrap(), 25);
        assert_eq!(count_each(&Vec::<u32>::new(), 4, |_| Ok(true)).unwrap(), 0);
    }
}
