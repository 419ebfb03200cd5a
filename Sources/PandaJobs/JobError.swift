import Foundation

/// A problem in a job file, at a place in it: `file:line:column: message`.
public struct JobError: LocalizedError, Equatable, Sendable {
    public var file: String
    public var line: Int
    public var column: Int
    public var message: String

    public init(file: String, line: Int, column: Int, message: String) {
        (self.file, self.line, self.column, self.message) = (file, line, column, message)
    }

    public var errorDescription: String? { "\(file):\(line):\(column): \(message)" }

    /// " (did you mean 'x'?)" when one of `candidates` is a plausible typo of `word`, else "".
    static func suggestion(for word: String, among candidates: some Sequence<String>) -> String {
        let scored = candidates.map { ($0, editDistance(word.lowercased(), $0.lowercased())) }
        guard let best = scored.min(by: { $0.1 < $1.1 }), best.1 <= max(2, word.count / 3) else { return "" }
        return " (did you mean '\(best.0)'?)"
    }

    /// Levenshtein distance.
    static func editDistance(_ a: String, _ b: String) -> Int {
        let a = Array(a), b = Array(b)
        guard !a.isEmpty else { return b.count }
        var previous = Array(0...b.count)
        for i in 1...a.count {
            var current = [i] + [Int](repeating: 0, count: b.count)
            for j in 1...max(b.count, 1) where j <= b.count {
                current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
            }
            previous = current
        }
        return previous[b.count]
    }
}

/// Every problem found in a job, one `file:line:column: message` line each, as a compiler lists them.
public struct JobErrors: LocalizedError, Equatable, Sendable {
    public var problems: [JobError]

    public var errorDescription: String? { problems.map { $0.errorDescription ?? "" }.joined(separator: "\n") }

    /// Throws nothing for no problem, the problem itself for one, all of them together for more.
    static func throwIfAny(_ problems: [JobError]) throws {
        switch problems.count {
        case 0: return
        case 1: throw problems[0]
        default: throw JobErrors(problems: problems.sorted { ($0.line, $0.column) < ($1.line, $1.column) })
        }
    }
}
