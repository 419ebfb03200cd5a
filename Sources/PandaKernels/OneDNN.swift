import CDNNL
import CPandaKernels
import Foundation

/// oneDNN (libdnnl), the library behind PyTorch's CPU bf16 and int8 matmuls: reached here for GEMMs in precisions
/// OpenBLAS lacks (Debian's OpenBLAS 0.3.21 has no bf16 or int8 GEMM).
public enum OneDNN {
    /// The linked library's version as "major.minor.patch", so a report can say which oneDNN produced a figure.
    public static var version: String {
        let v = dnnl_version()!.pointee
        return "\(v.major).\(v.minor).\(v.patch)"
    }

    /// The instruction set oneDNN's kernels use on this CPU (`DNNL_MAX_CPU_ISA` in the environment lowers it).
    public static var instructionSet: String {
        let isa = dnnl_get_effective_cpu_isa()
        let names: [(dnnl_cpu_isa_t, String)] = [
            (dnnl_cpu_isa_avx512_core_amx, "avx512_core_amx"), (dnnl_cpu_isa_avx512_core_bf16, "avx512_core_bf16"),
            (dnnl_cpu_isa_avx512_core_vnni, "avx512_core_vnni"), (dnnl_cpu_isa_avx512_core, "avx512_core"),
            (dnnl_cpu_isa_avx2_vnni, "avx2_vnni"), (dnnl_cpu_isa_avx2, "avx2"), (dnnl_cpu_isa_avx, "avx"), (dnnl_cpu_isa_sse41, "sse41"),
        ]
        return names.first { isa.rawValue & $0.0.rawValue == $0.0.rawValue }?.1 ?? "none"
    }

    /// Whether the int8 products have dot-product instructions (VNNI): without them oneDNN multiplies u8 · s8
    /// pairs with `vpmaddubsw`, whose int16 sums saturate past 32,767, so activations keep 7 bits there (PyTorch's
    /// `reduce_range` for the same reason).
    static var hasDotProducts: Bool {
        let isa = dnnl_get_effective_cpu_isa().rawValue
        return isa & dnnl_cpu_isa_avx512_core_vnni.rawValue == dnnl_cpu_isa_avx512_core_vnni.rawValue
            || isa & dnnl_cpu_isa_avx2_vnni.rawValue == dnnl_cpu_isa_avx2_vnni.rawValue
    }

    nonisolated(unsafe) static let engine: OpaquePointer? = {  // made once, then only read
        var engine: dnnl_engine_t?
        return dnnl_engine_create(&engine, dnnl_cpu, 0) == dnnl_success ? engine : nil
    }()

    /// One stream for the process, its products one at a time (each one already runs on every thread).
    nonisolated(unsafe) static let stream: (stream: OpaquePointer?, lock: NSLock) = {
        var stream: dnnl_stream_t?
        if let engine { _ = dnnl_stream_create(&stream, engine, dnnl_stream_default_flags.rawValue) }
        return (stream, NSLock())
    }()
}

/// What an encoder's linear layers multiply in. f32 is OpenBLAS on the stored weights, the reference; bf16 and int8
/// are oneDNN on a packed copy made at load time (`WeightMatrix.packed(_:pool:)`).
public enum EncoderPrecision: String, CaseIterable, Codable, Sendable, CustomStringConvertible {
    /// OpenBLAS sgemm, as PyTorch's f32 model (the parity tests' precision).
    case f32
    /// Weights rounded to bfloat16. Where bf16 products go through `vdpbf16ps` (`BF16Products.dot` on the
    /// avx512vnni path), oneDNN multiplies them with the activations rounded too, products summed in f32, as
    /// PyTorch's `model.to(torch.bfloat16)` does, and where oneDNN has AMX; elsewhere (Intel cores without AMX,
    /// whose `vdpbf16ps` does half the work of their FMAs, and CPUs without AVX-512 BF16) the weights are widened
    /// for OpenBLAS's sgemm with f32 activations.
    case bf16
    /// Weights in int8 with a scale per output channel; activations in 8 bits with a scale and zero point per
    /// token, computed as they come (PyTorch's dynamic quantization does the same per tensor).
    case int8

    public var description: String { rawValue }

    /// The precision with its arithmetic, for keys of cached results: bf16 through oneDNN and widened bf16 give
    /// different last bits.
    public var arithmeticName: String { self == .bf16 && !Self.bf16ThroughOneDNN ? "bf16-widened" : rawValue }

    /// Whether `bf16` multiplies through oneDNN rather than by widening its weights for sgemm: where bf16 products
    /// are `vdpbf16ps` ones, or where oneDNN has AMX's bf16 tiles (far faster than either; no such CPU measured here).
    public static var bf16ThroughOneDNN: Bool {
        let amx = dnnl_cpu_isa_avx512_core_amx.rawValue
        return (KernelPath.current == .avx512vnni && BF16Products.current == .dot) || dnnl_get_effective_cpu_isa().rawValue & amx == amx
    }

    /// Why this CPU cannot run the precision, or nil when it can.
    public var unavailableReason: String? {
        switch self {
        case .f32: return nil
        case .bf16 where !Self.bf16ThroughOneDNN: return nil
        case .bf16, .int8:
            guard OneDNN.engine != nil else { return "oneDNN found no CPU engine" }
            let isa = dnnl_get_effective_cpu_isa().rawValue
            if self == .bf16 && isa & dnnl_cpu_isa_avx512_core.rawValue != dnnl_cpu_isa_avx512_core.rawValue {
                return "oneDNN \(OneDNN.version) multiplies bf16 only with AVX-512 (this CPU: \(OneDNN.instructionSet)); use int8 or f32, or PANDA_BF16_PRODUCTS=widened"
            }
            if isa & dnnl_cpu_isa_avx2.rawValue != dnnl_cpu_isa_avx2.rawValue {
                return "oneDNN's int8 products need at least AVX2 (this CPU: \(OneDNN.instructionSet)); use f32"
            }
            return nil
        }
    }
}

public struct OneDNNError: Error, CustomStringConvertible {
    public let description: String
}

private func check(_ status: dnnl_status_t, _ what: @autoclosure () -> String) throws {
    guard status == dnnl_success else { throw OneDNNError(description: "oneDNN \(OneDNN.version): \(what()) failed (status \(status.rawValue))") }
}

/// A weight matrix copied into the blocked layout oneDNN's matrix products read, in bf16 or in int8 with a scale
/// per row (output channel). Products go through `multiply`; primitives are made once per row count and kept.
public final class PackedMatrix: @unchecked Sendable {
    // @unchecked: immutable after init but for the primitive cache, which `lock` guards.
    public let precision: EncoderPrecision
    public let rows: Int, columns: Int
    let threads: Int
    private let packed: UnsafeMutableRawPointer
    private var weightsDescription: dnnl_memory_desc_t
    /// int8 only: each weight row's scale and the sum of its int8 values (for the activations' zero points).
    private let weightScales: [Float], weightSums: [Int32]
    /// A planned product and the layouts of its activations and output, which its calls wrap their buffers in.
    private struct Product {
        let primitive: OpaquePointer
        var source: dnnl_memory_desc_t, destination: dnnl_memory_desc_t
    }
    private var products: [Key: Product] = [:]
    private let lock = NSLock()

    private struct Key: Hashable { let count: Int, outputStride: Int, beta: Float }

    /// What oneDNN reads: activations and weights in bf16, or u8 activations (a zero point per token) and s8 weights.
    private static func dataTypes(_ precision: EncoderPrecision) -> (activations: dnnl_data_type_t, weights: dnnl_data_type_t) {
        precision == .bf16 ? (dnnl_bf16, dnnl_bf16) : (dnnl_u8, dnnl_s8)
    }

    /// Packs `weight` (any float dtype) for `precision` (bf16 or int8), multiplying on `threads` threads.
    public init(_ weight: WeightMatrix, precision: EncoderPrecision, threads: Int, pool: ThreadPool) throws {
        precondition(precision != .f32, "f32 products use the stored weights")
        if let reason = precision.unavailableReason { throw OneDNNError(description: reason) }
        self.precision = precision
        rows = weight.rows
        columns = weight.columns
        self.threads = max(1, threads)
        let n = rows, k = columns
        let plainBytes = precision == .bf16 ? 2 * n * k : n * k
        let plain = UnsafeMutableRawPointer.allocate(byteCount: plainBytes, alignment: 64)
        defer { plain.deallocate() }
        var scales = [Float](repeating: 1, count: precision == .int8 ? n : 0)
        var sums = [Int32](repeating: 0, count: precision == .int8 ? n : 0)
        // Rows widened to f32 a tile at a time, then rounded or quantized into the plain copy.
        weight.forEachTileAsFloats(pool: pool) { tile, tileRows in
            let (start, count) = (tileRows.lowerBound, tileRows.count)
            if precision == .bf16 {
                panda_pool_f32_to_bf16(pool.pool, tile, k, plain.assumingMemoryBound(to: UInt16.self) + start * k, count)
            } else {
                scales.withUnsafeMutableBufferPointer { scales in
                    sums.withUnsafeMutableBufferPointer { sums in
                        panda_pool_quantize_s8(
                            pool.pool, tile, k, plain.assumingMemoryBound(to: Int8.self) + start * k, scales.baseAddress! + start, sums.baseAddress! + start, count)
                    }
                }
            }
        }
        weightScales = scales
        weightSums = sums

        // The layout oneDNN's product wants (the same for every row count on the CPUs measured), then a reorder into it.
        guard let engine = OneDNN.engine else { throw OneDNNError(description: "oneDNN found no CPU engine") }
        var plainDescription = dnnl_memory_desc_t(), anyDescription = dnnl_memory_desc_t()
        var dims: [dnnl_dim_t] = [dnnl_dim_t(k), dnnl_dim_t(n)]
        let weightType = Self.dataTypes(precision).weights
        try check(dnnl_memory_desc_init_by_tag(&plainDescription, 2, &dims, weightType, dnnl_ba), "describing the weights")
        try check(dnnl_memory_desc_init_by_tag(&anyDescription, 2, &dims, weightType, dnnl_format_tag_any), "describing the weights")
        let probe = try Self.primitiveDescription(
            count: 256, outputStride: n, beta: 0, columns: k, rows: n, precision: precision, weights: &anyDescription, engine: engine)
        defer { dnnl_primitive_desc_destroy(probe) }
        weightsDescription = dnnl_primitive_desc_query_md(probe, dnnl_query_weights_md, 0)!.pointee
        let packedBytes = dnnl_memory_desc_get_size(&weightsDescription)
        packed = .allocate(byteCount: max(packedBytes, 64), alignment: 64)
        do {
            try Self.reorder(from: &plainDescription, plain, to: &weightsDescription, packed, engine: engine, threads: self.threads)
        } catch {
            packed.deallocate()
            throw error
        }
    }

    deinit {
        for product in products.values { dnnl_primitive_destroy(product.primitive) }
        packed.deallocate()
    }

    private static func primitiveDescription(
        count: Int, outputStride: Int, beta: Float, columns k: Int, rows n: Int, precision: EncoderPrecision,
        weights: inout dnnl_memory_desc_t, engine: OpaquePointer
    ) throws -> OpaquePointer {
        var source = dnnl_memory_desc_t(), destination = dnnl_memory_desc_t()
        var sourceDims: [dnnl_dim_t] = [dnnl_dim_t(count), dnnl_dim_t(k)]
        try check(dnnl_memory_desc_init_by_tag(&source, 2, &sourceDims, dataTypes(precision).activations, dnnl_ab), "describing the activations")
        var destinationDims: [dnnl_dim_t] = [dnnl_dim_t(count), dnnl_dim_t(n)]
        if precision == .bf16 {
            var strides: [dnnl_dim_t] = [dnnl_dim_t(outputStride), 1]
            try check(dnnl_memory_desc_init_by_strides(&destination, 2, &destinationDims, dnnl_f32, &strides), "describing the output")
        } else {
            try check(dnnl_memory_desc_init_by_tag(&destination, 2, &destinationDims, dnnl_s32, dnnl_ab), "describing the output")
        }
        var description = dnnl_matmul_desc_t()
        try check(dnnl_matmul_desc_init(&description, &source, &weights, nil, &destination), "describing a \(count) × \(k) × \(n) product")
        var attributes: dnnl_primitive_attr_t?
        try check(dnnl_primitive_attr_create(&attributes), "making attributes")
        defer { dnnl_primitive_attr_destroy(attributes) }
        if beta != 0 {  // bf16 only: the product is added to the output's values (int8 adds when it dequantizes)
            var postOps: dnnl_post_ops_t?
            try check(dnnl_post_ops_create(&postOps), "making post-ops")
            defer { dnnl_post_ops_destroy(postOps) }
            try check(dnnl_post_ops_append_sum(postOps, beta), "adding the output's values")
            try check(dnnl_primitive_attr_set_post_ops(attributes, postOps), "adding the output's values")
        }
        var primitiveDescription: dnnl_primitive_desc_t?
        try check(dnnl_primitive_desc_create(&primitiveDescription, &description, attributes, engine, nil), "planning a \(count) × \(k) × \(n) \(precision) product")
        return primitiveDescription!
    }

    private static func reorder(
        from source: inout dnnl_memory_desc_t, _ sourceData: UnsafeMutableRawPointer, to destination: inout dnnl_memory_desc_t,
        _ destinationData: UnsafeMutableRawPointer, engine: OpaquePointer, threads: Int
    ) throws {
        var description: dnnl_primitive_desc_t?
        try check(dnnl_reorder_primitive_desc_create(&description, &source, engine, &destination, engine, nil), "planning the weights' packing")
        defer { dnnl_primitive_desc_destroy(description) }
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, description), "making the weights' packing")
        defer { dnnl_primitive_destroy(primitive) }
        var from: dnnl_memory_t?, to: dnnl_memory_t?
        try check(dnnl_memory_create(&from, &source, engine, sourceData), "wrapping the weights")
        defer { dnnl_memory_destroy(from) }
        try check(dnnl_memory_create(&to, &destination, engine, destinationData), "wrapping the packed weights")
        defer { dnnl_memory_destroy(to) }
        var arguments = [dnnl_exec_arg_t(arg: DNNL_ARG_FROM, memory: from), dnnl_exec_arg_t(arg: DNNL_ARG_TO, memory: to)]
        try execute(primitive!, &arguments, threads: threads)
    }

    private static func execute(_ primitive: OpaquePointer, _ arguments: inout [dnnl_exec_arg_t], threads: Int) throws {
        let (stream, lock) = OneDNN.stream
        lock.lock()
        defer { lock.unlock() }
        omp_set_num_threads(Int32(threads))
        try check(dnnl_primitive_execute(primitive, stream, Int32(arguments.count), &arguments), "a product")
        try check(dnnl_stream_wait(stream), "waiting for a product")
    }

    private func product(count: Int, outputStride: Int, beta: Float) throws -> Product {
        let key = Key(count: count, outputStride: precision == .bf16 ? outputStride : 0, beta: precision == .bf16 ? beta : 0)
        lock.lock()
        defer { lock.unlock() }
        if let product = products[key] { return product }
        let description = try Self.primitiveDescription(
            count: count, outputStride: outputStride, beta: key.beta, columns: columns, rows: rows, precision: precision,
            weights: &weightsDescription, engine: OneDNN.engine!)
        defer { dnnl_primitive_desc_destroy(description) }
        var primitive: dnnl_primitive_t?
        try check(dnnl_primitive_create(&primitive, description), "making a \(count)-row \(precision) product")
        let product = Product(
            primitive: primitive!, source: dnnl_primitive_desc_query_md(description, dnnl_query_src_md, 0)!.pointee,
            destination: dnnl_primitive_desc_query_md(description, dnnl_query_dst_md, 0)!.pointee)
        products[key] = product
        return product
    }

    /// output[count × rows] (rows `outputStride` apart) = input[count × columns] · Wᵀ + beta · output.
    public func multiply(
        count: Int, _ input: UnsafePointer<Float>, into output: UnsafeMutablePointer<Float>, outputStride: Int, beta: Float,
        pool: ThreadPool, workspace: MatrixWorkspace
    ) throws {
        let engine = OneDNN.engine!
        var product = try product(count: count, outputStride: outputStride, beta: beta)
        let activationBytes = count * columns * (precision == .bf16 ? 2 : 1)
        let activations = workspace.scratch(0, bytes: activationBytes)
        let destination: UnsafeMutableRawPointer
        var rowScales: UnsafeMutablePointer<Float>?, zeroPoints: UnsafeMutablePointer<Int32>?
        if precision == .bf16 {
            panda_pool_f32_to_bf16(pool.pool, input, columns, activations.assumingMemoryBound(to: UInt16.self), count)
            destination = UnsafeMutableRawPointer(output)
        } else {
            rowScales = workspace.scratch(1, bytes: 4 * count).assumingMemoryBound(to: Float.self)
            zeroPoints = workspace.scratch(2, bytes: 4 * count).assumingMemoryBound(to: Int32.self)
            panda_pool_quantize_u8(
                pool.pool, input, columns, activations.assumingMemoryBound(to: UInt8.self), rowScales, zeroPoints,
                OneDNN.hasDotProducts ? 256 : 128, count)
            destination = workspace.scratch(3, bytes: 4 * count * rows)
        }
        var source: dnnl_memory_t?, weights: dnnl_memory_t?, result: dnnl_memory_t?
        try check(dnnl_memory_create(&source, &product.source, engine, activations), "wrapping the activations")
        defer { dnnl_memory_destroy(source) }
        try check(dnnl_memory_create(&weights, &weightsDescription, engine, packed), "wrapping the weights")
        defer { dnnl_memory_destroy(weights) }
        try check(dnnl_memory_create(&result, &product.destination, engine, destination), "wrapping the output")
        defer { dnnl_memory_destroy(result) }
        var arguments = [
            dnnl_exec_arg_t(arg: DNNL_ARG_SRC, memory: source), dnnl_exec_arg_t(arg: DNNL_ARG_WEIGHTS, memory: weights),
            dnnl_exec_arg_t(arg: DNNL_ARG_DST, memory: result),
        ]
        try Self.execute(product.primitive, &arguments, threads: threads)
        if precision == .int8 {
            weightScales.withUnsafeBufferPointer { columnScales in
                weightSums.withUnsafeBufferPointer { columnSums in
                    panda_pool_dequantize_s32(
                        pool.pool, destination.assumingMemoryBound(to: Int32.self), rows, rowScales, zeroPoints, columnScales.baseAddress,
                        columnSums.baseAddress, output, outputStride, beta, count)
                }
            }
        }
    }
}
