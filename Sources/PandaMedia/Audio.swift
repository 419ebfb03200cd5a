import CSndfile
import Foundation

/// Decoded sound: one array of samples in [-1, 1] per channel, at `sampleRate`.
public struct AudioBuffer: Sendable, Equatable {
    public var sampleRate: Int
    public var channels: [[Float]]

    public var frameCount: Int { channels.first?.count ?? 0 }
    public var duration: Double { Double(frameCount) / Double(sampleRate) }
}

public enum AudioDecoder {
    /// Reads WAV, FLAC, OGG/Vorbis and the other formats libsndfile knows, samples scaled as
    /// `soundfile.read(dtype="float32")` scales them (PCM divided by 2^(bits-1)).
    public static func decode(path: String) throws -> AudioBuffer {
        try MediaFile.check(path)
        var info = SF_INFO()
        guard let file = sf_open(path, Int32(SFM_READ), &info) else {
            throw MediaError.unreadable(path: path, reason: "not a sound file libsndfile can read: \(String(cString: sf_strerror(nil)))")
        }
        defer { sf_close(file) }
        let channels = Int(info.channels), frames = Int(info.frames)
        guard channels > 0, info.samplerate > 0 else { throw MediaError.unreadable(path: path, reason: "no channels or no sample rate") }
        guard frames > 0 else { throw MediaError.unreadable(path: path, reason: "contains no audio samples") }
        var interleaved = [Float](repeating: 0, count: frames * channels)
        let read = Int(interleaved.withUnsafeMutableBufferPointer { sf_readf_float(file, $0.baseAddress, sf_count_t(frames)) })
        guard read == frames else {
            throw MediaError.unreadable(path: path, reason: "ends after \(read) of \(frames) frames (truncated?)")
        }
        let split = (0..<channels).map { channel in (0..<frames).map { interleaved[$0 * channels + channel] } }
        return AudioBuffer(sampleRate: Int(info.samplerate), channels: split)
    }
}
