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
}
