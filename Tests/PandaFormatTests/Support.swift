import Foundation
@testable import PandaFormat
import PandaTestSupport

/// Deterministic pseudo-random numbers (SplitMix64) so every test run sees the same data.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

func randomFloats(_ count: Int, scale: Float = 1, seed: UInt64) -> [Float] {
    var generator = SeededGenerator(seed: seed)
    return (0..<count).map { _ in Float.random(in: -scale...scale, using: &generator) }
}

/// The bytes of `values` encoded as `dtype`.
func encoded(_ values: [Float], as dtype: DType, columns: Int? = nil) -> [UInt8] {
    var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: values.count)!)
    values.withUnsafeBufferPointer { source in
        bytes.withUnsafeMutableBytes { dtype.encode(source.baseAddress!, count: values.count, columns: columns, into: $0) }
    }
    return bytes
}

/// Writes a small file with one tensor of each kind and returns its path.
@discardableResult
func writeSampleFile(at path: String, options: WeightFileWriter.Options = .init()) throws -> String {
    let writer = try WeightFileWriter(path: path, options: options)
    let weights = randomFloats(64 * 32, seed: 1)
    try encoded(weights, as: .f32).withUnsafeBytes {
        try writer.add(name: "layer.weight", dtype: .f32, shape: [64, 32], bytes: $0)
    }
    try encoded(weights, as: .bf16).withUnsafeBytes {
        try writer.add(name: "layer.weight_bf16", dtype: .bf16, shape: [64, 32], storage: .zstd, shuffle: true, bytes: $0)
    }
    try encoded(weights, as: .q4_0).withUnsafeBytes {
        try writer.add(name: "layer.weight_q4", dtype: .q4_0, shape: [64, 32], storage: .zstd, bytes: $0)
    }
    try [UInt8](repeating: 7, count: 100).withUnsafeBytes {
        try writer.add(name: "bytes", dtype: .u8, shape: [100], bytes: $0)
    }
    try writer.finish(
        metadata: WeightMetadata(
            family: "test", config: .object(["hidden_size": .int(32)]),
            tokenizers: ["vocab": EmbeddedFile(name: "vocab.txt", data: Data("a b c".utf8))],
            provenance: Provenance(converter: "tests")))
    return path
}
