import Foundation
import PandaConvert
import PandaTestSupport

/// Expected tensors written beside the checkpoints by Converters/reference/make_checkpoint_cases.py.
struct ExpectedTensor: Decodable {
    var dtype: String
    var shape: [Int]
    var values: [Double]
}

func expectedCheckpointTensors() throws -> [String: ExpectedTensor] {
    try JSONDecoder().decode(
        [String: ExpectedTensor].self, from: Data(contentsOf: URL(fileURLWithPath: fixture("checkpoints/state.expected.json"))))
}

extension SourceTensor {
    /// Every element, widened to Float in row-major order.
    var allFloats: [Float] {
        [Float](unsafeUninitializedCapacity: elementCount) { buffer, initialized in
            readFloats(from: 0, count: elementCount, into: buffer.baseAddress!)
            initialized = elementCount
        }
    }
}
