// Hand-written: FFmpeg decodes WebP, but Pillow's pixels come from libwebp's chroma upsampling and fixed-point BT.601,
// which swscale does not offer (it gave pixels up to 94 levels away); this redoes libwebp's arithmetic on the planes.
import CFFmpeg

/// Lossy WebP's YUV 4:2:0 planes to RGB as libwebp's decoder ("fancy upsampling") produces them.
enum WebPColor {
    /// The RGB pixels of a decoded VP8 frame (yuv420p or yuva420p; alpha is dropped, as Pillow's convert("RGB") does).
    static func rgb(_ frame: UnsafePointer<AVFrame>) -> Image8 {
        let (width, height) = (Int(frame.pointee.width), Int(frame.pointee.height))
        let planes = (frame.pointee.data.0!, frame.pointee.data.1!, frame.pointee.data.2!)
        let strides = (Int(frame.pointee.linesize.0), Int(frame.pointee.linesize.1), Int(frame.pointee.linesize.2))
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeMutableBufferPointer { out in
            func luma(_ row: Int) -> UnsafePointer<UInt8> { UnsafePointer(planes.0 + row * strides.0) }
            func chroma(_ row: Int) -> (u: UnsafePointer<UInt8>, v: UnsafePointer<UInt8>) {
                (UnsafePointer(planes.1 + row * strides.1), UnsafePointer(planes.2 + row * strides.2))
            }
            func destination(_ row: Int) -> UnsafeMutablePointer<UInt8> { out.baseAddress! + row * width * 3 }
            // The first row sees only the first chroma row; then each pair of rows (2k+1, 2k+2) lies between chroma
            // rows k and k+1; an even height leaves the last row alone with the last chroma row.
            upsampleRows(top: luma(0), bottom: nil, above: chroma(0), below: chroma(0), into: destination(0), nil, width: width)
            var row = 0
            while row + 2 < height {
                upsampleRows(top: luma(row + 1), bottom: luma(row + 2), above: chroma(row / 2), below: chroma(row / 2 + 1),
                             into: destination(row + 1), destination(row + 2), width: width)
                row += 2
            }
            if height % 2 == 0 {
                let last = chroma(height / 2 - 1)
                upsampleRows(top: luma(height - 1), bottom: nil, above: last, below: last, into: destination(height - 1), nil, width: width)
            }
        }
        return Image8(width: width, height: height, channels: 3, pixels: pixels)
    }

    /// Two output rows between two chroma rows: each chroma sample is interpolated 9:3:3:1 from its four nearest
    /// samples (3:1 along the edges), in libwebp's integer steps and rounding.
    private static func upsampleRows(
        top: UnsafePointer<UInt8>, bottom: UnsafePointer<UInt8>?, above: (u: UnsafePointer<UInt8>, v: UnsafePointer<UInt8>),
        below: (u: UnsafePointer<UInt8>, v: UnsafePointer<UInt8>), into topOut: UnsafeMutablePointer<UInt8>,
        _ bottomOut: UnsafeMutablePointer<UInt8>?, width: Int
    ) {
        func edge(_ near: (Int, Int), _ far: (Int, Int)) -> (Int, Int) { ((3 * near.0 + far.0 + 2) >> 2, (3 * near.1 + far.1 + 2) >> 2) }
        func put(_ y: UInt8, _ uv: (Int, Int), _ out: UnsafeMutablePointer<UInt8>) { writeRGB(Int(y), uv.0, uv.1, out) }
        var topLeft = (Int(above.u[0]), Int(above.v[0])), left = (Int(below.u[0]), Int(below.v[0]))
        put(top[0], edge(topLeft, left), topOut)
        if let bottom, let bottomOut { put(bottom[0], edge(left, topLeft), bottomOut) }
        let lastPair = (width - 1) >> 1
        if lastPair >= 1 {
            for x in 1...lastPair {
                let upper = (Int(above.u[x]), Int(above.v[x])), current = (Int(below.u[x]), Int(below.v[x]))
                let sum = (topLeft.0 + upper.0 + left.0 + current.0 + 8, topLeft.1 + upper.1 + left.1 + current.1 + 8)
                func diagonal(_ a: (Int, Int), _ b: (Int, Int)) -> (Int, Int) {
                    ((sum.0 + 2 * (a.0 + b.0)) >> 3, (sum.1 + 2 * (a.1 + b.1)) >> 3)
                }
                func halfway(_ a: (Int, Int), _ b: (Int, Int)) -> (Int, Int) { ((a.0 + b.0) >> 1, (a.1 + b.1) >> 1) }
                let diagonal12 = diagonal(upper, left), diagonal03 = diagonal(topLeft, current)
                put(top[2 * x - 1], halfway(diagonal12, topLeft), topOut + (2 * x - 1) * 3)
                put(top[2 * x], halfway(diagonal03, upper), topOut + 2 * x * 3)
                if let bottom, let bottomOut {
                    put(bottom[2 * x - 1], halfway(diagonal03, left), bottomOut + (2 * x - 1) * 3)
                    put(bottom[2 * x], halfway(diagonal12, current), bottomOut + 2 * x * 3)
                }
                (topLeft, left) = (upper, current)
            }
        }
        if width % 2 == 0 {
            put(top[width - 1], edge(topLeft, left), topOut + (width - 1) * 3)
            if let bottom, let bottomOut { put(bottom[width - 1], edge(left, topLeft), bottomOut + (width - 1) * 3) }
        }
    }

    /// libwebp's BT.601 conversion: products keep 8 fractional bits (a 16-bit "multiply high" of y·256 by a 14-bit
    /// coefficient), then 6 are dropped with clamping to 0…255.
    private static func writeRGB(_ y: Int, _ u: Int, _ v: Int, _ out: UnsafeMutablePointer<UInt8>) {
        func high(_ value: Int, _ coefficient: Int) -> Int { (value * coefficient) >> 8 }
        func clamp(_ value: Int) -> UInt8 { value & ~16383 == 0 ? UInt8(value >> 6) : value < 0 ? 0 : 255 }
        let luma = high(y, 19077)
        out[0] = clamp(luma + high(v, 26149) - 14234)
        out[1] = clamp(luma - high(u, 6419) - high(v, 13320) + 8708)
        out[2] = clamp(luma + high(u, 33050) - 17685)
    }
}
