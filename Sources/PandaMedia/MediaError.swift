import Foundation

/// Everything that can go wrong while reading a media file, each naming the file and what was expected.
public enum MediaError: LocalizedError, Equatable, Sendable {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case unsupported(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .fileNotFound(let path): "\(path): no such file"
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .unsupported(let path, let reason): "\(path): unsupported media: \(reason)"
        }
    }
}
