// Hand-written: ImageBind cleans text with Python's ftfy and html.unescape, which have no Swift counterpart; this
// reproduces ftfy 6.3.1's fix_text (default settings) and html.unescape step by step, with their data tables
// generated from Python by Converters/reference/make_text_tables.py.
import Foundation

enum TextCleaner {
    /// `ftfy.fix_text(text)`: each line (up to and including its "\n") fixed on its own until nothing changes.
    static func fixText(_ text: String) -> String {
        var output = ""
        var segment = ""
        for scalar in text.unicodeScalars {
            segment.unicodeScalars.append(scalar)
            if scalar == "\n" {
                output += fixSegment(segment)
                segment = ""
            }
        }
        if !segment.isEmpty { output += fixSegment(segment) }
        return output
    }

    /// `html.unescape(text)`: HTML5 named references (with the standard's longest-prefix rule for names written
    /// without ';') and numeric references, including the standard's replacements for invalid ones.
    static func unescapeHTML(_ text: String) -> String {
        guard text.unicodeScalars.contains("&") else { return text }
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            guard scalars[index] == "&", let (end, replacement) = characterReference(in: scalars, at: index) else {
                out.append(scalars[index])
                index += 1
                continue
            }
            out.append(contentsOf: replacement.unicodeScalars)
            index = end
        }
        return String(out)
    }

    // MARK: fix_text's pipeline

    private static func fixSegment(_ original: String) -> String {
        // ftfy's unescape_html="auto": a segment that looks like HTML markup keeps its entities.
        let unescapes = !original.unicodeScalars.contains("<")
        var text = original
        while true {
            let before = text
            if unescapes { text = unescapeEntities(text) }
            text = fixEncoding(text)
            text = fixC1Controls(text)
            text = mapScalars(text) { TextCleaningTables.ligature[$0.value] }
            text = mapScalars(text) { TextCleaningTables.width[$0] }
            text = uncurlQuotes(text)
            text = fixLineBreaks(text)
            // fix_surrogates has nothing to do: a Swift string cannot hold unpaired surrogates.
            text = removeTerminalEscapes(text)
            text = String(String.UnicodeScalarView(text.unicodeScalars.filter { !isRemovedControl($0.value) }))
            text = text.precomposedStringWithCanonicalMapping
            if sameScalars(text, before) { return text }
        }
    }

    /// ftfy's unescape_html: `&name;` from html5's semicolon names (plus the upper-cased ones ftfy accepts) and
    /// `&#...;` references that html.unescape decodes completely; anything else is left as written.
    private static func unescapeEntities(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        var index = 0
        while index < scalars.count {
            if scalars[index] == "&", let end = entityEnd(scalars, from: index) {
                let entity = String(String.UnicodeScalarView(scalars[index..<end]))
                let name = String(entity.unicodeScalars.dropFirst())
                if name.hasSuffix(";"), let value = TextCleaningTables.html5[name] ?? TextCleaningTables.uppercase[entity] {
                    out.append(contentsOf: value.unicodeScalars)
                } else if entity.hasPrefix("&#") {
                    let decoded = unescapeHTML(entity)
                    out.append(contentsOf: (decoded.unicodeScalars.contains(";") ? entity : decoded).unicodeScalars)
                } else {
                    out.append(contentsOf: entity.unicodeScalars)
                }
                index = end
            } else {
                out.append(scalars[index])
                index += 1
            }
        }
        return String(out)
    }

    /// The end of a match of `&#?[0-9A-Za-z]{1,24};` starting at `start`.
    private static func entityEnd(_ scalars: [Unicode.Scalar], from start: Int) -> Int? {
        var index = start + 1
        if index < scalars.count, scalars[index] == "#" { index += 1 }
        let nameStart = index
        while index < scalars.count, scalars[index].isASCII, isAlphanumeric(scalars[index]) { index += 1 }
        let length = index - nameStart
        guard (1...24).contains(length), index < scalars.count, scalars[index] == ";" else { return nil }
        return index + 1
    }

    /// One step of ftfy's fix_encoding, repeated until the text stops changing.
    private static func fixEncoding(_ text: String) -> String {
        var text = text
        while true {
            let fixed = fixEncodingOneStep(text)
            if sameScalars(fixed, text) { return text }
            text = fixed
        }
    }

    private static func fixEncodingOneStep(_ text: String) -> String {
        if text.unicodeScalars.allSatisfy(\.isASCII) || !isBad(text) { return text }
        var possible: [String] = []
        for encoding in SingleByteEncoding.all {
            guard var bytes = encoding.encode(text) else { continue }
            possible.append(encoding.name)
            if encoding.name != "macroman", matches(Patterns.alteredUTF8, latin1(bytes)) {
                bytes = restoreByteA0(bytes)
            }
            if encoding.name.hasPrefix("sloppy") {
                bytes = bytesOfLatin1(replaceMatches(of: Patterns.lossyUTF8, in: latin1(bytes)) { _ in "\u{EF}\u{BF}\u{BD}" })
            }
            let variants = bytes.contains(0xED) || bytes.contains(0xC0)
            if let fixed = variants ? decodeUTF8Variants(bytes) : String(validating: bytes, as: UTF8.self) { return fixed }
        }
        if matches(Patterns.utf8Detector, text) {
            let fixed = replaceMatches(of: Patterns.utf8Detector, in: text) { match in
                match.unicodeScalars.count < text.unicodeScalars.count && isBad(match) ? fixEncoding(match) : match
            }
            if !sameScalars(fixed, text) { return fixed }
        }
        // ftfy looks for "windows-1252" among the sloppy names here, never finds it, and so always tries this.
        if possible.contains("latin-1") {
            let bytes = text.unicodeScalars.map { UInt8($0.value) }
            if let fixed = decodeStrictWindows1252(bytes), !sameScalars(fixed, text) { return fixed }
        }
        if text.unicodeScalars.contains(where: isC1) { return fixC1Controls(text) }
        return text
    }

    /// C1 control characters read as the windows-1252 characters browsers show for them.
    private static func fixC1Controls(_ text: String) -> String {
        mapScalars(text) { isC1($0) ? String(SingleByteEncoding.sloppyWindows1252.decode(UInt8($0.value))) : nil }
    }

    private static func restoreByteA0(_ bytes: [UInt8]) -> [UInt8] {
        let aGrave = replaceMatches(of: Patterns.aGraveWord, in: latin1(bytes)) { _ in "\u{C3}\u{A0} " }
        return bytesOfLatin1(replaceMatches(of: Patterns.alteredUTF8, in: aGrave) { $0.replacingOccurrences(of: " ", with: "\u{A0}") })
    }

    private static func uncurlQuotes(_ text: String) -> String {
        mapScalars(text) { scalar in
            switch scalar.value {
            case 0x2BC, 0x2018...0x201B: "'"
            case 0x201C...0x201F: "\""
            default: nil
            }
        }
    }

    private static func fixLineBreaks(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        var previousWasCR = false
        for scalar in text.unicodeScalars {
            if scalar == "\n" && previousWasCR { previousWasCR = false; continue }
            previousWasCR = scalar == "\r"
            switch scalar.value {
            case 0x0D, 0x2028, 0x2029, 0x85: out.append("\n")
            default: out.append(scalar)
            }
        }
        return String(out)
    }

    /// ANSI escapes: ESC [ digits-and-semicolons letter.
    private static func removeTerminalEscapes(_ text: String) -> String {
        guard text.unicodeScalars.contains("\u{1B}") else { return text }
        return replaceMatches(of: Patterns.ansiEscape, in: text) { _ in "" }
    }

    private static func isRemovedControl(_ value: UInt32) -> Bool {
        switch value {
        case 0x00...0x08, 0x0B, 0x0E...0x1F, 0x7F, 0x206A...0x206F, 0xFEFF, 0xFFF9...0xFFFC: true
        default: false
        }
    }

    // MARK: Mojibake detection and code pages

    private static func isBad(_ text: String) -> Bool { matches(Patterns.badness, text) }

    private static func isC1(_ scalar: Unicode.Scalar) -> Bool { (0x80...0x9F).contains(scalar.value) }

    /// A single-byte code page as ftfy uses it: bytes 0x00...0x7F are ASCII (except 0x1A, which the sloppy pages
    /// read as U+FFFD), 0x80...0xFF from the table.
    struct SingleByteEncoding: Sendable {
        let name: String
        let upperHalf: [Unicode.Scalar]
        let byteOf: [Unicode.Scalar: UInt8]

        init(name: String, table: String) {
            self.name = name
            let scalars = Array(table.unicodeScalars)
            upperHalf = Array(scalars[0..<128])
            var byteOf: [Unicode.Scalar: UInt8] = [:]
            for (offset, scalar) in scalars.enumerated() {
                let byte = offset == 128 ? UInt8(0x1A) : UInt8(0x80 + offset)
                if byteOf[scalar] == nil { byteOf[scalar] = byte }
            }
            for value in UInt8(0)...0x7F where value != 0x1A { byteOf[Unicode.Scalar(value)] = value }
            self.byteOf = byteOf
        }

        func encode(_ text: String) -> [UInt8]? {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(text.unicodeScalars.count)
            for scalar in text.unicodeScalars {
                guard let byte = byteOf[scalar] else { return nil }
                bytes.append(byte)
            }
            return bytes
        }

        func decode(_ byte: UInt8) -> Unicode.Scalar { byte >= 0x80 ? upperHalf[Int(byte) - 0x80] : Unicode.Scalar(byte) }

        static let all = TextCleaningTables.singleByteEncodings.map { SingleByteEncoding(name: $0.name, table: $0.upperHalf) }
        static let sloppyWindows1252 = all.first { $0.name == "sloppy-windows-1252" }!
    }

    private static func decodeStrictWindows1252(_ bytes: [UInt8]) -> String? {
        let table = Array(TextCleaningTables.windows1252UpperHalf.unicodeScalars)
        var out = String.UnicodeScalarView()
        for byte in bytes {
            let scalar = byte >= 0x80 ? table[Int(byte) - 0x80] : Unicode.Scalar(byte)
            if scalar == "\u{FFFD}" { return nil }
            out.append(scalar)
        }
        return String(out)
    }

    /// ftfy's "utf-8-variants": UTF-8 that also accepts CESU-8 surrogate pairs and Java's C0 80 for U+0000.
    private static func decodeUTF8Variants(_ bytes: [UInt8]) -> String? {
        var out = ""
        var plain: [UInt8] = []
        var index = 0
        func flush() -> Bool {
            guard let text = String(validating: plain, as: UTF8.self) else { return false }
            out += text
            plain.removeAll()
            return true
        }
        while index < bytes.count {
            if index + 5 < bytes.count, bytes[index] == 0xED, (0xA0...0xAF).contains(bytes[index + 1]), (0x80...0xBF).contains(bytes[index + 2]),
               bytes[index + 3] == 0xED, (0xB0...0xBF).contains(bytes[index + 4]), (0x80...0xBF).contains(bytes[index + 5]) {
                let high = 0xD000 | (UInt32(bytes[index + 1] & 0x3F) << 6) | UInt32(bytes[index + 2] & 0x3F)
                let low = 0xD000 | (UInt32(bytes[index + 4] & 0x3F) << 6) | UInt32(bytes[index + 5] & 0x3F)
                guard flush(), let scalar = Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) else { return nil }
                out.unicodeScalars.append(scalar)
                index += 6
            } else if index + 1 < bytes.count, bytes[index] == 0xC0, bytes[index + 1] == 0x80 {
                guard flush() else { return nil }
                out.unicodeScalars.append("\u{0}")
                index += 2
            } else {
                plain.append(bytes[index])
                index += 1
            }
        }
        return flush() ? out : nil
    }

    // MARK: html.unescape's references

    /// A reference at `start` (`&#123;`, `&#x7B;`, `&name;`, `&name`): where it ends and what replaces it.
    private static func characterReference(in scalars: [Unicode.Scalar], at start: Int) -> (Int, String)? {
        var index = start + 1
        if index < scalars.count, scalars[index] == "#" {
            index += 1
            var radix = 10
            if index < scalars.count, scalars[index] == "x" || scalars[index] == "X" { radix = 16; index += 1 }
            let digitsStart = index
            while index < scalars.count, scalars[index].isASCII, Character(scalars[index]).isHexDigit,
                  radix == 16 || Character(scalars[index]).isNumber {
                index += 1
            }
            guard index > digitsStart else { return nil }
            let digits = String(String.UnicodeScalarView(scalars[digitsStart..<index]))
            if index < scalars.count, scalars[index] == ";" { index += 1 }
            return (index, numericReference(digits, radix: radix))
        }
        let nameStart = index
        while index < scalars.count, index - nameStart < 32, !"\t\n\u{C} <&#;".unicodeScalars.contains(scalars[index]) { index += 1 }
        guard index > nameStart else { return nil }
        if index < scalars.count, scalars[index] == ";" { index += 1 }
        let name = String(String.UnicodeScalarView(scalars[nameStart..<index]))
        if let value = TextCleaningTables.html5[name] { return (index, value) }
        let nameScalars = Array(name.unicodeScalars)
        for length in stride(from: nameScalars.count - 1, to: 1, by: -1) {
            let prefix = String(String.UnicodeScalarView(nameScalars[0..<length]))
            if let value = TextCleaningTables.html5[prefix] {
                return (index, value + String(String.UnicodeScalarView(nameScalars[length...])))
            }
        }
        return (index, "&" + name)
    }

    private static func numericReference(_ digits: String, radix: Int) -> String {
        // Python parses any length; beyond U+10FFFF the answer is U+FFFD whatever the exact value.
        let trimmed = digits.drop { $0 == "0" }
        guard trimmed.count <= 8, let value = UInt32(trimmed.isEmpty ? "0" : String(trimmed), radix: radix) else { return "\u{FFFD}" }
        if let replacement = TextCleaningTables.invalidCharacterReferences[value] { return replacement }
        if (0xD800...0xDFFF).contains(value) || value > 0x10FFFF { return "\u{FFFD}" }
        if TextCleaningTables.invalidCodePoints.contains(value) { return "" }
        return String(Unicode.Scalar(value)!)
    }

    // MARK: Helpers

    private enum Patterns {
        static let badness = regex(TextCleaningTables.badnessPattern)
        static let utf8Detector = regex(TextCleaningTables.utf8DetectorPattern)
        static let aGraveWord = regex(TextCleaningTables.aGraveWordPattern)
        static let alteredUTF8 = regex(TextCleaningTables.alteredUTF8Pattern)
        static let lossyUTF8 = regex(TextCleaningTables.lossyUTF8Pattern)
        static let ansiEscape = regex("\\x{1B}\\[((?:\\d|;)*)([a-zA-Z])")

        static func regex(_ pattern: String) -> NSRegularExpression {
            do { return try NSRegularExpression(pattern: pattern) } catch { fatalError("bad built-in pattern \(pattern): \(error)") }
        }
    }

    private static func matches(_ regex: NSRegularExpression, _ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(location: 0, length: (text as NSString).length)) != nil
    }

    /// Replaces every match; works on the NSString's UTF-16 ranges, because a match may end inside a Swift
    /// Character (a space followed by a combining mark is one Character, but two matches for Python).
    static func replaceMatches(of regex: NSRegularExpression, in text: String, with replacement: (String) -> String) -> String {
        let string = text as NSString
        var out = ""
        var last = 0
        for match in regex.matches(in: text, range: NSRange(location: 0, length: string.length)) {
            out += string.substring(with: NSRange(location: last, length: match.range.location - last))
            out += replacement(string.substring(with: match.range))
            last = NSMaxRange(match.range)
        }
        return out + string.substring(from: last)
    }

    /// Python's `str.lower()`: full lowercase mappings, with Σ becoming final ς at the end of a word.
    static func lowercased(_ text: String) -> String {
        let scalars = Array(text.unicodeScalars)
        var out = String.UnicodeScalarView()
        for (index, scalar) in scalars.enumerated() {
            if scalar == "\u{3A3}" && isFinalSigma(scalars, at: index) {
                out.append("\u{3C2}")
            } else {
                out.append(contentsOf: scalar.properties.lowercaseMapping.unicodeScalars)
            }
        }
        return String(out)
    }

    /// Unicode's Final_Sigma condition: a cased letter before (skipping case-ignorables) and none after.
    private static func isFinalSigma(_ scalars: [Unicode.Scalar], at index: Int) -> Bool {
        func casedNeighbour(_ indices: some Sequence<Int>) -> Bool {
            for other in indices where !scalars[other].properties.isCaseIgnorable { return scalars[other].properties.isCased }
            return false
        }
        return casedNeighbour(stride(from: index - 1, through: 0, by: -1)) && !casedNeighbour((index + 1)..<scalars.count)
    }

    private static func mapScalars(_ text: String, _ transform: (Unicode.Scalar) -> String?) -> String {
        var out = String.UnicodeScalarView()
        for scalar in text.unicodeScalars {
            if let replacement = transform(scalar) { out.append(contentsOf: replacement.unicodeScalars) } else { out.append(scalar) }
        }
        return String(out)
    }

    private static func latin1(_ bytes: [UInt8]) -> String { String(String.UnicodeScalarView(bytes.map { Unicode.Scalar($0) })) }
    private static func bytesOfLatin1(_ text: String) -> [UInt8] { text.unicodeScalars.map { UInt8($0.value) } }
    private static func isAlphanumeric(_ scalar: Unicode.Scalar) -> Bool { Character(scalar).isLetter || Character(scalar).isNumber }

    /// Python compares strings by code point; Swift's `==` would call canonically equivalent strings equal.
    static func sameScalars(_ a: String, _ b: String) -> Bool { a.unicodeScalars.elementsEqual(b.unicodeScalars) }
}

extension TextCleaningTables {
    static let html5 = unpack(html5Entities)
    static let uppercase = unpack(uppercaseEntities)
    static let width: [Unicode.Scalar: String] = Dictionary(uniqueKeysWithValues: unpack(widthMap).map { ($0.key.unicodeScalars.first!, $0.value) })
    static let ligature = ligatures

    private static func unpack(_ packed: String) -> [String: String] {
        var table: [String: String] = [:]
        for entry in packed.unicodeScalars.split(separator: "\u{1}", omittingEmptySubsequences: true) {
            let parts = entry.split(separator: "\u{0}", maxSplits: 1, omittingEmptySubsequences: false)
            table[String(String.UnicodeScalarView(parts[0]))] = String(String.UnicodeScalarView(parts[1]))
        }
        return table
    }
}
