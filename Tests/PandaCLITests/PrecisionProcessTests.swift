import Foundation
import PandaKernels
import PandaTestSupport
import Testing

/// `--precision` as a user runs it: `panda-run embed` on the committed media, against PyTorch's f32 embeddings,
/// at each instruction set oneDNN can use on this machine (DNNL_MAX_CPU_ISA picks it per process).
@Suite("ImageBind precisions, run as processes")
struct PrecisionProcessTests {
    static let floors: [EncoderPrecision: Double] = [.bf16: 0.9999, .int8: 0.999]

    /// oneDNN instruction sets to try: AVX2 (int8 in 7 bits, no VNNI) and this CPU's best; printed with what is skipped.
    static let instructionSets: [String?] = {
        var sets: [String?] = [nil]
        if KernelPath.avx2.isSupported { sets.append("AVX2") } else { print("precision process tests: skipped oneDNN's AVX2 (this CPU lacks it)") }
        if KernelPath.avx512.isSupported { sets.append("AVX512_CORE") } else { print("precision process tests: skipped oneDNN's AVX512_CORE (this CPU lacks it)") }
        return sets
    }()

    private func media(_ name: String) -> String { Reference.path("../media/" + name) }

    @Test("embed --precision int8 and bf16 (through oneDNN's vdpbf16ps and widened for OpenBLAS) keep the committed media's embeddings within their cosine floors of PyTorch's f32 ones, at every oneDNN instruction set this CPU has", arguments: instructionSets)
    func embedAtEachInstructionSet(_ instructionSet: String?) throws {
        let expected = try Reference.tensors("imagebind/media_embeddings.safetensors")
        let configurations: [(EncoderPrecision, bf16Products: String?)] = [(.int8, nil), (.bf16, "dot"), (.bf16, "widened")]
        for (precision, bf16Products) in configurations {
            var environment = instructionSet.map { ["DNNL_MAX_CPU_ISA": $0] } ?? [:]
            if let bf16Products { environment["PANDA_BF16_PRODUCTS"] = bf16Products }
            let info = try Executable.run("panda-run", ["info"], limits: ProcessLimits(seconds: 60, environment: environment))
            let oneDNNLine = try #require(info.stdout.split(separator: "\n").first { $0.hasPrefix("oneDNN") })
            let label = "\(precision)\(bf16Products.map { " (\($0))" } ?? "") at DNNL_MAX_CPU_ISA=\(instructionSet ?? "(unset)")"
            print("\(label): \(oneDNNLine)")
            let result = try Executable.run(
                "panda-run",
                ["embed", "--model", ReferenceModels.imagebind, "--precision", precision.rawValue, "--image", media("photo.jpg"),
                 "--audio", media("stereo-22k.wav"), "--text", "a photo of a panda", "--threads", "2"],
                limits: ProcessLimits(seconds: 120, environment: environment))
            if oneDNNLine.contains("\(precision) (no:") {
                #expect(result.status != 0 && result.stderr.contains("--precision \(precision)"), "\(result.stderr)")
                print("  refused as expected: \(result.stderr.split(separator: "\n").first ?? "")")
                continue
            }
            #expect(result.status == 0, "\(label): \(result.stderr)")
            let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
            var lowest: [String] = []
            for (key, reference) in [("vision", "vision"), ("audio", "audio"), ("text", "text")] {
                let rows = try #require(object[key] as? [[Double]])
                let embedding = rows[0].map(Float.init)
                let cosine = cosineSimilarity(embedding, try #require(expected[reference]).row(0))
                #expect(cosine >= Self.floors[precision]!, "\(label) \(key): \(cosine)")
                lowest.append("\(key) \(String(format: "%.6f", cosine))")
            }
            print("  \(lowest.joined(separator: ", "))")
        }
    }
}
