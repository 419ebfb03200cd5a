import Foundation
@testable import PandaMedia
import PandaTestSupport
import Testing

@Suite("Broken media gives one clear error naming the file")
struct BrokenMediaTests {
    private func message(_ body: () throws -> Void) -> String {
        do {
            try body()
            return "no error"
        } catch {
            return error.localizedDescription
        }
    }

    @Test("a truncated JPEG is an error, not grey rows")
    func truncatedJPEG() {
        let text = message { _ = try ImageDecoder.decode(path: fixture("media/truncated.jpg")) }
        #expect(text.contains("truncated.jpg") && text.contains("broken JPEG") && text.contains("Premature end"))
    }

    @Test("an M4A or MP3 cut in half is an error saying how much of the declared length is left, not a shorter sound",
          arguments: [("truncated.m4a", "of the 4.00 s its container declares"), ("truncated.mp3", "of 40000 frames")])
    func truncatedCompressedSound(name: String, declared: String) {
        let text = message { _ = try AudioDecoder.decode(path: fixture("media/" + name)) }
        #expect(text.contains(name) && text.contains("truncated?") && text.contains(declared), "\(text)")
        // The MP3 went through libsndfile; FFmpeg's path (taken where libsndfile lacks MP3) must refuse it too.
        let viaFFmpeg = message { _ = try AudioDecoder.decodeWithFFmpeg(path: fixture("media/" + name)) }
        #expect(viaFFmpeg.contains(name) && viaFFmpeg.contains("its container declares (truncated?)"), "\(viaFFmpeg)")
    }

    @Test("a text file named .jpg is not a recognized image format")
    func notAnImage() {
        let text = message { _ = try ImageDecoder.decode(path: fixture("media/not-an-image.jpg")) }
        #expect(text.contains("not-an-image.jpg") && text.contains("not a recognized image format"))
    }

    @Test("an empty WAV and a WAV with no samples are refused")
    func emptyAudio() {
        #expect(message { _ = try AudioDecoder.decode(path: fixture("media/empty.wav")) }.contains("empty.wav: the file is empty"))
        #expect(message { _ = try AudioDecoder.decode(path: fixture("media/no-samples.wav")) }.contains("no-samples.wav: contains no audio samples"))
    }

    @Test("a video without a video stream says so")
    func audioOnlyVideo() {
        let text = message { _ = try VideoReader(path: fixture("media/audio-only.mp4")) }
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
            #expect(message { try read(fifo) } == "\(fifo): is a FIFO (named pipe), not a regular file")
            #expect(message { try read(folder.file("album.jpg")) } == "\(folder.file("album.jpg")): is a folder, not a regular file")
            #expect(message { try read("/dev/null") } == "/dev/null: is a device, not a regular file")
        }
    }

    @Test("a missing file is named")
    func missing() {
        #expect(message { _ = try ImageDecoder.decode(path: "/nonexistent/picture.jpg") } == "/nonexistent/picture.jpg: no such file")
    }
}
