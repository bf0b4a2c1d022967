//! Appending numbers to a byte buffer the way the Python f-strings print them, without
//! `core::fmt` on the hot path.

/// "00" to "99".
const PAIRS: &[u8; 200] = b"\
0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";

#[inline]
fn pair(n: u64) -> [u8; 2] {
    let i = (n as usize) * 2;
    [PAIRS[i], PAIRS[i + 1]]
}

/// `f"{n}"` of a non-negative integer.
#[inline]
pub fn push_u(buf: &mut Vec<u8>, mut n: u64) {
    if n < 10 {
        buf.push(b'0' + n as u8);
        return;
    }
    if n < 100 {
        buf.extend_from_slice(&pair(n));
        return;
    }
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    while n >= 100 {
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&pair(n % 100));
        n /= 100;
    }
    if n >= 10 {
        i -= 2;
        tmp[i..i + 2].copy_from_slice(&pair(n));
    } else {
        i -= 1;
        tmp[i] = b'0' + n as u8;
    }
    buf.extend_from_slice(&tmp[i..]);
}

/// `f"{n:02d}"` of a number below 100.
#[inline]
pub fn push_2d(buf: &mut Vec<u8>, n: u32) {
    if n < 100 {
        buf.extend_from_slice(&pair(u64::from(n)));
    } else {
        push_u(buf, u64::from(n));
    }
}

/// `f"{n:06d}"` of a number below 1,000,000 (microseconds).
#[inline]
pub fn push_6d(buf: &mut Vec<u8>, n: u32) {
    if n < 1_000_000 {
        let n = u64::from(n);
        let [a, b] = pair(n / 10_000);
        let [c, d] = pair(n / 100 % 100);
        let [e, f] = pair(n % 100);
        buf.extend_from_slice(&[a, b, c, d, e, f]);
    } else {
        push_u(buf, u64::from(n));
    }
}

/// `f"{n}"` of an integer.
#[inline]
pub fn push_i(buf: &mut Vec<u8>, n: i64) {
    if n < 0 {
        buf.push(b'-');
    }
    push_u(buf, n.unsigned_abs());
}

/// `f"{n:0{width}d}"` of a non-negative integer (wider numbers are printed whole).
#[inline]
pub fn push_zero_pad(buf: &mut Vec<u8>, n: u64, width: usize) {
    pad_then(buf, n, width, b'0');
}

/// `f"{n:{width}d}"` of a non-negative integer: padded with spaces on the left.
#[inline]
pub fn push_space_pad(buf: &mut Vec<u8>, n: u64, width: usize) {
    pad_then(buf, n, width, b' ');
}

#[inline]
fn pad_then(buf: &mut Vec<u8>, n: u64, width: usize, pad: u8) {
    let len = if n == 0 { 1 } else { n.ilog10() as usize + 1 };
    for _ in len..width {
        buf.push(pad);
    }
    push_u(buf, n);
}

/// `f"{n:02x}"` of a byte.
#[inline]
pub fn push_hex2(buf: &mut Vec<u8>, n: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    buf.push(HEX[usize::from(n >> 4)]);
    buf.push(HEX[usize::from(n & 15)]);
}

/// `f"{x:.3f}"` of `x = bits / 2**52` (`random() * 2` given `random()`'s 53 bits): the exact
/// binary value rounded to thousandths, ties to even, as CPython's float formatting does.
#[inline]
pub fn push_fixed3_of_bits52(buf: &mut Vec<u8>, bits: u64) {
    const SHIFT: u32 = 52;
    let q = u128::from(bits) * 1000;
    let mut thousandths = (q >> SHIFT) as u64;
    let rem = q & ((1u128 << SHIFT) - 1);
    let half = 1u128 << (SHIFT - 1);
    if rem > half || (rem == half && thousandths & 1 == 1) {
        thousandths += 1;
    }
    push_u(buf, thousandths / 1000);
    buf.push(b'.');
    push_zero_pad(buf, thousandths % 1000, 3);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut b = Vec::new();
        f(&mut b);
        String::from_utf8_lossy(&b).into_owned()
    }

    #[test]
    fn integers_and_padding() {
        for n in [
            0u64, 7, 10, 99, 100, 101, 999, 1000, 65534, 1_000_000, 1_000_001,
        ] {
            assert_eq!(s(|b| push_u(b, n)), n.to_string());
        }
        assert_eq!(s(|b| push_2d(b, 7)), "07");
        assert_eq!(s(|b| push_2d(b, 123)), "123");
        assert_eq!(s(|b| push_6d(b, 11_143)), "011143");
        assert_eq!(s(|b| push_6d(b, 999_999)), "999999");
        assert_eq!(s(|b| push_u(b, 0)), "0");
        assert_eq!(s(|b| push_u(b, u64::MAX)), "18446744073709551615");
        assert_eq!(s(|b| push_i(b, -42)), "-42");
        assert_eq!(s(|b| push_zero_pad(b, 7, 6)), "000007");
        assert_eq!(s(|b| push_zero_pad(b, 1234567, 6)), "1234567");
        assert_eq!(s(|b| push_space_pad(b, 5, 2)), " 5");
        assert_eq!(s(|b| push_space_pad(b, 31, 2)), "31");
        assert_eq!(s(|b| push_hex2(b, 0x0a)), "0a");
    }

    #[test]
    fn fixed3_rounds_half_even_like_python() {
        // (x, f"{x:.3f}") from CPython 3.11; x = bits / 2**52 exactly.
        let cases: [(f64, &str); 8] = [
            (0.0625, "0.062"),
            (0.1875, "0.188"),
            (0.3125, "0.312"),
            (1.9995, "2.000"),
            (1.0005, "1.000"),
            (1.0015, "1.002"),
            (0.5005, "0.500"),
            (1.0625 - f64::EPSILON, "1.062"),
        ];
        for (x, want) in cases {
            let bits = (x * (1u64 << 52) as f64) as u64;
            assert_eq!(bits as f64 / (1u64 << 52) as f64, x);
            assert_eq!(s(|b| push_fixed3_of_bits52(b, bits)), want, "{x}");
        }
        assert_eq!(s(|b| push_fixed3_of_bits52(b, (1 << 53) - 1)), "2.000");
        assert_eq!(s(|b| push_fixed3_of_bits52(b, 0)), "0.000");
    }
}
