import Foundation
import PandaFormat

/// ImageBind's depth input: one disparity map, [1, 224, 224] floats, row-major. ImageBind's depth encoder was trained
/// on disparity (inverse depth), not on depth, and takes it without mean/std normalization.
///
/// Two kinds of file are accepted, recognized by content, not by name:
/// - **A `.npy` float array** (`<f2`, `<f4` or `<f8`) of shape **[1, 224, 224] or [224, 224]** is taken as an
///   already-preprocessed disparity map and returned unchanged. Any other shape or an integer dtype is an error:
///   resizing or converting units of an arbitrary array is the caller's business.
/// - **A 16-bit single-channel PNG (or TIFF)** is taken as **depth in millimetres**, the NYU Depth v2 / SUN RGB-D
///   convention, where **0 means no measurement**. Each sample becomes disparity = 1 / metres = 1000 / mm (in Float),
///   0 staying 0; then the shorter side is resized to 224 by bilinear interpolation (half-pixel centres, as
///   `torch.nn.functional.interpolate(mode="bilinear", align_corners=False)`, no antialiasing; the longer side becomes
///   ⌊224 · long / short⌋, as torchvision's `Resize(224)`), and the centre 224 × 224 is cropped (offset
///   round((L − 224) / 2), ties to even, as torchvision's `CenterCrop`). Holes are interpolated as the value 0 like any
///   other sample, so pixels next to a hole come out smaller; no hole filling happens.
///
/// An 8-bit picture (greyscale or colour) is refused: its units are unknown, so a 16-bit depth PNG in millimetres or a
/// `.npy` disparity map is expected instead.
public enum DepthPreprocessing {
    public static let size = 224

    /// The [1, 224, 224] disparity tensor of a depth file, by the rules above.
    public static func tensor(path: String) throws -> FloatTensor {
        try MediaFile.check(path)
        if try MediaFile.starts(path, with: [0x93] + Array("NUMPY".utf8)) { return FloatTensor(shape: [1, size, size], values: try disparityArray(path: path)) }
        let depth: (width: Int, height: Int, pixels: [UInt16])
        do {
            depth = try FFmpegImage.decodeGray16(path: path)
        } catch MediaError.unsupported(_, let reason) {
            throw MediaError.unsupported(
                path: path, reason: "a 16-bit depth PNG in millimetres or a .npy disparity map of shape [1, 224, 224] is expected; \(reason)")
        }
        return tensor(millimetres: depth.pixels, width: depth.width, height: depth.height)
    }

    /// A `.npy` disparity map that is already [1, 224, 224] or [224, 224] floats.
    static func disparityArray(path: String) throws -> [Float] {
        let array = try NPYArray(path: path)
        guard ["<f2", "<f4", "<f8"].contains(array.storedType) else {
            throw MediaError.unsupported(
                path: path, reason: "a .npy depth input must hold float disparity (1 / metres), found dtype \(array.storedType)")
        }
        guard array.shape == [1, size, size] || array.shape == [size, size] else {
            throw MediaError.unsupported(
                path: path,
                reason: "a .npy depth input must be a preprocessed disparity map of shape [1, 224, 224] or [224, 224], found \(array.shape)")
        }
        return array.values
    }

    /// Millimetres (0: no measurement) → disparity 1000 / mm → shorter side 224 (bilinear) → centre 224 × 224 crop.
    /// Only the crop is resized, so memory follows the output whatever the map's aspect ratio.
    static func tensor(millimetres: [UInt16], width: Int, height: Int) -> FloatTensor {
        let disparity = millimetres.map { $0 == 0 ? 0 : 1000 / Float($0) }
        let (outWidth, outHeight) = width < height
            ? (size, Int((Double(height) * Double(size) / Double(width)).rounded(.down)))
            : (Int((Double(width) * Double(size) / Double(height)).rounded(.down)), size)
        let left = Int((Double(outWidth - size) / 2).rounded(.toNearestOrEven))
        let top = Int((Double(outHeight - size) / 2).rounded(.toNearestOrEven))
        let crop = resizeBilinear(disparity, width: width, height: height, toWidth: outWidth, toHeight: outHeight, columns: left..<(left + size), rows: top..<(top + size))
        return FloatTensor(shape: [1, size, size], values: crop)
    }

    /// The part `columns` × `rows` of a bilinear resampling of one plane with half-pixel centres (align_corners=False),
    /// as video frames are scaled; each output depends only on its own taps, so this equals cropping the whole.
    static func resizeBilinear(_ values: [Float], width: Int, height: Int, toWidth: Int, toHeight: Int, columns: Range<Int>, rows: Range<Int>) -> [Float] {
        let columnTaps = BilinearTaps.taps(toWidth, from: width, only: columns), rowTaps = BilinearTaps.taps(toHeight, from: height, only: rows)
        var out = [Float](repeating: 0, count: columns.count * rows.count)
        for (y, (y0, y1, dy)) in rowTaps.enumerated() {
            for (x, (x0, x1, dx)) in columnTaps.enumerated() {
                let top = (1 - dx) * values[y0 * width + x0] + dx * values[y0 * width + x1]
                let bottom = (1 - dx) * values[y1 * width + x0] + dx * values[y1 * width + x1]
                out[y * columns.count + x] = (1 - dy) * top + dy * bottom
            }
        }
        return out
    }
}
