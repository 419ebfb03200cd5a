import ArgumentParser
import Foundation
import PandaFormat
import PandaKernels
import PandaMedia
import PandaModels

/// ImageBind huge (random weights) against PyTorch eager in the same run: vision images/s and audio clips/s at
/// batch 1 and 8, same inputs, same thread count; load time and peak resident memory of each.
struct ImageBindBenchmark: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "imagebind",
        abstract: "ImageBind huge encoders against PyTorch f32 and bf16: images/s and audio clips/s at batch 1 and 8.",
        discussion: """
            Needs the reference Python environment (Converters/reference/requirements.txt). The random checkpoint \
            (4.5 GB) and inputs are made once in --directory by Converters/reference/bench_imagebind.py; each \
            --dtype is converted with panda-convert and measured in a child process, as PyTorch is.

            Example:
              swift build -c release --product panda-convert
              swift run -c release panda-bench imagebind --python ~/.cache/panda/refenv/bin/python --directory /tmp/ib-huge
            """)

    @Option(help: "Python with the reference environment.")
    var python = "python3"

    @Option(help: "Where the checkpoint, inputs and converted files live (kept between runs).")
    var directory: String

    @Option(help: "Threads for both (PyTorch's set_num_threads, Panda's pool and OpenBLAS).")
    var threads = ProcessInfo.processInfo.activeProcessorCount

    @Option(help: "Timed passes per measurement (the best is reported), after one warm-up.")
    var repeats = 2

    @Option(parsing: .upToNextOption, help: "Panda dtypes (stored weights) to measure.")
    var dtypes = ["f32"]

    @Option(parsing: .upToNextOption, help: "Precisions of ImageBind's products to measure on each dtype (f32, bf16, int8).")
    var precisions: [EncoderPrecision] = [.f32, .bf16, .int8]

    func run() throws {
        let tool = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../Converters/reference/bench_imagebind.py").standardizedFileURL.path
        let checkpoint = (directory as NSString).appendingPathComponent("imagebind_huge.pth")
        if !FileManager.default.fileExists(atPath: checkpoint) {
            print("Making a random ImageBind huge checkpoint and inputs in \(directory) …")
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            guard try ChildProcess.run([python, script, "make", directory]).status == 0 else { throw ValidationError("bench_imagebind.py make failed") }
        }
        var peers: [(String, [String: Double], Int)] = []
        for torchDType in ["f32", "bf16"] {
            print("PyTorch \(torchDType), \(threads) thread(s) …")
            let torchOutput = (directory as NSString).appendingPathComponent("torch-\(torchDType).json")
            let torchRun = try ChildProcess.run([python, script, "run", directory, String(threads), String(repeats), torchDType], standardOutput: torchOutput)
            guard torchRun.status == 0, let torch = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: torchOutput))) as? [String: Any] else {
                throw ValidationError("bench_imagebind.py run failed for \(torchDType)")
            }
            peers.append(("PyTorch \(torch["torch"] as? String ?? "") \(torchDType == "f32" ? "eager f32" : "bf16 (model.to(torch.bfloat16))")", torch.compactMapValues { $0 as? Double }, torchRun.peakResidentBytes))
        }
        var rows: [(String, [String: Double], Int)] = []
        for dtype in dtypes {
            let model = (directory as NSString).appendingPathComponent("imagebind-huge-\(dtype).panda")
            if !FileManager.default.fileExists(atPath: model) {
                print("Converting to \(dtype) …")
                let convert = [tool.appendingPathComponent("panda-convert").path, "convert", checkpoint, (directory as NSString).appendingPathComponent("bpe_simple_vocab_16e6.txt.gz"),
                               "--recipe", "imagebind-huge", "-o", model] + (dtype == "f32" ? [] : ["--dtype", dtype])
                guard try ChildProcess.run(convert, quietly: true).status == 0 else { throw ValidationError("panda-convert failed for \(dtype)") }
            }
            for precision in precisions {
                print("Panda \(dtype) weights, \(precision) products, \(threads) thread(s) …")
                let output = (directory as NSString).appendingPathComponent("panda-\(dtype)-\(precision).json")
                let worker = try ChildProcess.run(
                    [CommandLine.arguments[0], "imagebind-worker", "--model", model, "--directory", directory, "--threads", String(threads), "--repeats", String(repeats),
                     "--precision", precision.rawValue],
                    standardOutput: output)
                guard worker.status == 0, let result = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: output))) as? [String: Double] else {
                    throw ValidationError("the Panda worker failed for \(dtype) \(precision)")
                }
                rows.append(("Panda \(dtype) weights, \(precision)", result, worker.peakResidentBytes))
            }
        }
        print("\nCPU: \(KernelPath.summary); oneDNN \(OneDNN.version) \(OneDNN.instructionSet); OpenBLAS \(OpenBLASCore.name)")
        print("Panda's figures: per second (× PyTorch f32, × PyTorch bf16).\n")
        print("| | images/s b1 | images/s b8 | audio clips/s b1 | audio clips/s b8 | load s | peak RSS GB | lowest cosine to PyTorch f32 |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|")
        let keys = ["vision_batch1_per_second", "vision_batch8_per_second", "audio_batch1_per_second", "audio_batch8_per_second"]
        let (f32Peer, bf16Peer) = (peers[0].1, peers[1].1)
        for (name, result, peak) in peers + rows {
            let speeds = keys.map { key -> String in
                let value = result[key] ?? 0
                return name.hasPrefix("PyTorch") ? String(format: "%.2f", value)
                    : String(format: "%.2f (%.2f×, %.2f×)", value, value / (f32Peer[key] ?? 1), value / (bf16Peer[key] ?? 1))
            }
            let cosine = result["lowest_cosine"].map { String(format: "%.6f", $0) } ?? "—"
            let packing = result["vision_packing_seconds"].map { String(format: " (+ %.1f packing vision, %.1f audio)", $0, result["audio_packing_seconds"] ?? 0) } ?? ""
            print("| \(name) | " + speeds.joined(separator: " | ") + String(format: " | %.1f", result["load_seconds"] ?? 0) + packing
                + String(format: " | %.2f | ", Double(peak) / 1e9) + cosine + " |")
        }
    }
}

/// One dtype's measurement, in its own process so its peak memory is its own.
struct ImageBindWorker: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "imagebind-worker", abstract: "Used by `panda-bench imagebind`.", shouldDisplay: false)

    @Option var model: String
    @Option var directory: String
    @Option var threads: Int
    @Option var repeats: Int
    @Option var precision: EncoderPrecision = .f32

    func run() throws {
        BLAS.threadCount = threads
        let start = Date()
        let imagebind = try ImageBind(path: model, threads: threads, precision: precision)
        var result: [String: Double] = ["load_seconds": Date().timeIntervalSince(start)]
        var difference: Float = 0, lowestCosine = 1.0
        for (name, perItem) in [("vision", 1), ("audio", 3)] {
            let packing = Date()
            try imagebind.prepare(name == "vision" ? .vision : .audio)
            result["\(name)_packing_seconds"] = Date().timeIntervalSince(packing)
            let inputs = try NPYArray(path: (directory as NSString).appendingPathComponent("inputs/\(name).npy"))
            let itemSize = inputs.values.count / inputs.shape[0]
            for batch in [1, 8] {
                let tensor = FloatTensor(shape: [batch] + inputs.shape.dropFirst(), values: Array(inputs.values.prefix(batch * itemSize)))
                let input: ModalityInput = name == "vision" ? .vision(tensor) : .audio(tensor)
                var output = try imagebind.embed(input)  // warm-up (and, for bf16 and int8, the packing of the weights)
                var best = Double.infinity
                for _ in 0..<repeats {
                    let passStart = Date()
                    output = try imagebind.embed(input)
                    best = min(best, Date().timeIntervalSince(passStart))
                }
                result["\(name)_batch\(batch)_per_second"] = Double(batch * perItem) / best
                let reference = try NPYArray(path: (directory as NSString).appendingPathComponent("torch_\(name)_batch\(batch).npy"))
                let width = reference.values.count / batch
                let expected = (0..<batch).map { Array(reference.values[($0 * width)..<(($0 + 1) * width)]) }
                let cosines = EmbeddingSpace.cosineSimilarity(output, expected)
                for index in output.indices { lowestCosine = min(lowestCosine, Double(cosines[index][index])) }
                for (a, b) in zip(output.flatMap { $0 }, reference.values) {
                    // max() would pass over a NaN and report the other values' difference.
                    guard !a.isNaN else { throw ValidationError("Panda's \(name) embeddings at batch \(batch) contain NaN") }
                    difference = max(difference, abs(a - b))
                }
            }
        }
        result["max_abs_difference"] = Double(difference)
        result["lowest_cosine"] = lowestCosine
        print(String(decoding: try JSONSerialization.data(withJSONObject: result, options: [.sortedKeys]), as: UTF8.self))
    }
}

extension EncoderPrecision: ExpressibleByArgument {}
