import Foundation
import PandaFormat
import PandaKernels

/// LLaMA-1 / Vicuna, as Hugging Face's `LlamaForCausalLM` (transformers' modeling_llama.py) computes it:
/// RMSNorm, rotary embeddings in the `rotate_half` convention, causal attention with a KV cache, SwiGLU MLP.

/// The Hugging Face config.json fields the converter records in the .panda metadata.
public struct LlamaConfig: Codable, Sendable, Equatable {
    public var vocabSize: Int
    public var hiddenSize: Int
    public var intermediateSize: Int
    public var numHiddenLayers: Int
    public var numAttentionHeads: Int
    public var rmsNormEps: Double
    public var ropeTheta: Double
    public var maxPositionEmbeddings: Int
    public var bosTokenId: Int
    public var eosTokenId: Int

    enum CodingKeys: String, CodingKey {
        case vocabSize = "vocab_size", hiddenSize = "hidden_size", intermediateSize = "intermediate_size"
        case numHiddenLayers = "num_hidden_layers", numAttentionHeads = "num_attention_heads", rmsNormEps = "rms_norm_eps"
        case ropeTheta = "rope_theta", maxPositionEmbeddings = "max_position_embeddings"
        case bosTokenId = "bos_token_id", eosTokenId = "eos_token_id"
    }

    public var headDim: Int { hiddenSize / numAttentionHeads }
}

/// One element of a decoder prompt: token ids, or a raw embedding vector (PandaGPT's multimodal token).
public enum DecoderInput: Sendable, Equatable {
    case tokens([Int])
    case embedding([Float])
}

/// `nn.Linear` without bias, plus an optional LoRA update applied at run time: y = W·x + scale·B·(A·x).
struct Linear {
    let weight: WeightMatrix
    var lora: LoRA?

    struct LoRA {
        let a: WeightMatrix  // lora_A.weight [r, in], f32
        let b: WeightMatrix  // lora_B.weight [out, r], f32
        let rank: Int
        let scale: Float
    }
}

/// The weights of a LLaMA decoder; immutable and shareable. Evaluate it through a `LlamaContext`.
public final class Llama: @unchecked Sendable {
    // @unchecked: immutable after init; the weights it points into are owned by `weights`.
    public let config: LlamaConfig
    public let weights: ModelWeights
    public let adapter: ModelWeights?
    let embedTokens: WeightMatrix  // model.embed_tokens.weight [vocab, hidden]
    let layers: [Layer]
    let norm: [Float]  // model.norm.weight [hidden]
    let lmHead: WeightMatrix  // lm_head.weight [vocab, hidden]

    struct Layer {
        let inputLayerNorm: [Float]  // model.layers.N.input_layernorm.weight
        let qProj, kProj, vProj, oProj: Linear  // model.layers.N.self_attn.{q,k,v,o}_proj.weight
        let postAttentionLayerNorm: [Float]  // model.layers.N.post_attention_layernorm.weight
        let gateProj, upProj, downProj: Linear  // model.layers.N.mlp.{gate,up,down}_proj.weight
    }

    /// Loads a converted decoder (`panda-convert --recipe llama`, with or without `--merge-lora`) and, optionally,
    /// a PandaGPT delta (`--recipe pandagpt-delta`) whose LoRA factors are then applied at run time.
    public convenience init(path: String, adapterPath: String? = nil) throws {
        try self.init(weights: ModelWeights(path: path), adapter: adapterPath.map { try ModelWeights(path: $0) })
    }

    public init(weights: ModelWeights, adapter: ModelWeights? = nil) throws {
        let config = try weights.config(LlamaConfig.self, family: "llama")
        guard config.hiddenSize > 0, config.numAttentionHeads > 0, config.hiddenSize % config.numAttentionHeads == 0,
              config.headDim % 2 == 0, config.numHiddenLayers > 0, config.vocabSize > 0, config.intermediateSize > 0
        else {
            throw ModelError.badConfig(path: weights.path, reason: "hidden_size \(config.hiddenSize) must split into num_attention_heads \(config.numAttentionHeads) heads of even width")
        }
        self.config = config
        self.weights = weights
        self.adapter = adapter
        let (h, inter, vocab) = (config.hiddenSize, config.intermediateSize, config.vocabSize)
        let lora = try adapter.map { try LoRAFactors(adapter: $0, decoder: config) }
        embedTokens = try weights.matrix("model.embed_tokens.weight", rows: vocab, columns: h)
        layers = try (0..<config.numHiddenLayers).map { n in
            let prefix = "model.layers.\(n)."
            func linear(_ name: String, _ rows: Int, _ columns: Int) throws -> Linear {
                Linear(weight: try weights.matrix(prefix + name + ".weight", rows: rows, columns: columns),
                       lora: try lora?.factors(layer: n, projection: name, rows: rows, columns: columns))
            }
            return Layer(
                inputLayerNorm: try weights.floats(prefix + "input_layernorm.weight", shape: [h]),
                qProj: try linear("self_attn.q_proj", h, h), kProj: try linear("self_attn.k_proj", h, h),
                vProj: try linear("self_attn.v_proj", h, h), oProj: try linear("self_attn.o_proj", h, h),
                postAttentionLayerNorm: try weights.floats(prefix + "post_attention_layernorm.weight", shape: [h]),
                gateProj: try linear("mlp.gate_proj", inter, h), upProj: try linear("mlp.up_proj", inter, h),
                downProj: try linear("mlp.down_proj", h, inter))
        }
        norm = try weights.floats("model.norm.weight", shape: [h])
        lmHead = try weights.matrix("lm_head.weight", rows: vocab, columns: h)
    }
}

/// The LoRA factors of a PandaGPT delta converted with `--recipe pandagpt-delta`: A and B per adapted projection,
/// scaled by lora_alpha / lora_r from its metadata.
struct LoRAFactors {
    let adapter: ModelWeights
    let rank: Int
    let scale: Float

    init(adapter: ModelWeights, decoder: LlamaConfig) throws {
        struct DeltaConfig: Decodable {
            var hiddenSize: Int, loraR: Int, loraAlpha: Double
            enum CodingKeys: String, CodingKey { case hiddenSize = "hidden_size", loraR = "lora_r", loraAlpha = "lora_alpha" }
        }
        let config = try adapter.config(DeltaConfig.self, family: "pandagpt-delta")
        guard config.hiddenSize == decoder.hiddenSize else {
            throw ModelError.badConfig(path: adapter.path, reason: "adapter is for hidden_size \(config.hiddenSize), the decoder has \(decoder.hiddenSize)")
        }
        guard config.loraR > 0 else { throw ModelError.badConfig(path: adapter.path, reason: "lora_r must be positive") }
        self.adapter = adapter
        rank = config.loraR
        scale = Float(config.loraAlpha / Double(config.loraR))
    }

    func factors(layer: Int, projection: String, rows: Int, columns: Int) throws -> Linear.LoRA? {
        let prefix = "model.layers.\(layer).\(projection)."
        guard adapter.contains(prefix + "lora_A.weight") else { return nil }
        func factor(_ name: String, rows: Int, columns: Int) throws -> WeightMatrix {
            let matrix = try adapter.matrix(prefix + name, rows: rows, columns: columns)
            // The recipe keeps LoRA factors in f32; the large-row-count path multiplies them in place with OpenBLAS.
            guard matrix.dtype == .f32 else { throw ModelError.badTensor(path: adapter.path, tensor: prefix + name, reason: "is \(matrix.dtype); LoRA factors must be f32 (panda-convert --recipe pandagpt-delta keeps them so)") }
            return matrix
        }
        return Linear.LoRA(
            a: try factor("lora_A.weight", rows: rank, columns: columns),
            b: try factor("lora_B.weight", rows: rows, columns: rank),
            rank: rank, scale: scale)
    }
}

/// A decoding session over a `Llama`: the KV cache and every scratch buffer, allocated once, so that evaluating
/// a token allocates nothing. It holds `slots` independent sequences (slot 0 is the one `evaluate`/`next` use by
/// default), each with its own cache rows and positions from 0; `step` advances several slots by one token each
/// in one pass over the weights.
public final class LlamaContext: @unchecked Sendable {
    // @unchecked: a context is used by one thread at a time.
    public let model: Llama
    /// The most positions this context can hold.
    public let capacity: Int
    /// How many sequences the context holds; each has `capacity` positions of KV cache.
    public let slots: Int
    /// Positions filled so far per slot (the next input of slot s goes to position `lengths[s]`).
    public private(set) var lengths: [Int]
    /// Slot 0's filled positions.
    public var length: Int { lengths[0] }
    /// Rows evaluated per pass when a prompt is longer (prompt tokens go through matrix-matrix products). Each
    /// pass reads every weight once, so small passes re-read (and for bf16/f16 re-widen) them per pass; 512, as
    /// llama.cpp's default micro-batch, keeps a 7B model's scratch near 110 MB.
    public let batchLimit: Int
    let pool: ThreadPool

    private let keys, values: UnsafeMutablePointer<Float>  // [layers][slots][capacity][hidden]
    private let cosines, sines: UnsafeMutablePointer<Float>  // [capacity][headDim / 2]
    private let x, normed, q, k, v, attention, projected: UnsafeMutablePointer<Float>  // [batch][hidden]
    private let gate, up: UnsafeMutablePointer<Float>  // [batch][intermediate]
    private let scores: UnsafeMutablePointer<Float>  // [batch][capacity], one head's attention weights
    private let loraScratch: UnsafeMutablePointer<Float>  // [batch][rank]
    private let loraProduct: UnsafeMutablePointer<Float>  // [matrix-vector rows][hidden], a few rows' B · scratch
    /// Whether every row of the pass is a different sequence's one new token (a decoding step): then each row
    /// goes through the products exactly as it would alone, so a sequence decodes the same in any batch.
    private var rowsAreSequences = false
    private let workspace: MatrixWorkspace  // widened weight rows for matrix-matrix products
    private let activations: QuantizedActivations  // hidden-wide input rows to block-quantized products
    private let wideActivations: QuantizedActivations  // intermediate-wide input rows
    private let allLogits: UnsafeMutablePointer<Float>  // [slots][vocab]: row i is the i-th sequence of the last pass
    /// The last evaluated position's logits (after `step`, the first stepped sequence's).
    public let logits: UnsafeMutableBufferPointer<Float>
    /// The runs of rows in the pass being evaluated: rows start..<start+count of `x` are positions
    /// first..<first+count of `slot`. Kept with their capacity so that a pass allocates nothing.
    private var segments: [(slot: Int, first: Int, start: Int, count: Int)] = []

    public init(model: Llama, capacity: Int? = nil, slots: Int = 1, batchLimit: Int = 512, threads: Int = ThreadPool.coreCount) {
        let config = model.config
        let (h, inter, layers) = (config.hiddenSize, config.intermediateSize, config.numHiddenLayers)
        self.model = model
        self.capacity = max(1, capacity ?? config.maxPositionEmbeddings)
        self.slots = max(1, slots)
        lengths = Array(repeating: 0, count: self.slots)
        segments.reserveCapacity(self.slots)
        // A step has one row per slot, so the scratch holds at least that many rows.
        self.batchLimit = max(self.slots, min(batchLimit, self.capacity))
        pool = ThreadPool(threads: threads)
        BLAS.threadCount = max(1, threads)  // prompts' and attention's GEMMs are OpenBLAS's, whose threads default to every core
        func buffer(_ count: Int) -> UnsafeMutablePointer<Float> {
            let pointer = UnsafeMutablePointer<Float>.allocate(capacity: max(count, 1))
            pointer.initialize(repeating: 0, count: max(count, 1))
            return pointer
        }
        keys = buffer(layers * self.slots * self.capacity * h)
        values = buffer(layers * self.slots * self.capacity * h)
        let half = config.headDim / 2
        cosines = buffer(self.capacity * half)
        sines = buffer(self.capacity * half)
        for i in 0..<half {
            // As transformers: inv_freq = 1 / theta^(2i / head_dim) and angles position · inv_freq, in f32.
            let inverseFrequency = 1 / pow(Float(config.ropeTheta), Float(2 * i) / Float(config.headDim))
            for position in 0..<self.capacity {
                let angle = Float(position) * inverseFrequency
                cosines[position * half + i] = cos(angle)
                sines[position * half + i] = sin(angle)
            }
        }
        let batch = self.batchLimit
        (x, normed, q, k, v, attention, projected) = (buffer(batch * h), buffer(batch * h), buffer(batch * h), buffer(batch * h), buffer(batch * h), buffer(batch * h), buffer(batch * h))
        (gate, up) = (buffer(batch * inter), buffer(batch * inter))
        scores = buffer(batch * self.capacity)
        let rank = model.layers.first?.qProj.lora?.rank ?? 0
        loraScratch = buffer(batch * max(rank, 1))
        loraProduct = buffer(rank > 0 ? batch * h : 1)
        workspace = MatrixWorkspace(tileFloats: max(MatrixWorkspace.defaultTileFloats, max(h, inter)))
        activations = QuantizedActivations(count: (h + 31) / 32 * 32, rows: batch)
        wideActivations = QuantizedActivations(count: (inter + 31) / 32 * 32, rows: batch)
        allLogits = buffer(self.slots * config.vocabSize)
        logits = UnsafeMutableBufferPointer(start: allLogits, count: config.vocabSize)
    }

    /// The KV cache one sequence of `positions` takes: keys and values, f32, per layer.
    public static func cacheBytes(config: LlamaConfig, positions: Int) -> Int {
        2 * config.numHiddenLayers * positions * config.hiddenSize * MemoryLayout<Float>.size
    }

    deinit {
        for pointer in [keys, values, cosines, sines, x, normed, q, k, v, attention, projected, gate, up, scores, loraScratch, loraProduct, allLogits] {
            pointer.deallocate()
        }
    }

    /// Forgets every position of every slot (the weights and buffers stay).
    public func reset() { for slot in 0..<slots { lengths[slot] = 0 } }

    /// Forgets one slot's positions, freeing it for another sequence.
    public func reset(slot: Int) { lengths[slot] = 0 }

    /// Appends the inputs at `slot`'s next positions and returns the logits of the last one (also in `logits`).
    /// With `allLogits`, returns the logits of every appended position, row after row.
    @discardableResult
    public func evaluate(_ inputs: [DecoderInput], slot: Int = 0, allLogits: Bool = false) throws -> [Float] {
        precondition(slot >= 0 && slot < slots, "slot \(slot) outside 0..<\(slots)")
        let config = model.config
        var rows: [Row] = []
        for input in inputs {
            switch input {
            case .tokens(let ids):
                for id in ids {
                    guard id >= 0 && id < config.vocabSize else { throw ModelError.badInput(reason: "token id \(id) is outside the vocabulary (0..<\(config.vocabSize))") }
                    rows.append(.token(id))
                }
            case .embedding(let vector):
                guard vector.count == config.hiddenSize else {
                    throw ModelError.badInput(reason: "an embedding input has \(vector.count) values; the decoder's hidden size is \(config.hiddenSize)")
                }
                rows.append(.embedding(vector))
            }
        }
        guard !rows.isEmpty else { throw ModelError.badInput(reason: "nothing to evaluate: the input is empty") }
        guard lengths[slot] + rows.count <= capacity else {
            throw ModelError.badInput(reason: "\(lengths[slot]) + \(rows.count) positions exceed the context's capacity of \(capacity)")
        }
        var all: [Float] = []
        if allLogits { all.reserveCapacity(rows.count * config.vocabSize) }
        var start = 0
        while start < rows.count {
            let count = min(batchLimit, rows.count - start)
            for (offset, row) in rows[start..<(start + count)].enumerated() {
                let destination = x + offset * config.hiddenSize
                switch row {
                case .token(let id): model.embedTokens.row(id, into: destination)
                case .embedding(let vector): vector.withUnsafeBufferPointer { destination.update(from: $0.baseAddress!, count: vector.count) }
                }
            }
            segments.removeAll(keepingCapacity: true)
            segments.append((slot, lengths[slot], 0, count))
            forward(count, wantAllLogits: allLogits) { logitsRow in all.append(contentsOf: logitsRow) }
            start += count
        }
        return allLogits ? all : Array(logits)
    }

    /// Appends one token to slot 0 and returns the logits of its position, without allocating.
    public func next(_ token: Int) throws -> UnsafeMutableBufferPointer<Float> {
        guard token >= 0 && token < model.config.vocabSize else { throw ModelError.badInput(reason: "token id \(token) is outside the vocabulary") }
        guard length < capacity else { throw ModelError.badInput(reason: "the context is full (\(capacity) positions)") }
        segments.removeAll(keepingCapacity: true)
        segments.append((0, length, 0, 1))
        model.embedTokens.row(token, into: x)
        forward(1, wantAllLogits: false) { _ in }
        return logits
    }

    /// Appends one token to each given slot (each slot at most once) in one pass over the weights, and returns
    /// their logits, [tokens.count][vocab] in the order given. Allocates nothing.
    @discardableResult
    public func step(_ tokens: [(slot: Int, token: Int)]) throws -> UnsafeMutableBufferPointer<Float> {
        let vocab = model.config.vocabSize
        guard !tokens.isEmpty else { throw ModelError.badInput(reason: "nothing to evaluate: no token to step") }
        segments.removeAll(keepingCapacity: true)
        for (row, (slot, token)) in tokens.enumerated() {
            precondition(slot >= 0 && slot < slots && !segments.contains { $0.slot == slot }, "slot \(slot) stepped twice or outside 0..<\(slots)")
            guard token >= 0 && token < vocab else { throw ModelError.badInput(reason: "token id \(token) is outside the vocabulary") }
            guard lengths[slot] < capacity else { throw ModelError.badInput(reason: "the context is full (\(capacity) positions)") }
            segments.append((slot, lengths[slot], row, 1))
        }
        for (row, (_, token)) in tokens.enumerated() { model.embedTokens.row(token, into: x + row * model.config.hiddenSize) }
        forward(tokens.count, wantAllLogits: false) { _ in }
        return UnsafeMutableBufferPointer(start: allLogits, count: tokens.count * vocab)
    }

    private enum Row { case token(Int), embedding([Float]) }

    /// Runs `count` rows of `x`, laid out by `segments`, through the decoder: the linear layers take all rows at
    /// once; rotary positions, cache writes and attention go per segment, over that segment's slot only.
    private func forward(_ count: Int, wantAllLogits: Bool, emit: (UnsafeBufferPointer<Float>) -> Void) {
        let config = model.config
        let (h, inter, heads, headDim) = (config.hiddenSize, config.intermediateSize, config.numAttentionHeads, config.headDim)
        let eps = Float(config.rmsNormEps)
        rowsAreSequences = segments.allSatisfy { $0.count == 1 }
        for (n, layer) in model.layers.enumerated() {
            rmsNorm(x, weight: layer.inputLayerNorm, rows: count, width: h, eps: eps, into: normed)
            linear(layer.qProj, normed, rows: count, into: q, quantized: activations)
            linear(layer.kProj, normed, rows: count, into: k, quantized: activations)
            linear(layer.vProj, normed, rows: count, into: v, quantized: activations)
            for segment in segments {
                let slotKeys = keys + (n * slots + segment.slot) * capacity * h, slotValues = values + (n * slots + segment.slot) * capacity * h
                for offset in 0..<segment.count {
                    let (row, position) = (segment.start + offset, segment.first + offset)
                    rotate(q + row * h, position: position, heads: heads, headDim: headDim)
                    rotate(k + row * h, position: position, heads: heads, headDim: headDim)
                    (slotKeys + position * h).update(from: k + row * h, count: h)
                    (slotValues + position * h).update(from: v + row * h, count: h)
                }
                attend(rows: segment.count, first: segment.first, queries: q + segment.start * h, keys: slotKeys, values: slotValues,
                       into: attention + segment.start * h)
            }
            linear(layer.oProj, attention, rows: count, into: projected, quantized: activations)
            for i in 0..<(count * h) { x[i] += projected[i] }

            rmsNorm(x, weight: layer.postAttentionLayerNorm, rows: count, width: h, eps: eps, into: normed)
            linear(layer.gateProj, normed, rows: count, into: gate, quantized: activations)
            linear(layer.upProj, normed, rows: count, into: up, quantized: activations)
            pool.siluGate(gate, up: up, width: inter, rows: count)
            linear(layer.downProj, gate, rows: count, into: projected, quantized: wideActivations)
            for i in 0..<(count * h) { x[i] += projected[i] }
        }
        for segment in segments { lengths[segment.slot] += segment.count }
        if wantAllLogits {
            for row in 0..<count {
                rmsNorm(x + row * h, weight: model.norm, rows: 1, width: h, eps: eps, into: normed)
                linear(Linear(weight: model.lmHead), normed, rows: 1, into: allLogits, quantized: activations)
                emit(UnsafeBufferPointer(logits))
            }
        } else {
            // Each segment's last row, gathered into consecutive rows so that lm_head is read once for all of them.
            for (index, segment) in segments.enumerated() {
                rmsNorm(x + (segment.start + segment.count - 1) * h, weight: model.norm, rows: 1, width: h, eps: eps, into: normed + index * h)
            }
            linear(Linear(weight: model.lmHead), normed, rows: segments.count, into: allLogits, quantized: activations)
        }
    }

    /// x · rsqrt(mean(x²) + eps) · weight, per row, in f32 as LlamaRMSNorm.
    private func rmsNorm(_ input: UnsafeMutablePointer<Float>, weight: [Float], rows: Int, width: Int, eps: Float, into output: UnsafeMutablePointer<Float>) {
        weight.withUnsafeBufferPointer { w in
            for row in 0..<rows {
                let source = input + row * width, destination = output + row * width
                var sum: Float = 0
                for i in 0..<width { sum += source[i] * source[i] }
                let scale = 1 / (sum / Float(width) + eps).squareRoot()
                for i in 0..<width { destination[i] = w[i] * (source[i] * scale) }
            }
        }
    }

    /// Rotary embedding in transformers' `rotate_half` layout: each head's first half pairs with its second half.
    private func rotate(_ vector: UnsafeMutablePointer<Float>, position: Int, heads: Int, headDim: Int) {
        let half = headDim / 2
        let cosine = cosines + position * half, sine = sines + position * half
        for head in 0..<heads {
            let base = vector + head * headDim
            for i in 0..<half {
                let (a, b) = (base[i], base[i + half])
                base[i] = a * cosine[i] - b * sine[i]
                base[i + half] = b * cosine[i] + a * sine[i]
            }
        }
    }

    /// Causal attention of `rows` new positions (first..<first+rows of one slot) over that slot's cache, into
    /// `output` ([rows][hidden]): per head, one product of the new queries with every cached key, a masked softmax
    /// per row, one product with the values.
    private func attend(
        rows: Int, first: Int, queries q: UnsafeMutablePointer<Float>, keys: UnsafeMutablePointer<Float>, values: UnsafeMutablePointer<Float>,
        into output: UnsafeMutablePointer<Float>
    ) {
        let config = model.config
        let (h, headDim) = (config.hiddenSize, config.headDim)
        let positions = first + rows  // what the last new row sees; earlier rows see fewer
        for head in 0..<config.numAttentionHeads {
            let offset = head * headDim
            BLAS.sgemm(m: rows, n: positions, k: headDim, alpha: 1 / Float(headDim).squareRoot(), a: q + offset, lda: h,
                       b: keys + offset, ldb: h, transposeB: true, c: scores, ldc: positions)
            pool.causalSoftmax(scores, columns: positions, rows: rows, first: first)
            BLAS.sgemm(m: rows, n: headDim, k: positions, a: scores, lda: positions, b: values + offset, ldb: h, c: output + offset, ldc: h)
        }
    }

    /// output[rows × out] = input[rows × in] · Wᵀ (+ LoRA); the weight picks its kernel (WeightMatrix.multiply).
    private func linear(_ layer: Linear, _ input: UnsafeMutablePointer<Float>, rows: Int, into output: UnsafeMutablePointer<Float>, quantized: QuantizedActivations) {
        let (out, inWidth) = (layer.weight.rows, layer.weight.columns)
        layer.weight.multiply(count: rows, input, into: output, quantized: quantized, workspace: workspace, pool: pool, rowsAsAlone: rowsAreSequences)
        guard let lora = layer.lora else { return }
        // scratch[rows × r] = input · Aᵀ; output += scale · scratch · Bᵀ
        if rowsAreSequences || rows <= WeightMatrix.matrixVectorRows {
            // Row by row as alone: OpenBLAS's kernels round a row differently at another row count.
            lora.a.multiply(vectors: rows, input, into: loraScratch, pool: pool)
            lora.b.multiply(vectors: rows, loraScratch, into: loraProduct, pool: pool)
            for index in 0..<(rows * out) { output[index] += lora.scale * loraProduct[index] }
        } else {
            BLAS.sgemm(m: rows, n: lora.rank, k: inWidth, a: input, b: lora.a.floats, transposeB: true, c: loraScratch)
            BLAS.sgemm(m: rows, n: out, k: lora.rank, alpha: lora.scale, a: loraScratch, b: lora.b.floats, transposeB: true, beta: 1, c: output)
        }
    }
}
