import Crypto
import Foundation
import PandaFormat
import PandaKernels

/// Carries out a `ConversionPlan`: streams every tensor into a new `.panda` file (converting dtypes chunk by
/// chunk, so memory stays bounded by one chunk), hashes the source files for provenance on a second thread
/// that follows the conversion through them,
/// and reopens the result to check it holds exactly what the plan promised.
public enum Converter {
    public struct Summary: Sendable {
        public var tensors: Int
        public var inputBytes: Int
        public var outputBytes: Int
        public var fileBytes: Int
        public var seconds: Double
    }

    public static let version = "panda-convert " + PandaVersion.string

    /// `progress(done, total)` is called with input bytes processed.
    public static func run(
        _ plan: ConversionPlan, to path: String, writerOptions: WeightFileWriter.Options = .init(),
        progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> Summary {
        let started = Date()
        let sourceFiles = plan.inputs.files + plan.tokenizers.values.sorted()
        let hashing = try SourceHasher(files: sourceFiles)
        hashing.start()
        defer { hashing.cancel() }

        let writer = try WeightFileWriter(path: path, options: writerOptions)
        let total = plan.inputBytes
        var done = 0
        // In the order the bytes lie in the source files, so the hasher can follow the conversion through them.
        let fileIndex = Dictionary(sourceFiles.enumerated().map { ($1, $0) }, uniquingKeysWith: { first, _ in first })
        let ordered = plan.tensors.sorted { a, b in
            (fileIndex[a.source.path] ?? Int.max, a.source.storageOffset) < (fileIndex[b.source.path] ?? Int.max, b.source.storageOffset)
        }
        for tensor in ordered {
            let sourceBytes = tensor.source.elementCount * tensor.source.dtype.size
            if let file = fileIndex[tensor.source.path] { hashing.conversionReached(file: file, offset: tensor.source.storageOffset) }
            try write(tensor, to: writer) { fraction in progress(done + Int(Double(sourceBytes) * fraction), total) }
            done += sourceBytes
            progress(done, total)
        }
        hashing.conversionFinished()

        var tokenizers: [String: EmbeddedFile] = [:]
        for (role, tokenizerPath) in plan.tokenizers {
            guard let data = FileManager.default.contents(atPath: tokenizerPath) else { throw ConvertError.inputNotFound(path: tokenizerPath) }
            tokenizers[role] = EmbeddedFile(name: (tokenizerPath as NSString).lastPathComponent, data: data)
        }
        var options: [String: JSONValue] = ["compress": .bool(plan.options.compress)]
        if let dtype = plan.options.dtype { options["dtype"] = .string(dtype.description) }
        let metadata = WeightMetadata(
            family: plan.recipe.family, config: plan.config, tokenizers: tokenizers,
            provenance: Provenance(converter: version, recipe: plan.recipe.name, sources: try hashing.wait(), options: options))
        try writer.finish(metadata: metadata)

        let written = try WeightFile(path: path)
        let writtenBytes = written.tensors.reduce(0) { $0 + $1.byteCount }
        guard written.tensors.count == plan.tensors.count, writtenBytes == plan.outputBytes else {
            throw ConvertError.verificationFailed(
                path: path,
                reason: "holds \(written.tensors.count) tensors and \(writtenBytes) bytes; the plan has \(plan.tensors.count) and \(plan.outputBytes)")
        }
        return Summary(
            tensors: plan.tensors.count, inputBytes: total, outputBytes: writtenBytes, fileBytes: written.fileSize,
            seconds: Date().timeIntervalSince(started))
    }

    private static func write(_ tensor: PlannedTensor, to writer: WeightFileWriter, progress: (Double) -> Void) throws {
        let source = tensor.source
        let shape = source.shape
        // Same dtype and contiguous: the stored bytes are the source bytes.
        if tensor.merge == nil, source.dtype.pandaDType == tensor.dtype, let bytes = source.contiguousBytes {
            // Read straight into the writer's chunk: large sequential reads beat faulting the mapping in page by page,
            // and a file that shrinks underneath is an error here rather than a SIGBUS.
            let fileOffset = bytes.baseAddress! - source.file.bytes.baseAddress!
            let reader = try SourceFile(path: source.path)
            try writer.add(name: tensor.target, dtype: tensor.dtype, shape: shape, storage: tensor.storage, shuffle: tensor.shuffle) { buffer, offset in
                guard try reader.read(into: buffer, at: fileOffset + offset) == buffer.count else {
                    throw ConvertError.badTensor(path: source.path, tensor: source.name, reason: "the file changed while it was being converted")
                }
                progress(Double(offset + buffer.count) / Double(max(bytes.count, 1)))
            }
            return
        }
        guard source.dtype.isFloatingPoint, tensor.dtype.isFloatingPoint else {
            throw ConvertError.badTensor(path: source.path, tensor: source.name, reason: "cannot convert \(source.dtype) to \(tensor.dtype)")
        }
        // Otherwise widen each chunk's elements to f32 and narrow them to the stored dtype.
        let dtype = tensor.dtype
        var scratch: [Float] = []
        let lora = try tensor.merge.map { try LoRAUpdate($0, weight: source) }
        // Strided views touch their storage out of order, so its pages are released once the tensor is done.
        defer { source.file.release(source.storageRange) }
        try writer.add(name: tensor.target, dtype: dtype, shape: shape, storage: tensor.storage, shuffle: tensor.shuffle) { buffer, offset in
            let first = offset / dtype.blockBytes * dtype.blockElements
            let count = buffer.count / dtype.blockBytes * dtype.blockElements
            if scratch.count < count { scratch = [Float](repeating: 0, count: count) }
            try scratch.withUnsafeMutableBufferPointer { floats in
                source.readFloats(from: first, count: count, into: floats.baseAddress!)
                lora?.add(to: floats.baseAddress!, from: first, count: count)
                if dtype.isQuantized, let bad = floats[0..<count].firstIndex(where: { !$0.isFinite }) {
                    throw ConvertError.badTensor(path: source.path, tensor: source.name, reason: "element \(first + bad) is not finite and cannot be quantized")
                }
                dtype.encode(floats.baseAddress!, count: count, columns: shape.last, into: buffer)
            }
            progress(Double(first + count) / Double(max(source.elementCount, 1)))
        }
    }
}

/// W + scale · B·A for a range of W's elements, computed in f32 a block of rows at a time with OpenBLAS.
private final class LoRAUpdate {
    private let a: [Float]  // [r, columns]
    private let b: SourceTensor  // [rows, r]
    private let rank: Int
    private let columns: Int
    private let scale: Float
    private var bRows: [Float] = []
    private var product: [Float] = []

    init(_ merge: LoRAMerge, weight: SourceTensor) throws {
        guard weight.shape.count == 2, merge.a.shape.count == 2, merge.b.shape.count == 2,
            merge.a.shape[1] == weight.shape[1], merge.b.shape[0] == weight.shape[0], merge.a.shape[0] == merge.b.shape[1]
        else {
            throw ConvertError.badTensor(
                path: merge.a.path, tensor: merge.a.name,
                reason: "LoRA factors \(merge.b.shape)·\(merge.a.shape) do not fit the weight \(weight.name) \(weight.shape)")
        }
        rank = merge.a.shape[0]
        columns = weight.shape[1]
        scale = merge.scale
        b = merge.b
        a = [Float](unsafeUninitializedCapacity: merge.a.elementCount) { buffer, initialized in
            merge.a.readFloats(from: 0, count: merge.a.elementCount, into: buffer.baseAddress!)
            initialized = merge.a.elementCount
        }
    }

    /// Adds the update to `count` row-major elements of W starting at element `first`.
    func add(to weights: UnsafeMutablePointer<Float>, from first: Int, count: Int) {
        guard count > 0 else { return }
        let firstRow = first / columns
        let rows = (first + count - 1) / columns - firstRow + 1
        if bRows.count < rows * rank { bRows = [Float](repeating: 0, count: rows * rank) }
        if product.count < rows * columns { product = [Float](repeating: 0, count: rows * columns) }
        bRows.withUnsafeMutableBufferPointer { b.readFloats(from: firstRow * rank, count: rows * rank, into: $0.baseAddress!) }
        // product[rows × columns] = scale · B[rows × r] · A[r × columns]
        BLAS.sgemm(m: rows, n: columns, k: rank, alpha: scale, a: bRows, b: a, c: &product)
        let skip = first - firstRow * columns
        for i in 0..<count { weights[i] += product[skip + i] }
    }
}

/// SHA-256 of every source file for provenance, on a second thread that follows the conversion through the
/// files: it hashes each file front to back through a mapping, but only up to where the conversion has got, so
/// it reads pages the conversion has just brought into the page cache instead of reading every file a second
/// time, and the conversion waits when it gets too far ahead (beyond that the pages could be evicted again).
private final class SourceHasher: @unchecked Sendable {
    // @unchecked: the mutable state is guarded by `condition`.
    private let files: [MappedFile]
    private let condition = NSCondition()
    /// Per file, how far the hasher may go (the start of the tensor the conversion is on; Int.max once past it).
    private var permitted: [Int]
    /// The file and offset the hasher has reached.
    private var position = (file: 0, offset: 0)
    private var cancelled = false
    private var result: Result<[Provenance.Source], any Error>?

    /// How far the conversion may run ahead of the hasher in the file they share.
    private static let maximumLead = 1 << 30
    private static let piece = 8 << 20

    init(files paths: [String]) throws {
        files = try paths.map { path in
            do { return try MappedFile(path: path) } catch { throw ConvertError.inputNotFound(path: path) }
        }
        permitted = [Int](repeating: 0, count: paths.count)
    }

    func start() {
        Thread.detachNewThread { [self] in
            let outcome = Result { try files.indices.map(hash) }
            condition.lock()
            result = outcome
            condition.broadcast()
            condition.unlock()
        }
    }

    /// The conversion is about to read `file` from `offset` on: everything before it may be hashed. Waits while
    /// the hasher is more than `maximumLead` bytes behind in this file.
    func conversionReached(file: Int, offset: Int) {
        condition.lock()
        defer { condition.unlock() }
        for earlier in 0..<file { permitted[earlier] = Int.max }
        permitted[file] = max(permitted[file], offset)
        condition.broadcast()
        while result == nil, position.file == file, offset - position.offset > Self.maximumLead { condition.wait() }
    }

    func conversionFinished() {
        condition.lock()
        permitted = permitted.map { _ in Int.max }
        condition.broadcast()
        condition.unlock()
    }

    /// Stops the hasher early (after a failed conversion).
    func cancel() {
        condition.lock()
        cancelled = true
        permitted = permitted.map { _ in Int.max }
        condition.broadcast()
        condition.unlock()
    }

    func wait() throws -> [Provenance.Source] {
        condition.lock()
        defer { condition.unlock() }
        while result == nil { condition.wait() }
        return try result!.get()
    }

    private func hash(_ index: Int) throws -> Provenance.Source {
        let file = files[index]
        var hasher = SHA256()
        var offset = 0
        while offset < file.count {
            condition.lock()
            position = (index, offset)
            condition.broadcast()
            while permitted[index] <= offset { condition.wait() }
            let end = min(file.count, permitted[index], offset + Self.piece)
            let stop = cancelled
            condition.unlock()
            if stop { throw CancellationError() }
            let range = offset..<end
            hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: file.bytes[range]))
            file.release(range)  // hashed pages leave this process's resident set
            offset = end
        }
        condition.lock()
        position = (index + 1, 0)
        condition.broadcast()
        condition.unlock()
        let digest = hasher.finalize().map { String(format: "%02x", $0) }.joined()
        return Provenance.Source(name: (file.path as NSString).lastPathComponent, bytes: file.count, sha256: digest)
    }
}

/// A checkpoint file read with pread(2), for passes that stream through it once.
private final class SourceFile {
    let path: String
    private let descriptor: Int32

    init(path: String) throws {
        self.path = path
        descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw ConvertError.inputNotFound(path: path) }
        _ = posix_fadvise(descriptor, 0, 0, Int32(POSIX_FADV_SEQUENTIAL))
    }

    deinit { close(descriptor) }

    /// Fills `buffer` from `offset` (fewer bytes only at the end of the file); retries interrupted reads.
    func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        var done = 0
        while done < buffer.count {
            let count = pread(descriptor, buffer.baseAddress! + done, buffer.count - done, off_t(offset + done))
            if count < 0 {
                if errno == EINTR { continue }
                throw ConvertError.unreadableCheckpoint(path: path, reason: String(cString: strerror(errno)))
            }
            if count == 0 { break }
            done += count
        }
        return done
    }
}
