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

public enum MediaFile {
    /// Checks, without opening it, that the path names a regular file (following symbolic links) that is not empty.
    /// Opening a FIFO for reading blocks until a writer appears, and a device or socket is no media file: every
    /// reader calls this first, so no file can make a job wait forever.
    public static func check(_ path: String) throws {
        var status = stat()
        guard stat(path, &status) == 0 else {
            if errno == ENOENT || errno == ENOTDIR { throw MediaError.fileNotFound(path: path) }
            throw MediaError.unreadable(path: path, reason: String(cString: strerror(errno)))
        }
        if let kind = kind(of: status) { throw MediaError.unreadable(path: path, reason: "is \(kind), not a regular file") }
        guard status.st_size > 0 else { throw MediaError.unreadable(path: path, reason: "the file is empty") }
    }

    /// What the path is when it is not a regular file ("a folder", "a FIFO (named pipe)", …), following symbolic
    /// links; nil for a regular file or a path that does not exist.
    public static func nonRegularKind(_ path: String) -> String? {
        var status = stat()
        guard stat(path, &status) == 0 else { return nil }
        return kind(of: status)
    }

    private static func kind(of status: stat) -> String? {
        switch status.st_mode & S_IFMT {
        case S_IFREG: nil
        case S_IFDIR: "a folder"
        case S_IFIFO: "a FIFO (named pipe)"
        case S_IFSOCK: "a socket"
        case S_IFCHR, S_IFBLK: "a device"
        default: "a special file"
        }
    }

    /// The file's bytes, or an error naming it: missing, not a regular file, unreadable or empty.
    static func read(_ path: String) throws -> Data {
        try check(path)
        guard let data = FileManager.default.contents(atPath: path) else { throw MediaError.unreadable(path: path, reason: "cannot read the file") }
        guard !data.isEmpty else { throw MediaError.unreadable(path: path, reason: "the file is empty") }
        return data
    }

    /// A PNG's width and height from its IHDR chunk (bytes 16-23, big-endian), or nil for any other file.
    static func pngSize(_ path: String) -> (width: Int, height: Int)? {
        guard let handle = FileHandle(forReadingAtPath: path), let header = try? handle.read(upToCount: 24) else { return nil }
        try? handle.close()
        let bytes = [UInt8](header)
        guard bytes.count == 24, bytes.starts(with: [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) else { return nil }
        func word(_ at: Int) -> Int { bytes[at..<at + 4].reduce(0) { $0 << 8 | Int($1) } }
        return (word(16), word(20))
    }

    /// Whether the file begins with `magic`, reading only those bytes.
    static func starts(_ path: String, with magic: [UInt8]) throws -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { throw MediaError.unreadable(path: path, reason: "cannot read the file") }
        defer { try? handle.close() }
        return (try handle.read(upToCount: magic.count)).map { Array($0) == magic } ?? false
    }
}
