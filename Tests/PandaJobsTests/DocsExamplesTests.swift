import Foundation
import PandaJobs
import PandaTestSupport
import Testing

/// Every YAML example in docs/jobs.md is a job or a piece of one that `panda-run validate` accepts, so the docs
/// cannot drift from the job language: a whole job is planned and run as written (in a folder holding the media it
/// names), a piece (some cells, or some inputs) is planned inside a small job that provides what it refers to.
@Suite("docs/jobs.md examples")
struct DocsExamplesTests {
    static let examples: [(line: Int, text: String)] = {
        let lines = try! String(contentsOfFile: repositoryRoot + "/docs/jobs.md", encoding: .utf8).components(separatedBy: "\n")
        var examples: [(Int, String)] = [], current: [String]? = nil, start = 0
        for (index, line) in lines.enumerated() {
            if current == nil, line == "```yaml" {
                (current, start) = ([], index + 2)
            } else if current != nil, line == "```" {
                examples.append((start, current!.joined(separator: "\n")))
                current = nil
            } else {
                current?.append(line)
            }
        }
        return examples
    }()

    let directory = TemporaryDirectory()

    init() throws {
        // What the examples and the small job around them name: pictures, sounds, clips, a gallery, models.
        let media = repositoryRoot + "/Tests/Fixtures/media/"
        // The jobs sit in jobs/, one level below Weights/, as Jobs/*.yaml do.
        for (folder, files) in [("jobs/media/images", ["photo.jpg", "gray-portrait.jpg"]), ("jobs/gallery", ["photo.jpg"]),
                                ("jobs/media/sounds", ["stereo-22k.wav"]), ("jobs/media/clips", ["clip.mp4"])] {
            try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true)
            for (index, file) in files.enumerated() {
                try FileManager.default.copyItem(atPath: media + file, toPath: directory.file("\(folder)/item-\(index).\((file as NSString).pathExtension)"))
            }
        }
        try FileManager.default.copyItem(atPath: media + "stereo-22k.wav", toPath: directory.file("jobs/media/clips/item-0.wav"))
        try FileManager.default.createSymbolicLink(atPath: directory.file("Weights"), withDestinationPath: repositoryRoot + "/Weights")
        try #"{"id": "item-0", "image": "media/images/item-0.jpg", "text": "a photo"}"#.write(toFile: directory.file("jobs/items.jsonl"), atomically: true, encoding: .utf8)
    }

    /// The top-level keys of a YAML text.
    private func topLevelKeys(_ text: String) -> [String] {
        text.components(separatedBy: "\n").compactMap { line in
            guard let first = line.first, first.isLetter, let colon = line.firstIndex(of: ":") else { return nil }
            return String(line[..<colon])
        }
    }

    /// The example as a whole job: itself if it is one; else inside a job with two inputs (pictures and sounds
    /// paired, and a gallery), a parameter, and the cells the examples refer to, minus those the example defines.
    private func job(for example: String) -> String {
        let keys = topLevelKeys(example)
        let jobFields: Set = ["models", "inputs", "items", "parameters", "output", "cells"]
        let models = """
            models:
              imagebind: ../Weights/tiny-imagebind.panda
              decoder: ../Weights/tiny-vicuna.panda
              adapter: ../Weights/tiny-pandagpt-delta.panda
            """
        if Set(keys).isSubset(of: jobFields) {
            var job = example
            if !keys.contains("models") { job = models + "\n" + job }
            if !keys.contains("cells") {
                // Some inputs alone: a cell that encodes the first kind they name.
                let kind = ["video", "image", "audio", "text"].min { (example.range(of: "\($0):")?.lowerBound ?? example.endIndex) < (example.range(of: "\($1):")?.lowerBound ?? example.endIndex) }!
                job += "\ncells:\n  first: {encode: \(kind)}\n"
            }
            return job
        }
        let supporting = [("picture", "{encode: image}"), ("sound", "{encode: audio}"), ("scene", "{combine: raw(picture) + raw(sound)}"),
                          ("story", "{generate: {embedding: scene, prompt: \"What is it?\"}}")].filter { !keys.contains($0.0) }
        return models + """

            inputs:
              scenes: {image: media/images, audio: media/sounds}
              gallery: {image: gallery}
            items: scenes
            parameters: {sound_weight: 0.5}
            cells:

            """ + supporting.map { "  \($0.0): \($0.1)" }.joined(separator: "\n") + "\n"
            + example.components(separatedBy: "\n").map { "  " + $0 }.joined(separator: "\n") + "\n"
    }

    @Test("docs/jobs.md has YAML examples of every cell kind")
    func examplesAreFound() {
        let all = Self.examples.map(\.text).joined(separator: "\n")
        #expect(Self.examples.count >= 10)
        for kind in CellSpec.Kind.allCases { #expect(all.contains("\(kind.rawValue):"), "no example of \(kind.rawValue)") }
    }

    @Test("every YAML example in docs/jobs.md plans, as written or inside a small job, and a whole job runs", arguments: examples.map(\.line))
    func examplePlans(line: Int) throws {
        let example = try #require(Self.examples.first { $0.line == line }).text
        let path = directory.file("jobs/example-\(line).yaml")
        let job = job(for: example)
        try job.write(toFile: path, atomically: true, encoding: .utf8)
        let plan: JobPlan
        do {
            plan = try JobPlan(JobFile.load(path: path))
        } catch {
            Issue.record("docs/jobs.md:\(line): \(error)\n\(job)")
            return
        }
        // A whole job is also run, on the demo models: every item must succeed.
        let keys = topLevelKeys(example)
        if keys.contains("inputs") && keys.contains("cells") {
            var options = RunOptions()
            options.progress = .quiet
            options.threads = 2
            let summary = try JobRunner(plan: plan, options: options).run()
            #expect(summary.failed == 0 && summary.succeeded == plan.items.count && summary.succeeded > 0, "docs/jobs.md:\(line): \(summary)")
        }
    }
}
