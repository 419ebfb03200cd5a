import Foundation
import PandaTestSupport
import Testing

/// `panda-run embed` on hostile media, as a process under a 1 GiB address-space limit (an allocation past it fails,
/// so a file that makes preprocessing ask for gigabytes aborts the process instead of passing): each ends with
/// exit 0 and an embedding, or exit 1 and one error line naming the file, never an abort or a hang.
@Suite("panda-run embed on decompression bombs, extreme rates and FIFOs, in 1 GiB")
struct MediaLimitProcessTests {
    static let gibibyte = 1 << 30

    private func embed(_ flag: String, _ path: String, _ extra: [String] = [], environment: [String: String] = [:]) throws -> ProcessResult {
        try Executable.run(
            "panda-run", ["embed", "--model", ReferenceModels.imagebind, "--threads", "1", flag, path] + extra,
            limits: ProcessLimits(memory: Self.gibibyte, seconds: 120, environment: environment))
    }

    private func error(_ result: ProcessResult) -> String {
        ((try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8))) as? [String: Any])?["error"] as? String ?? (result.stdout + result.stderr).trimmingCharacters(in: .newlines)
    }

    @Test("a valid 60000 × 1 PNG is embedded, its resize to 13,440,000 × 224 never allocated")
    func widePicture() throws {
        let result = try embed("--image", fixture("media/bombs/wide.png"))
        #expect(result.status == 0 && !result.timedOut, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [[Double]]]
        #expect(object?["vision"]?.count == 1)
    }

    @Test("a JPEG declaring 60000 × 60000 pixels is refused with the limit, and accepted past a raised one only as far as its data goes")
    func hugeJPEG() throws {
        let result = try embed("--image", fixture("media/bombs/huge.jpg"))
        #expect(result.status == 1 && error(result).contains("huge.jpg: the picture declares 60000×60000 = 3600000000 pixels"), "\(error(result))")
        // The environment variable and the flag both lower the limit below a real photo's 76,800 pixels.
        let byVariable = try embed("--image", fixture("media/photo.jpg"), environment: ["PANDA_MAX_IMAGE_PIXELS": "76799"])
        #expect(byVariable.status == 1 && error(byVariable).contains("more than the limit of 76799"), "\(error(byVariable))")
        let byFlag = try embed("--image", fixture("media/photo.jpg"), ["--max-image-pixels", "76799"])
        #expect(byFlag.status == 1 && error(byFlag).contains("more than the limit of 76799"), "\(error(byFlag))")
    }

    @Test("a WAV at 999,983 Hz is resampled to 16 kHz and embedded")
    func primeRateWAV() throws {
        let folder = TemporaryDirectory()
        let rate = 999_983
        var wav = Data("RIFF".utf8)
        func append<T: FixedWidthInteger>(_ value: T) { withUnsafeBytes(of: value.littleEndian) { wav.append(contentsOf: $0) } }
        let samples = (0..<rate).map { Int16(8000 * sin(2 * Double.pi * 440 * Double($0) / Double(rate))) }
        append(UInt32(36 + 2 * samples.count))
        wav.append(contentsOf: Array("WAVEfmt ".utf8))
        append(UInt32(16)); append(UInt16(1)); append(UInt16(1)); append(UInt32(rate)); append(UInt32(2 * rate)); append(UInt16(2)); append(UInt16(16))
        wav.append(contentsOf: Array("data".utf8))
        append(UInt32(2 * samples.count))
        for sample in samples { append(sample) }
        try wav.write(to: URL(fileURLWithPath: folder.file("prime.wav")))
        let result = try embed("--audio", folder.file("prime.wav"))
        #expect(result.status == 0 && !result.timedOut, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [[Double]]]
        #expect(object?["audio"]?.count == 1)
    }

    @Test("an hour of sound decoded by FFmpeg (48 kHz Yamaha ADPCM, which libsndfile refuses; 691 MB as floats) is embedded keeping only its clips")
    func hourThroughFFmpeg() throws {
        let folder = TemporaryDirectory()
        try writeYamahaADPCMWAV(folder.file("hour.wav"), seconds: 3600, rate: 48_000)
        let result = try embed("--audio", folder.file("hour.wav"))
        #expect(result.status == 0 && !result.timedOut, "\(result.stderr)")
        let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: [[Double]]]
        #expect(object?["audio"]?.count == 1)
    }

    @Test("a FIFO named .wav is refused at once instead of waiting for a writer")
    func fifo() throws {
        let folder = TemporaryDirectory()
        #expect(mkfifo(folder.file("live.wav"), 0o600) == 0)
        let result = try embed("--audio", folder.file("live.wav"))
        #expect(!result.timedOut && result.status == 1 && error(result).hasSuffix("live.wav: is a FIFO (named pipe), not a regular file"), "\(error(result))")
    }
}
