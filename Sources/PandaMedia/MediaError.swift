import Foundation

/// Everything that can go wrong while reading a media file, each naming the file and what was expected.
public enum MediaError: LocalizedError, Equatable, Sendable {
    case fileNotFound(path: String)
    case unreadable(path: String, reason: String)
    case unsupported(path: String, reason: String)
    /// A picture whose header declares more pixels than `ImageLimits.maxPixels`, refused before decoding (width and
    /// height 0 where FFmpeg refused a size without saying which).
    case tooManyPixels(path: String, width: Int, height: Int, limit: Int)

    public var errorDescription: String? {
        switch self {
        case .fileNotFound(let path): "\(path): no such file"
        case .unreadable(let path, let reason): "\(path): \(reason)"
        case .unsupported(let path, let reason): "\(path): unsupported media: \(reason)"
        case .tooManyPixels(let path, let width, let height, let limit):
            "\(path): the picture declares " + (width > 0 ? "\(width)×\(height) = \(width * height) pixels, more than" : "more pixels than")
                + " the limit of \(limit) (raise it with \(ImageLimits.environmentVariable) or panda-run's --max-image-pixels)"
        }
    }
}

/// The largest picture Panda decodes. A few hundred bytes of JPEG or PNG can declare billions of pixels; the
/// limit is checked against the declared size before any pixel is decoded, so such a file costs nothing.
public enum ImageLimits {
    /// Pillow's `Image.MAX_IMAGE_PIXELS` (1 GiB / 4 bytes / 3): an RGB picture of this size is 256 MiB, and the
    /// decoder's buffer, its copy and the preprocessing stay under 1 GiB. Pillow only warns here and refuses at twice
    /// as many; Panda refuses here, so that no item can take more than that 1 GiB.
    public static let defaultMaxPixels = 89_478_485
    public static let environmentVariable = "PANDA_MAX_IMAGE_PIXELS"

    /// `PANDA_MAX_IMAGE_PIXELS` when it is set to a positive whole number, else the default.
    public static var maxPixels: Int {
        guard let value = ProcessInfo.processInfo.environment[environmentVariable], let limit = Int(value), limit > 0 else {
            return defaultMaxPixels
        }
        return limit
    }

    /// Throws `MediaError.tooManyPixels` when width × height exceeds the limit.
    static func check(path: String, width: Int, height: Int, limit: Int) throws {
        guard width * height <= limit else {
            throw MediaError.tooManyPixels(path: path, width: width, height: height, limit: limit)
        }
    }
}
