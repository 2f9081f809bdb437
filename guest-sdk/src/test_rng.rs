//! A small deterministic generator (xorshift) for the SDK's model tests, so a
//! failing seed replays.

/// Xorshift64; seed it with a non-zero value.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    /// A number below `n`.
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}
