import Foundation
@testable import PandaJobs
import PandaTestSupport
import Testing

/// Mistakes in job files are reported at their line and column, before any model loads.
@Suite("Job validation")
struct JobValidationTests {
    let directory = TemporaryDirectory()

    init() throws {
        for folder in ["media/images", "media/sounds", "models"] { try FileManager.default.createDirectory(atPath: directory.file(folder), withIntermediateDirectories: true) }
        for name in ["a.jpg", "b.jpg", "c.jpg"] { #expect(FileManager.default.createFile(atPath: directory.file("media/images/\(name)"), contents: Data([1]))) }
        for name in ["a.wav", "b.wav", "lonely.wav"] { #expect(FileManager.default.createFile(atPath: directory.file("media/sounds/\(name)"), contents: Data([1]))) }
        // The demo models: validation reads their headers to check each is the kind its slot needs.
        for (name, demo) in [("imagebind.panda", "tiny-imagebind.panda"), ("decoder.panda", "tiny-vicuna.panda")] {
            try FileManager.default.createSymbolicLink(atPath: directory.file("models/\(name)"), withDestinationPath: repositoryRoot + "/Weights/" + demo)
        }
    }

    private let header = """
        models:
          imagebind: models/imagebind.panda
          decoder: models/decoder.panda
        inputs:
          scenes:
            image: media/images
            audio: media/sounds

        """

    /// The error a job gives, as "line:column: message".
    private func problem(_ body: String) throws -> String {
        let path = directory.file("job.yaml")
        try (header + body).write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try JobPlan(JobFile.load(path: path))
            return "no error"
        } catch let error as JobError {
            #expect(error.file == path)
            return "\(error.line):\(error.column): \(error.message)"
        }
    }

    @Test("a valid job plans: items paired by stem across folders, unpaired files counted, cells in dependency order, shown with what each waits for and the model work")
    func validJobPlans() throws {
        let path = directory.file("job.yaml")
        try (header + """
            cells:
              story:
                generate: {embedding: scene, prompt: "Describe {{item.stem}}."}
              scene:
                combine: picture + 0.5 * sound
              picture: {encode: image}
              sound: {encode: audio}
            """).write(toFile: path, atomically: true, encoding: .utf8)
        let plan = try JobPlan(JobFile.load(path: path))
        #expect(plan.items.map(\.id) == ["a", "b"])
        #expect(plan.inputs["scenes"]!.unpaired.map { ($0 as NSString).lastPathComponent } == ["c.jpg", "lonely.wav"])
        #expect(plan.order.map(\.name) == ["picture", "sound", "scene", "story"])
        let description = plan.describe()
        #expect(description.contains("input scenes: 2 items, 2 files skipped"))
        #expect(description.contains("cell scene (after picture, sound): combine × 2\ncell story (after scene): generate"), "\(description)")
        #expect(description.contains("model work at most: 4 item embeddings, 0 gallery embeddings, 0 text embeddings (labels and text(…)), 2 answers"))
    }

    @Test("an unknown field is reported where it is written, with the field it probably meant")
    func unknownFieldSuggestion() throws {
        let message = try problem("cells:\n  picture:\n    encode: image\n  story:\n    generate: {embedding: picture, promt: hi}\n")
        #expect(message.hasPrefix("12:36: unknown field 'promt' in generate (did you mean 'prompt'?)"), "\(message)")
        #expect(try problem("cells:\n  picture:\n    encdoe: image\n").hasPrefix("10:5: unknown field 'encdoe' in cell 'picture' (did you mean 'encode'?)"))
        #expect(try problem("cells:\n  picture:\n    encode: imgae\n").hasPrefix("10:13: encode: unknown kind 'imgae' (did you mean 'image'?)"))
    }

    @Test("references to missing cells, wrong types and cycles are refused where the wrong name is written")
    func referencesTypesAndCycles() throws {
        #expect(try problem("cells:\n  picture: {encode: image}\n  mix: {combine: pictur + 1}\n").hasPrefix("10:18: cell 'mix' uses 'pictur', which is no cell or parameter (did you mean 'picture'?)"))
        #expect(try problem("cells:\n  picture: {encode: image}\n  kind:\n    classify:\n      labels: [a, b]\n      embedding: pictur\n").hasPrefix("13:18: cell 'kind' uses 'pictur'"))
        #expect(try problem("cells:\n  picture: {encode: image}\n  near: {retrieve: {embedding: picture, from: 'photo', kind: image}}\n").hasPrefix("10:48: cell 'near' retrieves from 'photo', which is no input"))
        let typeMessage = try problem("cells:\n  picture: {encode: image}\n  story: {generate: {embedding: picture, prompt: hi}}\n  again: {combine: story * 2}\n")
        #expect(typeMessage.contains("cell 'again' needs embedding from 'story', but that generate cell gives text"), "\(typeMessage)")
        let cycle = try problem("cells:\n  a: {combine: b + b}\n  b: {combine: a * 2}\n")
        #expect(cycle.contains("cycle: a → b → a") || cycle.contains("cycle: b → a → b"), "\(cycle)")
        #expect(try problem("cells:\n  picture: {encode: depth}\n").contains("input 'scenes' has no depth files (it has image, audio)"))
    }

    @Test("a cell written wrongly and used by another is reported, not followed (a fuzzer's input: planning crashed on it)")
    func unreadableCellUsedByAnother() throws {
        // Jobs/caption.yaml with one byte of 'max_tokens' mutated: 'caption' is left out as unreadable, and 'save'
        // writes its text as sidecars. Ordering the cells looked the unreadable cell up and trapped.
        let bytes = try #require(FileManager.default.contents(atPath: fixture("fuzz/job-unreadable-cell-used.yaml")))
        let text = String(decoding: bytes, as: UTF8.self)
        do {
            _ = try JobPlan(JobFile.parse(text, path: directory.file("job.yaml")))
            Issue.record("no error")
        } catch let errors as JobErrors {
            let messages = errors.problems.map { "\($0.line):\($0.column): \($0.message)" }
            #expect(messages.contains { $0.hasPrefix("15:70: unknown field 'm\u{FFFD}x_tokens' in generate") }, "\(messages)")
            #expect(!messages.contains { $0.contains("'caption'") }, "an unreadable cell is not reported again where it is used")
        }
    }

    @Test("a combine expression error points at the offending character")
    func expressionErrorColumn() throws {
        #expect(try problem("cells:\n  picture: {encode: image}\n  mix:\n    combine: picture + * 2\n").hasPrefix("11:24: combine: "))
    }

    @Test("missing model files, missing folders, unknown template fields and '..' outputs are refused before running")
    func filesTemplatesAndEscapes() throws {
        let missingModel = try problem("cells:\n  picture: {encode: image}\n").replacingOccurrences(of: "no error", with: "")
        #expect(missingModel.isEmpty)
        try FileManager.default.removeItem(atPath: directory.file("models/imagebind.panda"))
        #expect(try problem("cells:\n  picture: {encode: image}\n").hasPrefix("2:14: models.imagebind: no such file 'models/imagebind.panda'"))
        try FileManager.default.createSymbolicLink(atPath: directory.file("models/imagebind.panda"), withDestinationPath: repositoryRoot + "/Weights/tiny-imagebind.panda")
        #expect(try problem("cells:\n  picture: {encode: image}\n  s: {generate: {embedding: picture, prompt: '{{item.stme}}'}}\n")
                .contains("unknown template field '{{item.stme}}' (did you mean 'item.stem'?)"))
        #expect(try problem("output: ../elsewhere\ncells:\n  picture: {encode: image}\n").contains("'..' is not allowed"))
        #expect(try problem("cells:\n  picture: {encode: image}\n  w: {write: {jsonl: ../../x.jsonl}}\n").contains("must be a path inside the output directory"))
        let yaml = try problem("cells:\n  picture: {encode: image\n  sound: {encode: audio}\n")
        #expect(yaml.hasPrefix("9:12: not valid YAML: a flow mapping opened here is not closed (did not find expected ',' or '}' at line 10"), "\(yaml)")
    }

    @Test("every problem of a job is reported at once, each at its own line and column, in the order written")
    func everyProblemAtOnce() throws {
        let path = directory.file("job.yaml")
        try (header + """
            parameters:
              weight: heavy
            cells:
              picture: {encode: imag}
              sound: {encode: audio}
              mix: {combine: pictur + sound}
              story: {generate: {embedding: sound, prompt: '{{item.stme}}'}}
            """).write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try JobPlan(JobFile.load(path: path))
            Issue.record("no error")
        } catch let errors as JobErrors {
            // The misspelt kind leaves 'picture' unreadable: mix's use of 'pictur' is still a problem of its own, and
            // nothing is reported twice.
            #expect(errors.problems.map { "\($0.line):\($0.column)" } == ["9:11", "11:21", "13:18", "14:49"], "\(errors.errorDescription ?? "")")
            #expect(errors.problems.map(\.message)[0].contains("must be a number"))
            #expect(errors.problems.map(\.message)[1].contains("'imag'"))
            #expect(errors.problems.map(\.message)[2].contains("'pictur'"))
            #expect(errors.problems.map(\.message)[3].contains("item.stme"))
        }
    }

    @Test("a model of the wrong kind in a slot, or models that do not fit together, are refused by validation naming the slot's line")
    func modelsAreTheKindTheirSlotNeeds() throws {
        let swapped = header.replacingOccurrences(of: "imagebind: models/imagebind.panda", with: "imagebind: models/decoder.panda")
        let path = directory.file("job.yaml")
        try (swapped + "cells:\n  picture: {encode: image}\n").write(toFile: path, atomically: true, encoding: .utf8)
        #expect(throws: JobError(file: path, line: 2, column: 14, message: "models.imagebind: 'models/decoder.panda' holds a 'llama' model; this slot needs 'imagebind'")) {
            try JobPlan(JobFile.load(path: path))
        }
        // An adapter whose llama_proj gives 128 values beside a decoder of another width.
        try FileManager.default.createSymbolicLink(atPath: directory.file("models/adapter.panda"), withDestinationPath: repositoryRoot + "/Weights/tiny-pandagpt-delta.panda")
        try FileManager.default.createSymbolicLink(atPath: directory.file("models/other-decoder.panda"), withDestinationPath: ReferenceModels.decoder)
        let mismatched = header.replacingOccurrences(of: "decoder: models/decoder.panda", with: "decoder: models/other-decoder.panda\n  adapter: models/adapter.panda")
        try (mismatched + "cells:\n  picture: {encode: image}\n").write(toFile: path, atomically: true, encoding: .utf8)
        do {
            _ = try JobPlan(JobFile.load(path: path))
            Issue.record("no error")
        } catch {
            let text = (error as? LocalizedError)?.errorDescription ?? ""
            #expect(text.contains(":4:12: models.adapter: made for a decoder of hidden_size") || text.contains(":4:12: llama_proj gives 128 values"), "\(text)")
        }
    }

    @Test("manifests name items in JSON lines or CSV; bad columns and duplicate ids are refused with their line")
    func manifests() throws {
        try "{\"id\": \"x\", \"image\": \"media/images/a.jpg\", \"text\": \"a caption\"}\n{\"image\": \"media/images/b.jpg\"}\n"
            .write(toFile: directory.file("items.jsonl"), atomically: true, encoding: .utf8)
        let items = try Inputs.manifestItems(directory.file("items.jsonl")) { JobError(file: "m", line: 1, column: 1, message: $0) }
        #expect(items.map(\.id) == ["x", "2"])
        #expect(items[0].sources[.text] == .literal("a caption"))
        try "id,image,audoi\nx,a.jpg,a.wav\n".write(toFile: directory.file("items.csv"), atomically: true, encoding: .utf8)
        #expect(throws: JobError.self) { try Inputs.manifestItems(directory.file("items.csv")) { JobError(file: "m", line: 1, column: 1, message: $0) } }
        try "id,image,text\nx,\"a,b.jpg\",\"say \"\"hi\"\"\"\n".write(toFile: directory.file("quoted.csv"), atomically: true, encoding: .utf8)
        let quoted = try Inputs.manifestItems(directory.file("quoted.csv")) { JobError(file: "m", line: 1, column: 1, message: $0) }
        #expect(quoted[0].sources[.text] == .literal("say \"hi\""))
        #expect(quoted[0].sources[.image] == .file(directory.file("a,b.jpg")))
    }
}

@Suite("Embedding arithmetic expressions")
struct ExpressionTests {
    private func evaluate(_ source: String, _ values: [String: [Float]], parameters: [String: Double] = [:]) throws -> EmbeddingExpression.Value {
        try EmbeddingExpression.parse(source).evaluate(
            lookup: { name in parameters[name].map { .scalar($0) } ?? .vector(values[name]!) },
            embedText: { text in text == "night" ? [0, 0, 1] : [0, 1, 0] })
    }

    @Test("sums, weights, parameters, literal texts and normalize evaluate as written, with * before + and -; embeddings as unit vectors unless raw(…)")
    func arithmetic() throws {
        let values: [String: [Float]] = ["image": [1, 0, 0], "audio": [0, 2, 0]]
        #expect(try evaluate("image + 0.5 * audio", values) == .vector([1, 0.5, 0]))
        #expect(try evaluate("raw(image) + 0.5 * raw(audio)", values) == .vector([1, 1, 0]))
        #expect(try evaluate("image - text(\"daytime\") + text('night')", values) == .vector([1, -1, 1]))
        #expect(try evaluate("normalize(raw(audio) * w)", values, parameters: ["w": 3]) == .vector([0, 1, 0]))
        #expect(try evaluate("-(raw(image) + raw( audio )) / 2", values) == .vector([-0.5, -1, 0]))
        #expect(try evaluate("w * audio", values, parameters: ["w": 3]) == .vector([0, 3, 0]))
        #expect(try EmbeddingExpression.parse("a + 2 * text(\"x\")").names == ["a"])
        #expect(try EmbeddingExpression.parse("raw(a) - raw(text(\"x\"))").names == ["a"])
    }

    @Test("multiplying two embeddings or an unknown function is refused with a message")
    func refusals() {
        #expect(throws: EmbeddingExpression.EvaluationError.self) { try evaluate("image * image", ["image": [1]]) }
        #expect(throws: EmbeddingExpression.ParseError.self) { try EmbeddingExpression.parse("mean(a)") }
        #expect(throws: EmbeddingExpression.ParseError.self) { try EmbeddingExpression.parse("a +") }
        #expect(throws: EmbeddingExpression.ParseError(offset: 4, message: "raw(…) takes a name or text(\"…\")")) { try EmbeddingExpression.parse("raw(2)") }
    }
}
