import ArgumentParser
import Foundation
import PandaFormat
import PandaKernels

/// Matrix–vector throughput of each weight dtype on a 7B-sized MLP matrix, as bytes of weights read per second (the
/// number that bounds decoding speed), and optionally matrix–matrix throughput for a prompt's worth of rows, per
/// kernel path. Paths are measured in turn, round after round, so drift in the machine's speed falls on all of them.
struct KernelBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kernels",
        abstract: "Matrix-vector GB/s (and with --tokens, matrix-matrix GMAC/s) per dtype and kernel path (default 11008 × 4096, LLaMA-7B's gate projection).")

    @Option(parsing: .upToNextOption, help: "Thread counts to measure.")
    var threads = [1, ProcessInfo.processInfo.activeProcessorCount]

    @Option(help: "Repetitions per matrix-vector measurement.")
    var repetitions = 40

    @Option(help: "Rows of the matrix (4096 with --columns 11008 is the down projection).")
    var rows = 11008

    @Option(help: "Columns of the matrix (a multiple of 32).")
    var columns = 4096

    @Option(parsing: .upToNextOption, help: "Dtypes to measure.")
    var dtypes: [String] = ["f32", "f16", "bf16", "q8_0", "q8_0x8", "q4_0", "q4_0x8"]

    @Option(parsing: .upToNextOption, help: "Kernel paths to measure, in turn (default: every path this CPU supports).")
    var paths: [String] = []

    @Option(help: "Rounds: each path is measured once per round.")
    var rounds = 2

    @Option(help: "MB of weight copies used in turn, so no product finds its weights in cache (this machine's L3 is 260 MB).")
    var footprint = 1024

    @Option(help: "Also multiply this many activation rows at once (a prompt pass), int8 for q4_0x8/q8_0x8, widened to f32 for OpenBLAS otherwise.")
    var tokens: Int?

    func run() throws {
        guard columns > 0, columns % 32 == 0, rows > 0, rows % 8 == 0 else { throw ValidationError("--columns must be a multiple of 32 and --rows of 8") }
        let measured = try dtypes.map { name in
            guard let dtype = DType(name: name) else { throw ValidationError("unknown dtype \(name)") }
            return dtype
        }
        let kernelPaths = try (paths.isEmpty ? KernelPath.supported : paths.map { name in
            guard let path = KernelPath(name: name) else { throw ValidationError("unknown kernel path \(name)") }
            guard path.isSupported else { throw ValidationError("this CPU lacks the \(name) kernel path") }
            return path
        })
        print(KernelPath.summary)
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
        let promptRows = tokens ?? 0
        let prompt = (0..<(promptRows * columns)).map { Float(($0 * 7) % 23) / 23 - 0.5 }
        let quantizedPrompt = QuantizedActivations(count: columns, rows: max(promptRows, 1))
        if promptRows > 0 { prompt.withUnsafeBufferPointer { quantizedPrompt.quantize(rows: promptRows, $0.baseAddress!) } }
        var promptOutput = [Float](repeating: 0, count: promptRows * rows)
        let workspace = MatrixWorkspace()
        print("| dtype | path | threads | weights MB | GB/s | ms per product |\(promptRows > 0 ? " \(promptRows)-row GMAC/s |" : "")")
        print("|---|---|---:|---:|---:|---:|\(promptRows > 0 ? "---:|" : "")")
        for dtype in measured {
            let matrixBytes = dtype.byteCount(elements: values.count)!
            let copies = max(1, Int((Double(footprint) * 1e6 / Double(matrixBytes)).rounded(.up)))
            var bytes = [UInt8](repeating: 0, count: matrixBytes * copies)
            values.withUnsafeBufferPointer { source in
                bytes.withUnsafeMutableBytes { dtype.encode(source.baseAddress!, count: values.count, columns: columns, into: $0) }
            }
            for copy in 1..<copies { bytes.replaceSubrange((copy * matrixBytes)..<((copy + 1) * matrixBytes), with: bytes[0..<matrixBytes]) }
            for threadCount in threads {
                let pool = ThreadPool(threads: threadCount)
                for _ in 0..<rounds {
                    for path in kernelPaths {
                        KernelPath.select(path)
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
                                var line = String(format: "| %@ | %@ | %d | %.0f | %.1f | %.2f |", dtype.description, path.description, threadCount,
                                                  Double(matrixBytes) / 1e6, Double(matrixBytes) / seconds / 1e9, seconds * 1000)
                                if promptRows > 0 {
                                    let matrix = matrices[0]
                                    let start = Date()
                                    if matrix.multipliesQuantizedRows {
                                        matrix.multiply(rows: promptRows, quantizedPrompt, into: &promptOutput, pool: pool)
                                    } else {
                                        prompt.withUnsafeBufferPointer {
                                            matrix.multiply(count: promptRows, $0.baseAddress!, into: &promptOutput, pool: pool, workspace: workspace)
                                        }
                                    }
                                    let seconds = Date().timeIntervalSince(start)
                                    line += String(format: " %.1f |", Double(promptRows * rows * columns) / seconds / 1e9)
                                }
                                print(line)
                            }
                        }
                    }
                }
            }
        }
    }
}
