import Foundation
import PandaTestSupport
import Testing

/// Checkpoints written by hand to break the readers: each once crashed panda-convert (or could have), so each
/// runs in a child process, and must end with exit status 1 and one line naming the file and the fault.
@Suite("hostile checkpoints get a one-line error, never a crash")
struct HostileCheckpointTests {
    struct Case: CustomTestStringConvertible, Sendable {
        var name: String
        var fileName: String
        var bytes: [UInt8]
        var expected: String
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(
            name: "safetensors shape whose product overflows", fileName: "overflow.safetensors",
            bytes: safetensors(#"{"w":{"dtype":"F32","shape":[4611686018427387904,4],"data_offsets":[0,0]}}"#),
            expected: "tensor 'w': shape [4611686018427387904, 4] of F32 holds more bytes than 2^63"),
        Case(
            name: "lists nested 100,000 deep", fileName: "deep-lists.pt",
            bytes: torchZip(pickle: [0x80, 2] + Array(repeating: 0x5D, count: 100_000) + Array(repeating: 0x61, count: 99_999) + [0x2E]),
            expected: "refused: pickle nesting deeper than 1000 levels at byte offset 101001"),
        Case(
            name: "tuples nested 100,000 deep", fileName: "deep-tuples.pt",
            bytes: torchZip(pickle: [0x80, 2, 0x4B, 1] + Array(repeating: 0x85, count: 100_000) + [0x2E]),
            expected: "refused: pickle nesting deeper than 1000 levels at byte offset 1004"),
        Case(
            name: "a dict containing itself", fileName: "self-dict.pt",
            // {} BINPUT 0, 'a', BINGET 0, SETITEM: d['a'] = d
            bytes: torchZip(pickle: [0x80, 2, 0x7D, 0x71, 0] + shortString("a") + [0x68, 0, 0x73, 0x2E]),
            expected: "refused: a list or dict put inside itself, at byte offset 10"),
        Case(
            name: "a list appended to itself", fileName: "self-list.pt",
            // [] BINPUT 0, BINGET 0, APPEND: l.append(l)
            bytes: torchZip(pickle: [0x80, 2, 0x5D, 0x71, 0, 0x68, 0, 0x61, 0x2E]),
            expected: "refused: a list or dict put inside itself, at byte offset 7"),
        Case(
            // Found by Tests/Fuzz/run.sh unpickler: a list DUPed and appended to itself leaked (a reference cycle).
            name: "the fuzzer's self-appended list", fileName: "fuzz-self-append.pt",
            bytes: torchZip(pickle: Array(FileManager.default.contents(atPath: fixture("fuzz/unpickler-self-append.pkl")) ?? Data())),
            expected: "refused: a list or dict put inside itself, at byte offset"),
        Case(
            name: "a list deepened after it was put inside another", fileName: "deepened-list.pt",
            // a = []; b = [a]; a.append([]): EMPTY_LIST BINPUT 0, EMPTY_LIST, BINGET 0, APPEND, BINGET 0, EMPTY_LIST, APPEND
            bytes: torchZip(pickle: [0x80, 2, 0x5D, 0x71, 0, 0x5D, 0x68, 0, 0x61, 0x68, 0, 0x5D, 0x61, 0x2E]),
            expected: "refused: a list or dict made deeper after it was put inside another, at byte offset 12"),
        Case(
            name: "dicts shared under two keys, 64 levels: 2^64 entries from 1.7 KB", fileName: "shared-dicts.pt",
            bytes: torchZip(pickle: sharedDicts(levels: 64)),
            expected: "refused: the state_dict has more than 1000000 entries (shared dicts repeated?)"),
        Case(
            name: "a storage of 2^62 floats", fileName: "huge-storage.pt",
            bytes: torchZip(pickle: tensorPickle(numel: 1 << 62), entries: [("archive/data/0", [0, 0, 0, 0])]),
            expected: "tensor 'w': its storage holds 4 bytes, 4611686018427387904 × 4 expected"),
        Case(
            name: "a zip entry whose local header offset is 2^64 - 1", fileName: "zip-offset.pt",
            bytes: torchZip(pickle: [0x80, 2, 0x7D, 0x2E], zip64LocalOffset: UInt64.max),
            expected: "zip entry 'archive/data.pkl': its local header is missing or damaged"),
        Case(
            name: "a zip64 end record said to lie at 2^64 - 1", fileName: "zip64-record.pt",
            bytes: torchZip(pickle: [0x80, 2, 0x7D, 0x2E], zip64RecordOffset: UInt64.max),
            expected: "corrupt zip64 end-of-central-directory record"),
        Case(
            name: "a zip entry longer than the file", fileName: "zip-size.pt",
            bytes: torchZip(pickle: [0x80, 2, 0x7D, 0x2E], declaredSize: 0x7FFF_FFFF),
            expected: "zip entry 'archive/data.pkl': its 2147483647 bytes run past the end of the file (truncated?)"),
    ]

    @Test("panda-convert convert refuses each with one line naming the file", arguments: cases)
    func refusedWithOneLine(_ hostile: Case) throws {
        let directory = TemporaryDirectory()
        let path = directory.file(hostile.fileName)
        try Data(hostile.bytes).write(to: URL(fileURLWithPath: path))
        let result = try Executable.run(
            "panda-convert", ["convert", path, "-o", directory.file("out.panda")], limits: ProcessLimits(memory: 2 << 30, seconds: 60))
        #expect(result.status == 1, "\(result.stderr)")
        #expect(!result.timedOut)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "\(result.stderr)")
        #expect(result.stderr.contains(path + ": "), "\(result.stderr)")
        #expect(result.stderr.contains(hostile.expected), "\(result.stderr)")
        #expect(!FileManager.default.fileExists(atPath: directory.file("out.panda")))
    }

    // MARK: - Writing the files by hand

    private static func le<T: FixedWidthInteger>(_ value: T) -> [UInt8] { withUnsafeBytes(of: value.littleEndian) { Array($0) } }

    private static func safetensors(_ header: String) -> [UInt8] { le(UInt64(header.utf8.count)) + Array(header.utf8) }

    private static func shortString(_ text: String) -> [UInt8] { [0x8C, UInt8(text.utf8.count)] + Array(text.utf8) }

    /// d0 = {}; d(i) = {'a': d(i-1), 'b': d(i-1)}: a tree of 2^levels paths written in ~20 bytes a level.
    private static func sharedDicts(levels: Int) -> [UInt8] {
        var pickle: [UInt8] = [0x80, 4, 0x7D, 0x94]  // {} MEMOIZE (memo 0)
        for level in 1...levels {
            let previous = le(UInt32(level - 1))
            pickle += [0x7D, 0x28] + shortString("a") + [0x6A] + previous + shortString("b") + [0x6A] + previous + [0x75, 0x94]
        }
        return pickle + [0x2E]
    }

    /// {'w': _rebuild_tensor_v2(storage('0', FloatStorage, numel), 0, (1,), (1,))}
    private static func tensorPickle(numel: Int) -> [UInt8] {
        var pickle: [UInt8] = [0x80, 2, 0x7D] + shortString("w")
        pickle += [0x63] + Array("torch._utils\n_rebuild_tensor_v2\n".utf8)
        pickle += [0x28, 0x28] + shortString("storage") + [0x63] + Array("torch\nFloatStorage\n".utf8)
        pickle += shortString("0") + shortString("cpu") + [0x8A, 8] + le(UInt64(numel)) + [0x74, 0x51]
        pickle += [0x4B, 0, 0x4B, 1, 0x85, 0x4B, 1, 0x85, 0x74, 0x52, 0x73, 0x2E]
        return pickle
    }

    /// A stored (uncompressed) zip as torch.save writes it, with `archive/data.pkl` first; the options make it lie.
    private static func torchZip(
        pickle: [UInt8], entries: [(String, [UInt8])] = [], zip64LocalOffset: UInt64? = nil, zip64RecordOffset: UInt64? = nil,
        declaredSize: UInt32? = nil
    ) -> [UInt8] {
        var file: [UInt8] = []
        var directory: [UInt8] = []
        for (index, (name, data)) in ([("archive/data.pkl", pickle)] + entries).enumerated() {
            let offset = UInt32(file.count)
            let size = index == 0 ? (declaredSize ?? UInt32(data.count)) : UInt32(data.count)
            let fields = le(UInt16(0)) + le(UInt32(0)) + le(UInt32(0)) + le(size) + le(size) + le(UInt16(name.utf8.count))
            file += le(UInt32(0x0403_4B50)) + le(UInt16(20)) + le(UInt16(0)) + fields + le(UInt16(0)) + Array(name.utf8) + data
            let extra = index == 0 ? zip64LocalOffset.map { le(UInt16(1)) + le(UInt16(8)) + le($0) } ?? [] : []
            directory += le(UInt32(0x0201_4B50)) + le(UInt16(20)) + le(UInt16(20)) + le(UInt16(0)) + fields
            directory += le(UInt16(extra.count)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt16(0)) + le(UInt32(0))
            directory += le(extra.isEmpty ? offset : UInt32.max) + Array(name.utf8) + extra
        }
        let count = UInt16(1 + entries.count)
        let directoryOffset = UInt32(file.count)
        file += directory
        if let record = zip64RecordOffset {
            file += le(UInt32(0x0706_4B50)) + le(UInt32(0)) + le(record) + le(UInt32(1))
        }
        return file + le(UInt32(0x0605_4B50)) + le(UInt16(0)) + le(UInt16(0)) + le(count) + le(count)
            + le(UInt32(directory.count)) + le(directoryOffset) + le(UInt16(0))
    }
}
