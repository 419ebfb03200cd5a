import ArgumentParser
import Foundation
import PandaInputs
import PandaMedia
import PandaModels

struct Embed: ParsableCommand, ReportsErrors {
    static let configuration = CommandConfiguration(
        abstract: "Embed media and text with ImageBind and print the embeddings.",
        discussion: """
            Prints one JSON object with a list of embeddings per modality, one per input in the order given \
            (images before videos; both under "vision"): exactly what ImageBind's forward returns — normalized, \
            logit-scaled for audio, depth, thermal, IMU and text, averaged over clips for audio and video.

            A .npy file given for any modality is taken as the already-preprocessed model input: [3,224,224] \
            (image), [1,224,224] (depth, thermal), [6,2000] (IMU), [clips,1,128,204] (audio), each optionally with \
            a leading batch axis, which gives one embedding per row.

            With --format npy, -o names a directory that receives one [N, 1024] float32 array per modality \
            (vision.npy, audio.npy, …).

            Examples:
              panda-run embed -m imagebind-huge.panda --image photo.jpg \\
                --text "a dog" --text "a cat"
              panda-run embed -m imagebind-huge.panda --audio bark.wav \\
                --format npy -o embeddings/
            """)

    @Option(name: [.customShort("m"), .long], help: "ImageBind .panda file (panda-convert --recipe imagebind-huge).")
    var model: String

    @OptionGroup var media: MediaOptions

    @Option(name: .customLong("text"), help: ArgumentHelp("A text to embed (repeatable).", valueName: "text"))
    var texts: [String] = []

    enum Format: String, ExpressibleByArgument, CaseIterable { case json, npy }

    @Option(help: "Output format: json (the default: to stdout or -o FILE; asked for by name, errors come as {\"error\": …} on stdout too) or npy (one file per modality in -o DIRECTORY).")
    var format: Format?

    var errorStyle: ErrorStyle { format == .json ? .json : .prefixed }

    @Option(name: .shortAndLong, help: "Where to write: a file for json, a directory for npy.")
    var output: String?

    @Option(name: .shortAndLong, help: "Threads for the kernels (default: all cores).")
    var threads: Int?

    @OptionGroup var encoder: EncoderOptions

    func validate() throws {
        guard !media.files.isEmpty || !texts.isEmpty else { throw ValidationError("give at least one --image, --video, --audio, --text, --depth, --thermal or --imu") }
        if format == .npy && output == nil { throw ValidationError("--format npy needs -o DIRECTORY") }
    }

    func run() throws {
        let embedder = try Embedder(path: model, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, precision: encoder.precision)
        let prepared = try media.prepared() + texts.map { .text($0) }
        let embeddings = try embedder.embed(prepared)
        var byModality: [String: [[Float]]] = [:]
        var order: [String] = []
        for (input, embedding) in zip(prepared, embeddings) {
            let name = input.kind.modality.rawValue
            if byModality[name] == nil { order.append(name) }
            byModality[name, default: []].append(embedding)
        }
        switch format ?? .json {
        case .json:
            let data = try JSONSerialization.data(withJSONObject: byModality.mapValues { $0.map { $0.map(Double.init) } }, options: [.sortedKeys])
            if let output {
                try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: output))
            } else {
                FileHandle.standardOutput.write(data + Data("\n".utf8))
            }
        case .npy:
            let directory = output!
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            for name in order {
                let rows = byModality[name]!
                let path = (directory as NSString).appendingPathComponent("\(name).npy")
                try NPYArray(shape: [rows.count, rows[0].count], values: rows.flatMap { $0 }).write(to: path)
                FileHandle.standardError.write(Data("wrote \(path) [\(rows.count), \(rows[0].count)]\n".utf8))
            }
        }
    }
}
