import Foundation
import PandaMedia
import PandaTestSupport
import Testing

@Suite("Video preprocessing as ImageBind's data.py")
struct VideoPreprocessingTests {
    struct Clip: Decodable { var start: Double; var end: Double; var frame_times: [Double] }
    struct Facts: Decodable {
        var clips: [Clip]
        enum CodingKeys: String, CodingKey { case clips = "video.clips" }
    }

    @Test("clips and their two frames are the ones pytorchvideo's sampler and UniformTemporalSubsample pick")
    func frameSelection() throws {
        let facts = try Reference.json("preprocessing/expected.json", as: Facts.self)
        let reader = try VideoReader(path: fixture("media/clip.mp4"))
        var frames: [VideoFrame] = []
        while let frame = try reader.nextFrame() { frames.append(frame) }
        let pairs = try #require(VideoPreprocessing.framePairs(frames, duration: reader.duration))
        #expect(pairs.count == facts.clips.count)
        for (pair, clip) in zip(pairs, facts.clips) {
            #expect(abs(pair.0.time - clip.frame_times[0]) < 1e-9 && abs(pair.1.time - clip.frame_times[1]) < 1e-9, "clip at \(clip.start)")
        }
        #expect(zip(VideoPreprocessing.clipTimes(duration: reader.duration), facts.clips).allSatisfy { abs($0.start - $1.start) < 1e-9 && abs($0.end - $1.end) < 1e-9 })
    }

    @Test("clip 0's first frame, scaled, normalized and cropped three ways, equals data.py's (stored in f16)")
    func cropsMatchImageBind() throws {
        let tensor = try VideoPreprocessing.tensor(path: fixture("media/clip.mp4"))
        #expect(tensor.shape == [15, 3, 2, 224, 224])
        let expected = try Reference.tensors("preprocessing/expected.safetensors")
        func frame0(_ crop: Int, columns: Range<Int>) -> [Float] {
            var values: [Float] = []
            for c in 0..<3 { for y in 0..<224 { for x in columns { values.append(tensor.values[(((crop * 3 + c) * 2) * 224 + y) * 224 + x]) } } }
            return values
        }
        // f16 storage: ≤ 0.002 at these magnitudes; one 8-bit level is ≈ 0.0146.
        #expect(maxAbsoluteDifference(frame0(1, columns: 0..<224), try #require(expected["video.clip0.frame0.center"]).values) <= 0.002)
        #expect(maxAbsoluteDifference(frame0(0, columns: 0..<32), try #require(expected["video.clip0.frame0.left"]).values) <= 0.002)
        #expect(maxAbsoluteDifference(frame0(2, columns: 192..<224), try #require(expected["video.clip0.frame0.right"]).values) <= 0.002)
    }
}
