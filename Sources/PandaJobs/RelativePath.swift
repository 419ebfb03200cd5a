import Foundation

/// Paths as outputs show them: relative to a folder (the job's, for records; the report's, for its links), so
/// the same job writes the same records whatever the shell's folder, and a report opens from wherever its folders are.
enum RelativePath {
    /// `path` (absolute, or relative to the current folder) from `folder`, with `..` where it lies outside.
    static func of(_ path: String, from folder: String) -> String {
        let from = URL(fileURLWithPath: folder).standardizedFileURL.pathComponents
        let to = URL(fileURLWithPath: path).standardizedFileURL.pathComponents
        var common = 0
        while common < min(from.count, to.count) && from[common] == to[common] { common += 1 }
        let parts = Array(repeating: "..", count: from.count - common) + to[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// A recorded `path` (relative to `folder`) as a path from the current folder.
    static func resolve(_ path: String, in folder: String) -> String {
        path.hasPrefix("/") ? path : URL(fileURLWithPath: folder).appendingPathComponent(path).standardizedFileURL.path
    }
}

extension JobPlan {
    /// A file's path as records, CSV and sidecar outcomes give it: relative to the job file's folder.
    func recordedPath(_ path: String) -> String { RelativePath.of(path, from: job.directory) }
}
