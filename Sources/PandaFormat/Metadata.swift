import Foundation

/// The JSON document stored in every `.panda` file: what the weights are, how to build the model around them,
/// the tokenizer files it needs, and where the weights came from.
public struct WeightMetadata: Codable, Sendable, Equatable {
    /// Model family, e.g. `llama`, `imagebind`, `pandagpt-delta`; decides how `config` is read.
    public var family: String
    /// The model configuration, with the original checkpoint's field names.
    public var config: JSONValue
    /// Files a model needs besides its tensors (a SentencePiece `tokenizer.model`, CLIP's BPE merges), keyed by role.
    public var tokenizers: [String: EmbeddedFile]
    public var provenance: Provenance

    public init(
        family: String, config: JSONValue = .object([:]), tokenizers: [String: EmbeddedFile] = [:],
        provenance: Provenance = Provenance()
    ) {
        self.family = family
        self.config = config
        self.tokenizers = tokenizers
        self.provenance = provenance
    }

    /// Decodes `config` into a model's own configuration type.
    public func decodeConfig<Config: Decodable>(_ type: Config.Type) throws -> Config {
        try JSONDecoder().decode(Config.self, from: JSONEncoder().encode(config))
    }
}

/// A file carried inside the metadata; `data` is base64 in the JSON.
public struct EmbeddedFile: Codable, Sendable, Equatable {
    /// The original file name, e.g. `tokenizer.model`.
    public var name: String
    public var data: Data

    public init(name: String, data: Data) {
        self.name = name
        self.data = data
    }
}

/// What a `.panda` file was made from and by what.
public struct Provenance: Codable, Sendable, Equatable {
    public struct Source: Codable, Sendable, Equatable {
        /// File name as given to the converter (no directories, so files made on different machines agree).
        public var name: String
        public var bytes: Int
        public var sha256: String

        public init(name: String, bytes: Int, sha256: String) {
            self.name = name
            self.bytes = bytes
            self.sha256 = sha256
        }
    }

    /// The tool and version that wrote the file, e.g. `panda-convert 0.1.0`.
    public var converter: String
    public var recipe: String?
    public var sources: [Source]
    /// Conversion options that shaped the tensors (target dtype, merged LoRA, …).
    public var options: [String: JSONValue]

    public init(converter: String = "", recipe: String? = nil, sources: [Source] = [], options: [String: JSONValue] = [:]) {
        self.converter = converter
        self.recipe = recipe
        self.sources = sources
        self.options = options
    }
}

/// Any JSON value, for configurations whose shape depends on the model family.
public enum JSONValue: Codable, Sendable, Equatable, CustomStringConvertible {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .int(let value): try container.encode(value)
        case .double(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    public subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    public var description: String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? String(decoding: encoder.encode(self), as: UTF8.self)) ?? "?"
    }
}
