import Foundation

/// Runs one of the package's executables as a real process and captures what it prints.
struct ProcessResult {
    var status: Int32
    var stdout: String
    var stderr: String
}

enum Executable {
    /// The build products directory: where the test bundle itself lives.
    static let productsDirectory: URL = {
        let testBinary = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        var directory = testBinary.deletingLastPathComponent()
        while !directory.path.hasSuffix(".xctest") && directory.path != "/" && !FileManager.default.fileExists(
            atPath: directory.appendingPathComponent("panda-convert").path)
        {
            directory = directory.deletingLastPathComponent()
        }
        if directory.path.hasSuffix(".xctest") { directory = directory.deletingLastPathComponent() }
        return directory
    }()

    static func run(_ name: String, _ arguments: [String]) throws -> ProcessResult {
        // Output goes to files rather than pipes, so a chatty child can never block on a full pipe.
        let scratch = TemporaryDirectory()
        _ = FileManager.default.createFile(atPath: scratch.file("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.file("err"), contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("out")))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("err")))
        let process = Process()
        process.executableURL = productsDirectory.appendingPathComponent(name)
        process.arguments = arguments
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        try out.close()
        try err.close()
        return ProcessResult(
            status: process.terminationStatus,
            stdout: try String(contentsOfFile: scratch.file("out"), encoding: .utf8),
            stderr: try String(contentsOfFile: scratch.file("err"), encoding: .utf8))
    }
}

/// A fresh directory under the system temporary directory, removed when the value is released.
final class TemporaryDirectory {
    let path: String

    init() {
        path = NSTemporaryDirectory() + "panda-cli-tests-" + UUID().uuidString
        try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }

    func file(_ name: String) -> String { path + "/" + name }
}

/// The repository's `Tests/Fixtures` directory.
let fixturesDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fixtures")
