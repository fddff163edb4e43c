//! The shape every byte-to-byte pipeline in the core shares, and a driver that feeds it
//! bounded steps so one native call never produces more than `OUTPUT_CAP` bytes.

use crate::error::Result;

/// Output produced by one step, in bytes; a step may overshoot by less than one input chunk.
pub const OUTPUT_CAP: usize = 1 << 20;

/// What a step produces: bytes, or parsed events; `weight` is compared with `OUTPUT_CAP`.
pub trait Output: Default {
    fn weight(&self) -> usize;
    /// `true` once the step has produced enough.
    fn full(&self) -> bool {
        self.weight() >= OUTPUT_CAP
    }
    /// An empty output for a step to fill.
    fn fresh() -> Self {
        Self::default()
    }
    /// The output as a step hands it out.
    fn fitted(self) -> Self {
        self
    }
}

impl Output for Vec<u8> {
    fn weight(&self) -> usize {
        self.len()
    }
    fn fresh() -> Self {
        crate::pool::take(OUTPUT_CAP)
    }
    fn fitted(self) -> Self {
        crate::pool::fit(self)
    }
}

pub trait Transform: Send {
    type Out: Output;
    /// Consumes a prefix of `input`, appending output to `out`. Returns how many bytes were
    /// consumed. Implementations stop early once `out.full()`.
    fn write(&mut self, input: &[u8], out: &mut Self::Out) -> Result<usize>;
    /// Called once the input has ended and was fully consumed. Returns `true` when the
    /// transform is complete; `false` asks to be called again (output cap reached).
    fn finish(&mut self, out: &mut Self::Out) -> Result<bool>;
    /// `true` when the transform holds consumed input it has not turned into output yet;
    /// the driver then calls `write` (with empty input if need be) to drain it.
    fn has_buffered(&self) -> bool {
        false
    }
}

/// Holds unconsumed input between steps and remembers whether input ended.
pub struct Pump<T: Transform> {
    pub inner: T,
    pending: Vec<u8>,
    pending_pos: usize,
    ended: bool,
    done: bool,
    failed: Option<crate::error::Error>,
}

impl<T: Transform> Pump<T> {
    pub fn new(inner: T) -> Self {
        Pump { inner, pending: Vec::new(), pending_pos: 0, ended: false, done: false, failed: None }
    }

    /// Runs one step on `chunk`; what the step leaves unconsumed is kept for the next steps.
    /// Input is copied only when a step stops early (output cap reached).
    pub fn push(&mut self, chunk: &[u8]) -> Result<T::Out> {
        if self.ended {
            return Err(crate::error::Error::new("E_WRITE_AFTER_END", "write after end"));
        }
        self.guarded(|pump, out| {
            if pump.pending_pos < pump.pending.len() {
                pump.pending.extend_from_slice(chunk);
                return pump.step_into(out);
            }
            let used = pump.feed(chunk, out)?;
            pump.pending.clear();
            pump.pending_pos = 0;
            pump.pending.extend_from_slice(&chunk[used..]);
            Ok(())
        })
    }

    /// Marks the end of input and runs one step.
    pub fn end(&mut self) -> Result<T::Out> {
        self.ended = true;
        self.step()
    }

    /// `true` while more output can be produced without new input.
    pub fn has_more(&self) -> bool {
        self.failed.is_none()
            && (self.pending_pos < self.pending.len() || self.inner.has_buffered() || (self.ended && !self.done))
    }

    pub fn step(&mut self) -> Result<T::Out> {
        self.guarded(Self::step_into)
    }

    /// Runs `work`; an error poisons the pump, so every later call fails the same way.
    fn guarded(&mut self, work: impl FnOnce(&mut Self, &mut T::Out) -> Result<()>) -> Result<T::Out> {
        self.check()?;
        let mut out = T::Out::fresh();
        match work(self, &mut out) {
            Ok(()) => Ok(out.fitted()),
            Err(e) => {
                self.failed = Some(e.clone());
                Err(e)
            }
        }
    }

    /// Writes `input` until it is consumed (and the transform's own buffer drained) or the
    /// output cap is reached; returns how much of `input` was consumed.
    fn feed(&mut self, input: &[u8], out: &mut T::Out) -> Result<usize> {
        let mut pos = 0;
        while !out.full() {
            let buffered = self.inner.has_buffered();
            if pos == input.len() && !buffered {
                break;
            }
            let n = self.inner.write(&input[pos..], out)?;
            pos += n;
            if n == 0 && !buffered && !self.inner.has_buffered() && !out.full() {
                return Err(crate::error::Error::internal("transform made no progress"));
            }
        }
        Ok(pos)
    }

    fn step_into(&mut self, out: &mut T::Out) -> Result<()> {
        let pending = std::mem::take(&mut self.pending);
        let used = self.feed(&pending[self.pending_pos..], out);
        self.pending = pending;
        self.pending_pos += used?;
        if self.pending_pos == self.pending.len() {
            self.pending.clear();
            self.pending_pos = 0;
            if self.pending.capacity() > 4 * OUTPUT_CAP {
                self.pending = Vec::new();
            }
        }
        let drained = self.pending.is_empty() && !self.inner.has_buffered();
        if self.ended && !self.done && drained && !out.full() {
            self.done = self.inner.finish(out)?;
        }
        Ok(())
    }

    fn check(&self) -> Result<()> {
        match &self.failed {
            Some(e) => Err(e.clone()),
            None => Ok(()),
        }
    }

    /// Runs the whole input through, for the one-shot buffer APIs.
    pub fn run_all(self, input: &[u8]) -> Result<Vec<u8>>
    where
        T: Transform<Out = Vec<u8>>,
    {
        Ok(self.run_up_to(input, usize::MAX)?.unwrap_or_default())
    }

    /// As `run_all`, but gives up (`None`) as soon as the output is over `max` bytes: at most
    /// one step's output more is made, whatever the input would expand to.
    pub fn run_up_to(mut self, input: &[u8], max: usize) -> Result<Option<Vec<u8>>>
    where
        T: Transform<Out = Vec<u8>>,
    {
        let mut all = self.push(input)?;
        while all.len() <= max {
            let out = if self.has_more() {
                self.step()?
            } else if !self.ended {
                self.end()?
            } else {
                return Ok(Some(all));
            };
            crate::pool::append(&mut all, out);
        }
        crate::pool::give(all);
        Ok(None)
    }
}
