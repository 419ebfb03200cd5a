import Foundation
import PandaConvert
import PandaFormat
import PandaRecipes

/// Reading Tests/Fixtures/reference/ (Converters/reference/README.md describes every file) and converting its
/// checkpoints with panda-convert's library.
public enum Reference {
    /// The path of a file under Tests/Fixtures/reference/.
    public static func path(_ relative: String) -> String { fixture("reference/" + relative) }

    /// Every tensor of a safetensors file, widened to Float (integers too, exactly up to 2^24).
    public static func tensors(_ relative: String) throws -> [String: FloatTensorValue] {
        let contents = try Safetensors.read(path(relative))
        var result: [String: FloatTensorValue] = [:]
        for tensor in contents.tensors {
            var values = [Float](repeating: 0, count: tensor.elementCount)
            if tensor.dtype.isFloatingPoint {
                values.withUnsafeMutableBufferPointer { tensor.readFloats(from: 0, count: tensor.elementCount, into: $0.baseAddress!) }
            } else if tensor.dtype == .i64, let bytes = tensor.contiguousBytes {
                for i in values.indices { values[i] = Float(bytes.loadUnaligned(fromByteOffset: 8 * i, as: Int64.self)) }
            } else if tensor.dtype == .u8, let bytes = tensor.contiguousBytes {
                for i in values.indices { values[i] = Float(bytes[i]) }
            } else {
                throw ConvertError.badTensor(path: path(relative), tensor: tensor.name, reason: "unexpected dtype \(tensor.dtype) in a fixture")
            }
            result[tensor.name] = FloatTensorValue(shape: tensor.shape, values: values)
        }
        return result
    }

    public static func json<T: Decodable>(_ relative: String, as type: T.Type) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(contentsOf: URL(fileURLWithPath: path(relative))))
    }

    /// Converts reference checkpoint inputs into `directory`/`name` and returns the path.
    public static func convert(
        _ inputs: [String], recipe: String, dtype: DType? = nil, mergeLoRA: [String] = [], settings: [String: JSONValue] = [:],
        into directory: TemporaryDirectory, name: String = "converted.panda"
    ) throws -> String {
        let options = ConversionOptions(dtype: dtype, settings: settings)
        var plan = try ConversionPlan(recipe: Recipes.named(recipe), inputs: ConversionInputs.gather(inputs.map(path)), options: options)
        if !mergeLoRA.isEmpty {
            try plan.mergeLoRA(from: ConversionPlan(recipe: Recipes.pandagptDelta, inputs: ConversionInputs.gather(mergeLoRA.map(path)), options: options))
        }
        let output = directory.file(name)
        _ = try Converter.run(plan, to: output)
        return output
    }
}

public struct FloatTensorValue: Sendable {
    public var shape: [Int]
    public var values: [Float]

    /// Row `index` of a 2-D tensor.
    public func row(_ index: Int) -> [Float] {
        let width = shape.last ?? 1
        return Array(values[(index * width)..<((index + 1) * width)])
    }
}

/// The largest |a[i] − b[i]|, or NaN as soon as one difference is NaN, so that a NaN output fails every `<=`
/// bound (Swift's max() keeps its first argument when the second is NaN).
public func maxAbsoluteDifference(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count, "comparing \(a.count) values with \(b.count)")
    var largest: Float = 0
    for (x, y) in zip(a, b) {
        let difference = abs(x - y)
        if difference.isNaN { return .nan }
        largest = max(largest, difference)
    }
    return largest
}

public func cosineSimilarity(_ a: [Float], _ b: [Float]) -> Double {
    precondition(a.count == b.count)
    var (dot, aa, bb) = (0.0, 0.0, 0.0)
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        aa += Double(x) * Double(x)
        bb += Double(y) * Double(y)
    }
    return dot / (aa.squareRoot() * bb.squareRoot())
}

/// The reference ImageBind, decoder (f32) and PandaGPT delta (alpha 32), converted once per test process for the
/// tests that run whole pipelines.
public enum ReferenceModels {
    static let directory = TemporaryDirectory()
    public static let imagebind = try! Reference.convert(
        ["imagebind/imagebind_tiny.pth", "imagebind/config.json", "imagebind/bpe_simple_vocab_16e6.txt.gz"], recipe: "imagebind-huge", into: directory,
        name: "imagebind.panda")
    public static let decoder = try! Reference.convert(
        ["llama/hf-safetensors", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: directory, name: "decoder.panda")
    public static let adapter = try! Reference.convert(
        ["pandagpt/pytorch_model.pt"], recipe: "pandagpt-delta", settings: ["lora_alpha": .int(32)], into: directory, name: "delta.panda")
}
