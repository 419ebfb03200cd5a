import ArgumentParser
import Foundation

/// Converts a full-size 7B-shape LLaMA checkpoint (random bf16 weights in Hugging Face's sharded safetensors
/// layout, generated on the fly) with panda-convert and, on the same input in the same run, with llama.cpp's
/// convert_hf_to_gguf.py; reports wall time, throughput and each converter's peak resident memory, and as the
/// ceiling for a same-dtype conversion, `cat` copying the same shards to the same place.
struct ConvertBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Conversion throughput and peak memory on a generated 7B-shape checkpoint, against llama.cpp.",
        discussion: """
            The checkpoint (about 13.5 GB) is written into --directory and deleted afterwards unless --keep is given; \
            outputs go to --output-directory (use /dev/shm to measure the converter rather than the disk). llama.cpp's \
            source ships in the llama-cpp-python sdist on PyPI:
              pip download --no-deps --no-binary :all: llama-cpp-python==0.3.16
              tar xzf llama_cpp_python-0.3.16.tar.gz   # then --llama-cpp llama_cpp_python-0.3.16/vendor/llama.cpp

            Example:
              swift build -c release --product panda-convert
              swift run -c release panda-bench convert --tokenizer tokenizer.model --output-directory /dev/shm \\
                  --llama-cpp ~/.cache/panda/llama_cpp_python-0.3.16/vendor/llama.cpp --python ~/.cache/panda/refenv/bin/python
            """)

    @Option(help: "A SentencePiece tokenizer.model to put beside the shards (both converters need one).")
    var tokenizer: String

    @Option(help: "A 7B-shape checkpoint kept from an earlier run (--keep) to convert instead of generating one.")
    var checkpoint: String?

    @Option(help: "Where the generated checkpoint is written.")
    var directory = NSTemporaryDirectory()

    @Option(help: "Where converted files are written (each is deleted after it is measured).")
    var outputDirectory: String?

    @Option(help: "llama.cpp source directory holding convert_hf_to_gguf.py and gguf-py/ (omit to run Panda alone).")
    var llamaCpp: String?

    @Option(help: "Python interpreter with torch, numpy and sentencepiece, for llama.cpp's converter.")
    var python = "python3"

    @Option(help: "Decoder layers to generate (32 for 7B; fewer for a quick trial).")
    var layers = 32

    @Option(parsing: .upToNextOption, help: "Output dtypes to convert to (each by both converters).")
    var dtypes = ["bf16", "q8_0"]

    @Flag(help: "Also measure panda-convert --compress (zstd chunks with byte-plane shuffle) for the size ratio.")
    var compressed = false

    @Flag(help: "Keep the generated checkpoint.")
    var keep = false

    func run() throws {
        let outputs = outputDirectory ?? directory
        let checkpoint: String
        if let kept = self.checkpoint {
            checkpoint = kept
        } else {
            checkpoint = (directory as NSString).appendingPathComponent("panda-bench-llama-7b-shape")
            let shape = LlamaShape(layers: layers)
            print("Generating \(shape.description) as bf16 safetensors shards in \(checkpoint) …")
            let generationStart = Date()
            let bytes = try shape.writeCheckpoint(to: checkpoint, tokenizer: tokenizer)
            print(String(format: "  %.2f GB in %.0f s\n", Double(bytes) / 1e9, Date().timeIntervalSince(generationStart)))
        }
        defer { if self.checkpoint == nil && !keep { try? FileManager.default.removeItem(atPath: checkpoint) } }
        let shards = try FileManager.default.contentsOfDirectory(atPath: checkpoint).filter { $0.hasSuffix(".safetensors") }.sorted()
            .map { (checkpoint as NSString).appendingPathComponent($0) }
        let inputBytes = try shards.reduce(0) { $0 + (try FileManager.default.attributesOfItem(atPath: $1)[.size] as? Int ?? 0) }
        guard inputBytes > 0 else { throw ValidationError("no .safetensors shards in \(checkpoint)") }

        let convert = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("panda-convert").path
        guard FileManager.default.isExecutableFile(atPath: convert) else {
            throw ValidationError("panda-convert is not built beside panda-bench (\(convert)); run swift build -c release first")
        }
        var runs: [(String, String, ChildProcess.Measurement, Int)] = []
        func measure(
            _ converter: String, _ mode: String, output: String, _ arguments: [String], environment: [String: String] = [:],
            standardOutput: String? = nil
        ) throws {
            dropPageCacheIfAllowed()
            let result = try ChildProcess.run(arguments, environment: environment, standardOutput: standardOutput)
            guard result.status == 0 else { throw ValidationError("\(converter) \(mode) failed with status \(result.status)") }
            let size = (try? FileManager.default.attributesOfItem(atPath: output)[.size] as? Int) ?? 0
            try? FileManager.default.removeItem(atPath: output)
            runs.append((converter, mode, result, size))
            print(String(format: "  %@ %@: %.1f s, peak RSS %.0f MiB, output %.2f GB", converter, mode, result.seconds,
                         Double(result.peakResidentBytes) / 1_048_576, Double(size) / 1e9))
        }
        // The same bytes moved from the same page cache or disk to the same place with nothing else done: on this
        // kind of machine the kernel's copy into the output, not the converter, sets the pace of a bf16 conversion.
        let copy = (outputs as NSString).appendingPathComponent("bench-shards.copy")
        try measure("cat (the shards, copied)", "–", output: copy, ["/bin/cat"] + shards, standardOutput: copy)
        for dtype in dtypes {
            let output = (outputs as NSString).appendingPathComponent("bench-\(dtype).panda")
            try measure("panda-convert", dtype, output: output, [convert, "convert", "--quiet", "--recipe", "llama", "--dtype", dtype, checkpoint, "-o", output])
        }
        if compressed {
            let output = (outputs as NSString).appendingPathComponent("bench-bf16-zstd.panda")
            try measure("panda-convert", "bf16 --compress", output: output, [convert, "convert", "--quiet", "--recipe", "llama", "--dtype", "bf16", "--compress", checkpoint, "-o", output])
        }
        if let llamaCpp {
            for dtype in dtypes {
                let output = (outputs as NSString).appendingPathComponent("bench-\(dtype).gguf")
                try measure("convert_hf_to_gguf.py", dtype, output: output,
                            [python, (llamaCpp as NSString).appendingPathComponent("convert_hf_to_gguf.py"), checkpoint, "--outtype", dtype, "--outfile", output],
                            environment: ["PYTHONPATH": (llamaCpp as NSString).appendingPathComponent("gguf-py")])
            }
        }

        print("\n| converter | output dtype | wall s | input GB/s | peak RSS MiB | output / input |")
        print("|---|---|---:|---:|---:|---:|")
        for (converter, mode, result, size) in runs {
            print(String(format: "| %@ | %@ | %.1f | %.2f | %.0f | %.3f |", converter, mode, result.seconds,
                         Double(inputBytes) / 1e9 / result.seconds, Double(result.peakResidentBytes) / 1_048_576,
                         Double(size) / Double(inputBytes)))
        }
        if let copied = runs.first(where: { $0.1 == "–" }), let bf16 = runs.first(where: { $0.0 == "panda-convert" && $0.1 == "bf16" }) {
            print(String(format: "bf16: panda-convert runs at %.2f× the speed of cat copying the same shards (%.2f GB/s)",
                         copied.2.seconds / bf16.2.seconds, Double(inputBytes) / 1e9 / copied.2.seconds))
        }
        for dtype in dtypes {
            guard let panda = runs.first(where: { $0.0 == "panda-convert" && $0.1 == dtype }),
                  let peer = runs.first(where: { $0.0 == "convert_hf_to_gguf.py" && $0.1 == dtype }) else { continue }
            print(String(format: "%@: panda-convert is %.1f× as fast as llama.cpp, with %.2f× its peak memory", dtype,
                         peer.2.seconds / panda.2.seconds, Double(panda.2.peakResidentBytes) / Double(peer.2.peakResidentBytes)))
        }
    }

    /// Each converter should start with the checkpoint on disk, not in a page cache warmed by the previous one;
    /// dropping caches needs root, so without it the note in the output says the runs were warm.
    private func dropPageCacheIfAllowed() {
        if !PageCache.drop() { print("  (page cache not dropped: not root; input may be partly cached)") }
    }
}

/// The shapes of LLaMA-1 7B in Hugging Face naming.
struct LlamaShape: CustomStringConvertible {
    var hidden = 4096, intermediate = 11008, heads = 32, vocabulary = 32000
    var layers: Int

    var description: String { "LLaMA \(layers) layers × \(hidden) hidden, vocabulary \(vocabulary)" }

    var tensors: [(name: String, shape: [Int])] {
        var list: [(String, [Int])] = [("model.embed_tokens.weight", [vocabulary, hidden])]
        for layer in 0..<layers {
            let prefix = "model.layers.\(layer)."
            for projection in ["q_proj", "k_proj", "v_proj", "o_proj"] {
                list.append((prefix + "self_attn.\(projection).weight", [hidden, hidden]))
            }
            list.append((prefix + "mlp.gate_proj.weight", [intermediate, hidden]))
            list.append((prefix + "mlp.up_proj.weight", [intermediate, hidden]))
            list.append((prefix + "mlp.down_proj.weight", [hidden, intermediate]))
            list.append((prefix + "input_layernorm.weight", [hidden]))
            list.append((prefix + "post_attention_layernorm.weight", [hidden]))
        }
        list.append(("model.norm.weight", [hidden]))
        list.append(("lm_head.weight", [vocabulary, hidden]))
        return list
    }

    /// Writes shards of at most 10 GB as Hugging Face does, the index, config.json and the tokenizer; returns the shard bytes.
    func writeCheckpoint(to directory: String, tokenizer: String) throws -> Int {
        try? FileManager.default.removeItem(atPath: directory)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        var shards: [[(name: String, shape: [Int])]] = [[]]
        var shardBytes = 0
        for tensor in tensors {
            let bytes = tensor.shape.reduce(2, *)
            if shardBytes + bytes > 10_000_000_000 { shards.append([]); shardBytes = 0 }
            shards[shards.count - 1].append(tensor)
            shardBytes += bytes
        }
        var weightMap: [String: String] = [:]
        var total = 0
        let generator = NormalBF16Generator()
        for (index, shard) in shards.enumerated() {
            let name = String(format: "model-%05d-of-%05d.safetensors", index + 1, shards.count)
            total += try writeSafetensors(shard, to: (directory as NSString).appendingPathComponent(name), generator: generator)
            for tensor in shard { weightMap[tensor.name] = name }
        }
        let index: [String: Any] = ["metadata": ["total_size": total], "weight_map": weightMap]
        try JSONSerialization.data(withJSONObject: index, options: [.sortedKeys, .prettyPrinted])
            .write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("model.safetensors.index.json")))
        let config: [String: Any] = [
            "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": hidden,
            "intermediate_size": intermediate, "num_attention_heads": heads, "num_hidden_layers": layers,
            "rms_norm_eps": 1e-6, "vocab_size": vocabulary, "max_position_embeddings": 2048, "bos_token_id": 1,
            "eos_token_id": 2, "hidden_act": "silu", "torch_dtype": "bfloat16", "tie_word_embeddings": false,
        ]
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys, .prettyPrinted])
            .write(to: URL(fileURLWithPath: (directory as NSString).appendingPathComponent("config.json")))
        try FileManager.default.copyItem(atPath: tokenizer, toPath: (directory as NSString).appendingPathComponent("tokenizer.model"))
        return total
    }

    private func writeSafetensors(_ shard: [(name: String, shape: [Int])], to path: String, generator: NormalBF16Generator) throws -> Int {
        var entries: [String] = []
        var offset = 0
        for tensor in shard {
            let bytes = tensor.shape.reduce(2, *)
            entries.append("\"\(tensor.name)\":{\"dtype\":\"BF16\",\"shape\":\(tensor.shape),\"data_offsets\":[\(offset),\(offset + bytes)]}")
            offset += bytes
        }
        var header = Array(("{\"__metadata__\":{\"format\":\"pt\"}," + entries.joined(separator: ",") + "}").utf8)
        header += [UInt8](repeating: 0x20, count: -header.count & 7)
        guard FileManager.default.createFile(atPath: path, contents: nil), let file = FileHandle(forWritingAtPath: path) else {
            throw ValidationError("cannot write \(path)")
        }
        defer { try? file.close() }
        var length = UInt64(header.count).littleEndian
        file.write(Data(bytes: &length, count: 8))
        file.write(Data(header))
        var buffer = [UInt16](repeating: 0, count: 1 << 23)
        var remaining = offset / 2
        while remaining > 0 {
            let count = min(remaining, buffer.count)
            buffer.withUnsafeMutableBufferPointer { generator.fill(UnsafeMutableBufferPointer(rebasing: $0[0..<count])) }
            buffer.withUnsafeBytes { file.write(Data(bytesNoCopy: UnsafeMutableRawPointer(mutating: $0.baseAddress!), count: count * 2, deallocator: .none)) }
            remaining -= count
        }
        return offset
    }
}

/// bf16 values distributed like a trained LLaMA's weights (normal, σ = 0.02), drawn from a table so that
/// generating 13.5 GB is limited by the disk rather than by the random number generator.
final class NormalBF16Generator: @unchecked Sendable {
    // @unchecked: the table is immutable; `state` is only touched by the one thread that writes the checkpoint.
    private let table: [UInt16]
    private var state: UInt64 = 0x9E37_79B9_7F4A_7C15

    init(sigma: Float = 0.02) {
        var seed: UInt64 = 0xB1A5
        func uniform() -> Float {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return (Float(seed >> 40) + 0.5) / Float(1 << 24)
        }
        table = (0..<65536).map { _ in
            let value = sigma * (-2 * log(uniform())).squareRoot() * cos(2 * .pi * uniform())
            return UInt16(truncatingIfNeeded: (value.bitPattern &+ 0x7FFF &+ ((value.bitPattern >> 16) & 1)) >> 16)
        }
    }

    func fill(_ values: UnsafeMutableBufferPointer<UInt16>) {
        var index = 0
        while index < values.count {
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            var bits = state
            for _ in 0..<4 where index < values.count {
                values[index] = table[Int(bits & 0xFFFF)]
                bits >>= 16
                index += 1
            }
        }
    }
}
