import Foundation
import PandaTestSupport
import Testing
@testable import PandaFormat

@Suite("Rejecting damaged and malicious files")
struct CorruptionTests {
    private func sampleBytes(_ directory: TemporaryDirectory) throws -> [UInt8] {
        let path = try writeSampleFile(at: directory.file("sample.panda"))
        return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private func open(_ bytes: [UInt8], in directory: TemporaryDirectory, name: String = "case.panda") throws -> WeightFile {
        let path = directory.file(name)
        try Data(bytes).write(to: URL(fileURLWithPath: path))
        return try WeightFile(path: path)
    }

    /// Rebuilds a file around a hand-written table, with a correct checksum, so that only the table's lies are tested.
    private func craft(data: [UInt8], metadata: String = #"{"family":"x","config":{},"tokenizers":{},"provenance":{"converter":"","sources":[],"options":{}}}"#, table: [UInt8]) -> [UInt8] {
        let metadataBytes = Array(metadata.utf8)
        let indexOffset = FileHeader.size + data.count
        var header = FileHeader(
            fileLength: UInt64(indexOffset + metadataBytes.count + table.count), indexOffset: UInt64(indexOffset),
            metadataLength: UInt64(metadataBytes.count), tableLength: UInt64(table.count), indexChecksum: 0)
        header.indexChecksum = (metadataBytes + table).withUnsafeBytes { FileHeader.checksum(headerPrefix: header.encoded(), index: $0) }
        return header.encoded() + data + metadataBytes + table
    }

    private func entry(
        name: String = "t", dtype: UInt8 = DType.u8.rawValue, storage: UInt8 = 0, shape: [UInt64], shuffle: UInt8 = 0,
        offset: UInt64, byteCount: UInt64, chunkBytes: UInt32, chunks: [(UInt32, UInt8, UInt64)]
    ) -> [UInt8] {
        var out = ByteWriter()
        out.append(UInt16(name.utf8.count))
        out.append(Array(name.utf8))
        out.append(dtype)
        out.append(storage)
        out.append(UInt8(shape.count))
        out.append(shuffle)
        for dim in shape { out.append(dim) }
        out.append(offset)
        out.append(byteCount)
        out.append(chunkBytes)
        out.append(UInt32(chunks.count))
        for (length, encoding, checksum) in chunks {
            out.append(length)
            out.append(encoding)
            out.append([0, 0, 0] as [UInt8])
            out.append(checksum)
        }
        return out.bytes
    }

    /// An entry whose chunk count says `count` although no chunk follows: the count is the entry's last field.
    private func withChunkCount(_ count: UInt32, _ entry: [UInt8]) -> [UInt8] {
        var out = ByteWriter()
        out.append(count)
        return entry.dropLast(4) + out.bytes
    }

    private func table(_ entries: [UInt8]...) -> [UInt8] {
        var out = ByteWriter()
        out.append(UInt32(entries.count))
        for entry in entries { out.append(entry) }
        return out.bytes
    }

    @Test("a hand-crafted file with a correct table opens (the crafting itself is sound)")
    func craftedBaselineOpens() throws {
        let directory = TemporaryDirectory()
        let data = [UInt8](repeating: 5, count: 64)
        let checksum = data.withUnsafeBytes { XXH64.hash($0) }
        let file = try open(craft(data: data, table: table(entry(shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, checksum)]))), in: directory)
        #expect(Array(try file.mappedBytes("t")) == data)
        #expect(file.verify().isEmpty)
    }

    @Test("files that are empty, too short, foreign or from a newer version are refused by name")
    func wrongKindsOfFile() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("case.panda")
        #expect(throws: FormatError.cannotOpen(path: directory.file("missing.panda"), reason: "No such file or directory")) {
            try WeightFile(path: directory.file("missing.panda"))
        }
        #expect(throws: FormatError.tooShort(path: path, size: 0)) { try open([], in: directory) }
        #expect(throws: FormatError.badMagic(path: path)) { try open(Array("PK\u{3}\u{4}".utf8) + [UInt8](repeating: 0, count: 80), in: directory) }
        var newer = try sampleBytes(directory)
        newer[8] = 2
        #expect(throws: FormatError.unsupportedVersion(path: path, version: 2)) { try open(newer, in: directory) }
        #expect(throws: FormatError.cannotOpen(path: directory.path, reason: "not a regular file")) { try WeightFile(path: directory.path) }
    }

    @Test("every truncation of a valid file is refused as truncated or too short")
    func truncationsAreRefused() throws {
        let directory = TemporaryDirectory()
        let bytes = try sampleBytes(directory)
        for length in stride(from: 0, to: bytes.count, by: max(1, bytes.count / 300)) {
            #expect(throws: FormatError.self) { try open(Array(bytes[0..<length]), in: directory) }
        }
        let path = directory.file("case.panda")
        #expect(throws: FormatError.truncated(path: path, expected: bytes.count, actual: bytes.count - 1)) {
            try open(Array(bytes.dropLast()), in: directory)
        }
        #expect(throws: FormatError.truncated(path: path, expected: bytes.count, actual: bytes.count + 3)) {
            try open(bytes + [1, 2, 3], in: directory)
        }
    }

    @Test("a flipped bit in the header or index fails the index checksum")
    func headerBitFlipsAreDetected() throws {
        let directory = TemporaryDirectory()
        let bytes = try sampleBytes(directory)
        let file = try open(bytes, in: directory, name: "valid.panda")
        let indexStart = file.tensors.map { $0.dataOffset + $0.storedByteCount }.max()!
        for position in [40, 50, indexStart + 3, bytes.count - 1] {
            var damaged = bytes
            damaged[position] ^= 0x10
            #expect(throws: FormatError.self) { try open(damaged, in: directory) }
        }
        var metadataFlip = bytes
        metadataFlip[indexStart + 5] ^= 0x01
        #expect(throws: FormatError.indexChecksumMismatch(path: directory.file("case.panda"))) { try open(metadataFlip, in: directory) }
    }

    @Test("a flipped bit in tensor data is found by verify and by reading that tensor, naming tensor and chunk")
    func dataBitFlipsAreDetected() throws {
        let directory = TemporaryDirectory()
        let bytes = try sampleBytes(directory)
        let valid = try open(bytes, in: directory, name: "valid.panda")
        for tensor in valid.tensors {
            var damaged = bytes
            damaged[tensor.dataOffset + tensor.storedByteCount - 1] ^= 0x04
            let file = try open(damaged, in: directory)
            let path = directory.file("case.panda")
            let lastChunk = tensor.chunks.count - 1
            #expect(file.verify() == [.chunkChecksumMismatch(path: path, tensor: tensor.name, chunk: lastChunk)])
            if tensor.storage == .zstd {
                #expect(throws: FormatError.chunkChecksumMismatch(path: path, tensor: tensor.name, chunk: lastChunk)) {
                    try file.bytes(tensor.name)
                }
            }
        }
    }

    @Test("hand-crafted tables that lie are refused with the tensor named")
    func maliciousTables() throws {
        let directory = TemporaryDirectory()
        let data = [UInt8](repeating: 5, count: 128)
        let good = data[0..<64].withUnsafeBytes { XXH64.hash($0) }
        let lies: [(String, [UInt8])] = [
            ("offset past the data section", table(entry(shape: [64], offset: 4096, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("offset inside the header", table(entry(shape: [64], offset: 0, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("offset near 2^63", table(entry(shape: [64], offset: UInt64(Int.max / 2 - 10), byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("byte count disagreeing with shape", table(entry(shape: [32], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("shape whose product overflows", table(entry(shape: [1 << 40, 1 << 40], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("unknown dtype", table(entry(dtype: 99, shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("unknown storage", table(entry(storage: 9, shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("compressed chunk in a raw tensor", table(entry(shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(10, 1, good)]))),
            ("wrong chunk count", table(entry(shape: [64], offset: 64, byteCount: 64, chunkBytes: 32, chunks: [(64, 0, good)]))),
            ("zero chunk size", table(entry(shape: [64], offset: 64, byteCount: 64, chunkBytes: 0, chunks: [(64, 0, good)]))),
            ("shuffled raw tensor", table(entry(dtype: DType.f16.rawValue, shape: [32], shuffle: 1, offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("unaligned raw tensor", table(entry(shape: [32], offset: 96, byteCount: 32, chunkBytes: 32, chunks: [(32, 0, good)]))),
            ("q4_0 row that is not whole blocks", table(entry(dtype: DType.q4_0.rawValue, shape: [2, 16], offset: 64, byteCount: 18, chunkBytes: 18, chunks: [(18, 0, good)]))),
            ("q4_0x8 matrix of 4 rows", table(entry(dtype: DType.q4_0x8.rawValue, shape: [4, 32], offset: 64, byteCount: 72, chunkBytes: 72, chunks: [(72, 0, good)]))),
            ("overlapping tensors", table(
                entry(name: "a", shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]),
                entry(name: "b", storage: 1, shape: [64], offset: 100, byteCount: 64, chunkBytes: 64, chunks: [(20, 1, good)]))),
            ("duplicate names", table(
                entry(name: "a", shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]),
                entry(name: "a", shape: [64], offset: 128, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]))),
            ("byte count of 2^63 - 1 whose chunk count overflows", table(entry(shape: [UInt64(Int.max)], offset: 64, byteCount: UInt64(Int.max), chunkBytes: 2, chunks: []))),
            ("4 billion chunks in a table of a few bytes", table(withChunkCount(UInt32.max, entry(shape: [UInt64(UInt32.max)], offset: 64, byteCount: UInt64(UInt32.max), chunkBytes: 1, chunks: [])))),
            ("a count of a billion tensors", { var t = table(); t[0] = 0; t[3] = 0x40; return t }()),
            ("trailing bytes after the table", table(entry(shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)])) + [0]),
            ("name that is not UTF-8", { var e = entry(name: "ab", shape: [64], offset: 64, byteCount: 64, chunkBytes: 64, chunks: [(64, 0, good)]); e[2] = 0xFF; return table(e) }()),
        ]
        for (lie, crafted) in lies {
            #expect(throws: FormatError.self, "\(lie)") { try open(craft(data: data, table: crafted), in: directory) }
        }
        #expect(throws: FormatError.badMetadata(path: directory.file("case.panda"), reason: "missing field 'family'")) {
            try open(craft(data: data, metadata: #"{"config":{}}"#, table: table()), in: directory)
        }
    }

    @Test("thousands of random mutations never crash the reader: each file is refused or reads consistently")
    func randomizedMutations() throws {
        let directory = TemporaryDirectory()
        let bytes = try sampleBytes(directory)
        var generator = SeededGenerator(seed: 2024)
        var refused = 0
        var opened = 0
        for round in 0..<1500 {
            var mutated = bytes
            switch round % 5 {
            case 0:  // flip a few bits anywhere
                for _ in 0..<Int.random(in: 1...4, using: &generator) {
                    mutated[Int.random(in: 0..<mutated.count, using: &generator)] ^= UInt8(1 << Int.random(in: 0..<8, using: &generator))
                }
            case 1:  // overwrite a run with random bytes
                let start = Int.random(in: 0..<mutated.count, using: &generator)
                for i in start..<min(mutated.count, start + Int.random(in: 1...16, using: &generator)) {
                    mutated[i] = UInt8.random(in: 0...255, using: &generator)
                }
            case 2:  // cut or extend
                let length = Int.random(in: 0..<(mutated.count + 32), using: &generator)
                mutated = length <= mutated.count ? Array(mutated[0..<length]) : mutated + [UInt8](repeating: 0, count: length - mutated.count)
            default:  // damage the index, then repair the checksum so that the table parser itself is attacked
                let indexOffset = Int(UInt64(littleEndian: mutated.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 24, as: UInt64.self) }))
                for _ in 0..<Int.random(in: 1...3, using: &generator) {
                    let i = Int.random(in: indexOffset..<mutated.count, using: &generator)
                    mutated[i] = round % 5 == 3 ? mutated[i] ^ UInt8(1 << Int.random(in: 0..<8, using: &generator)) : UInt8.random(in: 0...255, using: &generator)
                }
                let checksum = mutated[indexOffset...].withUnsafeBytes { FileHeader.checksum(headerPrefix: Array(mutated[0..<48]), index: $0) }
                withUnsafeBytes(of: checksum.littleEndian) { mutated.replaceSubrange(48..<56, with: $0) }
            }
            do {
                let file = try open(mutated, in: directory)
                opened += 1
                _ = file.verify()
                for tensor in file.tensors { _ = try? file.bytes(tensor.name) }
            } catch is FormatError {
                refused += 1
            }
        }
        #expect(refused + opened == 1500)
        #expect(refused > 500)
    }
}
