import ArgumentParser
import Foundation
import PandaModels

/// Aggregate generation tokens/s when B sequences decode together (LlamaContext.step): each step reads every
/// decoder weight once for B tokens, so a memory-bound decoder should gain up to B× until compute limits it.
struct BatchedDecodeBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "batched",
        abstract: "Aggregate decode tokens/s at several batch sizes for a .panda decoder.",
        discussion: """
            Example:
              swift build -c release --product panda-bench
              .build/release/panda-bench batched vicuna-7b-q4_0.panda --batches 1 2 4 8
            """)

    @Argument(help: "A .panda LLaMA decoder.")
    var decoder: String

    @Option(parsing: .upToNextOption, help: "Batch sizes (sequences decoded together).")
    var batches = [1, 2, 4, 8]

    @Option(help: "Prompt tokens per sequence before timing (different per sequence: this plus its index).")
    var prompt = 16

    @Option(help: "Steps timed per batch size (each step generates one token per sequence).")
    var steps = 64

    @Option(help: "Threads.")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    func run() throws {
        let llama = try Llama(path: decoder)
        let vocab = llama.config.vocabSize
        print("| B | aggregate tok/s | per sequence tok/s | × B = 1 |")
        print("|---:|---:|---:|---:|")
        var single: Double?
        for batch in batches {
            let context = LlamaContext(model: llama, capacity: prompt + batch + steps + 1, slots: batch, threads: threads)
            for slot in 0..<batch {
                try context.evaluate([.tokens((0..<(prompt + slot)).map { 100 + ($0 * 7919 + slot) % (vocab - 100) })], slot: slot)
            }
            var tokens = (0..<batch).map { (slot: $0, token: 1) }
            _ = try context.step(tokens)  // warm-up: pages in the weights
            let start = Date()
            for _ in 0..<steps {
                let logits = try context.step(tokens)
                for row in 0..<batch {
                    tokens[row].token = Sampler.argmax(UnsafeMutableBufferPointer(rebasing: logits[(row * vocab)..<((row + 1) * vocab)]))
                }
            }
            let rate = Double(batch * steps) / Date().timeIntervalSince(start)
            single = single ?? rate
            print(String(format: "| %d | %.2f | %.2f | %.2f× |", batch, rate, rate / Double(batch), rate / single!))
        }
    }
}
