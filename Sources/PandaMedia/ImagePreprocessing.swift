import PandaFormat

/// ImageBind's image transform (imagebind/data.py `load_and_transform_vision_data`): shorter side to 224 with
/// Pillow's bicubic, centre crop 224 × 224, scale to [0, 1], normalize with CLIP's mean and standard deviation.
public enum VisionPreprocessing {
    public static let size = 224
    public static let mean: [Float] = [0.48145466, 0.4578275, 0.40821073]
    public static let standardDeviation: [Float] = [0.26862954, 0.26130258, 0.27577711]

    /// torchvision's Resize(224) sizes: the shorter side becomes 224, the longer one int(224 · long / short).
    public static func resizedSize(width: Int, height: Int, shorterSide: Int = size) -> (width: Int, height: Int) {
        if width <= height { return (shorterSide, Int(Double(shorterSide) * Double(height) / Double(width))) }
        return (Int(Double(shorterSide) * Double(width) / Double(height)), shorterSide)
    }

    /// The [3, 224, 224] tensor (channel-major) of an image, as ImageBind feeds its vision encoder.
    public static func tensor(_ image: Image8) -> FloatTensor {
        FloatTensor(shape: [3, size, size], values: resizedAndCropped(image.rgb, mean: mean, standardDeviation: standardDeviation))
    }

    /// Resize the shorter side to 224, crop the centre, then (value / 255 − mean) / std per channel. Only the crop is
    /// resized, so memory follows the 224 × 224 output whatever the picture's aspect ratio.
    static func resizedAndCropped(_ image: Image8, mean: [Float], standardDeviation: [Float]) -> [Float] {
        let channels = image.channels
        let (width, height) = resizedSize(width: image.width, height: image.height)
        // torchvision's CenterCrop: offsets round((W − 224) / 2) and round((H − 224) / 2), Python rounding half to even.
        let left = Int((Double(width - size) / 2).rounded(.toNearestOrEven)), top = Int((Double(height - size) / 2).rounded(.toNearestOrEven))
        let crop = PillowResampler.resizeBicubic(image, width: width, height: height, columns: left..<(left + size), rows: top..<(top + size))
        var out = [Float](repeating: 0, count: channels * size * size)
        for c in 0..<channels {
            for y in 0..<size {
                for x in 0..<size {
                    let value = Float(crop.pixels[(y * size + x) * channels + c]) / 255
                    out[(c * size + y) * size + x] = (value - mean[c]) / standardDeviation[c]
                }
            }
        }
        return out
    }
}

/// PandaGPT's thermal transform (its data.py `load_and_transform_thermal_data`): greyscale, shorter side to 224
/// (bicubic), centre crop, scaled to [0, 1] without normalization: a [1, 224, 224] tensor.
public enum ThermalPreprocessing {
    public static func tensor(_ image: Image8) -> FloatTensor {
        let size = VisionPreprocessing.size
        return FloatTensor(shape: [1, size, size], values: VisionPreprocessing.resizedAndCropped(image.luminance, mean: [0], standardDeviation: [1]))
    }
}

extension Image8 {
    /// Pillow's `convert("L")`: L = (19595 R + 38470 G + 7471 B + 2¹⁵) >> 16 (ITU-R 601-2 in fixed point).
    public var luminance: Image8 {
        guard channels == 3 else { return self }
        var grey = [UInt8](repeating: 0, count: width * height)
        for i in grey.indices {
            let (r, g, b) = (UInt32(pixels[3 * i]), UInt32(pixels[3 * i + 1]), UInt32(pixels[3 * i + 2]))
            grey[i] = UInt8((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
        }
        return Image8(width: width, height: height, channels: 1, pixels: grey)
    }
}
