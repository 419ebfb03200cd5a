import Foundation

/// A fresh directory under the system temporary directory, removed when the value is released.
public final class TemporaryDirectory: @unchecked Sendable {
    // @unchecked: immutable after init.
    public let path: String

    public init() {
        path = NSTemporaryDirectory() + "panda-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    public func file(_ name: String) -> String { path + "/" + name }

    public var contents: [String] { (try? FileManager.default.contentsOfDirectory(atPath: path)) ?? [] }
}

/// The repository's root directory.
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().path

/// The repository's `Tests/Fixtures` directory.
public let fixturesDirectory = URL(fileURLWithPath: repositoryRoot).appendingPathComponent("Tests/Fixtures")

public func fixture(_ relativePath: String) -> String { fixturesDirectory.appendingPathComponent(relativePath).path }
