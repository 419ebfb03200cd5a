import PandaFormat

/// Element types found in PyTorch and safetensors checkpoints.
public enum SourceDType: String, Sendable, CaseIterable {
    case f64, f32, f16, bf16, i64, i32, i16, i8, u8, bool

    public var size: Int {
        switch self {
        case .f64, .i64: 8
        case .f32, .i32: 4
        case .f16, .bf16, .i16: 2
        case .i8, .u8, .bool: 1
        }
    }

    public var isFloatingPoint: Bool { self == .f64 || self == .f32 || self == .f16 || self == .bf16 }

    /// The `.panda` dtype holding these bytes unchanged, if there is one.
    public var pandaDType: DType? {
        switch self {
        case .f32: .f32
        case .f16: .f16
        case .bf16: .bf16
        case .i64: .i64
        case .i32: .i32
        case .u8, .bool: .u8
        case .f64, .i16, .i8: nil
        }
    }
}

/// A tensor inside a checkpoint: a (possibly strided) view of bytes in a memory-mapped file.
/// Nothing is read until elements are asked for, so a 13 GB checkpoint is never held in memory.
public struct SourceTensor: @unchecked Sendable {
    // @unchecked: `storage` is an immutable read-only mapping.
    public var name: String
    public var dtype: SourceDType
    public var shape: [Int]
    /// Strides in elements, outermost first.
    public var strides: [Int]
    /// The mapped file holding the storage.
    public let file: MappedFile
    /// Byte offset of the storage's first element within `file`.
    public let storageOffset: Int
    /// Elements in the storage (several tensors may share one storage).
    public let storageElements: Int
    /// Element offset of this view within the storage.
    public var elementOffset: Int

    public var elementCount: Int { shape.reduce(1, *) }
    public var path: String { file.path }

    /// Checks that the view stays inside its storage and the storage inside its file.
    public init(
        name: String, dtype: SourceDType, shape: [Int], strides: [Int]? = nil, file: MappedFile, storageOffset: Int,
        storageElements: Int, elementOffset: Int = 0
    ) throws(ConvertError) {
        self.name = name
        self.dtype = dtype
        self.shape = shape
        self.strides = strides ?? Self.contiguousStrides(shape)
        self.file = file
        self.storageOffset = storageOffset
        self.storageElements = storageElements
        self.elementOffset = elementOffset
        func fail(_ reason: String) -> ConvertError { .badTensor(path: file.path, tensor: name, reason: reason) }
        guard self.strides.count == shape.count else { throw fail("has \(shape.count) dimensions but \(self.strides.count) strides") }
        guard shape.allSatisfy({ $0 >= 0 }), self.strides.allSatisfy({ $0 >= 0 }), elementOffset >= 0, storageElements >= 0 else {
            throw fail("negative shape, stride or offset")
        }
        let (storageBytes, overflowBytes) = storageElements.multipliedReportingOverflow(by: dtype.size)
        guard !overflowBytes, storageOffset >= 0, storageOffset <= file.count, storageBytes <= file.count - storageOffset else {
            throw fail("its storage (\(storageElements) × \(dtype.size) bytes at \(storageOffset)) runs past the end of the file (\(file.count) bytes)")
        }
        guard shape.allSatisfy({ $0 > 0 }) else { return }
        var last = elementOffset
        for (dim, stride) in zip(shape, self.strides) {
            let (step, overflow) = (dim - 1).multipliedReportingOverflow(by: stride)
            guard !overflow, last <= Int.max - step else { throw fail("shape \(shape) with strides \(self.strides) overflows") }
            last += step
        }
        guard last < storageElements else {
            throw fail("the view (shape \(shape), strides \(self.strides), offset \(elementOffset)) reaches element \(last) of a storage of \(storageElements)")
        }
    }

    public static func contiguousStrides(_ shape: [Int]) -> [Int] {
        var strides = [Int](repeating: 1, count: shape.count)
        for i in stride(from: shape.count - 2, through: 0, by: -1) { strides[i] = strides[i + 1] * shape[i + 1] }
        return strides
    }

    public var isContiguous: Bool {
        shape.contains(0) || zip(zip(shape, strides), Self.contiguousStrides(shape)).allSatisfy { pair, expected in pair.0 == 1 || pair.1 == expected }
    }

    /// The tensor's bytes in row-major order, in place, when the view is contiguous.
    public var contiguousBytes: UnsafeRawBufferPointer? {
        guard isContiguous else { return nil }
        let start = storageOffset + elementOffset * dtype.size
        return UnsafeRawBufferPointer(rebasing: file.bytes[start..<(start + elementCount * dtype.size)])
    }

    /// The bytes of the storage this view reads from, as a range of the mapped file.
    public var storageRange: Range<Int> { storageOffset..<(storageOffset + storageElements * dtype.size) }

    /// A 2-D tensor viewed transposed (no data moves).
    public func transposed() -> SourceTensor {
        precondition(shape.count == 2, "only 2-D tensors transpose")
        var view = self
        view.shape.reverse()
        view.strides.reverse()
        return view
    }

    /// The same elements with a new shape; the view must be contiguous.
    public func reshaped(_ newShape: [Int]) -> SourceTensor? {
        guard isContiguous, newShape.reduce(1, *) == elementCount else { return nil }
        var view = self
        view.shape = newShape
        view.strides = Self.contiguousStrides(newShape)
        return view
    }

    /// Widens `count` elements starting at row-major logical index `start` to Float.
    public func readFloats(from start: Int, count: Int, into destination: UnsafeMutablePointer<Float>) {
        precondition(dtype.isFloatingPoint, "\(name) is \(dtype), not a floating-point tensor")
        precondition(start >= 0 && start + count <= elementCount)
        guard count > 0 else { return }
        let base = file.bytes.baseAddress! + storageOffset
        if isContiguous {
            Self.widen(base + (elementOffset + start) * dtype.size, dtype: dtype, count: count, into: destination)
            return
        }
        // Walk the logical index space, carrying a multi-index so each step costs O(1).
        var index = [Int](repeating: 0, count: shape.count)
        var remainder = start
        for axis in stride(from: shape.count - 1, through: 0, by: -1) {
            index[axis] = remainder % shape[axis]
            remainder /= shape[axis]
        }
        var offset = elementOffset + zip(index, strides).reduce(0) { $0 + $1.0 * $1.1 }
        let innerStride = strides.last ?? 1
        let innerSize = shape.last ?? 1
        var written = 0
        while written < count {
            let run = min(innerSize - (index.last ?? 0), count - written)
            for j in 0..<run {
                Self.widen(base + (offset + j * innerStride) * dtype.size, dtype: dtype, count: 1, into: destination + written + j)
            }
            written += run
            guard written < count, !shape.isEmpty else { break }
            // Advance the multi-index to the start of the next innermost row.
            offset += run * innerStride
            index[shape.count - 1] += run
            var axis = shape.count - 1
            while axis > 0 && index[axis] == shape[axis] {
                offset -= shape[axis] * strides[axis]
                index[axis] = 0
                axis -= 1
                index[axis] += 1
                offset += strides[axis]
            }
        }
    }

    private static func widen(_ source: UnsafeRawPointer, dtype: SourceDType, count: Int, into destination: UnsafeMutablePointer<Float>) {
        switch dtype {
        case .f32:
            for i in 0..<count { destination[i] = source.loadUnaligned(fromByteOffset: 4 * i, as: Float.self) }
        case .f16:
            DType.f16.decode(UnsafeRawBufferPointer(start: source, count: 2 * count), count: count, into: destination)
        case .bf16:
            DType.bf16.decode(UnsafeRawBufferPointer(start: source, count: 2 * count), count: count, into: destination)
        case .f64:
            for i in 0..<count { destination[i] = Float(source.loadUnaligned(fromByteOffset: 8 * i, as: Double.self)) }
        default:
            preconditionFailure("not a floating-point dtype")
        }
    }
}
