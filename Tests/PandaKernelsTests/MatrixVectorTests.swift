import Foundation
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

/// Selects `path` for a kernel test and says so on stdout, or says that the test skips it because this CPU lacks it
/// (a machine without AVX-512 then shows which paths went untested). Returns whether the test should run.
func select(_ path: KernelPath, for test: String) -> Bool {
    guard path.isSupported else {
        print("SKIPPED \(test) on the \(path) kernel path: this CPU lacks it")
        return false
    }
    KernelPath.select(path)
    print("ran \(test) on the \(path) kernel path")
    return true
}

@Suite("Matrix kernels", .serialized)
struct MatrixVectorTests {
    static let best = KernelPath.supported.last!
    /// The path every test returns to: the one chosen at start-up (the best, or what PANDA_KERNELS asks for), so the
    /// other suites keep running on it.
    static let startUp = KernelPath.forRequest(ProcessInfo.processInfo.environment["PANDA_KERNELS"]).path

    @Test("the kernels run the path chosen at start-up (the best the CPU supports unless PANDA_KERNELS asks for another), and the portable path is always supported")
    func pathsOnThisMachine() {
        print(KernelPath.summary)
        let skipped = KernelPath.allCases.filter { !$0.isSupported }
        print("kernel paths on this machine: \(KernelPath.supported.map(\.description).joined(separator: ", "))"
            + "; skipped by every kernel test: \(skipped.isEmpty ? "none" : skipped.map(\.description).joined(separator: ", "))")
        #expect(KernelPath.supported.first == .portable)
        #expect(KernelPath.current == Self.startUp)
        for path in KernelPath.allCases { #expect(KernelPath(name: path.description) == path) }
    }

    @Test("PANDA_KERNELS selects a supported path as asked, and falls back with a warning for an unknown or unsupported one")
    func requestsResolve() {
        #expect(KernelPath.forRequest(nil) == (Self.best, nil))
        #expect(KernelPath.forRequest("portable") == (.portable, nil))
        let unknown = KernelPath.forRequest("avx1024")
        #expect(unknown.path == Self.best && unknown.warning?.contains("avx1024") == true)
        for path in KernelPath.allCases {
            let resolved = KernelPath.forRequest(path.description)
            if path.isSupported {
                #expect(resolved == (path, nil))
            } else {
                // The best supported path ranked below the request.
                #expect(resolved.path == KernelPath.supported.last { $0.rawValue < path.rawValue })
                #expect(resolved.warning?.contains("lacks") == true, "\(path): \(resolved.warning ?? "no warning")")
            }
        }
    }

    static let shapes = [(rows: 37, columns: 96), (rows: 8, columns: 32), (rows: 65, columns: 1024)]
    /// f32/f16/bf16 rows need not be whole blocks: 109 columns reach every tail of the row loops.
    static let unblockedShapes = shapes + [(rows: 13, columns: 109)]
    /// The interleaved dtypes need whole groups of 8 rows.
    static let groupedShapes = [(rows: 40, columns: 96), (rows: 8, columns: 32), (rows: 72, columns: 1024)]

    @Test("every dtype's product equals the double-precision product of its stored values, on every kernel path",
          arguments: [DType.f32, .f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8], KernelPath.allCases)
    func matrixVectorProductMatchesReference(dtype: DType, path: KernelPath) {
        guard select(path, for: "matrix-vector \(dtype)") else { return }
        defer { KernelPath.select(Self.startUp) }
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
            #expect(!y.contains { $0.isNaN }, "\(dtype) \(rows)×\(columns) on \(path): rows left unwritten")
            let worst = zip(y, expected).map { abs(Double($0) - $1) }.max()!
            #expect(worst <= 1e-5 * Double(columns), "\(dtype) \(rows)×\(columns) on \(path): max |Δ| \(worst)")
        }
    }

    @Test("the f32/f16/bf16 matrix–matrix product adds the double-precision product of the stored weights and the activations as the path rounds them (bf16 for bf16 weights through vdpbf16ps) into strided outputs, on every kernel path and both bf16 product choices",
          arguments: [DType.f32, .f16, .bf16], KernelPath.allCases)
    func floatMatrixProductMatchesReference(dtype: DType, path: KernelPath) {
        guard select(path, for: "matrix-matrix \(dtype)") else { return }
        defer { KernelPath.select(Self.startUp) }
        let choices = dtype == .bf16 && path == .avx512vnni ? BF16Products.allCases : [BF16Products.current]
        let startUpChoice = BF16Products.current
        defer { BF16Products.select(startUpChoice) }
        for choice in choices {
            BF16Products.select(choice)
            if choices.count > 1 { print("ran matrix-matrix bf16 with \(choice) products") }
            floatMatrixProduct(dtype: dtype, path: path, roundsInputToBF16: dtype == .bf16 && path == .avx512vnni && choice == .dot)
        }
    }

    private func floatMatrixProduct(dtype: DType, path: KernelPath, roundsInputToBF16: Bool) {
        let pool = ThreadPool(threads: 2), workspace = MatrixWorkspace(tileFloats: 1 << 16)
        // Rows not multiples of the 32-row slabs, activation rows not of the 12-row tiles, columns neither of the
        // 256-column blocks nor even.
        for (rows, columns, count) in [(rows: 37, columns: 109, count: 7), (rows: 64, columns: 1024, count: 9), (rows: 8, columns: 32, count: 1),
                                       (rows: 50, columns: 301, count: 27)] {
            let weightBytes = encoded(values(rows * columns, seed: UInt64(rows)), as: dtype)
            let stored = decoded(weightBytes, as: dtype, count: rows * columns)
            let input = values(count * columns, seed: UInt64(60 + count)).map { $0 * 4 }
            let x = roundsInputToBF16 ? decoded(encoded(input, as: .bf16), as: .bf16, count: input.count) : input
            let stride = rows + 3  // outputs with a gap between rows, as into a wider buffer
            let initial = values(count * stride, seed: 77)
            var output = initial
            weightBytes.withUnsafeBytes { w in
                WeightMatrix(dtype: dtype, rows: rows, columns: columns, bytes: w)
                    .multiply(count: count, input, into: &output, outputStride: stride, beta: 1, pool: pool, workspace: workspace)
            }
            var worst = 0.0
            for t in 0..<count {
                let product = reference(stored, Array(x[(t * columns)..<((t + 1) * columns)]), rows: rows, columns: columns)
                for r in 0..<rows { worst = max(worst, abs(Double(output[t * stride + r]) - (Double(initial[t * stride + r]) + product[r]))) }
                #expect(output[(t * stride + rows)..<((t + 1) * stride)] == initial[(t * stride + rows)..<((t + 1) * stride)], "wrote outside its rows")
            }
            #expect(output.allSatisfy { $0.isFinite }, "\(dtype) \(rows)×\(columns) on \(path): an output is not finite")
            #expect(worst <= 1e-5 * Double(columns), "\(dtype) \(rows)×\(columns), \(count) rows on \(path): max |Δ| \(worst)")
        }
    }

    @Test("the vdpbf16ps prompt product gives each activation row the same bits in any batch: a token's sum does not depend on its tile")
    func bf16DotProductRowsAreIndependent() {
        guard select(.avx512vnni, for: "matrix-matrix bf16 through vdpbf16ps, rows alone") else { return }
        defer { KernelPath.select(Self.startUp) }
        let startUpChoice = BF16Products.current
        defer { BF16Products.select(startUpChoice) }
        BF16Products.select(.dot)
        let pool = ThreadPool(threads: 2), workspace = MatrixWorkspace(tileFloats: 1 << 16)
        let (rows, columns, count) = (45, 600, 29)
        let weightBytes = encoded(values(rows * columns, seed: 3), as: .bf16)
        let x = values(count * columns, seed: 4)
        var together = [Float](repeating: .nan, count: count * rows), alone = together
        weightBytes.withUnsafeBytes { w in
            let weight = WeightMatrix(dtype: .bf16, rows: rows, columns: columns, bytes: w)
            weight.multiply(count: count, x, into: &together, pool: pool, workspace: workspace)
            for row in 0..<count {
                x.withUnsafeBufferPointer { input in
                    alone.withUnsafeMutableBufferPointer { output in
                        weight.multiply(count: 1, input.baseAddress! + row * columns, into: output.baseAddress! + row * rows, pool: pool, workspace: workspace)
                    }
                }
            }
        }
        #expect(together.elementsEqual(alone) { $0.bitPattern == $1.bitPattern })
    }

    @Test("several vectors through the f32/f16/bf16 matrix-vector kernel at once give each exactly its product alone, on every kernel path",
          arguments: [DType.f32, .f16, .bf16], KernelPath.allCases)
    func manyVectorsGiveEachItsProductAlone(dtype: DType, path: KernelPath) {
        guard select(path, for: "matrix-vector, several vectors, \(dtype)") else { return }
        defer { KernelPath.select(Self.startUp) }
        let pool = ThreadPool(threads: 2)
        // 4096 f32 columns make 16 KB rows, so the 300 rows span 19 of the kernel’s 256 KB tiles; 37 rows leave a
        // tail of the 4-row passes.
        for (rows, columns, count) in [(rows: 300, columns: 4096, count: 8), (rows: 37, columns: 109, count: 3), (rows: 8, columns: 32, count: 1)] {
            let weightBytes = encoded(values(rows * columns, seed: UInt64(rows)), as: dtype)
            let x = values(count * columns, seed: UInt64(40 + count))
            var together = [Float](repeating: .nan, count: count * rows), alone = together
            weightBytes.withUnsafeBytes { w in
                let weight = WeightMatrix(dtype: dtype, rows: rows, columns: columns, bytes: w)
                weight.multiply(vectors: count, x, into: &together, pool: pool)
                for vector in 0..<count {
                    x.withUnsafeBufferPointer { input in
                        alone.withUnsafeMutableBufferPointer { output in
                            weight.multiply(input.baseAddress! + vector * columns, into: output.baseAddress! + vector * rows, pool: pool)
                        }
                    }
                }
            }
            #expect(together.elementsEqual(alone) { $0.bitPattern == $1.bitPattern }, "\(dtype) \(rows)×\(columns), \(count) vectors on \(path)")
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

    @Test("rows widened to f32 equal the format's decoding, split across threads, on every kernel path",
          arguments: [DType.f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8], KernelPath.allCases)
    func rowsAsFloatsMatchDecoding(dtype: DType, path: KernelPath) {
        guard select(path, for: "widening \(dtype)") else { return }
        defer { KernelPath.select(Self.startUp) }
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

    @Test("the interleaved matrix–matrix product equals the double-precision product of the stored weights and q8_0-rounded rows, for any number of rows, on every kernel path",
          arguments: [DType.q4_0x8, .q8_0x8], KernelPath.allCases)
    func quantizedMatrixProductMatchesReference(dtype: DType, path: KernelPath) {
        guard select(path, for: "matrix-matrix \(dtype)") else { return }
        defer { KernelPath.select(Self.startUp) }
        // 72 rows: four and a half 16-row vectors, so the 512-bit kernels meet a lone last group. From 4 activation
        // rows on, large enough to be split across threads.
        let rows = 72, columns = 1024, pool = ThreadPool(threads: 2)
        let weightBytes = encoded(values(rows * columns, seed: 3), as: dtype, columns: columns)
        let stored = decoded(weightBytes, as: dtype, count: rows * columns, columns: columns)
        // Counts around the tiles of activation rows (4 for AVX2 and AVX-VNNI, 8 for AVX-512 VNNI).
        for count in [1, 2, 3, 4, 5, 8, 9, 17] {
            let input = values(count * columns, seed: UInt64(40 + count)).map { $0 * 4 }
            let activations = QuantizedActivations(count: columns, rows: 17)
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
                #expect(!output[(t * stride)..<(t * stride + rows)].contains { $0.isNaN }, "\(dtype) on \(path), \(count) rows, row \(t): outputs left unwritten")
                let worst = (0..<rows).map { abs(Double(output[t * stride + $0]) - expected[$0]) }.max()!
                #expect(worst <= 1e-4, "\(dtype) on \(path), \(count) rows, row \(t): max |Δ| \(worst)")
                let gap = output[(t * stride + rows)..<(t * stride + stride)]
                #expect(gap.allSatisfy { $0.isNaN }, "wrote outside its rows")
            }
        }
    }
}
