import Foundation
import PandaFormat
import PandaTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

@Suite("panda-convert convert, run as a process")
struct ConvertCommandTests {
    private func llamaCheckpoint(in directory: TemporaryDirectory, vocab: Int = 96, hidden: Int = 64) throws -> String {
        try writeSafetensors(directory.file("model.safetensors"), llamaTensors(vocab: vocab, hidden: hidden, intermediate: 2 * hidden))
        try sentencePieceModel(pieces: vocab).write(to: URL(fileURLWithPath: directory.file("tokenizer.model")))
        try Data(#"{"num_attention_heads": 4}"#.utf8).write(to: URL(fileURLWithPath: directory.file("config.json")))
        return directory.path
    }

    @Test("convert writes the file and prints a one-line summary with sizes and time")
    func convertSummary() throws {
        let input = TemporaryDirectory()
        let output = TemporaryDirectory()
        let result = try Executable.run("panda-convert", ["convert", try llamaCheckpoint(in: input), "-o", output.file("m.panda"), "--dtype", "q8_0"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout.contains("wrote \(output.file("m.panda")): recipe llama, 21 tensors"))
        let file = try WeightFile(path: output.file("m.panda"))
        #expect(try file.info("model.layers.0.self_attn.q_proj.weight").dtype == .q8_0x8)  // q8_0 blocks, 8 rows interleaved
    }

    @Test("--dry-run prints the plan and writes nothing")
    func dryRun() throws {
        let input = TemporaryDirectory()
        let output = TemporaryDirectory()
        let result = try Executable.run("panda-convert", ["convert", "--dry-run", try llamaCheckpoint(in: input), "-o", output.file("m.panda"), "--dtype", "q4_0"])
        #expect(result.status == 0)
        #expect(result.stdout.contains("recipe      llama → family llama"))
        #expect(result.stdout.contains("f32 → q4_0"))
        #expect(result.stdout.contains("21 tensors"))
        #expect(output.contents.isEmpty)
    }

    @Test("a conversion killed midway (SIGKILL) leaves no output, and its partial file is refused by every reader")
    func killedConversionLeavesNothingValid() throws {
        let input = TemporaryDirectory()
        let output = TemporaryDirectory()
        let checkpoint = try llamaCheckpoint(in: input, vocab: 32000, hidden: 256)  // about 70 MB of f32
        let target = output.file("m.panda")
        let running = try Executable.start("panda-convert", ["convert", checkpoint, "-o", target, "--dtype", "q4_0", "--quiet"])
        // Kill as soon as tensor data is being written.
        var partial: String?
        let deadline = Date().addingTimeInterval(60)
        while Date() < deadline, running.process.isRunning {
            if let name = output.contents.first(where: { $0.hasPrefix("m.panda.tmp-") }),
                let size = try? FileManager.default.attributesOfItem(atPath: output.file(name))[.size] as? Int, size > 1 << 16
            {
                partial = name
                break
            }
            usleep(2000)
        }
        #expect(running.process.isRunning, "the conversion finished before it could be interrupted")
        kill(running.process.processIdentifier, SIGKILL)
        let result = try running.result()
        #expect(result.status == SIGKILL)
        #expect(!FileManager.default.fileExists(atPath: target))
        let leftover = try #require(partial)
        #expect(throws: FormatError.badMagic(path: output.file(leftover))) { try WeightFile(path: output.file(leftover)) }

        // Running it again completes normally.
        let rerun = try Executable.run("panda-convert", ["convert", checkpoint, "-o", target, "--dtype", "q4_0", "--quiet"])
        #expect(rerun.status == 0)
        #expect(try WeightFile(path: target).tensors.count == 21)
    }

    @Test("a forbidden pickle fails the command with one line naming the file and the global")
    func forbiddenPickle() throws {
        let output = TemporaryDirectory()
        let result = try Executable.run("panda-convert", ["convert", fixture("checkpoints/evil-os-system.pt"), "-o", output.file("x.panda")])
        #expect(result.status != 0)
        #expect(result.stderr.contains("evil-os-system.pt: refused to load: the pickle asks for 'posix.system'"))
        #expect(output.contents.isEmpty)
    }

    @Test("recipes lists every recipe")
    func listRecipes() throws {
        let result = try Executable.run("panda-convert", ["recipes"])
        #expect(result.status == 0)
        for name in ["imagebind-huge", "llama", "pandagpt-delta"] { #expect(result.stdout.contains(name)) }
    }
}
