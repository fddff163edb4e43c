//! The threads a pipeline's steps run on (`node::job`), apart from libuv's pool: Node's own
//! work there (files, DNS, crypto) never queues behind a step, nor a step behind it. Plain
//! threads waiting on a condvar: rayon's workers spin before they sleep, which cost an import
//! 0.2 s of CPU here.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock, PoisonError};

use crate::error::{Error, Result};

/// As many as libuv's pool has: a few pipelines at once, some waiting on a file or on compression.
const THREADS: usize = 4;

type Task = Box<dyn FnOnce() + Send>;

pub struct Workers {
    tasks: Mutex<VecDeque<Task>>,
    ready: Condvar,
}

impl Workers {
    /// Runs `task` on one of the threads, after the tasks queued before it have started.
    pub fn spawn(&self, task: impl FnOnce() + Send + 'static) {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner).push_back(Box::new(task));
        self.ready.notify_one();
    }
}

/// The threads, started on first use; an error if not one of them would start.
pub fn get() -> Result<&'static Workers> {
    static WORKERS: OnceLock<Option<&'static Workers>> = OnceLock::new();
    let workers = WORKERS.get_or_init(|| {
        let workers: &'static Workers = Box::leak(Box::new(Workers { tasks: Mutex::new(VecDeque::new()), ready: Condvar::new() }));
        let started = (0..THREADS)
            .filter(|i| std::thread::Builder::new().name(format!("backup-step-{i}")).spawn(move || work(workers)).is_ok())
            .count();
        (started > 0).then_some(workers)
    });
    workers.ok_or_else(|| Error::internal("could not start a worker thread"))
}

fn work(workers: &'static Workers) {
    loop {
        let task = {
            let mut tasks = workers.tasks.lock().unwrap_or_else(PoisonError::into_inner);
            loop {
                match tasks.pop_front() {
                    Some(task) => break task,
                    None => tasks = workers.ready.wait(tasks).unwrap_or_else(PoisonError::into_inner),
                }
            }
        };
        // A step catches its own panics (`node::job`); this keeps the thread whatever a task does.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(task));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::channel;
    use std::sync::{Arc, Barrier};

    #[test]
    fn every_task_runs_on_a_step_thread() {
        let (tx, rx) = channel();
        for i in 0..20 {
            let tx = tx.clone();
            get().unwrap().spawn(move || {
                tx.send((i, std::thread::current().name().unwrap_or("").to_string())).unwrap();
            });
        }
        let mut seen: Vec<_> = rx.iter().take(20).collect();
        seen.sort();
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), (0..20).collect::<Vec<_>>());
        assert!(seen.iter().all(|(_, name)| name.starts_with("backup-step-")), "{seen:?}");
    }

    /// A step waiting on something (a file, compression) leaves the other threads to run.
    #[test]
    fn a_waiting_task_does_not_hold_up_the_others() {
        let barrier = Arc::new(Barrier::new(THREADS));
        let (tx, rx) = channel();
        for _ in 0..THREADS {
            let (barrier, tx) = (barrier.clone(), tx.clone());
            get().unwrap().spawn(move || {
                barrier.wait();
                tx.send(()).unwrap();
            });
        }
        for _ in 0..THREADS {
            rx.recv_timeout(std::time::Duration::from_secs(60)).expect("every task passed the barrier");
        }
    }
}
