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

    /// The interleaved layouts (q4_0x8, q8_0x8): the blocks of each group of 8 rows, block column by block column;
    /// per block column one record of 8 blocks' bytes: the 8 rows' scales (16 bytes), then runs of 32 bytes, run i
    /// holding quant bytes 4i..4i+3 of rows 0..7 in turn. Returns where byte `byte` (0–1 the scale, then the
    /// quants) of block `block` of row `row` is stored, for blocks of `blockBytes` bytes.
    @inline(__always) public static func x8Offset(row: Int, block: Int, byte: Int, blocksPerRow: Int, blockBytes: Int) -> Int {
        let base = ((row / 8) * blocksPerRow + block) * 8 * blockBytes
        let lane = row % 8
        if byte < 2 { return base + 2 * lane + byte }
        let quantByte = byte - 2
        return base + 16 + (quantByte / 4) * 32 + lane * 4 + quantByte % 4
    }

    /// Encodes rows of `columns` floats (whole groups of 8 rows) as `blocks` (q4_0 or q8_0) blocks, interleaved.
    public static func quantizeInterleaved(_ x: UnsafePointer<Float>, count: Int, columns: Int, blocks: DType, into out: UnsafeMutableRawBufferPointer) {
        precondition(columns > 0 && columns % blockSize == 0 && count % (8 * columns) == 0, "\(blocks)x8 needs whole groups of 8 rows")
        let blocksPerRow = columns / blockSize, blockBytes = blocks.blockBytes
        withUnsafeTemporaryAllocation(byteCount: blocksPerRow * blockBytes, alignment: 1) { row in
            for r in 0..<(count / columns) {
                blocks.encode(x + r * columns, count: columns, into: row)
                for block in 0..<blocksPerRow {
                    for byte in 0..<blockBytes {
                        out[x8Offset(row: r, block: block, byte: byte, blocksPerRow: blocksPerRow, blockBytes: blockBytes)] = row[block * blockBytes + byte]
                    }
                }
            }
        }
    }

    public static func dequantizeInterleaved(_ source: UnsafeRawBufferPointer, into y: UnsafeMutablePointer<Float>, count: Int, columns: Int, blocks: DType) {
        precondition(columns > 0 && columns % blockSize == 0 && count % (8 * columns) == 0, "\(blocks)x8 needs whole groups of 8 rows")
        let blocksPerRow = columns / blockSize, blockBytes = blocks.blockBytes
        withUnsafeTemporaryAllocation(byteCount: blocksPerRow * blockBytes, alignment: 1) { row in
            for r in 0..<(count / columns) {
                for block in 0..<blocksPerRow {
                    for byte in 0..<blockBytes {
                        row[block * blockBytes + byte] = source[x8Offset(row: r, block: block, byte: byte, blocksPerRow: blocksPerRow, blockBytes: blockBytes)]
                    }
                }
                blocks.decode(UnsafeRawBufferPointer(row), count: columns, into: y + r * columns)
            }
        }
    }
}
