import PandaConvert

extension Recipes {
    /// LLaMA-1 and Vicuna (v0: vocabulary 32001) in Hugging Face layout. The q/k projections are already permuted
    /// for `rotate_half` rotary embeddings by Hugging Face's conversion script, so they are kept as they are.
    public static let llama = Recipe(
        name: "llama",
        family: "llama",
        summary: "LLaMA-1 / Vicuna decoders in Hugging Face layout (.bin or .safetensors shards, tokenizer.model)",
        signature: ["model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight", "lm_head.weight"],
        tensors: [
            .required("model.embed_tokens.weight", .embedding, shape: ["vocab_size", "hidden_size"]),
            .required("model.layers.{layer}.input_layernorm.weight", .small, shape: ["hidden_size"]),
            .required(
                "model.layers.{layer}.self_attn.{projection:q_proj|k_proj|v_proj|o_proj}.weight", .linear,
                shape: ["hidden_size", "hidden_size"]),
            // A buffer of LLaMA-1-era checkpoints, recomputed from rope_theta at load time.
            .ignored("model.layers.{layer}.self_attn.rotary_emb.inv_freq"),
            .required("model.layers.{layer}.post_attention_layernorm.weight", .small, shape: ["hidden_size"]),
            .required("model.layers.{layer}.mlp.{projection:gate_proj|up_proj}.weight", .linear, shape: ["intermediate_size", "hidden_size"]),
            .required("model.layers.{layer}.mlp.down_proj.weight", .linear, shape: ["hidden_size", "intermediate_size"]),
            .required("model.norm.weight", .small, shape: ["hidden_size"]),
            .required("lm_head.weight", .outputHead, shape: ["vocab_size", "hidden_size"]),
        ],
        files: [.tokenizer("tokenizer.model", role: "sentencepiece"), .configuration()],
        config: [
            "vocab_size": .dimension(of: "model.embed_tokens.weight", axis: 0),
            "hidden_size": .dimension(of: "model.embed_tokens.weight", axis: 1),
            "intermediate_size": .dimension(of: "model.layers.0.mlp.gate_proj.weight", axis: 0),
            "num_hidden_layers": .count(of: "model.layers.{layer}.input_layernorm.weight", placeholder: "layer"),
            // Not visible in any shape: LLaMA-1's heads are 128 wide.
            "num_attention_heads": .given("num_attention_heads", otherwise: .quotient("hidden_size", by: 128)),
            "rms_norm_eps": .given("rms_norm_eps", otherwise: .number(1e-6)),
            "rope_theta": .given("rope_theta", otherwise: .number(10_000)),
            "max_position_embeddings": .given("max_position_embeddings", otherwise: .integer(2048)),
            "bos_token_id": .given("bos_token_id", otherwise: .integer(1)),
            "eos_token_id": .given("eos_token_id", otherwise: .integer(2)),
        ],
        checks: [.splitsEvenly(width: "hidden_size", into: "num_attention_heads"), .tokenizerFits(role: "sentencepiece", vocabulary: "vocab_size")])
}
