import Foundation
import PandaFormat
import PandaKernels

/// ImageBind (facebookresearch/ImageBind, imagebind_model.py): six modality encoders into one 1024-d space.
/// Each is preprocessor → trunk (a stack of one shared pre-norm transformer block) → head → postprocessor,
/// named after the modules of `ImageBindModel` whose checkpoint keys they read.

/// `ImageBindModel.__init__`'s arguments, as the converter records them.
public struct ImageBindConfig: Codable, Sendable, Equatable {
    public var outEmbedDim: Int
    public var videoFrames: Int
    public var visionEmbedDim: Int, visionNumBlocks: Int, visionNumHeads: Int
    public var textEmbedDim: Int, textNumBlocks: Int, textNumHeads: Int
    public var audioEmbedDim: Int, audioNumBlocks: Int, audioNumHeads: Int
    public var depthEmbedDim: Int, depthNumBlocks: Int, depthNumHeads: Int
    public var thermalEmbedDim: Int, thermalNumBlocks: Int, thermalNumHeads: Int
    public var imuEmbedDim: Int, imuNumBlocks: Int, imuNumHeads: Int

    enum CodingKeys: String, CodingKey {
        case outEmbedDim = "out_embed_dim", videoFrames = "video_frames"
        case visionEmbedDim = "vision_embed_dim", visionNumBlocks = "vision_num_blocks", visionNumHeads = "vision_num_heads"
        case textEmbedDim = "text_embed_dim", textNumBlocks = "text_num_blocks", textNumHeads = "text_num_heads"
        case audioEmbedDim = "audio_embed_dim", audioNumBlocks = "audio_num_blocks", audioNumHeads = "audio_num_heads"
        case depthEmbedDim = "depth_embed_dim", depthNumBlocks = "depth_num_blocks", depthNumHeads = "depth_num_heads"
        case thermalEmbedDim = "thermal_embed_dim", thermalNumBlocks = "thermal_num_blocks", thermalNumHeads = "thermal_num_heads"
        case imuEmbedDim = "imu_embed_dim", imuNumBlocks = "imu_num_blocks", imuNumHeads = "imu_num_heads"
    }

    func shape(of modality: Modality) -> (width: Int, blocks: Int, heads: Int) {
        switch modality {
        case .vision: (visionEmbedDim, visionNumBlocks, visionNumHeads)
        case .text: (textEmbedDim, textNumBlocks, textNumHeads)
        case .audio: (audioEmbedDim, audioNumBlocks, audioNumHeads)
        case .depth: (depthEmbedDim, depthNumBlocks, depthNumHeads)
        case .thermal: (thermalEmbedDim, thermalNumBlocks, thermalNumHeads)
        case .imu: (imuEmbedDim, imuNumBlocks, imuNumHeads)
        }
    }
}

public enum Modality: String, CaseIterable, Codable, Sendable {
    case vision, text, audio, depth, thermal, imu
}

/// The preprocessed input of one modality for a batch of B items; see each case for the shape ImageBind takes.
public enum ModalityInput: Sendable {
    /// [B, 3, 224, 224] images, or [B, 3, T, 224, 224] frames, or [B, S, 3, T, 224, 224] clips (averaged).
    case vision(FloatTensor)
    /// [B, 77] CLIP token ids.
    case text([[Int]])
    /// [B, 1, 128, 204] or [B, S, 1, 128, 204] log-mel clips (averaged).
    case audio(FloatTensor)
    /// [B, 1, 224, 224].
    case depth(FloatTensor)
    /// [B, 1, 224, 224].
    case thermal(FloatTensor)
    /// [B, 6, 2000].
    case imu(FloatTensor)

    public var modality: Modality {
        switch self {
        case .vision: .vision
        case .text: .text
        case .audio: .audio
        case .depth: .depth
        case .thermal: .thermal
        case .imu: .imu
        }
    }
}

public final class ImageBind: @unchecked Sendable {
    // @unchecked: immutable after init; evaluation state lives in local buffers of each call.
    public let config: ImageBindConfig
    public let weights: ModelWeights
    let encoders: [Modality: ModalityEncoder]
    let pool: ThreadPool

    /// What the trunks' linear layers multiply in; bf16 and int8 pack each modality's weights on its first use.
    public let precision: EncoderPrecision
    private var packedEncoders: [Modality: ModalityEncoder] = [:]
    private let packing = NSLock()

    public convenience init(path: String, threads: Int = ThreadPool.coreCount, precision: EncoderPrecision = .f32) throws {
        try self.init(weights: ModelWeights(path: path), threads: threads, precision: precision)
    }

    public init(weights: ModelWeights, threads: Int = ThreadPool.coreCount, precision: EncoderPrecision = .f32) throws {
        config = try weights.config(ImageBindConfig.self, family: "imagebind")
        self.weights = weights
        self.precision = precision
        if let reason = precision.unavailableReason { throw ModelError.badInput(reason: "precision \(precision): \(reason)") }
        pool = ThreadPool(threads: threads)
        BLAS.threadCount = max(1, threads)  // its GEMMs are OpenBLAS's, whose own threads default to every core
        var encoders: [Modality: ModalityEncoder] = [:]
        for modality in Modality.allCases {
            encoders[modality] = try ModalityEncoder(modality, config: config, weights: weights)
        }
        self.encoders = encoders
    }

    /// Packs the modality's trunk for `precision` now rather than at its first embedding (nothing for f32).
    public func prepare(_ modality: Modality) throws { _ = try encoder(modality) }

    /// The modality's encoder, its trunk packed for `precision` the first time it is asked for.
    func encoder(_ modality: Modality) throws -> ModalityEncoder {
        guard precision != .f32 else { return encoders[modality]! }
        packing.lock()
        defer { packing.unlock() }
        if let packed = packedEncoders[modality] { return packed }
        let packed = try encoders[modality]!.packed(for: precision, threads: pool.threads, pool: pool, weights: weights)
        packedEncoders[modality] = packed
        return packed
    }

    /// Embeddings of a batch, [B][out_embed_dim], as `ImageBindModel.forward` returns them (postprocessed; inputs
    /// with a clip axis averaged over their clips).
    public func embed(_ input: ModalityInput) throws -> [[Float]] {
        let encoder = try encoder(input.modality)
        switch input {
        case .text(let ids):
            for (index, row) in ids.enumerated() where row.count != 77 || row.contains(where: { $0 < 0 || $0 >= 49408 }) {
                throw ModelError.badInput(reason: "text item \(index): expected 77 CLIP token ids in 0..<49408")
            }
            return try encoder.encode(.ids(ids), pool: pool)
        case .vision(let tensor):
            let (clips, frames) = try Self.clipLayout(tensor, itemRank: [4, 5], name: "vision", itemShape: "[3, 224, 224] or [3, T, 224, 224]")
            return try average(encoder.encode(.tensor(frames), pool: pool), clips: clips)
        case .audio(let tensor):
            let (clips, items) = try Self.clipLayout(tensor, itemRank: [4], name: "audio", itemShape: "[1, 128, 204]")
            return try average(encoder.encode(.tensor(items), pool: pool), clips: clips)
        case .depth(let tensor), .thermal(let tensor), .imu(let tensor):
            return try encoder.encode(.tensor(tensor), pool: pool)
        }
    }

    /// Splits a leading clip axis off: [B, S, item…] → (S, [B·S, item…]); [B, item…] → (1, unchanged).
    private static func clipLayout(_ tensor: FloatTensor, itemRank: [Int], name: String, itemShape: String) throws -> (Int, FloatTensor) {
        if itemRank.contains(tensor.shape.count) { return (1, tensor) }
        guard itemRank.contains(tensor.shape.count - 1) else {
            throw ModelError.badInput(reason: "\(name) input has shape \(tensor.shape); expected [B, \(itemShape)] or [B, clips, …]")
        }
        let shape = [tensor.shape[0] * tensor.shape[1]] + tensor.shape.dropFirst(2)
        return (tensor.shape[1], FloatTensor(shape: shape, values: tensor.values))
    }

    private func average(_ embeddings: [[Float]], clips: Int) -> [[Float]] {
        guard clips > 1 else { return embeddings }
        return stride(from: 0, to: embeddings.count, by: clips).map { start in
            var sum = [Float](repeating: 0, count: embeddings[start].count)
            for clip in 0..<clips { for i in sum.indices { sum[i] += embeddings[start + clip][i] } }
            return sum.map { $0 / Float(clips) }
        }
    }
}

/// One modality's preprocessor, trunk, head and postprocessor.
struct ModalityEncoder {
    enum Input { case tensor(FloatTensor), ids([[Int]]) }

    enum Stem {
        /// Conv3d/Conv2d without bias whose stride equals its kernel (vision, depth, thermal) or not (audio):
        /// a matrix product over extracted patches. `norm` is the stem's LayerNorm (eps 1e-5), if any.
        case convolution(weight: WeightMatrix, channels: Int, frames: Int, kernel: Int, stride: Int, height: Int, width: Int, norm: LayerNorm?)
        /// IMU: unfold 2000 samples into 250 windows of 8, six channels each, then Linear(48 → D) and LayerNorm.
        case imu(weight: WeightMatrix, norm: LayerNorm)
        /// Text: token embedding; no class token.
        case text(tokenEmbedding: WeightMatrix)
    }

    let modality: Modality
    let width: Int
    let stem: Stem
    let classToken: [Float]?  // modality_preprocessors.<m>.cls_token
    let positions: [Float]  // pos_embed [tokens × width]
    let tokens: Int
    let preTransformerNorm: LayerNorm?  // modality_trunks.vision.pre_transformer_layer.0
    private(set) var blocks: [TransformerBlock]  // modality_trunks.<m>.blocks.N
    let headNorm: LayerNorm  // modality_heads.<m>.0, or modality_heads.text.proj.0
    let headProjection: WeightMatrix  // modality_heads.<m>.2 (imu: .3; text: proj.1)
    let logitScale: Float?  // exp(modality_postprocessors.<m>.1.log_logit_scale), clipped at 100

    init(_ modality: Modality, config: ImageBindConfig, weights: ModelWeights) throws {
        let (width, blockCount, heads) = config.shape(of: modality)
        guard width > 0, heads > 0, width % heads == 0 else {
            throw ModelError.badConfig(path: weights.path, reason: "\(modality.rawValue): \(width) channels do not split into \(heads) heads")
        }
        self.modality = modality
        self.width = width
        let pre = "modality_preprocessors.\(modality.rawValue)."
        func layerNorm(_ prefix: String, eps: Float) throws -> LayerNorm {
            LayerNorm(weight: try weights.floats(prefix + ".weight", shape: [width]), bias: try weights.floats(prefix + ".bias", shape: [width]), eps: eps)
        }
        switch modality {
        case .vision:
            let frames = config.videoFrames
            stem = .convolution(
                weight: try weights.matrix(pre + "rgbt_stem.proj.1.weight", rows: width, columns: 3 * frames * 14 * 14, shape: [width, 3, frames, 14, 14]),
                channels: 3, frames: frames, kernel: 14, stride: 14, height: 224, width: 224, norm: nil)
            tokens = 1 + 16 * 16
        case .audio:
            stem = .convolution(
                weight: try weights.matrix(pre + "rgbt_stem.proj.weight", rows: width, columns: 256, shape: [width, 1, 16, 16]),
                channels: 1, frames: 1, kernel: 16, stride: 10, height: 128, width: 204, norm: try layerNorm(pre + "rgbt_stem.norm_layer", eps: 1e-5))
            tokens = 1 + 12 * 19
        case .depth, .thermal:
            let stemName = modality == .depth ? "depth_stem" : "rgbt_stem"
            stem = .convolution(
                weight: try weights.matrix(pre + stemName + ".proj.weight", rows: width, columns: 256, shape: [width, 1, 16, 16]),
                channels: 1, frames: 1, kernel: 16, stride: 16, height: 224, width: 224, norm: try layerNorm(pre + stemName + ".norm_layer", eps: 1e-5))
            tokens = 1 + 14 * 14
        case .imu:
            stem = .imu(weight: try weights.matrix(pre + "imu_stem.proj.weight", rows: width, columns: 48), norm: try layerNorm(pre + "imu_stem.norm_layer", eps: 1e-5))
            tokens = 1 + 250
        case .text:
            stem = .text(tokenEmbedding: try weights.matrix(pre + "token_embedding.weight", rows: 49408, columns: width))
            tokens = 77
        }
        classToken = modality == .text ? nil : try weights.floats(pre + "cls_token", shape: [1, 1, width])
        let positionKey = switch modality {
        case .text, .imu: pre + "pos_embed"
        default: pre + "pos_embedding_helper.pos_embed"
        }
        positions = try weights.floats(positionKey, shape: [1, tokens, width])

        let trunk = "modality_trunks.\(modality.rawValue)."
        preTransformerNorm = modality == .vision ? try layerNorm(trunk + "pre_transformer_layer.0", eps: 1e-6) : nil
        let hasBiasKV = modality != .vision && modality != .text
        blocks = try (0..<blockCount).map { n in
            try TransformerBlock(prefix: trunk + "blocks.\(n).", width: width, heads: heads, biasKV: hasBiasKV, weights: weights)
        }

        let head = "modality_heads.\(modality.rawValue)."
        switch modality {
        case .text:
            headNorm = try layerNorm(head + "proj.0", eps: 1e-6)
            headProjection = try weights.matrix(head + "proj.1.weight", rows: config.outEmbedDim, columns: width)
        case .imu:
            headNorm = try layerNorm(head + "0", eps: 1e-6)
            headProjection = try weights.matrix(head + "3.weight", rows: config.outEmbedDim, columns: width)
        default:
            headNorm = try layerNorm(head + "0", eps: 1e-6)
            headProjection = try weights.matrix(head + "2.weight", rows: config.outEmbedDim, columns: width)
        }
        if modality == .vision {
            logitScale = nil
        } else {
            let logScale = try weights.floats("modality_postprocessors.\(modality.rawValue).1.log_logit_scale", shape: [])[0]
            logitScale = min(exp(logScale), 100)
        }
    }

    /// This encoder with its blocks' linear layers packed for `precision` (see `WeightMatrix.packed`).
    /// Each block's stored weights leave the resident set once packed (when they are mapped, not decoded), so a
    /// packed trunk does not hold its f32 weights beside it.
    func packed(for precision: EncoderPrecision, threads: Int, pool: ThreadPool, weights: ModelWeights) throws -> ModalityEncoder {
        var copy = self
        copy.blocks = try blocks.map { block in
            let packed = try block.packed(for: precision, threads: threads, pool: pool)
            for (stored, copied) in zip(block.matrices, packed.matrices) where !copied.readsStoredBytes {
                weights.file.releaseResidentPages(of: stored.bytes)
            }
            return packed
        }
        return copy
    }

    /// Embeds a batch: tokens → blocks → head → normalize and scale.
    func encode(_ input: Input, pool: ThreadPool) throws -> [[Float]] {
        let workspace = MatrixWorkspace()
        let batch: Int
        var endOfText: [Int] = []
        let buffers: TrunkBuffers
        func trunkBuffers(_ batch: Int) -> TrunkBuffers {
            TrunkBuffers(batch: batch, tokens: tokens, width: width, heads: blocks.first?.heads ?? 1, biasKV: blocks.first?.biasK != nil, threads: pool.threads)
        }
        // The token rows of x: [class token,] stem outputs, each plus its position embedding.
        switch (stem, input) {
        case (.text(let embedding), .ids(let ids)):
            batch = ids.count
            buffers = trunkBuffers(batch)
            for (item, row) in ids.enumerated() {
                for (position, id) in row.enumerated() { embedding.row(id, into: buffers.x + (item * tokens + position) * width) }
            }
            for item in 0..<batch { Self.add(positions, to: buffers.x + item * tokens * width) }
            // SelectEOSAndProject: the position of the largest id, EOT (49407), as text.argmax(dim=-1).
            endOfText = ids.map { row in row.indices.max { row[$0] < row[$1] || (row[$0] == row[$1] && $0 > $1) }! }
        case (_, .tensor(let tensor)):
            let patches: [Float]
            (batch, patches) = try stemOutputs(tensor, pool: pool, workspace: workspace)
            buffers = trunkBuffers(batch)
            for item in 0..<batch {
                let first = buffers.x + item * tokens * width
                first.update(from: classToken!, count: width)
                patches.withUnsafeBufferPointer { (first + width).update(from: $0.baseAddress! + item * (tokens - 1) * width, count: (tokens - 1) * width) }
                Self.add(positions, to: first)
            }
        default:
            throw ModelError.badInput(reason: "\(modality.rawValue) takes \(modality == .text ? "token ids" : "a float tensor")")
        }
        let rows = batch * tokens
        preTransformerNorm?.apply(buffers.x, rows: rows, pool: pool)
        for block in blocks {
            block.apply(buffers, batch: batch, tokens: tokens, causal: modality == .text, pool: pool, workspace: workspace)
        }
        // Head: LayerNorm of the selected token (the class token, or text's EOT), then the projection.
        for item in 0..<batch {
            let token = modality == .text ? endOfText[item] : 0
            (buffers.selected + item * width).update(from: buffers.x + (item * tokens + token) * width, count: width)
        }
        headNorm.apply(buffers.selected, rows: batch, pool: pool)
        var projected = [Float](repeating: 0, count: batch * headProjection.rows)
        headProjection.multiply(count: batch, buffers.selected, into: &projected, pool: pool, workspace: workspace)
        let out = headProjection.rows
        return (0..<batch).map { item in
            let vector = Array(projected[(item * out)..<((item + 1) * out)])
            let norm = max(vector.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)  // F.normalize
            let scale = (logitScale ?? 1) / norm
            return vector.map { $0 * scale }
        }
    }

    /// tokens[i] += positions[i] over one item's `tokens × width` values.
    private static func add(_ positions: [Float], to tokens: UnsafeMutablePointer<Float>) {
        for i in positions.indices { tokens[i] += positions[i] }
    }

    /// The stem as a matrix product over patches, then its LayerNorm: [B × patches × width].
    private func stemOutputs(_ tensor: FloatTensor, pool: ThreadPool, workspace: MatrixWorkspace) throws -> (Int, [Float]) {
        let batch = tensor.shape.first ?? 0
        let patchCount = tokens - 1
        var patchLength: Int
        var patches: [Float]
        let stemWeight: WeightMatrix, stemNorm: LayerNorm?
        switch stem {
        case .convolution(let weight, let channels, let frames, let kernel, let stride, let height, let imageWidth, let norm):
            (stemWeight, stemNorm) = (weight, norm)
            var shape = tensor.shape
            if modality == .vision && shape.count == 4 { shape.insert(1, at: 2) }  // an image is one frame
            let expected = modality == .vision ? [batch, channels, shape.count > 2 ? shape[2] : 0, height, imageWidth] : [batch, channels, height, imageWidth]
            guard batch > 0, shape == expected, modality != .vision || shape[2] == 1 || shape[2] == frames else {
                throw ModelError.badInput(reason: "\(modality.rawValue) input has shape \(tensor.shape); expected [B, \(channels), \(modality == .vision ? "\(frames) frames, " : "")\(height), \(imageWidth)]")
            }
            let inputFrames = modality == .vision ? shape[2] : 1
            patchLength = weight.columns
            let rowsOut = (height - kernel) / stride + 1, columnsOut = (imageWidth - kernel) / stride + 1
            patches = [Float](repeating: 0, count: batch * patchCount * patchLength)
            tensor.values.withUnsafeBufferPointer { source in
                patches.withUnsafeMutableBufferPointer { out in
                    for item in 0..<batch {
                        for py in 0..<rowsOut {
                            for px in 0..<columnsOut {
                                var destination = out.baseAddress! + ((item * patchCount) + py * columnsOut + px) * patchLength
                                // Weight layout [D, C, (T,) kh, kw]; PadIm2Video repeats a single frame.
                                for c in 0..<channels {
                                    for t in 0..<frames {
                                        let frame = inputFrames == 1 ? 0 : t
                                        let plane = source.baseAddress! + ((item * channels + c) * inputFrames + frame) * height * imageWidth
                                        for ky in 0..<kernel {
                                            let row = plane + (py * stride + ky) * imageWidth + px * stride
                                            destination.update(from: row, count: kernel)
                                            destination += kernel
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        case .imu(let weight, let norm):
            (stemWeight, stemNorm) = (weight, norm)
            guard tensor.shape == [batch, 6, 2000], batch > 0 else {
                throw ModelError.badInput(reason: "imu input has shape \(tensor.shape); expected [B, 6, 2000]")
            }
            patchLength = weight.columns
            patches = [Float](repeating: 0, count: batch * 250 * 48)
            for item in 0..<batch {
                for window in 0..<250 {
                    for channel in 0..<6 {
                        for sample in 0..<8 {
                            patches[(item * 250 + window) * 48 + channel * 8 + sample] = tensor.values[(item * 6 + channel) * 2000 + window * 8 + sample]
                        }
                    }
                }
            }
        case .text:
            preconditionFailure("text has no patches")
        }
        var embedded = [Float](repeating: 0, count: batch * patchCount * width)
        embedded.withUnsafeMutableBufferPointer { embedded in
            stemWeight.multiply(count: batch * patchCount, patches, into: embedded.baseAddress!, pool: pool, workspace: workspace)
            stemNorm?.apply(embedded.baseAddress!, rows: batch * patchCount, pool: pool)
        }
        return (batch, embedded)
    }
}

/// nn.LayerNorm over the last dimension.
struct LayerNorm {
    let weight: [Float]
    let bias: [Float]
    let eps: Float

    func apply(_ x: UnsafeMutablePointer<Float>, rows: Int, pool: ThreadPool) {
        weight.withUnsafeBufferPointer { weight in
            bias.withUnsafeBufferPointer { pool.layerNorm(x, weight: weight, bias: $0, eps: eps, rows: rows) }
        }
    }
}

/// The activations of one trunk pass over a batch, allocated once and reused by every block, as `LlamaContext`
/// holds the decoder's: `x` is the residual stream, the rest each block's intermediates.
final class TrunkBuffers {
    let x, normed, attended: UnsafeMutablePointer<Float>  // [batch · tokens × width]
    let qkv: UnsafeMutablePointer<Float>  // [batch · tokens × 3 width], in_proj's output: q; k; v per row
    // Per pool thread, for the attention head it is working on: its keys and values [keyRows × head width] (with
    // add_bias_kv's extra row), and its attention weights [tokens × keyRows].
    let keys, values, scores: UnsafeMutablePointer<Float>
    let hidden: UnsafeMutablePointer<Float>  // [batch · tokens × 4 width], the MLP's
    let selected: UnsafeMutablePointer<Float>  // [batch × width], the head's input tokens
    let keyRows: Int

    init(batch: Int, tokens: Int, width: Int, heads: Int, biasKV: Bool, threads: Int) {
        func zeros(_ count: Int) -> UnsafeMutablePointer<Float> {
            let buffer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            buffer.initialize(repeating: 0, count: max(count, 1))
            return buffer
        }
        let rows = batch * tokens
        keyRows = tokens + (biasKV ? 1 : 0)
        x = zeros(rows * width)
        normed = zeros(rows * width)
        attended = zeros(rows * width)
        qkv = zeros(rows * 3 * width)
        keys = zeros(threads * keyRows * width / heads)
        values = zeros(threads * keyRows * width / heads)
        scores = zeros(threads * tokens * keyRows)
        hidden = zeros(rows * 4 * width)
        selected = zeros(batch * width)
    }

    deinit {
        for buffer in [x, normed, attended, qkv, keys, values, scores, hidden, selected] { buffer.deallocate() }
    }
}

/// ImageBind's BlockWithMasking, shared by every trunk: x + attn(norm_1(x)), then x + mlp(norm_2(x)), with
/// nn.MultiheadAttention's packed in_proj and, for audio/depth/thermal/IMU, its learned extra key and value
/// (add_bias_kv), and an exact-erf GELU MLP.
struct TransformerBlock {
    let width: Int, heads: Int
    let norm1, norm2: LayerNorm  // norm_1, norm_2 (eps 1e-6)
    private(set) var inProjection: WeightMatrix  // attn.in_proj_weight [3D, D]: rows Wq; Wk; Wv
    let inProjectionBias: [Float]  // attn.in_proj_bias
    private(set) var outProjection: WeightMatrix  // attn.out_proj.weight
    let outProjectionBias: [Float]
    let biasK, biasV: [Float]?  // attn.bias_k, attn.bias_v [1, 1, D]
    private(set) var fc1, fc2: WeightMatrix  // mlp.fc1 [4D, D], mlp.fc2 [D, 4D]
    let fc1Bias, fc2Bias: [Float]

    init(prefix: String, width: Int, heads: Int, biasKV: Bool, weights: ModelWeights) throws {
        self.width = width
        self.heads = heads
        func norm(_ name: String) throws -> LayerNorm {
            LayerNorm(weight: try weights.floats(prefix + name + ".weight", shape: [width]), bias: try weights.floats(prefix + name + ".bias", shape: [width]), eps: 1e-6)
        }
        norm1 = try norm("norm_1")
        norm2 = try norm("norm_2")
        inProjection = try weights.matrix(prefix + "attn.in_proj_weight", rows: 3 * width, columns: width)
        inProjectionBias = try weights.floats(prefix + "attn.in_proj_bias", shape: [3 * width])
        outProjection = try weights.matrix(prefix + "attn.out_proj.weight", rows: width, columns: width)
        outProjectionBias = try weights.floats(prefix + "attn.out_proj.bias", shape: [width])
        biasK = biasKV ? try weights.floats(prefix + "attn.bias_k", shape: [1, 1, width]) : nil
        biasV = biasKV ? try weights.floats(prefix + "attn.bias_v", shape: [1, 1, width]) : nil
        fc1 = try weights.matrix(prefix + "mlp.fc1.weight", rows: 4 * width, columns: width)
        fc1Bias = try weights.floats(prefix + "mlp.fc1.bias", shape: [4 * width])
        fc2 = try weights.matrix(prefix + "mlp.fc2.weight", rows: width, columns: 4 * width)
        fc2Bias = try weights.floats(prefix + "mlp.fc2.bias", shape: [width])
    }

    var matrices: [WeightMatrix] { [inProjection, outProjection, fc1, fc2] }

    func packed(for precision: EncoderPrecision, threads: Int, pool: ThreadPool) throws -> TransformerBlock {
        var copy = self
        copy.inProjection = try inProjection.packed(for: precision, threads: threads, pool: pool)
        copy.outProjection = try outProjection.packed(for: precision, threads: threads, pool: pool)
        copy.fc1 = try fc1.packed(for: precision, threads: threads, pool: pool)
        copy.fc2 = try fc2.packed(for: precision, threads: threads, pool: pool)
        return copy
    }

    /// matrix[row] += bias for every row (through pointers: these loops run over every activation). The block
    /// adds a projection's bias to its output before the product and lets OpenBLAS accumulate (beta 1), which
    /// saves OpenBLAS's pass zeroing the output and a pass adding the bias or the residual afterwards.
    static func addRowwise(_ bias: [Float], to matrix: UnsafeMutablePointer<Float>, rows: Int) {
        let width = bias.count
        bias.withUnsafeBufferPointer { bias in
            for row in 0..<rows {
                let values = matrix + row * width
                for i in 0..<width { values[i] += bias[i] }
            }
        }
    }

    /// matrix[row] = bias for every row.
    static func fillRowwise(_ bias: [Float], into matrix: UnsafeMutablePointer<Float>, rows: Int) {
        bias.withUnsafeBufferPointer { bias in
            for row in 0..<rows { (matrix + row * bias.count).update(from: bias.baseAddress!, count: bias.count) }
        }
    }

    func apply(_ buffers: TrunkBuffers, batch: Int, tokens: Int, causal: Bool, pool: ThreadPool, workspace: MatrixWorkspace) {
        let rows = batch * tokens, d = width, headWidth = width / heads, keyRows = buffers.keyRows
        let x = buffers.x, qkv = buffers.qkv, keys = buffers.keys, values = buffers.values, scores = buffers.scores
        buffers.normed.update(from: x, count: rows * d)
        norm1.apply(buffers.normed, rows: rows, pool: pool)
        Self.fillRowwise(inProjectionBias, into: qkv, rows: rows)
        inProjection.multiply(count: rows, buffers.normed, into: qkv, beta: 1, pool: pool, workspace: workspace)

        // Each (item, head) pair on one pool thread, its products single-threaded.
        let scale = 1 / Float(headWidth).squareRoot()
        pool.forEach(batch * heads) { index, slot in
            let item = index / heads, head = index % heads
            let queries = qkv + item * tokens * 3 * d + head * headWidth
            let keys = keys + slot * keyRows * headWidth, values = values + slot * keyRows * headWidth
            let scores = scores + slot * tokens * keyRows
            // This head's keys and values, with the learned extra key/value appended (add_bias_kv).
            for token in 0..<tokens {
                (keys + token * headWidth).update(from: queries + token * 3 * d + d, count: headWidth)
                (values + token * headWidth).update(from: queries + token * 3 * d + 2 * d, count: headWidth)
            }
            if let biasK, let biasV {
                biasK.withUnsafeBufferPointer { (keys + tokens * headWidth).update(from: $0.baseAddress! + head * headWidth, count: headWidth) }
                biasV.withUnsafeBufferPointer { (values + tokens * headWidth).update(from: $0.baseAddress! + head * headWidth, count: headWidth) }
            }
            // scores[tokens × keyRows] = q_h · k_hᵀ / √head_width (+ the causal mask)
            BLAS.sgemm(m: tokens, n: keyRows, k: headWidth, alpha: scale, a: queries, lda: 3 * d, b: keys, transposeB: true, c: scores)
            // Only the text trunk is causal, and it has no bias_k row, so keyRows == tokens there.
            Softmax.apply(scores, columns: keyRows, rows: tokens, causal: causal)
            // attended_h[tokens × head_width] = scores · v_h
            BLAS.sgemm(m: tokens, n: headWidth, k: keyRows, a: scores, b: values, c: buffers.attended + item * tokens * d + head * headWidth, ldc: d)
        }
        Self.addRowwise(outProjectionBias, to: x, rows: rows)  // x += attended · Wᵀ + bias
        outProjection.multiply(count: rows, buffers.attended, into: x, beta: 1, pool: pool, workspace: workspace)

        buffers.normed.update(from: x, count: rows * d)
        norm2.apply(buffers.normed, rows: rows, pool: pool)
        fc1.multiply(count: rows, buffers.normed, into: buffers.hidden, pool: pool, workspace: workspace)
        fc1Bias.withUnsafeBufferPointer { pool.biasGELU(buffers.hidden, bias: $0, rows: rows) }  // nn.GELU(), exact erf
        Self.addRowwise(fc2Bias, to: x, rows: rows)  // x += hidden · Wᵀ + bias
        fc2.multiply(count: rows, buffers.hidden, into: x, beta: 1, pool: pool, workspace: workspace)
    }
}
