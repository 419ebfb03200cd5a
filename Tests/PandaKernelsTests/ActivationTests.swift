import Foundation
import Testing
@testable import PandaKernels

// In the "Matrix kernels" suite because both switch the process-wide kernel path and must not run beside each other.
extension MatrixVectorTests {
    /// Deterministic values in [-range, range).
    private func spread(_ count: Int, range: Float, seed: UInt64) -> [Float] { values(count, seed: seed).map { $0 * range } }

    @Test("LayerNorm equals nn.LayerNorm's formula in double precision, for widths with and without a tail, on every kernel path",
          arguments: KernelPath.allCases)
    func layerNormMatchesDoublePrecision(path: KernelPath) {
        guard select(path, for: "LayerNorm") else { return }
        defer { KernelPath.select(Self.startUp) }
        let pool = ThreadPool(threads: 3)
        for (rows, width) in [(rows: 257, width: 1280), (rows: 3, width: 13), (rows: 40, width: 768)] {
            // An offset row mean, as LayerNorm inputs on the residual stream have.
            let input = spread(rows * width, range: 3, seed: UInt64(width)).map { $0 + 5 }
            let weight = spread(width, range: 2, seed: 7), bias = spread(width, range: 1, seed: 8)
            var values = input
            values.withUnsafeMutableBufferPointer { values in
                weight.withUnsafeBufferPointer { weight in
                    bias.withUnsafeBufferPointer { pool.layerNorm(values.baseAddress!, weight: weight, bias: $0, eps: 1e-6, rows: rows) }
                }
            }
            #expect(values.allSatisfy { $0.isFinite }, "rows \(rows), width \(width): an output is not finite")  // max() would pass over a NaN
            var worst = 0.0
            for row in 0..<rows {
                let x = input[(row * width)..<((row + 1) * width)].map(Double.init)
                let mean = x.reduce(0, +) / Double(width)
                let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(width)
                for i in 0..<width {
                    let expected = (x[i] - mean) / (variance + 1e-6).squareRoot() * Double(weight[i]) + Double(bias[i])
                    worst = max(worst, abs(Double(values[row * width + i]) - expected))
                }
            }
            #expect(worst <= 1e-5, "rows \(rows), width \(width): worst error \(worst)")
        }
    }

    @Test("bias + GELU equals nn.GELU()'s exact-erf formula in double precision, for widths with and without a tail, on every kernel path",
          arguments: KernelPath.allCases)
    func biasGELUMatchesExactFormula(path: KernelPath) {
        guard select(path, for: "bias + GELU") else { return }
        defer { KernelPath.select(Self.startUp) }
        let pool = ThreadPool(threads: 3)
        for (rows, width) in [(rows: 5, width: 1283), (rows: 300, width: 40), (rows: 2, width: 7)] {
            let input = spread(rows * width, range: 7, seed: UInt64(width)), bias = spread(width, range: 1, seed: 5)
            var values = input
            values.withUnsafeMutableBufferPointer { values in
                bias.withUnsafeBufferPointer { pool.biasGELU(values.baseAddress!, bias: $0, rows: rows) }
            }
            #expect(values.allSatisfy { $0.isFinite }, "rows \(rows), width \(width): an output is not finite")
            var worst = 0.0
            for index in input.indices {
                let v = Double(input[index] + bias[index % width])
                let expected = 0.5 * v * (1 + erf(v / 2.0.squareRoot()))
                // Relative to the input: for v ≪ 0, 1 + erf(v/√2) cancels in f32 (as in PyTorch) and only an
                // absolute error of a few ulps of |v| is meaningful.
                worst = max(worst, abs(Double(values[index]) - expected) / (1 + abs(v)))
            }
            #expect(worst <= 5e-7, "rows \(rows), width \(width): worst error relative to 1 + |input| \(worst)")
        }
    }

    @Test("causal softmax rows sum to 1, match double precision and give masked (later) keys exactly 0, on every kernel path",
          arguments: KernelPath.allCases)
    func softmaxMatchesDoublePrecision(path: KernelPath) {
        guard select(path, for: "causal softmax") else { return }
        defer { KernelPath.select(Self.startUp) }
        let pool = ThreadPool(threads: 3)
        for (rows, columns) in [(rows: 257, columns: 258), (rows: 3, columns: 7), (rows: 4, columns: 1), (rows: 77, columns: 77)] {
            var scores = spread(rows * columns, range: 30, seed: UInt64(columns))
            var input = scores  // the reference: -inf written by hand on every row that has later keys
            for row in 0..<rows where row + 1 < columns {
                for key in (row + 1)..<columns { input[row * columns + key] = -.infinity }
            }
            scores.withUnsafeMutableBufferPointer { pool.causalSoftmax($0.baseAddress!, columns: columns, rows: rows) }
            for row in 0..<rows {
                let inputRow = input[(row * columns)..<((row + 1) * columns)].map(Double.init)
                let largest = inputRow.max()!
                let exponentials = inputRow.map { exp($0 - largest) }
                let total = exponentials.reduce(0, +)
                let output = scores[(row * columns)..<((row + 1) * columns)]
                #expect(abs(output.reduce(0, +) - 1) <= 1e-5, "row \(row) of \(rows)×\(columns) sums to \(output.reduce(0, +))")
                for (got, exponential) in zip(output, exponentials) {
                    if exponential == 0 { #expect(got == 0); continue }
                    #expect(abs(Double(got) - exponential / total) <= 1e-5 * (exponential / total) + 1e-9, "row \(row) of \(rows)×\(columns)")
                }
            }
        }
    }

    @Test("SiLU(gate) · up equals x / (1 + e^-x) · up in double precision, for widths with and without a tail, on every kernel path",
          arguments: KernelPath.allCases)
    func siluGateMatchesDoublePrecision(path: KernelPath) {
        guard select(path, for: "SiLU gate") else { return }
        defer { KernelPath.select(Self.startUp) }
        let pool = ThreadPool(threads: 3)
        for (rows, width) in [(rows: 2, width: 11008), (rows: 300, width: 43), (rows: 3, width: 5)] {
            // Gates out to ±100: below -88.7, e^-x overflows f32 and SiLU must still come out as (minus) zero.
            let gateInput = spread(rows * width, range: 100, seed: UInt64(width)), up = spread(rows * width, range: 3, seed: 11)
            var gate = gateInput
            gate.withUnsafeMutableBufferPointer { gate in
                up.withUnsafeBufferPointer { pool.siluGate(gate.baseAddress!, up: $0.baseAddress!, width: width, rows: rows) }
            }
            #expect(gate.allSatisfy { $0.isFinite }, "rows \(rows), width \(width): an output is not finite")
            var worst = 0.0
            for index in gate.indices {
                let x = Double(gateInput[index])
                let expected = x / (1 + exp(-x)) * Double(up[index])
                worst = max(worst, abs(Double(gate[index]) - expected) / (1 + abs(expected)))
            }
            #expect(worst <= 1e-6, "rows \(rows), width \(width): worst error relative to 1 + |expected| \(worst)")
        }
    }
}

// oneDNN's products through packed weights (ImageBind's --precision), in this suite because the activation
// conversions around them follow the kernel path.
extension MatrixVectorTests {
    @Test("int8 and bf16 products of a packed weight stay within their precision of the f32 product, add to the output under beta 1 and write rows outputStride apart, on every kernel path and both bf16 product choices",
          arguments: KernelPath.allCases)
    func packedProductsMatchF32(path: KernelPath) throws {
        guard select(path, for: "packed int8/bf16 products") else { return }
        defer { KernelPath.select(Self.startUp) }
        let startUpChoice = BF16Products.current
        defer { BF16Products.select(startUpChoice) }
        for choice in path == .avx512vnni ? BF16Products.allCases : [startUpChoice] {
            BF16Products.select(choice)
            try packedProducts(path: path, bf16: EncoderPrecision.bf16ThroughOneDNN ? "oneDNN" : "widened")
        }
    }

    @Test("a weight packed for widened bf16 keeps multiplying widened after the bf16 product choice changes")
    func widenedBF16StaysWidened() throws {
        guard select(.avx512vnni, for: "widened bf16 after a change of choice") else { return }
        defer { KernelPath.select(Self.startUp) }
        let startUpChoice = BF16Products.current
        defer { BF16Products.select(startUpChoice) }
        let pool = ThreadPool(threads: 2), workspace = MatrixWorkspace()
        let (rows, columns, count) = (48, 96, 5)
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: rows * columns)
        defer { storage.deallocate() }
        _ = storage.initialize(from: values(rows * columns, seed: 21))
        let input = values(count * columns, seed: 22)
        BF16Products.select(.widened)
        let packed = try WeightMatrix(dtype: .f32, rows: rows, columns: columns, bytes: UnsafeRawBufferPointer(storage))
            .packed(for: .bf16, threads: 2, pool: pool)
        #expect(packed.dtype == .bf16 && packed.packed == nil)
        func product() -> [Float] {
            var output = [Float](repeating: 0, count: count * rows)
            packed.multiply(count: count, input, into: &output, pool: pool, workspace: workspace)
            return output
        }
        let before = product()
        BF16Products.select(.dot)
        #expect(product().elementsEqual(before) { $0.bitPattern == $1.bitPattern })
    }

    private func packedProducts(path: KernelPath, bf16: String) throws {
        let pool = ThreadPool(threads: 2), workspace = MatrixWorkspace()
        let (rows, columns, count, stride) = (96, 160, 37, 100)
        // GELU-like activations: mostly positive with a negative tail, as fc2's input is.
        let weights = values(rows * columns, seed: 11)
        let input = values(count * columns, seed: 12).map { $0 > -0.2 ? $0 * 3 : $0 * 0.3 }
        let storage = UnsafeMutableBufferPointer<Float>.allocate(capacity: weights.count)
        defer { storage.deallocate() }
        _ = storage.initialize(from: weights)
        let weight = WeightMatrix(dtype: .f32, rows: rows, columns: columns, bytes: UnsafeRawBufferPointer(storage))
        let exact = (0..<count).map { t in (0..<rows).map { r in (0..<columns).reduce(0.0) { $0 + Double(weights[r * columns + $1]) * Double(input[t * columns + $1]) } } }
        for precision in [EncoderPrecision.int8, .bf16] {
            if let reason = precision.unavailableReason {
                print("SKIPPED packed \(precision) products: \(reason)")
                continue
            }
            let packed = try weight.packed(for: precision, threads: 2, pool: pool)
            var output = [Float](repeating: 1, count: count * stride)
            output.withUnsafeMutableBufferPointer { output in
                input.withUnsafeBufferPointer { packed.multiply(count: count, $0.baseAddress!, into: output.baseAddress!, outputStride: stride, beta: 1, pool: pool, workspace: workspace) }
            }
            var worst = 1.0
            for t in 0..<count {
                let row = output[(t * stride)..<(t * stride + rows)].map { Double($0) - 1 }  // beta 1 kept the 1s
                let dot = zip(row, exact[t]).reduce(0) { $0 + $1.0 * $1.1 }
                let norms = (row.reduce(0) { $0 + $1 * $1 } * exact[t].reduce(0) { $0 + $1 * $1 }).squareRoot()
                worst = min(worst, dot / norms)
                #expect(output[(t * stride + rows)..<((t + 1) * stride)].allSatisfy { $0 == 1 }, "\(precision): wrote past its row")
            }
            #expect(worst >= (precision == .int8 ? 0.999 : 0.99995), "\(precision) on \(path): lowest cosine \(worst)")
            print("packed \(precision)\(precision == .bf16 ? " (\(bf16))" : "") on \(path): lowest cosine to the f64 product \(worst)")
        }
    }
}
