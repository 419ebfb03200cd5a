/// GGML's Q8_0 and Q4_0 block formats, bit-compatible with llama.cpp's reference quantizers
/// (`quantize_row_q8_0_ref`, `quantize_row_q4_0_ref`) so that tensors can be compared with llama.cpp's.
///
/// Both use blocks of 32 consecutive elements along a row, each led by its scale `d` as IEEE f16 (little-endian):
/// - Q8_0 (34 bytes): `d = max|x| / 127`, then 32 × int8 `q = round(x / d)`; `x ≈ q · d`.
/// - Q4_0 (18 bytes): `d = m / −8` where m is the element of largest magnitude (sign kept), then 16 bytes whose
///   low nibble holds element j and high nibble element j + 16, `q = min(15, trunc(x / d + 8.5))`; `x ≈ (q − 8) · d`.
public enum GGMLBlocks {
    public static let blockSize = 32

    public static func quantizeQ8_0(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawBufferPointer) {
        precondition(count % blockSize == 0)
        let base = out.baseAddress!
        for block in 0..<(count / blockSize) {
            let xs = x + block * blockSize
            let dst = base + block * 34
            var amax: Float = 0
            for j in 0..<blockSize { amax = max(amax, abs(xs[j])) }
            let d = amax / 127
            let id: Float = d != 0 ? 1 / d : 0
            dst.storeBytes(of: Float16(d).bitPattern, as: UInt16.self)
            for j in 0..<blockSize {
                dst.storeBytes(of: Int8((xs[j] * id).rounded(.toNearestOrAwayFromZero)), toByteOffset: 2 + j, as: Int8.self)
            }
        }
    }

    public static func dequantizeQ8_0(_ blocks: UnsafeRawBufferPointer, into y: UnsafeMutablePointer<Float>, count: Int) {
        let base = blocks.baseAddress!
        for block in 0..<(count / blockSize) {
            let src = base + block * 34
            let d = Float(Float16(bitPattern: src.loadUnaligned(as: UInt16.self)))
            for j in 0..<blockSize {
                y[block * blockSize + j] = Float(src.load(fromByteOffset: 2 + j, as: Int8.self)) * d
            }
        }
    }

    public static func quantizeQ4_0(_ x: UnsafePointer<Float>, count: Int, into out: UnsafeMutableRawBufferPointer) {
        precondition(count % blockSize == 0)
        let base = out.baseAddress!
        for block in 0..<(count / blockSize) {
            let xs = x + block * blockSize
            let dst = base + block * 18
            var amax: Float = 0
            var signedMax: Float = 0
            for j in 0..<blockSize where amax < abs(xs[j]) {
                amax = abs(xs[j])
                signedMax = xs[j]
            }
            let d = signedMax / -8
            let id: Float = d != 0 ? 1 / d : 0
            dst.storeBytes(of: Float16(d).bitPattern, as: UInt16.self)
            for j in 0..<(blockSize / 2) {
                // Truncation toward zero, as C's (int8_t) cast does.
                let low = min(15, UInt8(Int8(xs[j] * id + 8.5)))
                let high = min(15, UInt8(Int8(xs[j + blockSize / 2] * id + 8.5)))
                dst.storeBytes(of: low | (high << 4), toByteOffset: 2 + j, as: UInt8.self)
            }
        }
    }

    public static func dequantizeQ4_0(_ blocks: UnsafeRawBufferPointer, into y: UnsafeMutablePointer<Float>, count: Int) {
        let base = blocks.baseAddress!
        for block in 0..<(count / blockSize) {
            let src = base + block * 18
            let d = Float(Float16(bitPattern: src.loadUnaligned(as: UInt16.self)))
            let out = y + block * blockSize
            for j in 0..<(blockSize / 2) {
                let packed = src.load(fromByteOffset: 2 + j, as: UInt8.self)
                out[j] = Float(Int(packed & 0x0F) - 8) * d
                out[j + blockSize / 2] = Float(Int(packed >> 4) - 8) * d
            }
        }
    }
}
