import Foundation

/// The job's memory on disk, under `<output>/.panda/`: an append-only log of item records (the commit point of
/// each item, safe against `kill -9`) and a content-addressed cache of embeddings and generations.
final class ResultStore {
    let directory: String
    let logPath: String
    private let inFlightPath: String
    private let cacheDirectory: String
    private var log: FileHandle?
    private var unsyncedSince: Date?
    /// Lines in the log when it was read: more than its records means stale or repeated lines to compact away.
    private(set) var loggedLines = 0

    init(outputDirectory: String, shard: Shard?) throws {
        directory = (outputDirectory as NSString).appendingPathComponent(".panda")
        cacheDirectory = (directory as NSString).appendingPathComponent("cache")
        logPath = (directory as NSString).appendingPathComponent(shard.map { "records.shard-\($0.index)-of-\($0.count).jsonl" } ?? "records.jsonl")
        inFlightPath = (directory as NSString).appendingPathComponent(shard.map { "in-flight.shard-\($0.index)-of-\($0.count).json" } ?? "in-flight.json")
        try FileManager.default.createDirectory(atPath: cacheDirectory, withIntermediateDirectories: true)
    }

    /// The records committed so far, last one per id winning. A line cut short by a crash is dropped from the file.
    func committedRecords() throws -> [String: ItemRecord] {
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

    static func records(in data: Data) -> [String: ItemRecord] {
        let decoder = JSONDecoder()
        var records: [String: ItemRecord] = [:]
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let record = try? decoder.decode(ItemRecord.self, from: Data(line)) else { continue }
            records[record.id] = record
        }
        return records
    }

    private func truncateLog(to length: Int) throws {
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        try handle.truncate(atOffset: UInt64(length))
        try handle.close()
    }

    /// Appends one record as one line; synced to disk at most every second (and on `close`).
    func commit(_ record: ItemRecord) throws {
        if log == nil {
            if !FileManager.default.fileExists(atPath: logPath) { _ = FileManager.default.createFile(atPath: logPath, contents: nil) }
            log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
            try log!.seekToEnd()
        }
        try log!.write(contentsOf: RecordCoding.lines([record]))
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
    func compact(_ records: [ItemRecord]) throws {
        try close()
        try RecordCoding.lines(records).write(to: URL(fileURLWithPath: logPath), options: .atomic)
    }

    // MARK: Items in flight

    /// What a run was processing, written before each batch and removed when the run ends: finding it at the start
    /// of a run means the last one died (a crash, an abort, kill -9, the kernel's out-of-memory killer) while these
    /// items were uncommitted.
    struct InFlight: Codable, Equatable {
        /// The batch in flight, and the items of an earlier crashed batch still to be retried one at a time.
        var suspects: [String]
        /// The suspect being retried alone, and its cell at the moment.
        var alone: String?
        var cell: String?
    }

    func inFlight() -> InFlight? {
        FileManager.default.contents(atPath: inFlightPath).flatMap { try? JSONDecoder().decode(InFlight.self, from: $0) }
    }

    /// A process that dies leaves the page cache as it was, so the file needs no fsync to survive a crash.
    func markInFlight(_ state: InFlight) throws {
        try RecordCoding.encoder().encode(state).write(to: URL(fileURLWithPath: inFlightPath), options: .atomic)
    }

    func clearInFlight() throws {
        if FileManager.default.fileExists(atPath: inFlightPath) { try FileManager.default.removeItem(atPath: inFlightPath) }
    }

    // MARK: Verified models

    private var verifiedPath: String { (directory as NSString).appendingPathComponent("verified-models.json") }

    /// Identities (see `Fingerprint.ofModelFile`) of the model files whose every chunk checksum a run of this job
    /// has checked.
    func verifiedModels() -> Set<String> {
        FileManager.default.contents(atPath: verifiedPath).flatMap { try? JSONDecoder().decode(Set<String>.self, from: $0) } ?? []
    }

    func recordVerifiedModels(_ identities: Set<String>) throws {
        try RecordCoding.encoder().encode(identities.sorted()).write(to: URL(fileURLWithPath: verifiedPath), options: .atomic)
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

    func hasEmbedding(_ key: String) -> Bool { FileManager.default.fileExists(atPath: cachePath(key, ".f32")) }

    func storeEmbedding(_ key: String, _ embedding: [Float]) throws {
        let path = cachePath(key, ".f32")
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try embedding.withUnsafeBytes { Data($0) }.write(to: URL(fileURLWithPath: path), options: .atomic)
    }

    func cachedObject<Value: Decodable>(_ key: String, as type: Value.Type) -> Value? {
        guard let data = FileManager.default.contents(atPath: cachePath(key, ".json")) else { return nil }
        return try? JSONDecoder().decode(type, from: data)
    }

    func storeObject(_ key: String, _ object: some Encodable) throws {
        let path = cachePath(key, ".json")
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        try RecordCoding.encoder().encode(object).write(to: URL(fileURLWithPath: path), options: .atomic)
    }
}
