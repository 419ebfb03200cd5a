import ArgumentParser
import Foundation
import PandaFormat
import PandaKernels

/// Matrix–vector throughput of each weight dtype on a 7B-sized MLP matrix, as bytes of weights read per second:
/// the number that bounds decoding speed.
struct KernelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Matrix-vector GB/s per dtype (default 11008 × 4096, LLaMA-7B's gate projection), against bandwidth.c's ceiling.")

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads = [1, ProcessInfo.processInfo.activeProcessorCount]

    @Option(help: "Repetitions per measurement.")
    var repetitions = 40

    @Option(help: "Rows of the matrix (4096 with --columns 11008 is the down projection).")
    var rows = 11008

    @Option(help: "Columns of the matrix (a multiple of 32).")
    var columns = 4096

    @Option(parsing: .upToNextOption, help: "Dtypes to measure.")
    var dtypes: [String] = ["f32", "f16", "bf16", "q8_0", "q8_0x8", "q4_0", "q4_0x8"]

    func run() throws {
        guard columns > 0, columns % 32 == 0, rows > 0, rows % 8 == 0 else { throw ValidationError("--columns must be a multiple of 32 and --rows of 8") }
        let measured = try dtypes.map { name in
            guard let dtype = DType(name: name) else { throw ValidationError("unknown dtype \(name)") }
            return dtype
        }
        var values = [Float](repeating: 0, count: rows * columns)
        var state: UInt64 = 0x1234_5678
        for i in values.indices {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            values[i] = Float(Int64(bitPattern: state >> 11) % 2000) / 50_000
        }
        let x = (0..<columns).map { Float($0 % 17) / 17 - 0.5 }
        let activations = QuantizedActivations(count: columns)
        x.withUnsafeBufferPointer { activations.quantize($0.baseAddress!) }
        var y = [Float](repeating: 0, count: rows)
        print("| dtype | threads | weights MB | GB/s | ms per product |")
        print("|---|---:|---:|---:|---:|")
        for dtype in measured {
            let matrixBytes = dtype.byteCount(elements: values.count)!
            // Copies enough to fill 256 MB, used in turn, so no product finds its weights in the 32 MB L3 cache.
            let copies = Int((256e6 / Double(matrixBytes)).rounded(.up))
            var bytes = [UInt8](repeating: 0, count: matrixBytes * copies)
            values.withUnsafeBufferPointer { source in
                bytes.withUnsafeMutableBytes { dtype.encode(source.baseAddress!, count: values.count, columns: columns, into: $0) }
            }
            for copy in 1..<copies { bytes.replaceSubrange((copy * matrixBytes)..<((copy + 1) * matrixBytes), with: bytes[0..<matrixBytes]) }
            for threadCount in threads {
                let pool = ThreadPool(threads: threadCount)
                try bytes.withUnsafeBytes { raw in
                    let matrices = (0..<copies).map {
                        WeightMatrix(dtype: dtype, rows: rows, columns: columns, bytes: UnsafeRawBufferPointer(rebasing: raw[($0 * matrixBytes)..<(($0 + 1) * matrixBytes)]))
                    }
                    try x.withUnsafeBytes { input in
                        let source = dtype.isQuantized ? UnsafeRawPointer(activations.blocks) : input.baseAddress!
                        for matrix in matrices { matrix.multiply(source, into: &y, pool: pool) }  // warm-up
                        let start = Date()
                        for repetition in 0..<repetitions { matrices[repetition % copies].multiply(source, into: &y, pool: pool) }
                        let seconds = Date().timeIntervalSince(start) / Double(repetitions)
                        guard y.allSatisfy(\.isFinite) else { throw ValidationError("non-finite result") }
                        print(String(format: "| %@ | %d | %.0f | %.1f | %.2f |", dtype.description, threadCount, Double(matrixBytes) / 1e6,
                                     Double(matrixBytes) / seconds / 1e9, seconds * 1000))
                    }
                }
            }
        }
    }
}
