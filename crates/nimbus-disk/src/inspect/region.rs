//! A byte range of the stream a probe wants to keep.

/// Captures `len` bytes starting at stream offset `offset`.
#[derive(Debug, Default)]
pub(crate) struct Region {
    pub offset: u64,
    pub len: usize,
    pub data: Vec<u8>,
    /// The stream has moved past the start without capturing it.
    pub missed: bool,
}

impl Region {
    pub fn new(offset: u64, len: usize) -> Self {
        Region {
            offset,
            len,
            data: Vec::new(),
            missed: false,
        }
    }

    /// Takes what it needs from `chunk`, which starts at stream offset `pos`.
    pub fn feed(&mut self, pos: u64, chunk: &[u8]) {
        if self.complete() || self.missed {
            return;
        }
        let want = self.offset + self.data.len() as u64;
        let end = pos + chunk.len() as u64;
        if want < pos {
            self.missed = true;
            return;
        }
        if want >= end {
            return;
        }
        let start = (want - pos) as usize;
        let n = (self.len - self.data.len()).min(chunk.len() - start);
        if self.data.capacity() == 0 {
            self.data.reserve_exact(self.len.min(1 << 20));
        }
        self.data.extend_from_slice(&chunk[start..start + n]);
    }

    pub fn complete(&self) -> bool {
        self.data.len() == self.len
    }

    pub fn held(&self) -> usize {
        self.data.capacity()
    }

    /// Frees the buffer (the probe has decided).
    pub fn release(&mut self) {
        self.data = Vec::new();
    }
}

/// Keeps the last `len` bytes of the stream.
#[derive(Debug, Default)]
pub(crate) struct Tail {
    pub len: usize,
    pub data: Vec<u8>,
}

impl Tail {
    pub fn new(len: usize) -> Self {
        Tail {
            len,
            data: Vec::with_capacity(len * 2),
        }
    }

    pub fn feed(&mut self, chunk: &[u8]) {
        let take = chunk.len().min(self.len);
        self.data.extend_from_slice(&chunk[chunk.len() - take..]);
        if self.data.len() > self.len {
            let cut = self.data.len() - self.len;
            self.data.drain(..cut);
        }
    }

    pub fn held(&self) -> usize {
        self.data.capacity()
    }
}
