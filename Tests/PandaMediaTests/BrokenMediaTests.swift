import Foundation
@testable import PandaMedia
import PandaTestSupport
import Testing

@Suite("Broken media gives one clear error naming the file")
struct BrokenMediaTests {
    @Test("a truncated JPEG is an error, not grey rows")
    func truncatedJPEG() {
        let text = errorMessage { _ = try ImageDecoder.decode(path: fixture("media/truncated.jpg")) }
        #expect(text.contains("truncated.jpg") && text.contains("broken JPEG") && text.contains("Premature end"))
    }

    @Test("an M4A or MP3 cut in half is an error saying how much of the declared length is left, not a shorter sound",
          arguments: [("truncated.m4a", "of the 4.00 s its container declares"), ("truncated.mp3", "of 40000 frames")])
    func truncatedCompressedSound(name: String, declared: String) {
        let text = errorMessage { _ = try AudioDecoder.decode(path: fixture("media/" + name)) }
        #expect(text.contains(name) && text.contains("truncated?") && text.contains(declared), "\(text)")
        // The MP3 went through libsndfile; FFmpeg's path (taken where libsndfile lacks MP3) must refuse it too.
        let viaFFmpeg = errorMessage { _ = try AudioDecoder.decodeWithFFmpeg(path: fixture("media/" + name)) }
        #expect(viaFFmpeg.contains(name) && viaFFmpeg.contains("its container declares (truncated?)"), "\(viaFFmpeg)")
    }

    @Test("an 84-byte FLAC declaring 956 million frames is refused as truncated, in 1 GiB of address space (a fuzzer's input: its frame count was reserved)")
    func declaredFramesAreNotReserved() async {
        // An exit test: the child process limits its own address space, so a reservation of the declared 3.8 GB fails.
        await #expect(processExitsWith: .success) {
            let pages = (try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8))?.split(separator: " ").first.flatMap { Int($0) } ?? 0
            var limit = rlimit()
            getrlimit(Int32(RLIMIT_AS.rawValue), &limit)
            limit.rlim_cur = rlim_t(pages * Int(getpagesize()) + (1 << 30))
            guard setrlimit(Int32(RLIMIT_AS.rawValue), &limit) == 0 else { exit(2) }
            let text = errorMessage { _ = try AudioDecoder.decode(path: fixture("fuzz/sound-flac-declares-2e36-frames.flac")) }
            exit(text.contains("sound-flac-declares-2e36-frames.flac") && text.contains("truncated?") ? 0 : 1)
        }
    }

    /// 1000 frames of 16-bit mono at 16 kHz as AU or AIFF (big-endian samples), written here because no fixture tool
    /// is needed for a 24- or 54-byte header.
    private static func bigEndianSound(aiff: Bool) -> Data {
        var data = Data()
        func u32(_ value: UInt32) { withUnsafeBytes(of: value.bigEndian) { data.append(contentsOf: $0) } }
        func u16(_ value: UInt16) { withUnsafeBytes(of: value.bigEndian) { data.append(contentsOf: $0) } }
        let frames = 1000
        if aiff {
            data.append(contentsOf: Array("FORM".utf8)); u32(UInt32(4 + 26 + 16 + 2 * frames)); data.append(contentsOf: Array("AIFFCOMM".utf8))
            u32(18); u16(1); u32(UInt32(frames)); u16(16)
            data.append(contentsOf: [0x40, 0x0D, 0xFA, 0, 0, 0, 0, 0, 0, 0])  // 16000 as an 80-bit extended float
            data.append(contentsOf: Array("SSND".utf8)); u32(UInt32(8 + 2 * frames)); u32(0); u32(0)
        } else {
            data.append(contentsOf: Array(".snd".utf8)); u32(24); u32(UInt32(2 * frames)); u32(3); u32(16000); u32(1)
        }
        for index in 0..<frames { u16(UInt16(bitPattern: Int16(8000 * sin(Double(index) * 0.2)))) }
        return data
    }

    @Test("a WAV, AIFF or AU with less sound than its header declares is an error naming both lengths, not a shorter sound")
    func soundShorterThanDeclared() throws {
        let folder = TemporaryDirectory()
        let wav = try Data(contentsOf: URL(fileURLWithPath: fixture("media/stereo-22k.wav")))  // 308,700 bytes of 'data' after a 44-byte header
        var claims = wav
        claims.replaceSubrange(40..<44, with: [0, 0, 0, 0x80])  // 2^31 bytes
        let aiff = Self.bigEndianSound(aiff: true), au = Self.bigEndianSound(aiff: false)
        let cases: [(String, Data, String)] = [
            ("cut.wav", wav.prefix(wav.count / 10), "declares 308700 bytes of sound ('data') but the file holds 30830 (truncated?)"),
            ("claims.wav", claims, "declares 2147483648 bytes of sound ('data') but the file holds 308700 (truncated?)"),
            ("cut.aiff", aiff.prefix(1000), "declares 2008 bytes of sound ('SSND') but the file holds 954 (truncated?)"),
            ("cut.au", au.prefix(1000), "declares 2000 bytes of sound ('Data Size') but the file holds 976 (truncated?)"),
        ]
        for (name, bytes, expected) in cases {
            try bytes.write(to: URL(fileURLWithPath: folder.file(name)))
            #expect(errorMessage { _ = try AudioDecoder.decode(path: folder.file(name)) } == "\(folder.file(name)): its header " + expected)
        }
        // Whole, the same AIFF and AU decode.
        try aiff.write(to: URL(fileURLWithPath: folder.file("whole.aiff")))
        try au.write(to: URL(fileURLWithPath: folder.file("whole.au")))
        #expect(try AudioDecoder.decode(path: folder.file("whole.aiff")).frameCount == 1000)
        #expect(try AudioDecoder.decode(path: folder.file("whole.au")).frameCount == 1000)
    }

    @Test("a text file named .jpg is not a recognized image format")
    func notAnImage() {
        let text = errorMessage { _ = try ImageDecoder.decode(path: fixture("media/not-an-image.jpg")) }
        #expect(text.contains("not-an-image.jpg") && text.contains("not a recognized image format"))
    }

    @Test("an empty WAV and a WAV with no samples are refused")
    func emptyAudio() {
        #expect(errorMessage { _ = try AudioDecoder.decode(path: fixture("media/empty.wav")) }.contains("empty.wav: the file is empty"))
        #expect(errorMessage { _ = try AudioDecoder.decode(path: fixture("media/no-samples.wav")) }.contains("no-samples.wav: contains no audio samples"))
    }

    @Test("a video without a video stream says so")
    func audioOnlyVideo() {
        let text = errorMessage { _ = try VideoReader(path: fixture("media/audio-only.mp4")) }
        #expect(text.contains("audio-only.mp4") && text.contains("has no video stream"))
    }

    @Test("a FIFO, a folder and a device given as media are refused at once by every reader, not opened")
    func notRegularFiles() throws {
        let folder = TemporaryDirectory()
        let fifo = folder.file("stream.wav")
        #expect(mkfifo(fifo, 0o600) == 0)
        try FileManager.default.createDirectory(atPath: folder.file("album.jpg"), withIntermediateDirectories: false)
        let readers: [(String) throws -> Void] = [
            { _ = try ImageDecoder.decode(path: $0) }, { _ = try AudioDecoder.decode(path: $0) }, { _ = try VideoReader(path: $0) },
            { _ = try DepthPreprocessing.tensor(path: $0) }, { _ = try IMUPreprocessing.tensor(path: $0) }, { _ = try NPYArray(path: $0) },
        ]
        for read in readers {
            #expect(errorMessage { try read(fifo) } == "\(fifo): is a FIFO (named pipe), not a regular file")
            #expect(errorMessage { try read(folder.file("album.jpg")) } == "\(folder.file("album.jpg")): is a folder, not a regular file")
            #expect(errorMessage { try read("/dev/null") } == "/dev/null: is a device, not a regular file")
        }
    }

    @Test("a missing file is named")
    func missing() {
        #expect(errorMessage { _ = try ImageDecoder.decode(path: "/nonexistent/picture.jpg") } == "/nonexistent/picture.jpg: no such file")
    }
}
