import Foundation
import PandaFormat

/// Writes a `.safetensors` file: the test's own, independent writer of the format the converter reads.
public func writeSafetensors(_ path: String, _ tensors: [(name: String, shape: [Int], values: [Float])], dtype: DType = .f32) throws {
    var header: [String: Any] = ["__metadata__": ["format": "pt"]]
    var data = [UInt8]()
    for tensor in tensors {
        var bytes = [UInt8](repeating: 0, count: dtype.byteCount(elements: tensor.values.count)!)
        tensor.values.withUnsafeBufferPointer { source in bytes.withUnsafeMutableBytes { dtype.encode(source.baseAddress!, count: tensor.values.count, into: $0) } }
        header[tensor.name] = ["dtype": dtype == .f32 ? "F32" : dtype == .f16 ? "F16" : "BF16", "shape": tensor.shape, "data_offsets": [data.count, data.count + bytes.count]]
        data += bytes
    }
    var json = try JSONSerialization.data(withJSONObject: header, options: [.sortedKeys])
    while json.count % 8 != 0 { json.append(0x20) }
    var file = Data()
    withUnsafeBytes(of: UInt64(json.count).littleEndian) { file.append(contentsOf: $0) }
    file.append(json)
    file.append(contentsOf: data)
    try file.write(to: URL(fileURLWithPath: path))
}

/// Deterministic values spread over [-scale, scale].
public func pseudoRandom(_ count: Int, seed: Int, scale: Float = 0.1) -> [Float] {
    var state = UInt64(seed) &* 0x9E37_79B9_7F4A_7C15 &+ 1
    return (0..<count).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (Float(state >> 40) / Float(1 << 24) * 2 - 1) * scale
    }
}

/// A SentencePiece tokenizer.model as far as the converter reads it: `pieces` empty pieces (ModelProto field 1).
public func sentencePieceModel(pieces: Int) -> Data { Data(Array(repeating: [UInt8]([0x0A, 0x00]), count: pieces).joined()) }

/// The tensors of a LLaMA in Hugging Face layout with the given sizes.
public func llamaTensors(vocab: Int = 96, hidden: Int = 64, intermediate: Int = 128, layers: Int = 2) -> [(name: String, shape: [Int], values: [Float])] {
    var tensors: [(String, [Int])] = [("model.embed_tokens.weight", [vocab, hidden]), ("model.norm.weight", [hidden]), ("lm_head.weight", [vocab, hidden])]
    for layer in 0..<layers {
        let prefix = "model.layers.\(layer)."
        tensors += ["q_proj", "k_proj", "v_proj", "o_proj"].map { (prefix + "self_attn.\($0).weight", [hidden, hidden]) }
        tensors += [(prefix + "mlp.gate_proj.weight", [intermediate, hidden]), (prefix + "mlp.up_proj.weight", [intermediate, hidden])]
        tensors += [(prefix + "mlp.down_proj.weight", [hidden, intermediate])]
        tensors += [(prefix + "input_layernorm.weight", [hidden]), (prefix + "post_attention_layernorm.weight", [hidden])]
    }
    return tensors.enumerated().map { index, tensor in (tensor.0, tensor.1, pseudoRandom(tensor.1.reduce(1, *), seed: index)) }
}

/// A PandaGPT delta's tensors, with or without peft's `.default.` adapter name.
public func deltaTensors(hidden: Int = 64, imagebind: Int = 32, rank: Int = 8, layers: Int = 2, adapterName: Bool = true) -> [(name: String, shape: [Int], values: [Float])] {
    var tensors: [(String, [Int])] = [("llama_proj.weight", [hidden, imagebind]), ("llama_proj.bias", [hidden])]
    let infix = adapterName ? ".default" : ""
    for layer in 0..<layers {
        for projection in ["q_proj", "k_proj", "v_proj", "o_proj"] {
            let prefix = "llama_model.base_model.model.model.layers.\(layer).self_attn.\(projection)"
            tensors += [("\(prefix).lora_A\(infix).weight", [rank, hidden]), ("\(prefix).lora_B\(infix).weight", [hidden, rank])]
        }
    }
    return tensors.enumerated().map { index, tensor in (tensor.0, tensor.1, pseudoRandom(tensor.1.reduce(1, *), seed: 100 + index)) }
}
