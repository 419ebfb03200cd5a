import Foundation
import PandaFormat

/// ImageBind's video transform (imagebind/data.py `load_and_transform_video_data`): five 2-second clips placed by
/// pytorchvideo's ConstantClipsPerVideoSampler, two frames from each (the first and last inside the clip, as
/// UniformTemporalSubsample(2) picks), shorter side scaled to 224 bilinearly, CLIP normalization, and three
/// 224 × 224 crops across the longer side: a [15, 3, 2, 224, 224] tensor.
public enum VideoPreprocessing {
    public static let clipsPerVideo = 5
    public static let clipSeconds = 2.0
    public static let size = 224

    /// The clips' [start, end) in seconds: starts k · (duration − 2) / 5 (pytorchvideo 0.1.5 divides by the clip
    /// count, not the count minus one).
    public static func clipTimes(duration: Double) -> [(start: Double, end: Double)] {
        let room = max(duration - clipSeconds, 0)
        return (0..<clipsPerVideo).map { k in
            let start = room * Double(k) / Double(clipsPerVideo)
            return (start, start + clipSeconds)
        }
    }

    /// The two frames of each clip: of the decoded frames shown in [start, end), the first and the last.
    public static func framePairs(_ frames: [VideoFrame], duration: Double) -> [(VideoFrame, VideoFrame)]? {
        var selection = ClipFrames(clips: clipTimes(duration: duration)) { $0 }
        for frame in frames { selection.add(frame.time, frame) }
        return selection.pairs()
    }

    /// The video's 15 clip-and-crop inputs, [15, 3, 2, 224, 224] channel-major, in data.py's order (clip by clip,
    /// crops left/top, centre, right/bottom). Frames stream past: only those inside a clip are converted to RGB, and
    /// only the ten picked are kept, scaled, so memory does not grow with the video's length.
    public static func tensor(path: String) throws -> FloatTensor {
        let reader = try VideoReader(path: path)
        var selection = ClipFrames(clips: clipTimes(duration: reader.duration)) { scaledAndNormalized($0.image) }
        while let (time, frame) = try reader.nextFrame(converting: selection.wants) { selection.add(time, frame) }
        guard let pairs = selection.pairs() else {
            throw MediaError.unreadable(path: path, reason: "some 2-second clip of the \(reader.duration)-second video holds no frame")
        }
        let crops = pairs.flatMap { pair in (0..<3).map { crop in cropped([pair.0, pair.1], crop: crop) } }
        return FloatTensor(shape: [crops.count, 3, 2, size, size], values: crops.flatMap { $0 })
    }

    /// Shorter side to 224 by bilinear interpolation of the frame / 255 (torch interpolate, align_corners=False,
    /// no antialiasing), then (x − mean) / std per channel. Returns the planes and their size.
    static func scaledAndNormalized(_ image: Image8) -> (values: [Float], width: Int, height: Int) {
        let (inWidth, inHeight) = (image.width, image.height)
        let (width, height) = inWidth < inHeight
            ? (size, Int((Double(inHeight) / Double(inWidth) * Double(size)).rounded(.down)))
            : (Int((Double(inWidth) / Double(inHeight) * Double(size)).rounded(.down)), size)
        let columns = BilinearTaps.taps(width, from: inWidth), rows = BilinearTaps.taps(height, from: inHeight)
        var values = [Float](repeating: 0, count: 3 * width * height)
        for c in 0..<3 {
            for (y, (y0, y1, dy)) in rows.enumerated() {
                for (x, (x0, x1, dx)) in columns.enumerated() {
                    func pixel(_ px: Int, _ py: Int) -> Float { Float(image.pixels[(py * inWidth + px) * image.channels + min(c, image.channels - 1)]) / 255 }
                    let top = (1 - dx) * pixel(x0, y0) + dx * pixel(x1, y0)
                    let bottom = (1 - dx) * pixel(x0, y1) + dx * pixel(x1, y1)
                    let value = (1 - dy) * top + dy * bottom
                    values[(c * height + y) * width + x] = (value - VisionPreprocessing.mean[c]) / VisionPreprocessing.standardDeviation[c]
                }
            }
        }
        return (values, width, height)
    }

    /// Crop `crop` (0, 1, 2) of pytorchvideo's uniform_crop across the longer side: offset 0, ceil((L − 224) / 2)
    /// or L − 224; both frames stacked as [3, 2, 224, 224].
    static func cropped(_ frames: [(values: [Float], width: Int, height: Int)], crop: Int) -> [Float] {
        let (width, height) = (frames[0].width, frames[0].height)
        func offset(_ length: Int) -> Int { [0, Int((Double(length - size) / 2).rounded(.up)), length - size][crop] }
        let (left, top) = width > height ? (offset(width), Int((Double(height - size) / 2).rounded(.up))) : (Int((Double(width - size) / 2).rounded(.up)), offset(height))
        var out = [Float](repeating: 0, count: 3 * 2 * size * size)
        for c in 0..<3 {
            for (t, frame) in frames.enumerated() {
                for y in 0..<size {
                    for x in 0..<size {
                        out[((c * 2 + t) * size + y) * size + x] = frame.values[(c * height + top + y) * width + left + x]
                    }
                }
            }
        }
        return out
    }
}

/// The first and last frame inside each clip, picked from frames given in presentation order and kept in their
/// `prepare`d form. The last one is only known once a frame at or past the clip's end arrives (or the stream ends),
/// so until then the latest frame inside is held as it came.
struct ClipFrames<Prepared> {
    let clips: [(start: Double, end: Double)]
    let prepare: (VideoFrame) -> Prepared
    private var first: [Prepared?], last: [Prepared?], latest: [VideoFrame?]

    init(clips: [(start: Double, end: Double)], prepare: @escaping (VideoFrame) -> Prepared) {
        (self.clips, self.prepare) = (clips, prepare)
        (first, last, latest) = (Array(repeating: nil, count: clips.count), Array(repeating: nil, count: clips.count), Array(repeating: nil, count: clips.count))
    }

    private func inside(_ clip: Int, _ time: Double) -> Bool { time >= clips[clip].start - 1e-9 && time < clips[clip].end - 1e-9 }

    func wants(_ time: Double) -> Bool { clips.indices.contains { inside($0, time) } }

    /// Takes the next frame's time, and the frame if `wants` accepted it.
    mutating func add(_ time: Double, _ frame: VideoFrame?) {
        for clip in clips.indices {
            if let held = latest[clip], time >= clips[clip].end - 1e-9 {
                last[clip] = prepare(held)
                latest[clip] = nil
            }
            guard let frame, inside(clip, time) else { continue }
            if first[clip] == nil { first[clip] = prepare(frame) }
            latest[clip] = frame
        }
    }

    /// Each clip's first and last frame, or nil if some clip holds no frame.
    mutating func pairs() -> [(Prepared, Prepared)]? {
        var pairs: [(Prepared, Prepared)] = []
        for clip in clips.indices {
            if let held = latest[clip] { last[clip] = prepare(held) }
            latest[clip] = nil
            guard let first = first[clip], let last = last[clip] else { return nil }
            pairs.append((first, last))
        }
        return pairs
    }
}

/// The two source pixels and the weight of the second, per output pixel, of a bilinear resize with half-pixel
/// centres (torch's `interpolate`, align_corners=False, no antialiasing): output i samples (i + 0.5) · in / out − 0.5,
/// clamped to the edges.
enum BilinearTaps {
    /// The taps of the outputs `only` (all `count` by default).
    static func taps(_ count: Int, from input: Int, only outputs: Range<Int>? = nil) -> [(Int, Int, Float)] {
        let scale = Float(input) / Float(count)
        return (outputs ?? 0..<count).map { index in
            let source = max(scale * (Float(index) + 0.5) - 0.5, 0)
            let low = min(Int(source), input - 1)
            return (low, min(low + 1, input - 1), source - Float(low))
        }
    }
}
