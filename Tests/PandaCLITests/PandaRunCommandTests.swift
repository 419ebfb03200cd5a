import Foundation
import PandaMedia
import PandaModels
import PandaTestSupport
import Testing

/// `panda-run` subcommands run as processes on the tiny reference models; their stdout is parsed and compared with
/// what the PyTorch reference code produced (Converters/reference).
@Suite("panda-run tokenize, embed, generate, ask and chat, run as processes")
struct PandaRunCommandTests {
    static let imagebind = ReferenceModels.imagebind
    static let decoder = ReferenceModels.decoder
    static let adapter = ReferenceModels.adapter

    private func media(_ name: String) -> String { Reference.path("../media/" + name) }

    private func json(_ text: String) throws -> Any { try JSONSerialization.jsonObject(with: Data(text.utf8)) }

    private func embeddings(_ object: Any, _ key: String) throws -> [[Float]] {
        let rows = try #require((object as? [String: Any])?[key] as? [[Double]], "no \(key) in \(object)")
        return rows.map { $0.map(Float.init) }
    }

    @Test("tokenize prints sentencepiece's ids as one JSON array, with BOS only under --bos")
    func tokenizeDecoder() throws {
        struct Entry: Decodable { var text: String; var ids: [Int] }
        for entry in try Reference.json("tokenizers/llama-corpus.json", as: [Entry].self).prefix(40) where !entry.text.hasPrefix("-") {
            let plain = try Executable.run("panda-run", ["tokenize", "--model", Self.decoder, entry.text])
            #expect(plain.status == 0)
            #expect(try json(plain.stdout) as? [Int] == entry.ids, "\(entry.text.debugDescription)")
            let withBOS = try Executable.run("panda-run", ["tokenize", "--model", Self.decoder, "--bos", entry.text])
            #expect(try json(withBOS.stdout) as? [Int] == [1] + entry.ids)
        }
    }

    @Test("tokenize with an ImageBind model prints the 77 CLIP ids of ImageBind's tokenizer")
    func tokenizeCLIP() throws {
        struct Entry: Decodable { var text: String; var ids: [Int] }
        for entry in try Reference.json("tokenizers/clip-corpus.json", as: [Entry].self).suffix(30) where !entry.text.hasPrefix("-") {
            let result = try Executable.run("panda-run", ["tokenize", "--model", Self.imagebind, entry.text])
            #expect(result.status == 0)
            #expect(try json(result.stdout) as? [Int] == entry.ids, "\(entry.text.debugDescription)")
        }
    }

    @Test("embed prints, per modality and in the order given, what ImageBind's forward returns for the committed media")
    func embedMediaFiles() throws {
        let result = try Executable.run("panda-run", [
            "embed", "--model", Self.imagebind, "--image", media("photo.jpg"), "--image", media("gray-portrait.jpg"), "--video", media("clip.mp4"),
            "--audio", media("stereo-22k.wav"), "--audio", media("speech-16k.flac"), "--thermal", media("thermal.png"), "--imu", media("imu.npy"),
            "--text", "a photo of a panda", "--text", "a dog barking", "--text", "rain on a window",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let object = try json(result.stdout)
        let expected = try Reference.tensors("imagebind/media_embeddings.safetensors")
        let vision = try embeddings(object, "vision")
        #expect(vision.count == 3)
        let cases: [(computed: [[Float]], reference: String)] = [
            (Array(vision.prefix(2)), "vision"), ([vision[2]], "video"), (try embeddings(object, "audio"), "audio"),
            (try embeddings(object, "thermal"), "thermal"), (try embeddings(object, "imu"), "imu"), (try embeddings(object, "text"), "text"),
        ]
        for (computed, name) in cases {
            let reference = try #require(expected[name])
            #expect(computed.count == reference.shape[0], "\(name)")
            for (index, embedding) in computed.enumerated() {
                // Measured: at most 1.4e-5 (audio), 4e-7 for the others.
                #expect(cosineSimilarity(embedding, reference.row(index)) >= 0.99999, "\(name) item \(index)")
                #expect(maxAbsoluteDifference(embedding, reference.row(index)) <= 1e-4, "\(name) item \(index)")
            }
        }
    }

    @Test("a .npy given to embed is the preprocessed input; a leading batch axis gives one embedding per row; --format npy writes arrays")
    func embedPreprocessedArrays() throws {
        let scratch = TemporaryDirectory()
        let inputs = try Reference.tensors("imagebind/inputs.safetensors")
        let outputs = try Reference.tensors("imagebind/outputs.safetensors")
        let images = try #require(inputs["vision"])
        try NPYArray(shape: images.shape, values: images.values).write(to: scratch.file("images.npy"))
        let result = try Executable.run("panda-run", ["embed", "--model", Self.imagebind, "--image", scratch.file("images.npy")])
        #expect(result.status == 0, "\(result.stderr)")
        let vision = try embeddings(json(result.stdout), "vision")
        #expect(vision.count == 2)
        for index in 0..<2 { #expect(maxAbsoluteDifference(vision[index], try #require(outputs["vision"]).row(index)) <= 1e-4) }

        // Depth: channel 0 of the images, as the reference generator feeds ImageBind's depth encoder.
        let plane = 224 * 224
        let depth = (0..<2).flatMap { images.values[($0 * 3 * plane)..<($0 * 3 * plane + plane)] }
        try NPYArray(shape: [2, 1, 224, 224], values: depth).write(to: scratch.file("depth.npy"))
        let depthResult = try Executable.run("panda-run", ["embed", "--model", Self.imagebind, "--depth", scratch.file("depth.npy")])
        let depthEmbeddings = try embeddings(json(depthResult.stdout), "depth")
        for index in 0..<2 { #expect(maxAbsoluteDifference(depthEmbeddings[index], try #require(outputs["depth"]).row(index)) <= 1e-4) }

        let written = try Executable.run("panda-run", [
            "embed", "--model", Self.imagebind, "--image", scratch.file("images.npy"), "--text", "a photo", "--format", "npy", "-o", scratch.file("out"),
        ])
        #expect(written.status == 0, "\(written.stderr)")
        let array = try NPYArray(path: scratch.file("out/vision.npy"))
        #expect(array.shape == [2, 1024])
        #expect(maxAbsoluteDifference(Array(array.values.prefix(1024)), vision[0]) == 0)
        #expect(try NPYArray(path: scratch.file("out/text.npy")).shape == [1, 1024])
    }

    @Test("embed errors: a decoder, a missing file and a broken image each fail with one line on stderr naming the problem, as JSON on stdout when --format json is asked for")
    func embedErrors() throws {
        let wrongModel = try Executable.run("panda-run", ["embed", "--model", Self.decoder, "--text", "hello", "--format", "json"])
        #expect(wrongModel.status != 0)
        let message = try #require((try json(wrongModel.stdout) as? [String: String])?["error"])
        #expect(message.contains("llama") && message.contains("ImageBind"))

        let missing = try Executable.run("panda-run", ["embed", "--model", Self.imagebind, "--image", "/nonexistent/cat.jpg"])
        #expect(missing.status != 0 && missing.stdout.isEmpty)
        #expect(missing.stderr.hasPrefix("panda-run: ") && missing.stderr.contains("/nonexistent/cat.jpg") && missing.stderr.split(separator: "\n").count == 1)

        let broken = try Executable.run("panda-run", ["embed", "--model", Self.imagebind, "--image", media("truncated.jpg"), "--format", "npy", "-o", "/tmp/x"])
        #expect(broken.status != 0)
        #expect(broken.stderr.contains("truncated.jpg") && broken.stderr.split(separator: "\n").count == 1)
    }

    @Test("generate prints exactly the greedy continuation transformers produces, and its speed on stderr")
    func generateGreedy() throws {
        struct Prompt: Decodable { var text: String; var greedy64: [Int] }
        struct Expected: Decodable { var prompts: [Prompt] }
        let tokenizer = try SentencePieceTokenizer(weights: ModelWeights(path: Self.decoder))
        for prompt in try Reference.json("llama/expected.json", as: Expected.self).prompts.prefix(2) {
            let result = try Executable.run("panda-run", ["generate", "--model", Self.decoder, "--max-tokens", "64", "--temperature", "0", prompt.text])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout == tokenizer.decode(prompt.greedy64))
            #expect(result.stderr.contains("tok/s"))
        }
    }

    @Test("ask answers from the media through ImageBind, llama_proj and the LoRA decoder as PandaGPT's code does")
    func askMatchesPandaGPT() throws {
        struct Case: Decodable { var files: [String]; var question: String; var generated: [Int]; var answer: String }
        struct Expected: Decodable { var media: [Case] }
        let tokenizer = try SentencePieceTokenizer(weights: ModelWeights(path: Self.decoder))
        for answerCase in try Reference.json("pandagpt/expected.json", as: Expected.self).media {
            var arguments = ["ask", "--model", Self.decoder, "--adapter", Self.adapter, "--imagebind", Self.imagebind, "--max-tokens", "\(answerCase.generated.count)"]
            for file in answerCase.files { arguments += [file.hasSuffix(".wav") ? "--audio" : "--image", media(file)] }
            let result = try Executable.run("panda-run", arguments + [answerCase.question])
            #expect(result.status == 0, "\(result.stderr)")
            let stopped = answerCase.generated.contains(2277) || answerCase.generated.last == 2
            if stopped {
                #expect(result.stdout == answerCase.answer + "\n")
            } else {
                // PandaGPT drops the last two tokens even when it stops for length; Panda keeps them.
                #expect(result.stdout == tokenizer.decode(answerCase.generated) + "\n", "\(answerCase.files)")
                #expect(tokenizer.decode(answerCase.generated).hasPrefix(answerCase.answer))
            }
        }
    }

    @Test("chat answers each line of standard input with the conversation so far, and ask without media is refused")
    func chatAndMissingMedia() throws {
        let common = ["--model", Self.decoder, "--adapter", Self.adapter, "--imagebind", Self.imagebind, "--image", media("photo.jpg"), "--max-tokens", "8"]
        let chat = try Executable.run("panda-run", ["chat"] + common, input: "What is it?\nAnd the colour?\n")
        #expect(chat.status == 0, "\(chat.stderr)")
        let answers = chat.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(answers.count == 2)
        let single = try Executable.run("panda-run", ["ask"] + common + ["What is it?"])
        #expect(answers.first.map(String.init) == single.stdout.trimmingCharacters(in: .newlines))

        // The wrong kind of model, in each place, is one line naming the file and the family.
        for (arguments, family) in [(["generate", "--model", Self.imagebind, "Hi"], "imagebind"),
                                    (["ask", "--model", Self.imagebind, "--imagebind", Self.imagebind, "--image", media("photo.jpg"), "Hi"], "imagebind"),
                                    (["ask", "--model", Self.decoder, "--adapter", Self.adapter, "--imagebind", Self.decoder, "--image", media("photo.jpg"), "Hi"], "llama")] {
            let wrong = try Executable.run("panda-run", arguments)
            #expect(wrong.status == 1 && wrong.stdout.isEmpty)
            #expect(wrong.stderr.hasPrefix("panda-run: ") && wrong.stderr.contains(family) && wrong.stderr.split(separator: "\n").count == 1, "\(wrong.stderr)")
        }
        let unreadable = try Executable.run("panda-run", ["ask"] + common.map { $0 == media("photo.jpg") ? media("not-an-image.jpg") : $0 } + ["Hi"])
        #expect(unreadable.status == 1 && unreadable.stderr.contains("not-an-image.jpg"))

        let noMedia = try Executable.run("panda-run", ["ask", "--model", Self.decoder, "--adapter", Self.adapter, "--imagebind", Self.imagebind, "Hi"])
        #expect(noMedia.status != 0 && noMedia.stderr.contains("--image"))
    }

    @Test("generate and ask: Ctrl-C ends the generation, keeps what was printed, prints the statistics and exits 130", arguments: ["generate", "ask"])
    func generationInterrupts(command: String) throws {
        // The reference decoder's random weights keep talking until the token limit, long enough to interrupt.
        var arguments = [command, "--model", Self.decoder, "--max-tokens", "1500", "--threads", "1"]
        if command == "ask" { arguments += ["--adapter", Self.adapter, "--imagebind", Self.imagebind, "--image", media("photo.jpg")] }
        let process = try Executable.start("panda-run", arguments + ["Once upon a time"])
        let deadline = Date().addingTimeInterval(120)
        while process.standardOutputSoFar.isEmpty && Date() < deadline && process.process.isRunning { usleep(10_000) }
        let printed = process.standardOutputSoFar
        kill(process.process.processIdentifier, SIGINT)
        let result = try process.result()
        #expect(result.status == 130, "\(result.stderr)")
        #expect(!printed.isEmpty && result.stdout.hasPrefix(printed), "what was printed before Ctrl-C is not kept")
        #expect(result.stderr.contains("stopped: interrupted]"), "\(result.stderr)")
    }

    @Test("chat: Ctrl-C ends the answer being written, keeps what was printed and returns to the prompt; Ctrl-C at the prompt quits")
    func chatInterrupts() throws {
        // The reference decoder's random weights keep talking until the token limit, long enough to interrupt.
        let chat = try Executable.startInteractive("panda-run", ["chat", "--model", Self.decoder, "--adapter", Self.adapter, "--imagebind", Self.imagebind,
                                                                 "--image", media("photo.jpg"), "--max-tokens", "1500", "--threads", "1"])
        func waitFor(_ condition: () -> Bool) {
            let deadline = Date().addingTimeInterval(120)
            while !condition() && Date() < deadline && chat.process.isRunning { usleep(10_000) }
        }
        chat.write("What is it?\n")
        waitFor { !chat.standardOutputSoFar.isEmpty }
        kill(chat.process.processIdentifier, SIGINT)
        waitFor { chat.standardErrorSoFar.contains("stopped: interrupted]") }
        #expect(chat.process.isRunning, "the first Ctrl-C quit the chat: \(chat.standardErrorSoFar)")
        let firstAnswer = chat.standardOutputSoFar
        chat.write("And the colour?\n")
        waitFor { chat.standardErrorSoFar.components(separatedBy: "stopped: ").count == 3 }
        kill(chat.process.processIdentifier, SIGINT)  // at the prompt
        let result = try chat.result()
        #expect(result.status == 130, "\(result.stderr)")
        let answers = result.stdout.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        #expect(answers.count == 2, "\(result.stdout)")
        // The interrupted answer kept what it had printed, and the second turn was answered in full.
        #expect(firstAnswer.hasPrefix(answers.first.map(String.init) ?? "-") || answers.first.map(String.init) == firstAnswer.trimmingCharacters(in: .newlines))
        #expect(result.stderr.contains("stopped: interrupted]"))
        #expect(result.stderr.contains("stopped: max tokens]") || result.stderr.contains("stopped: context full]") || result.stderr.contains("stopped: stop token"),
                "\(result.stderr)")
    }

    @Test("every subcommand's --help teaches with examples that are never broken in the middle of an argument")
    func helpHasExamples() throws {
        for command in ["tokenize", "embed", "generate", "ask", "chat"] {
            let help = try Executable.run("panda-run", [command, "--help"])
            #expect(help.status == 0)
            #expect(help.stdout.contains("panda-run \(command) -m "), "\(command)")
        }
        for command in [[], ["run"], ["validate"], ["plan"], ["merge"], ["tokenize"], ["embed"], ["generate"], ["ask"], ["chat"]] {
            let help = try Executable.run("panda-run", command + ["--help"]).stdout.split(separator: "\n", omittingEmptySubsequences: false)
            // Example lines are indented; a line the help's wrapping broke off would start at the margin.
            guard let start = help.firstIndex(where: { $0.hasPrefix("Example") }) else { Issue.record("no examples in \(command) --help"); continue }
            let examples = help[(start + 1)...].prefix { !$0.isEmpty }
            #expect(!examples.isEmpty && examples.allSatisfy { $0.hasPrefix("  ") && $0.count <= 80 }, "\(command): \(examples)")
        }
    }

    @Test("docs/cli.md and docs/jobs.md name every flag of every panda-run subcommand, short forms too")
    func docsNameEveryFlag() throws {
        let cli = try String(contentsOfFile: repositoryRoot + "/docs/cli.md", encoding: .utf8)
        let jobs = try String(contentsOfFile: repositoryRoot + "/docs/jobs.md", encoding: .utf8)
        /// The text of docs/cli.md from `### heading` to the next heading.
        func section(_ heading: String) -> String {
            guard let start = cli.range(of: "### " + heading + "\n") else { return "" }
            let rest = cli[start.upperBound...]
            return String(rest[..<(rest.range(of: "\n#")?.lowerBound ?? rest.endIndex)])
        }
        let usage = jobs[jobs.range(of: "panda-run JOB [")!.lowerBound...].prefix(500)
        let documented: [String: String] = [
            "run": String(usage), "merge": String(usage), "validate": "", "plan": "", "tokenize": section("tokenize"), "embed": section("embed"),
            "generate": section("generate"), "ask": section("ask and chat"), "chat": section("ask and chat"),
        ]
        for (command, text) in documented {
            let help = try Executable.run("panda-run", [command, "--help"]).stdout
            let options = help[help.range(of: "OPTIONS:")!.upperBound...]
            for line in options.split(separator: "\n") {
                let flags = line.trimmingCharacters(in: .whitespaces).split(separator: " ").prefix(2).map { $0.trimmingCharacters(in: CharacterSet(charactersIn: ",")) }
                    .filter { $0.wholeMatch(of: /--?[a-z][a-z-]*/) != nil && !["--help", "-h", "--version"].contains($0) }
                for flag in flags { #expect(text.contains(flag + " ") || text.contains(flag + "|") || text.contains(flag + "]"), "\(command) \(flag) is not in the docs") }
            }
        }
    }

    @Test("llama.cpp's short flags, a prompt from -p, a file or standard input, --json, --version")
    func commandLineConventions() throws {
        let streamed = try Executable.run("panda-run", ["generate", "--model", Self.decoder, "--max-tokens", "8", "--threads", "1", "Once upon a time"])
        #expect(streamed.status == 0, "\(streamed.stderr)")
        let short = try Executable.run("panda-run", ["generate", "-m", Self.decoder, "-n", "8", "-t", "1", "-s", "3", "-p", "Once upon a time", "--json"])
        #expect(short.status == 0, "\(short.stderr)")
        let report = try #require(try json(short.stdout) as? [String: Any])
        #expect(report["text"] as? String == streamed.stdout && (report["tokens"] as? [Int])?.count == 8 && report["stop_reason"] as? String == "max tokens")
        #expect(report["prompt_tokens"] as? Int == 5 && report["tokens_per_second"] is Double && report["load_seconds"] is Double)
        let stdin = try Executable.run("panda-run", ["generate", "-m", Self.decoder, "-n", "8", "-f", "-"], input: "Once upon a time\n")
        #expect(stdin.stdout == streamed.stdout)
        let scratch = TemporaryDirectory()
        let file = scratch.file("prompt.txt")
        try "Once upon a time".write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try Executable.run("panda-run", ["generate", "-m", Self.decoder, "-n", "8", "-f", file]).stdout == streamed.stdout)
        let twice = try Executable.run("panda-run", ["generate", "-m", Self.decoder, "-p", "a", "b"])
        #expect(twice.status != 0 && twice.stderr.contains("give the text once"))

        let ask = try Executable.run("panda-run", ["ask", "-m", Self.decoder, "--adapter", Self.adapter, "--imagebind", Self.imagebind,
                                                   "--image", media("photo.jpg"), "--image", media("gray-portrait.jpg"), "-n", "6", "--json", "-p", "What is it?"])
        #expect(ask.status == 0, "\(ask.stderr)")
        #expect((try json(ask.stdout) as? [String: Any])?["text"] is String)

        let version = try Executable.run("panda-run", ["--version"])
        #expect(version.status == 0 && version.stdout.hasPrefix("panda-run "))
    }
}
