import CPandaKernels

extension ThreadPool {
    /// Each of `rows` rows of `weight.count` values normalized as `nn.LayerNorm`: (x − mean) / √(variance + eps)
    /// · weight + bias, split across the pool.
    public func layerNorm(_ values: UnsafeMutablePointer<Float>, weight: UnsafeBufferPointer<Float>, bias: UnsafeBufferPointer<Float>, eps: Float, rows: Int) {
        precondition(weight.count == bias.count)
        panda_pool_layer_norm(pool, values, weight.baseAddress, bias.baseAddress, weight.count, eps, rows)
    }

    /// values[row] = GELU(values[row] + bias) for `rows` rows of `bias.count` values, with the exact erf
    /// (PyTorch's `nn.GELU()`), split across the pool.
    public func biasGELU(_ values: UnsafeMutablePointer<Float>, bias: UnsafeBufferPointer<Float>, rows: Int) {
        panda_pool_bias_gelu(pool, values, bias.baseAddress, bias.count, rows)
    }

    /// Each of `rows` rows of `columns` scores replaced by its softmax; scores of -inf (a mask) become 0.
    public func softmax(_ scores: UnsafeMutablePointer<Float>, columns: Int, rows: Int) {
        panda_pool_softmax(pool, scores, columns, rows)
    }

    /// The softmax of `rows` rows of attention scores under a causal mask: row r belongs to the query at position
    /// `first + r` and keeps columns 0…first + r; later columns (later keys) become 0.
    public func causalSoftmax(_ scores: UnsafeMutablePointer<Float>, columns: Int, rows: Int, first: Int = 0) {
        Softmax.maskLaterKeys(scores, columns: columns, rows: rows, first: first)
        softmax(scores, columns: columns, rows: rows)
    }

    /// gate = SiLU(gate) · up element-wise, for `rows` rows of `width` values in each (LLaMA's MLP:
    /// `act_fn(gate_proj(x)) * up_proj(x)` with SiLU x / (1 + e⁻ˣ)), split across the pool.
    public func siluGate(_ gate: UnsafeMutablePointer<Float>, up: UnsafePointer<Float>, width: Int, rows: Int) {
        panda_pool_silu_gate(pool, gate, up, width, rows)
    }
}

/// Softmax on the calling thread alone, for bodies of `ThreadPool.forEach` that each own a matrix of scores.
public enum Softmax {
    /// As `ThreadPool.softmax`, or `ThreadPool.causalSoftmax` from position 0 when `causal`.
    public static func apply(_ scores: UnsafeMutablePointer<Float>, columns: Int, rows: Int, causal: Bool) {
        if causal { maskLaterKeys(scores, columns: columns, rows: rows, first: 0) }
        panda_softmax(scores, columns, 0, rows)
    }

    static func maskLaterKeys(_ scores: UnsafeMutablePointer<Float>, columns: Int, rows: Int, first: Int) {
        for row in 0..<rows {
            let visible = min(first + row + 1, columns)
            (scores + row * columns + visible).update(repeating: -.infinity, count: columns - visible)
        }
    }
}
