import Foundation

public enum JobRunError: LocalizedError {
    case unreadable(String)
    case cell(String, String)
    case oneItemExpected(path: String, count: Int)
    /// A command-line setting that does not fit the job.
    case badOption(String)
    /// A stop was requested (SIGINT, SIGTERM); the batch in flight is abandoned uncommitted.
    case interrupted

    public var errorDescription: String? {
        switch self {
        case .unreadable(let path): "\(path): cannot read the file"
        case .cell(let cell, let message): "cell '\(cell)': \(message)"
        case .oneItemExpected(let path, let count): "\(path): a .npy with a batch axis holds \(count) items; an item needs exactly one"
        case .badOption(let message): message
        case .interrupted: "interrupted"
        }
    }
}
