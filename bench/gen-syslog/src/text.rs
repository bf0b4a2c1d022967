//! Appending numbers to a byte buffer the way the Python f-strings print them, without
//! `core::fmt` on the hot path.

/// `f"{n}"` of a non-negative integer.
#[inline]
pub fn push_u(buf: &mut Vec<u8>, mut n: u64) {
    let mut tmp = [0u8; 20];
    let mut i = tmp.len();
    loop {
        i -= 1;
        tmp[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    buf.extend_from_slice(&tmp[i..]);
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
