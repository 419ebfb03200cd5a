import Foundation
import PandaFormat

/// A checkpoint family's conversion, stated as data: which keys exist, what each becomes, which shapes they must
/// have, how the model configuration follows from the shapes, and which side files ride along.
/// The recipes themselves live in `Converters/`, one file per family.
public struct Recipe: Sendable {
    public var name: String
    /// The `family` written into the `.panda` metadata.
    public var family: String
    public var summary: String
    /// Keys whose presence identifies the family when `--recipe` is not given.
    public var signature: [String]
    public var tensors: [TensorRule]
    public var files: [FileRule]
    /// Configuration fields, in order; later fields may refer to earlier ones by name.
    public var config: [(String, ConfigValue)]
    /// Relations between configuration fields that the model relies on when it loads.
    public var checks: [ConfigCheck]
    /// Spellings of the same key rewritten to one form before matching, e.g. PEFT's `lora_A.default.` → `lora_A.`.
    public var aliases: [(String, String)]

    public init(
        name: String, family: String, summary: String, signature: [String], aliases: KeyValuePairs<String, String> = [:],
        tensors: [TensorRule], files: [FileRule] = [], config: KeyValuePairs<String, ConfigValue>, checks: [ConfigCheck] = []
    ) {
        self.name = name
        self.family = family
        self.summary = summary
        self.signature = signature
        self.aliases = aliases.map { ($0.key, $0.value) }
        self.tensors = tensors
        self.files = files
        self.config = config.map { ($0.key, $0.value) }
        self.checks = checks
    }

    /// A checkpoint key after the recipe's aliases.
    public func canonicalName(_ key: String) -> String {
        aliases.reduce(key) { $0.replacingOccurrences(of: $1.0, with: $1.1) }
    }
}

/// What a tensor is for, which decides its stored dtype (see `DTypePolicy`).
public enum TensorClass: String, Sendable, CaseIterable {
    /// A matrix multiplied by activations (attention and MLP projections): takes `--dtype`, including quantized.
    case linear
    /// A token embedding table: one row is read per token.
    case embedding
    /// The decoder's output projection to the vocabulary.
    case outputHead
    /// Norm weights and biases, biases, scales, class tokens, position embeddings: small, kept in f32.
    case small
    /// Convolution kernels of an encoder stem: take a float `--dtype`, never a quantized one.
    case convolution
    /// A LoRA factor or PandaGPT's projection: small and precision-sensitive, kept in f32.
    case adapter
}

/// One family of checkpoint keys and what becomes of them.
public struct TensorRule: Sendable {
    public enum Disposition: Sendable {
        case required
        case optional
        /// Present in some checkpoints but not used (e.g. buffers recomputed from the configuration).
        case ignored
    }

    /// The checkpoint key, with placeholders: `{layer}` (or any `{name}`) matches a decimal index;
    /// `{name:a|b|c}` matches one of the listed words.
    public var pattern: KeyPattern
    public var disposition: Disposition
    public var tensorClass: TensorClass
    /// Expected shape, each dimension a configuration field name or a literal number.
    public var shape: [ShapeDimension]?
    /// The key in the `.panda` file (same placeholders); the checkpoint key when nil.
    public var target: KeyPattern?

    public static func required(_ key: String, _ tensorClass: TensorClass, shape: [ShapeDimension]? = nil, as target: String? = nil) -> TensorRule {
        TensorRule(pattern: KeyPattern(key), disposition: .required, tensorClass: tensorClass, shape: shape, target: target.map(KeyPattern.init))
    }

    public static func optional(_ key: String, _ tensorClass: TensorClass, shape: [ShapeDimension]? = nil, as target: String? = nil) -> TensorRule {
        TensorRule(pattern: KeyPattern(key), disposition: .optional, tensorClass: tensorClass, shape: shape, target: target.map(KeyPattern.init))
    }

    public static func ignored(_ key: String) -> TensorRule {
        TensorRule(pattern: KeyPattern(key), disposition: .ignored, tensorClass: .small, shape: nil, target: nil)
    }
}

/// A dimension in a recipe's expected shape.
/// Field names may hold the rule's placeholders (`{modality}_embed_dim`).
public enum ShapeDimension: Sendable, ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, CustomStringConvertible {
    case field(String)
    case literal(Int)
    /// A field times a whole number (an attention in-projection is 3 × width, an MLP 4 × width).
    case multiple(String, Int)

    public init(stringLiteral value: String) { self = .field(value) }
    public init(integerLiteral value: Int) { self = .literal(value) }

    public var description: String {
        switch self {
        case .field(let name): name
        case .literal(let value): String(value)
        case .multiple(let name, let factor): "\(factor)×\(name)"
        }
    }
}

/// A side file the converter embeds in the metadata (tokenizers) or reads for the configuration.
public struct FileRule: Sendable {
    public enum Use: Sendable {
        /// Embedded under `tokenizers[role]`.
        case tokenizer(role: String)
        /// A Hugging Face style `config.json` whose fields fill in what shapes cannot tell.
        case configuration
    }

    public var fileName: String
    public var use: Use
    public var required: Bool

    public static func tokenizer(_ fileName: String, role: String, required: Bool = true) -> FileRule {
        FileRule(fileName: fileName, use: .tokenizer(role: role), required: required)
    }

    public static func configuration(_ fileName: String = "config.json") -> FileRule {
        FileRule(fileName: fileName, use: .configuration, required: false)
    }
}

/// A relation between configuration fields, checked at conversion time so that a file that converts also loads:
/// values no tensor shape shows (head counts) otherwise fail only when the model is built.
public enum ConfigCheck: Sendable {
    /// Field `parts` divides field `width` exactly: channels split into attention heads.
    case splits(width: String, into: String)
    /// As `splits`, and each part is an even number of channels: rotary embeddings rotate channel pairs.
    case splitsEvenly(width: String, into: String)
    /// Every id the SentencePiece tokenizer of `role` produces is below field `vocabulary` (an embedding row).
    case tokenizerFits(role: String, vocabulary: String)
}

/// How a configuration field is found.
public indirect enum ConfigValue: Sendable {
    /// Dimension `axis` of tensor `key` (a concrete key, without placeholders).
    case dimension(of: String, axis: Int)
    /// How many distinct values placeholder `placeholder` takes in keys matching `pattern`; they must be 0..<n.
    case count(of: String, placeholder: String)
    /// The element count of a tensor.
    case elements(of: String)
    /// A value given on the command line (`ConversionOptions.settings`) or in `config.json` under this name,
    /// else `otherwise`.
    case given(String, otherwise: ConfigValue)
    /// Another field divided by a number (must divide exactly).
    case quotient(String, by: Int)
    case integer(Int)
    case number(Double)
    case text(String)
    /// Whether a tensor with this key is present.
    case present(String)
}

/// A checkpoint key with placeholders, matched without regular expressions.
public struct KeyPattern: Sendable, CustomStringConvertible, Hashable {
    enum Part: Hashable, Sendable {
        case literal(String)
        case index(name: String)
        case choice(name: String, options: [String])
    }

    let parts: [Part]
    public let description: String

    public init(_ text: String) {
        description = text
        var parts: [Part] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            if open > rest.startIndex { parts.append(.literal(String(rest[..<open]))) }
            guard let close = rest[open...].firstIndex(of: "}") else {
                preconditionFailure("unclosed placeholder in recipe key '\(text)'")
            }
            let inner = rest[rest.index(after: open)..<close]
            if let colon = inner.firstIndex(of: ":") {
                let options = inner[inner.index(after: colon)...].split(separator: "|").map(String.init)
                parts.append(.choice(name: String(inner[..<colon]), options: options))
            } else {
                parts.append(.index(name: String(inner)))
            }
            rest = rest[rest.index(after: close)...]
        }
        if !rest.isEmpty { parts.append(.literal(String(rest))) }
        self.parts = parts
    }

    public var hasPlaceholders: Bool { parts.contains { if case .literal = $0 { false } else { true } } }

    /// The placeholder values if `key` matches, else nil.
    public func match(_ key: String) -> [String: String]? {
        var bindings: [String: String] = [:]
        return Self.match(parts[...], Substring(key), &bindings) ? bindings : nil
    }

    private static func match(_ parts: ArraySlice<Part>, _ key: Substring, _ bindings: inout [String: String]) -> Bool {
        guard let part = parts.first else { return key.isEmpty }
        let rest = parts.dropFirst()
        switch part {
        case .literal(let text):
            return key.hasPrefix(text) && match(rest, key.dropFirst(text.count), &bindings)
        case .index(let name):
            let digits = key.prefix { $0.isASCII && $0.isNumber }
            guard !digits.isEmpty, digits == "0" || !digits.hasPrefix("0") else { return false }
            if let bound = bindings[name], bound != String(digits) { return false }
            bindings[name] = String(digits)
            return match(rest, key.dropFirst(digits.count), &bindings)
        case .choice(let name, let options):
            for option in options where key.hasPrefix(option) {
                var attempt = bindings
                if let bound = attempt[name], bound != option { continue }
                attempt[name] = option
                if match(rest, key.dropFirst(option.count), &attempt) {
                    bindings = attempt
                    return true
                }
            }
            return false
        }
    }

    /// The key with placeholders replaced by `bindings`.
    public func filled(_ bindings: [String: String]) -> String {
        parts.map { part in
            switch part {
            case .literal(let text): text
            case .index(let name), .choice(let name, _): bindings[name] ?? "{\(name)}"
            }
        }.joined()
    }

    /// Every key this pattern names, given the range of each index placeholder.
    public func expand(indexCounts: [String: Int]) -> [String] {
        var keys = [""]
        for part in parts {
            let options: [String]
            switch part {
            case .literal(let text): options = [text]
            case .index(let name): options = (0..<(indexCounts[name] ?? 0)).map(String.init)
            case .choice(_, let choices): options = choices
            }
            keys = keys.flatMap { prefix in options.map { prefix + $0 } }
        }
        return keys
    }

    var indexPlaceholders: [String] {
        parts.compactMap { if case .index(let name) = $0 { name } else { nil } }
    }
}
