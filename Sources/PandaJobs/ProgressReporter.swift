import Foundation

/// Progress on stderr: a bar redrawn at most ten times a second (done, percent, elapsed, items/s, tokens/s, ETA,
/// failures), one JSON object per event with its time for schedulers (`--progress json`), or only failures
/// (`--quiet`). Rates and the ETA count this run's work alone: items a resumed run skips take no time.
final class ProgressReporter {
    let mode: RunOptions.Progress
    private var total = 0
    private var done = 0
    private var skipped = 0
    private var failed = 0
    private var tokens = 0
    private var started = Date()
    /// When this run's first item of real work began (after the skips of a resume).
    private var workStarted: Date?
    private var saidResuming = false
    private var lastDrawn = Date.distantPast
    /// On a terminal the line is redrawn in place; otherwise (a log file) a plain line every ten seconds.
    private let terminal = isatty(STDERR_FILENO) != 0

    init(mode: RunOptions.Progress) { self.mode = mode }

    func start(total: Int) {
        self.total = total
        started = Date()
        emit(["event": "start", "items": total])
    }

    /// An item skipped because an earlier run committed it.
    func skipped(id: String) {
        skipped += 1
        item(id: id, status: "skipped", tokens: 0)
    }

    /// Marks the start of this run's own work on the next item.
    func working() {
        guard workStarted == nil else { return }
        workStarted = Date()
        if skipped > 0 && !saidResuming {
            saidResuming = true
            say("resuming: \(skipped) of \(total) items already done")
        }
    }

    func item(id: String, status: String, tokens: Int, error: String? = nil) {
        done += 1
        if status == "error" { failed += 1 }
        self.tokens += tokens
        switch mode {
        case .quiet:
            if let error { write("✗ \(id): \(error)\n") }
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

    /// A line for people (an event for schedulers).
    private func say(_ message: String) {
        switch mode {
        case .quiet: break
        case .json: emit(["event": "note", "message": message])
        case .bar: write(clear + message + "\n")
        }
    }

    func finish(_ summary: RunSummary) {
        switch mode {
        case .quiet: break
        case .json:
            emit(["event": "summary", "items": summary.items, "succeeded": summary.succeeded, "failed": summary.failed, "skipped": summary.skipped,
                  "cache_hits": summary.cacheHits, "model_runs": summary.modelRuns, "tokens": summary.generatedTokens,
                  "seconds": (summary.seconds * 1000).rounded() / 1000, "outputs": summary.outputs,
                  "sidecars_left_alone": summary.sidecarsLeftAlone, "skipped_files": summary.skippedFiles,
                  "empty_template_fields": summary.emptyTemplateFields, "stage_seconds": summary.stages.json])
        case .bar:
            write(clear + line() + "\n")
            write("\(summary.succeeded) succeeded, \(summary.failed) failed (\(summary.skipped) unchanged since the last run), "
                + "\(summary.cacheHits) cached results, \(summary.generatedTokens) tokens generated, \(String(format: "%.1f", summary.seconds)) s\n")
            for output in summary.outputs { write("wrote \(output)\n") }
            if let first = summary.skippedFiles.first {
                let more = summary.skippedFiles.count > 1 ? " and \(summary.skippedFiles.count - 1) more; panda-run plan lists them" : ""
                write("\(summary.skippedFiles.count) files matched an input but are no item (\(first)\(more))\n")
            }
            if let first = summary.emptyTemplateFields.first {
                let more = summary.emptyTemplateFields.count > 1 ? " and \(summary.emptyTemplateFields.count - 1) more" : ""
                write("\(summary.emptyTemplateFields.count) template fields rendered empty (\(first)\(more)): those prompts went out without them\n")
            }
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
        let now = Date()
        let worked = done - skipped
        let rate = workStarted.map { Double(worked) / max(now.timeIntervalSince($0), 1e-6) } ?? 0
        let eta = rate > 0 ? Self.clock(Double(total - done) / rate) : "–"
        let fraction = total > 0 ? Double(done) / Double(total) : 1
        let filled = Int((fraction * 20).rounded(.down))
        let bar = String(repeating: "█", count: filled) + String(repeating: "░", count: 20 - filled)
        let tokenRate = workStarted.map { Double(tokens) / max(now.timeIntervalSince($0), 1e-6) } ?? 0
        return "\(bar) \(done)/\(total) \(Int((fraction * 100).rounded(.down)))% · \(Self.clock(now.timeIntervalSince(started))) · "
            + String(format: "%.1f items/s · %.1f tok/s · ETA ", rate, tokenRate) + eta + (failed > 0 ? " · \(failed) failed" : "")
    }

    /// m:ss, or h:mm:ss from an hour on.
    static func clock(_ seconds: Double) -> String {
        let whole = Int(seconds.rounded())
        return whole >= 3600 ? String(format: "%d:%02d:%02d", whole / 3600, whole / 60 % 60, whole % 60) : String(format: "%d:%02d", whole / 60, whole % 60)
    }

    private func emit(_ event: [String: Any]) {
        var event = event
        event["time"] = (Date().timeIntervalSince1970 * 1000).rounded() / 1000
        guard mode == .json, let data = try? JSONSerialization.data(withJSONObject: event, options: [.sortedKeys, .withoutEscapingSlashes]) else { return }
        FileHandle.standardError.write(data + Data("\n".utf8))
    }

    private func write(_ text: String) { FileHandle.standardError.write(Data(text.utf8)) }
}

extension StageSeconds {
    var json: [String: Double] {
        ["hashing": hashing, "preparing": preparing, "encoding": encoding, "prompts": prompts, "generating": generating, "writing": writing]
            .mapValues { ($0 * 1000).rounded() / 1000 }
    }
}
