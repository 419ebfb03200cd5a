import Foundation
import PandaFormat

/// Everything the converter was given: the tensors of every checkpoint file (Hugging Face shards followed through
/// their index), and the side files (tokenizers, `config.json`) found beside them.
public struct ConversionInputs: Sendable {
    public var tensors: [String: SourceTensor] = [:]
    /// Tensor names in the order they were found.
    public var order: [String] = []
    /// Side files by base name.
    public var sideFiles: [String: String] = [:]
    /// Every file read, checkpoints first, for provenance.
    public var files: [String] = []
    /// Non-tensor entries of torch checkpoints (e.g. an `epoch` counter), which are not converted.
    public var nonTensorKeys: [String] = []

    static let checkpointExtensions: Set<String> = ["safetensors", "bin", "pt", "pth", "ckpt"]

    public init() {}

    /// Reads the given files and directories. A directory contributes its `*.index.json` shards (or, without an
    /// index, every checkpoint file in it) and its side files.
    public static func gather(_ paths: [String]) throws -> ConversionInputs {
        var inputs = ConversionInputs()
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else { throw ConvertError.inputNotFound(path: path) }
            if isDirectory.boolValue {
                try inputs.addDirectory(path)
            } else {
                try inputs.addFile(path)
            }
        }
        return inputs
    }

    private mutating func addDirectory(_ directory: String) throws {
        let names = try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
        let indexes = names.filter { $0.hasSuffix(".index.json") }
        if !indexes.isEmpty {
            for index in indexes { try addShardIndex((directory as NSString).appendingPathComponent(index)) }
        } else {
            for name in names where Self.checkpointExtensions.contains((name as NSString).pathExtension) {
                try addCheckpoint((directory as NSString).appendingPathComponent(name))
            }
        }
        for name in names where !Self.checkpointExtensions.contains((name as NSString).pathExtension) && !name.hasSuffix(".index.json") {
            let path = (directory as NSString).appendingPathComponent(name)
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                sideFiles[name] = sideFiles[name] ?? path
            }
        }
    }

    private mutating func addFile(_ path: String) throws {
        if path.hasSuffix(".index.json") {
            try addShardIndex(path)
        } else if Self.checkpointExtensions.contains((path as NSString).pathExtension) {
            try addCheckpoint(path)
        } else {
            sideFiles[(path as NSString).lastPathComponent] = path
        }
    }

    /// A Hugging Face `*.index.json`: `{"weight_map": {tensor: shard file}}`; every shard must exist and hold
    /// the tensors the index assigns to it.
    private mutating func addShardIndex(_ indexPath: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: indexPath))
        guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
            let weightMap = object["weight_map"] as? [String: String]
        else { throw ConvertError.unreadableCheckpoint(path: indexPath, reason: "not a shard index (no \"weight_map\" object)") }
        let directory = (indexPath as NSString).deletingLastPathComponent
        let shards = Array(Set(weightMap.values)).sorted()
        for shard in shards {
            let shardPath = (directory as NSString).appendingPathComponent(shard)
            guard FileManager.default.fileExists(atPath: shardPath) else { throw ConvertError.missingShard(index: indexPath, shard: shard) }
            try addCheckpoint(shardPath)
        }
        let absent = weightMap.keys.filter { tensors[$0] == nil }.sorted()
        if !absent.isEmpty {
            throw ConvertError.keyMismatch(recipe: "shard index \((indexPath as NSString).lastPathComponent)", unmapped: [], missing: absent)
        }
    }

    private mutating func addCheckpoint(_ path: String) throws {
        let found: [SourceTensor]
        if path.hasSuffix(".safetensors") {
            found = try Safetensors.read(path).tensors
        } else {
            let contents = try TorchCheckpoint.read(path)
            found = contents.tensors
            nonTensorKeys += contents.nonTensorKeys
        }
        for tensor in found {
            if let existing = tensors[tensor.name] {
                throw ConvertError.duplicateTensor(tensor: tensor.name, first: existing.path, second: path)
            }
            tensors[tensor.name] = tensor
            order.append(tensor.name)
        }
        files.append(path)
    }
}
