import Foundation
import PandaMedia
import PandaTestSupport
import Testing

/// Reference values come from Pillow 13 on the same files (Converters/reference): the stored
/// `photo.decoded` pixels, and for the other pictures sums and sample pixels printed by Pillow.
@Suite("Decoding pictures with libjpeg and FFmpeg")
struct ImageDecodingTests {
    private func summary(_ image: Image8) -> (Int, [UInt8]) {
        (image.pixels.reduce(0) { $0 + Int($1) }, [0, 1000, 5000, image.pixels.count - 1].map { image.pixels[$0] })
    }

    @Test("a 4:2:0 JPEG decodes through libjpeg to exactly Pillow's pixels")
    func jpegMatchesPillow() throws {
        let image = try ImageDecoder.decode(path: fixture("media/photo.jpg"))
        let pillow = try #require(Reference.tensors("preprocessing/expected.safetensors")["photo.decoded"])
        #expect([image.height, image.width, image.channels] == pillow.shape)
        #expect(image.pixels.map(Float.init) == pillow.values)
    }

    @Test("a one-component JPEG decodes to grey pixels equal to Pillow's 'L' image")
    func greyJPEG() throws {
        let image = try ImageDecoder.decode(path: fixture("media/gray-portrait.jpg"))
        #expect([image.width, image.height, image.channels] == [200, 260, 1] as [Int])
        let (sum, samples) = summary(image)
        #expect(sum == 7_705_398)
        #expect(samples == [1, 2, 25, 249] as [UInt8])
    }

    @Test("EXIF orientation 6 is applied: the picture comes out as ImageOps.exif_transpose shows it")
    func exifOrientation() throws {
        let image = try ImageDecoder.decode(path: fixture("media/photo-exif-rotated.jpg"))
        #expect([image.width, image.height, image.channels] == [320, 240, 3] as [Int])
        let (sum, samples) = summary(image)
        #expect(sum == 31_906_200)
        #expect(samples == [142, 8, 0, 251] as [UInt8])
    }

    @Test("an RGBA PNG decodes through FFmpeg with the alpha channel dropped, as Pillow's convert('RGB')")
    func pngThroughFFmpeg() throws {
        let image = try ImageDecoder.decode(path: fixture("media/overlay.png"))
        #expect([image.width, image.height, image.channels] == [160, 120, 3] as [Int])
        let (sum, samples) = summary(image)
        #expect(sum == 7_960_098)
        #expect(samples == [132, 5, 0, 3] as [UInt8])
    }
}
