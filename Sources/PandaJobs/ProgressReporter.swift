import Foundation

/// Progress on stderr: a line redrawn at most ten times a second (items/s, tokens/s, ETA, failures), one JSON object
/// per event for schedulers (`--progress json`), or nothing (`--quiet`).
final class ProgressReporter {
    let mode: RunOptions.Progress
    private var total = 0
    private var done = 0
    private var failed = 0
    private var tokens = 0
    private var started = Date()
    private var lastDrawn = Date.distantPast
    /// On a terminal the line is redrawn in place; otherwise (a log file) a plain line every ten seconds.
    private let terminal = isatty(STDERR_FILENO) != 0

    init(mode: RunOptions.Progress) { self.mode = mode }

    func start(total: Int) {
        self.total = total
        started = Date()
        emit(["event": "start", "items": total])
    }

    func item(id: String, status: String, tokens: Int, error: String? = nil) {
        done += 1
        if status == "error" { failed += 1 }
        self.tokens += tokens
        switch mode {
        case .quiet: break
        case .json:
            var event: [String: Any] = ["event": "item", "id": id, "status": status, "done": done, "total": total]
            if let error { event["error"] = error }
            emit(event)
        case .bar:
            if let error { write(clear + "✗ \(id): \(error)\n") }
            if Date().timeIntervalSince(lastDrawn) >= (terminal ? 0.1 : 10) {
                lastDrawn = Date()
                write(clear + line() + (terminal ? "" : "\n"))
            }
        }
    }

    func warning(_ message: String) {
        switch mode {
        case .quiet: break
        case .json: emit(["event": "warning", "message": message])
        case .bar: write(clear + "warning: \(message)\n")
        }
    }

    func finish(_ summary: RunSummary) {
        switch mode {
        case .quiet: break
        case .json:
            emit(["event": "summary", "items": summary.items, "succeeded": summary.succeeded, "failed": summary.failed, "skipped": summary.skipped,
                  "cache_hits": summary.cacheHits, "model_runs": summary.modelRuns, "tokens": summary.generatedTokens,
                  "seconds": (summary.seconds * 1000).rounded() / 1000, "outputs": summary.outputs,
                  "sidecars_left_alone": summary.sidecarsLeftAlone])
        case .bar:
            write(clear + line() + "\n")
            write("\(summary.succeeded) succeeded, \(summary.failed) failed (\(summary.skipped) unchanged since the last run), "
                + "\(summary.cacheHits) cached results, \(summary.generatedTokens) tokens generated, \(String(format: "%.1f", summary.seconds)) s\n")
            for output in summary.outputs { write("wrote \(output)\n") }
            if let first = summary.sidecarsLeftAlone.first {
                let more = summary.sidecarsLeftAlone.count > 1 ? " and \(summary.sidecarsLeftAlone.count - 1) more" : ""
                write("left \(summary.sidecarsLeftAlone.count) existing sidecar files alone, not written by this job (\(first)\(more)); policy: replace writes over them\n")
            }
        }
    }

    /// Said whatever the mode (a person or a scheduler must know the job is not done), on stderr.
    func interrupted(_ summary: RunSummary, committed: Int) {
        let message = "interrupted after \(committed) of \(summary.items) items; run the same command again to resume"
        switch mode {
        case .json:
            emit(["event": "interrupted", "signal": Int(summary.interruptedBy ?? 0), "done": committed, "items": summary.items,
                  "succeeded": summary.succeeded, "failed": summary.failed, "skipped": summary.skipped,
                  "seconds": (summary.seconds * 1000).rounded() / 1000, "outputs": summary.outputs])
        case .bar:
            write(clear + line() + "\n")
            for output in summary.outputs { write("wrote \(output)\n") }
            write(message + "\n")
        case .quiet:
            write(message + "\n")
        }
    }

    private var clear: String { terminal ? "\r\u{1B}[K" : "" }

    private func line() -> String {
        let seconds = max(Date().timeIntervalSince(started), 1e-6)
        let rate = Double(done) / seconds
        let remaining = rate > 0 ? Double(total - done) / rate : 0
        let eta = remaining >= 60 ? String(format: "%dm%02ds", Int(remaining) / 60, Int(remaining) % 60) : String(format: "%.0fs", remaining)
        return String(format: "[%d/%d] %.1f items/s · %.1f tok/s · ETA %@", done, total, rate, Double(tokens) / seconds, eta)
            + (failed > 0 ? " · \(failed) failed" : "")
    }

    private func emit(_ event: [String: Any]) {
        guard mode == .json, let data = try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}
