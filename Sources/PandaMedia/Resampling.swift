// Hand-written because ImageBind's numbers come from Pillow's resampler (torchvision's Resize on a PIL image),
// whose 8-bit fixed-point arithmetic no C library here reproduces: this follows Pillow's separable filter
// (horizontal pass, then vertical, each rounded and clipped to 8 bits) so resized pixels match exactly.

/// Pillow's `Image.resize` with the bicubic filter (a = −0.5), antialiased when shrinking.
public enum PillowResampler {
    private static let precisionBits = 32 - 8 - 2

    public static func resizeBicubic(_ image: Image8, width outWidth: Int, height outHeight: Int) -> Image8 {
        resizeBicubic(image, width: outWidth, height: outHeight, columns: 0..<outWidth, rows: 0..<outHeight)
    }

    /// The part `columns` × `rows` of the resized picture, computed without the rest: each output pixel depends only
    /// on its own taps, so this equals cropping the full resize, while its memory follows the window, not the
    /// resized size (a 60000 × 1 picture resized to a shorter side of 224 is 13,440,000 × 224).
    public static func resizeBicubic(_ image: Image8, width outWidth: Int, height outHeight: Int, columns: Range<Int>, rows: Range<Int>) -> Image8 {
        precondition(outWidth > 0 && outHeight > 0 && columns.clamped(to: 0..<outWidth) == columns && rows.clamped(to: 0..<outHeight) == rows)
        var current = image
        if outWidth != image.width || columns != 0..<image.width {
            current = horizontal(current, coefficients(input: image.width, output: outWidth, range: columns))
        }
        if outHeight != image.height || rows != 0..<image.height {
            current = vertical(current, coefficients(input: image.height, output: outHeight, range: rows))
        }
        return current
    }

    private static func bicubic(_ value: Double) -> Double {
        let a = -0.5, x = abs(value)
        if x < 1 { return ((a + 2) * x - (a + 3)) * x * x + 1 }
        if x < 2 { return (((x - 5) * x + 8) * x - 4) * a }
        return 0
    }

    /// For each output position in `range`: the first input index and the tap count, with `kernelSize` fixed-point
    /// weights per position.
    private struct Coefficients {
        var bounds: [(first: Int, count: Int)]
        var weights: [Int32]
        var kernelSize: Int
    }

    private static func coefficients(input: Int, output: Int, range: Range<Int>) -> Coefficients {
        let scale = Double(input) / Double(output)
        let filterScale = max(scale, 1)
        let support = 2.0 * filterScale
        let kernelSize = Int(support.rounded(.up)) * 2 + 1
        var bounds: [(Int, Int)] = []
        var weights = [Int32](repeating: 0, count: range.count * kernelSize)
        for (position, index) in range.enumerated() {
            let center = (Double(index) + 0.5) * scale
            let first = max(Int(center - support + 0.5), 0)
            let count = min(Int(center + support + 0.5), input) - first
            var taps = (0..<count).map { bicubic((Double($0 + first) - center + 0.5) / filterScale) }
            let total = taps.reduce(0, +)
            if total != 0 { taps = taps.map { $0 / total } }
            for (tap, weight) in taps.enumerated() {
                let fixed = weight * Double(1 << precisionBits)
                weights[position * kernelSize + tap] = Int32(weight < 0 ? (fixed - 0.5) : (fixed + 0.5))
            }
            bounds.append((first, count))
        }
        return Coefficients(bounds: bounds, weights: weights, kernelSize: kernelSize)
    }

    @inline(__always) private static func clip8(_ sum: Int32) -> UInt8 {
        let value = sum >> Int32(precisionBits)
        return value < 0 ? 0 : value > 255 ? 255 : UInt8(value)
    }

    private static func horizontal(_ image: Image8, _ filter: Coefficients) -> Image8 {
        let (channels, width) = (image.channels, filter.bounds.count)
        var out = [UInt8](repeating: 0, count: width * image.height * channels)
        for y in 0..<image.height {
            for (x, (first, count)) in filter.bounds.enumerated() {
                for c in 0..<channels {
                    var sum: Int32 = 1 << Int32(precisionBits - 1)
                    for tap in 0..<count {
                        sum &+= Int32(image.pixels[(y * image.width + first + tap) * channels + c]) &* filter.weights[x * filter.kernelSize + tap]
                    }
                    out[(y * width + x) * channels + c] = clip8(sum)
                }
            }
        }
        return Image8(width: width, height: image.height, channels: channels, pixels: out)
    }

    private static func vertical(_ image: Image8, _ filter: Coefficients) -> Image8 {
        let (channels, height) = (image.channels, filter.bounds.count)
        var out = [UInt8](repeating: 0, count: image.width * height * channels)
        for (y, (first, count)) in filter.bounds.enumerated() {
            for x in 0..<image.width {
                for c in 0..<channels {
                    var sum: Int32 = 1 << Int32(precisionBits - 1)
                    for tap in 0..<count {
                        sum &+= Int32(image.pixels[((first + tap) * image.width + x) * channels + c]) &* filter.weights[y * filter.kernelSize + tap]
                    }
                    out[(y * image.width + x) * channels + c] = clip8(sum)
                }
            }
        }
        return Image8(width: image.width, height: height, channels: channels, pixels: out)
    }
}
