import ArgumentParser
import Foundation
import PandaConvert
import PandaFormat
import PandaRecipes

struct Convert: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Convert PyTorch or safetensors checkpoints into one .panda file.",
        discussion: """
            INPUTs are checkpoint files (.pth, .pt, .bin, .safetensors), Hugging Face shard indexes (*.index.json), \
            directories holding either, and side files such as tokenizer.model or config.json (files found beside \
            the checkpoints in a directory are picked up too). Pickled checkpoints are read without running any \
            code: only what a state_dict needs is understood, anything else is refused by name.

            The recipe (see `panda-convert recipes`) is detected from the tensor names unless --recipe is given. \
            Every unknown and every missing key is reported at once, and the configuration inferred from the \
            shapes is checked against config.json and the command line.

            Stored dtypes: --dtype sets the dtype of the linear layers' weights; token embeddings and the output \
            head follow it, or use q8_0 when it is a 4- or 8-bit type; norms, biases, position embeddings, \
            class tokens, PandaGPT's projection and LoRA factors stay f32; convolution kernels follow a float \
            --dtype. Without --dtype every tensor keeps its checkpoint dtype (f64 becomes f32). Quantized \
            matrices other than the embedding are stored with 8 rows interleaved (q4_0x8, q8_0x8; docs/format.md).

            Examples:
              panda-convert convert vicuna-7b/ -o Weights/vicuna-7b-q4_0.panda --dtype q4_0
              panda-convert convert --recipe imagebind-huge imagebind_huge.pth bpe_simple_vocab_16e6.txt.gz -o Weights/imagebind-huge.panda
              panda-convert convert pandagpt_7b_max_len_1024/pytorch_model.pt --lora-alpha 32 -o Weights/pandagpt-7b-delta.panda
              panda-convert convert vicuna-7b/ --merge-lora pandagpt_7b_max_len_1024/pytorch_model.pt -o Weights/pandagpt-7b.panda
              panda-convert convert --dry-run vicuna-7b/ -o /dev/null
            """)

    @Argument(help: "Checkpoint files, shard indexes, directories and side files.")
    var inputs: [String]

    @Option(name: .shortAndLong, help: "The .panda file to write (replaced atomically when it exists).")
    var output: String

    @Option(help: "Recipe name (default: detected from the tensor names).")
    var recipe: String?

    /// The dtypes a conversion can store linear weights in.
    enum TargetDType: String, ExpressibleByArgument, CaseIterable {
        case f32, f16, bf16, q8_0, q4_0
        var dtype: DType { DType(name: rawValue)! }
    }

    @Option(help: "Stored dtype of linear weights (quantized matrices are written with 8 rows interleaved, as q8_0x8 or q4_0x8, the layout the decoder's kernels read).")
    var dtype: TargetDType?

    @Flag(help: "Store tensors as zstd chunks (byte-plane shuffled for 16- and 32-bit dtypes) instead of raw.")
    var compress = false

    @Option(name: .customLong("lora-alpha"), help: "LoRA alpha of a PandaGPT delta, which its .pt does not record (PandaGPT: 32).")
    var loraAlpha: Double?

    @Option(name: .customLong("lora-r"), help: "Expected LoRA rank; checked against the tensor shapes.")
    var loraRank: Int?

    @Option(
        name: .customLong("merge-lora"), parsing: .singleValue,
        help: ArgumentHelp("A PandaGPT delta (pytorch_model.pt) to fold into the decoder: W + (alpha/r)·B·A, in f32, then stored in the target dtype; its llama_proj is written too.", valueName: "delta"))
    var mergeLoRA: [String] = []

    @Flag(name: .customLong("dry-run"), help: "Print the plan (tensors, dtypes, output size) and write nothing.")
    var dryRun = false

    @Flag(name: .shortAndLong, help: "No progress bar and no summary.")
    var quiet = false

    func validate() throws {
        if let loraAlpha, loraAlpha <= 0 { throw ValidationError("--lora-alpha must be positive") }
        if let loraRank, loraRank <= 0 { throw ValidationError("--lora-r must be positive") }
    }

    func run() throws {
        let gathered = try ConversionInputs.gather(inputs)
        let chosen = try recipe.map(Recipes.named) ?? Recipes.detect(gathered)
        var settings: [String: JSONValue] = [:]
        if let loraAlpha { settings["lora_alpha"] = loraAlpha == loraAlpha.rounded() ? .int(Int(loraAlpha)) : .double(loraAlpha) }
        if let loraRank { settings["lora_r"] = .int(loraRank) }
        let options = ConversionOptions(dtype: dtype?.dtype, compress: compress, settings: settings)
        var plan = try ConversionPlan(recipe: chosen, inputs: gathered, options: options)
        if !mergeLoRA.isEmpty {
            let delta = try ConversionPlan(recipe: Recipes.pandagptDelta, inputs: ConversionInputs.gather(mergeLoRA), options: options)
            try plan.mergeLoRA(from: delta)
        }

        if dryRun {
            print(describe(plan), terminator: "")
            return
        }
        let progress = ProgressBar(label: "converting", total: plan.inputBytes, enabled: !quiet)
        let summary = try Converter.run(plan, to: output) { done, _ in progress.update(done) }
        progress.finish()
        if !quiet {
            let rate = Double(summary.inputBytes) / max(summary.seconds, 1e-9)
            print(
                "wrote \(output): recipe \(chosen.name), \(summary.tensors) tensors, \(ByteCount(summary.inputBytes)) in → "
                    + "\(ByteCount(summary.fileBytes)) out (ratio \(String(format: "%.3f", Double(summary.fileBytes) / Double(max(summary.inputBytes, 1))))), "
                    + "\(String(format: "%.2f", summary.seconds)) s, \(ByteCount(Int(rate)))/s")
            if !plan.ignored.isEmpty { print("dropped \(plan.ignored.count) tensor(s) the recipe ignores, e.g. \(plan.ignored[0])") }
            if !gathered.nonTensorKeys.isEmpty { print("skipped non-tensor entries: \(gathered.nonTensorKeys.joined(separator: ", "))") }
        }
    }

    private func describe(_ plan: ConversionPlan) -> String {
        var out = "recipe      \(plan.recipe.name) → family \(plan.recipe.family)\n"
        out += "inputs      \(plan.inputs.files.count) checkpoint file(s), \(ByteCount(plan.inputBytes)) of tensors used\n"
        for (role, path) in plan.tokenizers.sorted(by: { $0.key < $1.key }) { out += "tokenizer   \(role): \(path)\n" }
        out += "config      \(plan.config)\n"
        if !plan.ignored.isEmpty { out += "ignored     \(plan.ignored.count) tensor(s), e.g. \(plan.ignored[0])\n" }
        out += "\n"
        let rows = plan.tensors.map { tensor in
            [
                tensor.target, "\(tensor.source.dtype) → \(tensor.dtype)", tensor.source.shape.map(String.init).joined(separator: "×"),
                tensor.tensorClass.rawValue, ByteCount(tensor.outputBytes).description,
            ]
        }
        out += Table(header: ["tensor", "dtype", "shape", "class", "size"], rows: rows).rendered
        out += "\n\(plan.tensors.count) tensors, \(ByteCount(plan.outputBytes)) of tensor data would be written to \(output)"
        out += plan.options.compress ? " (before compression)\n" : "\n"
        return out
    }
}

struct ListRecipes: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "recipes", abstract: "List the conversion recipes.")

    func run() {
        print(Table(header: ["recipe", "family", "what it converts"], rows: Recipes.all.map { [$0.name, $0.family, $0.summary] }).rendered, terminator: "")
    }
}
