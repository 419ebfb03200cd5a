import Foundation

/// When a generation ends, beyond the sampling choices.
public struct GenerationOptions: Sendable, Equatable {
    public var maxNewTokens: Int
    public var sampling: SamplingOptions
    /// Generation stops when the text contains one of these; the text returned ends before it.
    public var stopStrings: [String]
    public var stopAtEOS: Bool
    /// Generation stops when this token is produced; the returned tokens then end `dropping` tokens earlier.
    public var stopToken: (id: Int, dropping: Int)?

    public init(
        maxNewTokens: Int = 256, sampling: SamplingOptions = .greedy, stopStrings: [String] = [], stopAtEOS: Bool = true,
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
    public enum StopReason: Sendable, Equatable { case endOfSequence, stopString(String), stopToken(Int), maxTokens, contextFull }

    public var text: String
    public var tokens: [Int]
    public var stopReason: StopReason
    public var promptPositions: Int
    public var promptSeconds: Double
    public var generationSeconds: Double

    public var tokensPerSecond: Double { generationSeconds > 0 ? Double(tokens.count) / generationSeconds : 0 }
    public var promptPositionsPerSecond: Double { promptSeconds > 0 ? Double(promptPositions) / promptSeconds : 0 }
}

/// Runs a prompt through a decoder and generates text, streaming it as it becomes final.
public struct Generator {
    public let context: LlamaContext
    public let tokenizer: SentencePieceTokenizer

    public init(context: LlamaContext, tokenizer: SentencePieceTokenizer) {
        self.context = context
        self.tokenizer = tokenizer
    }

    /// Appends `prompt` to the context and generates. `onText` receives pieces of text as soon as no stop string
    /// can still begin in them and they end on a whole character.
    public func generate(_ prompt: [DecoderInput], options: GenerationOptions, onText: (String) -> Void = { _ in }) throws -> Generation {
        let promptStart = Date()
        let positionsBefore = context.length
        try context.evaluate(prompt)
        let promptPositions = context.length - positionsBefore
        let promptSeconds = Date().timeIntervalSince(promptStart)
        var history: [Int] = prompt.flatMap { input -> [Int] in
            if case .tokens(let ids) = input { return ids }
            return []
        }
        var sampler = Sampler(options.sampling)
        var tokens: [Int] = []
        var emitted = 0  // characters of the text already passed to onText
        var stopReason = Generation.StopReason.maxTokens
        var text = ""
        let started = Date()
        var current = sampler.next(context.logits, history: history)
        while true {
            if options.stopAtEOS && current == tokenizer.eosID {
                stopReason = .endOfSequence
                break
            }
            tokens.append(current)
            history.append(current)
            if let stop = options.stopToken, current == stop.id {
                tokens.removeLast(min(stop.dropping, tokens.count))
                text = tokenizer.decode(tokens)
                stopReason = .stopToken(stop.id)
                break
            }
            text = tokenizer.decode(tokens)
            if let stop = options.stopStrings.compactMap({ s in text.range(of: s).map { (s, $0) } }).min(by: { $0.1.lowerBound < $1.1.lowerBound }) {
                text = String(text[..<stop.1.lowerBound])
                stopReason = .stopString(stop.0)
                break
            }
            var final = Self.finalPrefixLength(text, holdingBackPrefixesOf: options.stopStrings)
            if let stop = options.stopToken, stop.dropping > 1 {
                // The last tokens may yet be dropped by the stop token: hold their text back.
                final = min(final, tokenizer.decode(Array(tokens.dropLast(stop.dropping - 1))).count)
            }
            if final > emitted {
                onText(String(text.dropFirst(emitted).prefix(final - emitted)))
                emitted = final
            }
            if tokens.count >= options.maxNewTokens { break }
            if context.length >= context.capacity {
                stopReason = .contextFull
                break
            }
            let next = try context.next(current)
            current = sampler.next(next, history: history)
        }
        if text.count > emitted { onText(String(text.dropFirst(emitted))) }
        return Generation(
            text: text, tokens: tokens, stopReason: stopReason, promptPositions: promptPositions,
            promptSeconds: promptSeconds, generationSeconds: Date().timeIntervalSince(started))
    }

    /// How many characters of `text` are final: not a trailing partial character (U+FFFD from an unfinished
    /// byte sequence) and not a tail that could grow into a stop string.
    static func finalPrefixLength(_ text: String, holdingBackPrefixesOf stops: [String]) -> Int {
        var length = text.count
        if text.last == "\u{FFFD}" { length -= 1 }
        for stop in stops {
            for prefixLength in stride(from: min(stop.count - 1, length), through: 1, by: -1)
            where text.prefix(length).hasSuffix(stop.prefix(prefixLength)) {
                length = min(length, text.prefix(length).count - prefixLength)
                break
            }
        }
        return max(0, length)
    }
}
