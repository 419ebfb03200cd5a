import ArgumentParser
import Foundation
import PandaFormat

/// Size and speed of each storage mode on weights shaped like a trained model's (normal, σ = 0.02).
struct FormatBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "format",
        abstract: "Compression ratio and write/read throughput of .panda storage modes on f32 and bf16 weights.")

    @Option(help: "Size of the f32 test tensor in MiB (the bf16 one is half).")
    var megabytes = 256

    @Option(help: "Directory for the temporary files.")
    var directory = NSTemporaryDirectory()

    @Option(help: "Standard deviation of the normally distributed weights.")
    var sigma: Float = 0.02

    func run() throws {
        let count = megabytes * (1 << 20) / 4
        let values = normalValues(count: count, sigma: sigma)
        var bf16 = [UInt8](repeating: 0, count: count * 2)
        values.withUnsafeBufferPointer { source in bf16.withUnsafeMutableBytes { DType.bf16.encode(source.baseAddress!, count: count, into: $0) } }
        let f32 = values.withUnsafeBytes { [UInt8]($0) }

        print("Weights: \(count) values ~ N(0, \(sigma)); zstd level \(WeightFileWriter.Options().zstdLevel), 1 MiB chunks\n")
        print("| dtype | storage | size / raw | write MB/s | open + read MB/s |")
        print("|---|---|---:|---:|---:|")
        for (dtype, bytes) in [(DType.f32, f32), (DType.bf16, bf16)] {
            for (storage, shuffle) in [(Storage.raw, false), (.zstd, false), (.zstd, true)] {
                let path = (directory as NSString).appendingPathComponent("panda-bench-\(getpid()).panda")
                defer { try? FileManager.default.removeItem(atPath: path) }
                let writeStart = Date()
                let writer = try WeightFileWriter(path: path)
                try bytes.withUnsafeBytes {
                    try writer.add(name: "w", dtype: dtype, shape: [bytes.count / dtype.blockBytes], storage: storage, shuffle: shuffle, bytes: $0)
                }
                try writer.finish(metadata: WeightMetadata(family: "benchmark"))
                let writeSeconds = Date().timeIntervalSince(writeStart)
                let readStart = Date()
                let file = try WeightFile(path: path)
                let decoded = try file.bytes("w")
                let sum = decoded.withUnsafeBytes { bytes in  // touch every page so a mapped read is really read
                    stride(from: 0, to: bytes.count, by: 4096).reduce(UInt64(0)) { $0 &+ UInt64(bytes[$1]) }
                }
                let readSeconds = Date().timeIntervalSince(readStart)
                let ratio = Double(try file.info("w").storedByteCount) / Double(bytes.count)
                let megabytes = Double(bytes.count) / 1e6
                print(String(
                    format: "| %@ | %@ | %.3f | %.0f | %.0f |", dtype.description,
                    storage == .raw ? "raw" : shuffle ? "zstd + shuffle" : "zstd", ratio, megabytes / writeSeconds,
                    megabytes / readSeconds) + (sum == 1 ? " " : ""))
            }
        }
    }

    private func normalValues(count: Int, sigma: Float) -> [Float] {
        var state: UInt64 = 0x5EED
        func uniform() -> Float {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(state >> 40) + 0.5) / Float(1 << 24)
        }
        return (0..<count).map { _ in sigma * (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform()) }
    }
}
