import Foundation

/// A `.panda` file opened for reading: memory-mapped, with its header, metadata and tensor table validated in full
/// before any tensor is touched. Raw tensors are read in place without copies; zstd tensors are decoded on demand.
public final class WeightFile: @unchecked Sendable {
    // @unchecked: every stored property is immutable after init; the mapping is read-only and unmapped in deinit.
    public let path: String
    public let metadata: WeightMetadata
    /// Tensors in the order they were written.
    public let tensors: [TensorInfo]
    /// Total file size in bytes.
    public let fileSize: Int
    private let indexByName: [String: Int]
    private let file: MappedFile
    private var mapping: UnsafeRawBufferPointer { file.bytes }

    public init(path: String) throws(FormatError) {
        self.path = path
        file = try MappedFile(path: path)
        fileSize = file.count
        (metadata, tensors) = try Self.validate(file.bytes, path: path)
        indexByName = Dictionary(uniqueKeysWithValues: tensors.enumerated().map { ($1.name, $0) })
    }

    public func contains(_ name: String) -> Bool { indexByName[name] != nil }

    public func info(_ name: String) throws(FormatError) -> TensorInfo {
        guard let index = indexByName[name] else { throw .unknownTensor(path: path, tensor: name) }
        return tensors[index]
    }

    /// Drops the pages under `bytes` from the process's resident set when they lie in the mapping (a raw tensor
    /// read for the last time, such as weights copied into another precision); anything else is left alone. The
    /// pages stay in the page cache and fault back in if read again.
    public func releaseResidentPages(of bytes: UnsafeRawBufferPointer) {
        guard let start = bytes.baseAddress, let base = mapping.baseAddress, start >= base, start + bytes.count <= base + mapping.count else { return }
        let offset = start - base
        file.release(offset..<(offset + bytes.count))
    }

    /// The bytes of a raw tensor, in place in the mapping (valid while this `WeightFile` lives).
    public func mappedBytes(_ name: String) throws(FormatError) -> UnsafeRawBufferPointer {
        let tensor = try info(name)
        guard tensor.storage == .raw else {
            throw .badTensorEntry(path: path, tensor: name, reason: "is zstd-compressed, so it has no in-place bytes")
        }
        return UnsafeRawBufferPointer(rebasing: mapping[tensor.dataOffset..<(tensor.dataOffset + tensor.byteCount)])
    }

    /// The stored bytes of one chunk, in place.
    public func storedBytes(of tensor: TensorInfo, chunk index: Int) -> UnsafeRawBufferPointer {
        let chunk = tensor.chunks[index]
        return UnsafeRawBufferPointer(rebasing: mapping[chunk.offset..<(chunk.offset + chunk.storedLength)])
    }

    /// Decodes one chunk into `destination` (exactly its decoded length), checking its checksum first.
    public func decodeChunk(
        of tensor: TensorInfo, chunk index: Int, into destination: UnsafeMutableRawBufferPointer
    ) throws(FormatError) {
        let stored = storedBytes(of: tensor, chunk: index)
        let expectedLength = tensor.decodedLength(ofChunk: index)
        precondition(destination.count == expectedLength, "destination must hold exactly the chunk's decoded bytes")
        guard XXH64.hash(stored) == tensor.chunks[index].checksum else {
            throw .chunkChecksumMismatch(path: path, tensor: tensor.name, chunk: index)
        }
        switch tensor.chunks[index].encoding {
        case .stored:
            destination.copyMemory(from: stored)
        case .zstd:
            let codec = ZstdCodec()
            if tensor.shuffled {
                let width = tensor.dtype.blockBytes
                let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: expectedLength, alignment: 64)
                defer { scratch.deallocate() }
                if let problem = codec.decompress(stored, into: scratch) {
                    throw .corruptChunk(path: path, tensor: tensor.name, chunk: index, reason: problem)
                }
                BytePlanes.unshuffle(UnsafeRawBufferPointer(scratch), into: destination, width: width)
            } else if let problem = codec.decompress(stored, into: destination) {
                throw .corruptChunk(path: path, tensor: tensor.name, chunk: index, reason: problem)
            }
        }
    }

    /// The decoded bytes of any tensor: the mapped bytes for raw storage, a fresh 64-byte-aligned buffer otherwise.
    public func bytes(_ name: String) throws(FormatError) -> TensorBytes {
        let tensor = try info(name)
        if tensor.storage == .raw { return TensorBytes(owner: self, view: try mappedBytes(name)) }
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: max(tensor.byteCount, 1), alignment: 64)
        do {
            for index in tensor.chunks.indices {
                let start = index * tensor.chunkBytes
                let slice = UnsafeMutableRawBufferPointer(
                    rebasing: buffer[start..<(start + tensor.decodedLength(ofChunk: index))])
                try decodeChunk(of: tensor, chunk: index, into: slice)
            }
        } catch {
            buffer.deallocate()
            throw error
        }
        return TensorBytes(owned: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<tensor.byteCount]))
    }

    /// Any floating-point tensor (f32, f16, bf16, q8_0, q4_0) widened to Float.
    public func floats(_ name: String) throws(FormatError) -> [Float] {
        let tensor = try info(name)
        guard tensor.dtype.isFloatingPoint else {
            throw .badTensorEntry(path: path, tensor: name, reason: "is \(tensor.dtype), not a floating-point tensor")
        }
        let data = try bytes(name)
        return [Float](unsafeUninitializedCapacity: tensor.elementCount) { out, initialized in
            data.withUnsafeBytes { tensor.dtype.decode($0, count: tensor.elementCount, columns: tensor.shape.last, into: out.baseAddress!) }
            initialized = tensor.elementCount
        }
    }

    /// Checks every chunk's checksum (and that every zstd frame decodes to its recorded size).
    /// `progress` is called with the stored bytes checked so far.
    public func verify(progress: (Int) -> Void = { _ in }) -> [FormatError] {
        var failures: [FormatError] = []
        var checked = 0
        // The largest chunk as decoded, not the declared chunk size, which a small tensor may set to 4 GiB.
        let scratch = UnsafeMutableRawBufferPointer.allocate(
            byteCount: max(tensors.map { $0.chunks.isEmpty ? 0 : $0.decodedLength(ofChunk: 0) }.max() ?? 1, 1), alignment: 64)
        defer { scratch.deallocate() }
        for tensor in tensors {
            for index in tensor.chunks.indices {
                let length = tensor.decodedLength(ofChunk: index)
                do throws(FormatError) {
                    if tensor.chunks[index].encoding == .stored {
                        if XXH64.hash(storedBytes(of: tensor, chunk: index)) != tensor.chunks[index].checksum {
                            throw .chunkChecksumMismatch(path: path, tensor: tensor.name, chunk: index)
                        }
                    } else {
                        try decodeChunk(of: tensor, chunk: index, into: UnsafeMutableRawBufferPointer(rebasing: scratch[0..<length]))
                    }
                } catch {
                    failures.append(error)
                }
                checked += tensor.chunks[index].storedLength
                progress(checked)
            }
        }
        return failures
    }

    // MARK: - Opening and validation

    static func validate(
        _ file: UnsafeRawBufferPointer, path: String
    ) throws(FormatError) -> (WeightMetadata, [TensorInfo]) {
        guard file.count >= FileHeader.size else { throw .tooShort(path: path, size: file.count) }
        guard Array(file[0..<8]) == FileHeader.magic else { throw .badMagic(path: path) }
        var reader = ByteReader(UnsafeRawBufferPointer(rebasing: file[8..<FileHeader.size]))
        let version = reader.read(UInt32.self)!
        guard version == FileHeader.currentVersion else { throw .unsupportedVersion(path: path, version: version) }
        let flags = reader.read(UInt32.self)!
        let fileLength = reader.read(UInt64.self)!
        let indexOffset = reader.read(UInt64.self)!
        let metadataLength = reader.read(UInt64.self)!
        let tableLength = reader.read(UInt64.self)!
        let indexChecksum = reader.read(UInt64.self)!
        let reserved = reader.read(UInt64.self)!
        guard flags == 0, reserved == 0 else { throw .corruptHeader(path: path, reason: "reserved header fields are not zero") }
        guard fileLength == UInt64(file.count) else {
            throw .truncated(path: path, expected: Int(clamping: fileLength), actual: file.count)
        }
        guard indexOffset >= UInt64(FileHeader.size), indexOffset <= fileLength,
            metadataLength <= fileLength - indexOffset, tableLength == fileLength - indexOffset - metadataLength
        else {
            throw .corruptHeader(
                path: path,
                reason: "index at \(indexOffset) with \(metadataLength) metadata and \(tableLength) table bytes "
                    + "does not end at the file's end (\(fileLength))")
        }
        let index = UnsafeRawBufferPointer(rebasing: file[Int(indexOffset)..<file.count])
        guard FileHeader.checksum(headerPrefix: Array(file[0..<48]), index: index) == indexChecksum else {
            throw .indexChecksumMismatch(path: path)
        }
        let metadataBytes = UnsafeRawBufferPointer(rebasing: index[0..<Int(metadataLength)])
        let metadata: WeightMetadata
        do {
            metadata = try JSONDecoder().decode(WeightMetadata.self, from: Data(metadataBytes))
        } catch {
            throw .badMetadata(path: path, reason: Self.describe(error))
        }
        let tableBytes = UnsafeRawBufferPointer(rebasing: index[Int(metadataLength)...])
        let tensors = try TensorTable.decode(tableBytes, path: path)
        try checkPlacement(tensors, dataEnd: Int(indexOffset), path: path)
        return (metadata, tensors)
    }

    /// Names unique; data inside the data section; raw data aligned; no two tensors sharing a byte.
    private static func checkPlacement(_ tensors: [TensorInfo], dataEnd: Int, path: String) throws(FormatError) {
        var seen = Set<String>()
        var extents: [(start: Int, end: Int, name: String)] = []
        for tensor in tensors {
            guard seen.insert(tensor.name).inserted else {
                throw .badTensorEntry(path: path, tensor: tensor.name, reason: "appears twice in the tensor table")
            }
            guard !tensor.chunks.isEmpty else { continue }
            let start = tensor.dataOffset
            let (end, overflow) = start.addingReportingOverflow(tensor.storedByteCount)
            guard !overflow, start >= FileHeader.size, end <= dataEnd else {
                throw .badTensorEntry(
                    path: path, tensor: tensor.name,
                    reason: "data at \(start)..<\(overflow ? Int.max : end) lies outside the data section \(FileHeader.size)..<\(dataEnd)")
            }
            if tensor.storage == .raw, start % WeightFileWriter.minimumAlignment != 0 {
                throw .badTensorEntry(
                    path: path, tensor: tensor.name,
                    reason: "raw data offset \(start) is not aligned to \(WeightFileWriter.minimumAlignment) bytes")
            }
            extents.append((start, end, tensor.name))
        }
        extents.sort { $0.start < $1.start }
        for (previous, next) in zip(extents, extents.dropFirst()) where next.start < previous.end {
            throw .overlappingTensors(path: path, first: previous.name, second: next.name)
        }
    }

    private static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, let context):
            "missing field '\((context.codingPath + [key]).map(\.stringValue).joined(separator: "."))'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            "field '\(context.codingPath.map(\.stringValue).joined(separator: "."))': \(context.debugDescription)"
        case DecodingError.dataCorrupted(let context):
            "\(context.debugDescription)"
        default:
            "\(error)"
        }
    }
}

/// Decoded tensor bytes: either a view into a `WeightFile`'s mapping (kept alive through `owner`) or a buffer of
/// decompressed bytes freed when this object is. The bytes are reached only inside `withUnsafeBytes`, so they can
/// never outlive their owner.
public final class TensorBytes: @unchecked Sendable {
    // @unchecked: immutable after init; an owned buffer is never shared for writing.
    private let buffer: UnsafeRawBufferPointer
    private let owner: WeightFile?
    private let ownsBuffer: Bool

    public var count: Int { buffer.count }

    public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(buffer) }
    }

    /// A copy of the bytes.
    public var array: [UInt8] { withUnsafeBytes { Array($0) } }

    init(owner: WeightFile, view: UnsafeRawBufferPointer) {
        self.buffer = view
        self.owner = owner
        self.ownsBuffer = false
    }

    init(owned: UnsafeMutableRawBufferPointer) {
        self.buffer = UnsafeRawBufferPointer(owned)
        self.owner = nil
        self.ownsBuffer = true
    }

    deinit {
        if ownsBuffer { UnsafeMutableRawPointer(mutating: buffer.baseAddress)?.deallocate() }
    }
}
