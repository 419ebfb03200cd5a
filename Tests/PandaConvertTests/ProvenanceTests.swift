import Foundation
import PandaConvert
import PandaFormat
import PandaTestSupport
import Testing

/// The SHA-256 the converter records for each source file, against sha256sum's values in Tests/Fixtures/MANIFEST.sha256.
@Suite("Provenance hashes")
struct ProvenanceTests {
    private func manifest() throws -> [String: String] {
        let text = try String(contentsOfFile: fixture("MANIFEST.sha256"), encoding: .utf8)
        var digests: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: " ", maxSplits: 1)
            digests[String(parts[1].trimmingCharacters(in: .whitespaces))] = String(parts[0])
        }
        return digests
    }

    @Test("source digests are right whether the files are hashed from the converter's reads (plain copies) or read again (converted dtypes)",
          arguments: [("llama/hf-safetensors", DType?.none), ("llama/hf-bin", nil), ("llama/hf-bin", .f32), ("llama/hf-safetensors", .q8_0)])
    func digestsMatchSha256sum(folder: String, dtype: DType?) throws {
        let directory = TemporaryDirectory()
        let file = try WeightFile(path: Reference.convert([folder, "llama/tokenizer.model"], recipe: "llama", dtype: dtype, into: directory))
        let expected = try manifest()
        let sources = file.metadata.provenance.sources
        #expect(sources.count >= 2)
        for source in sources {
            let relative = source.name == "tokenizer.model" ? "reference/llama/tokenizer.model" : "reference/\(folder)/\(source.name)"
            #expect(source.sha256 == expected[relative], "\(relative)")
            let size = try FileManager.default.attributesOfItem(atPath: fixture(relative))[.size] as? Int
            #expect(source.bytes == size, "\(relative)")
        }
    }
}
