import Foundation

/// When a generation ends, beyond the sampling choices.
public struct GenerationOptions: Sendable, Equatable {
    /// The token limit wherever none is given: the command line's and jobs' default, as PandaGPT's demo's.
    public static let defaultMaxNewTokens = 256

    public var maxNewTokens: Int
    public var sampling: SamplingOptions
    /// Generation stops when the text contains one of these; the text returned ends before it.
    public var stopStrings: [String]
    public var stopAtEOS: Bool
    /// Generation stops when this token is produced; the returned tokens then end `dropping` tokens earlier.
    public var stopToken: (id: Int, dropping: Int)?

    public init(
        maxNewTokens: Int = defaultMaxNewTokens, sampling: SamplingOptions = .greedy, stopStrings: [String] = [], stopAtEOS: Bool = true,
        stopToken: (id: Int, dropping: Int)? = nil
    ) {
        self.maxNewTokens = maxNewTokens
        self.sampling = sampling
        self.stopStrings = stopStrings
        self.stopAtEOS = stopAtEOS
        self.stopToken = stopToken
    }

    public static func == (a: GenerationOptions, b: GenerationOptions) -> Bool {
        (a.maxNewTokens, a.sampling, a.stopStrings, a.stopAtEOS) == (b.maxNewTokens, b.sampling, b.stopStrings, b.stopAtEOS)
            && a.stopToken?.id == b.stopToken?.id && a.stopToken?.dropping == b.stopToken?.dropping
    }
}

public struct Generation: Sendable, Equatable {
    public enum StopReason: Sendable, Equatable { case endOfSequence, stopString(String), stopToken(Int), maxTokens, contextFull, interrupted }

    public var text: String
    public var tokens: [Int]
    public var stopReason: StopReason
    public var promptPositions: Int
    public var promptSeconds: Double
    public var generationSeconds: Double

    public var tokensPerSecond: Double { generationSeconds > 0 ? Double(tokens.count) / generationSeconds : 0 }
    public var promptPositionsPerSecond: Double { promptSeconds > 0 ? Double(promptPositions) / promptSeconds : 0 }
}

/// One sequence's generation state between tokens: its sampler, tokens and text, and the stopping rules. The
/// single and batched generators share it, so that a sequence ends the same way in either.
struct Decoding {
    let options: GenerationOptions
    let tokenizer: SentencePieceTokenizer
    var sampler: Sampler
    var history: [Int]
    var tokens: [Int] = []
    var stream: TextStream
    var stopReason = Generation.StopReason.maxTokens
    var text: String?

    init(prompt: [DecoderInput], options: GenerationOptions, tokenizer: SentencePieceTokenizer) {
        self.options = options
        self.tokenizer = tokenizer
        sampler = Sampler(options.sampling)
        history = prompt.flatMap { input -> [Int] in
            if case .tokens(let ids) = input { return ids }
            return []
        }
        tokens.reserveCapacity(options.maxNewTokens)
        stream = TextStream(
            tokenizer: tokenizer, stopStrings: options.stopStrings, holdingBackTokens: max(0, (options.stopToken?.dropping ?? 1) - 1),
            capacity: options.maxNewTokens)
    }

    mutating func sample(_ logits: UnsafeMutableBufferPointer<Float>) -> Int { sampler.next(logits, history: history) }

    /// Takes a sampled token; returns true when the generation ends with it (EOS, stop token or string, or the
    /// token limit). Text that became final goes to `onText`.
    mutating func accept(_ token: Int, onText: (String) -> Void) -> Bool {
        if options.stopAtEOS && token == tokenizer.eosID {
            stopReason = .endOfSequence
            return true
        }
        tokens.append(token)
        history.append(token)
        if let stop = options.stopToken, token == stop.id {
            tokens.removeLast(min(stop.dropping, tokens.count))
            text = tokenizer.decode(tokens)
            stopReason = .stopToken(stop.id)
            return true
        }
        if let stop = stream.append(token) {
            text = stop.textBefore
            stopReason = .stopString(stop.string)
            return true
        }
        if let piece = stream.takeFinal() { onText(piece) }
        return tokens.count >= options.maxNewTokens
    }

    /// The generation, streaming what `onText` has not had yet.
    func finish(promptPositions: Int, promptSeconds: Double, started: Date, onText: (String) -> Void) -> Generation {
        let finalText = text ?? stream.text
        if let rest = stream.rest(of: finalText) { onText(rest) }
        return Generation(
            text: finalText, tokens: tokens, stopReason: stopReason, promptPositions: promptPositions,
            promptSeconds: promptSeconds, generationSeconds: Date().timeIntervalSince(started))
    }
}

/// A NaN in the weights turns every logit into NaN, and sampling would then pick token 0 forever.
private func checkFinite(_ logits: UnsafeMutableBufferPointer<Float>, model: Llama, token: Int) throws {
    guard logits.allSatisfy(\.isFinite) else {
        throw ModelError.nonFinite(path: model.adapter.map { "\(model.weights.path) with \($0.path)" } ?? model.weights.path,
                                   output: "logits for generated token \(token)")
    }
}

/// Runs a prompt through a decoder and generates text, streaming it as it becomes final.
public struct Generator {
    public let context: LlamaContext
    public let tokenizer: SentencePieceTokenizer

    public init(context: LlamaContext, tokenizer: SentencePieceTokenizer) {
        self.context = context
        self.tokenizer = tokenizer
    }

    /// Appends `prompt` to the context (slot 0) and generates. `onText` receives pieces of text as soon as nothing
    /// can take them back: no stop string can still begin in them, no stop token can still drop them, and they end
    /// on a whole UTF-8 sequence. The pieces joined are exactly the returned text. `shouldStop` is asked before each
    /// new token; when it says yes, the generation ends there with what it has (`.interrupted`).
    public func generate(
        _ prompt: [DecoderInput], options: GenerationOptions, onText: (String) -> Void = { _ in }, shouldStop: () -> Bool = { false }
    ) throws -> Generation {
        let promptStart = Date()
        let positionsBefore = context.length
        try context.evaluate(prompt)
        try checkFinite(context.logits, model: context.model, token: 0)
        let promptPositions = context.length - positionsBefore
        let promptSeconds = Date().timeIntervalSince(promptStart)
        var decoding = Decoding(prompt: prompt, options: options, tokenizer: tokenizer)
        let started = Date()
        var current = decoding.sample(context.logits)
        while !decoding.accept(current, onText: onText) {
            if context.length >= context.capacity {
                decoding.stopReason = .contextFull
                break
            }
            if shouldStop() {
                decoding.stopReason = .interrupted
                break
            }
            let next = try context.next(current)
            try checkFinite(next, model: context.model, token: decoding.tokens.count)
            current = decoding.sample(next)
        }
        return decoding.finish(promptPositions: promptPositions, promptSeconds: promptSeconds, started: started, onText: onText)
    }
}

/// Generates for many prompts at once, `context.slots` of them at a time: each step advances every live sequence
/// by one token in one pass over the weights; a sequence that ends frees its slot, which the next waiting request
/// takes (continuous batching). Each sequence's tokens are those it would get alone (see BatchGenerationTests).
public struct BatchGenerator {
    public struct Request: Sendable {
        public var prompt: [DecoderInput]
        public var options: GenerationOptions
        public init(prompt: [DecoderInput], options: GenerationOptions) { (self.prompt, self.options) = (prompt, options) }
    }

    public let context: LlamaContext
    public let tokenizer: SentencePieceTokenizer

    public init(context: LlamaContext, tokenizer: SentencePieceTokenizer) {
        self.context = context
        self.tokenizer = tokenizer
    }

    /// Generates for every request, returning the generations in the requests' order. `onFinish` gets each one
    /// (with its request's index) as soon as it ends. `shouldStop` is asked before each step; when it says yes,
    /// every live sequence ends there (`.interrupted`) and waiting requests are not started.
    /// A request whose prompt does not go in (longer than the context, say) or whose logits are not finite fails
    /// alone, as it would alone, and its slot goes to the next request; only a failure of the pass all sequences
    /// share is thrown.
    /// A sequence's `generationSeconds` is wall time from its first sampled token to its last, shared with the
    /// sequences stepped alongside it.
    public func generate(
        _ requests: [Request], onFinish: (Int, Generation) -> Void = { _, _ in }, shouldStop: () -> Bool = { false }
    ) throws -> [Result<Generation, Error>] {
        struct Live { var request: Int, decoding: Decoding, current: Int, promptPositions: Int, promptSeconds: Double, started: Date }
        var results = [Result<Generation, Error>?](repeating: nil, count: requests.count)
        var live = [Live?](repeating: nil, count: context.slots)
        var waiting = requests.indices.makeIterator()
        var stepTokens: [(slot: Int, token: Int)] = []
        stepTokens.reserveCapacity(context.slots)
        let ignore: (String) -> Void = { _ in }

        func finish(_ slot: Int) {
            guard let sequence = live[slot] else { return }
            let generation = sequence.decoding.finish(
                promptPositions: sequence.promptPositions, promptSeconds: sequence.promptSeconds, started: sequence.started, onText: ignore)
            results[sequence.request] = .success(generation)
            onFinish(sequence.request, generation)
            live[slot] = nil
        }
        /// Fills a free slot from the queue: evaluates the prompt there and takes its first token, until a request
        /// needs more than that (a request can end on its first token, or fail, and leave the slot free again).
        func refill(_ slot: Int) {
            while live[slot] == nil, let index = waiting.next() {
                let request = requests[index]
                let promptStart = Date()
                context.reset(slot: slot)
                do {
                    try context.evaluate(request.prompt, slot: slot)
                    try checkFinite(context.logits, model: context.model, token: 0)
                } catch {
                    results[index] = .failure(error)
                    continue
                }
                var decoding = Decoding(prompt: request.prompt, options: request.options, tokenizer: tokenizer)
                let promptSeconds = Date().timeIntervalSince(promptStart)
                let current = decoding.sample(context.logits)
                live[slot] = Live(request: index, decoding: decoding, current: current, promptPositions: context.lengths[slot],
                                  promptSeconds: promptSeconds, started: Date())
                advance(slot)
            }
        }
        /// Accepts the slot's current token and ends the sequence if it is over.
        func advance(_ slot: Int) {
            guard var sequence = live[slot] else { return }
            var ended = sequence.decoding.accept(sequence.current, onText: ignore)
            if !ended && context.lengths[slot] >= context.capacity {
                sequence.decoding.stopReason = .contextFull
                ended = true
            }
            live[slot] = sequence
            if ended { finish(slot) }
        }

        for slot in 0..<context.slots { refill(slot) }
        while live.contains(where: { $0 != nil }) {
            if shouldStop() {
                for slot in 0..<context.slots {
                    live[slot]?.decoding.stopReason = .interrupted
                    finish(slot)
                }
                break
            }
            stepTokens.removeAll(keepingCapacity: true)
            for slot in 0..<context.slots { if let sequence = live[slot] { stepTokens.append((slot, sequence.current)) } }
            let logits = try context.step(stepTokens)
            let vocab = context.model.config.vocabSize
            for (row, (slot, _)) in stepTokens.enumerated() {
                let rowLogits = UnsafeMutableBufferPointer(rebasing: logits[(row * vocab)..<((row + 1) * vocab)])
                do {
                    try checkFinite(rowLogits, model: context.model, token: live[slot]!.decoding.tokens.count)
                } catch {
                    results[live[slot]!.request] = .failure(error)
                    live[slot] = nil
                    continue
                }
                live[slot]!.current = live[slot]!.decoding.sample(rowLogits)
                advance(slot)
            }
            if shouldStop() { continue }  // no new prompt once a stop is asked for
            for slot in 0..<context.slots where live[slot] == nil { refill(slot) }
        }
        // Requests never started (after an interruption) end empty.
        return results.map { $0 ?? .success(Generation(text: "", tokens: [], stopReason: .interrupted, promptPositions: 0, promptSeconds: 0, generationSeconds: 0)) }
    }
}

/// A generation's text as it grows token by token, and how much of it is final: what no stop string, no tokens a
/// stop token would drop, and no unfinished UTF-8 sequence can still take back. Counted in bytes: a token can add
/// a combining mark or a joiner that extends the previous character without adding one.
public struct TextStream {
    private var detokenizer: SentencePieceTokenizer.Detokenizer
    private let stops: [(string: String, bytes: [UInt8])]
    private let heldTokens: Int
    /// The stable byte count after each token.
    private var stableAfterToken: [Int] = []
    private var emitted = 0
    /// No stop string ends in the bytes before this (they were stable when searched).
    private var searched = 0

    /// `holdingBackTokens`: how many of the last tokens a stop token could still drop (PandaGPT's drops one).
    public init(tokenizer: SentencePieceTokenizer, stopStrings: [String], holdingBackTokens: Int = 0, capacity: Int = 256) {
        detokenizer = SentencePieceTokenizer.Detokenizer(tokenizer, reservingCapacity: capacity * 8)
        stops = stopStrings.filter { !$0.isEmpty }.map { ($0, Array($0.utf8)) }
        heldTokens = holdingBackTokens
        stableAfterToken.reserveCapacity(capacity)
    }

    /// The text so far.
    public var text: String { String(decoding: detokenizer.bytes, as: UTF8.self) }

    /// Adds a token. When the text now contains a stop string, returns the earliest and the text before it.
    public mutating func append(_ token: Int) -> (string: String, textBefore: String)? {
        detokenizer.append(token)
        let bytes = detokenizer.bytes
        var earliest: (string: String, at: Int)?
        for stop in stops {
            let from = max(0, searched - (stop.bytes.count - 1))
            guard let at = Self.firstIndex(of: stop.bytes, in: bytes, from: from) else { continue }
            if earliest.map({ at < $0.at }) ?? true { earliest = (stop.string, at) }
        }
        if let earliest { return (earliest.string, String(decoding: bytes[..<earliest.at], as: UTF8.self)) }
        let stable = detokenizer.stableCount
        searched = stable
        stableAfterToken.append(stable)
        return nil
    }

    /// The text that became final since the last call, if any.
    public mutating func takeFinal() -> String? {
        let bytes = detokenizer.bytes
        var final = detokenizer.stableCount
        if heldTokens > 0 {
            let kept = stableAfterToken.count - heldTokens
            final = min(final, kept > 0 ? stableAfterToken[kept - 1] : 0)
        }
        // A tail that could grow into a stop string; it starts on the stop string's first byte, so on a character.
        for stop in stops {
            for length in stride(from: min(stop.bytes.count - 1, final), through: 1, by: -1)
            where bytes[(final - length)..<final].elementsEqual(stop.bytes[..<length]) {
                final -= length
                break
            }
        }
        guard final > emitted else { return nil }
        defer { emitted = final }
        return String(decoding: bytes[emitted..<final], as: UTF8.self)
    }

    /// What is left to stream of the generation's final text (which starts with everything streamed so far).
    public func rest(of finalText: String) -> String? {
        let bytes = Array(finalText.utf8)
        return bytes.count > emitted ? String(decoding: bytes[emitted...], as: UTF8.self) : nil
    }

    private static func firstIndex(of needle: [UInt8], in haystack: [UInt8], from start: Int) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count, start <= haystack.count - needle.count else { return nil }
        for index in start...(haystack.count - needle.count) where haystack[index] == needle[0] {
            if haystack[index..<(index + needle.count)].elementsEqual(needle) { return index }
        }
        return nil
    }
}
