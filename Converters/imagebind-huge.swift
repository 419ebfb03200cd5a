import PandaConvert

extension Recipes {
    /// ImageBind (`imagebind_huge.pth`, a plain state_dict) with its six modality encoders. Key names are kept as
    /// the checkpoint has them, so the model code names the same keys as ImageBind's modules. Widths and depths come
    /// from the shapes; head counts, which no shape shows, from config.json or imagebind_huge()'s values.
    public static let imagebindHuge = Recipe(
        name: "imagebind-huge",
        family: "imagebind",
        summary: "ImageBind state_dict (imagebind_huge.pth) with all six modalities, plus the CLIP BPE vocabulary",
        signature: ["modality_preprocessors.vision.rgbt_stem.proj.1.weight", "modality_trunks.vision.blocks.0.attn.in_proj_weight"],
        tensors: [
            // Preprocessors: stems, class tokens, position embeddings.
            .required("modality_preprocessors.vision.rgbt_stem.proj.1.weight", .convolution, shape: ["vision_embed_dim", 3, "video_frames", 14, 14]),
            .required("modality_preprocessors.{modality:audio|thermal}.rgbt_stem.proj.weight", .convolution, shape: ["{modality}_embed_dim", 1, 16, 16]),
            .required("modality_preprocessors.{modality:audio|thermal}.rgbt_stem.norm_layer.{parameter:weight|bias}", .small, shape: ["{modality}_embed_dim"]),
            .required("modality_preprocessors.depth.depth_stem.proj.weight", .convolution, shape: ["depth_embed_dim", 1, 16, 16]),
            .required("modality_preprocessors.depth.depth_stem.norm_layer.{parameter:weight|bias}", .small, shape: ["depth_embed_dim"]),
            .required("modality_preprocessors.imu.imu_stem.proj.weight", .linear, shape: ["imu_embed_dim", 48]),
            .required("modality_preprocessors.imu.imu_stem.norm_layer.{parameter:weight|bias}", .small, shape: ["imu_embed_dim"]),
            .required("modality_preprocessors.{modality:vision|audio|depth|thermal|imu}.cls_token", .small, shape: [1, 1, "{modality}_embed_dim"]),
            .required("modality_preprocessors.vision.pos_embedding_helper.pos_embed", .small, shape: [1, 257, "vision_embed_dim"]),
            .required("modality_preprocessors.audio.pos_embedding_helper.pos_embed", .small, shape: [1, 229, "audio_embed_dim"]),
            .required("modality_preprocessors.{modality:depth|thermal}.pos_embedding_helper.pos_embed", .small, shape: [1, 197, "{modality}_embed_dim"]),
            .required("modality_preprocessors.imu.pos_embed", .small, shape: [1, 251, "imu_embed_dim"]),
            .required("modality_preprocessors.text.token_embedding.weight", .embedding, shape: [49408, "text_embed_dim"]),
            .required("modality_preprocessors.text.pos_embed", .small, shape: [1, 77, "text_embed_dim"]),
            // The causal mask buffer: rebuilt at load time from the context length.
            .ignored("modality_preprocessors.text.mask"),

            // Trunks: one pre-norm transformer block layout for every modality.
            .required("modality_trunks.vision.pre_transformer_layer.0.{parameter:weight|bias}", .small, shape: ["vision_embed_dim"]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.attn.in_proj_weight", .linear,
                shape: [.multiple("{modality}_embed_dim", 3), "{modality}_embed_dim"]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.attn.in_proj_bias", .small,
                shape: [.multiple("{modality}_embed_dim", 3)]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.attn.out_proj.weight", .linear,
                shape: ["{modality}_embed_dim", "{modality}_embed_dim"]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.attn.out_proj.bias", .small,
                shape: ["{modality}_embed_dim"]),
            .required(
                "modality_trunks.{modality:audio|depth|thermal|imu}.blocks.{block}.attn.{parameter:bias_k|bias_v}", .small,
                shape: [1, 1, "{modality}_embed_dim"]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.{norm:norm_1|norm_2}.{parameter:weight|bias}",
                .small, shape: ["{modality}_embed_dim"]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.mlp.fc1.weight", .linear,
                shape: [.multiple("{modality}_embed_dim", 4), "{modality}_embed_dim"]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.mlp.fc1.bias", .small,
                shape: [.multiple("{modality}_embed_dim", 4)]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.mlp.fc2.weight", .linear,
                shape: ["{modality}_embed_dim", .multiple("{modality}_embed_dim", 4)]),
            .required(
                "modality_trunks.{modality:vision|text|audio|depth|thermal|imu}.blocks.{block}.mlp.fc2.bias", .small,
                shape: ["{modality}_embed_dim"]),

            // Heads: LayerNorm, then a projection to the shared embedding space.
            .required("modality_heads.{modality:vision|audio|depth|thermal|imu}.0.{parameter:weight|bias}", .small, shape: ["{modality}_embed_dim"]),
            .required("modality_heads.{modality:vision|audio|depth|thermal}.2.weight", .linear, shape: ["out_embed_dim", "{modality}_embed_dim"]),
            .required("modality_heads.imu.3.weight", .linear, shape: ["out_embed_dim", "imu_embed_dim"]),
            .required("modality_heads.text.proj.0.{parameter:weight|bias}", .small, shape: ["text_embed_dim"]),
            .required("modality_heads.text.proj.1.weight", .linear, shape: ["out_embed_dim", "text_embed_dim"]),

            // Postprocessors: the logit scale (learned for text, fixed buffers for the others).
            .required("modality_postprocessors.{modality:text|audio|depth|thermal|imu}.1.log_logit_scale", .small, shape: []),
        ],
        files: [.tokenizer("bpe_simple_vocab_16e6.txt.gz", role: "clip-bpe"), .configuration()],
        config: [
            "out_embed_dim": .dimension(of: "modality_heads.vision.2.weight", axis: 0),
            "video_frames": .dimension(of: "modality_preprocessors.vision.rgbt_stem.proj.1.weight", axis: 2),
            "vision_embed_dim": .dimension(of: "modality_preprocessors.vision.cls_token", axis: 2),
            "vision_num_blocks": .count(of: "modality_trunks.vision.blocks.{block}.norm_1.weight", placeholder: "block"),
            "vision_num_heads": .given("vision_num_heads", otherwise: .integer(16)),
            "text_embed_dim": .dimension(of: "modality_preprocessors.text.pos_embed", axis: 2),
            "text_num_blocks": .count(of: "modality_trunks.text.blocks.{block}.norm_1.weight", placeholder: "block"),
            "text_num_heads": .given("text_num_heads", otherwise: .integer(16)),
            "audio_embed_dim": .dimension(of: "modality_preprocessors.audio.cls_token", axis: 2),
            "audio_num_blocks": .count(of: "modality_trunks.audio.blocks.{block}.norm_1.weight", placeholder: "block"),
            "audio_num_heads": .given("audio_num_heads", otherwise: .integer(12)),
            "depth_embed_dim": .dimension(of: "modality_preprocessors.depth.cls_token", axis: 2),
            "depth_num_blocks": .count(of: "modality_trunks.depth.blocks.{block}.norm_1.weight", placeholder: "block"),
            "depth_num_heads": .given("depth_num_heads", otherwise: .integer(8)),
            "thermal_embed_dim": .dimension(of: "modality_preprocessors.thermal.cls_token", axis: 2),
            "thermal_num_blocks": .count(of: "modality_trunks.thermal.blocks.{block}.norm_1.weight", placeholder: "block"),
            "thermal_num_heads": .given("thermal_num_heads", otherwise: .integer(12)),
            "imu_embed_dim": .dimension(of: "modality_preprocessors.imu.cls_token", axis: 2),
            "imu_num_blocks": .count(of: "modality_trunks.imu.blocks.{block}.norm_1.weight", placeholder: "block"),
            "imu_num_heads": .given("imu_num_heads", otherwise: .integer(8)),
        ],
        checks: ["vision", "text", "audio", "depth", "thermal", "imu"].map { .splits(width: "\($0)_embed_dim", into: "\($0)_num_heads") })
}
