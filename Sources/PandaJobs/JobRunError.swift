import Foundation

enum JobRunError: LocalizedError {
    case unreadable(String)
    case cell(String, String)
    case oneItemExpected(path: String, count: Int)
    /// A stop was requested (SIGINT, SIGTERM); the batch in flight is abandoned uncommitted.
    case interrupted

    var errorDescription: String? {
        switch self {
        case .unreadable(let path): "\(path): cannot read the file"
        case .cell(let cell, let message): "cell '\(cell)': \(message)"
        case .oneItemExpected(let path, let count): "\(path): a .npy with a batch axis holds \(count) items; an item needs exactly one"
        case .interrupted: "interrupted"
        }
    }
}
