import Crypto
import Foundation
import PandaFormat

/// The job's memory on disk, under `<output>/.panda/`: an append-only log of item records (the commit point of
/// each item, safe against `kill -9`) and a content-addressed cache of embeddings and generations.
final class ResultStore {
    let directory: String
    let logPath: String
    private let cacheDirectory: String
    private var log: FileHandle?
    private var unsyncedSince: Date?
    /// Lines in the log when it was read: more than its records means stale or repeated lines to compact away.
    private(set) var loggedLines = 0

    init(outputDirectory: String, shard: Shard?) throws {
        directory = (outputDirectory as NSString).appendingPathComponent(".panda")
        cacheDirectory = (directory as NSString).appendingPathComponent("cache")
        logPath = (directory as NSString).appendingPathComponent(shard.map { "records.shard-\($0.index)-of-\($0.count).jsonl" } ?? "records.jsonl")
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
    }

    /// The records committed so far, last one per id winning. A line cut short by a crash is dropped from the file.
    func committedRecords() throws -> [String: [String: Any]] {
        guard FileManager.default.fileExists(atPath: logPath), let data = FileManager.default.contents(atPath: logPath) else { return [:] }
        var complete = data
        if let lastNewline = data.lastIndex(of: UInt8(ascii: "\n")), lastNewline != data.index(before: data.endIndex) {
            complete = data[...lastNewline]
            try truncateLog(to: complete.count)
        } else if data.lastIndex(of: UInt8(ascii: "\n")) == nil {
            complete = Data()
            try truncateLog(to: 0)
        }
        loggedLines = complete.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
        return Self.records(in: complete)
    }

    static func records(in data: Data) -> [String: [String: Any]] {
        var records: [String: [String: Any]] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any], let id = object["id"] as? String else { continue }
            records[id] = object
        }
        return records
    }

    private func truncateLog(to length: Int) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try handle.truncate(atOffset: UInt64(length))
        try handle.close()
    }

    /// Appends one record as one line; synced to disk at most every second (and on `close`).
    func commit(_ record: [String: Any]) throws {
        if log == nil {
            if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
            log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try log!.seekToEnd()
        }
        let line = try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]) + Data("\n".utf8)
        try log!.write(contentsOf: line)
        if let since = unsyncedSince {
            if Date().timeIntervalSince(since) > 1 { try log!.synchronize(); unsyncedSince = nil }
        } else {
            unsyncedSince = Date()
        }
    }

    func close() throws {
        try log?.synchronize()
        try log?.close()
        log = nil
    }

    /// Rewrites the log with exactly these records (after a run: stale and duplicate lines removed).
    func compact(_ records: [[String: Any]]) throws {
        try close()
        var data = Data()
        for record in records { data += try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys, .withoutEscapingSlashes]) + Data("\n".utf8) }
        try data.write(to: URL(fileURLWithPath: logPath), options: .atomic)
    }

    // MARK: Cache

    private func cachePath(_ key: String, _ suffix: String) -> String {
        let folder = (cacheDirectory as NSString).appendingPathComponent(String(key.prefix(2)))
        return (folder as NSString).appendingPathComponent(key + suffix)
    }

    func cachedEmbedding(_ key: String) -> [Float]? {
        guard let data = FileManager.default.contents(atPath: cachePath(key, ".f32")), data.count % 4 == 0, !data.isEmpty else { return nil }
        return data.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
    }

    func storeEmbedding(_ key: String, _ embedding: [Float]) throws {
        let path = cachePath(key, ".f32")
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try embedding.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    func cachedObject(_ key: String) -> [String: Any]? {
        guard let data = FileManager.default.contents(atPath: cachePath(key, ".json")) else { return nil }
        return try? JSONSerialization.jsonObject(with: data) as? [String: Any]
    }

    func storeObject(_ key: String, _ object: [String: Any]) throws {
        let path = cachePath(key, ".json")
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}

/// Content fingerprints for cache keys.
enum Fingerprint {
    static func of(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return hex(hasher.finalize())
    }

    /// Lower-case hex of a digest (String(format:) per byte costs more than the hashing).
    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in digest { bytes.append(digits[Int(byte >> 4)]); bytes.append(digits[Int(byte & 15)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func of(floats: [Float]) -> String {
        floats.withUnsafeBytes { bytes in hex(SHA256.hash(data: bytes)) }
    }

    /// SHA-256 of a file's content, read in 1 MiB pieces.
    static func ofFile(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw JobRunError.unreadable(path) }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { hasher.update(data: data) }
        return hex(hasher.finalize())
    }

    /// A model file's identity without reading its weights: every tensor's name, type, shape and chunk checksums
    /// (the format stores an XXH64 per chunk), and the embedded files' sizes.
    static func ofModel(_ path: String) throws -> String {
        let file = try WeightFile(path: path)
        var parts = [file.metadata.family]
        for tensor in file.tensors {
            parts.append("\(tensor.name) \(tensor.dtype) \(tensor.shape) " + tensor.chunks.map { String($0.checksum, radix: 16) }.joined(separator: ","))
        }
        for (role, embedded) in file.metadata.tokenizers.sorted(by: { $0.key < $1.key }) { parts.append("\(role) \(embedded.data.count)") }
        return of(parts)
    }
}

enum JobRunError: LocalizedError {
    case unreadable(String)
    case cell(String, String)

    var errorDescription: String? {
        switch self {
        case .unreadable(let path): "\(path): cannot read the file"
        case .cell(let cell, let message): "cell '\(cell)': \(message)"
        }
    }
}

/// A deterministic share of the items: item `id` belongs to shard `hash(id) mod count`.
public struct Shard: Sendable, Equatable {
    public var index: Int
    public var count: Int

    public init(index: Int, count: Int) { (self.index, self.count) = (index, count) }

    /// "i/N" with 0 ≤ i < N.
    public init?(_ text: String) {
        let parts = text.split(separator: "/")
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count > 0, (0..<count).contains(index) else { return nil }
        (self.index, self.count) = (index, count)
    }

    /// From Slurm job arrays (SLURM_ARRAY_TASK_ID, SLURM_ARRAY_TASK_COUNT, task ids from SLURM_ARRAY_TASK_MIN) or a
    /// Kubernetes Indexed Job (JOB_COMPLETION_INDEX, with the count given as `kubernetesCount`).
    public static func fromEnvironment(_ environment: [String: String], kubernetesCount: Int?) -> Shard? {
        if let id = environment["SLURM_ARRAY_TASK_ID"].flatMap(Int.init), let count = environment["SLURM_ARRAY_TASK_COUNT"].flatMap(Int.init), count > 0 {
            let minimum = environment["SLURM_ARRAY_TASK_MIN"].flatMap(Int.init) ?? 0
            return Shard(index: id - minimum, count: count)
        }
        if let index = environment["JOB_COMPLETION_INDEX"].flatMap(Int.init), let count = kubernetesCount, count > 0, (0..<count).contains(index) {
            return Shard(index: index, count: count)
        }
        return nil
    }

    public func contains(_ id: String) -> Bool {
        // FNV-1a over the id's UTF-8: stable across runs, machines and Swift versions (unlike Hasher).
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in id.utf8 { hash = (hash ^ UInt64(byte)) &* 0x100_0000_01b3 }
        return Int(hash % UInt64(count)) == index
    }
}
