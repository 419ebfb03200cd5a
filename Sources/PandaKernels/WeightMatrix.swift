import CPandaKernels
import Foundation
import PandaFormat

/// A row-major [rows × columns] weight in any stored dtype, read in place (usually from a memory-mapped
/// .panda file), as PyTorch's `nn.Linear` stores it: `y = W · x` multiplies by its rows.
public struct WeightMatrix: @unchecked Sendable {
    // @unchecked: a read-only view; the owner of the bytes (a WeightFile, or its own rounded copy) outlives it.
    public let dtype: DType
    public let rows: Int
    public let columns: Int
    public let bytes: UnsafeRawBufferPointer
    /// A copy in oneDNN's layout for bf16 or int8 products (`packed(for:threads:pool:)`); nil multiplies the stored weights.
    public private(set) var packed: PackedMatrix?
    /// The allocation `bytes` points into when this matrix is a rounded copy rather than a view of a file.
    private var ownedBytes: OwnedBytes?
    /// Set on `--precision bf16`'s widened weights, so that their products stay widened whatever `BF16Products`
    /// says later (an encoder computes the same way from its first embedding to its last).
    private var alwaysWidens = false

    public init(dtype: DType, rows: Int, columns: Int, bytes: UnsafeRawBufferPointer) {
        precondition([.f32, .f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8].contains(dtype), "no matrix kernels for \(dtype)")
        precondition(!dtype.isQuantized || columns % 32 == 0, "quantized rows must hold whole 32-element blocks")
        precondition(rows % dtype.rowGroup == 0, "\(dtype) needs a multiple of \(dtype.rowGroup) rows")
        precondition(bytes.count == rows * Self.rowBytes(dtype, columns), "\(rows)×\(columns) \(dtype) needs \(rows * Self.rowBytes(dtype, columns)) bytes, got \(bytes.count)")
        self.dtype = dtype
        self.rows = rows
        self.columns = columns
        self.bytes = bytes
    }

    /// This weight with a packed copy for `precision` (itself for f32): its matrix–matrix products through
    /// `multiply(count:_:into:outputStride:beta:pool:workspace:)` then run in that precision.
    /// bf16 without oneDNN (see `EncoderPrecision.bf16`) is the weights rounded to a bf16 copy, widened for sgemm.
    public func packed(for precision: EncoderPrecision, threads: Int, pool: ThreadPool) throws -> WeightMatrix {
        switch precision {
        case .f32:
            return self
        case .bf16 where !EncoderPrecision.bf16ThroughOneDNN:
            return roundedToBF16(pool: pool)
        case .bf16, .int8:
            var copy = self
            copy.packed = try PackedMatrix(self, precision: precision, threads: threads, pool: pool)
            return copy
        }
    }

    /// Whether products read `bytes` (false for a oneDNN-packed weight or a rounded copy, whose source bytes are
    /// then no longer needed).
    public var readsStoredBytes: Bool { packed == nil && ownedBytes == nil }

    /// This weight rounded to bf16 (to nearest even) in a copy it owns; itself when it is stored in bf16.
    func roundedToBF16(pool: ThreadPool) -> WeightMatrix {
        guard dtype != .bf16 else {
            var copy = self
            copy.alwaysWidens = true
            return copy
        }
        let storage = OwnedBytes(byteCount: rows * columns * 2)
        let rounded = storage.pointer.assumingMemoryBound(to: UInt16.self)
        forEachTileAsFloats(pool: pool) { tile, range in
            panda_pool_f32_to_bf16(pool.pool, tile, columns, rounded + range.lowerBound * columns, range.count)
        }
        var copy = WeightMatrix(dtype: .bf16, rows: rows, columns: columns, bytes: UnsafeRawBufferPointer(start: storage.pointer, count: storage.byteCount))
        copy.ownedBytes = storage
        copy.alwaysWidens = true
        return copy
    }

    /// Hands `body` the rows widened to f32 a tile of about 16 MB at a time, with the rows each tile holds: copies
    /// into another precision never need the whole matrix in f32.
    func forEachTileAsFloats(pool: ThreadPool, _ body: (UnsafeMutablePointer<Float>, Range<Int>) -> Void) {
        let tileRows = max(1, min(rows, (1 << 22) / columns))
        let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * columns)
        defer { tile.deallocate() }
        var start = 0
        while start < rows {
            let count = min(tileRows, rows - start)
            rowsAsFloats(start..<(start + count), into: tile, pool: pool)
            body(tile, start..<(start + count))
            start += count
        }
    }

    public static func rowBytes(_ dtype: DType, _ columns: Int) -> Int { panda_row_bytes(Int32(dtype.rawValue), columns) }

    /// Whether `multiply` wants its input quantized to q8_0 first (see `Activations`).
    public var takesQuantizedInput: Bool { dtype.isQuantized }

    /// y = W · x over all rows, split across the pool. `x` is `columns` floats, or their q8_0 blocks when
    /// `takesQuantizedInput`.
    public func multiply(_ x: UnsafeRawPointer, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        panda_pool_matvec(pool.pool, Int32(dtype.rawValue), bytes.baseAddress, x, y, rows, columns)
    }

    /// y[i] = W · x[i] for `count` vectors of `columns` floats (y rows of `rows` floats), for f32, f16 and bf16
    /// weights: each vector gets exactly what `multiply(_:into:pool:)` gives it alone, with the weights read once
    /// for all of them.
    public func multiply(vectors count: Int, _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        precondition(!takesQuantizedInput, "\(dtype) weights take quantized activations")
        panda_pool_matvec_many(pool.pool, Int32(dtype.rawValue), bytes.baseAddress, x, count, y, rows, rows, columns)
    }

    /// Writes rows [range) widened to f32 into `out` (range.count × columns floats), split across the pool.
    public func rowsAsFloats(_ range: Range<Int>, into out: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        precondition(range.lowerBound >= 0 && range.upperBound <= rows)
        panda_pool_rows_to_f32(pool.pool, Int32(dtype.rawValue), bytes.baseAddress, out, columns, range.lowerBound, range.upperBound)
    }

    /// An f32 weight's values in place.
    public var floats: UnsafePointer<Float> {
        precondition(dtype == .f32, "\(dtype) weights are not floats in place")
        return bytes.baseAddress!.assumingMemoryBound(to: Float.self)
    }

    /// One row widened to f32, on the calling thread (embedding lookups).
    public func row(_ index: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(index >= 0 && index < rows)
        panda_rows_to_f32(Int32(dtype.rawValue), bytes.baseAddress, out, columns, index, index + 1)
    }
}

/// The q8_0 form of activation rows, for products with block-quantized weights; allocated once per width.
public final class QuantizedActivations: @unchecked Sendable {
    // @unchecked: owned by one decoder, used by one thread at a time.
    public let count: Int
    public let rowCapacity: Int
    public let blocks: UnsafeMutableRawPointer
    /// Per block of every row: its scale as f32 and the sum of its int8 values (for matrix–matrix products).
    let scales: UnsafeMutablePointer<Float>
    let sums: UnsafeMutablePointer<Int32>

    /// Room for `rows` rows of `count` values each (`count` a multiple of 32).
    public init(count: Int, rows: Int = 1) {
        precondition(count % 32 == 0 && rows >= 1)
        self.count = count
        rowCapacity = rows
        blocks = .allocate(byteCount: rows * count / 32 * 34, alignment: 64)
        scales = .allocate(capacity: rows * count / 32)
        sums = .allocate(capacity: rows * count / 32)
    }

    deinit {
        blocks.deallocate()
        scales.deallocate()
        sums.deallocate()
    }

    /// Quantizes one row, for the matrix–vector kernels.
    public func quantize(_ x: UnsafePointer<Float>) { panda_quantize_q8_0(x, blocks, count) }

    /// Quantizes `rows` consecutive rows, for `WeightMatrix.multiply(rows:_:into:)`.
    public func quantize(rows: Int, _ x: UnsafePointer<Float>) {
        precondition(rows >= 1 && rows <= rowCapacity, "\(rows) rows exceed the capacity of \(rowCapacity)")
        panda_quantize_q8_0_rows(x, rows, count, blocks, scales, sums)
    }
}

/// The kernels' worker threads; the calling thread takes a share of every job.
public final class ThreadPool: @unchecked Sendable {
    // @unchecked: the C pool serializes jobs; a ThreadPool is used by one caller at a time.
    let pool: OpaquePointer

    public init(threads: Int = ThreadPool.coreCount) { pool = panda_pool_create(Int32(threads)) }
    deinit { panda_pool_destroy(pool) }

    public var threads: Int { Int(panda_pool_threads(pool)) }

    /// Calls `body(index, slot)` for every index in 0..<count, the indices taken by the pool's threads in turn;
    /// `slot` (0..<threads) names the thread, for scratch memory of its own. OpenBLAS runs single-threaded
    /// meanwhile, so that bodies may call `BLAS`: many small products side by side beat each one split across
    /// OpenBLAS's threads (ImageBind's attention heads, docs/benchmarks.md).
    public func forEach(_ count: Int, _ body: (_ index: Int, _ slot: Int) -> Void) {
        let blasThreads = BLAS.threadCount
        if blasThreads != 1 { BLAS.threadCount = 1 }
        defer { if blasThreads != 1 { BLAS.threadCount = blasThreads } }
        withoutActuallyEscaping(body) { body in
            var body = body
            withUnsafeMutablePointer(to: &body) { context in
                panda_pool_for_each(pool, count, { context, index, slot in
                    context!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(index, Int(slot))
                }, context)
            }
        }
    }

    public static var coreCount: Int { ProcessInfo.processInfo.activeProcessorCount }
}


/// Scratch memory for matrix-matrix products with non-f32 weights, which are widened a tile of rows at a time.
public final class MatrixWorkspace: @unchecked Sendable {
    // @unchecked: used by one thread at a time.
    public let tileFloats: Int
    let tile: UnsafeMutablePointer<Float>

    /// 16 Mi floats (64 MiB, only as much touched as the largest tile used): every tile is one OpenBLAS call that
    /// repacks the activations and hands work to its threads, so few large tiles beat many small ones (OpenBLAS
    /// packs its own cache blocks anyway; docs/benchmarks.md, "Figures behind choices in the code").
    public static let defaultTileFloats = 1 << 24

    public init(tileFloats: Int = defaultTileFloats) {
        self.tileFloats = tileFloats
        tile = .allocate(capacity: tileFloats)
    }

    deinit {
        tile.deallocate()
        for buffer in scratchBuffers { buffer.pointer.deallocate() }
    }

    /// oneDNN products' buffers (activations converted, their scales, int8 sums), kept and grown as needed.
    private var scratchBuffers: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []

    /// Scratch buffer number `slot` with room for at least `bytes`; its earlier contents are not kept.
    func scratch(_ slot: Int, bytes: Int) -> UnsafeMutableRawPointer {
        while scratchBuffers.count <= slot { scratchBuffers.append((.allocate(byteCount: 64, alignment: 64), 64)) }
        if scratchBuffers[slot].bytes < bytes {
            scratchBuffers[slot].pointer.deallocate()
            scratchBuffers[slot] = (.allocate(byteCount: bytes, alignment: 64), bytes)
        }
        return scratchBuffers[slot].pointer
    }
}

extension WeightMatrix {
    /// output[count × rows] = input[count × columns] · Wᵀ (+ beta · output): through oneDNN in the packed copy's
    /// precision when there is one; otherwise through OpenBLAS, f32 weights in place, other dtypes widened to f32 a
    /// tile of rows at a time. On the avx512vnni kernel path, where `BF16Products.current` is `.dot`, bf16 weights
    /// (but for `--precision bf16`'s widened copies) instead multiply the input rounded to bf16 (vdpbf16ps, as
    /// llama.cpp does), without widening. `outputStride` is the distance between output rows (default `rows`).
    public func multiply(
        count: Int, _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, outputStride: Int? = nil,
        beta: Float = 0, pool: ThreadPool, workspace: MatrixWorkspace
    ) {
        let stride = outputStride ?? rows
        if let packed {
            do {
                try packed.multiply(count: count, input, into: output, outputStride: stride, beta: beta, pool: pool, workspace: workspace)
                return
            } catch {
                // A row count oneDNN could not plan (never seen): this product runs in f32 instead, once said.
                Self.warnOnce("\(error); this \(count)-row product runs in f32")
            }
        }
        // The workspace holds the bf16 input (2 bytes per value) when it fits.
        if dtype == .bf16, !alwaysWidens, count * columns <= 2 * workspace.tileFloats,
           panda_pool_matmul_bf16(pool.pool, bytes.baseAddress, input, workspace.tile, output, count, rows, columns, stride, beta) != 0 {
            return
        }
        if dtype == .f32 {
            BLAS.sgemm(m: count, n: rows, k: columns, a: input, b: bytes.baseAddress!.assumingMemoryBound(to: Float.self),
                       transposeB: true, beta: beta, c: output, ldc: stride)
            return
        }
        let tileRows = max(1, min(rows, workspace.tileFloats / columns))
        precondition(tileRows * columns <= workspace.tileFloats, "a workspace tile must hold at least one row of \(columns) floats")
        var start = 0
        while start < rows {
            let tileCount = min(tileRows, rows - start)
            rowsAsFloats(start..<(start + tileCount), into: workspace.tile, pool: pool)
            BLAS.sgemm(m: count, n: tileCount, k: columns, a: input, b: workspace.tile, transposeB: true, beta: beta, c: output + start, ldc: stride)
            start += tileCount
        }
    }
}

extension WeightMatrix {
    private static let warned = NSLock()
    nonisolated(unsafe) private static var warnings: Set<String> = []

    static func warnOnce(_ message: String) {
        warned.lock()
        defer { warned.unlock() }
        if warnings.insert(message).inserted { FileHandle.standardError.write(Data("panda: \(message)\n".utf8)) }
    }
}

extension WeightMatrix {
    /// Whether `multiply(rows:_:into:)` applies: the weight is interleaved (q4_0x8, q8_0x8) and multiplied in int8
    /// without widening.
    public var multipliesQuantizedRows: Bool { dtype.rowGroup > 1 }

    /// output[rows × self.rows] = activations · Wᵀ for the first `rows` rows of `activations` (quantized with
    /// `quantize(rows:_:)`), in int8 arithmetic as llama.cpp does. `outputStride` as for `multiply(count:)`.
    public func multiply(rows count: Int, _ activations: QuantizedActivations, into output: UnsafeMutablePointer<Float>, outputStride: Int? = nil, pool: ThreadPool) {
        precondition(multipliesQuantizedRows, "only q4_0x8 and q8_0x8 weights multiply quantized rows")
        precondition(activations.count == columns && count <= activations.rowCapacity)
        panda_pool_matmul_x8(
            pool.pool, Int32(dtype.rawValue), bytes.baseAddress, activations.blocks, activations.scales, activations.sums, output, count, rows,
            columns, outputStride ?? rows)
    }
}

extension WeightMatrix {
    /// Up to this many rows go through the matrix–vector kernels rather than a matrix–matrix product.
    public static let matrixVectorRows = 8

    /// output[count × rows] = input[count × columns] · Wᵀ, the kernel picked from the stored dtype and the row count:
    /// interleaved weights (q4_0x8, q8_0x8) take any count in int8 with the input quantized to q8_0, as llama.cpp
    /// does; up to `matrixVectorRows` rows of other dtypes go through the matrix–vector kernel, each row exactly as
    /// alone (so a sequence decodes the same in any batch) and the weights read once; more go through OpenBLAS (or
    /// the bf16 kernel). `rowsAsAlone` sends any number of rows the matrix–vector way (the rows of a decoding
    /// step, each another sequence's). `quantized` must hold `count` rows of `columns` values for block-quantized
    /// weights.
    public func multiply(
        count: Int, _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, quantized: QuantizedActivations,
        workspace: MatrixWorkspace, pool: ThreadPool, rowsAsAlone: Bool = false
    ) {
        let fewRows = count <= Self.matrixVectorRows || rowsAsAlone
        if multipliesQuantizedRows {
            quantized.quantize(rows: count, input)
            multiply(rows: count, quantized, into: output, pool: pool)
        } else if fewRows && !takesQuantizedInput {
            multiply(vectors: count, input, into: output, pool: pool)
        } else if fewRows {
            // Plain q8_0/q4_0: one matrix–vector product per row beats widening the whole weight for OpenBLAS.
            for row in 0..<count {
                quantized.quantize(input + row * columns)
                multiply(quantized.blocks, into: output + row * rows, pool: pool)
            }
        } else {
            multiply(count: count, input, into: output, pool: pool, workspace: workspace)
        }
    }
}

/// Bytes a `WeightMatrix` owns (a rounded copy), freed with the last matrix that holds them.
private final class OwnedBytes: @unchecked Sendable {
    // @unchecked: written once, before any matrix reads it.
    let pointer: UnsafeMutableRawPointer
    let byteCount: Int

    init(byteCount: Int) {
        self.byteCount = byteCount
        pointer = .allocate(byteCount: max(byteCount, 1), alignment: 64)
    }

    deinit { pointer.deallocate() }
}
