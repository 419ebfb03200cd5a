/// Element types a `.panda` tensor can hold. Raw values are the on-disk codes (docs/format.md, "dtype codes").
public enum DType: UInt8, CaseIterable, Codable, Sendable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case bf16 = 2
    /// GGML's Q8_0: blocks of 32 elements, an f16 scale then 32 signed bytes.
    case q8_0 = 3
    /// GGML's Q4_0: blocks of 32 elements, an f16 scale then 16 bytes of 4-bit values.
    case q4_0 = 4
    case i32 = 5
    case i64 = 6
    case u8 = 7
    /// Q4_0 blocks with eight rows interleaved, for SIMD kernels whose lanes are rows (docs/format.md).
    /// Only for matrices whose row count is a multiple of 8; same bytes per element as q4_0.
    case q4_0x8 = 8
    /// Q8_0 blocks with eight rows interleaved, as q4_0x8.
    case q8_0x8 = 9

    public var description: String {
        switch self {
        case .f32: "f32"
        case .f16: "f16"
        case .bf16: "bf16"
        case .q8_0: "q8_0"
        case .q4_0: "q4_0"
        case .i32: "i32"
        case .i64: "i64"
        case .u8: "u8"
        case .q4_0x8: "q4_0x8"
        case .q8_0x8: "q8_0x8"
        }
    }

    public init?(name: String) {
        guard let match = DType.allCases.first(where: { $0.description == name }) else { return nil }
        self = match
    }

    /// Elements per block: 32 for the GGML block formats, 1 otherwise.
    public var blockElements: Int {
        switch self {
        case .q8_0, .q4_0, .q4_0x8, .q8_0x8: 32
        default: 1
        }
    }

    /// Bytes per block (per element for the plain types).
    public var blockBytes: Int {
        switch self {
        case .f32, .i32: 4
        case .f16, .bf16: 2
        case .i64: 8
        case .u8: 1
        case .q8_0, .q8_0x8: 2 + 32
        case .q4_0, .q4_0x8: 2 + 16
        }
    }

    public var isQuantized: Bool { blockElements > 1 }

    /// Rows that must be stored together: 8 for the interleaved block dtypes, 1 otherwise.
    public var rowGroup: Int { interleavedBlocks == nil ? 1 : 8 }

    /// For q4_0x8 and q8_0x8, the block dtype whose blocks they interleave.
    public var interleavedBlocks: DType? {
        switch self {
        case .q4_0x8: .q4_0
        case .q8_0x8: .q8_0
        default: nil
        }
    }

    /// For q4_0 and q8_0, the dtype that holds the same blocks with 8 rows interleaved.
    public var interleaved: DType? {
        switch self {
        case .q4_0: .q4_0x8
        case .q8_0: .q8_0x8
        default: nil
        }
    }

    /// Why a tensor of `shape` cannot be stored in this dtype, or nil when it can.
    public func shapeProblem(_ shape: [Int]) -> String? {
        if isQuantized, (shape.last ?? 1) % blockElements != 0 {
            return "the last dimension of a \(self) tensor must be a multiple of \(blockElements), got shape \(shape)"
        }
        if rowGroup > 1, shape.count != 2 || shape[0] % rowGroup != 0 {
            return "a \(self) tensor must be a matrix whose row count is a multiple of \(rowGroup), got shape \(shape)"
        }
        return nil
    }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockElements == 0 else { return nil }
        let (bytes, overflow) = (count / blockElements).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }
}
