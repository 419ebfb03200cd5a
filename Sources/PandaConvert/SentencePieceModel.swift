import Foundation

// Hand-written: the converter needs one number from tokenizer.model (how many pieces it has), and reading the
// protobuf's top-level fields takes less than a dependency on SwiftProtobuf and the decoder's generated types.

/// A SentencePiece `tokenizer.model` (a `ModelProto`), read as far as its vocabulary size.
enum SentencePieceModel {
    /// The number of pieces (`ModelProto.pieces`, field 1): the ids the tokenizer can produce are 0..<count.
    static func pieceCount(path: String) throws -> Int {
        guard let data = FileManager.default.contents(atPath: path) else { throw ConvertError.inputNotFound(path: path) }
        let bytes = [UInt8](data)
        var offset = 0, count = 0
        func varint() throws -> UInt64 {
            var value: UInt64 = 0, shift: UInt64 = 0
            while offset < bytes.count && shift < 64 {
                let byte = bytes[offset]
                offset += 1
                value |= UInt64(byte & 0x7F) << shift
                if byte < 0x80 { return value }
                shift += 7
            }
            throw ConvertError.unreadableCheckpoint(path: path, reason: "a protobuf varint runs past the end at byte \(offset) (not a SentencePiece model?)")
        }
        while offset < bytes.count {
            let key = try varint()
            let skip: UInt64
            switch key & 7 {
            case 0: _ = try varint(); skip = 0
            case 1: skip = 8
            case 2: skip = try varint()
            case 5: skip = 4
            default:
                throw ConvertError.unreadableCheckpoint(path: path, reason: "protobuf wire type \(key & 7) at byte \(offset) (not a SentencePiece model?)")
            }
            guard skip <= UInt64(bytes.count - offset) else {
                throw ConvertError.unreadableCheckpoint(path: path, reason: "a protobuf field of \(skip) bytes at byte \(offset) runs past the end (truncated?)")
            }
            if key >> 3 == 1 && key & 7 == 2 { count += 1 }
            offset += Int(skip)
        }
        return count
    }
}
