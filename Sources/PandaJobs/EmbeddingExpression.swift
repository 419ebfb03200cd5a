import Foundation

/// Embedding arithmetic for `combine` cells: `image + 0.5 * audio`, `image - text("daytime") + text("night")`,
/// `normalize(a + b)`, with numbers, job parameters and parentheses. Names refer to embedding cells or parameters.
///
/// Each embedding in an expression is a unit vector, as CLIP-style arithmetic expects: ImageBind scales its text,
/// audio, depth, thermal and IMU embeddings by a learned logit scale (14× a picture's length on the demo model,
/// 20× and more on ImageBind huge), which would drown the picture in `picture - text("red") + text("blue")`.
/// `raw(name)` and `raw(text("…"))` keep the model's own scale, which is what PandaGPT's projection was trained on.
public indirect enum EmbeddingExpression: Sendable, Equatable {
    case number(Double)
    case name(String)
    case text(String)
    /// A name or text(…) at the model's own scale.
    case raw(EmbeddingExpression)
    case normalize(EmbeddingExpression)
    case negate(EmbeddingExpression)
    case binary(Character, EmbeddingExpression, EmbeddingExpression)

    public struct ParseError: Error, Equatable {
        /// Characters from the start of the expression.
        public var offset: Int
        public var message: String
    }

    /// Every name used, in order of appearance.
    public var names: [String] {
        switch self {
        case .number, .text: []
        case .name(let name): [name]
        case .normalize(let inner), .negate(let inner), .raw(let inner): inner.names
        case .binary(_, let left, let right): left.names + right.names
        }
    }

    /// Every literal text used (embedded with the text encoder).
    public var texts: [String] {
        switch self {
        case .number, .name: []
        case .text(let text): [text]
        case .normalize(let inner), .negate(let inner), .raw(let inner): inner.texts
        case .binary(_, let left, let right): left.texts + right.texts
        }
    }

    public static func parse(_ source: String) throws(ParseError) -> EmbeddingExpression {
        var parser = Parser(characters: Array(source))
        let expression = try parser.sum()
        parser.skipSpaces()
        guard parser.position == parser.characters.count else {
            throw ParseError(offset: parser.position, message: "unexpected '\(parser.characters[parser.position])'; expected + - * / or the end")
        }
        return expression
    }

    /// A value during evaluation: a number or a vector.
    public enum Value: Sendable, Equatable {
        case scalar(Double)
        case vector([Float])
    }

    public struct EvaluationError: Error, Equatable { public var message: String }

    /// Evaluates with `lookup` giving each name's value and `embedText` each literal text's embedding.
    public func evaluate(lookup: (String) throws -> Value, embedText: (String) throws -> [Float]) throws -> Value {
        try evaluate(lookup: lookup, embedText: embedText, unit: true)
    }

    private func evaluate(lookup: (String) throws -> Value, embedText: (String) throws -> [Float], unit: Bool) throws -> Value {
        switch self {
        case .number(let value): return .scalar(value)
        case .name(let name):
            let value = try lookup(name)
            guard unit, case .vector(let vector) = value else { return value }
            return .vector(Self.unitLength(vector))
        case .text(let text):
            let vector = try embedText(text)
            return .vector(unit ? Self.unitLength(vector) : vector)
        case .raw(let inner): return try inner.evaluate(lookup: lookup, embedText: embedText, unit: false)
        case .negate(let inner):
            switch try inner.evaluate(lookup: lookup, embedText: embedText, unit: unit) {
            case .scalar(let value): return .scalar(-value)
            case .vector(let vector): return .vector(vector.map { -$0 })
            }
        case .normalize(let inner):
            guard case .vector(let vector) = try inner.evaluate(lookup: lookup, embedText: embedText, unit: unit) else {
                throw EvaluationError(message: "normalize(...) takes an embedding, not a number")
            }
            return .vector(Self.unitLength(vector))
        case .binary(let operation, let leftExpression, let rightExpression):
            let left = try leftExpression.evaluate(lookup: lookup, embedText: embedText, unit: unit)
            let right = try rightExpression.evaluate(lookup: lookup, embedText: embedText, unit: unit)
            return try Self.apply(operation, left, right)
        }
    }

    private static func unitLength(_ vector: [Float]) -> [Float] {
        let norm = max(vector.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
        return vector.map { $0 / norm }
    }

    private static func apply(_ operation: Character, _ left: Value, _ right: Value) throws -> Value {
        switch (left, right) {
        case (.scalar(let a), .scalar(let b)):
            switch operation {
            case "+": return .scalar(a + b)
            case "-": return .scalar(a - b)
            case "*": return .scalar(a * b)
            default: return .scalar(a / b)
            }
        case (.vector(let a), .vector(let b)):
            guard operation == "+" || operation == "-" else { throw EvaluationError(message: "embeddings can be added and subtracted, not multiplied or divided") }
            guard a.count == b.count else { throw EvaluationError(message: "embeddings of different sizes (\(a.count) and \(b.count))") }
            return .vector(operation == "+" ? zip(a, b).map(+) : zip(a, b).map(-))
        case (.scalar(let s), .vector(let v)):
            guard operation == "*" else { throw EvaluationError(message: "a number and an embedding combine only by multiplication (\(s) \(operation) …)") }
            return .vector(v.map { $0 * Float(s) })
        case (.vector(let v), .scalar(let s)):
            guard operation == "*" || operation == "/" else { throw EvaluationError(message: "an embedding and a number combine only by * or /") }
            return .vector(v.map { operation == "*" ? $0 * Float(s) : $0 / Float(s) })
        }
    }

    private struct Parser {
        let characters: [Character]
        var position = 0

        mutating func skipSpaces() { while position < characters.count, characters[position].isWhitespace { position += 1 } }

        mutating func peek() -> Character? {
            skipSpaces()
            return position < characters.count ? characters[position] : nil
        }

        mutating func sum() throws(ParseError) -> EmbeddingExpression {
            var left = try product()
            while let operation = peek(), operation == "+" || operation == "-" {
                position += 1
                left = .binary(operation, left, try product())
            }
            return left
        }

        mutating func product() throws(ParseError) -> EmbeddingExpression {
            var left = try unary()
            while let operation = peek(), operation == "*" || operation == "/" {
                position += 1
                left = .binary(operation, left, try unary())
            }
            return left
        }

        mutating func unary() throws(ParseError) -> EmbeddingExpression {
            if peek() == "-" {
                position += 1
                return .negate(try unary())
            }
            return try atom()
        }

        mutating func atom() throws(ParseError) -> EmbeddingExpression {
            guard let next = peek() else { throw ParseError(offset: position, message: "expected a name, a number, text(\"…\"), raw(…) or normalize(…)") }
            if next == "(" {
                position += 1
                let inner = try sum()
                try expect(")")
                return inner
            }
            if next.isNumber || next == "." {
                let start = position
                while position < characters.count, characters[position].isNumber || characters[position] == "." || characters[position] == "e"
                    || ((characters[position] == "-" || characters[position] == "+") && position > start && characters[position - 1] == "e") {
                    position += 1
                }
                guard let value = Double(String(characters[start..<position])) else {
                    throw ParseError(offset: start, message: "'\(String(characters[start..<position]))' is not a number")
                }
                return .number(value)
            }
            guard next.isLetter || next == "_" else { throw ParseError(offset: position, message: "unexpected '\(next)'") }
            let start = position
            while position < characters.count, characters[position].isLetter || characters[position].isNumber || characters[position] == "_" {
                position += 1
            }
            let name = String(characters[start..<position])
            guard peek() == "(" else { return .name(name) }
            position += 1
            switch name {
            case "text":
                let text = try quoted()
                try expect(")")
                return .text(text)
            case "normalize":
                let inner = try sum()
                try expect(")")
                return .normalize(inner)
            case "raw":
                skipSpaces()
                let argument = position
                let inner = try atom()
                switch inner {
                case .name, .text: break
                default: throw ParseError(offset: argument, message: "raw(…) takes a name or text(\"…\")")
                }
                try expect(")")
                return .raw(inner)
            default:
                throw ParseError(offset: start, message: "unknown function '\(name)'; functions: text(\"…\"), raw(…), normalize(…)")
            }
        }

        mutating func quoted() throws(ParseError) -> String {
            guard let quote = peek(), quote == "\"" || quote == "'" else { throw ParseError(offset: position, message: "text(…) takes a quoted string") }
            position += 1
            let start = position
            while position < characters.count, characters[position] != quote { position += 1 }
            guard position < characters.count else { throw ParseError(offset: start - 1, message: "unterminated string") }
            defer { position += 1 }
            return String(characters[start..<position])
        }

        mutating func expect(_ character: Character) throws(ParseError) {
            guard peek() == character else { throw ParseError(offset: position, message: "expected '\(character)'") }
            position += 1
        }
    }
}
