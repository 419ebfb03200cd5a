// Hand-written because ImageBind's numbers come from Pillow's resampler (torchvision's Resize on a PIL image),
// whose 8-bit fixed-point arithmetic no C library here reproduces: this follows Pillow's separable filter
// (horizontal pass, then vertical, each rounded and clipped to 8 bits) so resized pixels match exactly.

/// Pillow's `Image.resize` with the bicubic filter (a = −0.5), antialiased when shrinking.
public enum PillowResampler {
    private static let precisionBits = 32 - 8 - 2

    public static func resizeBicubic(_ image: Image8, width outWidth: Int, height outHeight: Int) -> Image8 {
        precondition(outWidth > 0 && outHeight > 0)
        var current = image
        if outWidth != image.width {
            let (bounds, weights, size) = coefficients(input: image.width, output: outWidth)
            current = horizontal(current, width: outWidth, bounds: bounds, weights: weights, kernelSize: size)
        }
        if outHeight != image.height {
            let (bounds, weights, size) = coefficients(input: image.height, output: outHeight)
            current = vertical(current, height: outHeight, bounds: bounds, weights: weights, kernelSize: size)
        }
        return current
    }

    private static func bicubic(_ value: Double) -> Double {
        let a = -0.5, x = abs(value)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// For each output position: the first input index, the tap count, and fixed-point weights.
    private static func coefficients(input: Int, output: Int) -> (bounds: [(Int, Int)], weights: [Int32], kernelSize: Int) {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = 2.0 * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var weights = [Int32](repeating: 0, count: output * kernelSize)
        for index in 0..<output {
            let center = (Double(index) + 0.5) * scale
            let first = max(Int(center - support + 0.5), 0)
            let count = min(Int(center + support + 0.5), input) - first
            var taps = (0..<count).map { bicubic((Double($0 + first) - center + 0.5) / filterScale) }
            let total = taps.reduce(0, +)
            if total != 0 { taps = taps.map { $0 / total } }
            for (tap, weight) in taps.enumerated() {
                let fixed = weight * Double(1 << precisionBits)
                weights[index * kernelSize + tap] = Int32(weight < 0 ? (fixed - 0.5) : (fixed + 0.5))
            }
            bounds.append((first, count))
        }
        return (bounds, weights, kernelSize)
    }

    @inline(__always) private static func clip8(_ sum: Int32) -> UInt8 {
        let value = sum >> Int32(precisionBits)
        return value < 0 ? 0 : value > 255 ? 255 : UInt8(value)
    }

    private static func horizontal(_ image: Image8, width: Int, bounds: [(Int, Int)], weights: [Int32], kernelSize: Int) -> Image8 {
        let channels = image.channels
        var out = [UInt8](repeating: 0, count: width * image.height * channels)
        for y in 0..<image.height {
            for x in 0..<width {
                let (first, count) = bounds[x]
                for c in 0..<channels {
                    var sum: Int32 = 1 << Int32(precisionBits - 1)
                    for tap in 0..<count {
                        sum &+= Int32(image.pixels[(y * image.width + first + tap) * channels + c]) &* weights[x * kernelSize + tap]
                    }
                    out[(y * width + x) * channels + c] = clip8(sum)
                }
            }
        }
        return Image8(width: width, height: image.height, channels: channels, pixels: out)
    }

    private static func vertical(_ image: Image8, height: Int, bounds: [(Int, Int)], weights: [Int32], kernelSize: Int) -> Image8 {
        let channels = image.channels
        var out = [UInt8](repeating: 0, count: image.width * height * channels)
        for y in 0..<height {
            let (first, count) = bounds[y]
            for x in 0..<image.width {
                for c in 0..<channels {
                    var sum: Int32 = 1 << Int32(precisionBits - 1)
                    for tap in 0..<count {
                        sum &+= Int32(image.pixels[((first + tap) * image.width + x) * channels + c]) &* weights[y * kernelSize + tap]
                    }
                    out[(y * image.width + x) * channels + c] = clip8(sum)
                }
            }
        }
        return Image8(width: image.width, height: height, channels: channels, pixels: out)
    }
}
