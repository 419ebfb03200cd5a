import Foundation
import PandaFormat
import PandaTestSupport
import Testing

@Suite("panda-convert inspect and verify, run as processes")
struct InspectVerifyTests {
    /// A small file with a raw f32 tensor and a shuffled zstd bf16 tensor.
    private func writeSample(_ path: String) throws {
        let writer = try WeightFileWriter(path: path)
        let values = (0..<4096).map { Float($0 % 97) / 97 }
        try values.withUnsafeBytes { try writer.add(name: "proj.weight", dtype: .f32, shape: [64, 64], bytes: $0) }
        var bf16 = [UInt16](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { source in
            bf16.withUnsafeMutableBytes { DType.bf16.encode(source.baseAddress!, count: values.count, into: $0) }
        }
        try bf16.withUnsafeBytes {
            try writer.add(name: "embed.weight", dtype: .bf16, shape: [4096], storage: .zstd, shuffle: true, bytes: $0)
        }
        try writer.finish(
            metadata: WeightMetadata(
                family: "llama", config: .object(["hidden_size": .int(64)]),
                tokenizers: ["sentencepiece": EmbeddedFile(name: "tokenizer.model", data: Data(repeating: 1, count: 2048))],
                provenance: Provenance(
                    converter: "panda-convert test", recipe: "llama",
                    sources: [.init(name: "model.safetensors", bytes: 24576, sha256: String(repeating: "ab", count: 32))])))
    }

    @Test("inspect prints the family, provenance, tokenizer and every tensor with its dtype, shape and storage")
    func inspectShowsEverything() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("sample.panda")
        try writeSample(path)
        let result = try Executable.run("panda-convert", ["inspect", path])
        #expect(result.status == 0)
        #expect(result.stderr.isEmpty)
        #expect(result.stdout.contains("family      llama"))
        #expect(result.stdout.contains("with recipe llama"))
        #expect(result.stdout.contains("model.safetensors"))
        #expect(result.stdout.contains("tokenizer   sentencepiece: tokenizer.model (2.0 KiB)"))
        let projRow = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("proj.weight") })
        #expect(projRow.contains("f32") && projRow.contains("64×64") && projRow.contains("raw"))
        let embedRow = try #require(result.stdout.split(separator: "\n").first { $0.hasPrefix("embed.weight") })
        #expect(embedRow.contains("bf16") && embedRow.contains("zstd+shuffle"))
        #expect(result.stdout.contains("2 tensors, 24.0 KiB of tensor data"))
    }

    @Test("inspect --json is one parseable object whose tensors agree with the file")
    func inspectJSON() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("sample.panda")
        try writeSample(path)
        let result = try Executable.run("panda-convert", ["inspect", "--json", path])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["family"] as? String == "llama")
        let tensors = try #require(object["tensors"] as? [[String: Any]])
        #expect(tensors.map { $0["name"] as? String } == ["proj.weight", "embed.weight"])
        #expect(tensors[1]["dtype"] as? String == "bf16")
        #expect(tensors[1]["shape"] as? [Int] == [4096])
        #expect(tensors[1]["bytes"] as? Int == 8192)
    }

    @Test("inspect of a missing file fails with one line naming it")
    func inspectMissingFile() throws {
        let result = try Executable.run("panda-convert", ["inspect", "/nonexistent/model.panda"])
        #expect(result.status != 0)
        #expect(result.stdout.isEmpty)
        #expect(result.stderr.contains("/nonexistent/model.panda: cannot open: No such file or directory"))
    }

    @Test("verify exits 0 on an intact file and 1 on a damaged one, naming the damaged tensor and chunk")
    func verifyReportsDamage() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("sample.panda")
        try writeSample(path)
        let intact = try Executable.run("panda-convert", ["verify", path])
        #expect(intact.status == 0)
        #expect(intact.stdout.hasPrefix("OK  \(path): 2 tensors"))

        let info = try WeightFile(path: path).info("embed.weight")
        var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        bytes[info.dataOffset + 2] ^= 0x20
        try bytes.write(to: URL(fileURLWithPath: path))
        let damaged = try Executable.run("panda-convert", ["verify", path])
        #expect(damaged.status == 1)
        #expect(damaged.stderr.contains("tensor 'embed.weight': chunk 0 fails its checksum"))
        #expect(!damaged.stdout.contains("OK"))
    }

    @Test("verify of a truncated file fails and says it is truncated")
    func verifyTruncated() throws {
        let directory = TemporaryDirectory()
        let path = directory.file("sample.panda")
        try writeSample(path)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        try bytes.prefix(bytes.count - 100).write(to: URL(fileURLWithPath: path))
        let result = try Executable.run("panda-convert", ["verify", path])
        #expect(result.status == 1)
        #expect(result.stderr.contains("truncated"))
    }

    @Test("verify of a 24-byte tensor that declares 2 GiB chunks checks it in 1 GiB of address space (a fuzzer's input: verify asked for the declared chunk size)")
    func verifyAllocatesDecodedChunks() throws {
        let result = try Executable.run(
            "panda-convert", ["verify", fixture("fuzz/panda-chunk-size-2gb.panda")], limits: ProcessLimits(memory: 1 << 30, seconds: 60))
        #expect(result.status == 0 && result.stdout.contains("1 tensors, 1 chunks, 24 B verified"), "\(result.stdout)\(result.stderr)")
    }

    @Test("--help teaches with examples")
    func helpHasExamples() throws {
        let result = try Executable.run("panda-convert", ["inspect", "--help"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("panda-convert inspect Weights/tiny-vicuna.panda"))
    }
}
