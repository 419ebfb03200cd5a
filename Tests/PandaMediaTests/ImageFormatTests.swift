import Foundation
import PandaMedia
import PandaTestSupport
import Testing

/// Converters/reference/make_image_formats.py saved one 64 × 48 crop of photo.jpg with Pillow in each format (and a
/// 63 × 47 lossy WebP). The CMYK JPEG decodes in Pillow to sum 1043208, weighted sum 131032728, pixel [12, 41, 0]. Pillow 13 decodes the lossless ones to: sum 1043439, position-weighted sum 131045143, pixel
/// (x 7, y 5) = [10, 42, 0]; the GIF (64-colour palette, no dithering) to 1038213, 130257030, [13, 42, 1]. The
/// weighted sum is numpy's `(a * (np.arange(a.size) % 251 + 1)).sum()` over the flattened RGB values, so it catches
/// misplaced pixels.
@Suite("Decoding BMP, TIFF, WebP and GIF through FFmpeg")
struct ImageFormatTests {
    private func checksums(_ values: [UInt8]) -> (sum: Int, weighted: Int) {
        var sum = 0, weighted = 0
        for (index, value) in values.enumerated() {
            sum += Int(value)
            weighted += Int(value) * (index % 251 + 1)
        }
        return (sum, weighted)
    }

    @Test("each decodes to Pillow's convert('RGB') pixels exactly, lossy WebP included", arguments: [
        ("scene.bmp", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene.tiff", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene-lzw.tiff", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene-lossless.webp", 1_043_439, 131_045_143, [10, 42, 0]),
        ("scene.gif", 1_038_213, 130_257_030, [13, 42, 1]),
        // Lossy (quality 80): Pillow decodes with libwebp 1.6, whose chroma upsampling Panda reproduces.
        ("scene.webp", 1_043_474, 131_054_464, [9, 41, 10]),
        ("scene-odd.webp", 997_007, 124_144_979, [9, 41, 10]),
    ] as [(String, Int, Int, [UInt8])])
    func formatsEqualPillow(name: String, sum: Int, weighted: Int, pixel: [UInt8]) throws {
        let image = try ImageDecoder.decode(path: fixture("media/formats/" + name))
        let (width, height) = name == "scene-odd.webp" ? (63, 47) : (64, 48)
        #expect([image.width, image.height, image.channels] == [width, height, 3] as [Int])
        #expect(checksums(image.pixels) == (sum, weighted))
        let start = (5 * width + 7) * 3
        #expect(Array(image.pixels[start..<start + 3]) == pixel)
    }

    @Test("a CMYK JPEG (Adobe-inverted) decodes through libjpeg to Pillow's convert('RGB') pixels exactly")
    func cmykJPEGEqualsPillow() throws {
        let image = try ImageDecoder.decode(path: fixture("media/formats/scene-cmyk.jpg"))
        #expect([image.width, image.height, image.channels] == [64, 48, 3] as [Int])
        #expect(checksums(image.pixels) == (1_043_208, 131_032_728))
        let start = (5 * 64 + 7) * 3
        #expect(Array(image.pixels[start..<start + 3]) == [12, 41, 0] as [UInt8])
    }
}
