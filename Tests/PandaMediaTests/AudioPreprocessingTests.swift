import Foundation
@testable import PandaMedia
import PandaTestSupport
import Testing

@Suite("Audio preprocessing as ImageBind's data.py")
struct AudioPreprocessingTests {
    @Test("a 16 kHz FLAC's second clip equals ImageBind's normalized Kaldi fbank within 1e-3, overlap shifts included")
    func fbankMatchesTorchaudio() throws {
        let clips = try AudioPreprocessing.clips(AudioDecoder.decode(path: fixture("media/speech-16k.flac")))
        #expect(clips.shape == [3, 1, 128, 204])
        let reference = try #require(try Reference.tensors("preprocessing/expected.safetensors")["audio.speech-16k.clip1"])
        #expect(reference.shape == [1, 128, 204])
        #expect(maxAbsoluteDifference(clips.item(1).values, reference.values) <= 1e-3)
    }

    @Test("clips are placed as pytorchvideo's sampler places them: (duration − 2 s) / 3 apart")
    func clipPlacement() {
        let bounds = AudioPreprocessing.clipBounds(frames: 40000)
        #expect(bounds.map(\.0) == [0, 2666, 5333] && bounds.map(\.1) == [32000, 34666, 37333])
    }
}

@Suite("Resampling as torchaudio")
struct ResamplingTests {
    @Test("22.05 kHz stereo resampled to 16 kHz matches torchaudio.functional.resample within 1e-5")
    func resampleMatchesTorchaudio() throws {
        let audio = try AudioDecoder.decode(path: fixture("media/stereo-22k.wav"))
        let resampled = Resampler.resample(audio.channels.map { $0.map(Double.init) }, from: 22050, to: 16000)
        #expect(resampled.map(\.count) == [56000, 56000])
        let reference = try #require(try Reference.tensors("preprocessing/expected.safetensors")["stereo-22k.resampled"])
        let ours = resampled.flatMap { $0.prefix(16000).map(Float.init) }
        #expect(maxAbsoluteDifference(ours, reference.values) <= 1e-5)
    }

    @Test("the 22.05 kHz file's three clips equal ImageBind's audio tensor within 1e-3")
    func resampledClipsMatchImageBind() throws {
        let clips = try AudioPreprocessing.clips(AudioDecoder.decode(path: fixture("media/stereo-22k.wav")))
        let reference = try #require(try Reference.tensors("preprocessing/expected.safetensors")["audio.stereo-22k"])
        #expect(reference.shape == [3, 1, 128, 204])
        #expect(clips.shape == reference.shape)
        #expect(maxAbsoluteDifference(clips.values, reference.values) <= 1e-3)
    }
}
