import Foundation
import PandaConvert
import PandaFormat
import PandaTestSupport
import Testing

/// q8_0 and q4_0 conversions of the reference LLaMA, element by element against its f32 conversion.
@Suite("Quantized conversion of the reference LLaMA")
struct QuantizationTests {
    /// q8_0 rounds x/d to the nearest of ±127 steps: |x − x̂| ≤ d/2, plus what storing d in f16 adds (≤ 127·d·2⁻¹¹).
    /// q4_0 has steps −8…7 with d = (the element of largest magnitude)/−8, so values of the other sign beyond
    /// 7.5·|d| clamp at 7·|d|: |x − x̂| ≤ |d| there, d/2 elsewhere.
    @Test("every quantized element is within GGML's bound for its block (q8_0: 0.6·d, q4_0: 1.05·|d|)",
          arguments: [(DType.q8_0, Float(0.6)), (.q4_0, Float(1.05))])
    func quantizedWithinBound(dtype: DType, boundInScales: Float) throws {
        let directory = TemporaryDirectory()
        let exact = try WeightFile(path: Reference.convert(["llama/hf-bin", "llama/tokenizer.model"], recipe: "llama", dtype: .f32, into: directory, name: "f32.panda"))
        let quantized = try WeightFile(path: Reference.convert(["llama/hf-bin", "llama/tokenizer.model"], recipe: "llama", dtype: dtype, into: directory, name: "q.panda"))
        var checked = 0
        for tensor in quantized.tensors {
            let original = try exact.floats(tensor.name)
            let restored = try quantized.floats(tensor.name)
            #expect(original.count == restored.count)
            guard tensor.dtype.isQuantized else {
                #expect(original == restored, "\(tensor.name) is \(tensor.dtype) and must be unchanged")
                continue
            }
            checked += 1
            let blocks = try quantized.bytes(tensor.name).array
            let blocksPerRow = tensor.shape.last! / 32
            for block in 0..<(original.count / 32) {
                // Interleaved (docs/format.md): per group of 8 rows and block column, the 8 rows' scales come first.
                let (row, column) = (block / blocksPerRow, block % blocksPerRow)
                let scaleOffset = tensor.dtype.rowGroup > 1
                    ? ((row / 8) * blocksPerRow + column) * 8 * tensor.dtype.blockBytes + 2 * (row % 8)
                    : block * tensor.dtype.blockBytes
                let scaleBits = UInt16(blocks[scaleOffset]) | UInt16(blocks[scaleOffset + 1]) << 8
                let scale = abs(Float(Float16(bitPattern: scaleBits)))
                for i in (block * 32)..<(block * 32 + 32) where abs(original[i] - restored[i]) > boundInScales * scale + 1e-12 {
                    Issue.record("\(tensor.name)[\(i)]: \(original[i]) → \(restored[i]) with block scale \(scale)")
                    return
                }
            }
        }
        // Linear weights (7 per layer) are quantized; the embedding and head go to q8_0 under either dtype.
        #expect(checked == 2 * 7 + 2)
    }
}
