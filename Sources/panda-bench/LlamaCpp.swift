import ArgumentParser
import Foundation

/// llama.cpp as a peer: its own converter and tools, from a source tree built with cmake into build/bin.
struct LlamaCpp {
    /// The source directory (with convert_hf_to_gguf.py and gguf-py).
    let source: String
    /// A Python with torch, numpy and sentencepiece for the converter.
    let python: String

    var bin: String { (source as NSString).appendingPathComponent("build/bin") }

    func tool(_ name: String) -> String { (bin as NSString).appendingPathComponent(name) }

    /// A GGUF of a Hugging Face checkpoint in `dtype` (bf16, f16, q8_0 by the converter; q4_0 by llama-quantize).
    func makeGGUF(from checkpoint: String, dtype: String, to output: String) throws {
        let script = (source as NSString).appendingPathComponent("convert_hf_to_gguf.py")
        let environment = ["PYTHONPATH": (source as NSString).appendingPathComponent("gguf-py")]
        if dtype == "q4_0" {
            let intermediate = output + ".bf16"
            defer { try? FileManager.default.removeItem(atPath: intermediate) }
            try ChildProcess.check(ChildProcess.run([python, script, checkpoint, "--outtype", "bf16", "--outfile", intermediate], environment: environment, quietly: true), "convert_hf_to_gguf.py")
            try ChildProcess.check(ChildProcess.run([tool("llama-quantize"), intermediate, output, "q4_0"], quietly: true), "llama-quantize")
        } else {
            try ChildProcess.check(ChildProcess.run([python, script, checkpoint, "--outtype", dtype, "--outfile", output], environment: environment, quietly: true), "convert_hf_to_gguf.py")
        }
    }
}
