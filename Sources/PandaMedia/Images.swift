import CJPEG
import Foundation

/// 8-bit pixels, row-major, `channels` interleaved per pixel (3: RGB, 1: grey).
public struct Image8: Sendable, Equatable {
    public var width: Int
    public var height: Int
    public var channels: Int
    public var pixels: [UInt8]

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
        precondition(pixels.count == width * height * channels, "\(width)×\(height)×\(channels) needs \(width * height * channels) bytes")
        (self.width, self.height, self.channels, self.pixels) = (width, height, channels, pixels)
    }

    /// Grey pixels repeated into RGB; RGB unchanged (Pillow's `convert("RGB")`).
    public var rgb: Image8 {
        guard channels == 1 else { return self }
        return Image8(width: width, height: height, channels: 3, pixels: pixels.flatMap { [$0, $0, $0] })
    }

    /// The image as displayed under an EXIF orientation tag (1: as stored … 8), the transforms Pillow's
    /// `ImageOps.exif_transpose` applies.
    public func oriented(_ orientation: Int) -> Image8 {
        guard (2...8).contains(orientation) else { return self }
        let swapsAxes = orientation >= 5
        let (outWidth, outHeight) = swapsAxes ? (height, width) : (width, height)
        var out = [UInt8](repeating: 0, count: pixels.count)
        for y in 0..<outHeight {
            for x in 0..<outWidth {
                // Where displayed pixel (x, y) comes from in the stored image.
                let (sx, sy): (Int, Int) = switch orientation {
                case 2: (width - 1 - x, y)
                case 3: (width - 1 - x, height - 1 - y)
                case 4: (x, height - 1 - y)
                case 5: (y, x)
                case 6: (y, height - 1 - x)
                case 7: (width - 1 - y, height - 1 - x)
                default: (width - 1 - y, x)  // 8
                }
                for c in 0..<channels { out[(y * outWidth + x) * channels + c] = pixels[(sy * width + sx) * channels + c] }
            }
        }
        return Image8(width: outWidth, height: outHeight, channels: channels, pixels: out)
    }
}

public enum ImageDecoder {
    /// Decodes a picture file — JPEG through libjpeg, other formats (PNG, WebP, BMP, TIFF, GIF) through FFmpeg —
    /// to its stored channels, with the EXIF orientation applied. The format is recognized by content, not name.
    /// A picture declaring more than `maxPixels` pixels is refused from its header, before any pixel is decoded.
    public static func decode(path: String, maxPixels: Int = ImageLimits.maxPixels) throws -> Image8 {
        try MediaFile.check(path)
        guard try MediaFile.starts(path, with: [0xFF, 0xD8, 0xFF]) else { return try FFmpegImage.decode(path: path, maxPixels: maxPixels) }
        return try decodeJPEG(MediaFile.read(path), path: path, maxPixels: maxPixels)
    }

    static func decodeJPEG(_ data: Data, path: String, maxPixels limit: Int) throws -> Image8 {
        var pixels: UnsafeMutablePointer<UInt8>?
        var (width, height, components, orientation): (Int32, Int32, Int32, Int32) = (0, 0, 0, 1)
        var message = [CChar](repeating: 0, count: 256)
        let status = data.withUnsafeBytes { bytes in
            panda_jpeg_decode(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(bytes.count), UInt64(limit), &pixels,
                              &width, &height, &components, &orientation, &message, message.count)
        }
        if status == 2 { throw MediaError.tooManyPixels(path: path, width: Int(width), height: Int(height), limit: limit) }
        guard status == 0, let pixels else {
            let reason = String(decoding: message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
            throw MediaError.unreadable(path: path, reason: "broken JPEG: \(reason)")
        }
        defer { free(pixels) }
        let count = Int(width) * Int(height) * Int(components)
        let image = Image8(width: Int(width), height: Int(height), channels: Int(components), pixels: Array(UnsafeBufferPointer(start: pixels, count: count)))
        return image.oriented(Int(orientation))
    }
}

