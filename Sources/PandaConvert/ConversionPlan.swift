import Foundation
import PandaFormat

/// Choices that shape the output, beyond the recipe.
public struct ConversionOptions: Sendable {
    /// Stored dtype of `linear` tensors (and, where the policy says so, embeddings and heads); nil keeps the source's.
    public var dtype: DType?
    /// Store tensors zstd-compressed (byte-plane shuffled where the dtype allows) instead of raw.
    public var compress = false
    /// Configuration values given by the user (e.g. `lora_alpha`): they fill fields the checkpoint does not record,
    /// and must agree with fields that follow from tensor shapes (e.g. `lora_r`).
    public var settings: [String: JSONValue] = [:]

    public init(dtype: DType? = nil, compress: Bool = false, settings: [String: JSONValue] = [:]) {
        self.dtype = dtype
        self.compress = compress
        self.settings = settings
    }
}

/// One tensor to write: where it comes from and how it is stored.
public struct PlannedTensor: Sendable {
    public var target: String
    public var source: SourceTensor
    public var tensorClass: TensorClass
    public var dtype: DType
    public var storage: Storage
    public var shuffle: Bool
    /// A LoRA update folded into the weight as it is written: W + scale · B·A.
    public var merge: LoRAMerge?

    public var outputBytes: Int { dtype.byteCount(elements: source.elementCount) ?? 0 }
}

/// The factors of a LoRA update: A is [r, in], B is [out, r].
public struct LoRAMerge: Sendable {
    public var a: SourceTensor
    public var b: SourceTensor
    public var scale: Float
}

/// The complete, checked description of a conversion: nothing is written until a plan exists.
public struct ConversionPlan: Sendable {
    public var recipe: Recipe
    public var config: JSONValue
    public var tensors: [PlannedTensor]
    public var tokenizers: [String: String]
    /// Checkpoint keys the recipe deliberately drops.
    public var ignored: [String]
    public var inputs: ConversionInputs
    public var options: ConversionOptions

    public var outputBytes: Int { tensors.reduce(0) { $0 + $1.outputBytes } }
    public var inputBytes: Int { tensors.reduce(0) { $0 + $1.source.elementCount * $1.source.dtype.size } }

    /// Matches the inputs against `recipe`, infers and checks the configuration, and decides every tensor's dtype.
    /// Throws one error listing every unmapped and missing key (or every shape problem) at once.
    public init(recipe: Recipe, inputs: ConversionInputs, options: ConversionOptions = ConversionOptions()) throws {
        self.recipe = recipe
        self.inputs = inputs
        self.options = options
        let (matches, ignored) = try Self.matchKeys(recipe: recipe, inputs: inputs)
        self.ignored = ignored
        let config = try Self.configuration(recipe: recipe, inputs: inputs, options: options, matches: matches)
        self.config = .object(config)
        tokenizers = try Self.sideFiles(recipe: recipe, inputs: inputs, config: config)
        tensors = try matches.map { match in
            let dtype = try DTypePolicy.storedDType(for: match.rule.tensorClass, source: match.source, requested: options.dtype)
            let shuffle = options.compress && !dtype.isQuantized && (dtype.blockBytes == 2 || dtype.blockBytes == 4)
            return PlannedTensor(
                target: match.rule.target.map { $0.filled(match.bindings) } ?? match.name, source: match.source,
                tensorClass: match.rule.tensorClass, dtype: dtype, storage: options.compress ? .zstd : .raw, shuffle: shuffle)
        }
    }

    /// A checkpoint key under its canonical name, with the recipe rule it matched and the rule's index bindings.
    private struct KeyMatch {
        var name: String
        var source: SourceTensor
        var rule: TensorRule
        var bindings: [String: String]
    }

    /// Canonical names, then one rule per key; index ranges (layers, blocks) follow from the keys present, and
    /// every required key in range must exist. Returns the matched keys and the ones the recipe drops.
    private static func matchKeys(recipe: Recipe, inputs: ConversionInputs) throws -> (matches: [KeyMatch], ignored: [String]) {
        var canonical: [(name: String, source: SourceTensor)] = []
        var seen: [String: String] = [:]
        for original in inputs.order {
            let name = recipe.canonicalName(original)
            if let earlier = seen[name] {
                throw ConvertError.duplicateTensor(tensor: name, first: earlier, second: original)
            }
            seen[name] = original
            canonical.append((name, inputs.tensors[original]!))
        }
        var matches: [KeyMatch] = []
        var unmapped: [String] = []
        var ignored: [String] = []
        for (name, source) in canonical {
            guard let (rule, bindings) = recipe.tensors.lazy.compactMap({ rule in rule.pattern.match(name).map { (rule, $0) } }).first else {
                unmapped.append(name)
                continue
            }
            if case .ignored = rule.disposition { ignored.append(name) } else { matches.append(KeyMatch(name: name, source: source, rule: rule, bindings: bindings)) }
        }

        let present = Set(matches.map(\.name))
        var indexCount: [String: Int] = [:]
        for match in matches {
            for placeholder in match.rule.pattern.indexPlaceholders {
                let context = indexContext(placeholder, match.rule.pattern, match.bindings)
                indexCount[context] = max(indexCount[context] ?? 0, Int(match.bindings[placeholder]!)! + 1)
            }
        }
        var missing: [String] = []
        for rule in recipe.tensors {
            guard case .required = rule.disposition else { continue }
            for key in expectedKeys(rule.pattern, indexCount) where !present.contains(key) { missing.append(key) }
        }
        if !unmapped.isEmpty || !missing.isEmpty {
            throw ConvertError.keyMismatch(recipe: recipe.name, unmapped: unmapped, missing: missing)
        }
        return (matches, ignored)
    }

    /// The configuration from shapes, config.json and the user's settings, then every shape and the recipe's
    /// checks against it; all problems are thrown together.
    private static func configuration(
        recipe: Recipe, inputs: ConversionInputs, options: ConversionOptions, matches: [KeyMatch]
    ) throws -> [String: JSONValue] {
        let shapes = Dictionary(uniqueKeysWithValues: matches.map { ($0.name, $0.source.shape) })
        let configFile = try readConfigFile(recipe: recipe, inputs: inputs)
        let given = configFile.merging(options.settings) { _, setting in setting }
        var problems: [String] = []
        var config: [String: JSONValue] = [:]
        for (field, value) in recipe.config {
            do {
                let computed = try evaluate(value, shapes: shapes, matchedNames: matches.map(\.name), config: config, given: given)
                // A value stated by the user or config.json must agree with what the tensors say.
                if case .given = value {} else if let stated = given[field], !agree(stated, computed) {
                    let origin = options.settings[field] != nil ? "the command line" : "config.json"
                    problems.append("\(field): \(origin) says \(stated) but the tensors say \(computed)")
                }
                config[field] = computed
            } catch let problem as ConfigProblem {
                problems.append("\(field): \(problem.reason)")
            }
        }
        if problems.isEmpty {
            problems += recipe.checks.compactMap { problem(with: $0, in: config) }
            problems += matches.compactMap { shapeProblem($0, config: config) }
        }
        if !problems.isEmpty { throw ConvertError.shapeMismatch(recipe: recipe.name, problems: problems) }
        return config
    }

    /// What is wrong with a tensor's shape under `config`, or nil when it has the shape its rule expects.
    private static func shapeProblem(_ match: KeyMatch, config: [String: JSONValue]) -> String? {
        guard let expected = match.rule.shape else { return nil }
        let dims = expected.map { dimension -> Int? in
            switch dimension {
            case .literal(let value): value
            case .field(let name): integer(config[KeyPattern(name).filled(match.bindings)])
            case .multiple(let name, let factor): integer(config[KeyPattern(name).filled(match.bindings)]).map { $0 * factor }
            }
        }
        guard dims.contains(where: { $0 == nil }) || dims.map({ $0! }) != match.source.shape else { return nil }
        let described = zip(expected, dims).map { dimension, value -> String in
            switch dimension {
            case .literal: dimension.description
            case .field(let name): "\(KeyPattern(name).filled(match.bindings))=\(value.map(String.init) ?? "?")"
            case .multiple(let name, let factor): "\(factor)×\(KeyPattern(name).filled(match.bindings))=\(value.map(String.init) ?? "?")"
            }
        }
        return "\(match.name): shape \(match.source.shape), expected [\(described.joined(separator: ", "))]"
    }

    /// The tokenizer files the recipe names, by role; each must fit the vocabulary the configuration gives it.
    private static func sideFiles(recipe: Recipe, inputs: ConversionInputs, config: [String: JSONValue]) throws -> [String: String] {
        var tokenizers: [String: String] = [:]
        for file in recipe.files {
            guard case .tokenizer(let role) = file.use else { continue }
            if let path = inputs.sideFiles[file.fileName] {
                tokenizers[role] = path
            } else if file.required {
                throw ConvertError.keyMismatch(recipe: recipe.name, unmapped: [], missing: ["file \(file.fileName) (the \(role) tokenizer; pass it as an input or put it beside the checkpoint)"])
            }
        }
        for case .tokenizerFits(let role, let field) in recipe.checks {
            guard let path = tokenizers[role], let vocabulary = integer(config[field]) else { continue }
            let pieces = try SentencePieceModel.pieceCount(path: path)
            if pieces > vocabulary {
                throw ConvertError.shapeMismatch(recipe: recipe.name, problems: [
                    "\(field): the tokenizer \(path) has \(pieces) pieces but the embedding has \(vocabulary) rows (\(field) \(vocabulary)); ids from \(vocabulary) up would have no embedding — give the tokenizer.model of this checkpoint"])
            }
        }
        return tokenizers
    }

    /// Folds a PandaGPT delta into this decoder plan: every adapted projection becomes W + (alpha/r)·B·A, and the
    /// delta's other tensors (`llama_proj`) are written alongside. The delta's r, alpha and projection width are
    /// recorded under `config.pandagpt`.
    public mutating func mergeLoRA(from delta: ConversionPlan) throws {
        guard let rank = Self.integer(delta.config["lora_r"]), rank > 0,
            let alpha = delta.config["lora_alpha"].flatMap({ value -> Double? in
                switch value { case .int(let x): Double(x); case .double(let x): x; default: nil }
            })
        else { throw ConvertError.badOption(reason: "the delta's configuration has no lora_r and lora_alpha") }
        let decoderWidth = config["hidden_size"]
        guard decoderWidth == delta.config["hidden_size"], config["num_hidden_layers"] == delta.config["num_hidden_layers"] else {
            throw ConvertError.shapeMismatch(
                recipe: delta.recipe.name,
                problems: ["the delta adapts a decoder with hidden_size \(delta.config["hidden_size"] ?? .null) and \(delta.config["num_hidden_layers"] ?? .null) layers; this one has \(decoderWidth ?? .null) and \(config["num_hidden_layers"] ?? .null)"])
        }
        let factors = Dictionary(uniqueKeysWithValues: delta.tensors.map { ($0.target, $0.source) })
        var used = Set<String>()
        for index in tensors.indices {
            let weight = tensors[index].target
            guard weight.hasSuffix(".weight") else { continue }
            let stem = String(weight.dropLast(".weight".count))
            guard let a = factors[stem + ".lora_A.weight"], let b = factors[stem + ".lora_B.weight"] else { continue }
            tensors[index].merge = LoRAMerge(a: a, b: b, scale: Float(alpha / Double(rank)))
            used.formUnion([stem + ".lora_A.weight", stem + ".lora_B.weight"])
        }
        let unused = factors.keys.filter { $0.contains(".lora_") && !used.contains($0) }.sorted()
        guard unused.isEmpty else {
            throw ConvertError.keyMismatch(recipe: "\(recipe.name) + \(delta.recipe.name)", unmapped: unused, missing: [])
        }
        tensors += delta.tensors.filter { !$0.target.contains(".lora_") }
        guard case .object(var fields) = config else { return }
        fields["pandagpt"] = .object([
            "lora_merged": .bool(true), "lora_r": .int(rank), "lora_alpha": .double(alpha),
            "imagebind_dim": delta.config["imagebind_dim"] ?? .null,
        ])
        config = .object(fields)
        inputs.files += delta.inputs.files
    }

    // MARK: - Helpers

    private struct ConfigProblem: Error { var reason: String }

    /// What is wrong with `config` under `check`, naming the field to set; nil when it holds.
    private static func problem(with check: ConfigCheck, in config: [String: JSONValue]) -> String? {
        let (widthField, partsField, even): (String, String, Bool)
        switch check {
        case .splits(let width, let parts): (widthField, partsField, even) = (width, parts, false)
        case .splitsEvenly(let width, let parts): (widthField, partsField, even) = (width, parts, true)
        case .tokenizerFits: return nil  // checked once the side files are known
        }
        guard let width = integer(config[widthField]), let parts = integer(config[partsField]) else {
            return "\(partsField): \(widthField) and \(partsField) must be integers"
        }
        let fix = "; set \(partsField) in config.json"
        guard parts > 0, width % parts == 0 else {
            return "\(partsField): \(widthField)=\(width) does not split into \(partsField)=\(parts) equal parts" + fix
        }
        guard !even || (width / parts) % 2 == 0 else {
            return "\(partsField): \(widthField)=\(width) / \(partsField)=\(parts) = \(width / parts) channels per head, "
                + "which rotary embeddings need even" + fix
        }
        return nil
    }

    /// An index range is scoped by the choice placeholders to its left in the key: ImageBind's
    /// `modality_trunks.{modality}.blocks.{block}` has 32 vision blocks but 6 IMU blocks, while LLaMA's
    /// `layers.{layer}.self_attn.{projection}` has one layer range for all four projections.
    private static func indexContext(_ placeholder: String, _ pattern: KeyPattern, _ bindings: [String: String]) -> String {
        var scope = [placeholder]
        for part in pattern.parts {
            if case .index(let name) = part, name == placeholder { break }
            if case .choice(let name, _) = part { scope.append("\(name)=\(bindings[name] ?? "")") }
        }
        return scope.joined(separator: "|")
    }

    private static func expectedKeys(_ pattern: KeyPattern, _ indexCount: [String: Int]) -> [String] {
        // Expand choices first, then each index over the range seen in that choice context.
        var partial: [(text: String, bindings: [String: String])] = [("", [:])]
        for part in pattern.parts {
            switch part {
            case .literal(let text):
                partial = partial.map { ($0.text + text, $0.bindings) }
            case .choice(let name, let options):
                partial = partial.flatMap { entry in options.map { (entry.text + $0, entry.bindings.merging([name: $0]) { $1 }) } }
            case .index(let name):
                partial = partial.flatMap { entry -> [(String, [String: String])] in
                    // The context needs every choice of the pattern, which may come later: resolve lazily below.
                    [(entry.text + "{\(name)}", entry.bindings)]
                }
            }
        }
        return partial.flatMap { entry -> [String] in
            var keys = [entry.text]
            for name in pattern.indexPlaceholders {
                let count = indexCount[indexContext(name, pattern, entry.bindings)] ?? 0
                keys = keys.flatMap { key in (0..<count).map { key.replacingOccurrences(of: "{\(name)}", with: String($0)) } }
            }
            return keys
        }
    }

    private static func readConfigFile(recipe: Recipe, inputs: ConversionInputs) throws -> [String: JSONValue] {
        for file in recipe.files {
            guard case .configuration = file.use, let path = inputs.sideFiles[file.fileName] else { continue }
            guard let data = FileManager.default.contents(atPath: path),
                let object = try? JSONDecoder().decode([String: JSONValue].self, from: data)
            else { throw ConvertError.unreadableCheckpoint(path: path, reason: "not a JSON object") }
            return object
        }
        return [:]
    }

    /// Equal values, with numbers compared by value (config.json may write 4096 as 4096.0).
    private static func agree(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int(let x), .double(let y)), (.double(let y), .int(let x)): Double(x) == y
        default: a == b
        }
    }

    private static func integer(_ value: JSONValue?) -> Int? {
        switch value {
        case .int(let number): number
        case .double(let number) where number == number.rounded(): Int(number)
        default: nil
        }
    }

    private static func evaluate(
        _ value: ConfigValue, shapes: [String: [Int]], matchedNames: [String], config: [String: JSONValue],
        given: [String: JSONValue]
    ) throws -> JSONValue {
        switch value {
        case .dimension(let key, let axis):
            guard let shape = shapes[key] else { throw ConfigProblem(reason: "needs tensor \(key), which is absent") }
            guard axis < shape.count else { throw ConfigProblem(reason: "\(key) has shape \(shape), no axis \(axis)") }
            return .int(shape[axis])
        case .elements(let key):
            guard let shape = shapes[key] else { throw ConfigProblem(reason: "needs tensor \(key), which is absent") }
            return .int(shape.reduce(1, *))
        case .count(let pattern, let placeholder):
            let keyPattern = KeyPattern(pattern)
            let indices = Set(matchedNames.compactMap { keyPattern.match($0)?[placeholder].flatMap { Int($0) } })
            guard !indices.isEmpty else { throw ConfigProblem(reason: "no tensor matches \(pattern)") }
            let count = indices.max()! + 1
            guard indices.count == count else {
                let gaps = (0..<count).filter { !indices.contains($0) }
                throw ConfigProblem(reason: "\(pattern) has gaps in {\(placeholder)}: \(gaps.map(String.init).joined(separator: ", ")) missing")
            }
            return .int(count)
        case .given(let name, let fallback):
            if let stated = given[name], stated != .null { return stated }
            return try evaluate(fallback, shapes: shapes, matchedNames: matchedNames, config: config, given: given)
        case .quotient(let other, let divisor):
            guard let numerator = integer(config[other]) else { throw ConfigProblem(reason: "needs \(other) first") }
            guard divisor > 0, numerator % divisor == 0 else { throw ConfigProblem(reason: "\(other)=\(numerator) is not divisible by \(divisor)") }
            return .int(numerator / divisor)
        case .integer(let number): return .int(number)
        case .number(let number): return .double(number)
        case .text(let text): return .string(text)
        case .present(let key): return .bool(shapes[key] != nil)
        }
    }
}

/// Which dtype each class of tensor is stored in (docs: panda-convert --help, docs/format.md).
public enum DTypePolicy {
    /// Block-quantized matrices are stored with 8 rows interleaved (q4_0x8, q8_0x8) where their rows allow it: the
    /// layout the decoder's kernels read. Embeddings stay plain, since they are read a row at a time.
    static func interleavedIfPossible(_ dtype: DType, _ shape: [Int]) -> DType {
        guard let interleaved = dtype.interleaved, interleaved.shapeProblem(shape) == nil else { return dtype }
        return interleaved
    }

    public static func storedDType(for tensorClass: TensorClass, source: SourceTensor, requested: DType?) throws -> DType {
        guard source.dtype.isFloatingPoint else {
            guard let same = source.dtype.pandaDType else {
                throw ConvertError.badTensor(path: source.path, tensor: source.name, reason: "dtype \(source.dtype) has no .panda equivalent")
            }
            return same
        }
        let sourceFloat: DType = source.dtype.pandaDType ?? .f32
        let quantizable = (source.shape.last ?? 0) % DType.q8_0.blockElements == 0 && !source.shape.isEmpty
        switch tensorClass {
        case .small, .adapter:
            return .f32
        case .linear:
            guard let requested else { return sourceFloat }
            if requested.isQuantized && !quantizable {
                throw ConvertError.badTensor(
                    path: source.path, tensor: source.name,
                    reason: "rows of \(source.shape.last ?? 0) elements cannot be quantized to \(requested) (blocks of 32)")
            }
            return interleavedIfPossible(requested, source.shape)
        case .embedding:
            guard let requested else { return sourceFloat }
            return requested.isQuantized ? (quantizable ? .q8_0 : .f16) : requested
        case .outputHead:
            guard let requested else { return sourceFloat }
            return requested.isQuantized ? (quantizable ? interleavedIfPossible(.q8_0, source.shape) : .f16) : requested
        case .convolution:
            guard let requested, !requested.isQuantized else { return sourceFloat }
            return requested
        }
    }
}
