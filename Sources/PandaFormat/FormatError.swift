import Foundation

/// Every way a `.panda` file can be unusable, each naming the file and, where there is one, the tensor.
public enum FormatError: LocalizedError, Equatable, Sendable {
    case cannotOpen(path: String, reason: String)
    case tooShort(path: String, size: Int)
    case badMagic(path: String)
    case unsupportedVersion(path: String, version: UInt32)
    case truncated(path: String, expected: Int, actual: Int)
    case corruptHeader(path: String, reason: String)
    case indexChecksumMismatch(path: String)
    case badMetadata(path: String, reason: String)
    case badTensorEntry(path: String, tensor: String, reason: String)
    case overlappingTensors(path: String, first: String, second: String)
    case unknownTensor(path: String, tensor: String)
    case chunkChecksumMismatch(path: String, tensor: String, chunk: Int)
    case corruptChunk(path: String, tensor: String, chunk: Int, reason: String)
    case invalidInput(tensor: String, reason: String)
    case writeFailed(path: String, reason: String)

    public var errorDescription: String? {
        switch self {
        case .cannotOpen(let path, let reason):
            "\(path): cannot open: \(reason)"
        case .tooShort(let path, let size):
            "\(path): \(size) bytes is too short for a .panda file (the header alone is \(FileHeader.size) bytes)"
        case .badMagic(let path):
            "\(path): not a .panda file (the first 8 bytes are not the .panda signature)"
        case .unsupportedVersion(let path, let version):
            "\(path): format version \(version) is not supported; this build reads version \(FileHeader.currentVersion)"
        case .truncated(let path, let expected, let actual):
            actual < expected
                ? "\(path): truncated: the header says \(expected) bytes but the file has \(actual)"
                : "\(path): \(actual - expected) unexpected bytes after the end recorded in the header (\(expected) bytes)"
        case .corruptHeader(let path, let reason):
            "\(path): corrupt header: \(reason)"
        case .indexChecksumMismatch(let path):
            "\(path): the header and tensor index fail their checksum (the file is damaged)"
        case .badMetadata(let path, let reason):
            "\(path): invalid metadata: \(reason)"
        case .badTensorEntry(let path, let tensor, let reason):
            "\(path): tensor '\(tensor)': \(reason)"
        case .overlappingTensors(let path, let first, let second):
            "\(path): tensors '\(first)' and '\(second)' overlap in the data section"
        case .unknownTensor(let path, let tensor):
            "\(path): no tensor named '\(tensor)'"
        case .chunkChecksumMismatch(let path, let tensor, let chunk):
            "\(path): tensor '\(tensor)': chunk \(chunk) fails its checksum (the file is damaged)"
        case .corruptChunk(let path, let tensor, let chunk, let reason):
            "\(path): tensor '\(tensor)': chunk \(chunk): \(reason)"
        case .invalidInput(let tensor, let reason):
            "tensor '\(tensor)': \(reason)"
        case .writeFailed(let path, let reason):
            "\(path): write failed: \(reason)"
        }
    }
}
