//! The quality search's encoder: an image's DCT coefficients are computed once, and each quality
//! tried only quantizes and entropy-codes them.
//!
//! Why: the forward DCT does not depend on the quality, yet `jpeg-encoder` redoes it (and gathers
//! every block from its rows again) on each of the two to five encodes of a search; that was
//! most of an encode's cost (callgrind on the samples, issue 19). This writer makes exactly the
//! file `jpeg-encoder` 0.7 makes for the same planes: baseline, JFIF header with a 1:1 aspect,
//! the quantization tables of the IJG quality scaling (ITU T.81 Annex K.1 tables), the typical
//! Huffman tables of Annex K.3, one interleaved scan, no restart markers; the integer DCT is the
//! Loeffler-Ligtenberg-Moschytz one with 13-bit constants (the IJG "islow" arithmetic), and the
//! quantizer divides by reciprocal multiplication the way that encoder does, so every rounding is
//! the same. The tests compare the bytes with `jpeg-encoder`'s for random images at every quality;
//! `jpeg-encoder` stays the encoder of record for anything this module is not asked to write.
//!
//! Must not: be used for a layout it was not tested against (4:2:0 from [`crate::planes`]
//! planes with averaged chroma, or grey).

/// Natural-order index of the `i`-th coefficient in zigzag order (ITU T.81 Figure A.6).
const ZIGZAG: [usize; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// ITU T.81 Table K.1, luminance quantization, natural order.
const LUMA_Q: [u16; 64] = [
    16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
    14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113,
    92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];

/// ITU T.81 Table K.2, chrominance quantization, natural order.
const CHROMA_Q: [u16; 64] = [
    17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99,
    47, 66, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
    99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];

/// A Huffman table as the DHT segment states it: code counts by length 1..=16, then the symbols.
struct Spec {
    counts: [u8; 16],
    symbols: &'static [u8],
}

/// ITU T.81 Table K.3: luminance DC.
const LUMA_DC: Spec = Spec {
    counts: [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0],
    symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

/// ITU T.81 Table K.4: chrominance DC.
const CHROMA_DC: Spec = Spec {
    counts: [0, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0],
    symbols: &[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11],
};

/// ITU T.81 Table K.5: luminance AC (run/size symbols by code length).
const LUMA_AC: Spec = Spec {
    counts: [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 125],
    symbols: &[
        0x01, 0x02, 0x03, 0x00, 0x04, 0x11, 0x05, 0x12, 0x21, 0x31, 0x41, 0x06, 0x13, 0x51, 0x61,
        0x07, 0x22, 0x71, 0x14, 0x32, 0x81, 0x91, 0xA1, 0x08, 0x23, 0x42, 0xB1, 0xC1, 0x15, 0x52,
        0xD1, 0xF0, 0x24, 0x33, 0x62, 0x72, 0x82, 0x09, 0x0A, 0x16, 0x17, 0x18, 0x19, 0x1A, 0x25,
        0x26, 0x27, 0x28, 0x29, 0x2A, 0x34, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44, 0x45,
        0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63, 0x64,
        0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x83,
        0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99,
        0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6,
        0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA, 0xD2, 0xD3,
        0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE1, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7, 0xE8,
        0xE9, 0xEA, 0xF1, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ],
};

/// ITU T.81 Table K.6: chrominance AC.
const CHROMA_AC: Spec = Spec {
    counts: [0, 2, 1, 2, 4, 4, 3, 4, 7, 5, 4, 4, 0, 1, 2, 119],
    symbols: &[
        0x00, 0x01, 0x02, 0x03, 0x11, 0x04, 0x05, 0x21, 0x31, 0x06, 0x12, 0x41, 0x51, 0x07, 0x61,
        0x71, 0x13, 0x22, 0x32, 0x81, 0x08, 0x14, 0x42, 0x91, 0xA1, 0xB1, 0xC1, 0x09, 0x23, 0x33,
        0x52, 0xF0, 0x15, 0x62, 0x72, 0xD1, 0x0A, 0x16, 0x24, 0x34, 0xE1, 0x25, 0xF1, 0x17, 0x18,
        0x19, 0x1A, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x35, 0x36, 0x37, 0x38, 0x39, 0x3A, 0x43, 0x44,
        0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x53, 0x54, 0x55, 0x56, 0x57, 0x58, 0x59, 0x5A, 0x63,
        0x64, 0x65, 0x66, 0x67, 0x68, 0x69, 0x6A, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A,
        0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
        0x98, 0x99, 0x9A, 0xA2, 0xA3, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8, 0xA9, 0xAA, 0xB2, 0xB3, 0xB4,
        0xB5, 0xB6, 0xB7, 0xB8, 0xB9, 0xBA, 0xC2, 0xC3, 0xC4, 0xC5, 0xC6, 0xC7, 0xC8, 0xC9, 0xCA,
        0xD2, 0xD3, 0xD4, 0xD5, 0xD6, 0xD7, 0xD8, 0xD9, 0xDA, 0xE2, 0xE3, 0xE4, 0xE5, 0xE6, 0xE7,
        0xE8, 0xE9, 0xEA, 0xF2, 0xF3, 0xF4, 0xF5, 0xF6, 0xF7, 0xF8, 0xF9, 0xFA,
    ],
};

/// Code lengths and codes by symbol, built canonically from a [`Spec`] (ITU T.81 Annex C).
struct Codes {
    /// `(length, code)` by symbol; length 0 for a symbol the table lacks.
    by_symbol: [(u8, u16); 256],
}

impl Codes {
    fn new(spec: &Spec) -> Codes {
        let mut by_symbol = [(0u8, 0u16); 256];
        let mut code = 0u16;
        let mut next = spec.symbols.iter();
        for (len, &count) in (1u8..=16).zip(&spec.counts) {
            for _ in 0..count {
                if let Some(&symbol) = next.next() {
                    by_symbol[usize::from(symbol)] = (len, code);
                }
                code = code.wrapping_add(1);
            }
            code = code.wrapping_shl(1);
        }
        Codes { by_symbol }
    }
}

/// A block in zigzag order.
fn zigzag(natural: &[i16; 64]) -> [i16; 64] {
    std::array::from_fn(|i| natural[ZIGZAG[i]])
}

/// How blocks are grouped into an MCU.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Layout {
    /// One grey component, one block an MCU.
    Grey,
    /// Y at 2x2 and Cb, Cr at 1x1: four Y blocks, then Cb, then Cr.
    Ycbcr420,
}

/// The DCT coefficients of every block, in the order of the scan, zigzag order within a block
/// (each scaled by 8 as the IJG integer DCT leaves them).
pub(crate) struct Coefficients {
    blocks: Vec<[i16; 64]>,
    width: u16,
    height: u16,
    layout: Layout,
}

/// A plane of 8-bit samples.
pub(crate) struct Plane<'a> {
    /// Rows packed.
    pub(crate) samples: &'a [u8],
    /// Samples per row.
    pub(crate) width: usize,
    /// Rows.
    pub(crate) height: usize,
}

impl Plane<'_> {
    /// The 8x8 block whose top-left sample is at (`x`, `y`), taking every `step`-th sample
    /// (step 2 reads the top-left of each 2x2 square), level-shifted by 128; a sample past
    /// the right or bottom edge repeats the last column or row, as the encoder pads.
    fn block(&self, x: usize, y: usize, step: usize) -> [i16; 64] {
        let mut out = [0i16; 64];
        let inside = x + 7 * step < self.width && y + 7 * step < self.height;
        for (r, row_out) in out.chunks_exact_mut(8).enumerate() {
            let sy = (y + r * step).min(self.height - 1);
            let row = &self.samples[sy * self.width..(sy + 1) * self.width];
            if inside && step == 1 {
                for (v, s) in row_out.iter_mut().zip(&row[x..x + 8]) {
                    *v = i16::from(*s) - 128;
                }
                continue;
            }
            for (c, v) in row_out.iter_mut().enumerate() {
                let sx = (x + c * step).min(self.width - 1);
                *v = i16::from(row[sx]) - 128;
            }
        }
        out
    }
}

impl Coefficients {
    /// A grey image's coefficients.
    pub(crate) fn grey(plane: &Plane<'_>, width: u16, height: u16) -> Coefficients {
        let (cols, rows) = (plane.width.div_ceil(8), plane.height.div_ceil(8));
        let avx2 = encoder_uses_avx2();
        let mut blocks = Vec::with_capacity(cols * rows);
        for by in 0..rows {
            for bx in 0..cols {
                let mut b = plane.block(bx * 8, by * 8, 1);
                fdct(&mut b, avx2);
                blocks.push(zigzag(&b));
            }
        }
        Coefficients {
            blocks,
            width,
            height,
            layout: Layout::Grey,
        }
    }

    /// Colour at 4:2:0 from full-resolution planes whose chroma holds each 2x2 square's average
    /// (the chroma block reads the top-left sample of each square, as the encoder's plain
    /// sampling does).
    pub(crate) fn ycbcr_420(
        y: &Plane<'_>,
        cb: &Plane<'_>,
        cr: &Plane<'_>,
        width: u16,
        height: u16,
    ) -> Coefficients {
        let (cols, rows) = (y.width.div_ceil(16), y.height.div_ceil(16));
        let mut blocks = Vec::with_capacity(cols * rows * 6);
        for my in 0..rows {
            for mx in 0..cols {
                let (x, top) = (mx * 16, my * 16);
                for (dx, dy) in [(0, 0), (8, 0), (0, 8), (8, 8)] {
                    blocks.push(y.block(x + dx, top + dy, 1));
                }
                blocks.push(cb.block(x, top, 2));
                blocks.push(cr.block(x, top, 2));
            }
        }
        let avx2 = encoder_uses_avx2();
        for b in &mut blocks {
            fdct(b, avx2);
            *b = zigzag(b);
        }
        Coefficients {
            blocks,
            width,
            height,
            layout: Layout::Ycbcr420,
        }
    }

    /// The JPEG file at `quality` (1-100), exactly as `jpeg-encoder` writes it.
    pub(crate) fn jpeg(&self, quality: u8) -> Vec<u8> {
        let luma = Quantizer::new(&LUMA_Q, quality);
        let chroma = Quantizer::new(&CHROMA_Q, quality);
        let mut out = Vec::with_capacity(32 * 1024);
        self.header(&mut out, &luma, &chroma);
        let tables = [
            (Codes::new(&LUMA_DC), Codes::new(&LUMA_AC)),
            (Codes::new(&CHROMA_DC), Codes::new(&CHROMA_AC)),
        ];
        let mut bits = Bits::new(out);
        // (component, table) of each block of an MCU.
        let mcu: &[(usize, usize)] = match self.layout {
            Layout::Grey => &[(0, 0)],
            Layout::Ycbcr420 => &[(0, 0), (0, 0), (0, 0), (0, 0), (1, 1), (2, 1)],
        };
        let mut previous_dc = [0i16; 3];
        let mut q = [0i16; 64];
        for group in self.blocks.chunks_exact(mcu.len()) {
            for (block, &(component, table)) in group.iter().zip(mcu) {
                let quantizer = if table == 0 { &luma } else { &chroma };
                quantizer.quantize(block, &mut q);
                let (dc, ac) = &tables[table];
                let diff = q[0].wrapping_sub(previous_dc[component]);
                previous_dc[component] = q[0];
                let (size, extra) = magnitude(diff);
                bits.code(dc, size, size, extra);
                // The non-zero AC coefficients as bits 1..=63, walked lowest first.
                let mut nonzero = nonzero_bits(&q) & !1;
                let mut at = 0u32;
                while nonzero != 0 {
                    let k = nonzero.trailing_zeros();
                    nonzero &= nonzero - 1;
                    let mut run = k - at - 1;
                    at = k;
                    while run > 15 {
                        bits.code(ac, 0xF0, 0, 0);
                        run -= 16;
                    }
                    let (size, extra) = magnitude(q[k as usize]);
                    bits.code(ac, ((run as u8) << 4) | size, size, extra);
                }
                if at < 63 {
                    bits.code(ac, 0x00, 0, 0);
                }
            }
        }
        let mut out = bits.finish();
        out.extend_from_slice(&[0xFF, 0xD9]);
        out
    }

    /// SOI, APP0 (JFIF 1.2, aspect 1:1), SOF0, both DQT, the DHT the components use, SOS: the
    /// segments and their order as `jpeg-encoder` writes them.
    fn header(&self, out: &mut Vec<u8>, luma: &Quantizer, chroma: &Quantizer) {
        out.extend_from_slice(&[0xFF, 0xD8]);
        out.extend_from_slice(&[
            0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F', 0, 1, 2, 0, 0, 1, 0, 1, 0, 0,
        ]);
        // (id, sampling, table) per component.
        let components: &[(u8, u8, u8)] = match self.layout {
            Layout::Grey => &[(0, 0x11, 0)],
            Layout::Ycbcr420 => &[(0, 0x22, 0), (1, 0x11, 1), (2, 0x11, 1)],
        };
        let n = components.len() as u8;
        out.extend_from_slice(&[0xFF, 0xC0]);
        out.extend_from_slice(&(8 + 3 * u16::from(n)).to_be_bytes());
        out.push(8);
        out.extend_from_slice(&self.height.to_be_bytes());
        out.extend_from_slice(&self.width.to_be_bytes());
        out.push(n);
        for &(id, sampling, table) in components {
            out.extend_from_slice(&[id, sampling, table]);
        }
        for (dest, q) in [(0u8, luma), (1, chroma)] {
            out.extend_from_slice(&[0xFF, 0xDB, 0, 67, dest]);
            out.extend(ZIGZAG.iter().map(|&z| q.level[z]));
        }
        let mut dht = |class_dest: u8, spec: &Spec| {
            out.extend_from_slice(&[0xFF, 0xC4]);
            out.extend_from_slice(&(19 + spec.symbols.len() as u16).to_be_bytes());
            out.push(class_dest);
            out.extend_from_slice(&spec.counts);
            out.extend_from_slice(spec.symbols);
        };
        dht(0x00, &LUMA_DC);
        dht(0x10, &LUMA_AC);
        if self.layout == Layout::Ycbcr420 {
            dht(0x01, &CHROMA_DC);
            dht(0x11, &CHROMA_AC);
        }
        out.extend_from_slice(&[0xFF, 0xDA]);
        out.extend_from_slice(&(6 + 2 * u16::from(n)).to_be_bytes());
        out.push(n);
        for &(id, _, table) in components {
            out.extend_from_slice(&[id, (table << 4) | table]);
        }
        out.extend_from_slice(&[0, 63, 0]);
    }
}

/// Bit `k` set where `q[k]` is not zero: eight flags at a time, each a byte 0 or 1, gathered
/// into one byte by a multiplication (flag `i`, at bit `8i`, times `2^(7 - j)` at byte `j` lands
/// on bit `56 + i` exactly when `i + j = 7`; every product bit is distinct, so nothing carries).
fn nonzero_bits(q: &[i16; 64]) -> u64 {
    let mut bits = 0u64;
    for (c, chunk) in q.chunks_exact(8).enumerate() {
        let flags: [u8; 8] = std::array::from_fn(|i| u8::from(chunk[i] != 0));
        let gathered = u64::from_le_bytes(flags).wrapping_mul(0x0102_0408_1020_4080) >> 56;
        bits |= gathered << (8 * c);
    }
    bits
}

/// The size category of a coefficient and its extra bits (ITU T.81 F.1.2.1: a negative value
/// is sent as its ones' complement in that many bits).
fn magnitude(v: i16) -> (u8, u16) {
    let abs = v.unsigned_abs();
    let size = (16 - abs.leading_zeros()) as u8;
    let extra = if v < 0 { (v - 1) as u16 } else { v as u16 };
    let mask = if size == 0 {
        0
    } else {
        u16::MAX >> (16 - size)
    };
    (size, extra & mask)
}

/// One table's divisors at a quality, in zigzag order, as reciprocals:
/// `(|v| + correction) * reciprocal >> 15`, the encoder's rounding.
struct Quantizer {
    /// The table entry written in DQT (1-255), natural order.
    level: [u8; 64],
    /// Twice the reciprocal, so the product's top 16 bits are the quotient (a divisor is at
    /// least 8, so the reciprocal is at most 4096 and this fits).
    reciprocal2: [u16; 64],
    correction: [u16; 64],
}

impl Quantizer {
    /// The IJG scaling of a base table: `5000 / q` percent below quality 50, `200 - 2q` above,
    /// rounded, within 1..=255; the divisor is 8 times that, the DCT being scaled by 8.
    fn new(base: &[u16; 64], quality: u8) -> Quantizer {
        let quality = u32::from(quality.clamp(1, 100));
        let scale = if quality < 50 {
            5000 / quality
        } else {
            200 - 2 * quality
        };
        let mut q = Quantizer {
            level: [0; 64],
            reciprocal2: [0; 64],
            correction: [0; 64],
        };
        for (k, &b) in base.iter().enumerate() {
            let level = ((u32::from(b) * scale + 50) / 100).clamp(1, 255);
            q.level[k] = level as u8;
        }
        for (i, &z) in ZIGZAG.iter().enumerate() {
            let divisor = u32::from(q.level[z]) * 8;
            // 2^15 / divisor, rounded to nearest; the correction pre-rounds the dividend so the
            // product's truncation rounds to nearest as well.
            let whole = (1u32 << 15) / divisor;
            let rest = (1u32 << 15) % divisor;
            let half = divisor / 2;
            let (reciprocal, correction) = if rest == 0 {
                (whole, half)
            } else if rest <= half {
                (whole, half + 1)
            } else {
                (whole + 1, half)
            };
            // divisor >= 8: reciprocal <= 4096 and correction <= 1020.
            q.reciprocal2[i] = (reciprocal * 2) as u16;
            q.correction[i] = correction as u16;
        }
        q
    }

    /// `block` (zigzag order) quantized, in u16 lanes: |v| <= 8 * 1024 + 8 for an 8-bit image's
    /// DCT, so `|v| + correction` fits, and `(a * 2r) >> 16 == (a * r) >> 15`.
    fn quantize(&self, block: &[i16; 64], out: &mut [i16; 64]) {
        for k in 0..64 {
            let v = block[k];
            let a = v.unsigned_abs().wrapping_add(self.correction[k]);
            let m = ((u32::from(a) * u32::from(self.reciprocal2[k])) >> 16) as i16;
            out[k] = if v < 0 { -m } else { m };
        }
    }
}

/// The entropy-coded segment: bits packed from the most significant end, a 0x00 after every
/// 0xFF byte, the last byte padded with ones.
struct Bits {
    out: Vec<u8>,
    /// Pending bits, right-aligned.
    acc: u64,
    /// How many bits of `acc` are pending (< 32 between calls).
    n: u32,
}

impl Bits {
    fn new(out: Vec<u8>) -> Bits {
        Bits { out, acc: 0, n: 0 }
    }

    /// The code of `symbol` followed by `size` extra bits (at most 16 + 11 bits).
    #[inline(always)]
    fn code(&mut self, codes: &Codes, symbol: u8, size: u8, extra: u16) {
        let (len, code) = codes.by_symbol[usize::from(symbol)];
        let value = (u64::from(code) << size) | u64::from(extra);
        self.put(value, u32::from(len) + u32::from(size));
    }

    #[inline(always)]
    fn put(&mut self, value: u64, len: u32) {
        // n < 32 and len <= 27: the shifted accumulator stays under 59 bits.
        self.acc = (self.acc << len) | value;
        self.n += len;
        if self.n >= 32 {
            self.n -= 32;
            let word = ((self.acc >> self.n) as u32).to_be_bytes();
            if word.contains(&0xFF) {
                for byte in word {
                    self.out.push(byte);
                    if byte == 0xFF {
                        self.out.push(0);
                    }
                }
            } else {
                self.out.extend_from_slice(&word);
            }
            self.acc &= (1u64 << self.n) - 1;
        }
    }

    fn finish(mut self) -> Vec<u8> {
        // Pad to a whole byte with ones, then write the whole bytes left.
        let pad = (8 - self.n % 8) % 8;
        self.acc = (self.acc << pad) | ((1u64 << pad) - 1);
        self.n += pad;
        while self.n >= 8 {
            self.n -= 8;
            let byte = (self.acc >> self.n) as u8;
            self.out.push(byte);
            if byte == 0xFF {
                self.out.push(0);
            }
        }
        self.out
    }
}

/// The IJG integer forward DCT ("islow", Loeffler-Ligtenberg-Moschytz with 12 multiplies):
/// rows then columns, 13-bit fixed-point constants, two extra bits of precision between the
/// passes; the result is 8 times the orthonormal DCT, rounded.
///
/// Quirk (`jpeg-encoder` 0.7.1, its AVX2 path, taken whenever the CPU has AVX2): the rounding
/// bias of the second pass's outputs 0 and 4 is loaded as 32-bit words into a register of 16-bit
/// lanes, so it reaches the even columns only, and those two outputs of the odd columns are
/// rounded down. `avx2` reproduces that (checked against the encoder on 300,000 random blocks);
/// without AVX2 the encoder runs the scalar IJG code, which rounds them all to nearest.
fn fdct(block: &mut [i16; 64], avx2: bool) {
    // Eight 1-D transforms side by side (lane j is row j, then column j), so the compiler can
    // run the lanes in vector registers. Pass 1's input, element k of lane j: the block's (j, k).
    let rows_in: [[i32; 8]; 8] =
        std::array::from_fn(|k| std::array::from_fn(|j| i32::from(block[j * 8 + k])));
    let rows = lanes(&rows_in, Pass::Rows, [0; 8]);
    // Pass 2, lane c is column c: element r is row r's output c, i.e. `rows[c][r]`.
    let cols_in: [[i32; 8]; 8] = std::array::from_fn(|r| std::array::from_fn(|c| rows[c][r]));
    let bias = std::array::from_fn(|c| if avx2 && c % 2 == 1 { 0 } else { 2 });
    let out = lanes(&cols_in, Pass::Columns, bias);
    for (k, row) in out.iter().enumerate() {
        for (c, v) in row.iter().enumerate() {
            block[k * 8 + c] = *v as i16;
        }
    }
}

/// Whether `jpeg-encoder` takes its AVX2 path here (the workspace enables its `simd` feature,
/// and it then checks the CPU at run time, as this does).
fn encoder_uses_avx2() -> bool {
    #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
    {
        std::is_x86_feature_detected!("avx2")
    }
    #[cfg(not(any(target_arch = "x86", target_arch = "x86_64")))]
    {
        false
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Pass {
    Rows,
    Columns,
}

/// `round(c * 2^13)` for the rotation constants of the 1-D transform.
const C_0_298631336: i32 = 2446;
const C_0_390180644: i32 = 3196;
const C_0_541196100: i32 = 4433;
const C_0_765366865: i32 = 6270;
const C_0_899976223: i32 = 7373;
const C_1_175875602: i32 = 9633;
const C_1_501321110: i32 = 12299;
const C_1_847759065: i32 = 15137;
const C_1_961570560: i32 = 16069;
const C_2_053119869: i32 = 16819;
const C_2_562915447: i32 = 20995;
const C_3_072711026: i32 = 25172;

/// Shifts right by `n` with rounding.
fn round_shift(v: i32, n: u32) -> i32 {
    (v + (1 << (n - 1))) >> n
}

/// The 1-D 8-point transform of eight rows or columns at once: `x[k][j]` is element `k` of
/// lane `j`, and so is the result's. Rows: the sums 0 and 4 are kept exact and scaled up by 4,
/// the rotated outputs descaled by 11 bits. Columns: the sums lose those 2 bits again, rounded
/// with `sum_bias` per lane (2 to nearest, 0 down: see [`fdct`]), the rotated outputs 15.
fn lanes(x: &[[i32; 8]; 8], pass: Pass, sum_bias: [i32; 8]) -> [[i32; 8]; 8] {
    let mut y = [[0i32; 8]; 8];
    let rotated = if pass == Pass::Rows { 11 } else { 15 };
    for j in 0..8 {
        let (s0, s1, s2, s3) = (
            x[0][j] + x[7][j],
            x[1][j] + x[6][j],
            x[2][j] + x[5][j],
            x[3][j] + x[4][j],
        );
        let (d0, d1, d2, d3) = (
            x[0][j] - x[7][j],
            x[1][j] - x[6][j],
            x[2][j] - x[5][j],
            x[3][j] - x[4][j],
        );
        // Even part.
        let (e0, e3) = (s0 + s3, s0 - s3);
        let (e1, e2) = (s1 + s2, s1 - s2);
        let rot = (e2 + e3) * C_0_541196100;
        let even2 = rot + e3 * C_0_765366865;
        let even6 = rot - e2 * C_1_847759065;
        // Odd part: d3..d0 are the paper's i0..i3.
        let (z1, z2, z3, z4) = (d3 + d0, d2 + d1, d3 + d1, d2 + d0);
        let z5 = (z3 + z4) * C_1_175875602;
        let z1 = -z1 * C_0_899976223;
        let z2 = -z2 * C_2_562915447;
        let z3 = -z3 * C_1_961570560 + z5;
        let z4 = -z4 * C_0_390180644 + z5;
        let odd7 = d3 * C_0_298631336 + z1 + z3;
        let odd5 = d2 * C_2_053119869 + z2 + z4;
        let odd3 = d1 * C_3_072711026 + z2 + z3;
        let odd1 = d0 * C_1_501321110 + z1 + z4;
        let (sum0, sum4) = (e0 + e1, e0 - e1);
        (y[0][j], y[4][j]) = match pass {
            Pass::Rows => (sum0 << 2, sum4 << 2),
            Pass::Columns => ((sum0 + sum_bias[j]) >> 2, (sum4 + sum_bias[j]) >> 2),
        };
        y[1][j] = round_shift(odd1, rotated);
        y[2][j] = round_shift(even2, rotated);
        y[3][j] = round_shift(odd3, rotated);
        y[5][j] = round_shift(odd5, rotated);
        y[6][j] = round_shift(even6, rotated);
        y[7][j] = round_shift(odd7, rotated);
    }
    y
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::planes::{Planes, ycbcr_420};
    use jpeg_encoder::{ColorType, Encoder};
    use proptest::prelude::*;

    fn noise(n: usize, seed: u32, smooth: bool) -> Vec<u8> {
        (0..n)
            .map(|i| {
                let x = (i as u32 ^ seed).wrapping_mul(2_654_435_761);
                let n = ((x >> 13) % 256) as u8;
                if smooth {
                    ((i % 97) as u8).wrapping_mul(2).saturating_add(n % 24)
                } else {
                    n
                }
            })
            .collect()
    }

    fn encoder_grey(pixels: &[u8], w: u16, h: u16, quality: u8) -> Vec<u8> {
        let mut out = Vec::new();
        Encoder::new(&mut out, quality)
            .encode(pixels, w, h, ColorType::Luma)
            .unwrap();
        out
    }

    fn ours_grey(pixels: &[u8], w: u16, h: u16, quality: u8) -> Vec<u8> {
        let plane = Plane {
            samples: pixels,
            width: usize::from(w),
            height: usize::from(h),
        };
        Coefficients::grey(&plane, w, h).jpeg(quality)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// Grey, any size and quality: `jpeg-encoder`'s bytes.
        #[test]
        fn grey_is_the_encoders_bytes(
            w in 1u16..70,
            h in 1u16..50,
            quality in 1u8..=100,
            seed in any::<u32>(),
            smooth in any::<bool>(),
        ) {
            let px = noise(usize::from(w) * usize::from(h), seed, smooth);
            prop_assert_eq!(ours_grey(&px, w, h, quality), encoder_grey(&px, w, h, quality));
        }

        /// Colour 4:2:0 from the planes, any size and quality: the bytes `Planes` gets from
        /// `jpeg-encoder`.
        #[test]
        fn colour_is_the_encoders_bytes(
            w in 1u16..70,
            h in 1u16..70,
            quality in 1u8..=100,
            seed in any::<u32>(),
            smooth in any::<bool>(),
        ) {
            let rgb = noise(usize::from(w) * usize::from(h) * 3, seed, smooth);
            let planes = ycbcr_420(&rgb, w, h);
            let ours = planes.coefficients().jpeg(quality);
            prop_assert_eq!(ours, Planes::Ycbcr(planes).jpeg(quality).unwrap());
        }
    }

    proptest! {
        /// The gathered flags are the plain loop's.
        #[test]
        fn nonzero_bits_are_the_non_zero_coefficients(
            q in proptest::collection::vec(prop_oneof![Just(0i16), any::<i16>()], 64),
        ) {
            let q: [i16; 64] = q.try_into().unwrap();
            let plain = (0..64).fold(0u64, |m, k| m | (u64::from(q[k] != 0) << k));
            prop_assert_eq!(nonzero_bits(&q), plain);
        }
    }

    #[test]
    fn extreme_blocks_are_the_encoders_bytes() {
        // Flat black and white, and a checkerboard: the largest coefficients of either sign.
        for quality in [1, 5, 30, 50, 51, 75, 90, 99, 100] {
            for pixels in [
                vec![0u8; 24 * 24],
                vec![255u8; 24 * 24],
                (0..24 * 24)
                    .map(|i| if (i + i / 24) % 2 == 0 { 0 } else { 255 })
                    .collect(),
            ] {
                assert_eq!(
                    ours_grey(&pixels, 24, 24, quality),
                    encoder_grey(&pixels, 24, 24, quality)
                );
            }
        }
    }
}
