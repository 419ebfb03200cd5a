import Foundation
import PandaTestSupport
import Testing
@testable import PandaFormat

@Suite("Writing and reading .panda files")
struct RoundTripTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var dtype: DType
        var storage: Storage
        var shuffle: Bool
        var testDescription: String { "\(dtype) \(storage)\(shuffle ? " shuffled" : "")" }
    }

    static let cases: [Case] = DType.allCases.flatMap { dtype -> [Case] in
        var cases = [Case(dtype: dtype, storage: .raw, shuffle: false), Case(dtype: dtype, storage: .zstd, shuffle: false)]
        if !dtype.isQuantized, dtype.blockBytes == 2 || dtype.blockBytes == 4 {
            cases.append(Case(dtype: dtype, storage: .zstd, shuffle: true))
        }
        return cases
    }

    @Test("every dtype and storage reads back byte for byte, across many chunks", arguments: cases)
    func roundTrip(testCase: Case) throws {
        let directory = TemporaryDirectory()
        var options = WeightFileWriter.Options()
        options.rawChunkBytes = 1000  // small chunks so that multi-chunk paths, including a short last chunk, run
        options.zstdChunkBytes = 700
        let shape = testCase.dtype.rowGroup > 1 ? [16, 256] : [3, 5, 256]  // q4_0x8 holds matrices of whole 8-row groups
        let count = shape.reduce(1, *)
        var generator = SeededGenerator(seed: UInt64(testCase.dtype.rawValue))
        let bytes: [UInt8]
        if testCase.dtype.isFloatingPoint {
            // Smooth values compress; a random tail does not, which exercises chunks kept uncompressed.
            let values = (0..<count).map { i in i < count / 2 ? Float(i % 17) / 4 : Float.random(in: -1...1, using: &generator) }
            bytes = encoded(values, as: testCase.dtype, columns: shape.last)
        } else {
            bytes = (0..<testCase.dtype.byteCount(elements: count)!).map { _ in UInt8.random(in: 0...255, using: &generator) }
        }
        let path = directory.file("t.panda")
        let writer = try WeightFileWriter(path: path, options: options)
        try bytes.withUnsafeBytes {
            try writer.add(name: "t", dtype: testCase.dtype, shape: shape, storage: testCase.storage, shuffle: testCase.shuffle, bytes: $0)
        }
        try writer.finish(metadata: WeightMetadata(family: "test"))

        let file = try WeightFile(path: path)
        let info = try file.info("t")
        #expect(info.dtype == testCase.dtype)
        #expect(info.shape == shape)
        #expect(info.storage == testCase.storage)
        #expect(info.chunks.count > 1)
        let back = try file.bytes("t")
        #expect(back.array == bytes)
        #expect(file.verify().isEmpty)
        if testCase.storage == .raw {
            #expect(Array(try file.mappedBytes("t")) == bytes)
        }
    }

    @Test("metadata, configuration and embedded tokenizer files survive the round trip")
    func metadataRoundTrip() throws {
        let directory = TemporaryDirectory()
        let path = try writeSampleFile(at: directory.file("m.panda"))
        let file = try WeightFile(path: path)
        #expect(file.metadata.family == "test")
        #expect(file.metadata.config["hidden_size"] == .int(32))
        #expect(file.metadata.tokenizers["vocab"] == EmbeddedFile(name: "vocab.txt", data: Data("a b c".utf8)))
        #expect(file.metadata.provenance.converter == "tests")
        #expect(file.tensors.map(\.name) == ["layer.weight", "layer.weight_bf16", "layer.weight_q4", "bytes"])
    }

    @Test("floats() widens f32, bf16 and q4_0 tensors to the values they encode")
    func floatsDecodesEveryFloatDType() throws {
        let directory = TemporaryDirectory()
        let path = try writeSampleFile(at: directory.file("f.panda"))
        let file = try WeightFile(path: path)
        let original = randomFloats(64 * 32, seed: 1)
        #expect(try file.floats("layer.weight") == original)
        let bf16 = try file.floats("layer.weight_bf16")
        #expect(zip(bf16, original).allSatisfy { abs($0 - $1) <= abs($1) * 0x1p-8 })
        let q4 = try file.floats("layer.weight_q4")
        #expect(zip(q4, original).allSatisfy { abs($0 - $1) <= 0.2 })
        #expect(throws: FormatError.self) { try file.floats("bytes") }
    }

    @Test("raw tensors start on 64-byte boundaries, and on page boundaries from 1 MiB up")
    func rawAlignment() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("a.panda")
        let writer = try WeightFileWriter(path: path)
        try [UInt8](repeating: 1, count: 3).withUnsafeBytes { try writer.add(name: "odd", dtype: .u8, shape: [3], bytes: $0) }
        try [UInt8](repeating: 2, count: 5).withUnsafeBytes { try writer.add(name: "small", dtype: .u8, shape: [5], bytes: $0) }
        try [UInt8](repeating: 3, count: 1 << 20).withUnsafeBytes {
            try writer.add(name: "large", dtype: .u8, shape: [1 << 20], bytes: $0)
        }
        try writer.finish(metadata: WeightMetadata(family: "test"))
        let file = try WeightFile(path: path)
        #expect(try file.info("small").dataOffset % 64 == 0)
        #expect(try file.info("large").dataOffset % 4096 == 0)
        #expect(Int(bitPattern: try file.mappedBytes("large").baseAddress) % 4096 == 0)
    }

    @Test("scalars and empty tensors are representable")
    func scalarAndEmptyTensors() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("s.panda")
        let writer = try WeightFileWriter(path: path)
        try encoded([2.5], as: .f32).withUnsafeBytes { try writer.add(name: "scale", dtype: .f32, shape: [], bytes: $0) }
        try writer.add(name: "empty", dtype: .f16, shape: [0, 8], storage: .zstd, bytes: UnsafeRawBufferPointer(start: nil, count: 0))
        try writer.finish(metadata: WeightMetadata(family: "test"))
        let file = try WeightFile(path: path)
        #expect(try file.floats("scale") == [2.5])
        #expect(try file.floats("empty").isEmpty)
        #expect(try file.info("empty").chunks.isEmpty)
    }

    @Test("the writer refuses a duplicate name, a wrong byte count and a quantized row that is not whole blocks")
    func writerRejectsBadInput() throws {
        let directory = TemporaryDirectory()
        let writer = try WeightFileWriter(path: directory.file("bad.panda"))
        let eight = [UInt8](repeating: 0, count: 8)
        try eight.withUnsafeBytes { try writer.add(name: "x", dtype: .u8, shape: [8], bytes: $0) }
        #expect(throws: FormatError.invalidInput(tensor: "x", reason: "added twice")) {
            try eight.withUnsafeBytes { try writer.add(name: "x", dtype: .u8, shape: [8], bytes: $0) }
        }
        #expect(throws: FormatError.self) {
            try eight.withUnsafeBytes { try writer.add(name: "y", dtype: .f32, shape: [3], bytes: $0) }
        }
        #expect(throws: FormatError.self) {
            try writer.add(name: "z", dtype: .q8_0, shape: [2, 16], fill: { _, _ in })
        }
    }

    @Test("a writer that never finishes leaves nothing behind, and its half-written file is never valid")
    func unfinishedWriterLeavesNoValidFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("partial.panda")
        do {
            let writer = try WeightFileWriter(path: path)
            try [UInt8](repeating: 9, count: 4096).withUnsafeBytes {
                try writer.add(name: "w", dtype: .u8, shape: [4096], bytes: $0)
            }
            // While it is being written, the temporary file has no signature, so no reader accepts it.
            let temporary = try #require(directory.contents.first { $0.hasPrefix("partial.panda.tmp-") })
            #expect(throws: FormatError.badMagic(path: directory.file(temporary))) {
                try WeightFile(path: directory.file(temporary))
            }
            #expect(!FileManager.default.fileExists(atPath: path))
        }
        #expect(directory.contents.isEmpty)
    }
}
