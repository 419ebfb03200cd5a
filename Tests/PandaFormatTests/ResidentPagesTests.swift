import Foundation
import PandaTestSupport
import Testing
@testable import PandaFormat

/// What `releaseResidentPages` does to the process's resident set, read from /proc/self/smaps (Linux).
@Suite("Releasing a tensor's mapped pages")
struct ResidentPagesTests {
    /// The Rss (kB) of the mapping that contains `address`, per /proc/self/smaps.
    private func residentKilobytes(of address: UnsafeRawPointer) throws -> Int? {
        // Read to the end: /proc files report a size of 0, which a whole-file read would take at its word.
        guard let handle = FileHandle(forReadingAtPath: "/proc/self/smaps") else { return nil }
        defer { try? handle.close() }
        let smaps = String(decoding: try handle.readToEnd() ?? Data(), as: UTF8.self)
        let target = UInt(bitPattern: address)
        var inside = false
        for line in smaps.split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            if let range = fields.first, range.contains("-"), !range.hasSuffix(":") {
                let bounds = range.split(separator: "-").compactMap { UInt($0, radix: 16) }
                inside = bounds.count == 2 && bounds[0] <= target && target < bounds[1]
            } else if inside, fields.first == "Rss:", fields.count >= 2 {
                return Int(fields[1])
            }
        }
        return nil
    }

    @Test("a raw tensor's pages leave the resident set once released and read back the same; a decoded tensor is left alone")
    func releasedPagesLeaveTheResidentSet() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("big.panda")
        let writer = try WeightFileWriter(path: path)
        let values = (0..<(1 << 20)).map { Float($0 % 1000) }  // 4 MiB
        try values.withUnsafeBytes { try writer.add(name: "big", dtype: .f32, shape: [1 << 20], bytes: $0) }
        try values.withUnsafeBytes { try writer.add(name: "packed", dtype: .f32, shape: [1 << 20], storage: .zstd, bytes: $0) }
        try writer.finish(metadata: WeightMetadata(family: "test", config: .object([:]), tokenizers: [:], provenance: Provenance(converter: "tests")))
        let file = try WeightFile(path: path)
        let bytes = try file.mappedBytes("big")
        var sum: Float = 0
        for i in stride(from: 0, to: bytes.count, by: 4096) { sum += Float(bytes[i]) }  // fault every page in
        let before = try #require(try residentKilobytes(of: bytes.baseAddress!))
        #expect(before >= 4096, "the touched tensor is not resident: \(before) kB")
        file.releaseResidentPages(of: bytes)
        let after = try #require(try residentKilobytes(of: bytes.baseAddress!))
        #expect(after <= before - 4000, "released: \(before) kB → \(after) kB")
        #expect(Array(bytes.bindMemory(to: Float.self).prefix(2000)) == Array(values.prefix(2000)))
        // A decoded (zstd) tensor lives outside the mapping: releasing it changes nothing and reads stay intact.
        let decoded = try file.bytes("packed")
        decoded.withUnsafeBytes { file.releaseResidentPages(of: $0) }
        #expect(decoded.withUnsafeBytes { Array($0.bindMemory(to: Float.self).suffix(10)) } == Array(values.suffix(10)))
        _ = sum
    }
}
