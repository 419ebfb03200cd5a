import ArgumentParser
import Foundation
import PandaFormat

/// How far quantized weights are from the originals, tensor class by tensor class.
struct QuantizationReport: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "quantization",
        abstract: "Round-trip error of a quantized .panda file against an f32 conversion of the same checkpoint.",
        discussion: """
            Example:
              panda-convert convert llama/ -o f32.panda --dtype f32
              panda-convert convert llama/ -o q4.panda --dtype q4_0
              panda-bench quantization f32.panda q4.panda
            """)

    @Argument(help: "The f32 conversion.")
    var reference: String

    @Argument(help: "The quantized conversion(s).", transform: { $0 })
    var quantized: [String]

    func run() throws {
        let exact = try WeightFile(path: reference)
        print("| file | tensors | dtype | elements | relative RMS error | max |error| / RMS(x) |")
        print("|---|---|---|---:|---:|---:|")
        for path in quantized {
            let file = try WeightFile(path: path)
            // Group by the tensor's role, the name with layer numbers removed.
            var groups: [String: (dtype: DType, count: Int, squaredError: Double, squaredValue: Double, maxError: Double)] = [:]
            for tensor in file.tensors where tensor.dtype.isQuantized {
                let original = try exact.floats(tensor.name)
                let restored = try file.floats(tensor.name)
                let role = tensor.name.replacing(/\.\d+\./, with: ".N.")
                var group = groups[role] ?? (tensor.dtype, 0, 0, 0, 0)
                for (x, y) in zip(original, restored) {
                    let error = Double(x) - Double(y)
                    group.squaredError += error * error
                    group.squaredValue += Double(x) * Double(x)
                    group.maxError = max(group.maxError, abs(error))
                }
                group.count += original.count
                groups[role] = group
            }
            for (role, group) in groups.sorted(by: { $0.key < $1.key }) {
                let rms = (group.squaredValue / Double(group.count)).squareRoot()
                print(String(format: "| %@ | `%@` | %@ | %d | %.4f | %.3f |", (path as NSString).lastPathComponent, role, group.dtype.description,
                             group.count, (group.squaredError / group.squaredValue).squareRoot(), group.maxError / rms))
            }
        }
    }
}
