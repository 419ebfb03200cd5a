import Foundation
import PandaTestSupport
import Testing
@testable import PandaMedia

/// Sound libsndfile cannot open goes through FFmpeg. Reference values from PyAV 18 on the same files.
@Suite("Decoding AAC/M4A, MP3, Ogg Vorbis and a video's sound track")
struct FFmpegAudioTests {
    @Test("FFmpeg's path (s16 → float planar through libswresample) gives libsndfile's samples exactly", arguments: ["stereo-22k.wav", "speech-16k.flac"])
    func ffmpegAgreesWithSndfileOnPCM(name: String) throws {
        let viaFFmpeg = try AudioDecoder.decodeWithFFmpeg(path: fixture("media/" + name))
        let viaSndfile = try AudioDecoder.decode(path: fixture("media/" + name))
        #expect(viaFFmpeg.sampleRate == viaSndfile.sampleRate && viaFFmpeg.channels.count == viaSndfile.channels.count)
        #expect(viaFFmpeg == viaSndfile)
    }

    @Test("clip.mp4's AAC track decodes at its native 16 kHz to PyAV's sample count, with samples within 1e-6 of PyAV's")
    func videoSoundTrackMatchesPyAV() throws {
        let audio = try AudioDecoder.decode(path: fixture("media/clip.mp4"))
        #expect(audio.sampleRate == 16000 && audio.channels.count == 1)
        // PyAV 18 (its own FFmpeg 8 libavcodec), concatenated frame.to_ndarray() of the audio stream: 63 frames, 64512
        // samples (4 s of sound plus the encoder's padding; the 1024 priming samples already dropped by the demuxer),
        // RMS 0.42533190645549923, samples 5000..<5003 = [-0.13785675168037415, -0.22768251597881317, -0.3021092414855957].
        // Debian's libavcodec is FFmpeg 5.1, whose AAC decoder FFmpeg 7 rewrote; the system ffmpeg 5.1 CLI's f32le output
        // differs from PyAV's by at most 2.4e-7 (measured), hence 1e-6 rather than equality.
        #expect(audio.frameCount == 64512)
        let rms = (audio.channels[0].reduce(0.0) { $0 + Double($1) * Double($1) } / Double(audio.frameCount)).squareRoot()
        #expect(abs(rms - 0.42533190645549923) < 1e-6)
        for (offset, expected) in [-0.13785675168037415, -0.22768251597881317, -0.3021092414855957].enumerated() {
            #expect(abs(Double(audio.channels[0][5000 + offset]) - expected) < 1e-6)
        }
    }

    @Test("an M4A-style MP4 with only an AAC track decodes like clip.mp4's sound (same source, same encoder settings)")
    func audioOnlyMP4() throws {
        let audio = try AudioDecoder.decode(path: fixture("media/audio-only.mp4"))
        #expect(audio.sampleRate == 16000 && audio.frameCount == 64512)
        #expect(audio == (try AudioDecoder.decode(path: fixture("media/clip.mp4"))))
    }

    /// PyAV 18's decoding of the fixtures (FFmpeg 8's mp3float and vorbis decoders, gapless): 40000 samples each (the
    /// 2.5 s FLAC they were encoded from), their RMS and samples 5000..<5003. Python soundfile's libsndfile (mpg123,
    /// libvorbis) gave the same counts and agreed within 6e-7.
    static let compressed: [(name: String, rms: Double, samples: [Double])] = [
        ("speech.mp3", 0.40593306914419947, [-0.12742236256599426, -0.18270179629325867, -0.3469823896884918]),
        ("speech.ogg", 0.4276983664334089, [-0.1552140712738037, -0.20009848475456238, -0.4101871848106384]),
    ]

    @Test("MP3 and Ogg Vorbis decode to PyAV's sample count with samples within 1e-5 of PyAV's, through libsndfile and through FFmpeg",
          arguments: [0, 1])
    func compressedSoundMatchesPyAV(index: Int) throws {
        let (name, rms, samples) = Self.compressed[index]
        for audio in [try AudioDecoder.decode(path: fixture("media/" + name)), try AudioDecoder.decodeWithFFmpeg(path: fixture("media/" + name))] {
            #expect(audio.sampleRate == 16000 && audio.channels.count == 1 && audio.frameCount == 40000, "\(name)")
            let measured = (audio.channels[0].reduce(0.0) { $0 + Double($1) * Double($1) } / Double(audio.frameCount)).squareRoot()
            #expect(abs(measured - rms) < 1e-5, "\(name): RMS \(measured)")
            for (offset, expected) in samples.enumerated() {
                #expect(abs(Double(audio.channels[0][5000 + offset]) - expected) < 1e-5, "\(name): sample \(5000 + offset)")
            }
        }
    }

    @Test("a file neither libsndfile nor FFmpeg reads is one error naming the file and both reasons")
    func neitherReads() {
        let path = fixture("media/not-an-image.jpg")
        do {
            _ = try AudioDecoder.decode(path: path)
            Issue.record("a text file decoded as sound")
        } catch {
            let text = error.localizedDescription
            #expect(text.hasPrefix(path + ": not a sound file libsndfile or FFmpeg can read (libsndfile: "))
            #expect(text.contains("; FFmpeg: "))
        }
        // A picture FFmpeg opens but that holds no sound: its reason is that there is no audio stream.
        let photo = fixture("media/overlay.png")
        #expect(throws: MediaError.unreadable(
            path: photo, reason: "not a sound file libsndfile or FFmpeg can read (libsndfile: Format not recognised.; FFmpeg: has no audio stream)")) {
            _ = try AudioDecoder.decode(path: photo)
        }
    }
}
