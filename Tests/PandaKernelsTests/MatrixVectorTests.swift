import PandaFormat
import Testing
@testable import PandaKernels

/// Deterministic values in [-1, 1) (also used by ActivationTests).
func values(_ count: Int, seed: UInt64) -> [Float] {
    var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
    return (0..<count).map { _ in
        state ^= state << 13; state ^= state >> 7; state ^= state << 17
        return Float(state >> 40) / Float(1 << 23) - 1
    }
}

private func encoded(_ floats: [Float], as dtype: DType, columns: Int? = nil) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: floats.count)!)
    floats.withUnsafeBufferPointer { source in
        bytes.withUnsafeMutableBytes { dtype.encode(source.baseAddress!, count: floats.count, columns: columns, into: $0) }
    }
    return bytes
}

private func decoded(_ bytes: [UInt8], as dtype: DType, count: Int, columns: Int? = nil) -> [Float] {
    var floats = [Float](repeating: 0, count: count)
    bytes.withUnsafeBytes { source in floats.withUnsafeMutableBufferPointer { dtype.decode(source, count: count, columns: columns, into: $0.baseAddress!) } }
    return floats
}

/// W·x with the stored weights and (for block types) the q8_0-rounded input, in double precision: what the
/// kernel computes, up to float summation order.
private func reference(_ weights: [Float], _ x: [Float], rows: Int, columns: Int) -> [Double] {
    (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + Double(weights[r * columns + $1]) * Double(x[$1]) } }
}

@Suite("Matrix kernels", .serialized)
struct MatrixVectorTests {
    static let shapes = [(rows: 37, columns: 96), (rows: 8, columns: 32), (rows: 65, columns: 1024)]
    /// f32/f16/bf16 rows need not be whole blocks: 109 columns reach every tail of the row loops.
    static let unblockedShapes = shapes + [(rows: 13, columns: 109)]
    /// The interleaved dtypes need whole groups of 8 rows.
    static let groupedShapes = [(rows: 40, columns: 96), (rows: 8, columns: 32), (rows: 72, columns: 1024)]

    @Test("every dtype's product equals the double-precision product of its stored values, on both kernel paths",
          arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8], [true, false])
    func matrixVectorProductMatchesReference(dtype: DType, avx2: Bool) {
        KernelPath.allowAVX2(avx2)
        defer { KernelPath.allowAVX2(true) }
        if !avx2 { #expect(!KernelPath.usesAVX2) }
        let pool = ThreadPool(threads: 3)
        for (rows, columns) in dtype.rowGroup > 1 ? Self.groupedShapes : dtype.isQuantized ? Self.shapes : Self.unblockedShapes {
            let weightBytes = encoded(values(rows * columns, seed: UInt64(rows)), as: dtype, columns: columns)
            let storedWeights = decoded(weightBytes, as: dtype, count: rows * columns, columns: columns)
            let x = values(columns, seed: 99)
            var input = x
            var quantized = [UInt8]()
            if dtype.isQuantized {
                quantized = encoded(x, as: .q8_0)
                input = decoded(quantized, as: .q8_0, count: columns)
            }
            let expected = reference(storedWeights, input, rows: rows, columns: columns)
            var y = [Float](repeating: .nan, count: rows)
            weightBytes.withUnsafeBytes { w in
                let matrix = WeightMatrix(dtype: dtype, rows: rows, columns: columns, bytes: w)
                if dtype.isQuantized {
                    quantized.withUnsafeBytes { matrix.multiply($0.baseAddress!, into: &y, pool: pool) }
                } else {
                    x.withUnsafeBytes { matrix.multiply($0.baseAddress!, into: &y, pool: pool) }
                }
            }
            // Outputs start as NaN, and max() passes over a NaN that is not first: unwritten rows need their own check.
            #expect(!y.contains { $0.isNaN }, "\(dtype) \(rows)×\(columns): rows left unwritten")
            let worst = zip(y, expected).map { abs(Double($0) - $1) }.max()!
            #expect(worst <= 1e-5 * Double(columns), "\(dtype) \(rows)×\(columns): max |Δ| \(worst)")
        }
    }

    @Test("the activation quantizer writes the same q8_0 blocks as the format's GGML reference quantizer")
    func activationQuantizerMatchesFormat() {
        let x = values(256, seed: 5).map { $0 * 3 }
        let activations = QuantizedActivations(count: 256)
        x.withUnsafeBufferPointer { activations.quantize($0.baseAddress!) }
        let bytes = Array(UnsafeRawBufferPointer(start: activations.blocks, count: 256 / 32 * 34))
        #expect(bytes == encoded(x, as: .q8_0))
    }

    @Test("rows widened to f32 equal the format's decoding, split across threads", arguments: [DType.f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8])
    func rowsAsFloatsMatchDecoding(dtype: DType) {
        let rows = dtype.rowGroup > 1 ? 24 : 21, columns = 64
        let bytes = encoded(values(rows * columns, seed: 11), as: dtype, columns: columns)
        let all = decoded(bytes, as: dtype, count: rows * columns, columns: columns)
        var out = [Float](repeating: .nan, count: 13 * columns)
        bytes.withUnsafeBytes { w in
            let matrix = WeightMatrix(dtype: dtype, rows: rows, columns: columns, bytes: w)
            matrix.rowsAsFloats(5..<18, into: &out, pool: ThreadPool(threads: 2))
        }
        #expect(out == Array(all[(5 * columns)..<(18 * columns)]))
    }

    @Test("q4_0x8 and q8_0x8 store exactly the blocks of q4_0 and q8_0, rearranged: both decode to the same values",
          arguments: [DType.q4_0x8, .q8_0x8])
    func interleavedLayoutDecodesAsItsBlocks(dtype: DType) {
        let rows = 16, columns = 96, blocks = dtype.interleavedBlocks!
        let x = values(rows * columns, seed: 21)
        let plain = encoded(x, as: blocks), interleaved = encoded(x, as: dtype, columns: columns)
        #expect(plain.count == interleaved.count && plain != interleaved)
        #expect(plain.sorted() == interleaved.sorted())
        #expect(decoded(interleaved, as: dtype, count: x.count, columns: columns) == decoded(plain, as: blocks, count: x.count))
    }

    @Test("the interleaved matrix–matrix product equals the double-precision product of the stored weights and q8_0-rounded rows, for any number of rows, on both kernel paths",
          arguments: [DType.q4_0x8, .q8_0x8], [true, false])
    func quantizedMatrixProductMatchesReference(dtype: DType, avx2: Bool) {
        KernelPath.allowAVX2(avx2)
        defer { KernelPath.allowAVX2(true) }
        let rows = 72, columns = 1024, pool = ThreadPool(threads: 2)  // from 4 rows on, large enough to be split across threads
        let weightBytes = encoded(values(rows * columns, seed: 3), as: dtype, columns: columns)
        let stored = decoded(weightBytes, as: dtype, count: rows * columns, columns: columns)
        for count in [1, 2, 3, 4, 5, 9] {
            let input = values(count * columns, seed: UInt64(40 + count)).map { $0 * 4 }
            let activations = QuantizedActivations(count: columns, rows: 9)
            input.withUnsafeBufferPointer { activations.quantize(rows: count, $0.baseAddress!) }
            let stride = rows + 5  // outputs written with a gap between rows, as into a wider buffer
            var output = [Float](repeating: .nan, count: count * stride)
            weightBytes.withUnsafeBytes { w in
                WeightMatrix(dtype: dtype, rows: rows, columns: columns, bytes: w)
                    .multiply(rows: count, activations, into: &output, outputStride: stride, pool: pool)
            }
            for t in 0..<count {
                let x = decoded(encoded(Array(input[(t * columns)..<((t + 1) * columns)]), as: .q8_0), as: .q8_0, count: columns)
                let expected = reference(stored, x, rows: rows, columns: columns)
                #expect(!output[(t * stride)..<(t * stride + rows)].contains { $0.isNaN }, "\(dtype), \(count) rows, row \(t): outputs left unwritten")
                let worst = (0..<rows).map { abs(Double(output[t * stride + $0]) - expected[$0]) }.max()!
                #expect(worst <= 1e-4, "\(dtype), \(count) rows, row \(t): max |Δ| \(worst)")
                let gap = output[(t * stride + rows)..<(t * stride + stride)]
                #expect(gap.allSatisfy { $0.isNaN }, "wrote outside its rows")
            }
        }
    }
}
