// Hand-written: ImageBind's text encoder needs CLIP's byte-level BPE exactly as its SimpleTokenizer does it (ftfy and
// HTML cleaning, lowercasing, its pre-tokenizing pattern, 77-token rows), and no Swift library offers that.
import CZlib
import Foundation

/// ImageBind's `SimpleTokenizer`, from `bpe_simple_vocab_16e6.txt.gz` (embedded by the converter as "clip-bpe").
public struct CLIPTokenizer: Sendable {
    public static let contextLength = 77
    public let startOfText: Int
    public let endOfText: Int
    public var vocabularySize: Int { encoder.count }

    private let encoder: [String: Int]
    private let symbols: [String]
    private let symbolToByte: [Unicode.Scalar: UInt8]
    private let mergeRanks: [SymbolPair: Int]
    private let byteSymbols: [String]

    private struct SymbolPair: Hashable { var first: String, second: String }

    /// `compressedVocabulary`: the gzip file's bytes. SimpleTokenizer keeps merges 1 ..< 48,895 of its lines.
    public init(compressedVocabulary: Data) throws {
        let text = try Self.gunzip(compressedVocabulary)
        let lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        let mergeCount = 49152 - 256 - 2
        guard lines.count > mergeCount else {
            throw TokenizerError.malformed("the CLIP vocabulary has \(lines.count) lines, expected at least \(mergeCount + 1)")
        }
        let symbols = Self.byteToSymbol
        byteSymbols = symbols
        // The first 512 ids: the byte symbols in bytes_to_unicode's order (printable bytes first), then with "</w>".
        let order = Self.printableBytes + (0..<256).filter { !Self.printableBytes.contains($0) }
        let ordered = order.map { symbols[$0] }
        var vocabulary = ordered + ordered.map { $0 + "</w>" }
        var ranks: [SymbolPair: Int] = [:]
        for (rank, line) in lines[1...mergeCount].enumerated() {
            let parts = line.split(separator: " ")
            guard parts.count == 2 else { throw TokenizerError.malformed("CLIP merge line \(rank + 2) is '\(line)', expected two symbols") }
            ranks[SymbolPair(first: String(parts[0]), second: String(parts[1]))] = rank
            vocabulary.append(String(parts[0] + parts[1]))
        }
        vocabulary += ["<|startoftext|>", "<|endoftext|>"]
        // Symbols are compared by code point, so keys are built from scalars Python would see as distinct.
        encoder = Dictionary(vocabulary.enumerated().map { ($1, $0) }, uniquingKeysWith: { _, last in last })
        mergeRanks = ranks
        self.symbols = vocabulary
        symbolToByte = Dictionary(uniqueKeysWithValues: Self.byteToSymbol.enumerated().map { byte, symbol in (symbol.unicodeScalars.first!, UInt8(byte)) })
        startOfText = encoder["<|startoftext|>"]!
        endOfText = encoder["<|endoftext|>"]!
    }

    /// The BPE ids of `text` without SOT/EOT (`SimpleTokenizer.encode`).
    public func encode(_ text: String) -> [Int] {
        let cleaned = Self.clean(text)
        var ids: [Int] = []
        for word in Self.words(in: cleaned) {
            let symbols = Array(word.utf8).map { byteSymbols[Int($0)] }
            if word == "<|startoftext|>" || word == "<|endoftext|>" {
                ids.append(encoder[word]!)
                continue
            }
            for symbol in merge(symbols) { ids.append(encoder[symbol]!) }
        }
        return ids
    }

    /// The model's input row (`SimpleTokenizer.__call__`): SOT, the ids cut to fit, EOT, zeros up to 77.
    public func tokenize(_ text: String) -> [Int] {
        var ids = [startOfText] + encode(text)
        ids = Array(ids.prefix(Self.contextLength - 1)) + [endOfText]
        return ids + [Int](repeating: 0, count: Self.contextLength - ids.count)
    }

    /// The text of ids (`SimpleTokenizer.decode`): symbols joined, "</w>" read as a space; SOT, EOT and padding skipped.
    public func decode(_ ids: [Int]) -> String {
        var bytes: [UInt8] = []
        for id in ids where id > 0 && id != startOfText && id != endOfText && id < symbols.count {
            for scalar in symbols[id].replacingOccurrences(of: "</w>", with: " ").unicodeScalars {
                if let byte = symbolToByte[scalar] { bytes.append(byte) } else { bytes.append(contentsOf: Array(String(scalar).utf8)) }
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// The vocabulary entry of an id.
    public func symbol(_ id: Int) -> String { id >= 0 && id < symbols.count ? symbols[id] : "" }

    /// SimpleTokenizer's cleaning: ftfy.fix_text, html.unescape twice, whitespace runs to one space, lowercase.
    static func clean(_ text: String) -> String {
        let fixed = TextCleaner.unescapeHTML(TextCleaner.unescapeHTML(TextCleaner.fixText(text)))
        let collapsed = TextCleaner.replaceMatches(of: whitespaceRun, in: fixed.trimmingPythonWhitespace()) { _ in " " }
        return TextCleaner.lowercased(collapsed.trimmingPythonWhitespace())
    }

    /// SimpleTokenizer's pre-tokenizer: special tokens, English contractions, letter runs, single digits, and runs of
    /// everything else that is not whitespace.
    static func words(in text: String) -> [String] {
        let string = text as NSString
        return wordPattern.matches(in: text, range: NSRange(location: 0, length: string.length)).map { string.substring(with: $0.range) }
    }

    /// Byte-pair merging: the lowest-ranked adjacent pair is merged everywhere, until no ranked pair remains; the last
    /// symbol carries the end-of-word marker.
    private func merge(_ bytes: [String]) -> [String] {
        var word = bytes
        word[word.count - 1] += "</w>"
        while word.count > 1 {
            var best: (rank: Int, pair: SymbolPair)?
            for index in 0..<(word.count - 1) {
                let pair = SymbolPair(first: word[index], second: word[index + 1])
                if let rank = mergeRanks[pair], rank < best?.rank ?? .max { best = (rank, pair) }
            }
            guard let pair = best?.pair else { break }
            var merged: [String] = []
            merged.reserveCapacity(word.count)
            var index = 0
            while index < word.count {
                if index < word.count - 1, word[index] == pair.first, word[index + 1] == pair.second {
                    merged.append(pair.first + pair.second)
                    index += 2
                } else {
                    merged.append(word[index])
                    index += 1
                }
            }
            word = merged
        }
        return word
    }

    /// GPT-2's reversible byte → printable character table: printable Latin-1 bytes stand for themselves, the other
    /// 68 bytes take U+0100 onwards in byte order.
    private static let printableBytes = Array(0x21...0x7E) + Array(0xA1...0xAC) + Array(0xAE...0xFF)
    private static let byteToSymbol: [String] = {
        var symbols = [String](repeating: "", count: 256)
        var next: UInt32 = 256
        for byte in 0..<256 {
            let scalar = printableBytes.contains(byte) ? UInt32(byte) : { defer { next += 1 }; return next }()
            symbols[byte] = String(Unicode.Scalar(scalar)!)
        }
        return symbols
    }()

    private static let wordPattern = try! NSRegularExpression(
        pattern: #"<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\p{White_Space}\p{L}\p{N}]+"#,
        options: [.caseInsensitive])
    private static let whitespaceRun = try! NSRegularExpression(pattern: #"\p{White_Space}+"#)

    private static func gunzip(_ data: Data) throws -> String {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header.
        guard inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else {
            throw TokenizerError.malformed("cannot start zlib")
        }
        defer { inflateEnd(&stream) }
        var output = Data()
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        var status: Int32 = Z_OK
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            stream.next_in = UnsafeMutablePointer(mutating: input.bindMemory(to: Bytef.self).baseAddress)
            stream.avail_in = uInt(input.count)
            repeat {
                let produced = chunk.withUnsafeMutableBufferPointer { buffer -> Int in
                    stream.next_out = buffer.baseAddress
                    stream.avail_out = uInt(buffer.count)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return buffer.count - Int(stream.avail_out)
                }
                guard status == Z_OK || status == Z_STREAM_END else {
                    throw TokenizerError.malformed("the CLIP vocabulary is not valid gzip (zlib status \(status))")
                }
                output.append(contentsOf: chunk[0..<produced])
                if status == Z_OK && produced == 0 && stream.avail_in == 0 {
                    throw TokenizerError.malformed("the CLIP vocabulary's gzip stream is truncated")
                }
            } while status != Z_STREAM_END
        }
        guard let text = String(data: output, encoding: .utf8) else { throw TokenizerError.malformed("the CLIP vocabulary is not UTF-8") }
        return text
    }
}

extension CLIPTokenizer {
    /// The vocabulary embedded in a converted ImageBind file.
    public init(weights: ModelWeights) throws {
        do {
            try self.init(compressedVocabulary: weights.embeddedFile(role: "clip-bpe"))
        } catch let error as TokenizerError {
            throw ModelError.badConfig(path: weights.path, reason: error.localizedDescription)
        }
    }
}

extension String {
    /// Python's `str.strip()`: removes leading and trailing characters for which `isspace()` is true.
    func trimmingPythonWhitespace() -> String {
        let scalars = Array(unicodeScalars)
        func isSpace(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isWhitespace || (0x1C...0x1F).contains(scalar.value)
        }
        guard let first = scalars.firstIndex(where: { !isSpace($0) }), let last = scalars.lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(String.UnicodeScalarView(scalars[first...last]))
    }
}
