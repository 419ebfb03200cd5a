import Foundation
import PandaTestSupport
import Testing
@testable import PandaFormat

/// q8_0 and q4_0 against llama.cpp's reference quantizers (gguf-py's port, Tests/Fixtures/reference/quantization/),
/// and the interleaved layouts against docs/format.md.
@Suite("GGML block codecs")
struct BlockParityTests {
    static let fixture = "quantization/blocks.safetensors"
    static let columns = 128

    @Test("q8_0 and q4_0 encode to llama.cpp's bytes and decode to its values", arguments: [DType.q8_0, .q4_0])
    func blocksMatchLlamaCpp(dtype: DType) throws {
        let tensors = try Reference.tensors(Self.fixture)
        let input = try #require(tensors["input"]).values
        let expectedBytes = try #require(tensors[dtype.description]).values.map { UInt8($0) }
        let bytes = encoded(input, as: dtype)
        #expect(bytes == expectedBytes)
        var decoded = [Float](repeating: .nan, count: input.count)
        expectedBytes.withUnsafeBytes { dtype.decode($0, count: input.count, into: &decoded) }
        #expect(decoded == tensors[dtype.description + ".dequantized"]?.values)
    }

    @Test("The interleaved layouts hold each row's blocks where docs/format.md puts them", arguments: [DType.q8_0x8, .q4_0x8])
    func interleavedLayoutFollowsTheSpec(dtype: DType) throws {
        let input = try #require(try Reference.tensors(Self.fixture)["input"]).values
        let blocks = try #require(dtype.interleavedBlocks)
        let plain = encoded(input, as: blocks), interleaved = encoded(input, as: dtype, columns: Self.columns)
        #expect(interleaved.count == plain.count)
        let blocksPerRow = Self.columns / 32, blockBytes = blocks.blockBytes
        var misplaced = 0
        for row in 0..<(input.count / Self.columns) {
            for block in 0..<blocksPerRow {
                // Per group of 8 rows and block column: the 8 scales, then runs of 32 bytes holding 4 quant bytes of each row.
                let record = ((row / 8) * blocksPerRow + block) * 8 * blockBytes
                for byte in 0..<blockBytes {
                    let offset = byte < 2 ? record + 2 * (row % 8) + byte : record + 16 + ((byte - 2) / 4) * 32 + (row % 8) * 4 + (byte - 2) % 4
                    if interleaved[offset] != plain[(row * blocksPerRow + block) * blockBytes + byte] { misplaced += 1 }
                }
            }
        }
        #expect(misplaced == 0)
        var fromPlain = [Float](repeating: .nan, count: input.count), fromInterleaved = fromPlain
        plain.withUnsafeBytes { blocks.decode($0, count: input.count, into: &fromPlain) }
        interleaved.withUnsafeBytes { dtype.decode($0, count: input.count, columns: Self.columns, into: &fromInterleaved) }
        #expect(fromInterleaved == fromPlain)
    }
}
