import Foundation
@testable import PandaMedia
import PandaTestSupport
import Testing

@Suite("Audio preprocessing as ImageBind's data.py")
struct AudioPreprocessingTests {
    @Test("a 16 kHz FLAC's second clip equals ImageBind's normalized Kaldi fbank within 1e-3, overlap shifts included")
    func fbankMatchesTorchaudio() throws {
        let clips = try AudioPreprocessing.clips(AudioDecoder.decode(path: fixture("media/speech-16k.flac")))
        #expect(clips.count == 3)
        let reference = try #require(try Reference.tensors("preprocessing/expected.safetensors")["audio.speech-16k.clip1"])
        #expect(reference.shape == [1, 128, 204])
        #expect(maxAbsoluteDifference(clips[1], reference.values) <= 1e-3)
    }

    @Test("clips are placed as pytorchvideo's sampler places them: (duration − 2 s) / 3 apart")
    func clipPlacement() {
        let bounds = AudioPreprocessing.clipBounds(frames: 40000)
        #expect(bounds.map(\.0) == [0, 2666, 5333] && bounds.map(\.1) == [32000, 34666, 37333])
    }
}
