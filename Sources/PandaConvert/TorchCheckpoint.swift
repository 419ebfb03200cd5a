import PandaFormat

/// Reads a PyTorch zip checkpoint (`torch.save` since 1.6: `.pt`, `.pth`, `.bin`) without running its pickle:
/// the restricted unpickler builds the state_dict's structure and every tensor becomes a view into the mapped
/// `data/<key>` entries, so tensors sharing a storage share bytes and nothing is copied.
public enum TorchCheckpoint {
    public struct Contents: Sendable {
        public var tensors: [SourceTensor]
        /// Keys whose values are not tensors (e.g. an `epoch` counter), which a state_dict conversion ignores.
        public var nonTensorKeys: [String]
    }

    public static func read(_ path: String) throws -> Contents {
        let file = try MappedFile(path: path)
        if file.count >= 2, file.bytes[0] == 0x80, file.bytes[1] <= 5 {
            throw ConvertError.legacyTorchFormat(path: path)
        }
        guard ZipArchive.looksLikeZip(file) else {
            throw ConvertError.unreadableCheckpoint(path: path, reason: "not a PyTorch checkpoint (neither a zip archive nor a legacy torch file)")
        }
        let archive = try ZipArchive(file)
        guard let pickleName = archive.order.first(where: { $0.hasSuffix("data.pkl") && $0.split(separator: "/").count == 2 }),
            let pickleEntry = archive.entries[pickleName]
        else { throw ConvertError.unreadableCheckpoint(path: path, reason: "a zip archive without a data.pkl: not written by torch.save") }
        let root = String(pickleName.dropLast("data.pkl".count))
        if let order = archive.entries[root + "byteorder"], try String(decoding: archive.contents(of: order), as: UTF8.self) != "little" {
            throw ConvertError.unreadableCheckpoint(path: path, reason: "a big-endian checkpoint; only little-endian ones are supported")
        }

        var unpickler = RestrictedUnpickler(try archive.contents(of: pickleEntry))
        let value: PickleValue
        do {
            value = try unpickler.run()
        } catch .forbiddenGlobal(let name) {
            throw ConvertError.forbiddenGlobal(path: path, global: name)
        } catch .exceedsLimit(let reason) {
            throw ConvertError.unreadableCheckpoint(path: path, reason: "refused: \(reason)")
        } catch .malformed(let reason) {
            throw ConvertError.unreadableCheckpoint(path: path, reason: "malformed pickle: \(reason)")
        } catch .unsupported(let what) {
            throw ConvertError.unreadableCheckpoint(path: path, reason: "the pickle uses \(what), which a state_dict does not need")
        }

        var contents = Contents(tensors: [], nonTensorKeys: [])
        var visited = 0
        try collect(value, prefix: "", archive: archive, root: root, into: &contents, visited: &visited)
        return contents
    }

    /// Values a walk may visit: a state_dict has thousands, while dicts shared under many keys can make a
    /// 2 KB pickle describe a tree of 2^64 entries.
    static let entryLimit = 1_000_000

    /// Walks nested dicts, naming tensors by their dotted key path. The unpickler builds no cycles, so the walk ends.
    private static func collect(
        _ value: PickleValue, prefix: String, archive: ZipArchive, root: String, into contents: inout Contents,
        visited: inout Int
    ) throws {
        visited += 1
        guard visited <= entryLimit else {
            throw ConvertError.unreadableCheckpoint(
                path: archive.file.path, reason: "refused: the state_dict has more than \(entryLimit) entries (shared dicts repeated?)")
        }
        switch value {
        case .dict(let dict):
            for key in dict.keys {
                try collect(
                    dict.values[key]!, prefix: prefix.isEmpty ? key : "\(prefix).\(key)", archive: archive, root: root,
                    into: &contents, visited: &visited)
            }
        case .tensor(let reference):
            let name = prefix.isEmpty ? "<root>" : prefix
            let entryName = root + "data/" + reference.storage.key
            guard let entry = archive.entries[entryName] else {
                throw ConvertError.badTensor(path: archive.file.path, tensor: name, reason: "its storage '\(entryName)' is missing from the archive")
            }
            let offset = try archive.dataOffset(of: entry)
            let (storageBytes, overflow) = reference.storage.elementCount.multipliedReportingOverflow(by: reference.storage.dtype.size)
            guard !overflow, entry.uncompressedSize >= storageBytes else {
                throw ConvertError.badTensor(
                    path: archive.file.path, tensor: name,
                    reason: "its storage holds \(entry.uncompressedSize) bytes, \(reference.storage.elementCount) × \(reference.storage.dtype.size) expected")
            }
            contents.tensors.append(
                try SourceTensor(
                    name: name, dtype: reference.storage.dtype, shape: reference.shape, strides: reference.strides,
                    file: archive.file, storageOffset: offset, storageElements: reference.storage.elementCount,
                    elementOffset: reference.storageOffset))
        default:
            contents.nonTensorKeys.append(prefix.isEmpty ? "<root>" : prefix)
        }
    }
}
