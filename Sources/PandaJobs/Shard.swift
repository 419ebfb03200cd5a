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
