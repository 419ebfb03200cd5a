import ArgumentParser
import Foundation
import PandaJobs
import PandaModels

struct RunJob: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a YAML job: cells over folders of media (the default subcommand).",
        discussion: """
            Items flow through the job's cells; each finished item is committed to <output>/.panda/records.jsonl, \
            so an interrupted run resumes where it stopped, and model results are cached by content, so rerunning \
            an unchanged job does no model work and editing one prompt reruns only that prompt's cell. A broken \
            file becomes an error record and the run goes on. docs/jobs.md documents every field.

            Exit status: 0 when every item succeeded, 2 when some items failed (their records say why), 1 when \
            the job could not run.

            Sharding: --shard i/N runs the items whose id hashes to i; Slurm job arrays and Kubernetes Indexed Jobs \
            set it from SLURM_ARRAY_TASK_ID/SLURM_ARRAY_TASK_COUNT or JOB_COMPLETION_INDEX (with --shard-count). \
            Then `panda-run merge JOB` writes the combined outputs.

            Examples:
              panda-run Jobs/story.yaml
              panda-run run Jobs/caption.yaml --progress json
              panda-run Jobs/caption.yaml --shard 0/4
              panda-run merge Jobs/caption.yaml
            """)

    @Argument(help: "The job file.")
    var job: String

    @Option(name: .shortAndLong, help: "Write outputs to this folder instead of the job's 'output'.")
    var output: String?

    @Option(help: "Run one share of the items: i/N with 0 ≤ i < N.")
    var shard: String?

    @Option(name: .customLong("shard-count"), help: "The number of shards for a Kubernetes Indexed Job (JOB_COMPLETION_INDEX gives the index).")
    var shardCount: Int?

    @Flag(name: .customLong("retry-failed"), help: "Run the items that failed last time again (otherwise they are kept as failed).")
    var retryFailed = false

    @Flag(help: "No progress: only failed items, a stop, and errors that stop the job.")
    var quiet = false

    @Option(name: .customLong("set"), help: ArgumentHelp("Give a job parameter another number for this run (repeatable).", valueName: "name=value"))
    var assignments: [String] = []

    @Option(help: "Run only the first N items (after --shard), to try a job on a big archive.")
    var limit: Int?

    @Option(help: ArgumentHelp("Run only these cells (comma-separated) and the cells they need.", valueName: "a,b"))
    var cells: String?

    @Option(help: "Progress on stderr: bar (for people) or json (one object per event, for schedulers).")
    var progress: RunOptions.Progress = .bar

    @Option(name: .shortAndLong, help: "Threads for the kernels (default: all cores).")
    var threads: Int?

    @Option(name: .customLong("batch-size"), help: "Items that go through the cells together (encoder batches, crash isolation).")
    var batchSize = 8

    @Option(name: .customLong("decode-batch"), help: "Answers a generate cell decodes together, unless the cell sets batch: (default: 8, fewer if their KV cache would pass a quarter of memory).")
    var decodeBatch: Int?

    @OptionGroup var encoder: EncoderOptions

    @OptionGroup var limits: ImageLimitOptions

    func validate() throws {
        if let shard, Shard(shard) == nil { throw ValidationError("--shard must be i/N with 0 ≤ i < N, not '\(shard)'") }
        guard batchSize > 0 else { throw ValidationError("--batch-size must be positive") }
        if let decodeBatch, !(1...256).contains(decodeBatch) { throw ValidationError("--decode-batch must be between 1 and 256") }
        if let limit, limit < 1 { throw ValidationError("--limit must be positive") }
    }

    func run() throws {
        var options = RunOptions()
        options.shard = shard.flatMap(Shard.init) ?? Shard.fromEnvironment(ProcessInfo.processInfo.environment, kubernetesCount: shardCount)
        options.retryFailed = retryFailed
        options.progress = quiet ? .quiet : progress
        options.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
        options.batchSize = batchSize
        options.decodeBatch = decodeBatch
        options.precision = encoder.precision
        options.limit = limit
        options.cells = cells.map { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
        options.stop = StopRequest.install { signal in
            guard !quiet else { return }
            let again = signal == SIGINT ? "; Ctrl-C again to quit at once" : ""
            FileHandle.standardError.write(Data("\nstopping: finishing the item in flight and writing the outputs\(again)\n".utf8))
        }
        limits.apply()
        let summary = try JobRunner(plan: plannedJob(job, output: output, setting: assignments), options: options).run()
        if let signal = summary.interruptedBy { throw ExitCode(128 + signal) }
        if summary.failed > 0 { throw ExitCode(2) }
    }
}

extension RunOptions.Progress: ExpressibleByArgument {}

/// Reads and checks a job file, with `--output` (if given) in place of the job's output folder and `--set`
/// parameters applied.
func plannedJob(_ path: String, output: String? = nil, setting assignments: [String] = []) throws -> JobPlan {
    var file = try JobFile.load(path: path)
    if let output { file.output = URL(fileURLWithPath: output).standardizedFileURL.path }
    for assignment in assignments { try file.set(assignment) }
    return try JobPlan(file)
}

struct Validate: ParsableCommand, ReportsErrors {
    static let configuration = CommandConfiguration(
        abstract: "Check a job without running it: fields, references, cycles, types, model and input files.",
        discussion: """
            Prints one line per problem as FILE:LINE:COLUMN: message (with a suggestion for typos) and exits 1, or \
            "ok" with the item count. No model is loaded.

            Example:
              panda-run validate Jobs/caption.yaml
            """)

    @Argument(help: "The job file.")
    var job: String

    var errorStyle: ErrorStyle { .located }

    func run() throws {
        let plan = try plannedJob(job)
        print("ok: \(plan.items.count) items, \(plan.job.cells.count) cells")
    }
}

struct Plan: ParsableCommand, ReportsErrors {
    static let configuration = CommandConfiguration(
        abstract: "Show what a job will do: inputs and item counts, unpaired files, each cell and its work.",
        discussion: """
            Example:
              panda-run plan Jobs/caption.yaml
            """)

    @Argument(help: "The job file.")
    var job: String

    var errorStyle: ErrorStyle { .located }

    func run() throws {
        print(try plannedJob(job).describe())
    }
}

struct Merge: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Combine the records of a sharded job's runs into the outputs of one unsharded run.",
        discussion: """
            Example:
              for i in 0 1 2 3; do panda-run Jobs/caption.yaml --shard $i/4; done
              panda-run merge Jobs/caption.yaml
            """)

    @Argument(help: "The job file.")
    var job: String

    @Option(name: .shortAndLong, help: "The output folder the shards used, if not the job's 'output'.")
    var output: String?

    func run() throws {
        for written in try ShardMerger.merge(plannedJob(job, output: output)) { print("wrote \(written)") }
    }
}
