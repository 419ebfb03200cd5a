import CFFmpeg
import Foundation

/// Still pictures through FFmpeg: the first frame of the file's picture stream, in RGB (alpha dropped, as
/// Pillow's `convert("RGB")` drops it).
enum FFmpegImage {
    static func decode(path: String, maxPixels: Int) throws -> Image8 {
        let reader: VideoReader
        do {
            reader = try VideoReader(path: path, maxPixels: maxPixels)
        } catch MediaError.unreadable(_, let reason), MediaError.unsupported(_, let reason) {
            throw MediaError.unsupported(path: path, reason: "not a recognized image format (FFmpeg: \(reason))")
        }
        guard let frame = try reader.nextDecodedFrame() else { throw MediaError.unreadable(path: path, reason: "holds no picture") }
        let format = AVPixelFormat(frame.pointee.format)
        if reader.codecID == AV_CODEC_ID_WEBP && (format == AV_PIX_FMT_YUV420P || format == AV_PIX_FMT_YUVA420P) {
            defer { av_frame_unref(frame) }
            return WebPColor.rgb(frame)  // lossy WebP, converted as libwebp (and so Pillow) does
        }
        return try reader.convert(frame).image
    }

    /// A 16-bit single-channel picture (a depth PNG or TIFF) with every bit kept: its size and its samples, row-major,
    /// top row first, unscaled (a depth of 1565 mm stays 1565). Any other pixel format is `MediaError.unsupported`
    /// naming the format found (for an 8-bit grey file, "gray").
    static func decodeGray16(path: String) throws -> (width: Int, height: Int, pixels: [UInt16]) {
        let reader: VideoReader
        do {
            reader = try VideoReader(path: path)
        } catch MediaError.unreadable(_, let reason), MediaError.unsupported(_, let reason) {
            throw MediaError.unsupported(path: path, reason: "not a recognized image format (FFmpeg: \(reason))")
        }
        guard let frame = try reader.nextDecodedFrame() else { throw MediaError.unreadable(path: path, reason: "holds no picture") }
        defer { av_frame_unref(frame) }
        let (width, height) = (Int(frame.pointee.width), Int(frame.pointee.height))
        let format = AVPixelFormat(frame.pointee.format)
        guard format == AV_PIX_FMT_GRAY16BE || format == AV_PIX_FMT_GRAY16LE else {
            let name = av_get_pix_fmt_name(format).map { String(cString: $0) } ?? "pixel format \(format.rawValue)"
            throw MediaError.unsupported(path: path, reason: "found \(name) pixels, not 16-bit grey")
        }
        let bigEndian = format == AV_PIX_FMT_GRAY16BE
        let stride = Int(frame.pointee.linesize.0)
        let data = frame.pointee.data.0!
        var pixels = [UInt16](repeating: 0, count: width * height)
        for y in 0..<height {
            for x in 0..<width {
                let (first, second) = (UInt16(data[y * stride + 2 * x]), UInt16(data[y * stride + 2 * x + 1]))
                pixels[y * width + x] = bigEndian ? first << 8 | second : second << 8 | first
            }
        }
        return (width, height, pixels)
    }
}
