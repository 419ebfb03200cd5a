import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Writes a `.panda` file tensor by tensor with memory bounded by one chunk, never by the model.
///
/// The file is built under a temporary name beside the destination and its header — the only place the signature
/// is written — goes in last; `finish` then syncs and renames it into place. A writer killed at any moment leaves at
/// most a `NAME.panda.tmp-*` file that no reader accepts, and never a partial file under the real name.
public final class WeightFileWriter {
    /// Every raw tensor starts on a multiple of this many bytes (enough for any SIMD load).
    public static let minimumAlignment = 64
    /// Raw tensors at least this large start on a page boundary so they map cleanly.
    public static let pageAlignmentThreshold = 1 << 20
    public static let pageSize = 4096

    public struct Options: Sendable {
        /// Decoded bytes per chunk of a zstd-stored tensor (rounded down to whole dtype blocks).
        public var zstdChunkBytes = 1 << 20
        /// Bytes per checksummed chunk of a raw tensor.
        public var rawChunkBytes = 4 << 20
        public var zstdLevel: Int32 = 3
        public init() {}
    }

    public let path: String
    public let options: Options
    private let temporaryPath: String
    private var descriptor: Int32
    private var position = 0
    private var tensors: [TensorInfo] = []
    private var names = Set<String>()
    private var finished = false
    private let codec = ZstdCodec()

    public init(path: String, options: Options = Options()) throws(FormatError) {
        self.path = path
        self.options = options
        temporaryPath = "\(path).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        descriptor = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw .writeFailed(path: path, reason: String(cString: strerror(errno))) }
        do {
            // A zero header: until `finish` replaces it, the file has no signature and cannot be mistaken for a valid one.
            try writeAll([UInt8](repeating: 0, count: FileHeader.size))
        } catch {
            abandon()
            throw error
        }
    }

    deinit { if !finished { abandon() } }

    /// Adds a tensor whose bytes are produced chunk by chunk: `fill(buffer, byteOffset)` must fill `buffer` with the
    /// tensor's decoded bytes starting at `byteOffset`. Buffers are at most one chunk long.
    public func add(
        name: String, dtype: DType, shape: [Int], storage: Storage = .raw, shuffle: Bool = false,
        fill: (UnsafeMutableRawBufferPointer, Int) throws -> Void
    ) throws {
        try append(name: name, dtype: dtype, shape: shape, storage: storage, shuffle: shuffle) { staging, offset in
            try fill(staging, offset)
            return UnsafeRawBufferPointer(staging)
        }
    }

    /// Adds a tensor from bytes already in memory (or mapped from another file), read in place: nothing is copied
    /// but the bytes written.
    public func add(
        name: String, dtype: DType, shape: [Int], storage: Storage = .raw, shuffle: Bool = false,
        bytes: UnsafeRawBufferPointer
    ) throws {
        let expected = dtype.byteCount(elements: shape.reduce(1, *))
        guard expected == bytes.count else {
            throw FormatError.invalidInput(
                tensor: name, reason: "shape \(shape) of \(dtype) needs \(expected.map(String.init) ?? "a whole number of blocks, not") bytes, got \(bytes.count)")
        }
        try append(name: name, dtype: dtype, shape: shape, storage: storage, shuffle: shuffle) { staging, offset in
            UnsafeRawBufferPointer(rebasing: bytes[offset..<(offset + staging.count)])
        }
    }

    /// The chunk loop: `chunk(staging, byteOffset)` returns the decoded bytes of the chunk at `byteOffset`, either
    /// written into `staging` (which is exactly the chunk's length) or found elsewhere.
    private func append(
        name: String, dtype: DType, shape: [Int], storage: Storage, shuffle: Bool,
        chunk: (UnsafeMutableRawBufferPointer, Int) throws -> UnsafeRawBufferPointer
    ) throws {
        guard !finished else { preconditionFailure("add after finish") }
        guard !name.isEmpty, name.utf8.count <= TensorTable.maxNameBytes, !name.contains("\0") else {
            throw FormatError.invalidInput(tensor: name, reason: "a name must be 1 to \(TensorTable.maxNameBytes) bytes of UTF-8")
        }
        guard names.insert(name).inserted else { throw FormatError.invalidInput(tensor: name, reason: "added twice") }
        guard shape.count <= TensorTable.maxRank, shape.allSatisfy({ $0 >= 0 }) else {
            throw FormatError.invalidInput(tensor: name, reason: "shape \(shape) must have at most \(TensorTable.maxRank) non-negative dimensions")
        }
        let elements = shape.reduce(1, *)
        if let problem = dtype.shapeProblem(shape) { throw FormatError.invalidInput(tensor: name, reason: problem) }
        guard let byteCount = dtype.byteCount(elements: elements) else {
            throw FormatError.invalidInput(tensor: name, reason: "\(elements) elements do not fill whole \(dtype) blocks")
        }
        let shuffleWidth = dtype.blockBytes
        if shuffle, storage != .zstd || dtype.isQuantized || (shuffleWidth != 2 && shuffleWidth != 4) {
            throw FormatError.invalidInput(tensor: name, reason: "byte-plane shuffling needs zstd storage and a 2- or 4-byte dtype")
        }
        let requested = storage == .raw ? options.rawChunkBytes : options.zstdChunkBytes
        // A chunk holds whole units that encode on their own: blocks, or for the interleaved dtypes whole groups of 8 rows.
        let unit = dtype.rowGroup > 1 ? dtype.rowGroup * (shape.last! / dtype.blockElements) * dtype.blockBytes : dtype.blockBytes
        let chunkBytes = max(unit, requested / unit * unit)

        if storage == .raw {
            let alignment = byteCount >= Self.pageAlignmentThreshold ? Self.pageSize : Self.minimumAlignment
            try pad(toMultipleOf: alignment)
        }
        var info = TensorInfo(
            name: name, dtype: dtype, shape: shape, storage: storage, shuffled: shuffle,
            byteCount: byteCount, chunkBytes: chunkBytes, chunks: [])

        let decoded = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 64)
        defer { decoded.deallocate() }
        let scratchSize = storage == .zstd ? ZstdCodec.compressBound(chunkBytes) + chunkBytes : 0
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(scratchSize, 1), alignment: 64)
        defer { scratch.deallocate() }

        var offset = 0
        while offset < byteCount {
            let length = min(chunkBytes, byteCount - offset)
            let piece = try chunk(UnsafeMutableRawBufferPointer(rebasing: decoded[0..<length]), offset)
            precondition(piece.count == length, "a chunk source returned \(piece.count) bytes for a chunk of \(length)")
            var stored = piece
            var encoding = Chunk.Encoding.stored
            if storage == .zstd {
                var input = piece
                if shuffle {
                    let shuffled = UnsafeMutableRawBufferPointer(rebasing: scratch[0..<length])
                    BytePlanes.shuffle(input, into: shuffled, width: shuffleWidth)
                    input = UnsafeRawBufferPointer(shuffled)
                }
                let frameSpace = UnsafeMutableRawBufferPointer(rebasing: scratch[chunkBytes...])
                let frameLength = codec.compress(input, into: frameSpace, level: options.zstdLevel)
                if frameLength < length {
                    stored = UnsafeRawBufferPointer(rebasing: frameSpace[0..<frameLength])
                    encoding = .zstd
                }
                // A chunk that does not shrink is kept as it came (unshuffled), so reading it needs no work at all.
            }
            info.chunks.append(
                Chunk(offset: position, storedLength: stored.count, encoding: encoding, checksum: XXH64.hash(stored)))
            try writeAll(stored)
            offset += length
        }
        tensors.append(info)
    }

    /// Writes the metadata, tensor table and header, syncs, and moves the file to its final name.
    public func finish(metadata: WeightMetadata) throws {
        guard !finished else { preconditionFailure("finish called twice") }
        do {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            let metadataBytes = [UInt8](try encoder.encode(metadata))
            let table = TensorTable.encode(tensors)
            let indexOffset = position
            try writeAll(metadataBytes)
            try writeAll(table)
            var header = FileHeader(
                fileLength: UInt64(position), indexOffset: UInt64(indexOffset),
                metadataLength: UInt64(metadataBytes.count), tableLength: UInt64(table.count), indexChecksum: 0)
            header.indexChecksum = (metadataBytes + table).withUnsafeBytes {
                FileHeader.checksum(headerPrefix: header.encoded(), index: $0)
            }
            // Data and index must be durable before the header makes the file valid, and the header before the rename.
            try sync()
            let headerBytes = header.encoded()
            let written = headerBytes.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
            guard written == headerBytes.count else { throw FormatError.writeFailed(path: path, reason: lastError()) }
            try sync()
            guard close(descriptor) == 0 else { throw FormatError.writeFailed(path: path, reason: lastError()) }
            descriptor = -1
            guard rename(temporaryPath, path) == 0 else { throw FormatError.writeFailed(path: path, reason: lastError()) }
            finished = true
            syncDirectory()
        } catch {
            abandon()
            throw error
        }
    }

    /// Bytes written so far (data only, before the index).
    public var bytesWritten: Int { position }

    // MARK: - Low-level output

    private func writeAll(_ bytes: [UInt8]) throws(FormatError) {
        let result: Result<Void, FormatError> = bytes.withUnsafeBytes { raw in Result { () throws(FormatError) in try writeAll(raw) } }
        try result.get()
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws(FormatError) {
        var done = 0
        while done < bytes.count {
            let result = write(descriptor, bytes.baseAddress! + done, bytes.count - done)
            if result < 0 {
                if errno == EINTR { continue }
                throw .writeFailed(path: path, reason: lastError())
            }
            done += result
        }
        position += bytes.count
    }

    private func pad(toMultipleOf alignment: Int) throws(FormatError) {
        let padding = (alignment - position % alignment) % alignment
        if padding > 0 { try writeAll([UInt8](repeating: 0, count: padding)) }
    }

    private func sync() throws(FormatError) {
        guard fsync(descriptor) == 0 else { throw .writeFailed(path: path, reason: lastError()) }
    }

    private func syncDirectory() {
        let directory = (path as NSString).deletingLastPathComponent
        let fd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if fd >= 0 {
            fsync(fd)
            close(fd)
        }
    }

    private func abandon() {
        if descriptor >= 0 { close(descriptor) }
        descriptor = -1
        unlink(temporaryPath)
        finished = true
    }

    private func lastError() -> String { String(cString: strerror(errno)) }
}
