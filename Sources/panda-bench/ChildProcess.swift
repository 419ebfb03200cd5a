import ArgumentParser
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Runs a program to completion and reports its wall time and peak resident memory (from wait4's rusage,
/// which Foundation's Process does not expose).
enum ChildProcess {
    struct Measurement {
        var status: Int32
        var seconds: Double
        var peakResidentBytes: Int
    }

    /// Throws unless the program exited with status 0.
    static func check(_ result: Measurement, _ what: String) throws {
        guard result.status == 0 else { throw ValidationError("\(what) failed with status \(result.status)") }
    }

    /// `quietly` sends the program's output to /dev/null; `standardOutput` and `standardError` send stdout and
    /// stderr to those files instead.
    static func run(
        _ arguments: [String], environment extra: [String: String] = [:], quietly: Bool = false, standardOutput: String? = nil, standardError: String? = nil
    ) throws -> Measurement {
        var environment = ProcessInfo.processInfo.environment
        environment.merge(extra) { _, new in new }
        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        let start = Date()
        var pid: pid_t = 0
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        if quietly {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        }
        if let standardOutput { posix_spawn_file_actions_addopen(&actions, 1, standardOutput, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        if let standardError { posix_spawn_file_actions_addopen(&actions, 2, standardError, O_WRONLY | O_CREAT | O_TRUNC, 0o644) }
        let spawned = posix_spawnp(&pid, arguments[0], &actions, nil, argv, envp)
        guard spawned == 0 else { throw POSIXError(POSIXErrorCode(rawValue: spawned) ?? .EINVAL) }
        var status: Int32 = 0
        var usage = rusage()
        while wait4(pid, &status, 0, &usage) < 0 && errno == EINTR {}
        let exited = status & 0x7F == 0
        return Measurement(
            status: exited ? (status >> 8) & 0xFF : 128 + (status & 0x7F),
            seconds: Date().timeIntervalSince(start),
            peakResidentBytes: usage.ru_maxrss * 1024)  // ru_maxrss is in KiB on Linux
    }
}

enum PageCache {
    /// Writes back dirty pages and drops the page cache, so the next run reads from disk; false without root.
    @discardableResult
    static func drop() -> Bool {
        sync()
        guard let handle = FileHandle(forWritingAtPath: "/proc/sys/vm/drop_caches") else { return false }
        handle.write(Data("3\n".utf8))
        try? handle.close()
        return true
    }
}
