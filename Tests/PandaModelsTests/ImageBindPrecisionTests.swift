import Foundation
import PandaFormat
import PandaKernels
import PandaModels
import PandaTestSupport
import Testing

/// ImageBind's trunks in bf16 and int8 (oneDNN) against PyTorch's f32 outputs on the tiny reference model: the
/// fidelity docs/benchmarks.md quotes, and the floor below which a precision may not be offered.
@Suite("ImageBind in bf16 and int8")
struct ImageBindPrecisionTests {
    static let floors: [EncoderPrecision: Double] = [.bf16: 0.9999, .int8: 0.999]

    /// Every lower precision, with whether this CPU runs it (printed, so a skipped one is seen in the log).
    static let precisions: [EncoderPrecision] = {
        let skipped = EncoderPrecision.allCases.filter { $0.unavailableReason != nil }
        print("ImageBind precisions: oneDNN \(OneDNN.version) on \(OneDNN.instructionSet); skipped: "
            + (skipped.isEmpty ? "none" : skipped.map { "\($0) (\($0.unavailableReason!))" }.joined(separator: ", ")))
        return [.bf16, .int8].filter { $0.unavailableReason == nil }
    }()

    @Test("each lower precision keeps every modality's embeddings within its cosine floor of PyTorch's f32 ones, and its lowest cosine is printed", arguments: precisions)
    func fidelity(_ precision: EncoderPrecision) throws {
        let directory = TemporaryDirectory()
        let path = try Reference.convert(
            ["imagebind/imagebind_tiny.pth", "imagebind/config.json", "imagebind/bpe_simple_vocab_16e6.txt.gz"], recipe: "imagebind-huge", into: directory)
        let model = try ImageBind(path: path, threads: 2, precision: precision)
        let inputs = try Reference.tensors("imagebind/inputs.safetensors")
        let outputs = try Reference.tensors("imagebind/outputs.safetensors")
        func tensor(_ name: String) throws -> FloatTensor {
            let value = try #require(inputs[name])
            return FloatTensor(shape: value.shape, values: value.values)
        }
        let images = try tensor("vision")
        let plane = 224 * 224
        func channel(_ index: Int) -> FloatTensor {
            var values: [Float] = []
            for item in 0..<images.shape[0] { values += images.values[((item * 3 + index) * plane)..<((item * 3 + index + 1) * plane)] }
            return FloatTensor(shape: [images.shape[0], 1, 224, 224], values: values)
        }
        let ids = try #require(inputs["text"])
        let embedded: [(String, [[Float]])] = [
            ("vision", try model.embed(.vision(images))),
            ("text", try model.embed(.text((0..<ids.shape[0]).map { ids.row($0).map { Int($0) } }))),
            ("audio", try model.embed(.audio(tensor("audio")))),
            ("depth", try model.embed(.depth(channel(0)))),
            ("thermal", try model.embed(.thermal(channel(1)))),
            ("imu", try model.embed(.imu(tensor("imu")))),
        ]
        var report: [String] = []
        for (name, embeddings) in embedded {
            let reference = try #require(outputs[name])
            #expect(embeddings.count == reference.shape[0])
            let lowest = embeddings.indices.map { cosineSimilarity(embeddings[$0], reference.row($0)) }.min()!
            #expect(lowest >= Self.floors[precision]!, "\(precision) \(name): cosine \(lowest)")
            report.append("\(name) \(String(format: "%.6f", lowest))")
        }
        print("ImageBind \(precision) lowest cosine to PyTorch f32: \(report.joined(separator: ", "))")
    }

    @Test("int8 gives the same embedding bits on every call, bf16 the same up to rounding (the packed weights are made once and kept)")
    func packsOnce() throws {
        let directory = TemporaryDirectory()
        let path = try Reference.convert(
            ["imagebind/imagebind_tiny.pth", "imagebind/config.json", "imagebind/bpe_simple_vocab_16e6.txt.gz"], recipe: "imagebind-huge", into: directory)
        for precision in Self.precisions {
            let model = try ImageBind(path: path, threads: 2, precision: precision)
            let imu = FloatTensor(shape: [1, 6, 2000], values: (0..<12000).map { Float(sin(Double($0) * 0.01)) })
            let first = try model.embed(.imu(imu)), second = try model.embed(.imu(imu))
            // int8 sums exactly in integers; oneDNN's bf16 kernels may split a sum between threads differently
            // from call to call, which moves the last bits.
            if precision == .int8 {
                #expect(first == second, "int8 embeddings differ between calls")
            } else {
                #expect(maxAbsoluteDifference(first[0], second[0]) <= 1e-5, "\(precision) embeddings differ between calls by more than rounding")
            }
            #expect(model.precision == precision)
        }
    }
}
