import Foundation

public enum ShardMerger {
    /// Combines the records of every shard of a job (`.panda/records.shard-*-of-N.jsonl`) into the outputs an
    /// unsharded run writes. Items no shard has recorded are listed in the error.
    public static func merge(_ plan: JobPlan) throws -> [String] {
        let store = try ResultStore(outputDirectory: plan.outputDirectory, shard: nil)
        let names = (try? FileManager.default.contentsOfDirectory(atPath: store.directory)) ?? []
        let shardLogs = names.filter { $0.hasPrefix("records.shard-") && $0.hasSuffix(".jsonl") }.sorted()
        guard !shardLogs.isEmpty else { throw JobRunError.cell("merge", "no shard records in \(store.directory); run the shards first (--shard i/N)") }
        var records: [String: ItemRecord] = [:]
        for name in shardLogs {
            let data = FileManager.default.contents(atPath: (store.directory as NSString).appendingPathComponent(name)) ?? Data()
            records.merge(ResultStore.records(in: data)) { _, new in new }
        }
        let missing = plan.items.filter { records[$0.id] == nil }.map(\.id)
        guard missing.isEmpty else {
            throw JobRunError.cell("merge", "\(missing.count) items have no record in any shard (e.g. \(missing.prefix(3).joined(separator: ", "))); rerun the shards that hold them")
        }
        let ordered = plan.items.map { records[$0.id]! }
        try store.compact(ordered)
        return try OutputWriter(plan: plan, store: store, shard: nil).write(ordered)
    }
}
