import Foundation
import PandaMedia
import PandaTestSupport
import Testing

/// Reference values from soundfile 0.14 and PyAV 18 on the same files.
@Suite("Decoding sound with libsndfile and video with FFmpeg")
struct AudioVideoDecodingTests {
    @Test("a stereo 16-bit WAV reads as soundfile reads it: two channels of samples scaled by 1/32768")
    func wavMatchesSoundfile() throws {
        let audio = try AudioDecoder.decode(path: fixture("media/stereo-22k.wav"))
        #expect(audio.sampleRate == 22050 && audio.channels.count == 2 && audio.frameCount == 77175)
        #expect(audio.channels[0][1000] == -0.467193603515625 && audio.channels[1][1000] == -0.260833740234375)
        #expect(audio.channels[0].last == -0.503753662109375 && audio.channels[1].last == -0.26483154296875)
        #expect(audio.channels[0].reduce(0.0) { $0 + Double($1) } == 1.1728515625)
    }

    @Test("a mono FLAC reads through libsndfile too")
    func flac() throws {
        let audio = try AudioDecoder.decode(path: fixture("media/speech-16k.flac"))
        #expect(audio.sampleRate == 16000 && audio.channels.count == 1 && audio.frameCount == 40000)
        #expect(audio.channels[0].reduce(0.0) { $0 + Double($1) } == 9.711883544921875)
    }

    @Test("an MP4 opens with its size, rate and duration, and decodes all 40 frames with their times")
    func mp4Frames() throws {
        let reader = try VideoReader(path: fixture("media/clip.mp4"))
        #expect(reader.width == 160 && reader.height == 120)
        #expect(reader.frameRate == 10 && reader.duration == 4)
        var frames: [VideoFrame] = []
        while let frame = try reader.nextFrame() { frames.append(frame) }
        #expect(frames.count == 40)
        #expect(abs(frames[17].time - 1.7) < 1e-9)
        // PyAV's frame.to_ndarray(format="rgb24"): frame 0 sums to 7,460,336, frame 17 to 7,654,242.
        #expect(frames[0].image.pixels.reduce(0) { $0 + Int($1) } == 7_460_336)
        #expect(frames[17].image.pixels.reduce(0) { $0 + Int($1) } == 7_654_242)
        #expect([0, 1000, 5000, 57_599].map { frames[0].image.pixels[$0] } == [129, 8, 0, 9] as [UInt8])
    }
}
