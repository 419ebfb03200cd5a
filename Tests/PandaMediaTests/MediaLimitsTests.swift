import Foundation
@testable import PandaMedia
import PandaTestSupport
import Testing

/// Files whose headers declare more than they hold (Converters/reference/make_bombs.py) and inputs whose rates or
/// shapes once made preprocessing allocate gigabytes. Memory itself is measured on `panda-run embed` under a limit
/// (PandaCLITests' MediaLimitProcessTests); these prove the decisions and the values.
@Suite("Hostile media: refused from its header, or processed without allocating past what the output needs")
struct MediaLimitsTests {
    @Test("a JPEG declaring 60000×60000 pixels is refused from its header, naming its size, the limit and how to raise it")
    func jpegPastTheLimit() {
        let text = errorMessage { _ = try ImageDecoder.decode(path: fixture("media/bombs/huge.jpg")) }
        #expect(text.hasSuffix("huge.jpg: the picture declares 60000×60000 = 3600000000 pixels, more than the limit of 89478485 "
            + "(raise it with PANDA_MAX_IMAGE_PIXELS or panda-run's --max-image-pixels)"), "\(text)")
    }

    @Test("a PNG past the limit is refused before FFmpeg decodes it, naming its size")
    func pngPastTheLimit() {
        let text = errorMessage { _ = try ImageDecoder.decode(path: fixture("media/bombs/wide.png"), maxPixels: 59_999) }
        #expect(text.contains("wide.png: the picture declares 60000×1 = 60000 pixels, more than the limit of 59999"), "\(text)")
        #expect(errorMessage { _ = try ImageDecoder.decode(path: fixture("media/bombs/wide.png"), maxPixels: 60_000) } == "no error")
    }

    @Test("a 60000 × 1 picture becomes a [3, 224, 224] tensor: its 13,440,000-wide resize is computed only inside the crop")
    func extremeAspectRatio() throws {
        let output = VisionPreprocessing.tensor(try ImageDecoder.decode(path: fixture("media/bombs/wide.png")))
        let tensor = output.values
        #expect(output.shape == [3, 224, 224] && tensor.allSatisfy(\.isFinite))
        // One source row stretched to 224: every row of each channel is the same.
        for c in 0..<3 {
            let plane = tensor[(c * 224 * 224)..<((c + 1) * 224 * 224)]
            #expect((1..<224).allSatisfy { y in plane.dropFirst(y * 224).prefix(224).elementsEqual(plane.prefix(224)) })
        }
    }

    @Test("resizing only a window equals cropping the whole resize, when enlarging and when shrinking", arguments: [(500, 380), (100, 75), (320, 90)])
    func windowEqualsCrop(width: Int, height: Int) throws {
        let photo = try ImageDecoder.decode(path: fixture("media/photo.jpg"))  // 320 × 240
        let whole = PillowResampler.resizeBicubic(photo, width: width, height: height)
        let (columns, rows) = ((width / 3)..<(width - 7), 5..<(height / 2))
        let window = PillowResampler.resizeBicubic(photo, width: width, height: height, columns: columns, rows: rows)
        #expect([window.width, window.height] == [columns.count, rows.count] as [Int])
        var cropped: [UInt8] = []
        for y in rows { cropped += whole.pixels[((y * width + columns.lowerBound) * 3)..<((y * width + columns.upperBound) * 3)] }
        #expect(window.pixels == cropped)
    }

    @Test("a 60000 × 1 depth map becomes [1, 224, 224] resizing only the crop, which equals cropping the whole bilinear resize")
    func extremeDepthAspectRatio() {
        let tensor = DepthPreprocessing.tensor(millimetres: [UInt16](repeating: 500, count: 60_000), width: 60_000, height: 1)
        #expect(tensor.shape == [1, 224, 224] && tensor.values.allSatisfy { $0 == 2 })
        let plane = (0..<(40 * 30)).map { Float(($0 * 7919) % 1009) }
        let whole = DepthPreprocessing.resizeBilinear(plane, width: 40, height: 30, toWidth: 300, toHeight: 224, columns: 0..<300, rows: 0..<224)
        let window = DepthPreprocessing.resizeBilinear(plane, width: 40, height: 30, toWidth: 300, toHeight: 224, columns: 38..<262, rows: 0..<224)
        var cropped: [Float] = []
        for y in 0..<224 { cropped += whole[(y * 300 + 38)..<(y * 300 + 262)] }
        #expect(window == cropped)
    }

    @Test("resampling only a stretch equals the same stretch of the whole resampled sound", arguments: [22_050, 44_100, 8_000, 16_000])
    func stretchEqualsWhole(source: Int) {
        let samples: [Float] = (0..<(source * 3 / 2)).map { index in
            let time = Double(index)
            return Float(0.7 * sin(time * 0.013) + 0.2 * sin(time * 0.31))
        }
        let whole: [Double] = Resampler.resample([samples.map(Double.init)], from: source, to: 16_000)[0]
        let stretches: [Range<Int>] = [0..<5, 3_001..<9_100, (whole.count - 777)..<whole.count]
        for stretch in stretches {
            #expect(Resampler.resample([samples], from: source, to: 16_000, outputs: stretch)[0] == Array(whole[stretch]), "\(source) Hz, \(stretch)")
        }
    }

    @Test("the clips of a file, decoded only where they fall, equal the clips of the whole decoded sound", arguments: [
        "stereo-22k.wav", "speech-16k.flac", "speech.mp3", "speech.ogg", "audio-only.mp4", "long-44k.wav", "long-adpcm.wav",
    ])
    func clipsFromStretches(name: String) throws {
        let folder = TemporaryDirectory()
        var path = fixture("media/" + name)
        if name == "long-44k.wav" {
            // 20 s of 44.1 kHz stereo: three clips 6 s apart, so three separate stretches are read.
            let (rate, frames) = (44_100, 20 * 44_100)
            var wav = Data("RIFF".utf8)
            func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { wav.append(contentsOf: $0) } }
            append(UInt32(36 + 4 * frames))
            wav.append(contentsOf: Array("WAVEfmt ".utf8))
            append(UInt32(16)); append(UInt16(1)); append(UInt16(2)); append(UInt32(rate)); append(UInt32(4 * rate)); append(UInt16(4)); append(UInt16(16))
            wav.append(contentsOf: Array("data".utf8))
            append(UInt32(4 * frames))
            for index in 0..<frames {
                let time = Double(index) / Double(rate)
                append(Int16(9000 * sin(2 * Double.pi * (300 + 40 * time) * time)))
                append(Int16(5000 * sin(2 * Double.pi * 1234 * time)))
            }
            path = folder.file(name)
            try wav.write(to: URL(fileURLWithPath: path))
        } else if name == "long-adpcm.wav" {
            // 20 s through FFmpeg (libsndfile refuses Yamaha ADPCM): three stretches kept from its second pass.
            path = folder.file(name)
            try writeYamahaADPCMWAV(path, seconds: 20, rate: 44_100)
        }
        #expect(try AudioPreprocessing.clips(path: path) == AudioPreprocessing.clips(AudioDecoder.decode(path: path)))
    }

    @Test("resampling from 999,983 Hz equals torchaudio's whole kernel row while computing only the taps inside its window")
    func primeSampleRate() {
        let source = 999_983, length = 50_000  // 0.05 s; the rate is prime, so nothing reduces the 999,983 : 16,000 ratio
        let samples = (0..<length).map { sin(Double($0) * 0.0031) + 0.3 * sin(Double($0) * 0.00071) }
        let resampled = Resampler.resample([samples], from: source, to: 16_000)[0]
        #expect(resampled.count == (16_000 * length + source - 1) / source)
        // torchaudio's kernel for output phase `phase`, all 2 · width + 999,983 taps, applied as it applies it.
        let (zeroCrossings, baseFrequency) = (6.0, 16_000 * 0.99)
        let width = Int((zeroCrossings * Double(source) / baseFrequency).rounded(.up))
        for index in [0, 1, 400, 799] {
            var sum = 0.0
            for tap in 0..<(2 * width + source) {
                var t = (-Double(index) / 16_000 + Double(tap - width) / Double(source)) * baseFrequency
                t = min(max(t, -zeroCrossings), zeroCrossings)
                let window = pow(cos(t * .pi / zeroCrossings / 2), 2)
                t *= .pi
                let sample = tap >= width && tap - width < length ? samples[tap - width] : 0
                sum += sample * (t == 0 ? 1 : sin(t) / t) * window * baseFrequency / Double(source)
            }
            #expect(abs(resampled[index] - sum) <= 1e-12, "output \(index): \(resampled[index]) vs \(sum)")
        }
    }
}
