//! CPython 3.11's `random.Random`, bit for bit, for the methods the generator calls.
//!
//! The core is MT19937 as in `Modules/_randommodule.c`: an integer seed is turned into the
//! little-endian 32-bit words of its absolute value (at least one word) and fed to
//! `init_by_array`. The methods are those of `Lib/random.py`, with the same arithmetic in the
//! same order, because the corpus is only identical if every draw is:
//! `random()` takes two words (`a >> 5`, `b >> 6`), `_randbelow(n)` draws
//! `getrandbits(n.bit_length())` until the value is below `n` (rejection, not modulo), and
//! `expovariate` divides `-log(1 - random())` by the rate (the same libm `log` as CPython's
//! `math.log` on this platform).

/// Words of MT19937 state.
const N: usize = 624;
/// The middle word of the recurrence.
const M: usize = 397;
const MATRIX_A: u32 = 0x9908_b0df;
const UPPER_MASK: u32 = 0x8000_0000;
const LOWER_MASK: u32 = 0x7fff_ffff;

/// MT19937 seeded the way CPython seeds it from an `int`.
#[derive(Clone)]
pub struct PyRandom {
    mt: [u32; N],
    index: usize,
}

impl std::fmt::Debug for PyRandom {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PyRandom")
            .field("index", &self.index)
            .finish_non_exhaustive()
    }
}

impl PyRandom {
    /// `random.Random(seed)` for an integer seed: the key is the 32-bit words of `|seed|`,
    /// least significant first, as many as its bit length needs (one for 0).
    pub fn new(seed: i128) -> Self {
        let mut n = seed.unsigned_abs();
        let mut key = Vec::with_capacity(4);
        loop {
            key.push(n as u32);
            n >>= 32;
            if n == 0 {
                break;
            }
        }
        Self::from_key(&key)
    }

    /// `init_by_array(key)` of the MT19937 reference code (`key` must not be empty; an empty
    /// key is treated as `[0]`).
    pub fn from_key(key: &[u32]) -> Self {
        let key: &[u32] = if key.is_empty() { &[0] } else { key };
        let mut r = PyRandom::init_genrand(19_650_218);
        let mt = &mut r.mt;
        let mut i = 1usize;
        let mut j = 0usize;
        for _ in 0..N.max(key.len()) {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_664_525))
                .wrapping_add(key[j])
                .wrapping_add(j as u32);
            i += 1;
            j += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
            if j >= key.len() {
                j = 0;
            }
        }
        for _ in 0..N - 1 {
            mt[i] = (mt[i] ^ (mt[i - 1] ^ (mt[i - 1] >> 30)).wrapping_mul(1_566_083_941))
                .wrapping_sub(i as u32);
            i += 1;
            if i >= N {
                mt[0] = mt[N - 1];
                i = 1;
            }
        }
        mt[0] = 0x8000_0000;
        r
    }

    fn init_genrand(s: u32) -> Self {
        let mut mt = [0u32; N];
        mt[0] = s;
        for i in 1..N {
            mt[i] = 1_812_433_253u32
                .wrapping_mul(mt[i - 1] ^ (mt[i - 1] >> 30))
                .wrapping_add(i as u32);
        }
        PyRandom { mt, index: N }
    }

    fn twist(&mut self) {
        let mt = &mut self.mt;
        for k in 0..N {
            let y = (mt[k] & UPPER_MASK) | (mt[(k + 1) % N] & LOWER_MASK);
            let mag = if y & 1 == 0 { 0 } else { MATRIX_A };
            mt[k] = mt[(k + M) % N] ^ (y >> 1) ^ mag;
        }
        self.index = 0;
    }

    /// `genrand_uint32`: the next tempered 32-bit word.
    #[inline]
    pub fn next_u32(&mut self) -> u32 {
        if self.index >= N {
            self.twist();
        }
        let mut y = self.mt[self.index];
        self.index += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// The 53 random bits behind `random()`: `(a >> 5) * 2**26 + (b >> 6)`.
    #[inline]
    pub fn bits53(&mut self) -> u64 {
        let a = u64::from(self.next_u32() >> 5);
        let b = u64::from(self.next_u32() >> 6);
        (a << 26) | b
    }

    /// `random()`: a float in [0, 1) with 53 random bits.
    #[inline]
    pub fn random(&mut self) -> f64 {
        self.bits53() as f64 * (1.0 / 9_007_199_254_740_992.0)
    }

    /// `getrandbits(k)` for `k <= 32` (0 for `k == 0`; `k` above 32 is clamped to 32).
    #[inline]
    pub fn getrandbits(&mut self, k: u32) -> u32 {
        if k == 0 {
            return 0;
        }
        self.next_u32() >> (32 - k.min(32))
    }

    /// `_randbelow(n)` (`_randbelow_with_getrandbits`): uniform in [0, n). CPython never calls
    /// it with 0 (its callers raise first); here 0 returns 0 without drawing.
    #[inline]
    pub fn randbelow(&mut self, n: u32) -> u32 {
        if n == 0 {
            return 0;
        }
        let k = u32::BITS - n.leading_zeros();
        loop {
            let r = self.getrandbits(k);
            if r < n {
                return r;
            }
        }
    }

    /// `randrange(start, stop)` with step 1. The width must be in 1..2**32 (every call site
    /// in the generator uses constants); an empty range returns `start` without drawing, where
    /// CPython raises.
    #[inline]
    pub fn randrange(&mut self, start: i64, stop: i64) -> i64 {
        let width = stop.saturating_sub(start);
        if width <= 0 {
            return start;
        }
        let width = u32::try_from(width).unwrap_or(u32::MAX);
        start + i64::from(self.randbelow(width))
    }

    /// `randint(a, b)` = `randrange(a, b + 1)`.
    #[inline]
    pub fn randint(&mut self, a: i64, b: i64) -> i64 {
        self.randrange(a, b.saturating_add(1))
    }

    /// `choice(seq)` as an index into a sequence of `len` items (`len` > 0).
    #[inline]
    pub fn choice_index(&mut self, len: usize) -> usize {
        self.randbelow(u32::try_from(len).unwrap_or(u32::MAX)) as usize
    }

    /// `choice(seq)`.
    #[inline]
    pub fn choice<T: Copy>(&mut self, seq: &[T]) -> T {
        seq[self.choice_index(seq.len())]
    }

    /// `uniform(a, b)` = `a + (b - a) * random()`.
    #[inline]
    pub fn uniform(&mut self, a: f64, b: f64) -> f64 {
        a + (b - a) * self.random()
    }

    /// `expovariate(lambd)` = `-log(1.0 - random()) / lambd`.
    #[inline]
    pub fn expovariate(&mut self, lambd: f64) -> f64 {
        -(1.0 - self.random()).ln() / lambd
    }

    /// `choices(population, weights)[0]` as an index, given the accumulated integer weights
    /// (`cum_weights`, non-decreasing, last one positive): `bisect_right(cum_weights,
    /// random() * total, 0, n - 1)`.
    #[inline]
    pub fn choices_index(&mut self, cum_weights: &[u32]) -> usize {
        let Some(&last) = cum_weights.last() else {
            return 0;
        };
        let x = self.random() * f64::from(last);
        let (mut lo, mut hi) = (0usize, cum_weights.len() - 1);
        while lo < hi {
            let mid = (lo + hi) / 2;
            if x < f64::from(cum_weights[mid]) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Expected values printed by CPython 3.11.7 (`python3 -c 'import random; ...'`).

    #[test]
    fn random_of_seed_42_is_cpythons() {
        let mut r = PyRandom::new(42);
        assert_eq!(r.random(), 0.6394267984578837);
        assert_eq!(
            [1, 7, 16, 32].map(|k| r.getrandbits(k)),
            [0, 94, 18024, 1051802512]
        );
        assert_eq!(
            [(); 3].map(|()| r.randrange(1024, 65535)),
            [15652, 10168, 49289]
        );
        assert_eq!(r.randint(3, 60), 9);
        assert_eq!(r.choice(b"abcdefg".as_slice()), b'f');
        assert_eq!(r.uniform(0.5, 6.0), 4.573672595672217);
        assert_eq!(r.expovariate(200.0), 0.003941318766768433);
    }

    #[test]
    fn seeds_zero_negative_and_multiword_are_cpythons() {
        let mut r = PyRandom::new(0);
        assert_eq!(r.getrandbits(32), 3626764237);
        assert_eq!(r.random(), 0.3852453064766108);
        assert_eq!(PyRandom::new((1 << 40) + 5).getrandbits(32), 2166296868);
        // CPython seeds with abs(seed).
        assert_eq!(PyRandom::new(-43).getrandbits(32), 165578901);
        assert_eq!(PyRandom::new(43).getrandbits(32), 165578901);
    }

    #[test]
    fn choices_and_randbelow_are_cpythons() {
        let mut r = PyRandom::new(42);
        let weights = [70u32, 3, 2, 2, 3, 6, 1, 3, 1, 6, 1, 1];
        let cum: Vec<u32> = weights
            .iter()
            .scan(0, |acc, w| {
                *acc += w;
                Some(*acc)
            })
            .collect();
        let got: Vec<usize> = (0..12).map(|_| r.choices_index(&cum)).collect();
        assert_eq!(got, [0, 0, 0, 0, 1, 0, 7, 0, 0, 0, 0, 0]);

        let mut r = PyRandom::new(7);
        assert_eq!(
            [(); 4].map(|()| r.randrange(0, 65535)),
            [21222, 62119, 9886, 25875]
        );
        assert_eq!([(); 6].map(|()| r.randbelow(64)), [6, 9, 12, 46, 7, 27]);
    }

    #[test]
    fn degenerate_arguments_do_not_draw() {
        let mut r = PyRandom::new(1);
        let before = r.clone().next_u32();
        assert_eq!(r.randbelow(0), 0);
        assert_eq!(r.randrange(5, 5), 5);
        assert_eq!(r.getrandbits(0), 0);
        assert_eq!(r.choices_index(&[]), 0);
        assert_eq!(r.next_u32(), before);
    }
}
