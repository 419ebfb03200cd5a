import Foundation
import PandaKernels

/// PandaGPT (openllama.py): ImageBind embeddings, each projected into the decoder's width by `llama_proj` and
/// summed, become one feature token in a Vicuna v0 conversation.
public final class PandaGPT: @unchecked Sendable {
    // @unchecked: immutable after init but for the answers' context, which a lock keeps to one answer at a time.
    public let decoder: Llama
    public let tokenizer: SentencePieceTokenizer
    /// `llama_proj.weight` [hidden, imagebind_dim] and `llama_proj.bias` [hidden], from the adapter (or, for a
    /// decoder converted with --merge-lora, from the decoder's own file).
    let projectionWeight: [Float]
    let projectionBias: [Float]
    public let imagebindDimension: Int
    /// The context every answer runs in: its KV cache, buffers and thread pool are allocated once, and again only
    /// when an answer needs more positions or other threads.
    private(set) var answerContext: LlamaContext?
    /// The same for batched answers: grown when a call needs more slots or positions, never per call.
    private(set) var batchContext: LlamaContext?
    private let answerLock = NSLock()

    /// The text before the feature token (after BOS) and the marker that closes it.
    public static let humanStart = "### Human: <Img>"
    public static let featureEnd = "</Img> "
    /// The demo stops once the token "##" (2277) appears — the start of the next "\n### Human:" — and drops it
    /// together with the newline before it.
    public static let stopToken = (id: 2277, dropping: 2)

    public struct Turn: Sendable, Equatable {
        public var question: String
        public var answer: String
        public init(question: String, answer: String) { (self.question, self.answer) = (question, answer) }
    }

    public init(decoder: Llama) throws {
        self.decoder = decoder
        tokenizer = try SentencePieceTokenizer(weights: decoder.weights)
        let hidden = decoder.config.hiddenSize
        guard let source = [decoder.adapter, decoder.weights].compactMap({ $0 }).first(where: { $0.contains("llama_proj.weight") }) else {
            throw ModelError.badConfig(
                path: decoder.adapter?.path ?? decoder.weights.path,
                reason: "no llama_proj: give the PandaGPT delta converted with --recipe pandagpt-delta as the adapter")
        }
        guard let info = try? source.file.info("llama_proj.weight"), info.shape.count == 2, info.shape[0] == hidden else {
            throw ModelError.badConfig(path: source.path, reason: "llama_proj.weight must be [\(hidden), imagebind_dim] for this decoder")
        }
        imagebindDimension = info.shape[1]
        projectionWeight = try source.floats("llama_proj.weight", shape: [hidden, imagebindDimension])
        projectionBias = try source.floats("llama_proj.bias", shape: [hidden])
    }

    public convenience init(decoderPath: String, adapterPath: String? = nil) throws {
        try self.init(decoder: Llama(path: decoderPath, adapterPath: adapterPath))
    }

    /// The feature token for one item: Σ llama_proj(e) over its modalities' embeddings (extract_multimodal_feature),
    /// each with the bias, and no renormalization.
    public func feature(_ embeddings: [[Float]]) throws -> [Float] {
        guard !embeddings.isEmpty else { throw ModelError.badInput(reason: "PandaGPT needs at least one embedding for its feature token") }
        for embedding in embeddings where embedding.count != imagebindDimension {
            throw ModelError.badInput(reason: "an embedding has \(embedding.count) values; llama_proj takes \(imagebindDimension)")
        }
        let hidden = projectionBias.count
        var projected = [Float](repeating: 0, count: embeddings.count * hidden)
        BLAS.sgemm(m: embeddings.count, n: hidden, k: imagebindDimension, a: embeddings.flatMap { $0 }, b: projectionWeight, transposeB: true, c: &projected)
        var feature = [Float](repeating: 0, count: hidden)
        for item in embeddings.indices {
            for index in 0..<hidden { feature[index] += projected[item * hidden + index] + projectionBias[index] }
        }
        return feature
    }

    /// The conversation text after the feature token, as web_demo.py builds it: earlier turns, then the question.
    public static func conversationText(question: String, history: [Turn]) -> String {
        var text = ""
        for (index, turn) in history.enumerated() {
            text += (index == 0 ? "" : " Human: ") + "\(turn.question)\n### Assistant: \(turn.answer)\n###"
        }
        text += history.isEmpty ? question : " Human: \(question)"
        return featureEnd + text + "\n### Assistant:"
    }

    /// prepare_generation_embedding: BOS and "### Human: <Img>", the feature token, then the conversation; the two
    /// text pieces are tokenized separately, each with SentencePiece's leading space.
    public func prompt(feature: [Float], question: String, history: [Turn] = []) -> [DecoderInput] {
        [.tokens(tokenizer.encode(Self.humanStart, addBOS: true)), .embedding(feature),
         .tokens(tokenizer.encode(Self.conversationText(question: question, history: history)))]
    }

    /// Generation settings that end an answer where PandaGPT's demo does.
    public static func answerOptions(maxNewTokens: Int = GenerationOptions.defaultMaxNewTokens, sampling: SamplingOptions = .greedy) -> GenerationOptions {
        GenerationOptions(maxNewTokens: maxNewTokens, sampling: sampling, stopToken: stopToken)
    }

    /// One answer to `question` about the item whose ImageBind embeddings are given, in an emptied context.
    public func answer(
        embeddings: [[Float]], question: String, history: [Turn] = [], options: GenerationOptions? = nil, threads: Int = ThreadPool.coreCount,
        onText: (String) -> Void = { _ in }, shouldStop: () -> Bool = { false }
    ) throws -> Generation {
        let options = options ?? Self.answerOptions()
        let prompt = try prompt(feature: feature(embeddings), question: question, history: history)
        let promptLength = Self.positions(prompt)
        answerLock.lock()
        defer { answerLock.unlock() }
        let context = reusableContext(positions: promptLength + options.maxNewTokens, threads: threads)
        return try Generator(context: context, tokenizer: tokenizer).generate(prompt, options: options, onText: onText, shouldStop: shouldStop)
    }

    /// Answers to many questions at once, up to `batch` decoded together (one pass over the weights per step, a
    /// finished answer's slot taken by the next question), in the questions' order; each is the answer `answer`
    /// gives it alone, or the error it fails with alone. The context (KV cache for batch × (longest prompt + max
    /// tokens) positions) is kept for the next call that fits in it. `shouldStop` is asked before each step: when
    /// it says yes, the answers in progress end `.interrupted` and the questions not yet started come back empty,
    /// `.interrupted` too. Only a failure of the pass all answers share is thrown.
    public func answers(
        _ questions: [(embeddings: [[Float]], question: String, history: [Turn])], options: GenerationOptions? = nil,
        threads: Int = ThreadPool.coreCount, batch: Int = 8, shouldStop: () -> Bool = { false }, onFinish: (Int, Generation) -> Void = { _, _ in }
    ) throws -> [Result<Generation, Error>] {
        let options = options ?? Self.answerOptions()
        var results = [Result<Generation, Error>?](repeating: nil, count: questions.count)
        var requests: [BatchGenerator.Request] = [], indices: [Int] = []
        for (index, question) in questions.enumerated() {
            do {
                requests.append(.init(prompt: try prompt(feature: feature(question.embeddings), question: question.question, history: question.history), options: options))
                indices.append(index)
            } catch {
                results[index] = .failure(error)
            }
        }
        if !requests.isEmpty {
            let longest = requests.map { Self.positions($0.prompt) }.max()!
            answerLock.lock()
            defer { answerLock.unlock() }
            let context = reusableBatchContext(positions: longest + options.maxNewTokens, slots: min(max(1, batch), requests.count), threads: threads)
            let generated = try BatchGenerator(context: context, tokenizer: tokenizer).generate(
                requests, onFinish: { onFinish(indices[$0], $1) }, shouldStop: shouldStop)
            for (index, result) in zip(indices, generated) { results[index] = result }
        }
        return results.map { $0! }
    }

    /// How many answers to decode together when nobody says: 8 — where most of the gain of reading the weights once
    /// for several tokens is had on a CPU's memory bandwidth (docs/benchmarks.md, "Decoding several sequences at
    /// once") — or fewer, so that their KV cache of `positions` each stays within a quarter of the machine's memory.
    public func automaticBatch(positions: Int) -> Int {
        let perSequence = LlamaContext.cacheBytes(config: decoder.config, positions: min(positions, decoder.config.maxPositionEmbeddings))
        let budget = ProcessInfo.processInfo.physicalMemory / 4
        return max(1, min(8, Int(budget / UInt64(max(perSequence, 1)))))
    }

    private static func positions(_ prompt: [DecoderInput]) -> Int {
        prompt.reduce(0) { count, input in
            if case .tokens(let ids) = input { return count + ids.count }
            return count + 1
        }
    }

    private func reusableBatchContext(positions: Int, slots: Int, threads: Int) -> LlamaContext {
        let limit = decoder.config.maxPositionEmbeddings
        if let context = batchContext, context.capacity >= min(positions, limit), context.slots >= slots, context.pool.threads == max(1, threads) {
            context.reset()
            return context
        }
        batchContext = nil  // its memory goes before the larger context's is taken
        let context = LlamaContext(model: decoder, capacity: min(limit, (positions + 255) / 256 * 256), slots: slots, threads: threads)
        batchContext = context
        return context
    }

    private func reusableContext(positions: Int, threads: Int) -> LlamaContext {
        let limit = decoder.config.maxPositionEmbeddings
        if let context = answerContext, context.capacity >= min(positions, limit), context.pool.threads == max(1, threads) {
            context.reset()
            return context
        }
        // Grown in steps of 256 positions, so that answers of about the same length keep one context.
        let context = LlamaContext(model: decoder, capacity: min(limit, (positions + 255) / 256 * 256), threads: threads)
        answerContext = context
        return context
    }
}
