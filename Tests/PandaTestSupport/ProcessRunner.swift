import Foundation

/// Runs one of the package's executables as a real process and captures what it prints.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var stdout: String
    public var stderr: String
    /// Whether the process was still running at the deadline given to `Executable.run` (it is then killed).
    public var timedOut = false
}

/// How to run a process beyond its arguments.
public struct ProcessLimits: Sendable {
    /// Address space allowed to the process (`ulimit -v`, RLIMIT_AS), in bytes: an allocation past it fails.
    public var memory: Int?
    /// Seconds to wait before killing the process.
    public var seconds: Double?
    /// Variables set on top of the test process's environment.
    public var environment: [String: String]

    public init(memory: Int? = nil, seconds: Double? = nil, environment: [String: String] = [:]) {
        (self.memory, self.seconds, self.environment) = (memory, seconds, environment)
    }
}

public enum Executable {
    /// The build products directory: where the test bundle itself lives.
    public static let productsDirectory: URL = {
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

    /// Runs to completion; `input`, if given, is the process's standard input.
    public static func run(_ name: String, _ arguments: [String], input: String? = nil) throws -> ProcessResult {
        let process = try start(name, arguments, input: input)
        process.process.waitUntilExit()
        return try process.result()
    }

    /// Runs under `limits`: a memory limit, a deadline after which the process is killed, extra environment.
    public static func run(_ name: String, _ arguments: [String], limits: ProcessLimits) throws -> ProcessResult {
        var executable = productsDirectory.appendingPathComponent(name), arguments = arguments
        if let memory = limits.memory {
            // Process cannot set a child's rlimits; a shell sets it and execs the executable in its place.
            arguments = ["-c", "ulimit -v \(memory / 1024) && exec \"$0\" \"$@\"", executable.path] + arguments
            executable = URL(fileURLWithPath: "/bin/sh")
        }
        let running = try RunningProcess(executable: executable, arguments: arguments, environment: limits.environment)
        var timedOut = false
        if let seconds = limits.seconds {
            let deadline = Date().addingTimeInterval(seconds)
            while running.process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if running.process.isRunning {
                timedOut = true
                kill(running.process.processIdentifier, SIGKILL)
            }
        }
        var result = try running.result()
        result.timedOut = timedOut
        return result
    }

    /// Starts an executable without waiting for it (for tests that interrupt it).
    public static func start(_ name: String, _ arguments: [String], input: String? = nil) throws -> RunningProcess {
        try RunningProcess(executable: productsDirectory.appendingPathComponent(name), arguments: arguments, input: input)
    }

    /// Starts an executable whose standard input the test writes as it goes (`RunningProcess.write`).
    public static func startInteractive(_ name: String, _ arguments: [String]) throws -> RunningProcess {
        try RunningProcess(executable: productsDirectory.appendingPathComponent(name), arguments: arguments, interactive: true)
    }
}

/// A started process whose output goes to files rather than pipes, so a chatty child never blocks on a full pipe.
public final class RunningProcess {
    public let process = Process()
    private let scratch = TemporaryDirectory()
    private let out: FileHandle
    private let err: FileHandle
    private let inputPipe: Pipe?

    init(executable: URL, arguments: [String], input: String? = nil, environment: [String: String] = [:], interactive: Bool = false) throws {
        _ = FileManager.default.createFile(atPath: scratch.file("out"), contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.file("err"), contents: nil)
        out = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("out")))
        err = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.file("err")))
        process.executableURL = executable
        process.arguments = arguments
        if !environment.isEmpty { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        process.standardOutput = out
        process.standardError = err
        inputPipe = interactive ? Pipe() : nil
        if let inputPipe {
            process.standardInput = inputPipe
        } else if let input {
            _ = FileManager.default.createFile(atPath: scratch.file("in"), contents: Data(input.utf8))
            process.standardInput = try FileHandle(forReadingFrom: URL(fileURLWithPath: scratch.file("in")))
        } else {
            process.standardInput = FileHandle.nullDevice
        }
        try process.run()
    }

    /// Writes to the standard input of a process started with `startInteractive`.
    public func write(_ text: String) { inputPipe?.fileHandleForWriting.write(Data(text.utf8)) }

    /// What the process has written to stdout so far.
    public var standardOutputSoFar: String { (try? String(contentsOfFile: scratch.file("out"), encoding: .utf8)) ?? "" }

    /// What the process has written to stderr so far.
    public var standardErrorSoFar: String { (try? String(contentsOfFile: scratch.file("err"), encoding: .utf8)) ?? "" }

    /// The process's resident memory now (VmRSS), or nil once it has exited.
    public var residentBytes: Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8),
              let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }),
              let kilobytes = Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        else { return nil }
        return kilobytes * 1024
    }

    /// Waits for the process and returns what it printed.
    public func result() throws -> ProcessResult {
        process.waitUntilExit()
        try out.close()
        try err.close()
        return ProcessResult(
            status: process.terminationStatus,
            stdout: try String(contentsOfFile: scratch.file("out"), encoding: .utf8),
            stderr: try String(contentsOfFile: scratch.file("err"), encoding: .utf8))
    }
}
