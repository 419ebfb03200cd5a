import CPandaKernels

/// bfloat16 ↔ float32. (IEEE half precision uses Swift's own `Float16`.)
public enum BFloat16 {
    /// Widens bf16 bits to a Float: bf16 is the top half of an f32, so this is exact.
    @inline(__always) public static func float(fromBits bits: UInt16) -> Float {
        Float(bitPattern: UInt32(bits) << 16)
    }

    /// Rounds a Float to the nearest bf16 (ties to even), as PyTorch's `.to(torch.bfloat16)` does.
    @inline(__always) public static func bits(from value: Float) -> UInt16 {
        let raw = value.bitPattern
        if value.isNaN { return UInt16(truncatingIfNeeded: raw >> 16) | 0x0040 }  // keep it a quiet NaN
        let roundingBias: UInt32 = 0x7FFF + ((raw >> 16) & 1)
        return UInt16(truncatingIfNeeded: (raw &+ roundingBias) >> 16)
    }
}

extension DType {
    /// Widens `count` elements of a plain float dtype (f32, f16, bf16) or a GGML block dtype to Float, in row-major
    /// order. `columns` is the row length (the elements are one row when it is nil); only the interleaved dtypes
    /// (q4_0x8, q8_0x8) depend on it.
    public func decode(_ source: UnsafeRawBufferPointer, count: Int, columns: Int? = nil, into destination: UnsafeMutablePointer<Float>) {
        precondition(byteCount(elements: count).map { $0 <= source.count } ?? false, "source too short for \(count) \(self)")
        let base = source.baseAddress!
        switch self {
        case .f32:
            destination.update(from: base.assumingMemoryBound(to: Float.self), count: count)
        case .f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8:
            // The kernels' widening, exact for every dtype (a block element is its f16 scale times its integer).
            guard count > 0 else { return }
            let rowLength = interleavedBlocks != nil ? (columns ?? count) : count
            precondition(interleavedBlocks == nil || (rowLength % 32 == 0 && count % (8 * rowLength) == 0), "\(self) needs whole groups of 8 rows")
            panda_rows_to_f32(Int32(rawValue), base, destination, rowLength, 0, count / rowLength)
        case .i32, .i64, .u8:
            preconditionFailure("\(self) is not a floating-point dtype")
        }
    }

    /// Narrows `count` floats into this dtype's bytes: rounding to nearest even, and for the block types llama.cpp's
    /// reference quantizers bit for bit. `columns` as for `decode`.
    public func encode(_ source: UnsafePointer<Float>, count: Int, columns: Int? = nil, into destination: UnsafeMutableRawBufferPointer) {
        precondition(byteCount(elements: count).map { $0 <= destination.count } ?? false, "destination too short")
        let base = destination.baseAddress!
        switch self {
        case .f32:
            base.copyMemory(from: source, byteCount: 4 * count)
        case .f16:
            for i in 0..<count { base.storeBytes(of: Float16(source[i]).bitPattern, toByteOffset: 2 * i, as: UInt16.self) }
        case .bf16:
            for i in 0..<count { base.storeBytes(of: BFloat16.bits(from: source[i]), toByteOffset: 2 * i, as: UInt16.self) }
        case .q8_0:
            panda_quantize_q8_0(source, base, count)
        case .q4_0:
            panda_quantize_q4_0(source, base, count)
        case .q4_0x8, .q8_0x8:
            let rowLength = columns ?? count
            precondition(rowLength > 0 && rowLength % 32 == 0 && count % (8 * rowLength) == 0, "\(self) needs whole groups of 8 rows")
            let blocks = interleavedBlocks!
            let plain = UnsafeMutableRawPointer.allocate(byteCount: blocks.byteCount(elements: count)!, alignment: 16)
            defer { plain.deallocate() }
            blocks.encode(source, count: count, into: UnsafeMutableRawBufferPointer(start: plain, count: blocks.byteCount(elements: count)!))
            panda_interleave_x8(Int32(rawValue), plain, base, count / rowLength, rowLength)
        case .i32, .i64, .u8:
            preconditionFailure("\(self) is not a floating-point dtype")
        }
    }

    public var isFloatingPoint: Bool {
        switch self {
        case .f32, .f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8: true
        case .i32, .i64, .u8: false
        }
    }
}
