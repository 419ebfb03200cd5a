import Foundation
import PandaTestSupport
import Testing

/// The `$ panda-run …` examples in docs/cli.md run on the committed files and print what the docs show (up to the
/// first `…`, where the docs shorten the output), so the docs cannot drift from the tools.
@Suite("docs/cli.md examples, run")
struct DocsCommandTests {
    struct Example: CustomTestStringConvertible {
        var line: Int
        var arguments: [String]
        var shown: String
        var testDescription: String { "docs/cli.md:\(line)" }
    }

    /// Splits a shell command line as the shell would for these examples: words, and double-quoted strings.
    static func words(_ command: String) -> [String] {
        var words: [String] = [], current = "", quoted = false, inWord = false
        for character in command {
            if character == "\"" {
                quoted.toggle()
                inWord = true
            } else if character == " " && !quoted {
                if inWord { words.append(current) }
                (current, inWord) = ("", false)
            } else {
                current.append(character)
                inWord = true
            }
        }
        if inWord { words.append(current) }
        return words
    }

    static let examples: [Example] = {
        let lines = try! String(contentsOfFile: repositoryRoot + "/docs/cli.md", encoding: .utf8).components(separatedBy: "\n")
        var examples: [Example] = []
        for (index, line) in lines.enumerated() where line.hasPrefix("$ panda-run ") {
            let shown = lines[(index + 1)...].prefix { !$0.hasPrefix("```") && !$0.hasPrefix("$ ") }.joined(separator: "\n")
            examples.append(Example(line: index + 1, arguments: Array(words(String(line.dropFirst(2))).dropFirst()), shown: shown))
        }
        return examples
    }()

    @Test("docs/cli.md shows examples of tokenize and embed")
    func examplesAreFound() {
        #expect(Self.examples.count >= 3)
        #expect(Set(Self.examples.map { $0.arguments[0] }).isSuperset(of: ["tokenize", "embed"]))
    }

    @Test("every $ panda-run example in docs/cli.md prints what the docs show", arguments: examples)
    func examplePrintsWhatIsShown(example: Example) throws {
        // Paths in the examples are relative to the repository's root.
        let arguments = example.arguments.map { FileManager.default.fileExists(atPath: repositoryRoot + "/" + $0) ? repositoryRoot + "/" + $0 : $0 }
        let result = try Executable.run("panda-run", arguments)
        #expect(result.status == 0, "\(result.stderr)")
        let expected = example.shown.components(separatedBy: "…")[0]
        #expect(result.stdout.hasPrefix(expected), "docs/cli.md:\(example.line) shows \(example.shown)\nprinted \(result.stdout.prefix(300))")
    }

    @Test("docs/jobs.md's plan example: a folder with three pictures, a folder named like one and a FIFO gives the lines shown")
    func planExamplePrintsWhatIsShown() throws {
        let lines = try String(contentsOfFile: repositoryRoot + "/docs/jobs.md", encoding: .utf8).components(separatedBy: "\n")
        let start = try #require(lines.firstIndex(of: "$ panda-run plan job.yaml"))
        let shown = lines[(start + 1)...].prefix { !$0.hasPrefix("```") }
        #expect(shown.count == 3)
        let directory = TemporaryDirectory()
        try FileManager.default.createDirectory(atPath: directory.file("photos/album.jpg"), withIntermediateDirectories: true)
        for index in 1...3 { try FileManager.default.copyItem(atPath: fixture("media/photo.jpg"), toPath: directory.file("photos/p\(index).jpg")) }
        #expect(mkfifo(directory.file("photos/live.jpg"), 0o644) == 0)
        try "models: {imagebind: \(repositoryRoot)/Weights/tiny-imagebind.panda}\ninputs:\n  photos:\n    image: photos\ncells:\n  picture: {encode: image}\n".write(toFile: directory.file("job.yaml"), atomically: true, encoding: .utf8)
        let result = try Executable.run("panda-run", ["plan", directory.file("job.yaml")])
        #expect(result.status == 0, "\(result.stderr)")
        let printed = result.stdout.replacingOccurrences(of: directory.path + "/", with: "")
        for line in shown { #expect(printed.contains(line + "\n"), "docs/jobs.md shows '\(line)'; plan printed:\n\(printed)") }
    }
}
