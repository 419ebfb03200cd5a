/// The fixed 64-byte header at the start of every `.panda` file (docs/format.md, "Header").
struct FileHeader: Equatable {
    static let size = 64
    static let magic: [UInt8] = [0x89, 0x50, 0x41, 0x4E, 0x44, 0x41, 0x0D, 0x0A]  // "\x89PANDA\r\n"
    static let currentVersion: UInt32 = 1

    var version: UInt32 = currentVersion
    var fileLength: UInt64
    var indexOffset: UInt64
    var metadataLength: UInt64
    var tableLength: UInt64
    var indexChecksum: UInt64

    /// Header bytes; the checksum field is written as given (zero while computing the checksum).
    func encoded() -> [UInt8] {
        var out = ByteWriter()
        out.append(Self.magic)
        out.append(version)
        out.append(UInt32(0))  // flags, reserved
        out.append(fileLength)
        out.append(indexOffset)
        out.append(metadataLength)
        out.append(tableLength)
        out.append(indexChecksum)
        out.append(UInt64(0))  // reserved
        return out.bytes
    }

    /// XXH64 of the first 48 header bytes followed by the metadata and tensor table.
    static func checksum(headerPrefix: [UInt8], index: UnsafeRawBufferPointer) -> UInt64 {
        var state = XXH64()
        headerPrefix[0..<48].withUnsafeBytes { state.update($0) }
        state.update(index)
        return state.finalize()
    }
}

/// How a tensor's bytes are stored.
public enum Storage: UInt8, Sendable, CustomStringConvertible {
    /// Contiguous, aligned, memory-mapped without copies.
    case raw = 0
    /// Split into chunks, each a zstd frame (or kept raw when it does not compress).
    case zstd = 1

    public var description: String { self == .raw ? "raw" : "zstd" }
}

/// One chunk of a tensor's data.
public struct Chunk: Sendable, Equatable {
    public enum Encoding: UInt8, Sendable { case stored = 0, zstd = 1 }
    /// Absolute file offset of the chunk's stored bytes.
    public var offset: Int
    public var storedLength: Int
    public var encoding: Encoding
    /// XXH64 of the stored bytes.
    public var checksum: UInt64
}

/// A tensor table entry: everything needed to find, check and decode one tensor.
public struct TensorInfo: Sendable, Equatable {
    public var name: String
    public var dtype: DType
    public var shape: [Int]
    public var storage: Storage
    /// Byte-plane shuffled before compression (zstd storage of 2- and 4-byte dtypes only).
    public var shuffled: Bool
    /// Decoded size in bytes.
    public var byteCount: Int
    /// Decoded bytes per chunk (the last chunk may be shorter).
    public var chunkBytes: Int
    public var chunks: [Chunk]

    public var elementCount: Int { shape.reduce(1, *) }
    public var dataOffset: Int { chunks.first?.offset ?? 0 }
    public var storedByteCount: Int { chunks.reduce(0) { $0 + $1.storedLength } }

    /// Decoded length of chunk `index`.
    public func decodedLength(ofChunk index: Int) -> Int {
        min(chunkBytes, byteCount - index * chunkBytes)
    }
}

/// Little-endian serialization of the tensor table (docs/format.md, "Tensor table").
enum TensorTable {
    static let maxRank = 8
    static let maxNameBytes = 1024

    static func encode(_ tensors: [TensorInfo]) -> [UInt8] {
        var out = ByteWriter()
        out.append(UInt32(tensors.count))
        for tensor in tensors {
            let name = Array(tensor.name.utf8)
            out.append(UInt16(name.count))
            out.append(name)
            out.append(tensor.dtype.rawValue)
            out.append(tensor.storage.rawValue)
            out.append(UInt8(tensor.shape.count))
            out.append(UInt8(tensor.shuffled ? 1 : 0))
            for dim in tensor.shape { out.append(UInt64(dim)) }
            out.append(UInt64(tensor.dataOffset))
            out.append(UInt64(tensor.byteCount))
            out.append(UInt32(tensor.chunkBytes))
            out.append(UInt32(tensor.chunks.count))
            for chunk in tensor.chunks {
                out.append(UInt32(chunk.storedLength))
                out.append(chunk.encoding.rawValue)
                out.append([0, 0, 0] as [UInt8])
                out.append(chunk.checksum)
            }
        }
        return out.bytes
    }

    /// Parses and checks every entry on its own; cross-entry checks (bounds, overlap) are the reader's.
    static func decode(_ bytes: UnsafeRawBufferPointer, path: String) throws(FormatError) -> [TensorInfo] {
        var reader = ByteReader(bytes)
        func fail(_ tensor: String, _ reason: String) -> FormatError {
            .badTensorEntry(path: path, tensor: tensor, reason: reason)
        }
        guard let count = reader.read(UInt32.self) else {
            throw .corruptHeader(path: path, reason: "the tensor table is shorter than its 4-byte count")
        }
        // Each entry needs at least 31 bytes, so a count larger than that allows is a lie told by a damaged file.
        guard Int(count) <= bytes.count / 31 else {
            throw .corruptHeader(path: path, reason: "the tensor table claims \(count) tensors in \(bytes.count) bytes")
        }
        var tensors: [TensorInfo] = []
        tensors.reserveCapacity(Int(count))
        for index in 0..<Int(count) {
            let placeholder = "#\(index)"
            guard let nameLength = reader.read(UInt16.self), let nameBytes = reader.readBytes(Int(nameLength)) else {
                throw fail(placeholder, "the table ends inside this entry's name")
            }
            guard nameLength > 0, Int(nameLength) <= maxNameBytes,
                let name = String(validating: nameBytes, as: UTF8.self), !name.contains("\0")
            else { throw fail(placeholder, "the name is empty, longer than \(maxNameBytes) bytes or not valid UTF-8") }
            guard let dtypeCode = reader.read(UInt8.self), let storageCode = reader.read(UInt8.self),
                let rank = reader.read(UInt8.self), let shuffleFlag = reader.read(UInt8.self)
            else { throw fail(name, "the table ends inside this entry") }
            guard let dtype = DType(rawValue: dtypeCode) else { throw fail(name, "unknown dtype code \(dtypeCode)") }
            guard let storage = Storage(rawValue: storageCode) else { throw fail(name, "unknown storage code \(storageCode)") }
            guard Int(rank) <= maxRank else { throw fail(name, "rank \(rank) exceeds the maximum of \(maxRank)") }
            guard shuffleFlag <= 1 else { throw fail(name, "unknown shuffle flag \(shuffleFlag)") }
            var shape: [Int] = []
            var elements = 1
            for _ in 0..<rank {
                guard let dim = reader.read(UInt64.self) else { throw fail(name, "the table ends inside the shape") }
                guard dim <= UInt64(Int.max) else { throw fail(name, "dimension \(dim) is too large") }
                let (product, overflow) = elements.multipliedReportingOverflow(by: Int(dim))
                guard !overflow else { throw fail(name, "the shape's element count overflows") }
                elements = product
                shape.append(Int(dim))
            }
            guard let dataOffset = reader.read(UInt64.self), let byteCount = reader.read(UInt64.self),
                let chunkBytes = reader.read(UInt32.self), let chunkCount = reader.read(UInt32.self)
            else { throw fail(name, "the table ends inside this entry") }
            guard let expectedBytes = dtype.byteCount(elements: elements) else {
                throw fail(name, "\(elements) elements is not a whole number of \(dtype) blocks of \(dtype.blockElements)")
            }
            if let problem = dtype.shapeProblem(shape) { throw fail(name, problem) }
            guard byteCount == UInt64(expectedBytes) else {
                throw fail(name, "shape \(shape) of \(dtype) needs \(expectedBytes) bytes but the entry records \(byteCount)")
            }
            guard chunkBytes > 0, Int(chunkBytes) % dtype.blockBytes == 0 else {
                throw fail(name, "chunk size \(chunkBytes) is not a positive multiple of the \(dtype) block size \(dtype.blockBytes)")
            }
            // Not (bytes + chunk - 1) / chunk: a hostile byte count near 2^63 would overflow.
            let expectedChunks = expectedBytes / Int(chunkBytes) + (expectedBytes % Int(chunkBytes) == 0 ? 0 : 1)
            guard Int(chunkCount) == expectedChunks else {
                throw fail(name, "\(chunkCount) chunks recorded, \(expectedChunks) expected for \(expectedBytes) bytes")
            }
            if shuffleFlag == 1 {
                guard storage == .zstd, dtype.blockBytes == 2 || dtype.blockBytes == 4, dtype.blockElements == 1 else {
                    throw fail(name, "byte-plane shuffling applies only to zstd-stored 2- or 4-byte dtypes")
                }
            }
            guard dataOffset <= UInt64(Int.max / 2) else { throw fail(name, "data offset \(dataOffset) is out of range") }
            var info = TensorInfo(
                name: name, dtype: dtype, shape: shape, storage: storage, shuffled: shuffleFlag == 1,
                byteCount: expectedBytes, chunkBytes: Int(chunkBytes), chunks: [])
            // Before reserving room: a count the table cannot hold would otherwise reserve up to 128 GiB.
            guard Int(chunkCount) <= reader.remaining / 16 else {
                throw fail(name, "\(chunkCount) chunks recorded but the table holds only \(reader.remaining) more bytes")
            }
            info.chunks.reserveCapacity(Int(chunkCount))
            var offset = Int(dataOffset)
            for chunkIndex in 0..<Int(chunkCount) {
                guard let stored = reader.read(UInt32.self), let encodingCode = reader.read(UInt8.self),
                    let padding = reader.readBytes(3), let checksum = reader.read(UInt64.self)
                else { throw fail(name, "the table ends inside chunk \(chunkIndex)") }
                guard let encoding = Chunk.Encoding(rawValue: encodingCode), padding.allSatisfy({ $0 == 0 }) else {
                    throw fail(name, "chunk \(chunkIndex) has an unknown encoding \(encodingCode) or nonzero padding")
                }
                let decoded = info.decodedLength(ofChunk: chunkIndex)
                switch (storage, encoding) {
                case (.raw, .zstd):
                    throw fail(name, "chunk \(chunkIndex) is compressed but the tensor is stored raw")
                case (_, .stored) where Int(stored) != decoded:
                    throw fail(name, "chunk \(chunkIndex) is stored uncompressed in \(stored) bytes, expected \(decoded)")
                case (_, .zstd) where stored == 0:
                    throw fail(name, "chunk \(chunkIndex) is an empty zstd frame")
                default: break
                }
                info.chunks.append(Chunk(offset: offset, storedLength: Int(stored), encoding: encoding, checksum: checksum))
                offset += Int(stored)
            }
            tensors.append(info)
        }
        guard reader.isAtEnd else {
            throw .corruptHeader(path: path, reason: "\(reader.remaining) stray bytes after the last tensor entry")
        }
        return tensors
    }
}

/// Appends little-endian integers and byte arrays.
struct ByteWriter {
    var bytes: [UInt8] = []

    mutating func append<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func append(_ raw: [UInt8]) { bytes.append(contentsOf: raw) }
}

/// Bounds-checked little-endian reads: every read returns nil rather than running past the end.
struct ByteReader {
    private let buffer: UnsafeRawBufferPointer
    private(set) var position = 0

    init(_ buffer: UnsafeRawBufferPointer) { self.buffer = buffer }

    var remaining: Int { buffer.count - position }
    var isAtEnd: Bool { position == buffer.count }

    mutating func read<T: FixedWidthInteger>(_: T.Type) -> T? {
        guard remaining >= MemoryLayout<T>.size else { return nil }
        defer { position += MemoryLayout<T>.size }
        return T(littleEndian: buffer.loadUnaligned(fromByteOffset: position, as: T.self))
    }

    mutating func readBytes(_ count: Int) -> UnsafeRawBufferPointer? {
        guard count >= 0, remaining >= count else { return nil }
        defer { position += count }
        return UnsafeRawBufferPointer(rebasing: buffer[position..<(position + count)])
    }
}
