import Foundation

/// A numpy `.npy` array read as Float values in C (row-major) order, with its shape.
///
/// Reads header versions 1, 2 and 3 and the little-endian dtypes numpy writes for plain numbers: `<f4 <f8 <f2 <i2 <i4
/// <i8 |u1 <u2 |b1` (and `|i1 <u4`). Every value becomes a Float: exact for f2/f4, the 8/16-bit integers and booleans
/// (0 or 1); rounded to the nearest Float for f8 and for integers beyond 2^24, which the model inputs (sensor data,
/// depth) never need. Fortran-ordered files are accepted and transposed into C order, since numpy itself reads them
/// transparently and a caller handing us one should get the same array numpy shows. Big-endian and structured or
/// object dtypes are refused with a message naming the dtype. The whole header is checked, and the data length must
/// equal shape × item size exactly, before any value is read.
public struct NPYArray: Equatable, Sendable {
    public var shape: [Int]
    public var values: [Float]
    /// The dtype the file stored (`"<f4"` for arrays made in Swift).
    public var storedType: String

    public init(shape: [Int], values: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 } && shape.reduce(1, *) == values.count, "NPYArray: \(values.count) values for shape \(shape)")
        self.shape = shape
        self.values = values
        self.storedType = "<f4"
    }

    public init(path: String) throws {
        try self.init(bytes: [UInt8](try MediaFile.read(path)), path: path)
    }

    /// Parses `.npy` bytes; `path` only names the source in errors.
    public init(bytes: [UInt8], path: String = "<memory>") throws {
        func fail(_ reason: String) -> MediaError { .unreadable(path: path, reason: reason) }
        let magic: [UInt8] = [0x93] + Array("NUMPY".utf8)
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else { throw fail("not a .npy file (missing the \\x93NUMPY magic)") }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated .npy header") }
            headerLength = (8..<12).reduce(0) { $0 | Int(bytes[$1]) << (8 * ($1 - 8)) }
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major).\(bytes[7]) (expected 1, 2 or 3)")
        }
        guard headerStart + headerLength <= bytes.count else { throw fail("truncated .npy header (\(headerLength) bytes promised)") }
        // Versions 1 and 2 are latin-1; 3 is UTF-8. The keys and values that matter are ASCII either way.
        let headerText = String(decoding: bytes[headerStart..<headerStart + headerLength], as: UTF8.self)
        let header: NPYHeader
        do { header = try NPYHeader(parsing: headerText) } catch let reason as NPYHeader.ParseError {
            throw fail("malformed .npy header \(headerText.trimmingCharacters(in: .whitespacesAndNewlines)): \(reason.message)")
        }
        guard let type = NPYType(descr: header.descr) else {
            throw MediaError.unsupported(
                path: path, reason: "dtype \(header.descr) (expected one of <f4 <f8 <f2 <i2 <i4 <i8 |u1 <u2 |b1 |i1 <u4)")
        }
        var count = 1
        for dimension in header.shape {
            let (product, overflow) = count.multipliedReportingOverflow(by: dimension)
            guard dimension >= 0, !overflow else { throw fail("impossible shape \(header.shape)") }
            count = product
        }
        let dataStart = headerStart + headerLength
        let (byteCount, overflow) = count.multipliedReportingOverflow(by: type.size)
        guard !overflow, bytes.count - dataStart == byteCount else {
            throw fail("shape \(header.shape) of \(header.descr) needs \(count) × \(type.size) bytes of data, the file has \(bytes.count - dataStart)")
        }
        var values = [Float](repeating: 0, count: count)
        bytes.withUnsafeBytes { raw in
            let data = UnsafeRawBufferPointer(rebasing: raw[dataStart...])
            for index in 0..<count { values[index] = type.load(data, at: index) }
        }
        if header.fortranOrder && header.shape.count > 1 { values = Self.fortranToC(values, shape: header.shape) }
        self.shape = header.shape
        self.values = values
        self.storedType = header.descr
    }

    /// Reorders column-major values (first index fastest) into row-major order.
    private static func fortranToC(_ values: [Float], shape: [Int]) -> [Float] {
        var fortranStrides = [Int](repeating: 1, count: shape.count)
        for axis in 1..<shape.count { fortranStrides[axis] = fortranStrides[axis - 1] * shape[axis - 1] }
        var out = [Float](repeating: 0, count: values.count)
        var position = [Int](repeating: 0, count: shape.count)  // multi-index, last axis fastest
        for index in 0..<values.count {
            out[index] = values[zip(position, fortranStrides).reduce(0) { $0 + $1.0 * $1.1 }]
            var axis = shape.count - 1
            while axis >= 0 {
                position[axis] += 1
                if position[axis] < shape[axis] { break }
                position[axis] = 0
                axis -= 1
            }
        }
        return out
    }

    /// The array as a `.npy` file: format 1.0 (2.0 if the header would not fit), `<f4`, C order, header padded to 64 bytes
    /// and ended by a newline, as `np.save` writes it.
    public func encoded() -> [UInt8] {
        let shapeText = shape.count == 1 ? "(\(shape[0]),)" : "(" + shape.map(String.init).joined(separator: ", ") + ")"
        var header = "{'descr': '<f4', 'fortran_order': False, 'shape': \(shapeText), }"
        let prefixLength = header.utf8.count + 1 < 65536 - 10 ? 10 : 12
        let padding = (64 - (prefixLength + header.utf8.count + 1) % 64) % 64
        header += String(repeating: " ", count: padding) + "\n"
        var out: [UInt8] = [0x93] + Array("NUMPY".utf8)
        let length = header.utf8.count
        if prefixLength == 10 {
            out += [1, 0, UInt8(length & 0xFF), UInt8(length >> 8)]
        } else {
            out += [2, 0] + (0..<4).map { UInt8((length >> (8 * $0)) & 0xFF) }
        }
        out += Array(header.utf8)
        out.reserveCapacity(out.count + values.count * 4)
        for value in values { withUnsafeBytes(of: value.bitPattern.littleEndian) { out += $0 } }
        return out
    }

    public func write(to path: String) throws {
        do { try Data(encoded()).write(to: URL(fileURLWithPath: path), options: .atomic) } catch {
            throw MediaError.unreadable(path: path, reason: "cannot write the .npy file: \(error.localizedDescription)")
        }
    }
}

/// The dtypes the reader understands: item size and conversion of one little-endian item to Float.
private enum NPYType {
    case f2, f4, f8, i1, i2, i4, i8, u1, u2, u4, b1

    init?(descr: String) {
        switch descr {
        case "<f2": self = .f2
        case "<f4": self = .f4
        case "<f8": self = .f8
        case "|i1", "<i1": self = .i1
        case "<i2": self = .i2
        case "<i4": self = .i4
        case "<i8": self = .i8
        case "|u1", "<u1": self = .u1
        case "<u2": self = .u2
        case "<u4": self = .u4
        case "|b1", "<b1": self = .b1
        default: return nil
        }
    }

    var size: Int {
        switch self {
        case .i1, .u1, .b1: 1
        case .f2, .i2, .u2: 2
        case .f4, .i4, .u4: 4
        case .f8, .i8: 8
        }
    }

    func load(_ data: UnsafeRawBufferPointer, at index: Int) -> Float {
        let offset = index * size
        switch self {
        case .f2: return halfToFloat(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case .f4: return Float(bitPattern: UInt32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .f8: return Float(Double(bitPattern: UInt64(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt64.self))))
        case .i1: return Float(Int8(bitPattern: data[offset]))
        case .i2: return Float(Int16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: Int16.self)))
        case .i4: return Float(Int32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: Int32.self)))
        case .i8: return Float(Int64(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: Int64.self)))
        case .u1: return Float(data[offset])
        case .u2: return Float(UInt16(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt16.self)))
        case .u4: return Float(UInt32(littleEndian: data.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
        case .b1: return data[offset] != 0 ? 1 : 0
        }
    }
}

/// IEEE half → Float, exactly (every half is a Float), without relying on `Float16`, which some platforms lack.
private func halfToFloat(_ bits: UInt16) -> Float {
    let sign: Float = bits & 0x8000 != 0 ? -1 : 1
    let exponent = Int(bits >> 10) & 0x1F
    let fraction = Float(bits & 0x3FF)
    switch exponent {
    case 0: return sign * fraction * 0x1p-24  // zero and subnormals
    case 31: return fraction == 0 ? sign * .infinity : .nan
    default: return sign * (1 + fraction / 1024) * Float(sign: .plus, exponent: exponent - 15, significand: 1)
    }
}

/// The Python dict literal of a `.npy` header: `{'descr': '<f4', 'fortran_order': False, 'shape': (6, 2000), }`.
private struct NPYHeader {
    struct ParseError: Error { var message: String }

    var descr = ""
    var fortranOrder = false
    var shape: [Int] = []

    init(parsing text: String) throws {
        var scanner = Array(text.unicodeScalars)[...]
        func skipSpaces() { while let first = scanner.first, first.properties.isWhitespace { scanner.removeFirst() } }
        func expect(_ character: Unicode.Scalar) throws {
            skipSpaces()
            guard scanner.first == character else { throw ParseError(message: "expected '\(character)'") }
            scanner.removeFirst()
        }
        func string() throws -> String {
            skipSpaces()
            guard let quote = scanner.first, quote == "'" || quote == "\"" else {
                throw ParseError(message: "expected a quoted string (a structured dtype is a list, which is not supported)")
            }
            scanner.removeFirst()
            var out = ""
            while let next = scanner.first, next != quote { out.unicodeScalars.append(next); scanner.removeFirst() }
            try expect(quote)
            return out
        }
        func word() -> String {
            skipSpaces()
            var out = ""
            while let next = scanner.first, next.properties.isAlphabetic { out.unicodeScalars.append(next); scanner.removeFirst() }
            return out
        }
        func integers() throws -> [Int] {
            try expect("(")
            var out: [Int] = []
            while true {
                skipSpaces()
                if scanner.first == ")" { scanner.removeFirst(); return out }
                var digits = ""
                while let next = scanner.first, ("0"..."9").contains(next) { digits.unicodeScalars.append(next); scanner.removeFirst() }
                // Python 2 era files may write long integers as "6L".
                if scanner.first == "L" { scanner.removeFirst() }
                guard let value = Int(digits) else { throw ParseError(message: "expected a dimension in the shape") }
                out.append(value)
                skipSpaces()
                if scanner.first == "," { scanner.removeFirst() }
            }
        }
        try expect("{")
        var seen = Set<String>()
        while true {
            skipSpaces()
            if scanner.first == "}" { break }
            let key = try string()
            try expect(":")
            switch key {
            case "descr": descr = try string()
            case "fortran_order":
                switch word() {
                case "True": fortranOrder = true
                case "False": fortranOrder = false
                default: throw ParseError(message: "fortran_order must be True or False")
                }
            case "shape": shape = try integers()
            default: throw ParseError(message: "unexpected key '\(key)'")
            }
            seen.insert(key)
            skipSpaces()
            if scanner.first == "," { scanner.removeFirst() }
        }
        guard seen == ["descr", "fortran_order", "shape"] else {
            throw ParseError(message: "missing \(["descr", "fortran_order", "shape"].filter { !seen.contains($0) }.joined(separator: ", "))")
        }
    }
}
