import Foundation
import PandaMedia
import PandaTestSupport
import Testing

/// Converters/reference/make_image_formats.py saved one 64 × 48 crop of photo.jpg with Pillow in each lossless format.
/// Pillow 13 decodes them to: sum 1043439, position-weighted sum 131045143, pixel (x 7, y 5) = [10, 42, 0]; the GIF
/// (64-colour palette, no dithering) to 1038213, 130257030, [13, 42, 1]. The weighted sum is numpy's
/// `(a * (np.arange(a.size) % 251 + 1)).sum()` over the flattened RGB values, so it catches misplaced pixels.
@Suite("Decoding BMP, TIFF, lossless WebP and GIF through FFmpeg")
struct ImageFormatTests {
    private func checksums(_ values: [UInt8]) -> (sum: Int, weighted: Int) {
        var sum = 0, weighted = 0
        for (index, value) in values.enumerated() {
            sum += Int(value)
            weighted += Int(value) * (index % 251 + 1)
        }
        return (sum, weighted)
    }

    @Test("each decodes to Pillow's convert('RGB') pixels exactly", arguments: [
        ("scene.bmp", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene.tiff", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene-lzw.tiff", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene-lossless.webp", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene.gif", 1_038_213, 130_257_030, [13, 42, 1]),
    ] as [(String, Int, Int, [UInt8])])
    func losslessFormatsEqualPillow(name: String, sum: Int, weighted: Int, pixel: [UInt8]) throws {
        let image = try ImageDecoder.decode(path: fixture("media/formats/" + name))
        #expect([image.width, image.height, image.channels] == [64, 48, 3] as [Int])
        #expect(checksums(image.pixels) == (sum, weighted))
        let start = (5 * 64 + 7) * 3
        #expect(Array(image.pixels[start..<start + 3]) == pixel)
    }
}
