import Foundation
import PandaFormat
import PandaTestSupport
import Testing
@testable import PandaMedia

/// depth.png: 160 × 120, 16-bit grey, millimetres 800…3772 (Converters/reference/make_media.py). Reference values from
/// numpy 2.4 in float32: disparity = 1000 / mm, torch-style bilinear (align_corners=False) to 298 × 224, crop at x 37.
@Suite("Depth input: [1, 224, 224] disparity from a 16-bit PNG in millimetres or a .npy")
struct DepthPreprocessingTests {
    private func mediaError(_ body: () throws -> Void) -> MediaError? {
        do { try body() } catch let error as MediaError { return error } catch { Issue.record("not a MediaError: \(error)") }
        return nil
    }

    @Test("a 16-bit grey PNG keeps all 16 bits through FFmpeg (depth.png at (17, 33) is 1565 mm, as depth.npy's 1.565 m)")
    func gray16Decodes() throws {
        let depth = try FFmpegImage.decodeGray16(path: fixture("media/depth.png"))
        #expect(depth.width == 160 && depth.height == 120)
        #expect(depth.pixels[33 * 160 + 17] == 1565)
        #expect(depth.pixels.min() == 800 && depth.pixels.max() == 3772)
        // depth.npy was written as depth_mm.astype(float32) / 1000 from the same array.
        #expect(try NPYArray(path: fixture("media/depth.npy")).values == depth.pixels.map { Float($0) / 1000 })
    }

    @Test("depth.png becomes 1000 / mm, resized bilinearly to 298 × 224 and centre-cropped, equal to numpy's float32 values")
    func pngToDisparity() throws {
        let output = try DepthPreprocessing.tensor(path: fixture("media/depth.png"))
        #expect(output.shape == [1, 224, 224])
        let tensor = output.values
        // numpy: out[0, 0], out[100, 50], out[223, 223] and the float64 sum.
        #expect(abs(tensor[0] - 0.7624077796936035) < 1e-6)
        #expect(abs(tensor[100 * 224 + 50] - 0.6734175682067871) < 1e-6)
        #expect(abs(tensor[223 * 224 + 223] - 0.2689933776855469) < 1e-6)
        #expect(abs(tensor.reduce(0.0) { $0 + Double($1) } - 24229.414625525475) < 1e-2)
        // Disparity lies between 1/3.772 m and 1/0.8 m, with no mean/std normalization applied.
        #expect(tensor.allSatisfy { $0 >= 1000 / 3772 - 1e-6 && $0 <= 1.25 + 1e-6 })
    }

    @Test("at 224 × 224 the resize is the identity: each sample is exactly 1000 / mm, and 0 (no measurement) stays 0")
    func holesStayZero() {
        var millimetres = [UInt16](repeating: 0, count: 224 * 224)
        for i in millimetres.indices where i % 7 != 0 { millimetres[i] = UInt16(500 + i % 4000) }
        let tensor = DepthPreprocessing.tensor(millimetres: millimetres, width: 224, height: 224).values
        #expect(tensor == millimetres.map { $0 == 0 ? 0 : 1000 / Float($0) })
        #expect(tensor[0] == 0 && tensor[7] == 0 && tensor[1] == 1000 / 501)
    }

    @Test("a portrait map is resized on its width: 112 × 300 → 224 × 600, centre 224 rows; a constant 2 m stays 0.5")
    func portraitConstant() {
        let tensor = DepthPreprocessing.tensor(millimetres: [UInt16](repeating: 2000, count: 112 * 300), width: 112, height: 300)
        #expect(tensor.shape == [1, 224, 224] && tensor.values.allSatisfy { $0 == 0.5 })
        // A vertical ramp: the crop keeps rows 188..<412 of 600, so the first row samples source row (188.5) / 2 − 0.5.
        let ramp = (0..<300).flatMap { y in [Float](repeating: Float(y), count: 112) }
        let resized = DepthPreprocessing.resizeBilinear(ramp, width: 112, height: 300, toWidth: 224, toHeight: 600, columns: 0..<224, rows: 0..<600)
        #expect(resized[188 * 224] == 93.75 && resized[0] == 0 && resized[599 * 224] == 299)
    }

    @Test("a .npy of [1, 224, 224] or [224, 224] floats is taken as disparity, unchanged")
    func npyPassesThrough() throws {
        let directory = TemporaryDirectory()
        let values = (0..<(224 * 224)).map { Float($0 % 977) / 977 }
        for shape in [[1, 224, 224], [224, 224]] {
            let path = directory.file("disparity-\(shape.count).npy")
            try NPYArray(shape: shape, values: values).write(to: path)
            #expect(try DepthPreprocessing.tensor(path: path) == FloatTensor(shape: [1, 224, 224], values: values))
        }
    }

    @Test("8-bit pictures, other shapes and integer arrays are refused, naming the file and what is expected")
    func refused() throws {
        let thermal = fixture("media/thermal.png")
        #expect(mediaError { _ = try DepthPreprocessing.tensor(path: thermal) } == .unsupported(
            path: thermal, reason: "a 16-bit depth PNG in millimetres or a .npy disparity map of shape [1, 224, 224] is expected; found gray pixels, not 16-bit grey"))
        let overlay = fixture("media/overlay.png")
        let colour = try #require(mediaError { _ = try DepthPreprocessing.tensor(path: overlay) }?.localizedDescription)
        #expect(colour.hasPrefix(overlay + ": ") && colour.contains("a 16-bit depth PNG in millimetres or a .npy disparity map") && colour.contains("rgba"))
        let metres = fixture("media/depth.npy")
        #expect(mediaError { _ = try DepthPreprocessing.tensor(path: metres) } == .unsupported(
            path: metres, reason: "a .npy depth input must be a preprocessed disparity map of shape [1, 224, 224] or [224, 224], found [120, 160]"))
        let integers = fixture("media/npy/u2.npy")
        #expect(mediaError { _ = try DepthPreprocessing.tensor(path: integers) } == .unsupported(
            path: integers, reason: "a .npy depth input must hold float disparity (1 / metres), found dtype <u2"))
        #expect(mediaError { _ = try DepthPreprocessing.tensor(path: "/nonexistent/depth.png") } == .fileNotFound(path: "/nonexistent/depth.png"))
    }
}
