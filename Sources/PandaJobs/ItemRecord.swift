import Foundation

/// One item's result: a line of the record log (the item's commit point) and the only source of every output file.
/// Encoded with sorted keys, it is exactly the JSON line users read in a job's `jsonl` output, less the internal
/// `key` and embedding references (`publicView`).
public struct ItemRecord: Codable, Equatable, Sendable {
    public enum Status: String, Codable, Sendable { case ok, error }

    public struct Failure: Codable, Equatable, Sendable {
        public var cell: String
        public var message: String
    }

    public var id: String
    /// Fingerprint of the job, the models and the item's inputs: a record whose key differs is stale.
    var key: String?
    public var status: Status
    /// The item's files by kind (`image`, `audio`, …).
    public var files: [String: String]
    /// Fingerprints of the models by role (`imagebind`, `decoder`, `adapter`).
    public var models: [String: String]
    public var seconds: Double
    /// The job's parameters as this run used them (with `--set`), when the job has any.
    public var parameters: [String: Double]?
    /// The item's literal text, for items that are texts rather than files.
    public var text: String?
    public var error: Failure?
    /// Results by cell name.
    public var cells: [String: CellResult]

    /// The record as written to the job's outputs: without the cache key and the embedding references.
    var publicView: ItemRecord {
        var record = self
        record.key = nil
        record.cells = cells.filter { if case .embedding = $0.value { false } else { true } }
        return record
    }

    /// The generations' token count.
    var generatedTokens: Int {
        cells.values.reduce(0) { total, result in
            if case .generation(let generation) = result { total + generation.tokens } else { total }
        }
    }

    /// The file shown first for the item: its first file in `MediaKind` order.
    var primaryFile: String? { MediaKind.allCases.lazy.compactMap { files[$0.rawValue] }.first }
}

/// What one cell gave for one item.
public enum CellResult: Codable, Equatable, Sendable {
    case embedding(Embedding)
    case generation(Generation)
    case classification(Classification)
    case retrieval(Retrieval)
    case sidecar(SidecarOutcome)

    /// A PandaGPT answer, or the answers of a multi-turn cell.
    public struct Generation: Codable, Equatable, Sendable {
        public struct Turn: Codable, Equatable, Sendable {
            public var prompt: String
            public var answer: String
        }
        public struct Parameters: Codable, Equatable, Sendable {
            public var maxTokens: Int
            public var temperature: Double
            public var topP: Double
            public var topK: Int
            public var seed: Int
            enum CodingKeys: String, CodingKey {
                case maxTokens = "max_tokens", temperature, topP = "top_p", topK = "top_k", seed
            }
        }
        /// The answers joined by blank lines.
        public var text: String
        public var turns: [Turn]
        public var tokens: Int
        public var seconds: Double
        public var parameters: Parameters
    }

    public struct Classification: Codable, Equatable, Sendable {
        public struct Label: Codable, Equatable, Sendable {
            public var label: String
            public var probability: Double
        }
        /// The most probable label.
        public var label: String
        public var labels: [Label]
    }

    public struct Retrieval: Codable, Equatable, Sendable {
        public struct Neighbour: Codable, Equatable, Sendable {
            public var id: String
            public var path: String?
            public var score: Double
        }
        public var neighbours: [Neighbour]
    }

    public struct SidecarOutcome: Codable, Equatable, Sendable {
        public var sidecar: String
        /// False when the policy left an existing file as it was.
        public var written: Bool
    }

    /// The cell's result as one line of text: a generation's text, a classification's top label, the ids of the
    /// neighbours a retrieval found.
    var summary: String {
        switch self {
        case .generation(let generation): generation.text.replacingOccurrences(of: "\n", with: " ")
        case .classification(let classification): classification.label
        case .retrieval(let retrieval): retrieval.neighbours.map(\.id).joined(separator: " ")
        case .embedding, .sidecar: ""
        }
    }

    private enum Shape: String, CodingKey { case embedding, turns, labels, neighbours, sidecar }

    // Each result is written as its own object; which one a stored object is follows from the field only it has.
    public init(from decoder: Decoder) throws {
        let fields = try decoder.container(keyedBy: Shape.self)
        if fields.contains(.turns) {
            self = .generation(try Generation(from: decoder))
        } else if fields.contains(.labels) {
            self = .classification(try Classification(from: decoder))
        } else if fields.contains(.neighbours) {
            self = .retrieval(try Retrieval(from: decoder))
        } else if fields.contains(.sidecar) {
            self = .sidecar(try SidecarOutcome(from: decoder))
        } else if fields.contains(.embedding) {
            self = .embedding(try Embedding(from: decoder))
        } else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a cell result"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        switch self {
        case .embedding(let embedding): try embedding.encode(to: encoder)
        case .generation(let generation): try generation.encode(to: encoder)
        case .classification(let classification): try classification.encode(to: encoder)
        case .retrieval(let retrieval): try retrieval.encode(to: encoder)
        case .sidecar(let outcome): try outcome.encode(to: encoder)
        }
    }
}

/// An ImageBind embedding and the cache key it is stored under. Records keep only the key; the vector is read back
/// from the cache when an output needs it.
public struct Embedding: Codable, Equatable, Sendable {
    public var key: String
    public var vector: [Float]

    init(key: String, vector: [Float]) { (self.key, self.vector) = (key, vector) }

    private enum CodingKeys: String, CodingKey { case key = "embedding" }

    public init(from decoder: Decoder) throws {
        key = try decoder.container(keyedBy: CodingKeys.self).decode(String.self, forKey: .key)
        vector = []
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(key, forKey: .key)
    }
}

extension CellResult {
    /// The result as a committed record holds it: an embedding by its cache key alone (the writers read vectors
    /// from the cache), so that the records a run keeps cost a few hundred bytes each whatever the embedding's width.
    var withoutVector: CellResult {
        if case .embedding(let embedding) = self { return .embedding(Embedding(key: embedding.key, vector: [])) }
        return self
    }
}

extension CellSpec {
    /// Cells whose result reads as text, shown in the console, the CSV and the report.
    var hasTextResult: Bool {
        switch body {
        case .generate, .classify, .retrieve: true
        case .encode, .combine, .write: false
        }
    }
}

enum RecordCoding {
    static func encoder() -> JSONEncoder {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return encoder
    }

    /// Records as JSON lines.
    static func lines(_ records: [ItemRecord]) throws -> Data {
        let encoder = encoder()
        var data = Data()
        for record in records { data += try encoder.encode(record) + Data("\n".utf8) }
        return data
    }
}
