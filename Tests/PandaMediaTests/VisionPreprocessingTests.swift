import Foundation
import PandaMedia
import PandaTestSupport
import Testing

/// Against ImageBind's data.py (torchvision transforms on Pillow images), from Tests/Fixtures/reference/preprocessing.
@Suite("Image preprocessing as ImageBind's data.py")
struct VisionPreprocessingTests {
    let expected: [String: FloatTensorValue]

    init() throws { expected = try Reference.tensors("preprocessing/expected.safetensors") }

    @Test("Pillow's bicubic resize of photo.jpg to 298 × 224 is reproduced pixel for pixel")
    func resizeMatchesPillow() throws {
        let image = try ImageDecoder.decode(path: fixture("media/photo.jpg"))
        let size = VisionPreprocessing.resizedSize(width: image.width, height: image.height)
        #expect(size.width == 298 && size.height == 224)
        let resized = PillowResampler.resizeBicubic(image, width: size.width, height: size.height)
        let pillow = try #require(expected["photo.resized"])
        #expect(pillow.shape == [224, 298, 3])
        #expect(resized.pixels.map(Float.init) == pillow.values)
    }

    @Test("the normalized [3, 224, 224] tensors equal data.py's (stored in f16) within f16 rounding",
          arguments: [("media/photo.jpg", "vision.photo", 0..<224), ("media/gray-portrait.jpg", "vision.gray-portrait.center", 80..<144)])
    func tensorMatchesImageBind(file: String, name: String, window: Range<Int>) throws {
        let tensor = VisionPreprocessing.tensor(try ImageDecoder.decode(path: fixture(file)))
        #expect(tensor.shape == [3, 224, 224])
        let reference = try #require(expected[name])
        var ours: [Float] = []
        for c in 0..<3 { for y in window { for x in window { ours.append(tensor.values[(c * 224 + y) * 224 + x]) } } }
        #expect(reference.values.count == ours.count)
        // f16 keeps 11 significant bits: at |x| ≤ 2.2 that is ≤ 0.001, a quarter of one 8-bit level (≈ 0.0146 here).
        #expect(maxAbsoluteDifference(ours, reference.values) <= 0.002)
    }
}

@Suite("Thermal preprocessing as PandaGPT's data.py")
struct ThermalPreprocessingTests {
    @Test("a greyscale PNG becomes the [1, 224, 224] tensor PandaGPT's thermal loader makes, to float precision")
    func thermalMatchesPandaGPT() throws {
        let tensor = ThermalPreprocessing.tensor(try ImageDecoder.decode(path: fixture("media/thermal.png")))
        let reference = try #require(try Reference.tensors("preprocessing/expected.safetensors")["thermal"])
        #expect(tensor.shape == reference.shape)
        #expect(maxAbsoluteDifference(tensor.values, reference.values) <= 1e-6)
    }
}
