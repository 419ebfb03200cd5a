import Crypto
import Foundation
import PandaFormat

/// Content fingerprints for cache keys.
enum Fingerprint {
    static func of(_ parts: [String]) -> String {
        var hasher = SHA256()
        for part in parts {
            hasher.update(data: Data(part.utf8))
            hasher.update(data: Data([0]))
        }
        return hex(hasher.finalize())
    }

    /// Lower-case hex of a digest (String(format:) per byte costs more than the hashing).
    static func hex(_ digest: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var bytes: [UInt8] = []
        for byte in digest { bytes.append(digits[Int(byte >> 4)]); bytes.append(digits[Int(byte & 15)]) }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func of(floats: [Float]) -> String {
        floats.withUnsafeBytes { bytes in hex(SHA256.hash(data: bytes)) }
    }

    /// SHA-256 of a file's content, read in 1 MiB pieces.
    static func ofFile(_ path: String) throws -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw JobRunError.unreadable(path) }
        defer { try? handle.close() }
        var hasher = SHA256()
        while let data = try handle.read(upToCount: 1 << 20), !data.isEmpty { hasher.update(data: data) }
        return hex(hasher.finalize())
    }

    /// A model file's identity without reading its weights: every tensor's name, type, shape and chunk checksums
    /// (the format stores an XXH64 per chunk), and the embedded files' sizes.
    static func ofModel(_ path: String) throws -> String {
        let file = try WeightFile(path: path)
        var parts = [file.metadata.family]
        for tensor in file.tensors {
            parts.append("\(tensor.name) \(tensor.dtype) \(tensor.shape) " + tensor.chunks.map { String($0.checksum, radix: 16) }.joined(separator: ","))
        }
        for (role, embedded) in file.metadata.tokenizers.sorted(by: { $0.key < $1.key }) { parts.append("\(role) \(embedded.data.count)") }
        return of(parts)
    }

    /// A model file as it is on disk now: its path, size, modification time and `ofModel` fingerprint, so that a
    /// file replaced or rewritten in place is checked again.
    static func ofModelFile(_ path: String, fingerprint: String) throws -> String {
        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        let size = (attributes[.size] as? NSNumber)?.intValue ?? -1
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return of([URL(fileURLWithPath: path).standardizedFileURL.path, String(size), String(modified), fingerprint])
    }
}
