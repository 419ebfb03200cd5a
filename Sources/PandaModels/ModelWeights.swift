import Foundation
import PandaFormat
import PandaKernels

/// What can go wrong while building a model from a `.panda` file: each names the file and what was expected.
public enum ModelError: LocalizedError, Equatable, Sendable {
    case wrongFamily(path: String, expected: String, found: String)
    case badConfig(path: String, reason: String)
    case missingTensor(path: String, tensor: String)
    case badTensor(path: String, tensor: String, reason: String)
    case badInput(reason: String)
    /// NaN or infinity out of a model given finite inputs: its weights are damaged (or overflow).
    case nonFinite(path: String, output: String)

    public var errorDescription: String? {
        switch self {
        case .wrongFamily(let path, let expected, let found): "\(path): holds a '\(found)' model, expected '\(expected)'"
        case .badConfig(let path, let reason): "\(path): configuration: \(reason)"
        case .missingTensor(let path, let tensor): "\(path): tensor \(tensor) is missing"
        case .badTensor(let path, let tensor, let reason): "\(path): tensor \(tensor): \(reason)"
        case .badInput(let reason): reason
        case .nonFinite(let path, let output):
            "\(path): the model gave NaN or infinite \(output); its weights may be damaged (panda-convert verify checks every checksum)"
        }
    }
}

/// The tensors of one `.panda` file as the models use them: raw tensors in place in the mapping, zstd tensors
/// decoded once into memory owned here. Everything handed out stays valid while this object lives.
public final class ModelWeights: @unchecked Sendable {
    // @unchecked: `handedOut` is only appended to while a model is being built, before it is shared.
    public let file: WeightFile
    /// Every tensor's bytes handed out, kept so that the views stay valid (a decoded tensor's memory is its own).
    private var handedOut: [TensorBytes] = []

    public init(path: String) throws {
        file = try WeightFile(path: path)
    }

    public init(file: WeightFile) { self.file = file }

    public var path: String { file.path }
    public var metadata: WeightMetadata { file.metadata }

    /// Decodes the file's `config` into a model's configuration struct, after checking the family.
    public func config<Config: Decodable>(_ type: Config.Type, family: String) throws -> Config {
        guard metadata.family == family else { throw ModelError.wrongFamily(path: path, expected: family, found: metadata.family) }
        do {
            return try JSONDecoder().decode(Config.self, from: JSONEncoder().encode(metadata.config))
        } catch {
            throw ModelError.badConfig(path: path, reason: "\(error)")
        }
    }

    public func contains(_ name: String) -> Bool { file.contains(name) }

    /// The decoded bytes of a tensor whose shape must be `shape`.
    public func bytes(_ name: String, shape: [Int]) throws -> (TensorInfo, UnsafeRawBufferPointer) {
        guard file.contains(name) else { throw ModelError.missingTensor(path: path, tensor: name) }
        let info = try file.info(name)
        guard info.shape == shape else {
            throw ModelError.badTensor(path: path, tensor: name, reason: "has shape \(info.shape), expected \(shape)")
        }
        let bytes = try file.bytes(name)
        handedOut.append(bytes)
        return (info, bytes.withUnsafeBytes { $0 })  // valid while handedOut holds it
    }

    /// A [rows × columns] weight for the matrix kernels; `shape` is its stored shape when that has more axes
    /// (a convolution kernel [out, in, kh, kw] is a matrix of out rows).
    public func matrix(_ name: String, rows: Int, columns: Int, shape: [Int]? = nil) throws -> WeightMatrix {
        let (info, bytes) = try bytes(name, shape: shape ?? [rows, columns])
        guard [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_0x8, .q8_0x8].contains(info.dtype), !info.dtype.isQuantized || columns % 32 == 0,
            info.dtype.rowGroup == 1 || (shape ?? [rows, columns]) == [rows, columns]
        else {
            throw ModelError.badTensor(path: path, tensor: name, reason: "is \(info.dtype) with \(columns) columns, which the kernels cannot multiply")
        }
        return WeightMatrix(dtype: info.dtype, rows: rows, columns: columns, bytes: bytes)
    }

    /// A small tensor (norm weights, biases, LoRA factors) widened to f32.
    public func floats(_ name: String, shape: [Int]) throws -> [Float] {
        let (info, bytes) = try bytes(name, shape: shape)
        guard info.dtype.isFloatingPoint else { throw ModelError.badTensor(path: path, tensor: name, reason: "is \(info.dtype), expected a float dtype") }
        return [Float](unsafeUninitializedCapacity: info.elementCount) { out, initialized in
            info.dtype.decode(bytes, count: info.elementCount, columns: info.shape.last, into: out.baseAddress!)
            initialized = info.elementCount
        }
    }
}

extension ModelWeights {
    /// A tokenizer file the converter embedded under `role` ("sentencepiece", "clip-bpe").
    public func embeddedFile(role: String) throws -> Data {
        guard let file = metadata.tokenizers[role] else {
            throw ModelError.badConfig(path: path, reason: "no embedded '\(role)' tokenizer (convert with the tokenizer file beside the checkpoint)")
        }
        return file.data
    }
}

extension SentencePieceTokenizer {
    /// The tokenizer.model embedded in a converted decoder.
    public init(weights: ModelWeights) throws {
        do {
            try self.init(modelData: weights.embeddedFile(role: "sentencepiece"))
        } catch let error as TokenizerError {
            throw ModelError.badConfig(path: weights.path, reason: error.localizedDescription)
        }
    }
}
