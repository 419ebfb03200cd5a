import Foundation
import PandaTestSupport
import Testing

/// `panda-run JOB` as a process: exit codes, and resuming after `kill -9`.
@Suite("panda-run jobs, run as processes", .serialized)
struct JobProcessTests {
    static let models = TemporaryDirectory()
    static let imagebind = try! Reference.convert(
        ["imagebind/imagebind_tiny.pth", "imagebind/config.json", "imagebind/bpe_simple_vocab_16e6.txt.gz"], recipe: "imagebind-huge", into: models,
        name: "imagebind.panda")
    static let decoder = try! Reference.convert(["llama/hf-safetensors", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: models, name: "decoder.panda")
    static let adapter = try! Reference.convert(
        ["pandagpt/pytorch_model.pt"], recipe: "pandagpt-delta", settings: ["lora_alpha": .int(32)], into: models, name: "delta.panda")

    /// 60 literal texts, each embedded, classified, matched against a gallery and answered about.
    private func writeJob(in directory: TemporaryDirectory) throws -> String {
        let words = ["panda", "bamboo", "river", "mountain", "city", "night", "rain", "forest", "desert", "ocean"]
        let texts = (0..<60).map { "a photo of a \(words[$0 % 10]) number \($0)" }
        let job = """
            models:
              imagebind: \(Self.imagebind)
              decoder: \(Self.decoder)
              adapter: \(Self.adapter)
            inputs:
              notes:
                text: [\(texts.map { "\"\($0)\"" }.joined(separator: ", "))]
              gallery:
                text: ["a panda", "a river", "a city"]
            items: notes
            output: out
            cells:
              words: {encode: text}
              topic:
                classify: {embedding: words, labels: [animal, place, weather]}
              similar:
                retrieve: {embedding: words, from: gallery, kind: text, top: 2}
              answer:
                generate: {embedding: words, prompt: "Is it about {{cells.topic.label}}? {{item.text}}", max_tokens: 6}
              save:
                write: {jsonl: results.jsonl}
            """
        try job.write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        return directory.file("job.yaml")
    }

    private func lines(_ path: String) -> [String] {
        ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
    }

    /// Records as comparable text: ids, statuses and cell results without timings.
    private func comparable(_ path: String) throws -> [String] {
        try lines(path).map { line in
            var record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as! [String: Any]
            record.removeValue(forKey: "seconds")
            var cells = record["cells"] as! [String: Any]
            var answer = cells["answer"] as! [String: Any]
            answer.removeValue(forKey: "seconds")
            cells["answer"] = answer
            record["cells"] = cells
            return String(decoding: try JSONSerialization.data(withJSONObject: record, options: [.sortedKeys]), as: UTF8.self)
        }
    }

    @Test("after kill -9 at a random moment, a rerun finishes the job with no lost and no duplicated records")
    func resumesAfterKill() throws {
        let reference = TemporaryDirectory()
        let whole = try Executable.run("panda-run", [try writeJob(in: reference), "--quiet", "--threads", "1"])
        #expect(whole.status == 0, "\(whole.stderr)")
        let expected = try comparable(reference.file("out/results.jsonl"))
        #expect(expected.count == 60)

        let directory = TemporaryDirectory()
        let job = try writeJob(in: directory)
        let log = directory.file("out/.panda/records.jsonl")
        let process = try Executable.start("panda-run", [job, "--quiet", "--threads", "1"])
        let deadline = Date().addingTimeInterval(120)
        while lines(log).count < 10 && Date() < deadline && process.process.isRunning { usleep(20_000) }
        usleep(UInt32.random(in: 0...300_000))
        kill(process.process.processIdentifier, SIGKILL)
        _ = try process.result()
        let before = lines(log).count
        #expect(before >= 10 && before < 60, "killed after \(before) records")

        let resumed = try Executable.run("panda-run", [job, "--progress", "json", "--threads", "1"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let summary = try #require(resumed.stderr.split(separator: "\n").last)
        #expect(summary.contains("\"skipped\":\(before)"), "\(summary)")
        let records = try comparable(directory.file("out/results.jsonl"))
        #expect(records.count == 60)
        #expect(Set(records).count == 60)
        #expect(records == expected)
        let ids = try lines(log).map { (try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any])["id"] as! String }
        #expect(ids.count == 60 && Set(ids).count == 60)
    }

    @Test("exit status: 0 when every item succeeds, 2 when some fail, 1 with file:line:column for a broken job")
    func exitStatuses() throws {
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("images"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Reference.path("../media/photo.jpg"), toPath: directory.file("images/good.jpg"))
        try FileManager.default.copyItem(atPath: Reference.path("../media/not-an-image.jpg"), toPath: directory.file("images/bad.jpg"))
        let job = """
            models: {imagebind: \(Self.imagebind)}
            inputs:
              photos: {image: images}
            cells:
              picture: {encode: image}
              save: {write: {jsonl: out.jsonl}}
            """
        try job.write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        let partial = try Executable.run("panda-run", [directory.file("job.yaml"), "--quiet"])
        #expect(partial.status == 2)
        try FileManager.default.removeItem(atPath: directory.file("images/bad.jpg"))
        #expect(try Executable.run("panda-run", [directory.file("job.yaml"), "--quiet"]).status == 0)

        try job.replacingOccurrences(of: "encode: image", with: "encode: imag").write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        let broken = try Executable.run("panda-run", ["validate", directory.file("job.yaml")])
        #expect(broken.status == 1)
        #expect(broken.stderr == "\(directory.file("job.yaml")):5:21: encode: unknown kind 'imag' (did you mean 'image'?); kinds: image, video, audio, text, depth, thermal, imu\n")
    }
}
