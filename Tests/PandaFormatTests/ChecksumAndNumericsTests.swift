import Foundation
import Testing
@testable import PandaFormat

@Suite("XXH64 and element conversions")
struct ChecksumAndNumericsTests {
    @Test("XXH64 matches the reference implementation's published values", arguments: [
        ("", UInt64(0xEF46_DB37_51D8_E999)),
        ("a", UInt64(0xD24E_C4F1_A98C_6E5B)),
        ("abc", UInt64(0x44BC_2CF5_AD77_0999)),
        ("Nobody inspects the spammish repetition", UInt64(0xFBCE_A83C_8A37_8BF1)),
    ])
    func xxh64KnownValues(input: String, expected: UInt64) {
        let hash = Array(input.utf8).withUnsafeBytes { XXH64.hash($0) }
        #expect(hash == expected)
    }

    @Test("XXH64 gives the same hash whether data arrives at once or in pieces of any size")
    func xxh64Streaming() {
        var generator = SeededGenerator(seed: 42)
        let data = (0..<1000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        for length in [0, 1, 7, 31, 32, 33, 63, 64, 100, 1000] {
            let oneShot = data[0..<length].withUnsafeBytes { XXH64.hash($0) }
            for pieceSize in [1, 3, 8, 17, 32, 45] {
                var state = XXH64()
                var start = 0
                while start < length {
                    let end = min(length, start + pieceSize)
                    data[start..<end].withUnsafeBytes { state.update($0) }
                    start = end
                }
                #expect(state.finalize() == oneShot, "length \(length), pieces of \(pieceSize)")
            }
        }
    }

    @Test("bf16 rounds to nearest even and widens exactly")
    func bfloat16Rounding() {
        #expect(BFloat16.bits(from: 1.0) == 0x3F80)
        #expect(BFloat16.float(fromBits: 0x3F80) == 1.0)
        // 1 + 2^-8 is exactly halfway between bf16 neighbours 1 and 1 + 2^-7: ties go to the even mantissa (1.0).
        #expect(BFloat16.bits(from: 1 + 0x1p-8) == 0x3F80)
        // 1 + 3·2^-8 is halfway between 1 + 2^-7 (odd) and 1 + 2^-6 (even): rounds up to even.
        #expect(BFloat16.bits(from: 1 + 3 * 0x1p-8) == 0x3F82)
        #expect(BFloat16.bits(from: -2.5) == 0xC020)
        #expect(BFloat16.float(fromBits: BFloat16.bits(from: .infinity)) == .infinity)
        #expect(BFloat16.float(fromBits: BFloat16.bits(from: .nan)).isNaN)
    }

    @Test("f32, f16 and bf16 encode and decode within their rounding error", arguments: [DType.f32, .f16, .bf16])
    func plainFloatRoundTrip(dtype: DType) {
        let values = randomFloats(257, scale: 3, seed: 7)
        let bytes = encoded(values, as: dtype)
        var decoded = [Float](repeating: 0, count: values.count)
        bytes.withUnsafeBytes { dtype.decode($0, count: values.count, into: &decoded) }
        let relative: Float = dtype == .f32 ? 0 : dtype == .f16 ? 0x1p-11 : 0x1p-8
        for (original, back) in zip(values, decoded) {
            #expect(abs(original - back) <= abs(original) * relative)
        }
    }

    @Test("Q8_0 round trip stays within 0.57·d per element, d = max|x|/127 per block")
    func q8_0ErrorBound() {
        let values = randomFloats(32 * 64, scale: 2, seed: 11)
        let bytes = encoded(values, as: .q8_0)
        #expect(bytes.count == 64 * 34)
        var decoded = [Float](repeating: 0, count: values.count)
        bytes.withUnsafeBytes { DType.q8_0.decode($0, count: values.count, into: &decoded) }
        for block in 0..<64 {
            let range = (block * 32)..<(block * 32 + 32)
            let d = values[range].map(abs).max()! / 127
            for i in range { #expect(abs(values[i] - decoded[i]) <= 0.57 * d) }
        }
    }

    @Test("Q4_0 round trip stays within 1.01·|d| per element, d = m/−8 with m the largest-magnitude element")
    func q4_0ErrorBound() {
        let values = randomFloats(32 * 64, scale: 2, seed: 12)
        let bytes = encoded(values, as: .q4_0)
        #expect(bytes.count == 64 * 18)
        var decoded = [Float](repeating: 0, count: values.count)
        bytes.withUnsafeBytes { DType.q4_0.decode($0, count: values.count, into: &decoded) }
        for block in 0..<64 {
            let range = (block * 32)..<(block * 32 + 32)
            let d = values[range].map(abs).max()! / 8
            for i in range { #expect(abs(values[i] - decoded[i]) <= 1.01 * d) }
            // The element that set the scale is reproduced exactly up to the f16 rounding of d.
            let extreme = range.max { abs(values[$0]) < abs(values[$1]) }!
            #expect(abs(values[extreme] - decoded[extreme]) <= d * 0x1p-7)
        }
    }

    @Test("Q4_0 and Q8_0 blocks of zeros decode to zeros")
    func quantizedZeros() {
        for dtype in [DType.q8_0, .q4_0] {
            let bytes = encoded([Float](repeating: 0, count: 64), as: dtype)
            var decoded = [Float](repeating: 1, count: 64)
            bytes.withUnsafeBytes { dtype.decode($0, count: 64, into: &decoded) }
            #expect(decoded.allSatisfy { $0 == 0 })
        }
    }
}
