import ArgumentParser
import Foundation
import PandaFormat

struct Verify: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Check every checksum in .panda files; the exit code says whether all of them are intact.",
        discussion: """
            Validates the header, metadata and tensor table, then reads every chunk of every tensor, checks its \
            XXH64 checksum and decompresses zstd chunks to their recorded size. Prints one line per damaged chunk. \
            Exit code 0: all intact; 1: damage found or a file could not be opened.

            Example:
              panda-convert verify Weights/*.panda
            """)

    @Argument(help: "The .panda files to verify.")
    var files: [String]

    @Flag(name: .shortAndLong, help: "Print nothing on success.")
    var quiet = false

    func run() throws {
        var allIntact = true
        for file in files {
            let started = Date()
            let weights: WeightFile
            do {
                weights = try WeightFile(path: file)
            } catch {
                printError(error.localizedDescription)
                allIntact = false
                continue
            }
            let total = weights.tensors.reduce(0) { $0 + $1.storedByteCount }
            let progress = ProgressBar(label: "verifying \((file as NSString).lastPathComponent)", total: total, enabled: !quiet)
            let failures = weights.verify { progress.update($0) }
            progress.finish()
            for failure in failures { printError(failure.localizedDescription) }
            allIntact = allIntact && failures.isEmpty
            if failures.isEmpty && !quiet {
                let seconds = Date().timeIntervalSince(started)
                let chunks = weights.tensors.reduce(0) { $0 + $1.chunks.count }
                print("OK  \(file): \(weights.tensors.count) tensors, \(chunks) chunks, \(ByteCount(total)) verified in \(String(format: "%.2f", seconds)) s")
            }
        }
        if !allIntact { throw ExitCode.failure }
    }
}
