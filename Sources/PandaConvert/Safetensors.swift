import Foundation
import PandaFormat

/// Reads a `.safetensors` file: an 8-byte little-endian header length, a JSON header, then the tensor bytes.
/// The header is checked in full (dtypes, shapes, offsets in bounds and consistent) before any tensor is used.
public enum Safetensors {
    public struct Contents: Sendable {
        public var tensors: [SourceTensor]
        public var metadata: [String: String]
    }

    private static let dtypes: [String: SourceDType] = [
        "F64": .f64, "F32": .f32, "F16": .f16, "BF16": .bf16, "I64": .i64, "I32": .i32, "I16": .i16, "I8": .i8,
        "U8": .u8, "BOOL": .bool,
    ]

    public static func read(_ path: String) throws -> Contents {
        let file = try MappedFile(path: path)
        func fail(_ reason: String) -> ConvertError { .unreadableCheckpoint(path: path, reason: reason) }
        guard file.count >= 8 else { throw fail("too short for a safetensors file (\(file.count) bytes)") }
        let headerLength = UInt64(littleEndian: file.bytes.loadUnaligned(as: UInt64.self))
        guard headerLength >= 2, headerLength <= UInt64(file.count - 8), headerLength <= 100_000_000 else {
            throw fail("not a safetensors file (header length \(headerLength) does not fit in \(file.count) bytes)")
        }
        let dataStart = 8 + Int(headerLength)
        let header: [String: Any]
        do {
            let parsed = try JSONSerialization.jsonObject(with: Data(file.bytes[8..<dataStart]))
            guard let object = parsed as? [String: Any] else { throw fail("the safetensors header is not a JSON object") }
            header = object
        } catch let error as ConvertError {
            throw error
        } catch {
            throw fail("the safetensors header is not valid JSON")
        }
        var metadata: [String: String] = [:]
        var tensors: [SourceTensor] = []
        var extents: [(Int, Int, String)] = []
        for (name, value) in header.sorted(by: { $0.key < $1.key }) {
            if name == "__metadata__" {
                metadata = (value as? [String: String]) ?? [:]
                continue
            }
            guard let entry = value as? [String: Any], let dtypeName = entry["dtype"] as? String,
                let shape = entry["shape"] as? [Int], let offsets = entry["data_offsets"] as? [Int], offsets.count == 2
            else { throw ConvertError.badTensor(path: path, tensor: name, reason: "the header entry lacks dtype, shape or data_offsets") }
            guard let dtype = dtypes[dtypeName] else {
                throw ConvertError.badTensor(path: path, tensor: name, reason: "unsupported dtype \(dtypeName)")
            }
            let (begin, end) = (offsets[0], offsets[1])
            guard begin >= 0, begin <= end, end <= file.count - dataStart else {
                throw ConvertError.badTensor(path: path, tensor: name, reason: "data_offsets [\(begin), \(end)] lie outside the data (\(file.count - dataStart) bytes)")
            }
            guard shape.allSatisfy({ $0 >= 0 }) else {
                throw ConvertError.badTensor(path: path, tensor: name, reason: "shape \(shape) has a negative dimension")
            }
            guard let byteCount = checkedProduct(shape + [dtype.size]) else {
                throw ConvertError.badTensor(path: path, tensor: name, reason: "shape \(shape) of \(dtypeName) holds more bytes than 2^63")
            }
            guard byteCount == end - begin else {
                throw ConvertError.badTensor(path: path, tensor: name, reason: "shape \(shape) of \(dtypeName) does not fill data_offsets [\(begin), \(end)]")
            }
            guard (end - begin) % dtype.size == 0 else {
                throw ConvertError.badTensor(path: path, tensor: name, reason: "byte length is not a whole number of \(dtypeName) elements")
            }
            tensors.append(
                try SourceTensor(
                    name: name, dtype: dtype, shape: shape, file: file, storageOffset: dataStart + begin,
                    storageElements: (end - begin) / dtype.size))
            if end > begin { extents.append((begin, end, name)) }
        }
        extents.sort { $0.0 < $1.0 }
        for (previous, next) in zip(extents, extents.dropFirst()) where next.0 < previous.1 {
            throw fail("tensors '\(previous.2)' and '\(next.2)' overlap")
        }
        return Contents(tensors: tensors, metadata: metadata)
    }

    /// The product, or nil when it does not fit in an Int: a hostile header's shape must not trap the converter.
    private static func checkedProduct(_ factors: [Int]) -> Int? {
        var product = 1
        for factor in factors {
            let (next, overflow) = product.multipliedReportingOverflow(by: factor)
            if overflow { return nil }
            product = next
        }
        return product
    }
}
