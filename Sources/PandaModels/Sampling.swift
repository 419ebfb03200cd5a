import Foundation

/// How the next token is chosen from the logits, in the order Hugging Face's `generate` applies its
/// processors: repetition penalty, temperature, top-k, top-p, then a draw. Temperature 0 means greedy.
public struct SamplingOptions: Sendable, Equatable {
    public var temperature: Float
    public var topK: Int
    public var topP: Float
    public var repetitionPenalty: Float
    public var seed: UInt64

    public init(temperature: Float = 0, topK: Int = 0, topP: Float = 1, repetitionPenalty: Float = 1, seed: UInt64 = 0) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.repetitionPenalty = repetitionPenalty
        self.seed = seed
    }

    public static let greedy = SamplingOptions()

    public var isGreedy: Bool { temperature <= 0 }
}

/// Chooses tokens; reproducible for a given seed. Keeps its buffers between tokens.
public struct Sampler {
    public let options: SamplingOptions
    private var random: SplitMix64
    private var candidates: [(id: Int, logit: Float)] = []

    public init(_ options: SamplingOptions) {
        self.options = options
        random = SplitMix64(seed: options.seed)
    }

    /// Picks the next token. `history` (prompt and generated ids) feeds the repetition penalty, which, as in
    /// transformers, divides positive logits and multiplies negative ones of every token already seen.
    public mutating func next(_ logits: UnsafeMutableBufferPointer<Float>, history: [Int]) -> Int {
        if options.repetitionPenalty != 1 {
            for id in Set(history) where id >= 0 && id < logits.count {
                logits[id] = logits[id] < 0 ? logits[id] * options.repetitionPenalty : logits[id] / options.repetitionPenalty
            }
        }
        if options.isGreedy { return Self.argmax(logits) }

        // Tokens more than 40 nats below the best carry under e⁻⁴⁰ of the mass each; leaving them out keeps the
        // sort short without changing any draw that float arithmetic could tell apart.
        let best = logits[Self.argmax(logits)]
        candidates.removeAll(keepingCapacity: true)
        for (id, logit) in logits.enumerated() where logit / options.temperature > best / options.temperature - 40 {
            candidates.append((id, logit / options.temperature))
        }
        candidates.sort { $0.logit != $1.logit ? $0.logit > $1.logit : $0.id < $1.id }
        if options.topK > 0 && candidates.count > options.topK { candidates.removeLast(candidates.count - options.topK) }
        let top = candidates[0].logit
        var total: Float = 0
        for index in candidates.indices {
            candidates[index].logit = exp(candidates[index].logit - top)  // now unnormalized probabilities
            total += candidates[index].logit
        }
        if options.topP < 1 {
            // Keep the most likely tokens until the mass before the next one reaches top_p (at least one).
            var mass: Float = 0
            var kept = 0
            while kept < candidates.count && (kept == 0 || mass < options.topP * total) {
                mass += candidates[kept].logit
                kept += 1
            }
            candidates.removeLast(candidates.count - kept)
            total = mass
        }
        var draw = Float(random.nextUnitDouble()) * total
        for candidate in candidates {
            draw -= candidate.logit
            if draw < 0 { return candidate.id }
        }
        return candidates[candidates.count - 1].id
    }

    /// The first index of the largest logit, as `torch.argmax`.
    public static func argmax(_ logits: UnsafeMutableBufferPointer<Float>) -> Int {
        var bestIndex = 0
        var bestValue = -Float.infinity
        for (index, value) in logits.enumerated() where value > bestValue {
            bestValue = value
            bestIndex = index
        }
        return bestIndex
    }
}

/// A small, fast, seedable generator (Steele, Lea & Flood's SplitMix64), so runs reproduce across platforms.
struct SplitMix64 {
    private var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    mutating func nextUnitDouble() -> Double { Double(next() >> 11) / Double(1 << 53) }
}
