import PandaConvert

extension Recipes {
    /// PandaGPT's delta `pytorch_model.pt`: the trainable parameters of its model, saved by name — the projection
    /// from ImageBind's 1024-d embedding into the decoder (with bias) and PEFT LoRA factors on q/k/v/o.
    /// LoRA keys are stored under the decoder's own names (`model.layers.N.self_attn.q_proj.lora_A.weight`), so
    /// the decoder finds them beside the weights they adapt. The checkpoint does not record alpha: it comes from
    /// `--lora-alpha` (PandaGPT trained with 32).
    public static let pandagptDelta = Recipe(
        name: "pandagpt-delta",
        family: "pandagpt-delta",
        summary: "PandaGPT delta pytorch_model.pt: llama_proj + LoRA (r from shapes, alpha from --lora-alpha, default 32)",
        signature: ["llama_proj.weight"],
        // peft ≥ 0.3 names adapters ("default"); earlier versions do not.
        aliases: [".lora_A.default.weight": ".lora_A.weight", ".lora_B.default.weight": ".lora_B.weight"],
        tensors: [
            .required("llama_proj.weight", .adapter, shape: ["hidden_size", "imagebind_dim"]),
            .required("llama_proj.bias", .adapter, shape: ["hidden_size"]),
            .required(
                "llama_model.base_model.model.model.layers.{layer}.self_attn.{projection:q_proj|k_proj|v_proj|o_proj}.lora_A.weight",
                .adapter, shape: ["lora_r", "hidden_size"], as: "model.layers.{layer}.self_attn.{projection}.lora_A.weight"),
            .required(
                "llama_model.base_model.model.model.layers.{layer}.self_attn.{projection:q_proj|k_proj|v_proj|o_proj}.lora_B.weight",
                .adapter, shape: ["hidden_size", "lora_r"], as: "model.layers.{layer}.self_attn.{projection}.lora_B.weight"),
        ],
        config: [
            "hidden_size": .dimension(of: "llama_proj.weight", axis: 0),
            "imagebind_dim": .dimension(of: "llama_proj.weight", axis: 1),
            "num_hidden_layers": .count(of: "llama_model.base_model.model.model.layers.{layer}.self_attn.q_proj.lora_A.weight", placeholder: "layer"),
            "lora_r": .dimension(of: "llama_model.base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight", axis: 0),
            "lora_alpha": .given("lora_alpha", otherwise: .integer(32)),
            "target_modules": .text("q_proj,k_proj,v_proj,o_proj"),
        ])
}
