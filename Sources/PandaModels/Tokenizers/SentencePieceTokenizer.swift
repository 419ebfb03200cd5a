// Hand-written because SentencePiece is a C++ library with no Swift or C API: this is its BPE encoder
// (bpe_model.cc: merge the best-scoring adjacent pair first, ties to the left) and its decoder, for the
// tokenizer.model that the converter embeds in a .panda file.
import Foundation
import HeapModule
import SwiftProtobuf

public enum TokenizerError: LocalizedError, Equatable, Sendable {
    case unreadableModel(String)
    case unsupported(String)
    case malformed(String)

    public var errorDescription: String? {
        switch self {
        case .unreadableModel(let reason): "tokenizer.model: \(reason)"
        case .unsupported(let reason): "tokenizer.model: unsupported: \(reason)"
        case .malformed(let reason): reason
        }
    }
}

/// A SentencePiece BPE tokenizer (LLaMA's): identical ids to the `sentencepiece` library's `encode`, and its
/// `decode` back to text.
public struct SentencePieceTokenizer: Sendable {
    public enum PieceType: Sendable { case normal, unknown, control, userDefined, unused, byte }

    public let pieces: [String]
    public let scores: [Float]
    public let types: [PieceType]
    public let unknownID: Int
    public let bosID: Int
    public let eosID: Int
    let unknownSurface: String
    let addDummyPrefix: Bool
    let removeExtraWhitespaces: Bool
    let escapeWhitespaces: Bool
    let byteFallback: Bool
    /// Pieces that text can be merged into (normal, user-defined and unused ones), by their UTF-8 bytes:
    /// bytes, not Swift strings, because String equality would equate canonically equivalent Unicode.
    let mergeable: [[UInt8]: Int]
    let byteIDs: [Int]  // <0xXX> piece id per byte value, or -1
    let userDefined: [[UInt8]]  // matched whole, longest first, before merging

    public init(modelData: Data) throws {
        let model: Panda_Sentencepiece_ModelProto
        do {
            model = try Panda_Sentencepiece_ModelProto(serializedBytes: modelData)
        } catch {
            throw TokenizerError.unreadableModel("not a SentencePiece model (\(error))")
        }
        guard !model.pieces.isEmpty else { throw TokenizerError.unreadableModel("has no pieces") }
        guard model.trainerSpec.modelType == .bpe else {
            throw TokenizerError.unsupported("model type \(model.trainerSpec.modelType); only BPE models (LLaMA's) are implemented")
        }
        guard model.normalizerSpec.precompiledCharsmap.isEmpty else {
            throw TokenizerError.unsupported("normalization rules ('\(model.normalizerSpec.name)'); only identity normalization (LLaMA's) is implemented")
        }
        guard !model.trainerSpec.treatWhitespaceAsSuffix else { throw TokenizerError.unsupported("treat_whitespace_as_suffix") }
        pieces = model.pieces.map(\.piece)
        scores = model.pieces.map(\.score)
        types = model.pieces.map {
            switch $0.type {
            case .normal: .normal
            case .unknown: .unknown
            case .control: .control
            case .userDefined: .userDefined
            case .unused: .unused
            case .byte: .byte
            }
        }
        let spec = model.trainerSpec
        (unknownID, bosID, eosID) = (Int(spec.unkID), Int(spec.bosID), Int(spec.eosID))
        guard (0..<pieces.count).contains(unknownID) else { throw TokenizerError.unreadableModel("unk_id \(unknownID) is not a piece") }
        unknownSurface = spec.unkSurface
        byteFallback = spec.byteFallback
        addDummyPrefix = model.normalizerSpec.addDummyPrefix
        removeExtraWhitespaces = model.normalizerSpec.removeExtraWhitespaces
        escapeWhitespaces = model.normalizerSpec.escapeWhitespaces
        var mergeable: [[UInt8]: Int] = [:]
        var byteIDs = [Int](repeating: -1, count: 256)
        for (id, (piece, type)) in zip(pieces, types).enumerated() {
            switch type {
            case .normal, .userDefined, .unused: mergeable[Array(piece.utf8)] = mergeable[Array(piece.utf8)] ?? id
            case .byte: if let value = Self.byteValue(piece) { byteIDs[Int(value)] = id }
            case .unknown, .control: break
            }
        }
        self.mergeable = mergeable
        self.byteIDs = byteIDs
        userDefined = zip(pieces, types).filter { $0.1 == .userDefined }.map { Array($0.0.utf8) }.sorted { $0.count > $1.count }
    }

    public var vocabularySize: Int { pieces.count }

    /// The ids of `text`, as `SentencePieceProcessor.encode(text)`; with `addBOS`, preceded by the BOS id.
    public func encode(_ text: String, addBOS: Bool = false) -> [Int] {
        var ids = addBOS ? [bosID] : []
        let normalized = normalize(text)
        guard !normalized.isEmpty else { return ids }
        for symbol in mergedSymbols(normalized) {
            if let id = mergeable[symbol] {
                ids.append(id)
            } else if byteFallback {
                ids.append(contentsOf: symbol.map { byteIDs[Int($0)] >= 0 ? byteIDs[Int($0)] : unknownID })
            } else {
                ids.append(unknownID)
            }
        }
        return ids
    }

    /// The text of `ids`, as `SentencePieceProcessor.decode(ids)`: control pieces vanish, `▁` becomes a space,
    /// the dummy-prefix space of the first piece is dropped, byte pieces are joined and read as UTF-8.
    public func decode(_ ids: [Int]) -> String {
        var detokenizer = Detokenizer(self)
        for id in ids { detokenizer.append(id) }
        return String(decoding: detokenizer.bytes, as: UTF8.self)
    }

    /// The piece text of one id (for printing tokens).
    public func piece(_ id: Int) -> String { id >= 0 && id < pieces.count ? pieces[id] : "" }

    // MARK: - Normalization and merging

    static let spaceSymbol = Array("▁".utf8)

    /// Identity normalization: optional whitespace cleanup, the dummy-prefix space, spaces escaped as `▁`.
    func normalize(_ text: String) -> [UInt8] {
        var bytes = Array(text.utf8)
        if removeExtraWhitespaces {
            var cleaned: [UInt8] = []
            var lastWasSpace = true  // drops leading spaces
            for byte in bytes {
                if byte == 0x20 {
                    if !lastWasSpace { cleaned.append(byte) }
                    lastWasSpace = true
                } else {
                    cleaned.append(byte)
                    lastWasSpace = false
                }
            }
            if cleaned.last == 0x20 { cleaned.removeLast() }
            bytes = cleaned
        }
        guard !bytes.isEmpty else { return [] }
        if addDummyPrefix { bytes.insert(0x20, at: 0) }
        return escapeWhitespaces ? Self.escapingSpaces(bytes) : bytes
    }

    private struct Symbol {
        var start: Int, end: Int
        var previous: Int, next: Int
    }

    private struct Candidate: Comparable {
        var score: Float, left: Int, right: Int, length: Int
        // The heap's max is the best pair: highest score, then leftmost.
        static func < (a: Candidate, b: Candidate) -> Bool { a.score != b.score ? a.score < b.score : a.left > b.left }
    }

    /// Splits normalized text into characters (user-defined pieces whole) and applies BPE merges.
    private func mergedSymbols(_ text: [UInt8]) -> [[UInt8]] {
        var symbols: [Symbol] = []
        var position = 0
        while position < text.count {
            var length = Self.utf8Length(text[position])
            if let match = userDefined.first(where: { text[position...].starts(with: $0) }) { length = match.count }
            length = min(length, text.count - position)
            symbols.append(Symbol(start: position, end: position + length, previous: symbols.count - 1, next: symbols.count + 1))
            position += length
        }
        symbols[symbols.count - 1].next = -1

        var agenda = Heap<Candidate>()
        var splits: [[UInt8]: ([UInt8], [UInt8])] = [:]  // how unused pieces come apart again
        func consider(_ left: Int, _ right: Int) {
            guard left >= 0, right >= 0 else { return }
            let merged = Array(text[symbols[left].start..<symbols[right].end])
            guard let id = mergeable[merged] else { return }
            agenda.insert(Candidate(score: scores[id], left: left, right: right, length: merged.count))
            if types[id] == .unused {
                splits[merged] = (Array(text[symbols[left].start..<symbols[left].end]), Array(text[symbols[right].start..<symbols[right].end]))
            }
        }
        for index in 1..<symbols.count { consider(index - 1, index) }
        while let best = agenda.popMax() {
            let (left, right) = (symbols[best.left], symbols[best.right])
            // Skip pairs that an earlier merge has changed.
            guard left.end > left.start, right.end > right.start, left.end == right.start,
                  right.end - left.start == best.length else { continue }
            symbols[best.left].end = right.end
            symbols[best.left].next = right.next
            if right.next >= 0 { symbols[right.next].previous = best.left }
            symbols[best.right].start = symbols[best.right].end  // emptied
            consider(symbols[best.left].previous, best.left)
            consider(best.left, symbols[best.left].next)
        }

        var output: [[UInt8]] = []
        func resegment(_ piece: [UInt8]) {
            if let id = mergeable[piece], types[id] == .unused, let (left, right) = splits[piece] {
                resegment(left)
                resegment(right)
            } else {
                output.append(piece)
            }
        }
        var index = 0
        while index >= 0 {
            resegment(Array(text[symbols[index].start..<symbols[index].end]))
            index = symbols[index].next
        }
        return output
    }

    private static func utf8Length(_ lead: UInt8) -> Int {
        switch lead {
        case 0..<0x80: 1
        case 0xC0..<0xE0: 2
        case 0xE0..<0xF0: 3
        case 0xF0..<0xF8: 4
        default: 1  // a stray continuation byte stands alone, as in SentencePiece
        }
    }

    private static func escapingSpaces(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 8)
        for byte in bytes { if byte == 0x20 { out += spaceSymbol } else { out.append(byte) } }
        return out
    }

    private static func replacingSpaceSymbols(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            if bytes[index...].starts(with: spaceSymbol) {
                out.append(0x20)
                index += spaceSymbol.count
            } else {
                out.append(bytes[index])
                index += 1
            }
        }
        return out
    }

    /// `<0xAB>` → 0xAB.
    static func byteValue(_ piece: String) -> UInt8? {
        guard piece.count == 6, piece.hasPrefix("<0x"), piece.hasSuffix(">") else { return nil }
        return UInt8(piece.dropFirst(3).prefix(2), radix: 16)
    }

    /// Valid UTF-8 sequences kept, each invalid byte replaced by U+FFFD, as SentencePiece decodes byte pieces.
    static func utf8ReplacingInvalidBytes(_ bytes: [UInt8]) -> [UInt8] {
        var out: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let length = utf8Length(bytes[index])
            if bytes[index] < 0x80 {
                out.append(bytes[index])
                index += 1
                continue
            }
            if bytes[index] >= 0xC2, bytes[index] < 0xF5, index + length <= bytes.count,
               bytes[(index + 1)..<(index + length)].allSatisfy({ $0 & 0xC0 == 0x80 }),
               String(validating: bytes[index..<(index + length)], as: UTF8.self) != nil {
                out += bytes[index..<(index + length)]
                index += length
            } else {
                out += [0xEF, 0xBF, 0xBD]
                index += 1
            }
        }
        return out
    }
}

extension SentencePieceTokenizer {
    /// The text of a growing id sequence, one id at a time: always the bytes `decode` gives for all ids so far,
    /// without decoding them again at every token.
    public struct Detokenizer: Sendable {
        let tokenizer: SentencePieceTokenizer
        /// UTF-8 of the text before `pendingBytes`.
        private var settled: [UInt8] = []
        /// Byte pieces not yet followed by another piece: they may still complete a UTF-8 sequence.
        private var pendingBytes: [UInt8] = []
        private var atStart = true

        public init(_ tokenizer: SentencePieceTokenizer, reservingCapacity bytes: Int = 0) {
            self.tokenizer = tokenizer
            settled.reserveCapacity(bytes)
        }

        public mutating func append(_ id: Int) {
            guard id >= 0 && id < tokenizer.pieces.count else { return }
            switch tokenizer.types[id] {
            case .byte:
                if let value = SentencePieceTokenizer.byteValue(tokenizer.pieces[id]) { pendingBytes.append(value) }
            case .control:
                flushBytes()
            case .unknown:
                flushBytes()
                settled += tokenizer.unknownSurface.utf8
                atStart = false
            case .normal, .userDefined, .unused:
                flushBytes()
                var piece = Array(tokenizer.pieces[id].utf8)
                if atStart && (tokenizer.addDummyPrefix || tokenizer.removeExtraWhitespaces) && piece.starts(with: SentencePieceTokenizer.spaceSymbol) {
                    piece.removeFirst(SentencePieceTokenizer.spaceSymbol.count)
                }
                settled += SentencePieceTokenizer.replacingSpaceSymbols(piece)
                atStart = false
            }
        }

        private mutating func flushBytes() {
            guard !pendingBytes.isEmpty else { return }
            settled += SentencePieceTokenizer.utf8ReplacingInvalidBytes(pendingBytes)
            pendingBytes.removeAll(keepingCapacity: true)
            atStart = false
        }

        /// The UTF-8 of the text so far, as `decode` gives it.
        public var bytes: [UInt8] { pendingBytes.isEmpty ? settled : settled + SentencePieceTokenizer.utf8ReplacingInvalidBytes(pendingBytes) }

        /// How many leading bytes of `bytes` no later id can change: all but a trailing UTF-8 sequence that byte
        /// pieces have begun and not finished (it reads as U+FFFD now and may become a character).
        public var stableCount: Int {
            var complete = pendingBytes.count
            if let lead = pendingBytes.lastIndex(where: { $0 & 0xC0 != 0x80 }), pendingBytes[lead] >= 0xC2, pendingBytes[lead] < 0xF5,
               pendingBytes.count - lead < SentencePieceTokenizer.utf8Length(pendingBytes[lead]) {
                complete = lead
            }
            return settled.count + SentencePieceTokenizer.utf8ReplacingInvalidBytes(Array(pendingBytes[..<complete])).count
        }
    }
}
